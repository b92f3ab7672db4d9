//! Quorum arithmetic, for simple majorities and joint configurations (thesis §4.3).
//!
//! All of Raft's "a majority agrees" decisions go through this module: commit (§5.3, §5.4.2),
//! elections (§5.2) and check-quorum (§6.2). It is property-tested against a brute-force oracle
//! that enumerates subsets.

use crate::types::{Index, NodeId};

/// The outcome of a vote so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// Enough refused that no quorum can grant any more.
    Lost,
    /// Neither yet.
    Pending,
}

/// The size of a majority of `n` voters.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The highest index that a majority of `voters` has matched, given each voter's match index.
/// An empty voter set imposes no constraint and returns `Index::MAX`, so that it is neutral in a
/// joint configuration.
pub fn committed_index(voters: &[NodeId], mut matched: impl FnMut(NodeId) -> Index) -> Index {
    if voters.is_empty() {
        return Index::MAX;
    }
    // Hot path (every acknowledgement a leader counts): up to 8 voters sort on the stack.
    let mut small = [0 as Index; 8];
    let mut large = Vec::new();
    let indexes: &mut [Index] = if voters.len() <= small.len() {
        let indexes = &mut small[..voters.len()];
        for (slot, &id) in indexes.iter_mut().zip(voters) {
            *slot = matched(id);
        }
        indexes
    } else {
        large.extend(voters.iter().map(|&id| matched(id)));
        &mut large
    };
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    // Sorted descending, the entry at position majority-1 is matched by at least a majority.
    indexes[majority(voters.len()) - 1]
}

/// The outcome of a vote among `voters`, given each voter's answer so far (`None`: no answer).
/// An empty voter set wins, so that it is neutral in a joint configuration.
pub fn vote_result(voters: &[NodeId], mut vote: impl FnMut(NodeId) -> Option<bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let (mut granted, mut missing) = (0, 0);
    for &id in voters {
        match vote(id) {
            Some(true) => granted += 1,
            Some(false) => {}
            None => missing += 1,
        }
    }
    let q = majority(voters.len());
    if granted >= q {
        VoteResult::Won
    } else if granted + missing >= q {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

/// The committed index of a joint configuration: matched by a majority of both halves.
/// With `outgoing` empty this is the simple-majority result.
pub fn joint_committed_index(
    incoming: &[NodeId],
    outgoing: &[NodeId],
    mut matched: impl FnMut(NodeId) -> Index,
) -> Index {
    let a = committed_index(incoming, &mut matched);
    let b = committed_index(outgoing, &mut matched);
    a.min(b)
}

/// The outcome of a vote in a joint configuration: won when both halves won, lost when either
/// lost.
pub fn joint_vote_result(
    incoming: &[NodeId],
    outgoing: &[NodeId],
    mut vote: impl FnMut(NodeId) -> Option<bool>,
) -> VoteResult {
    match (
        vote_result(incoming, &mut vote),
        vote_result(outgoing, &mut vote),
    ) {
        (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
        (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
        _ => VoteResult::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Oracle: the largest index i such that some majority subset all matched ≥ i.
    fn oracle_committed(voters: &[NodeId], matched: &[Index]) -> Index {
        if voters.is_empty() {
            return Index::MAX;
        }
        let n = voters.len();
        let mut best = 0;
        for mask in 0u32..(1 << n) {
            if (mask.count_ones() as usize) < majority(n) {
                continue;
            }
            let min = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| matched[i])
                .min()
                .unwrap();
            best = best.max(min);
        }
        best
    }

    /// Oracle: won if the granters form a majority; lost if even all missing answers could not.
    fn oracle_vote(votes: &[Option<bool>]) -> VoteResult {
        if votes.is_empty() {
            return VoteResult::Won;
        }
        let yes = votes.iter().filter(|v| **v == Some(true)).count();
        let maybe = votes.iter().filter(|v| v.is_none()).count();
        if 2 * yes > votes.len() {
            VoteResult::Won
        } else if 2 * (yes + maybe) > votes.len() {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }

    fn ids(n: usize, base: u64) -> Vec<NodeId> {
        (0..n as u64).map(|i| base + i).collect()
    }

    #[test]
    fn majority_sizes() {
        assert_eq!([1, 2, 2, 3, 3, 4], [1, 2, 3, 4, 5, 6].map(majority));
    }

    proptest! {
        #[test]
        fn committed_matches_oracle(matched in prop::collection::vec(0u64..20, 0..8)) {
            let voters = ids(matched.len(), 1);
            let got = committed_index(&voters, |id| matched[(id - 1) as usize]);
            prop_assert_eq!(got, oracle_committed(&voters, &matched));
        }

        #[test]
        fn vote_matches_oracle(votes in prop::collection::vec(prop::option::of(any::<bool>()), 0..8)) {
            let voters = ids(votes.len(), 1);
            let got = vote_result(&voters, |id| votes[(id - 1) as usize]);
            prop_assert_eq!(got, oracle_vote(&votes));
        }

        /// Joint: overlapping halves (ids may be shared), each half judged on its own.
        #[test]
        fn joint_matches_oracle(
            a in prop::collection::btree_set(1u64..9, 0..6),
            b in prop::collection::btree_set(1u64..9, 0..6),
            matched in prop::collection::vec(0u64..20, 9),
            votes in prop::collection::vec(prop::option::of(any::<bool>()), 9),
        ) {
            let a: Vec<_> = a.into_iter().collect();
            let b: Vec<_> = b.into_iter().collect();
            let m = |ids: &[NodeId]| ids.iter().map(|&i| matched[i as usize]).collect::<Vec<_>>();
            let expected = oracle_committed(&a, &m(&a)).min(oracle_committed(&b, &m(&b)));
            prop_assert_eq!(joint_committed_index(&a, &b, |id| matched[id as usize]), expected);

            let v = |ids: &[NodeId]| ids.iter().map(|&i| votes[i as usize]).collect::<Vec<_>>();
            let expected = match (oracle_vote(&v(&a)), oracle_vote(&v(&b))) {
                (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
                (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
                _ => VoteResult::Pending,
            };
            prop_assert_eq!(joint_vote_result(&a, &b, |id| votes[id as usize]), expected);
        }
    }
}
