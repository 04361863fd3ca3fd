//! The BGP-4 wire codec: sans-IO, no panics on any input.
//!
//! # Design
//!
//! - Value types ([`attr`], [`community`], [`evpn`], [`message`]) are the
//!   contract with the session FSM and the RIB. They keep what re-encoding
//!   byte-exactly needs: attribute flags and order, unknown attributes,
//!   capabilities, extended communities and EVPN route types, raw ESIs and
//!   24-bit labels (the VNI, RFC 8365).
//! - Decoding is a hand-written bounds-checked cursor over `&[u8]`
//!   (`reader`): every read returns `Option`, so a short buffer becomes a
//!   typed error where the decoder knows what it was reading. Fixed-size
//!   fields decode into plain values (an EVPN route allocates nothing).
//!   Variable lists allocate, except the short AS_PATH and extended
//!   community lists of the usual EVPN UPDATE, which are inline
//!   ([`Asns`], [`AsSegments`], [`ExtCommunities`]) and built in place in
//!   the attribute vector: one route per UPDATE (GoBGP) then costs two
//!   allocations (attributes, NLRI). Values are built where they land
//!   (each attribute in the vector, EVPN routes in their MP_REACH_NLRI),
//!   never moved through a `Result` or merged from several `match` arms:
//!   those copies stall on store forwarding, which cost more than the
//!   parsing (docs/BENCHMARKS.md, "Wire codec").
//! - Encoding appends to a [`bytes::BytesMut`]; lengths are back-patched and
//!   checked, never truncated ([`EncodeError`]). [`encode_evpn_reach`] packs
//!   many NLRI with identical attributes into each UPDATE up to the
//!   negotiated maximum.
//! - Errors map to NOTIFICATIONs in one place ([`MessageError::notification`]).
//!   UPDATE attribute errors follow RFC 7606 (`attr_codec` names the section
//!   for each attribute): session reset is an error with a NOTIFICATION;
//!   treat-as-withdraw is [`MessageError::TreatAsWithdraw`] carrying the
//!   routes to withdraw; attribute discard returns the UPDATE without the
//!   attribute and reports it through [`decode_message_with_diagnostics`].
//! - The framer [`frame`] answers need-more / complete / malformed from the
//!   header alone, so a bad length never stalls a session.
//!
//! What it never does: I/O, clock reads, session policy (which capabilities
//! are required, peer AS checks), allocation proportional to a length field
//! before the bytes are there.
//!
//! Known limits: OPEN capabilities re-encode byte-exactly when they came
//! one per optional parameter (FRR) or all in one (GoBGP)
//! ([`CapabilityParams`]); any other grouping re-encodes one per
//! parameter, to the same value. The MP_REACH_NLRI reserved octet is emitted as 0. Unicast add-path
//! identifiers are neither read nor written (add-path is negotiated for EVPN
//! only).

pub mod attr;
mod attr_codec;
mod codec;
pub mod community;
mod community_codec;
pub mod error;
pub mod evpn;
mod evpn_codec;
pub mod message;
mod pack;
mod reader;

pub use attr::*;
pub use attr_codec::{decode_path_attributes, DecodedAttributes};
pub use codec::{decode_message, decode_message_with_diagnostics, encode_message, frame};
pub use community::*;
pub use error::{AttrFault, AttributeError, EncodeError, ErrorAction, EvpnError, MessageError};
pub use evpn::*;
pub use evpn_codec::{decode_evpn_nlri, route_type};
pub use message::*;
pub use pack::{
    encode_evpn_reach, encode_evpn_unreach, end_of_rib, ShutdownCommunicationError,
    MAX_SHUTDOWN_COMMUNICATION,
};

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
