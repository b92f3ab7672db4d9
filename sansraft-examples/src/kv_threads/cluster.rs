//! The in-process cluster: starts a node thread and a storage thread per node, crashes and
//! restarts nodes, and hands out clients.

use super::net::Router;
use super::server::Server;
use super::{config, now, storage, Client, Error, Event, NodeReport, TICK};
use crate::{Kv, MemStore};
use sansraft::{Index, Node, NodeId, Role, Status, TransferOutcome};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Events a node's inbox holds before senders see it full (peers then drop messages).
const INBOX_CAPACITY: usize = 4096;

/// The threads of a running node.
#[derive(Debug)]
struct Running {
    server: JoinHandle<Status>,
    storage: JoinHandle<MemStore>,
    halt: Arc<AtomicBool>,
}

/// What a crash left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crash {
    /// The last log index the node had seen acknowledged durable.
    pub acknowledged_index: Index,
    /// The last log index on its disk: at least the acknowledged one.
    pub stored_last_index: Index,
}

/// Nodes in one process, each on its own threads, talking through the wire encoding.
#[derive(Debug)]
pub struct Cluster {
    voters: Vec<NodeId>,
    router: Router,
    running: BTreeMap<NodeId, Running>,
    /// The disks of crashed nodes.
    stopped: BTreeMap<NodeId, MemStore>,
    next_client: AtomicU64,
}

impl Cluster {
    /// Starts a new cluster of these voters.
    pub fn start(voters: &[NodeId]) -> Cluster {
        let mut cluster = Cluster {
            voters: voters.to_vec(),
            router: Router::default(),
            running: BTreeMap::new(),
            stopped: BTreeMap::new(),
            next_client: AtomicU64::new(1),
        };
        for &id in voters {
            let disk = MemStore::bootstrap(voters.iter().copied());
            cluster.stopped.insert(id, disk);
            cluster.restart(id);
        }
        cluster
    }

    /// Starts node `id` from what its disk holds, as after a crash: a new incarnation, the
    /// state machine restored from the latest snapshot, the log after it replayed by the node.
    pub fn restart(&mut self, id: NodeId) {
        let mut disk = self
            .stopped
            .remove(&id)
            .unwrap_or_else(|| panic!("node {id} is running or unknown"));
        let incarnation = disk.boot();
        let kv = match &disk.snapshot_data()[..] {
            // A new cluster's initial snapshot holds nothing.
            [] => Kv::default(),
            data => Kv::restore(data).expect("our own snapshots decode"),
        };
        let node = Node::new(config(id), disk.durable_state(), incarnation)
            .expect("the disk holds what the node persisted, which is valid");
        let (inbox_tx, inbox) = mpsc::sync_channel(INBOX_CAPACITY);
        let (storage_tx, storage_rx) = mpsc::channel();
        let halt = Arc::new(AtomicBool::new(false));
        let storage = {
            let (inbox_tx, halt) = (inbox_tx.clone(), halt.clone());
            thread::Builder::new()
                .name(format!("storage-{id}"))
                .spawn(move || storage::run(disk, storage_rx, inbox_tx, halt))
                .expect("spawn a storage thread")
        };
        let server = Server::new(
            node,
            kv,
            inbox,
            self.router.clone(),
            storage_tx,
            halt.clone(),
        );
        let server = thread::Builder::new()
            .name(format!("node-{id}"))
            .spawn(move || server.run())
            .expect("spawn a node thread");
        self.router.connect(id, inbox_tx);
        let running = Running {
            server,
            storage,
            halt,
        };
        self.running.insert(id, running);
    }

    /// Crashes node `id`: its threads stop, its memory is lost, writes its storage thread had
    /// not carried out are lost; its disk is kept for [`Cluster::restart`].
    pub fn crash(&mut self, id: NodeId) -> Crash {
        let running = self
            .running
            .remove(&id)
            .unwrap_or_else(|| panic!("node {id} is not running"));
        self.router.disconnect(id);
        let (status, disk) = running.stop();
        let crash = Crash {
            acknowledged_index: status.durable_index,
            stored_last_index: disk.last_index(),
        };
        self.stopped.insert(id, disk);
        crash
    }

    /// A new client session.
    pub fn client(&self) -> Client {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        Client::new(id, self.voters.clone(), self.router.clone())
    }

    /// Node `id`'s report; `None` if it is down or does not answer within a second.
    pub fn report(&self, id: NodeId) -> Option<NodeReport> {
        let (tx, rx) = mpsc::channel();
        self.router.deliver(id, Event::Report(tx)).ok()?;
        rx.recv_timeout(Duration::from_secs(1)).ok()
    }

    fn reports(&self) -> Vec<NodeReport> {
        self.running
            .keys()
            .filter_map(|&id| self.report(id))
            .collect()
    }

    /// The node that leads the highest term among the running nodes' reports, if any.
    pub fn leader(&self) -> Option<NodeId> {
        let reports = self.reports();
        let leaders = reports.iter().filter(|r| r.status.role == Role::Leader);
        leaders.max_by_key(|r| r.status.term).map(|r| r.status.id)
    }

    /// Waits up to `within` for a leader.
    pub fn wait_for_leader(&self, within: Duration) -> Option<NodeId> {
        poll(within, || self.leader())
    }

    /// Waits up to `within` until every running node has applied everything committed and
    /// holds the same map; returns that map.
    pub fn wait_for_agreement(&self, within: Duration) -> Option<BTreeMap<String, String>> {
        poll(within, || {
            let reports = self.reports();
            let commit = reports.iter().map(|r| r.status.commit).max()?;
            let first = reports.first()?;
            let agree = reports.len() == self.running.len()
                && reports
                    .iter()
                    .all(|r| r.status.applied == commit && r.kv == first.kv);
            agree.then(|| first.kv.clone())
        })
    }

    /// Asks the leader to hand leadership to `target` and waits for the outcome.
    pub fn transfer_leadership(&self, target: NodeId) -> Result<TransferOutcome, Error> {
        let leader = self.leader().ok_or(Error::Unavailable)?;
        let (tx, rx) = mpsc::channel();
        let request = Event::Transfer(target, tx);
        self.router
            .deliver(leader, request)
            .map_err(|_| Error::Unavailable)?;
        // The outcome is known within an election timeout (10 ticks).
        rx.recv_timeout(TICK * 100).map_err(|_| Error::Unavailable)
    }
}

impl Running {
    fn stop(self) -> (Status, MemStore) {
        self.halt.store(true, Ordering::Release);
        let status = self.server.join().expect("a node thread panicked");
        let disk = self.storage.join().expect("a storage thread panicked");
        (status, disk)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let running = std::mem::take(&mut self.running);
        for node in running.values() {
            node.halt.store(true, Ordering::Release);
        }
        for (_, node) in running {
            let ended = node.server.join().is_ok() & node.storage.join().is_ok();
            // A panic in a node's threads fails the program (or test) that ran the cluster.
            if !ended && !thread::panicking() {
                panic!("a node thread panicked");
            }
        }
    }
}

/// Calls `f` every few milliseconds until it returns `Some`, for at most `within`.
fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = now() + within;
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if now() >= deadline {
            return None;
        }
        thread::sleep(TICK * 2);
    }
}
