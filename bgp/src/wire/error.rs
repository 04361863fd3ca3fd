//! Decode and encode errors, and the one place where a decode error becomes
//! the NOTIFICATION to send (RFC 4271 section 6, RFC 7606, RFC 7313).
//!
//! Every UPDATE attribute error carries the RFC 7606 action chosen for it
//! ([`ErrorAction`]); only [`ErrorAction::SessionReset`] produces a
//! NOTIFICATION. Treat-as-withdraw is a [`MessageError::TreatAsWithdraw`]
//! carrying the routes to withdraw; attribute discard is not an error at all
//! (the UPDATE decodes without the attribute, see
//! [`decode_message_with_diagnostics`](super::decode_message_with_diagnostics)).

use super::attr::Prefix;
use super::evpn::EvpnNlri;
use super::message::{error_code, Notification};
use bytes::Bytes;
use std::fmt;
use std::net::Ipv4Addr;

/// Message Header Error subcodes, RFC 4271 section 6.1.
pub mod header_subcode {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes, RFC 4271 section 6.2 and RFC 5492.
pub mod open_subcode {
    pub const UNSPECIFIC: u8 = 0;
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// UPDATE Message Error subcodes, RFC 4271 section 6.3.
pub mod update_subcode {
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Cease subcodes, RFC 4486 section 4 (and RFC 8538 hard reset).
pub mod cease_subcode {
    pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
}

/// ROUTE-REFRESH Message Error subcodes, RFC 7313 section 5.
pub mod route_refresh_subcode {
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// The RFC 7606 section 2 approaches, in the order of precedence of
/// section 3 (j): when several errors occur the first in this list wins.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ErrorAction {
    /// NOTIFICATION and close: the NLRI cannot be located reliably.
    SessionReset,
    /// Every route in the UPDATE is withdrawn (or ignored when unknown).
    TreatAsWithdraw,
    /// The attribute is dropped; the UPDATE is processed without it.
    AttributeDiscard,
}

impl fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorAction::SessionReset => "session reset",
            ErrorAction::TreatAsWithdraw => "treat-as-withdraw",
            ErrorAction::AttributeDiscard => "attribute discard",
        })
    }
}

/// What is wrong with an attribute or with the UPDATE's structure.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum AttrFault {
    #[error("length {got} where {expected} is required")]
    Length { expected: &'static str, got: usize },
    #[error("flags {flags:#04x} conflict with the attribute's Optional/Transitive bits")]
    Flags { flags: u8 },
    #[error("value {value} is not a valid {what}")]
    Value { what: &'static str, value: u32 },
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("well-known mandatory attribute missing")]
    Missing,
    #[error("attribute appears more than once")]
    Duplicate,
    #[error("unrecognized well-known attribute")]
    UnrecognizedWellKnown,
    #[error("{what} needs {needed} octets, {available} left")]
    Overrun {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("EVPN NLRI: {0}")]
    Evpn(#[from] EvpnError),
}

/// A malformed EVPN NLRI (RFC 7432 section 7, RFC 9136 section 3).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum EvpnError {
    #[error("{what} truncated: {needed} octets needed, {available} left")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("route type {route_type}: length {got} where {expected} is required")]
    Length {
        route_type: u8,
        expected: &'static str,
        got: usize,
    },
    #[error("route type {route_type}: {field} {value} is invalid")]
    Field {
        route_type: u8,
        field: &'static str,
        value: u32,
    },
}

/// An error in one path attribute (or in the UPDATE's structure when
/// `type_code` is `None`), with the RFC 7606 action chosen for it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AttributeError {
    /// The attribute type code; `None` for the withdrawn routes, the
    /// attribute list as a whole, or the NLRI field.
    pub type_code: Option<u8>,
    pub action: ErrorAction,
    /// The UPDATE Message Error subcode (RFC 4271 section 6.3) sent when the
    /// action is session reset.
    pub subcode: u8,
    /// NOTIFICATION data: the erroneous attribute (type, length, value) where
    /// RFC 4271 section 6.3 asks for it, else empty.
    pub data: Bytes,
    pub fault: AttrFault,
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.type_code {
            Some(t) => write!(f, "attribute {} ({t})", attr_name(t))?,
            None => f.write_str("UPDATE structure")?,
        }
        write!(f, ": {} ({})", self.fault, self.action)
    }
}

