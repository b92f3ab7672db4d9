//! cargo-fuzz wrapper: the `cluster` target body. With `RAFT_FUZZ_CANARY=<name>` (a
//! `sansraft::Canary` name such as `earlier-term-commit`) every node runs with that deliberate
//! bug, to measure how fast the target finds it.
#![no_main]

use sansraft::Canary;
use std::sync::OnceLock;

fn canary() -> Option<Canary> {
    static CANARY: OnceLock<Option<Canary>> = OnceLock::new();
    *CANARY.get_or_init(|| {
        let name = std::env::var("RAFT_FUZZ_CANARY").ok()?;
        let canary = Canary::from_name(&name)
            .unwrap_or_else(|| panic!("RAFT_FUZZ_CANARY={name} names no canary"));
        eprintln!("cluster: canary {} switched on", canary.name());
        Some(canary)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansraft_fuzz::cluster::run_with(data, canary()));
