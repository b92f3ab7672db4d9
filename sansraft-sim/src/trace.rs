//! Run traces: the 64-bit trace hash every run computes, and the optional per-event records
//! written as JSON lines (`run --trace`) and drawn as a space-time diagram (`run --html`).

use crate::Micros;
use sansraft::NodeId;
use serde::{Deserialize, Serialize};
use std::io::Write as _;

/// 64-bit FNV-1a, used for the trace hash (the test kit's, which also hashes the checker's
/// entries).
pub use sansraft_testkit::fnv::Fnv;

/// One processed event, with what it caused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Event number, from 1.
    pub n: u64,
    /// Simulated time in microseconds.
    pub t: Micros,
    /// The event kind.
    pub event: String,
    /// The node that handled it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The message delivered (for `deliver` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<MsgRecord>,
    /// Messages sent while handling the event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sends: Vec<SendRecord>,
    /// Nodes whose state changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<NodeState>,
    /// The violation detected after this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violation: Option<String>,
}

/// A message, as delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgRecord {
    /// Sender.
    pub from: NodeId,
    /// Recipient.
    pub to: NodeId,
    /// Message kind.
    pub kind: String,
    /// The message's term.
    pub term: u64,
    /// When it was sent.
    pub sent_at: Micros,
    /// Dropped on arrival (link cut, or the recipient down).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
}

/// A message handed to the network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRecord {
    /// Sender (the record's `node`, except for sends caused by faults, which have none).
    #[serde(default)]
    pub from: NodeId,
    /// Recipient.
    pub to: NodeId,
    /// Message kind.
    pub kind: String,
    /// The message's term.
    pub term: u64,
    /// Arrival times: none if lost, two if duplicated.
    pub deliver_at: Vec<Micros>,
}

/// A node's state after an event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// The node.
    pub id: NodeId,
    /// Running (not crashed).
    pub up: bool,
    /// Paused.
    pub paused: bool,
    /// Role name ("follower", "pre_candidate", "candidate", "leader"; "down" if crashed).
    pub role: String,
    /// Current term.
    pub term: u64,
    /// Commit index.
    pub commit: u64,
    /// Last log index.
    pub last: u64,
    /// The configuration in force, e.g. "1,2,3" or "1,2,4|1,2,3 +5 w4" (incoming | outgoing,
    /// then `+` learners, then `w` the voters that are witnesses); empty if down.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    /// The node's disk, if not at its normal speed: "stalled" or "slow ×N".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub disk: String,
    /// The nodes whose messages to this node are dropped (cut links, by partitions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut_from: Vec<NodeId>,
}

/// Collects records while a run is traced.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tracer {
    pub(crate) records: Vec<TraceRecord>,
    current: TraceRecord,
    last_states: Vec<Option<NodeState>>,
}

impl Tracer {
    pub(crate) fn begin(&mut self, n: u64, t: Micros, event: &str, node: Option<NodeId>) {
        self.current = TraceRecord {
            n,
            t,
            event: event.to_owned(),
            node,
            ..TraceRecord::default()
        };
    }

    pub(crate) fn current(&mut self) -> &mut TraceRecord {
        &mut self.current
    }

    /// Appends to the current record's description.
    pub(crate) fn note(&mut self, text: &str) {
        if !self.current.detail.is_empty() {
            self.current.detail.push_str("; ");
        }
        self.current.detail.push_str(text);
    }

    /// Finishes the current record with the states that changed.
    pub(crate) fn end(&mut self, states: Vec<NodeState>) {
        self.last_states.resize(states.len(), None);
        for (slot, state) in self.last_states.iter_mut().zip(states) {
            if slot.as_ref() != Some(&state) {
                self.current.states.push(state.clone());
                *slot = Some(state);
            }
        }
        self.records.push(std::mem::take(&mut self.current));
    }
}

/// Writes records as JSON lines.
pub fn write_jsonl(records: &[TraceRecord], out: impl std::io::Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
