//! # sansraft-fuzz
//!
//! The bodies of the fuzz targets in `fuzz/`, as plain functions: each takes the fuzzer's bytes
//! and panics on a finding. cargo-fuzz calls them from thin wrappers in `fuzz/fuzz_targets/`;
//! this crate's tests call them on stable Rust over the checked-in corpus (`fuzz/corpus/`) and
//! over proptest-generated inputs, so `cargo test --workspace` exercises every target.
//!
//! - [`decode`]: arbitrary bytes into every wire and persisted type's decoder.
//! - [`node_step`]: a structure-aware sequence of inputs into one node, with a model of its
//!   storage, checking local invariants after every step.
//! - [`cluster`]: an arbitrary schedule driving the simulator's world step by step, with every
//!   safety invariant of the simulator's checker after every step.
//!
//! See `docs/fuzzing.md` for how to fuzz and how to turn a finding into a regression test.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod change;
pub mod cluster;
pub mod corpus;
pub mod decode;
pub mod node_step;
