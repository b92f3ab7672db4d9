//! Healthy windows: the stretches of a run in which the network and every disk and process are
//! healthy, so that liveness can be demanded during the fault phase too, not only after it.
//!
//! The cluster is healthy while no link is cut, the network neither loses, duplicates nor
//! long-tail-delays messages, every node runs (not crashed, not paused, no crash armed for its
//! next write) and every disk completes writes at its ordinary speed. What is demanded of a
//! healthy window is in [`crate::liveness`].

use crate::disk::{Contents, Disk};
use crate::network::Network;
use crate::scenario::StorageParams;
use crate::Micros;

/// A node as health sees it: its process and its disk.
pub(crate) trait Server {
    /// What the disk holds.
    type Store: Contents;
    /// The process runs: not crashed, not paused, no crash armed for its next write.
    fn runs_normally(&self) -> bool;
    /// The node's disk.
    fn disk(&self) -> &Disk<Self::Store>;
}

/// True while every link works and is reliable, and every node and disk runs normally.
pub(crate) fn cluster_healthy<S: Server>(
    network: &Network,
    storage: &StorageParams,
    servers: &[S],
) -> bool {
    storage.slow_ppm == 0 && healthy_but(network, servers, None, |_| true)
}

/// True if the network is reliable and whole, and every node but `except` runs normally on a
/// disk no fault stalls or slows and for which `disk_ok` holds.
pub(crate) fn healthy_but<S: Server>(
    network: &Network,
    servers: &[S],
    except: Option<usize>,
    disk_ok: impl Fn(&Disk<S::Store>) -> bool,
) -> bool {
    network.is_reliable()
        && !network.is_partitioned()
        && (servers.iter().enumerate())
            .filter(|&(j, _)| Some(j) != except)
            .all(|(_, s)| s.runs_normally() && s.disk().is_healthy() && disk_ok(s.disk()))
}

/// Which stretches of the run were healthy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Health {
    /// The start of the current healthy window, if the cluster is healthy now.
    since: Option<Micros>,
    /// The healthy windows that ended, as `[start, end)`, in order.
    closed: Vec<(Micros, Micros)>,
}

impl Health {
    /// Records whether the cluster is healthy at `now`. Returns true if a window ended.
    pub(crate) fn set(&mut self, now: Micros, healthy: bool) -> bool {
        match (self.since, healthy) {
            (None, true) => {
                self.since = Some(now);
                false
            }
            (Some(start), false) => {
                self.since = None;
                if now > start {
                    self.closed.push((start, now));
                }
                true
            }
            _ => false,
        }
    }

    /// The start of the current healthy window, if the cluster is healthy now.
    pub(crate) fn since(&self) -> Option<Micros> {
        self.since
    }

    /// True if the cluster was healthy throughout `[from, to]` (`to` at most now).
    pub(crate) fn covers(&self, from: Micros, to: Micros) -> bool {
        if self.since.is_some_and(|start| start <= from) {
            return true;
        }
        self.closed
            .iter()
            .any(|&(start, end)| start <= from && to < end)
    }

    /// Total healthy time up to `now`.
    pub(crate) fn healthy_us(&self, now: Micros) -> Micros {
        let open = self.since.map_or(0, |start| now.saturating_sub(start));
        open + self.closed.iter().map(|(s, e)| e - s).sum::<Micros>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_open_close_and_cover() {
        let mut h = Health::default();
        assert!(!h.set(0, true));
        assert!(h.set(100, false));
        assert!(!h.set(150, false));
        assert!(!h.set(200, true));
        assert_eq!(h.since(), Some(200));
        assert!(h.covers(10, 99));
        assert!(!h.covers(10, 100), "the window closed at 100");
        assert!(!h.covers(90, 210), "the gap 100..200 was not healthy");
        assert!(h.covers(200, 500));
        assert!(h.covers(300, 400));
        assert_eq!(h.healthy_us(300), 100 + 100);
    }
}
