//! Properties over arbitrary command sequences: snapshots round-trip, retries apply once, and
//! no bytes make decoding panic.

use proptest::prelude::*;
use sansraft::{Entry, EntryKind};
use sansraft_kv::{Applied, Command, KvMachine, Op, Output, RequestId};

type Kv = KvMachine<u8, u8>;

fn op() -> impl Strategy<Value = Op<u8, u8>> {
    let key = 0u8..6;
    prop_oneof![
        (key.clone(), any::<u8>()).prop_map(|(key, value)| Op::Put { key, value }),
        key.clone().prop_map(|key| Op::Get { key }),
        key.clone().prop_map(|key| Op::Delete { key }),
        (key, proptest::option::of(0u8..4), any::<u8>()).prop_map(|(key, expected, new)| Op::Cas {
            key,
            expected,
            new
        }),
    ]
}

/// Commands from a few clients, with sequence numbers that may repeat or go back.
fn commands() -> impl Strategy<Value = Vec<Command<u8, u8>>> {
    let request = proptest::option::of((0u64..4, 0u64..8))
        .prop_map(|r| r.map(|(client, seq)| RequestId { client, seq }));
    proptest::collection::vec(
        (request, op()).prop_map(|(request, op)| Command { request, op }),
        0..40,
    )
}

fn entry(index: u64, command: &Command<u8, u8>) -> Entry {
    Entry {
        term: 1,
        index,
        kind: EntryKind::Normal,
        data: command.encode(),
    }
}

fn run(kv: &mut Kv, commands: &[Command<u8, u8>]) -> Vec<Applied<u8>> {
    let first = kv.applied() + 1;
    (first..)
        .zip(commands)
        .map(|(index, c)| kv.apply(&entry(index, c)).unwrap().expect("a command"))
        .collect()
}

/// The result a client is answered with (`None`: no longer known).
fn output(applied: &Applied<u8>) -> Option<&Output<u8>> {
    match applied {
        Applied::Fresh(output) | Applied::Duplicate(output, _) => Some(output),
        Applied::Stale => None,
    }
}

proptest! {
    #[test]
    fn a_snapshot_restores_an_equal_machine(commands in commands(), max in 1usize..6) {
        let mut kv = Kv::new(max);
        run(&mut kv, &commands);
        let bytes = kv.snapshot();
        let restored = Kv::restore_with_max_sessions(&bytes, max).expect("own snapshot restores");
        prop_assert_eq!(&restored, &kv);
        prop_assert_eq!(restored.snapshot(), bytes);
        // And it goes on exactly as the original does.
        let (mut a, mut b) = (kv, restored);
        prop_assert_eq!(run(&mut a, &commands), run(&mut b, &commands));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn a_retried_request_applies_once(commands in commands()) {
        let with_id: Vec<_> = commands.into_iter().filter(|c| c.request.is_some()).collect();
        let mut once = Kv::default();
        let mut twice = Kv::default();
        let first = run(&mut once, &with_id);
        for (command, first) in with_id.iter().zip(first) {
            let results = run(&mut twice, &[command.clone(), command.clone()]);
            prop_assert_eq!(output(&results[0]), output(&first));
            // The retry changes nothing and answers with the first result.
            match (&results[1], output(&first)) {
                (Applied::Duplicate(again, _), Some(first)) => prop_assert_eq!(again, first),
                (Applied::Stale, None) => {}
                (retry, first) => prop_assert!(false, "retry {retry:?} after {first:?}"),
            }
        }
        prop_assert_eq!(once.iter().collect::<Vec<_>>(), twice.iter().collect::<Vec<_>>());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Command::<u8, u8>::decode(&bytes);
        let _ = Kv::restore(&bytes);
    }

    #[test]
    fn a_corrupted_snapshot_is_refused_or_canonical(
        commands in commands(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut kv = Kv::default();
        run(&mut kv, &commands);
        let mut bytes = kv.snapshot().to_vec();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        if let Ok(restored) = Kv::restore(&bytes) {
            prop_assert_eq!(restored.snapshot(), bytes);
        }
    }
}
