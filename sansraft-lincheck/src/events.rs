//! The time-ordered invocation and completion events of one key's operations, as doubly linked
//! lists from which linearized operations are unlinked and relinked on backtracking (dancing
//! links, as in Porcupine).

/// Sentinel "no node" index in the event lists.
pub(crate) const NIL: usize = usize::MAX;
/// Head sentinel of the list of events of operations with known outcome.
pub(crate) const MAIN: usize = 0;
/// Head sentinel of the list of invocations of operations with unknown
/// outcome (which have no completion event).
pub(crate) const PENDING: usize = 1;

/// One event (invocation or completion) in a doubly linked event list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    /// Index of the operation (unused for head sentinels).
    pub(crate) op: usize,
    /// For an invocation: index of the matching completion node, or [`NIL`]
    /// if the outcome is unknown. [`NIL`] for completion nodes.
    ret: usize,
    /// `true` for invocation events.
    pub(crate) is_call: bool,
    /// Position of the event in the global time order of the key's events.
    pub(crate) pos: usize,
    /// Previous node in its list.
    prev: usize,
    /// Next node in its list, or [`NIL`] at the end.
    pub(crate) next: usize,
}

/// Two linked lists of events sharing one arena, with dancing-links
/// removal: [`MAIN`] holds the invocations and completions of operations
/// with known outcome, [`PENDING`] the invocations of the others.
#[derive(Debug)]
pub(crate) struct EventLists {
    /// Nodes 0 and 1 are the head sentinels [`MAIN`] and [`PENDING`].
    pub(crate) nodes: Vec<Node>,
}

impl EventLists {
    /// Builds the lists from events in global time order: `(operation,
    /// is_call, has_completion)`.
    pub(crate) fn new(events: &[(usize, bool, bool)], n_ops: usize) -> Self {
        let head = Node {
            op: usize::MAX,
            ret: NIL,
            is_call: false,
            pos: usize::MAX,
            prev: NIL,
            next: NIL,
        };
        let mut lists = EventLists {
            nodes: vec![head; 2],
        };
        let mut tail = [MAIN, PENDING];
        let mut call_node = vec![NIL; n_ops];
        for (pos, &(op, is_call, has_completion)) in events.iter().enumerate() {
            let list = usize::from(!has_completion);
            let idx = lists.nodes.len();
            lists.nodes.push(Node {
                op,
                ret: NIL,
                is_call,
                pos,
                prev: tail[list],
                next: NIL,
            });
            lists.nodes[tail[list]].next = idx;
            tail[list] = idx;
            if is_call {
                call_node[op] = idx;
            } else {
                lists.nodes[call_node[op]].ret = idx;
            }
        }
        lists
    }

    /// Unlinks node `i`, keeping its own pointers for [`Self::relink`].
    fn unlink(&mut self, i: usize) {
        let Node { prev, next, .. } = self.nodes[i];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    /// Relinks node `i`, which must be the most recently unlinked node
    /// still unlinked.
    fn relink(&mut self, i: usize) {
        let Node { prev, next, .. } = self.nodes[i];
        self.nodes[prev].next = i;
        if next != NIL {
            self.nodes[next].prev = i;
        }
    }

    /// Removes an invocation and its completion (if any) from the lists.
    pub(crate) fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.unlink(ret);
        }
    }

    /// Undoes [`Self::lift`] (in reverse order).
    pub(crate) fn unlift(&mut self, call: usize) {
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }
}
