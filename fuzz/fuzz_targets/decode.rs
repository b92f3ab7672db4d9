//! cargo-fuzz wrapper: the `decode` target body, with a counting allocator so that an
//! allocation out of proportion to the input is a finding too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fuzz_target!(|data: &[u8]| {
    let region = Region::new(GLOBAL);
    sansraft_fuzz::decode::decode_all(data);
    let used = region.change().bytes_allocated;
    let budget = sansraft_fuzz::decode::allocation_budget(data.len());
    assert!(
        used <= budget,
        "decoding {} bytes allocated {used} bytes (budget {budget})",
        data.len()
    );
    sansraft_fuzz::decode::run(data);
});
