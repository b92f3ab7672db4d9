//! The safety checker is the test kit's ([`sansraft_testkit::checker`]): the simulator, the
//! cluster driver and the property tests check with the same rules. The simulator reports its
//! violations as [`Failure`]s, mapped rule by rule in [`ViolationKind::of_rule`].
//!
//! [`ViolationKind::of_rule`]: crate::ViolationKind::of_rule

pub use sansraft_testkit::checker::{
    AppendRules, Before, Breach, Checker, ElectionTimers, NodeView, Rule,
};

use crate::violation::Failure;

/// The result of one check, in the simulator's terms.
pub type Check = Result<(), Failure>;
