use sansraft_fuzz::cluster;

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
