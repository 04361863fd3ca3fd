//! plane's BGP speaker.
//!
//! - [`wire`]: the sans-IO BGP-4 message codec with EVPN (RFC 4271, 4760,
//!   7432, 8365, 9136, 7606). Bytes in, values out; values in, bytes out.
//! - [`rib`]: the sans-IO EVPN RIB (decision process, RT import, route
//!   reflection, graceful restart helper, per-peer Adj-RIB-Out).
//! - [`fsm`]: the session state machine of RFC 4271 section 8, sans-IO.
//! - [`session`]: the tokio driver of one peer: TCP (with TCP-MD5), timers,
//!   collision resolution, per-peer output queue.
//! - [`speaker`]: the task that owns listeners, peers and the RIB, and the
//!   [`speaker::SpeakerHandle`] that the daemon talks to.
//!
//! The pure parts never do I/O and never read the clock: time is an argument.

pub mod fsm;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod wire;
