//! The read oracle (thesis §6.4): reads are served only once confirmed by a quorum round or a
//! justified lease (§6.4.1).

use super::*;

impl Harness {
    /// Thesis §6.4.1: marks the leader's waiting reads if its lease is justified now: an entry
    /// of its term committed, no transfer started in the term, and a quorum of the
    /// configuration in force acknowledged rounds sent within the lease.
    pub(super) fn mark_lease_reads(&mut self) {
        let config = &self.setup.config;
        if !(config.lease_reads && config.check_quorum) || self.client_reads.is_empty() {
            return;
        }
        let s = self.node.status();
        if s.role != Role::Leader || self.node.log_term(s.commit) != Some(s.term) {
            return;
        }
        let window = u64::from(config.lease_ticks());
        let now = self.ticks;
        let lease = self.lease.of(s.term);
        if lease.transfer {
            return;
        }
        let m = self.node.membership();
        let held =
            |v: NodeId| Some(v == ME || lease.acked.get(&v).is_some_and(|&t| now - t < window));
        if joint_vote_result(&m.voters, &m.outgoing, held) != VoteResult::Won {
            return;
        }
        for read in self.client_reads.values_mut() {
            if read.term == s.term && read.led_at_commit.is_some() {
                read.lease = true;
            }
        }
    }

    /// A read was served at `index`.
    pub(super) fn on_read_ready(&mut self, id: u64, index: Index) {
        let read = self.client_reads.remove(&id).unwrap_or_else(|| {
            panic!("§6.4: read {id} served, but it was never asked or already answered")
        });
        self.reads_answered.0 += 1;
        let applied = self.apply_next - 1;
        assert!(
            index <= applied,
            "§6.4: read {id} served at read index {index} with only {applied} applied"
        );
        let Some(commit) = read.led_at_commit else {
            return;
        };
        assert!(
            index >= commit,
            "§6.4: read {id} taken by the leader at commit {commit} served at read index {index}"
        );
        if read.lease {
            return;
        }
        // The step that confirmed the read may have put a configuration in force too.
        let now = self.node.membership();
        let confirmed = read.configurations.iter().chain([now]).any(|m| {
            let acked = |v: NodeId| Some(v == ME || read.acks.contains(&v));
            joint_vote_result(&m.voters, &m.outgoing, acked) == VoteResult::Won
        });
        assert!(
            confirmed,
            "§6.4: read {id} served without a lease or a quorum acknowledging a heartbeat of term \
             {} since it was asked (acknowledged by {:?}; configurations {:?})",
            read.term, read.acks, read.configurations
        );
    }
}
