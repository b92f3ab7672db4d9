use sansraft_fuzz::cluster;

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
