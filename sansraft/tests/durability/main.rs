//! The durability contract (Raft Figure 2: persistent state is "updated on stable storage before
//! responding to RPCs"; thesis §10.2.1 for the leader's parallel write): what a node says depends
//! only on state that is durable, the leader counts itself only once durable, acknowledgements
//! are matched to the writes they vouch for, and a restart loses nothing that was acknowledged.

mod acknowledgements;
mod commit_and_apply;
mod helpers;
mod restarts;
mod synchronous;
mod waiting_for_durability;
