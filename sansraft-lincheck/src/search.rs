//! The Wing & Gong depth-first search over configurations of one key, with Lowe's memoization and
//! the reductions for operations of unknown outcome.

use crate::events::{EventLists, MAIN, NIL, PENDING};
use crate::evident::evident_violation;
use crate::history::{KvOp, KvOutput, Operation};
use crate::memo::{Bitset, Memo};
use crate::model::{to_steps, State, Step, ABSENT};
use crate::partition::KeyResult;
use crate::supply::{Supply, ValueSet};

/// operations to try from it, and how it was reached.
#[derive(Debug, Default)]
struct Frame {
    /// Invocation nodes of the operations that may be linearized next, in
    /// the order they are tried.
    candidates: Vec<usize>,
    /// Index in `candidates` of the next one to try.
    next: usize,
    /// The invocation node linearized to reach this configuration ([`NIL`]
    /// for the root).
    call: usize,
    /// The state before that operation.
    prev_state: State,
    /// The restriction before that operation.
    prev_after_pending: Option<State>,
}

/// Fills `out` with the invocation nodes worth trying to linearize next
/// from a configuration with the given `state` and `after_pending`.
///
/// The possible ones are the invocations preceding the first completion
/// event still in the lists. They are ordered to find a linearization
/// quickly, and so that the dominance pruning of [`Memo`] (which needs
/// configurations with fewer unknown-outcome operations to be explored
/// first) is effective:
///
/// 1. unknown-outcome writes of a value that some known-outcome candidate
///    needs (a get reading it, a successful CAS expecting it) but the state
///    does not hold: they are likely the missing link;
/// 2. known-outcome operations, in invocation order;
/// 3. the other unknown-outcome operations, in invocation order.
///
/// Some unknown-outcome candidates are left out, since trying them cannot
/// succeed where others fail: those that would not change the state; puts
/// right after another unknown-outcome operation (see [`Step::observes`]);
/// and all but the first put of a value that no unlinearized operation
/// refers to. Such puts lead to equivalent configurations: the value is
/// garbage (all that matters is that it differs from every value still
/// referred to) and the other puts remain available later.
fn candidates(
    lists: &EventLists,
    steps_of: &[Step],
    supply: &Supply,
    (state, after_pending): (State, Option<State>),
    scratch: &mut (ValueSet, Vec<usize>),
    out: &mut Vec<usize>,
) {
    let (needed, front) = scratch;
    out.clear();
    front.clear();
    needed.clear();
    let mut entry = lists.nodes[MAIN].next;
    while entry != NIL && lists.nodes[entry].is_call {
        out.push(entry);
        if let Some(v) = steps_of[lists.nodes[entry].op].reads() {
            needed.insert(v);
        }
        entry = lists.nodes[entry].next;
    }
    let boundary = if entry == NIL {
        usize::MAX
    } else {
        lists.nodes[entry].pos
    };
    let mut garbage_put = false;
    let mut entry = lists.nodes[PENDING].next;
    while entry != NIL && lists.nodes[entry].pos < boundary {
        let step = steps_of[lists.nodes[entry].op];
        // Also leave out those that would not change the state.
        let keep = match step {
            Step::Put { new } if after_pending.is_none() && new != state => {
                let garbage = supply.refs[new as usize] == 0;
                let keep = !(garbage && garbage_put);
                garbage_put |= garbage;
                keep
            }
            Step::Cas { expected, new, .. } => expected == state && new != state,
            _ => false,
        };
        if keep {
            if step.writes().is_some_and(|v| needed.contains(v)) {
                front.push(entry);
            } else {
                out.push(entry);
            }
        }
        entry = lists.nodes[entry].next;
    }
    if !front.is_empty() {
        out.splice(0..0, front.drain(..));
    }
}

