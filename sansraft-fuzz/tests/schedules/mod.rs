//! Schedules of past findings as operation lists, so that they keep their meaning when the
//! targets' byte formats change (new operations re-map the bytes of older inputs). Each was
//! decoded from the input libFuzzer saved, with the target format of its time.

// Each test binary that includes this module uses only some of the schedules.
#![allow(dead_code, unused_imports)]

mod earlier_term_commit;
mod message_storm;
mod snapshot_over_pending_install;

pub(crate) use earlier_term_commit::earlier_term_commit;
pub(crate) use message_storm::message_storm;
pub(crate) use snapshot_over_pending_install::snapshot_over_pending_install;
