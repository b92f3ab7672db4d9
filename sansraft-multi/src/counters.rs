//! What the host did and what it ignored, for metrics and tests.

/// Counts since the host started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostCounters {
    /// Host ticks ([`crate::HostInput::Tick`]).
    pub ticks: u64,
    /// Engine steps, of any input, over all groups.
    pub engine_steps: u64,
    /// Engine steps of [`sansraft::Input::Tick`]: groups ticked (quiet groups are not).
    pub group_ticks: u64,
    /// Host writes issued ([`crate::HostAction::Persist`]).
    pub host_writes: u64,
    /// Group writes carried in them.
    pub group_writes: u64,
    /// Batches sent.
    pub batches_sent: u64,
    /// Of them, periodic batches (one per peer node per heartbeat interval).
    pub periodic_batches: u64,
    /// Envelopes sent.
    pub envelopes_sent: u64,
    /// Periodic heartbeats replaced in the buffer by a newer one of the same group.
    pub heartbeats_superseded: u64,
    /// Batches ignored: not addressed to this host, or claiming to come from it.
    pub misaddressed_batches: u64,
    /// Envelopes ignored: their message names another sender than the batch, or another
    /// recipient than this host.
    pub forged_envelopes: u64,
    /// Messages dropped for a group neither hosted nor deleted.
    pub unknown_group_messages: u64,
    /// [`crate::HostAction::UnknownGroup`] reports made.
    pub unknown_group_reports: u64,
    /// Unknown-group messages not reported because the report table was full.
    pub unknown_group_reports_dropped: u64,
    /// Messages dropped because an earlier message of the same batch made their group install
    /// a snapshot (the install is carried out after the step's group actions).
    pub dropped_after_install: u64,
    /// Messages dropped for a deleted group.
    pub tombstoned_messages: u64,
    /// Acknowledgements ignored: of an earlier incarnation, or already acknowledged.
    pub stale_acks: u64,
    /// Times a peer node was declared unreachable by the failure detector.
    pub peers_unreachable: u64,
    /// Peer-unreachable inputs fed to groups.
    pub unreachable_inputs: u64,
    /// Times a peer node declared unreachable was heard from again (and the groups it is a
    /// member of were told, `Input::PeerReachable`).
    pub peers_reachable: u64,
}
