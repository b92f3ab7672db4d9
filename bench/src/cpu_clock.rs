//! The CPU time of the calling thread, the benchmark's timer: unlike wall time it does not grow
//! while other processes hold the CPU, and unlike `/proc/thread-self/schedstat` (which advances
//! in scheduler ticks and read 0 for the shortest cells) it has nanosecond resolution.

use std::time::Duration;

/// CPU time this thread has spent running (user and kernel), from
/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`; `None` where that clock is not available.
#[allow(
    unsafe_code,
    reason = "clock_gettime is a C function; libc has no safe wrapper"
)]
pub fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` that outlives the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock id every Linux and POSIX system defines; the call
    // writes only `ts` and reports failure through its return value.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_clock_advances_with_work() {
        let before = thread_cpu_time().expect("CLOCK_THREAD_CPUTIME_ID is available");
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let after = thread_cpu_time().expect("CLOCK_THREAD_CPUTIME_ID is available");
        assert!(after > before, "{before:?} -> {after:?} (x = {x})");
    }
}
