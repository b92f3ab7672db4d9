//! Every fuzz target replayed over its checked-in corpus (`fuzz/corpus/<target>/`), on stable.
//! Inputs that once were findings live there too, named for what they found; each also has a
//! named regression test in `regressions.rs`.

use sansraft_fuzz::{cluster, corpus, decode, node_step};

fn replay(target: &str, run: fn(&[u8])) {
    let inputs = corpus::inputs(target);
    assert!(!inputs.is_empty(), "the {target} corpus is empty");
    for (name, data) in inputs {
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} corpus input {name} failed");
    }
}

#[test]
fn decode_corpus_replays_clean() {
    replay("decode", decode::run);
}

#[test]
fn node_step_corpus_replays_clean() {
    replay("node_step", node_step::run);
}

#[test]
fn cluster_corpus_replays_clean() {
    replay("cluster", cluster::run);
}
