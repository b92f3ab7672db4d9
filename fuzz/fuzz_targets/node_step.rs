//! cargo-fuzz wrapper: the `node_step` target body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raft_fuzz::node_step::run(data));
