//! BGP-4 messages, RFC 4271 section 4, with the capabilities plane
//! negotiates or keeps (RFC 5492).
//!
//! ```text
//! | Marker (16) = all ones | Length (2) | Type (1) | body |
//! ```

use super::attr::PathAttribute;
use super::attr::Prefix;
use bytes::Bytes;
use std::net::Ipv4Addr;

/// Message type codes.
pub mod msg_type {
    pub const OPEN: u8 = 1;
    pub const UPDATE: u8 = 2;
    pub const NOTIFICATION: u8 = 3;
    pub const KEEPALIVE: u8 = 4;
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Header length: marker, length, type.
pub const HEADER_LEN: usize = 19;
/// Maximum message length without the extended message capability.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum message length with extended messages (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// AS_TRANS, RFC 6793: the 2-octet stand-in for a 4-octet ASN.
pub const AS_TRANS: u16 = 23456;

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// OPEN, RFC 4271 section 4.2.
///
/// ```text
/// | Version (1) | My AS (2) | Hold Time (2) | BGP Identifier (4) |
/// | Opt Parm Len (1) | Optional Parameters (var) |
/// ```
/// Capabilities (parameter type 2, RFC 5492) are flattened into
/// `capabilities` in order, and how they were packed into parameters is
/// kept in `capability_params` (so that a received OPEN re-encodes to the
/// same octets); other optional parameter types are kept in
/// `other_params`, encoded after the capabilities. RFC 9072 extended
/// optional parameters length is accepted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Open {
    pub version: u8,
    /// The 2-octet My AS field (AS_TRANS when the real ASN needs 4 octets).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
    pub capability_params: CapabilityParams,
    /// Non-capability optional parameters: (type, value).
    pub other_params: Vec<(u8, Bytes)>,
}

/// How the capabilities of an OPEN are packed into Capabilities optional
/// parameters: RFC 5492 section 4 allows one parameter per capability or
/// several capabilities in one parameter. Negotiation ignores it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum CapabilityParams {
    /// One parameter per capability, as FRR and plane send them. Also what
    /// an OPEN decodes to when its grouping was neither this nor `Single`
    /// (it then re-encodes to the same value, not the same octets).
    #[default]
    PerCapability,
    /// All capabilities in one parameter, as GoBGP sends them. Decoded only
    /// when that parameter held two or more (with one, both are the same
    /// octets).
    Single,
}

impl Open {
    /// The speaker's real ASN: the 4-octet AS capability when present,
    /// else My AS.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }
}

/// Capability codes.
pub mod cap_code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// A capability advertised in OPEN.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Capability {
    /// RFC 4760 section 8.
    Multiprotocol { afi: u16, safi: u8 },
    /// RFC 2918.
    RouteRefresh,
    /// RFC 7313.
    EnhancedRouteRefresh,
    /// RFC 6793.
    FourOctetAs(u32),
    /// RFC 4724 section 3.
    GracefulRestart(GracefulRestart),
    /// RFC 8654.
    ExtendedMessage,
    /// RFC 7911 section 4.
    AddPath(Vec<AddPathFamily>),
    /// Anything else, kept as sent.
    Unknown { code: u8, value: Bytes },
}

/// Graceful restart capability value, RFC 4724 section 3.
///
/// ```text
/// | Restart Flags (4 bits) | Restart Time in seconds (12 bits) |
/// | AFI (2) | SAFI (1) | Flags for Address Family (1) | ...
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GracefulRestart {
    /// The R (restart state) bit.
    pub restarting: bool,
    /// The N bit (RFC 8538 notification), kept.
    pub notification: bool,
    /// 12 bits, seconds.
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GracefulRestartFamily {
    pub afi: u16,
    pub safi: u8,
    /// The F bit: forwarding state was preserved.
    pub forwarding_preserved: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AddPathFamily {
    pub afi: u16,
    pub safi: u8,
    /// 1 = receive, 2 = send, 3 = both.
    pub send_receive: u8,
}

/// NOTIFICATION, RFC 4271 section 4.5.
///
/// ```text
/// | Error code (1) | Error subcode (1) | Data (var) |
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Bytes,
}

/// NOTIFICATION error codes (RFC 4271 section 4.5, RFC 7313).
pub mod error_code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;
}

/// ROUTE-REFRESH, RFC 2918 section 3 and RFC 7313 section 3.2.
///
/// ```text
/// | AFI (2) | Subtype (1): 0 normal, 1 BoRR, 2 EoRR | SAFI (1) |
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RouteRefresh {
    pub afi: u16,
    pub subtype: u8,
    pub safi: u8,
}

/// UPDATE, RFC 4271 section 4.3.
///
/// ```text
/// | Withdrawn Routes Length (2) | Withdrawn Routes (var) |
/// | Total Path Attribute Length (2) | Path Attributes (var) | NLRI (var) |
/// ```
/// Attributes are kept in received order. EVPN NLRI live in the
/// MP_REACH_NLRI / MP_UNREACH_NLRI attributes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Update {
    pub withdrawn: Vec<Prefix>,
    pub attributes: Vec<PathAttribute>,
    pub nlri: Vec<Prefix>,
}
