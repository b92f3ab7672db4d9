//! Decoding allocates in proportion to the input, never to a length field it reads: a few bytes
//! claiming a billion entries must not reserve memory for them. A counting allocator measures
//! every decode of the `decode` corpus, of crafted inputs with huge length fields, and of
//! pseudo-random inputs. (This binary holds one test so that no other thread allocates while
//! it measures.)

use sansraft_fuzz::decode::{allocation_budget, decode_all};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A postcard varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Inputs whose length fields claim far more elements than the input holds.
fn huge_length_inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for claimed in [1u64 << 16, 1 << 20, 1 << 32, u64::MAX >> 1] {
        // Membership { voters: [claimed elements...] }
        let mut m = Vec::new();
        varint(claimed, &mut m);
        m.extend_from_slice(&[1, 2, 3]);
        out.push((format!("membership voters claiming {claimed}"), m));
        // SnapshotMeta { index, term, membership { voters: [], outgoing: [], learners: huge } }
        let mut s = vec![5, 1, 0, 0];
        varint(claimed, &mut s);
        out.push((format!("snapshot learners claiming {claimed}"), s));
        // Message { from, to, term, body: Append { prev_index, prev_term, commit, entries } }
        let mut a = vec![2, 1, 3, 0, 0, 0, 0];
        varint(claimed, &mut a);
        a.extend_from_slice(&[3, 1, 0, 1, 7]);
        out.push((format!("append entries claiming {claimed}"), a));
        // Entry { term, index, kind, data: claimed bytes }
        let mut e = vec![1, 1, 0];
        varint(claimed, &mut e);
        e.extend_from_slice(b"xyz");
        out.push((format!("entry data claiming {claimed}"), e));
    }
    out
}

/// Deterministic pseudo-random inputs (splitmix64), biased to small bytes so that lengths and
/// variants often parse.
fn random_inputs(count: usize) -> Vec<(String, Vec<u8>)> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|i| {
            let len = (next() % 64) as usize;
            let bytes = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        r as u8
                    } else {
                        (r % 8) as u8
                    }
                })
                .collect();
            (format!("random input {i}"), bytes)
        })
        .collect()
}

#[test]
fn decoding_allocates_in_proportion_to_the_input_not_to_length_fields() {
    let mut inputs = sansraft_fuzz::corpus::inputs("decode");
    inputs.extend(huge_length_inputs());
    inputs.extend(random_inputs(20_000));
    let mut worst = (0.0f64, String::new());
    for (name, data) in &inputs {
        let region = Region::new(GLOBAL);
        decode_all(data);
        let used = region.change().bytes_allocated;
        let budget = allocation_budget(data.len());
        assert!(
            used <= budget,
            "{name}: decoding {} bytes allocated {used} bytes (budget {budget}): {data:?}",
            data.len()
        );
        let ratio = used as f64 / budget as f64;
        if ratio > worst.0 {
            worst = (ratio, name.clone());
        }
    }
    assert!(
        worst.0 <= 1.0,
        "worst input {} used {:.2} of its budget",
        worst.1,
        worst.0
    );
}
