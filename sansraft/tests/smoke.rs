use sansraft::Role;
use sansraft_testkit::Cluster;

#[test]
fn three_nodes_elect_replicate_and_apply() {
    let mut c = Cluster::new(3);
    c.elect(1);
    assert_eq!(c.leaders(), vec![1]);
    for i in 0..10 {
        c.propose(1, &format!("cmd{i}")).unwrap();
    }
    c.deliver_all();
    c.run(3);
    let expected: Vec<String> = (0..10).map(|i| format!("cmd{i}")).collect();
    for id in 1..=3 {
        assert_eq!(c.applied_data(id), expected, "node {id}");
        assert_eq!(c.node(id).status().commit, 11);
    }
    assert_eq!(c.node(2).role(), Role::Follower);
    assert_eq!(c.node(2).leader(), Some(1));
}

/// `step_with` hands over the actions `step_into` collects, in the same order: two copies of
/// a three-node cluster, one driven each way, take the same inputs and must act alike at every
/// step, through an election, proposals and their replication and apply.
#[test]
fn step_with_acts_as_step_into() {
    use bytes::Bytes;
    use sansraft::{Action, Config, DurableState, Input, Membership, Node};
    use std::collections::VecDeque;

    let nodes = || -> Vec<Node> {
        (1..=3)
            .map(|id| {
                let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
                Node::new(Config::new(id, 42 + id), state, 0).unwrap()
            })
            .collect()
    };
    let (mut by_buffer, mut by_sink) = (nodes(), nodes());
    let mut inputs: VecDeque<(usize, Input)> = VecDeque::new();
    let mut buffer = Vec::new();
    let mut applied = 0;
    for round in 0..400u64 {
        if inputs.is_empty() {
            let i = (round % 3) as usize;
            let input = if round % 7 == 0 {
                Input::Propose(Bytes::from(round.to_le_bytes().to_vec()))
            } else {
                Input::Tick
            };
            inputs.push_back((i, input));
        }
        let (i, input) = inputs.pop_front().unwrap();
        buffer.clear();
        by_buffer[i].step_into(input.clone(), &mut buffer);
        let mut sunk = Vec::new();
        by_sink[i].step_with(input, |action| sunk.push(action));
        assert_eq!(buffer, sunk, "round {round}, node {}", i + 1);
        for action in sunk {
            match action {
                Action::Send(m) => inputs.push_back((m.to as usize - 1, Input::Message(m))),
                Action::Persist(write) => inputs.push_back((i, Input::Persisted(write.token))),
                Action::Apply(entries) => {
                    applied += entries.len();
                    let last = entries.last().unwrap().index;
                    inputs.push_back((i, Input::Applied(last)));
                }
                _ => {}
            }
        }
    }
    assert!(
        applied > 20,
        "the cluster elected a leader and applied entries ({applied})"
    );
}
