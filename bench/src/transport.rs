//! How a driver's messages travel from node to node: over the wire (encoded to bytes by the
//! library's own codec and decoded by the receiver, the headline), or in process (handed over
//! as values, so that a follower shares the leader's payloads and never decodes, copies or
//! allocates them).
//!
//! Every driver delivers each message through [`Transport::carry`] with its library's
//! `over_the_wire` function, so the switch between the modes is written once.

use bytes::{Bytes, BytesMut};
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

/// The two ends of one message's trip: the sender's reused encode buffer, and the receiver's
/// read buffer, into which the bytes arrive as from a socket.
#[derive(Debug, Default)]
pub struct Wire {
    send: Vec<u8>,
    recv: BytesMut,
}

impl Wire {
    /// The receiver's read buffer grows by this much when full, as a socket reader's would.
    const READ_CHUNK: usize = 64 * 1024;

    /// The sender's buffer, empty, to encode one message into.
    pub fn send_buf(&mut self) -> &mut Vec<u8> {
        &mut self.send
    }

    /// The receiver's side: the bytes sent are read (copied) into the read buffer and taken
    /// out of it as one frame, which shares the buffer (so a decoder may slice payloads out of
    /// it). Frames still held keep their part of the buffer; a full buffer is replaced by a
    /// fresh one of `READ_CHUNK` bytes, so allocations are one per chunk, not one per frame.
    pub fn receive(&mut self) -> Bytes {
        if self.recv.capacity() - self.recv.len() < self.send.len() {
            self.recv.reserve(Self::READ_CHUNK.max(self.send.len()));
        }
        self.recv.extend_from_slice(&self.send);
        self.recv.split().freeze()
    }
}

/// One cluster's transport: its mode, the buffers it reuses, and what it carried.
#[derive(Debug)]
pub struct Transport {
    mode: Mode,
    wire: Wire,
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
            wire: Wire::default(),
            messages: 0,
            bytes: 0,
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Delivers `message`: unchanged in process; over the wire, what `over_the_wire` makes of
    /// it, given the wire with its send buffer emptied. `over_the_wire` writes the encoding
    /// into the send buffer (whose length is counted as bytes sent), takes the frame from
    /// [`Wire::receive`] and returns what the receiver decodes from it.
    pub fn carry<M>(&mut self, message: M, over_the_wire: impl FnOnce(M, &mut Wire) -> M) -> M {
        match self.mode {
            Mode::InProcess => message,
            Mode::Wire => {
                self.wire.send.clear();
                let received = over_the_wire(message, &mut self.wire);
                self.messages += 1;
                self.bytes += self.wire.send.len() as u64;
                received
            }
        }
    }
}
