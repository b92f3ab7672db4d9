//! Healthy windows of the multi-group world, as the single-group world's ([`crate::health`]).

use super::world::{MNode, MultiWorld};
use crate::disk::{Disk, HostStore};

impl crate::health::Server for MNode {
    type Store = HostStore;

    fn runs_normally(&self) -> bool {
        self.is_up() && !self.paused && self.crash_on_write.is_none()
    }

    fn disk(&self) -> &Disk<HostStore> {
        &self.disk
    }
}

impl MultiWorld {
    /// True while every link works and is reliable, and every node and disk runs normally.
    pub(super) fn cluster_healthy(&self) -> bool {
        crate::health::cluster_healthy(&self.network, &self.storage, &self.nodes)
    }
}
