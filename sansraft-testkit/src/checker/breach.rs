//! What the checker reports: the rule broken, the node concerned and what was seen.

use sansraft::NodeId;

/// The rule a step broke, grouped by the file that checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    // node_rules
    /// At most one leader per term (§5.2, Figure 3).
    ElectionSafety,
    /// One vote per term, across restarts too (§5.2).
    DoubleVote,
    /// Terms and commit indices never go down (a term not across restarts either).
    Monotonicity,
    /// `snapshot ≤ applied ≤ commit ≤ last index`.
    IndexOrder,
    /// Persist before speaking, applying or restarting (Figure 2); the log changes only
    /// through the writes the node issues.
    Durability,
    /// The node's own `check_invariants` failed.
    NodeInvariant,
    // log_rules, snapshot_rules
    /// Same index and term, same prefix (§5.3, Figure 3).
    LogMatching,
    /// A leader never overwrites or deletes its entries (§5.3, Figure 3).
    LeaderAppendOnly,
    /// A leader holds every entry committed in an earlier term (§5.4, Figure 3).
    LeaderCompleteness,
    /// Committed, applied and snapshotted state agrees across nodes (§5.4.3, §7, Figure 3).
    StateMachineSafety,
    // membership_rules, read_rules
    /// Commit quorums of the configuration in force; removed leaders step down (chapter 4).
    Membership,
    /// A read served reflects what was committed before it was issued (§6.4, §6.4.1).
    StaleRead,
    /// A bounded-staleness read reflects what was committed before the serving node's clock
    /// read `now − bound` (docs/design.md §11).
    StaleReadBeyondBound,
    // election_timer, append_rules
    /// A follower waits an election timeout before campaigning (Figure 2, followers).
    EarlyCampaign,
    /// An append is rejected only if its previous entry is missing (Figure 2, AppendEntries 2).
    AppendRejectedWrongly,
}

/// A broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// Which rule.
    pub rule: Rule,
    /// The node concerned, if one is.
    pub node: Option<NodeId>,
    /// What was seen.
    pub detail: String,
}

impl Breach {
    /// A breach of `rule` at `node`.
    pub fn new(rule: Rule, node: Option<NodeId>, detail: String) -> Self {
        Breach { rule, node, detail }
    }
}

impl core::fmt::Display for Breach {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.rule)?;
        if let Some(node) = self.node {
            write!(f, " on n{node}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl std::error::Error for Breach {}
