//! The bounded-staleness read oracle (docs/design.md §11): a read is answered in its step,
//! once; served, it rests on a freshness proof the node was given in this incarnation.

use super::*;
use sansraft::message::Heartbeat;

/// Freshness proofs given to the node in this incarnation, and the read being asked.
#[derive(Clone, Debug, Default)]
pub(super) struct StaleReads {
    /// Proofs delivered about a stamp of this incarnation, at most the node's ticks then:
    /// (stamp tick, commit index). The oracle needs only that one exists, so recording a proof
    /// the node then ignored (a stale term, say) only weakens it.
    given: Vec<(u64, Index)>,
    /// The node led at some step of this incarnation: it may hold proofs of its own rounds.
    pub(super) led: bool,
    /// The read being asked: its id, bound, and the node's applied index and ticks then.
    asking: Option<(u64, u32, Index, u64)>,
    /// Answers to it so far.
    answers: u32,
    /// The node was a witness when the read was asked (it serves none).
    witness: bool,
    /// Bounded-staleness reads served, and served by a node that never led in its
    /// incarnation (so checked against the proofs it was given), and refused.
    pub(super) counts: (u64, u64, u64),
}

impl StaleReads {
    /// The node restarted: the proofs of the earlier incarnation say nothing about this one.
    pub(super) fn restart(&mut self) {
        *self = StaleReads {
            counts: self.counts,
            ..StaleReads::default()
        };
    }
}

impl Harness {
    /// Notes the freshness proof a heartbeat about to be delivered carries, if it is about
    /// this incarnation's clock.
    pub(super) fn note_proof(&mut self, m: &Message) {
        if let Body::Heartbeat(Heartbeat {
            proof: Some(proof), ..
        }) = &m.body
        {
            let stamp = proof.stamp;
            if stamp.incarnation == self.store.incarnation() && stamp.tick <= self.ticks {
                self.stale.given.push((stamp.tick, proof.commit));
            }
        }
    }

    /// A client asks for a read at most `bound` ticks stale; it is answered in this step.
    pub(super) fn read_stale(&mut self, bound: u32) {
        self.read_id += 1;
        let id = self.read_id;
        let applied = self.node.status().applied;
        self.stale.asking = Some((id, bound, applied, self.ticks));
        self.stale.answers = 0;
        self.stale.witness = self.node.is_witness();
        self.step(Input::ReadStale {
            id,
            max_staleness_ticks: bound,
        });
        assert_eq!(
            self.stale.answers, 1,
            "bounded-staleness read {id} answered {} times in its step",
            self.stale.answers
        );
        self.stale.asking = None;
    }

    pub(super) fn is_stale_read(&self, id: u64) -> bool {
        self.stale.asking.is_some_and(|(read, ..)| read == id)
    }

    /// The node answered the bounded-staleness read `id`.
    pub(super) fn on_stale_read(&mut self, id: u64, outcome: Result<Index, ReadError>) {
        let (_, bound, applied, now) = self.stale.asking.expect("a read is being asked");
        self.stale.answers += 1;
        match outcome {
            Ok(index) => {
                self.stale.counts.0 += 1;
                assert_eq!(
                    index, applied,
                    "bounded-staleness read {id} served at {index}, not at the applied {applied}"
                );
                if self.stale.led {
                    return;
                }
                self.stale.counts.1 += 1;
                // The rule: a proof of this incarnation at most `bound` ticks old, applied.
                let justified = self.stale.given.iter().any(|&(tick, commit)| {
                    now.saturating_sub(tick) <= u64::from(bound) && commit <= applied
                });
                assert!(
                    justified,
                    "bounded-staleness read {id} served at tick {now} with bound {bound} and \
                     {applied} applied, but no proof given in this incarnation justifies it \
                     (given: {:?})",
                    self.stale.given
                );
            }
            Err(ReadError::TooStale {
                max_staleness_ticks,
                provable_ticks,
            }) => {
                self.stale.counts.2 += 1;
                assert!(
                max_staleness_ticks == bound && provable_ticks.is_none_or(|p| p > u64::from(bound)),
                "bounded-staleness read {id} with bound {bound} refused as {max_staleness_ticks} \
                 with a provable staleness of {provable_ticks:?}"
                );
            }
            Err(ReadError::Witness) => assert!(
                self.stale.witness,
                "bounded-staleness read {id} refused as at a witness by a node that is none"
            ),
            Err(error) => panic!("bounded-staleness read {id} refused with {error:?}"),
        }
    }
}
