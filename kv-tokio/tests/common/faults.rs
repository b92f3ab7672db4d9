//! Faults a nemesis injects into a [`Cluster`]'s processes besides `kill -9`
//! ([`Cluster::kill`]): pausing one with `SIGSTOP` and resuming it with `SIGCONT`.

use super::Cluster;
use std::process::Command;

impl Cluster {
    /// Sends `signal` (a name such as `STOP`) to server `i` with the `kill` command.
    pub(crate) fn signal(&self, i: usize, signal: &str) {
        let child = self.servers[i].child.as_ref().expect("a running server");
        let sent = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Freezes server `i` (`SIGSTOP`): it keeps its sockets but answers nothing.
    pub(crate) fn pause(&self, i: usize) {
        self.signal(i, "STOP");
    }

    /// Lets a paused server `i` run again (`SIGCONT`).
    pub(crate) fn resume(&self, i: usize) {
        self.signal(i, "CONT");
    }
}
