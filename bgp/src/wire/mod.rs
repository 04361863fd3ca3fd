//! The BGP-4 wire codec: sans-IO, no panics on any input.
//!
//! Decoding is written with nom over `&[u8]`, encoding with `bytes`. The value
//! types below are the contract between the codec, the session FSM and the
//! RIB; they keep what re-encoding byte-exactly needs (attribute flags and
//! order, unknown attributes, capabilities, route types and communities).
//!
//! What it never does: I/O, clock reads, allocation proportional to a length
//! field before the bytes are there.

pub mod attr;
pub mod community;
pub mod evpn;
pub mod message;

pub use attr::*;
pub use community::*;
pub use evpn::*;
pub use message::*;

/// What both ends negotiated and what decoding and encoding depend on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SessionParams {
    /// RFC 6793: AS_PATH and AGGREGATOR carry 4-octet ASNs.
    pub four_octet_as: bool,
    /// RFC 8654: 65535 when both sides sent the extended message capability, else 4096.
    pub max_message_len: usize,
    /// RFC 7911: add-path receive negotiated for EVPN (NLRI carry a path id).
    pub add_path_evpn_rx: bool,
    /// RFC 7911: add-path send negotiated for EVPN.
    pub add_path_evpn_tx: bool,
}

impl Default for SessionParams {
    /// What holds before OPEN is exchanged, and with modern peers: 4-octet AS
    /// (FRR, GoBGP and plane all send it), 4096-byte messages, no add-path.
    fn default() -> Self {
        SessionParams {
            four_octet_as: true,
            max_message_len: MAX_MESSAGE_LEN,
            add_path_evpn_rx: false,
            add_path_evpn_tx: false,
        }
    }
}
