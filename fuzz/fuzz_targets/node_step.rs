//! cargo-fuzz wrapper: the `node_step` target body. With `RAFT_FUZZ_CANARY=<name>` (a
//! `sansraft::Canary` name such as `ack-beyond-verified`) the node runs with that deliberate
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
        eprintln!("node_step: canary {} switched on", canary.name());
        Some(canary)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| sansraft_fuzz::node_step::run_with(data, canary()));
