//! Bad input (docs/design.md §5): messages from non-members, misaddressed messages, stale terms,
//! malformed appends, impossible acknowledgements, conflicts with committed entries, unexpected
//! responses, bogus storage acknowledgements and applied reports are ignored and counted in
//! `Node::counters()`; none panics or changes durable state. And the wire codec: decoding never
//! panics, rejects truncated and corrupted input, and every message kind round-trips.

mod addressing;
mod codec;
mod embedder_misuse;
mod helpers;
mod malformed;
mod priorities;
mod random_messages;
mod stale;
