//! The client's side: requests go to the node believed to lead, follow redirects, and are
//! retried elsewhere when refused, lost or unanswered. Retries are safe because every write
//! carries the client's session id and a sequence number (see [`sansraft_kv::RequestId`]).

use super::net::Router;
use super::{now, Event, Reply};
use sansraft::NodeId;
use sansraft_kv::{Command, Op, Output, RequestId};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

/// How long a request may take, retries included, before it fails.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long one attempt waits for its answer (a node may have crashed with the request).
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// The pause before retrying after a refusal.
const RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No node completed it within the deadline. A write may still have been applied.
    Unavailable,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no leader completed the request in time")
    }
}

impl std::error::Error for Error {}

/// One client session. It issues one request at a time.
#[derive(Debug)]
pub struct Client {
    id: u64,
    seq: u64,
    voters: Vec<NodeId>,
    /// The node the next request goes to.
    leader: NodeId,
    router: Router,
}

impl Client {
    pub(super) fn new(id: u64, voters: Vec<NodeId>, router: Router) -> Client {
        Client {
            id,
            seq: 0,
            leader: voters[0],
            voters,
            router,
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(Op::Put { key, value }).map(drop)
    }

    /// Removes `key`; true if it was set.
    pub fn delete(&mut self, key: &str) -> Result<bool, Error> {
        let key = key.to_owned();
        self.write(Op::Delete { key })
            .map(|o| o == Output::Deleted(true))
    }

    /// Sets `key` to `new` if its value is `expected` (`None`: absent); true if it did.
    pub fn cas(&mut self, key: &str, expected: Option<&str>, new: &str) -> Result<bool, Error> {
        let op = Op::Cas {
            key: key.to_owned(),
            expected: expected.map(str::to_owned),
            new: new.to_owned(),
        };
        self.write(op).map(|o| o == Output::Swapped(true))
    }

    /// A linearizable read of `key` (ReadIndex, thesis §6.4): it sees every write completed
    /// before it began.
    pub fn get(&mut self, key: &str) -> Result<Option<String>, Error> {
        self.call(|reply| Event::Read(key.to_owned(), reply))
    }

    fn write(&mut self, op: Op<String, String>) -> Result<Output<String>, Error> {
        self.seq += 1;
        let request = Some(RequestId {
            client: self.id,
            seq: self.seq,
        });
        let command = Command { request, op }.encode();
        // Every attempt carries the same (client, seq): applied at most once.
        self.call(|reply| Event::Write(command.clone(), reply))
    }

    fn call<T>(&mut self, request: impl Fn(Sender<Reply<T>>) -> Event) -> Result<T, Error> {
        let deadline = now() + REQUEST_DEADLINE;
        while now() < deadline {
            let (tx, rx) = mpsc::channel();
            let answer = match self.router.deliver(self.leader, request(tx)) {
                Ok(()) => rx.recv_timeout(ATTEMPT_TIMEOUT).ok(),
                Err(_) => None,
            };
            match answer {
                Some(Reply::Done(value)) => return Ok(value),
                Some(Reply::Redirect(Some(leader))) if leader != self.leader => {
                    self.leader = leader;
                    continue;
                }
                Some(Reply::Retry) => {}
                // No leader known, a crashed or silent node: try the next one.
                Some(Reply::Redirect(_)) | None => self.leader = self.next_voter(),
            }
            thread::sleep(RETRY_PAUSE);
        }
        Err(Error::Unavailable)
    }

    fn next_voter(&self) -> NodeId {
        let at = self.voters.iter().position(|&v| v == self.leader);
        self.voters[at.map_or(0, |i| (i + 1) % self.voters.len())]
    }
}
