//! Log replication: Raft §5.3 (AppendEntries, the consistency check, repairing follower logs),
//! §5.4.2 (committing entries from earlier terms), and the engine's replication machinery: fast
//! backtracking, flow control, batching, heartbeat commit propagation, refusals and back-pressure.

mod commit;
mod flow_control;
mod helpers;
mod log_repair;
mod lost_messages;
mod proposals;
