//! Every fuzz target over proptest-generated inputs, on stable. The codec gets raw bytes; the
//! structure-aware targets get operation lists, each operation read by the target's own
//! `Arbitrary` decoding from its own short byte string (so proptest shrinks by dropping and
//! simplifying operations), plus raw bytes as libFuzzer would give them.

use arbitrary::{Arbitrary, Unstructured};
use proptest::collection::vec;
use proptest::prelude::*;
use sansraft_fuzz::{cluster, decode, node_step};

/// A value of `T` read from `bytes` (missing bytes read as zeros).
fn read<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    T::arbitrary(&mut Unstructured::new(bytes)).ok()
}

fn ops<T: for<'a> Arbitrary<'a>>(chunks: &[Vec<u8>]) -> Vec<T> {
    chunks.iter().filter_map(|c| read(c)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics_and_round_trips(data in vec(any::<u8>(), 0..512)) {
        decode::run(&data);
    }

    #[test]
    fn node_step_keeps_local_invariants(
        setup in vec(any::<u8>(), 32),
        chunks in vec(vec(any::<u8>(), 1..24), 0..300),
    ) {
        let setup: node_step::Setup = read(&setup).expect("a setup reads from any bytes");
        node_step::run_ops(setup, &ops(&chunks));
    }

    #[test]
    fn node_step_survives_raw_bytes(data in vec(any::<u8>(), 0..2048)) {
        node_step::run(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn cluster_keeps_safety(
        setup in vec(any::<u8>(), 16),
        chunks in vec(vec(any::<u8>(), 1..6), 0..600),
    ) {
        let setup: cluster::Setup = read(&setup).expect("a setup reads from any bytes");
        if let Err(violation) = cluster::check(setup, &ops(&chunks), None) {
            panic!("{violation}");
        }
    }
}
