//! 64-bit FNV-1a: the checker's entry and snapshot hashes, and the simulator's trace hash.

/// The 64-bit FNV prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// `PRIME^k` (wrapping) for `k` in `0..=8`.
const PRIME_POWERS: [u64; 9] = {
    let mut powers = [1u64; 9];
    let mut k = 1;
    while k < 9 {
        powers[k] = powers[k - 1].wrapping_mul(PRIME);
        k += 1;
    }
    powers
};

/// 64-bit FNV-1a.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Hashes one byte.
    #[inline]
    pub fn u8(&mut self, b: u8) {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(PRIME);
    }

    /// Hashes a `u64` as 8 little-endian bytes.
    ///
    /// A zero byte only multiplies the state by the prime, so the zero bytes above the highest
    /// non-zero one fold into one multiplication by a power of the prime: the same hash as eight
    /// `u8` calls, in fewer instructions for the small numbers the simulator hashes most.
    #[inline]
    pub fn u64(&mut self, x: u64) {
        let significant = 8 - (x.leading_zeros() / 8) as usize;
        let mut h = self.0;
        let mut rest = x;
        for _ in 0..significant {
            h ^= rest & 0xff;
            h = h.wrapping_mul(PRIME);
            rest >>= 8;
        }
        self.0 = h.wrapping_mul(PRIME_POWERS[8 - significant]);
    }

    /// Hashes a byte string.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.u8(b);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Fnv;

    /// `u64` hashes exactly the eight little-endian bytes, whatever the number's size.
    #[test]
    fn u64_is_eight_bytes() {
        let mut samples = vec![
            0u64,
            1,
            0xff,
            0x100,
            0x1234,
            u64::MAX,
            1 << 63,
            0x00ff_0000_0000_0001,
        ];
        samples.extend((0..64).map(|s| 1u64 << s));
        samples.extend((0..64).map(|s| (1u64 << s) - 1));
        samples.extend((0..64).map(|s| 0x9e37_79b9_7f4a_7c15u64 >> s));
        for x in samples {
            let mut fast = Fnv::default();
            fast.u8(7);
            fast.u64(x);
            let mut slow = Fnv::default();
            slow.u8(7);
            for b in x.to_le_bytes() {
                slow.u8(b);
            }
            assert_eq!(fast, slow, "{x:#x}");
        }
    }
}
