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