impl std::error::Error for AttributeError {}

/// The RFC name of an attribute type code, for messages.
pub fn attr_name(type_code: u8) -> &'static str {
    use super::attr::type_code::*;
    match type_code {
        ORIGIN => "ORIGIN",
        AS_PATH => "AS_PATH",
        NEXT_HOP => "NEXT_HOP",
        MULTI_EXIT_DISC => "MULTI_EXIT_DISC",
        LOCAL_PREF => "LOCAL_PREF",
        ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        AGGREGATOR => "AGGREGATOR",
        COMMUNITIES => "COMMUNITIES",
        ORIGINATOR_ID => "ORIGINATOR_ID",
        CLUSTER_LIST => "CLUSTER_LIST",
        MP_REACH_NLRI => "MP_REACH_NLRI",
        MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        EXTENDED_COMMUNITIES => "EXTENDED_COMMUNITIES",
        AS4_PATH => "AS4_PATH",
        AS4_AGGREGATOR => "AS4_AGGREGATOR",
        PMSI_TUNNEL => "PMSI_TUNNEL",
        LARGE_COMMUNITY => "LARGE_COMMUNITY",
        _ => "unknown",
    }
}

/// A message that cannot be accepted as received.
///
/// [`MessageError::notification`] says what to send to the peer; `None`
/// means the session stays up (RFC 7606 treat-as-withdraw).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum MessageError {
    /// RFC 4271 section 6.1: the marker is not all ones.
    #[error("message header: marker is not all ones (connection not synchronized)")]
    BadMarker,
    /// RFC 4271 section 6.1: the length field is below 19, above the
    /// negotiated maximum, below the type's minimum, or does not match the
    /// bytes handed to the decoder.
    #[error("message header: length {length} is invalid ({why})")]
    BadLength { length: u16, why: &'static str },
    /// RFC 4271 section 6.1: unknown message type.
    #[error("message header: unknown message type {msg_type}")]
    BadType { msg_type: u8 },
    /// RFC 4271 section 6.2: only version 4 exists.
    #[error("OPEN: BGP version {version} is not supported (4 is)")]
    UnsupportedVersion { version: u8 },
    /// RFC 7607: AS 0 in My AS or in the 4-octet AS capability.
    #[error("OPEN: peer AS {asn} is invalid (RFC 7607)")]
    BadPeerAs { asn: u32 },
    /// RFC 6286 section 2.2: the BGP identifier is a non-zero 32-bit value.
    #[error("OPEN: BGP identifier {id} is invalid (must be non-zero)")]
    BadBgpIdentifier { id: Ipv4Addr },
    /// RFC 4271 section 6.2: a hold time of 1 or 2 seconds.
    #[error("OPEN: hold time {hold_time} s is unacceptable (0 or at least 3)")]
    UnacceptableHoldTime { hold_time: u16 },
    /// An OPEN whose optional parameters or capabilities do not parse
    /// (RFC 4271 section 6.2 / RFC 5492: OPEN Message Error, unspecific).
    #[error("OPEN: malformed: {reason}")]
    MalformedOpen { reason: &'static str },
    /// An UPDATE error that RFC 7606 answers with a session reset.
    #[error("UPDATE: {0}")]
    UpdateSessionReset(Box<AttributeError>),
    /// RFC 7606 treat-as-withdraw: the session stays, and every route the
    /// UPDATE carried is withdrawn. `withdrawn` holds the IPv4/IPv6 prefixes
    /// (NLRI field, withdrawn routes, and unicast MP_REACH / MP_UNREACH),
    /// `evpn` the EVPN NLRI of MP_REACH_NLRI and MP_UNREACH_NLRI.
    #[error("UPDATE: {reason}: withdrawing {} prefixes and {} EVPN routes", withdrawn.len(), evpn.len())]
    TreatAsWithdraw {
        withdrawn: Vec<Prefix>,
        evpn: Vec<EvpnNlri>,
        reason: Box<AttributeError>,
        /// Attribute-discard errors seen in the same UPDATE, for the log.
        discarded: Vec<AttributeError>,
    },
    /// RFC 7313 section 5: a ROUTE-REFRESH whose length is not 23.
    #[error("ROUTE-REFRESH: length {length} is invalid (23 expected)")]
    BadRouteRefreshLength { length: u16, message: Bytes },
}

impl MessageError {
    /// The NOTIFICATION to send for this error, or `None` when the session
    /// is kept (treat-as-withdraw).
    pub fn notification(&self) -> Option<Notification> {
        use error_code::*;
        let n = |code, subcode, data: Bytes| {
            Some(Notification {
                code,
                subcode,
                data,
            })
        };
        match self {
            MessageError::BadMarker => n(
                MESSAGE_HEADER,
                header_subcode::CONNECTION_NOT_SYNCHRONIZED,
                Bytes::new(),
            ),
            // RFC 4271 section 6.1: the data is the erroneous length field.
            MessageError::BadLength { length, .. } => n(
                MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_LENGTH,
                Bytes::copy_from_slice(&length.to_be_bytes()),
            ),
            MessageError::BadType { msg_type } => n(
                MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_TYPE,
                Bytes::copy_from_slice(&[*msg_type]),
            ),
            // RFC 4271 section 6.2: the data is the largest supported version.
            MessageError::UnsupportedVersion { .. } => n(
                OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_VERSION_NUMBER,
                Bytes::from_static(&[0, 4]),
            ),
            MessageError::BadPeerAs { .. } => {
                n(OPEN_MESSAGE, open_subcode::BAD_PEER_AS, Bytes::new())
            }
            MessageError::BadBgpIdentifier { .. } => {
                n(OPEN_MESSAGE, open_subcode::BAD_BGP_IDENTIFIER, Bytes::new())
            }
            MessageError::UnacceptableHoldTime { .. } => n(
                OPEN_MESSAGE,
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                Bytes::new(),
            ),
            MessageError::MalformedOpen { .. } => {
                n(OPEN_MESSAGE, open_subcode::UNSPECIFIC, Bytes::new())
            }
            MessageError::UpdateSessionReset(e) => n(UPDATE_MESSAGE, e.subcode, e.data.clone()),
            MessageError::TreatAsWithdraw { .. } => None,
            // RFC 7313 section 5: the data is the complete message.
            MessageError::BadRouteRefreshLength { message, .. } => n(
                ROUTE_REFRESH,
                route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                message.clone(),
            ),
        }
    }

    pub(crate) fn bad_length(length: u16, why: &'static str) -> Self {
        MessageError::BadLength { length, why }
    }
}

/// A value that cannot be put on the wire as asked. Encoders never truncate
/// a length: they fail or split.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {len} octets exceeds the negotiated maximum of {max}")]
    MessageTooLong { len: usize, max: usize },
    #[error("attribute {} ({type_code}) value of {len} octets exceeds 65535", attr_name(*type_code))]
    AttributeTooLong { type_code: u8, len: usize },
    #[error("{what} of {len} octets exceeds its {max}-octet length field")]
    FieldTooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} {value} does not fit in {bits} bits")]
    OutOfRange {
        what: &'static str,
        value: u64,
        bits: u32,
    },
    #[error("{what}: {why}")]
    Invalid {
        what: &'static str,
        why: &'static str,
    },
    #[error("one NLRI of {len} octets does not fit in a {max}-octet UPDATE with these attributes")]
    NlriDoesNotFit { len: usize, max: usize },
}
