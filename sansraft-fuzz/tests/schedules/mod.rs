//! Schedules of past findings as operation lists, so that they keep their meaning when the
//! targets' byte formats change (new operations re-map the bytes of older inputs). Each was
//! decoded from the input libFuzzer saved, with the target format of its time.

#![allow(dead_code)]

use sansraft::Config;
use sansraft_fuzz::{cluster, node_step};

/// node_step: the application snapshotted over a pending install (see `regressions.rs`).
pub(crate) fn snapshot_over_pending_install() -> (node_step::Setup, Vec<node_step::Op>) {
    use node_step::Op;
    let mut config = Config::new(1, 0);
    config.election_timeout_ticks = 2;
    config.heartbeat_interval_ticks = 1;
    config.max_append_bytes = 1;
    config.max_inflight_msgs = 1;
    config.max_inflight_bytes = 1;
    config.max_uncommitted_bytes = 193;
    config.max_apply_bytes = 1;
    let setup = node_step::Setup {
        voters: 1,
        learner: true,
        config,
    };
    (
        setup,
        vec![
            Op::Tick(0),
            Op::StaleAck(90),
            Op::Respond {
                peer: 195,
                agree: false,
            },
            Op::Ack,
            Op::Persist,
            Op::Tick(22),
            Op::PersistAllAckLast,
            Op::AnswerRead { corrupt: true },
            Op::BogusRead(25),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::TakeSnapshot,
            Op::Message(vec![14, 183]),
            Op::Tick(243),
            Op::Transfer(200),
            Op::BogusApplied(117),
            Op::Ack,
            Op::Propose(17),
            Op::Message(vec![17, 17, 17, 17, 17, 17, 255, 0, 17, 17, 17, 98]),
            Op::AnswerRead { corrupt: false },
            Op::Tick(0),
            Op::Ack,
            Op::Tick(128),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(1),
            Op::PersistAndAck,
            Op::Respond {
                peer: 134,
                agree: false,
            },
            Op::AnswerRead { corrupt: false },
            Op::BogusAck(48),
            Op::PersistAndAck,
            Op::Transfer(213),
            Op::BogusAck(245),
            Op::Transfer(103),
            Op::Persist,
            Op::Respond {
                peer: 62,
                agree: false,
            },
            Op::PersistAllAckLast,
            Op::Message(vec![213, 81, 159, 130, 157]),
            Op::Message(vec![
                98, 129, 17, 17, 17, 17, 17, 17, 215, 17, 17, 17, 0, 17, 17, 17, 17, 127,
            ]),
            Op::Restart,
            Op::Tick(0),
            Op::Tick(0),
            Op::BogusApplied(120),
            Op::Respond {
                peer: 86,
                agree: true,
            },
            Op::AnswerRead { corrupt: false },
            Op::StaleAck(90),
            Op::PersistAndAck,
            Op::PersistAllAckLast,
            Op::Tick(19),
            Op::Tick(13),
            Op::BogusRead(44),
            Op::Respond {
                peer: 62,
                agree: false,
            },
            Op::BogusAck(148),
            Op::Propose(21),
            Op::BogusAck(117),
            Op::Message(vec![213, 81, 159, 130, 157]),
            Op::Message(vec![
                98, 129, 17, 17, 17, 17, 17, 17, 215, 17, 17, 17, 0, 187,
            ]),
            Op::Message(vec![17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 243, 250]),
            Op::Respond {
                peer: 128,
                agree: false,
            },
            Op::PersistAndAck,
            Op::Transfer(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::TakeSnapshot,
            Op::BogusApplied(117),
            Op::TakeSnapshot,
            Op::BogusApplied(181),
            Op::Respond {
                peer: 215,
                agree: true,
            },
            Op::BogusRead(25),
            Op::PersistAndAck,
            Op::BogusAck(100),
            Op::PersistAndAck,
            Op::BogusAck(48),
            Op::PersistAndAck,
            Op::Transfer(213),
            Op::BogusAck(245),
            Op::BogusRead(46),
            Op::Ack,
            Op::PersistAllAckLast,
            Op::Ack,
            Op::Restart,
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Tick(0),
            Op::Transfer(255),
            Op::Tick(0),
            Op::Tick(0),
            Op::Ack,
            Op::Restart,
            Op::TakeSnapshot,
            Op::Message(vec![40, 248]),
            Op::Tick(172),
            Op::ProposeBatch(28),
            Op::Ack,
            Op::Message(vec![
                17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 255, 255, 255, 255, 255, 255, 255, 255,
                255, 255, 125,
            ]),
            Op::PersistAndAck,
            Op::Message(vec![]),
            Op::PersistAllAckLast,
            Op::StaleAck(90),
            Op::Respond {
                peer: 195,
                agree: false,
            },
            Op::Ack,
            Op::Persist,
            Op::Message(vec![]),
            Op::TakeSnapshot,
            Op::Transfer(219),
            Op::Message(vec![]),
            Op::PersistAndAck,
            Op::BogusAck(254),
            Op::AnswerRead { corrupt: true },
            Op::AnswerRead { corrupt: true },
            Op::Respond {
                peer: 83,
                agree: true,
            },
            Op::Propose(49),
            Op::Tick(180),
            Op::PersistAllAckLast,
            Op::Transfer(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::Propose(53),
            Op::ProposeBatch(130),
        ],
    )
}

/// cluster: the message storm that timed libFuzzer out (see `regressions.rs`).
pub(crate) fn message_storm() -> (cluster::Setup, Vec<cluster::Op>) {
    use cluster::Op;
    let setup = cluster::Setup {
        pre_vote: true,
        max_inflight_msgs: 4,
        snapshot_interval: 2,
        snapshot_chunk_bytes: 16,
        seed: 17920,
        ..cluster::Setup::voters(5)
    };
    (
        setup,
        vec![
            Op::Tick {
                node: 70,
                times: 49,
            },
            Op::Settle(255),
            Op::Tick {
                node: 0,
                times: 143,
            },
            Op::Tick { node: 70, times: 0 },
            Op::Deliver(0),
            Op::Deliver(65535),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Settle(20),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 255,
                times: 70,
            },
            Op::Tick {
                node: 255,
                times: 70,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick { node: 70, times: 0 },
            Op::Deliver(32768),
            Op::Deliver(1),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 255,
                times: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Settle(147),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 70,
                times: 70,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 147,
                key: 147,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Settle(147),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose { node: 70, key: 255 },
            Op::Tick {
                node: 70,
                times: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Settle(147),
            Op::Propose {
                node: 147,
                key: 147,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 70,
                times: 70,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Settle(20),
            Op::Deliver(0),
        ],
    )
}

/// cluster: the schedule that first caught the earlier-term-commit canary (see `canary.rs`).
pub(crate) fn earlier_term_commit() -> (cluster::Setup, Vec<cluster::Op>) {
    use cluster::Op;
    let setup = cluster::Setup {
        snapshot_interval: 2,
        compaction_keep_entries: 3,
        snapshot_chunk_bytes: 4096,
        sync_storage: true,
        seed: 21331,
        ..cluster::Setup::voters(5)
    };
    (
        setup,
        vec![
            Op::Deliver(23873),
            Op::TickAll,
            Op::Propose { node: 255, key: 32 },
            Op::Settle(255),
            Op::Tick {
                node: 0,
                times: 143,
            },
            Op::Drop(32),
            Op::Propose { node: 143, key: 0 },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose { node: 0, key: 143 },
            Op::Tick {
                node: 70,
                times: 91,
            },
            Op::TickAll,
            Op::Restart(59),
            Op::Propose { node: 255, key: 1 },
            Op::Propose {
                node: 255,
                key: 223,
            },
            Op::Settle(255),
            Op::Propose {
                node: 250,
                key: 255,
            },
            Op::Propose { node: 70, key: 70 },
            Op::TickAll,
            Op::TickAll,
            Op::Propose {
                node: 255,
                key: 250,
            },
            Op::Tick {
                node: 255,
                times: 70,
            },
            Op::Tick {
                node: 91,
                times: 91,
            },
            Op::TickAll,
            Op::TickAll,
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Restart(255),
            Op::Deliver(37651),
            Op::Deliver(0),
            Op::Deliver(65280),
            Op::Deliver(37632),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 76,
                times: 76,
            },
            Op::Propose { node: 255, key: 1 },
            Op::Propose { node: 255, key: 84 },
            Op::DeliverTo(147),
            Op::Propose {
                node: 255,
                key: 250,
            },
            Op::Tick {
                node: 255,
                times: 70,
            },
            Op::Tick {
                node: 91,
                times: 91,
            },
            Op::TickAll,
            Op::Propose {
                node: 250,
                key: 255,
            },
            Op::Propose { node: 70, key: 76 },
            Op::DeliverTo(255),
            Op::Settle(91),
            Op::TickAll,
            Op::TickAll,
            Op::Propose { node: 1, key: 63 },
            Op::Propose {
                node: 223,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 70,
                times: 70,
            },
            Op::TickAll,
            Op::TickAll,
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 70,
                times: 70,
            },
            Op::TickAll,
            Op::TickAll,
            Op::TickAll,
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Restart(255),
            Op::Deliver(37651),
            Op::Deliver(0),
            Op::Deliver(65280),
            Op::Deliver(37632),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 76,
                times: 76,
            },
            Op::Propose { node: 255, key: 1 },
            Op::Propose { node: 255, key: 84 },
            Op::DeliverTo(147),
            Op::Propose {
                node: 255,
                key: 250,
            },
            Op::Tick {
                node: 255,
                times: 70,
            },
            Op::Tick {
                node: 91,
                times: 91,
            },
            Op::TickAll,
            Op::Propose {
                node: 250,
                key: 255,
            },
            Op::Propose { node: 70, key: 76 },
            Op::DeliverTo(255),
            Op::Settle(255),
            Op::Propose {
                node: 250,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 70,
                times: 70,
            },
            Op::TickAll,
            Op::TickAll,
            Op::Propose {
                node: 250,
                key: 255,
            },
            Op::Propose { node: 70, key: 70 },
            Op::TickAll,
            Op::TickAll,
            Op::TickAll,
            Op::TickAll,
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Heal,
            Op::Settle(255),
            Op::Deliver(0),
            Op::Deliver(37887),
            Op::Deliver(65427),
            Op::Propose {
                node: 255,
                key: 255,
            },
            Op::Tick {
                node: 76,
                times: 76,
            },
            Op::Propose { node: 1, key: 63 },
            Op::Propose { node: 84, key: 223 },
            Op::Settle(255),
            Op::Propose {
                node: 250,
                key: 255,
            },
            Op::Propose { node: 70, key: 70 },
            Op::TickAll,
            Op::TickAll,
            Op::Propose {
                node: 255,
                key: 250,
            },
            Op::Tick {
                node: 255,
                times: 70,
            },
            Op::Settle(20),
            Op::Deliver(0),
        ],
    )
}
