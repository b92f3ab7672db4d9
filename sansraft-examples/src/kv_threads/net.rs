//! The "network": every node's inbox, by id. Peer messages cross it as bytes in the wire
//! encoding of [`sansraft::Codec`], as they would over a socket.

use super::Event;
use bytes::Bytes;
use sansraft::{Codec, Message, NodeId};
use std::collections::BTreeMap;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

/// The inboxes of the running nodes. A crashed node has none: what is sent to it is lost.
#[derive(Clone, Debug, Default)]
pub(super) struct Router {
    inboxes: Arc<Mutex<BTreeMap<NodeId, SyncSender<Event>>>>,
}

impl Router {
    pub(super) fn connect(&self, id: NodeId, inbox: SyncSender<Event>) {
        self.lock().insert(id, inbox);
    }

    pub(super) fn disconnect(&self, id: NodeId) {
        self.lock().remove(&id);
    }

    /// Delivers without blocking. A full inbox or a crashed node drops the event; returns it
    /// then, so that a client can try elsewhere.
    pub(super) fn deliver(&self, to: NodeId, event: Event) -> Result<(), Event> {
        let Some(inbox) = self.lock().get(&to).cloned() else {
            return Err(event);
        };
        inbox.try_send(event).map_err(|e| match e {
            TrySendError::Full(event) | TrySendError::Disconnected(event) => event,
        })
    }

    /// Sends a peer message in its wire encoding. Best effort: Raft recovers lost messages.
    pub(super) fn send(&self, message: &Message) {
        let bytes = Bytes::from(message.encode());
        let _ = self.deliver(message.to, Event::Peer(bytes));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, SyncSender<Event>>> {
        // The map stays consistent even if a holder panicked: every update is one call.
        self.inboxes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
