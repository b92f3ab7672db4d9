//! A counting global allocator: the number of allocations and the bytes live, so a benchmark
//! can report allocations per committed entry and memory per retained log entry.
//!
//! Counters are relaxed atomics; the benchmarks are single-threaded, and every implementation
//! pays the same few nanoseconds per allocation for the counting.

#![allow(
    unsafe_code,
    reason = "a global allocator must implement the unsafe GlobalAlloc trait"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Wraps the system allocator and counts what goes through it.
#[derive(Debug)]
pub struct CountingAlloc;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards to `System` with the caller's layout and pointer unchanged, so
// `System`'s guarantees carry over; the counters have no effect on the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: `ptr` was allocated by `System` (through this wrapper) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A reallocation is counted as an allocation: it may move and copy the block.
        ALLOCS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(new_size as u64, Relaxed);
        FREED.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A reading of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocSnapshot {
    /// Allocations (and reallocations) so far.
    pub allocs: u64,
    /// Bytes currently live.
    pub live_bytes: i64,
}

impl AllocSnapshot {
    /// Reads the counters now.
    pub fn now() -> Self {
        AllocSnapshot {
            allocs: ALLOCS.load(Relaxed),
            live_bytes: ALLOCATED.load(Relaxed) as i64 - FREED.load(Relaxed) as i64,
        }
    }

    /// Allocations since `earlier`.
    pub fn allocs_since(&self, earlier: &AllocSnapshot) -> u64 {
        self.allocs - earlier.allocs
    }

    /// Change in live bytes since `earlier`.
    pub fn live_bytes_since(&self, earlier: &AllocSnapshot) -> i64 {
        self.live_bytes - earlier.live_bytes
    }
}
