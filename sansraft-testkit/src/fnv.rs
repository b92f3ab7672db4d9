//! 64-bit FNV-1a: the checker's entry and snapshot hashes, and the simulator's trace hash.

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
    pub fn u8(&mut self, b: u8) {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// Hashes a `u64` as 8 little-endian bytes.
    pub fn u64(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.u8(b);
        }
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
