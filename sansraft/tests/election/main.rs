//! Leader election: the rules of Raft §5.1, §5.2 and §5.4.1, and the thesis extensions
//! pre-vote (§9.6), check-quorum (§6.2) and leader stickiness (§4.2.3), and leader priorities.
//!
//! Each test checks one rule and names the section it comes from.

mod campaign;
mod helpers;
mod priority;
mod terms_and_votes;
mod thesis_extensions;
mod timeouts;