/// Runs the WGL search on the operations of one key (already in canonical
/// order).
///
/// With `prechecks`, [`evident_violation`] runs first (tests disable it to
/// exercise the search alone).
pub(crate) fn check_key(ops: &[Operation], max_steps: u64, prechecks: bool) -> KeyResult {
    // Gets with unknown outcome constrain nothing: drop them.
    let ops: Vec<&Operation> = ops
        .iter()
        .filter(|o| !(o.completed.is_none() && matches!(o.op, KvOp::Get { .. })))
        .collect();
    let outputs: Vec<Option<KvOutput>> = ops
        .iter()
        .map(|o| o.completed.map(|(_, out)| out))
        .collect();
    let (steps_of, n_values) = to_steps(&ops);
    if prechecks && evident_violation(&ops, &steps_of, n_values) {
        return KeyResult::NotLinearizable;
    }
    // Separate dense numbering of known- and unknown-outcome operations,
    // for the `done` and `used` bitsets.
    let (mut n_done, mut n_used) = (0, 0);
    let slot: Vec<usize> = outputs
        .iter()
        .map(|out| {
            let counter = if out.is_some() {
                &mut n_done
            } else {
                &mut n_used
            };
            *counter += 1;
            *counter - 1
        })
        .collect();
    if n_done == 0 {
        return KeyResult::Linearizable;
    }

    // Time-ordered events: invocations before completions at equal time
    // (touching intervals are concurrent), ties broken by operation index
    // for determinism. Unknown outcomes have no completion (+infinity).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
    for (i, o) in ops.iter().enumerate() {
        events.push((o.invoked_at, false, i));
        if let Some((t, _)) = o.completed {
            events.push((t.max(o.invoked_at), true, i));
        }
    }
    events.sort_unstable();
    let events: Vec<(usize, bool, bool)> = events
        .into_iter()
        .map(|(_, is_return, i)| (i, !is_return, outputs[i].is_some()))
        .collect();
    let mut lists = EventLists::new(&events, ops.len());

    let mut supply = Supply::new(&steps_of, n_values);
    if supply.dead(ABSENT) {
        return KeyResult::NotLinearizable;
    }
    let mut remaining = n_done;
    let mut state: State = ABSENT;
    let mut after_pending: Option<State> = None;
    let mut done = Bitset::new(n_done);
    let mut used = Bitset::new(n_used);
    let mut memo = Memo::new(done.0.len(), used.0.len());
    let mut steps: u64 = 0;

    // `frames[..depth]` is the search path; deeper frames are kept only to
    // reuse their allocations.
    let mut frames: Vec<Frame> = vec![Frame {
        call: NIL,
        ..Frame::default()
    }];
    let mut scratch = (ValueSet::new(n_values), Vec::new());
    candidates(
        &lists,
        &steps_of,
        &supply,
        (state, after_pending),
        &mut scratch,
        &mut frames[0].candidates,
    );
    let mut depth = 1;
    loop {
        steps += 1;
        if steps > max_steps {
            return KeyResult::Inconclusive;
        }
        let frame = &mut frames[depth - 1];
        if let Some(&call) = frame.candidates.get(frame.next) {
            frame.next += 1;
            let i = lists.nodes[call].op;
            let pending = outputs[i].is_none();
            // Reductions for unknown-outcome operations (see the module
            // documentation): one that would leave the state unchanged is
            // never linearized, and one must be directly followed by an
            // operation that observes its effect.
            let op = steps_of[i];
            if !after_pending.is_none_or(|before| op.observes(before, state)) {
                continue;
            }
            let Some(next_state) = op.apply(state).filter(|&s| !pending || s != state) else {
                continue;
            };
            supply.remove(i);
            if supply.dead(next_state) {
                supply.add(i);
                continue;
            }
            let bits = if pending { &mut used } else { &mut done };
            bits.set(slot[i]);
            let next_after_pending = pending.then_some(state);
            if !memo.insert(&done, &used, next_state, next_after_pending, !pending) {
                let bits = if pending { &mut used } else { &mut done };
                bits.clear(slot[i]);
                supply.add(i);
                continue;
            }
            lists.lift(call);
            if !pending {
                remaining -= 1;
                if remaining == 0 {
                    return KeyResult::Linearizable;
                }
            }
            if depth == frames.len() {
                frames.push(Frame::default());
            }
            let frame = &mut frames[depth];
            depth += 1;
            frame.next = 0;
            frame.call = call;
            frame.prev_state = state;
            frame.prev_after_pending = after_pending;
            state = next_state;
            after_pending = next_after_pending;
            candidates(
                &lists,
                &steps_of,
                &supply,
                (state, after_pending),
                &mut scratch,
                &mut frame.candidates,
            );
        } else {
            // Every candidate failed: backtrack.
            if frame.call == NIL {
                return KeyResult::NotLinearizable;
            }
            let call = frame.call;
            let i = lists.nodes[call].op;
            lists.unlift(call);
            supply.add(i);
            state = frame.prev_state;
            after_pending = frame.prev_after_pending;
            if outputs[i].is_some() {
                done.clear(slot[i]);
                remaining += 1;
            } else {
                used.clear(slot[i]);
            }
            depth -= 1;
        }
    }
}
