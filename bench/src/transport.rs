//! How a driver's messages travel from node to node: over the wire (encoded to bytes by the
//! library's own codec and decoded by the receiver, the headline), or in process (handed over
//! as values, so that a follower shares the leader's payloads and never decodes, copies or
//! allocates them).
//!
//! Every driver delivers each message through [`Transport::carry`] with its library's
//! `over_the_wire` function, so the switch between the modes is written once.

use std::fmt;
use std::str::FromStr;

/// How messages travel between nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Encoded by the sender, decoded by the receiver, as between processes (the headline).
    Wire,
    /// Handed over as values, as only nodes in one process can.
    InProcess,
}

impl Mode {
    /// Both modes, the headline first.
    pub const ALL: [Mode; 2] = [Mode::Wire, Mode::InProcess];

    /// The mode's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Wire => "wire",
            Mode::InProcess => "in-process",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown mode {s:?}; modes: wire, in-process"))
    }
}

/// One cluster's transport: its mode, the send buffer it reuses, and what it carried.
#[derive(Debug)]
pub struct Transport {
    mode: Mode,
    buf: Vec<u8>,
    /// Messages carried over the wire.
    pub messages: u64,
    /// Bytes put on the wire: the encodings' lengths (for noraft, which has no codec, the
    /// payload bytes copied).
    pub bytes: u64,
}

impl Transport {
    /// A transport of `mode` that has carried nothing yet.
    pub fn new(mode: Mode) -> Self {
        Transport {
            mode,
            buf: Vec::new(),
            messages: 0,
            bytes: 0,
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Delivers `message`: unchanged in process; over the wire, what `over_the_wire` makes of
    /// it, given the transport's send buffer emptied. `over_the_wire` writes the encoding into
    /// the buffer (whose length is counted as bytes sent) and returns the receiver's copy.
    pub fn carry<M>(&mut self, message: M, over_the_wire: impl FnOnce(M, &mut Vec<u8>) -> M) -> M {
        match self.mode {
            Mode::InProcess => message,
            Mode::Wire => {
                self.buf.clear();
                let received = over_the_wire(message, &mut self.buf);
                self.messages += 1;
                self.bytes += self.buf.len() as u64;
                received
            }
        }
    }
}
