//! The tokio driver of one BGP peer: it runs the [`crate::fsm::Fsm`] over a
//! real connection.
//!
//! ```text
//!            PeerCommand (Start, Stop, Incoming, Send, ...)
//!  speaker ───────────────────────────────────────────────▶ peer task ◀──▶ TCP (one session,
//!          ◀─────────────────────────────────────────────── (this)          + one connection
//!            PeerEvent (StateChanged, Established, Update,                   held during a
//!                       Down, Drained, Error)                                collision)
//! ```
//!
//! One task per configured neighbour owns the FSM, the connection, the
//! timers and the write buffer. It decodes every received message with the
//! session's negotiated parameters and turns it into an FSM event; UPDATEs
//! go to the speaker (which owns the RIB) over a bounded channel, so a slow
//! RIB slows reading, never loses messages. Output is pulled: the speaker
//! sends one batch of encoded UPDATEs, the task writes it as the socket
//! drains and answers `Drained`, and only then gets the next batch; what is
//! not yet sent stays coalesced in the RIB. A slow peer therefore holds
//! back nobody but itself.
//!
//! Collisions (RFC 4271 section 6.8): a connection accepted while the
//! session is in OpenSent, OpenConfirm or Established is held until its
//! OPEN arrives; then the connection opened by the side with the higher BGP
//! identifier survives and the other is closed with Cease / Connection
//! Collision Resolution. A peer that reconnects while Established and had
//! advertised graceful restart is taken as restarted (RFC 4724 section
//! 4.2): the old session goes down as a lost connection and the new one
//! takes over.
//!
//! What it never does: touch the RIB, retry faster than the FSM's backoff,
//! block on the speaker for output.

pub mod md5;
pub mod netstat;
mod peer;
pub mod transport;

pub use peer::{spawn_peer, PeerCommand, PeerConfig, PeerEvent, SessionId};
pub use transport::{BoxTransport, ConnectFuture, Connector, TcpConnector, Transport};
