//! Message dispatch: every peer message enters here, is checked against the sender, the
//! configuration and the term (§5.1, thesis §4.1, §4.2.3, §9.6), and is routed to the role
//! that handles its kind.

use super::role::RoleState;
use super::Node;
use crate::message::{Body, HeartbeatResponse, Message, VoteRequest, VoteResponse};
use crate::types::NodeId;

impl Node {
    /// Entry point for every peer message.
    pub(super) fn on_message(&mut self, m: Message) {
        if m.to != self.config.id {
            self.counters.misaddressed += 1;
            return;
        }
        let from_leader = matches!(
            m.body,
            Body::Append(_) | Body::Heartbeat(_) | Body::SnapshotChunk(_) | Body::TimeoutNow
        );
        // Leader messages are accepted from any sender: a node being added may not yet know the
        // configuration that contains its leader. Everything else must come from a member, but
        // see below for vote requests.
        // Thesis §4.1: vote requests from servers outside this node's configuration are
        // answered too — a server that has not yet heard of a new configuration may be needed to
        // elect one of its members. But only if the candidate's log is at least as up to date
        // (§5.4.1), the only case in which the vote could be granted: a removed server, whose
        // log stops before its removal, cannot disrupt anyone with its terms.
        let vote_to_non_voter = matches!(&m.body, Body::Vote(v)
            if self.log.is_up_to_date(v.last_index, v.last_term));
        // Id 0 is reserved: no node has it.
        if m.from == self.config.id
            || m.from == 0
            || (!from_leader && !vote_to_non_voter && !self.log.membership().contains(m.from))
        {
            self.counters.unknown_peer += 1;
            return;
        }
        // Quiescence: any message from a member wakes a quiet node, but those that keep it so.
        if self.config.quiesce && self.woken_by(&m) {
            // Only a leader message of this term from the leader followed tells it this node
            // is awake (and restarts its timer); anything else from its node does not.
            let own_leader = from_leader && m.term == self.term && self.leader() == Some(m.from);
            self.wake(own_leader.then_some(m.from));
        }
        if m.term > self.term {
            match &m.body {
                // A transfer-flagged request comes on the leader's own behalf (thesis §3.10).
                Body::Vote(v)
                    if self.config.leader_stickiness && self.in_leader_lease() && !v.transfer =>
                {
                    // Thesis §4.2.3 (leader stickiness): ignore votes while a live leader is
                    // known, so a partitioned or removed server cannot depose it.
                    self.counters.vote_ignored_in_lease += 1;
                    return;
                }
                // A poll changes no state; a granted poll answer carries the poll's term.
                Body::Vote(VoteRequest { pre_vote: true, .. })
                    if !canary!(self.config, PreVoteMovesTerm) => {}
                Body::VoteResponse(VoteResponse {
                    pre_vote: true,
                    granted: true,
                }) => {}
                // §5.1: a higher term means this node is out of date.
                Body::Append(_)
                | Body::Heartbeat(_)
                | Body::SnapshotChunk(_)
                | Body::TimeoutNow => self.become_follower(m.term, Some(m.from)),
                // Thesis §3.10 with §6.4.1: a transfer's vote request passes the lease. Only the
                // target of a `TimeoutNow` flags it, sent by the leader of the term below; that
                // leader gave up its lease when it started the transfer, and the lease of any
                // older leader ended before a newer one was elected (docs/design.md §9).
                Body::Vote(v)
                    if v.transfer && !canary!(self.config, TransferVoteIgnoredInLease) =>
                {
                    self.become_follower(m.term, None)
                }
                // Leases (thesis §6.4.1): while it supports a leader's lease, a follower must not
                // be moved to a newer term (and free to vote) by anything but a new leader or the
                // transfer that leader asked for.
                _ if self.config.lease_reads
                    && !self.role.is_leader()
                    && self.in_leader_lease() =>
                {
                    self.counters.vote_ignored_in_lease += 1;
                    return;
                }
                _ => self.become_follower(m.term, None),
            }
        } else if m.term < self.term {
            self.counters.stale_term += 1;
            match &m.body {
                // Tell a stale leader about the newer term so it steps down (else, with
                // pre-vote, a rejoining node could be ignored forever).
                Body::Append(_)
                | Body::Heartbeat(_)
                | Body::SnapshotChunk(_)
                | Body::TimeoutNow => {
                    let stale = HeartbeatResponse {
                        round: 0,
                        stamp: None,
                        quiet: false,
                    };
                    self.send(m.from, Body::HeartbeatResponse(stale));
                }
                // Figure 2, RequestVote: reply false with the current term, so that the
                // candidate updates itself (§5.1). Without the answer a candidate whose voters
                // were moved to higher terms by a server it ignores (one removed from its
                // configuration, §4.2.3) would campaign one term behind them forever.
                Body::Vote(request) => {
                    self.send(
                        m.from,
                        Body::VoteResponse(VoteResponse {
                            pre_vote: request.pre_vote,
                            granted: false,
                        }),
                    );
                }
                _ => {}
            }
            return;
        }
        match m.body {
            Body::Vote(request) => self.on_vote_request(m.from, m.term, request),
            Body::VoteResponse(response) => self.on_vote_response(m.from, m.term, response),
            Body::Append(append) => {
                if self.accept_leader(m.from) {
                    self.on_append(m.from, append);
                }
            }
            Body::Heartbeat(heartbeat) => {
                if self.accept_leader(m.from) {
                    self.on_heartbeat(m.from, heartbeat);
                }
            }
            Body::AppendResponse(response) => self.on_append_response(m.from, response),
            Body::HeartbeatResponse(r) => self.on_heartbeat_response(m.from, r),
            Body::ReadIndex(request) => self.on_read_index_request(m.from, request),
            Body::ReadIndexResponse(response) => self.on_read_index_response(m.from, response),
            Body::SnapshotChunk(chunk) => {
                if self.accept_leader(m.from) {
                    self.on_snapshot_chunk(m.from, *chunk);
                }
            }
            Body::SnapshotResponse(response) => self.on_snapshot_response(m.from, response),
            Body::TimeoutNow => {
                if self.accept_leader(m.from) {
                    self.on_timeout_now();
                }
            }
        }
    }

    /// A leader message in the current term: follow its sender. Returns false if the message
    /// cannot be from a legitimate leader.
    fn accept_leader(&mut self, from: NodeId) -> bool {
        let followed = match &self.role {
            RoleState::Leader(_) => {
                // Election Safety (§5.2): two leaders in one term is impossible; drop it.
                self.counters.malformed += 1;
                return false;
            }
            RoleState::Follower(following) => following.leader,
            RoleState::PreCandidate(_) | RoleState::Candidate(_) => None,
        };
        match followed {
            Some(leader) if leader == from => {
                self.election_elapsed = 0;
                if let Some(following) = self.role.following_mut() {
                    following.notice_due = false;
                }
                true
            }
            Some(_) => {
                // A second leader in one term: impossible unless the sender misbehaves.
                self.counters.malformed += 1;
                false
            }
            None => {
                // A candidate (or a follower that knows no leader yet) learns that another won
                // this term (§5.2).
                self.become_follower(self.term, Some(from));
                true
            }
        }
    }
}
