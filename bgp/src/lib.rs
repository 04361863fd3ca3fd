//! plane's BGP speaker.
//!
//! - [`wire`]: the sans-IO BGP-4 message codec with EVPN (RFC 4271, 4760,
//!   7432, 8365, 9136, 7606). Bytes in, values out; values in, bytes out.
//!
//! The pure parts never do I/O and never read the clock: time is an argument.

pub mod rib;
pub mod wire;
