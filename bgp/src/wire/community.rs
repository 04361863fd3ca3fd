//! Extended communities (RFC 4360) as EVPN uses them: route targets
//! (RFC 4360, RFC 5668), BGP Encapsulation (RFC 9012), and the EVPN
//! communities of RFC 7432 section 7 and RFC 9135 (Router's MAC).
//!
//! ```text
//! | Type high (1) | Sub-type (1) | Value (6) |
//! ```

use super::evpn::MacAddr;
use std::fmt;
use std::net::Ipv4Addr;

/// Route Target, RFC 4360 section 4 / RFC 5668. Written `ASN:N` or `A.B.C.D:N`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum RouteTarget {
    /// Type 0x00 sub-type 0x02.
    As2 { asn: u16, value: u32 },
    /// Type 0x01 sub-type 0x02.
    Ipv4 { addr: Ipv4Addr, value: u16 },
    /// Type 0x02 sub-type 0x02.
    As4 { asn: u32, value: u16 },
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::As2 { asn, value } => write!(f, "{asn}:{value}"),
            RouteTarget::Ipv4 { addr, value } => write!(f, "{addr}:{value}"),
            RouteTarget::As4 { asn, value } => write!(f, "{asn}:{value}"),
        }
    }
}

/// Tunnel type 8 of RFC 9012 (the Encapsulation extended community).
pub const TUNNEL_TYPE_VXLAN: u16 = 8;

/// An extended community, typed where EVPN gives it meaning, otherwise kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ExtendedCommunity {
    RouteTarget(RouteTarget),
    /// Type 0x03 sub-type 0x0c (RFC 9012 section 4.1): tunnel type.
    Encapsulation {
        tunnel_type: u16,
    },
    /// Type 0x06 sub-type 0x00 (RFC 7432 section 7.7).
    MacMobility {
        sticky: bool,
        sequence: u32,
    },
    /// Type 0x06 sub-type 0x01 (RFC 7432 section 7.5).
    EsiLabel {
        single_active: bool,
        label: u32,
    },
    /// Type 0x06 sub-type 0x02 (RFC 7432 section 7.6).
    EsImportRouteTarget(MacAddr),
    /// Type 0x06 sub-type 0x03 (RFC 9135 section 8.1).
    RoutersMac(MacAddr),
    /// Type 0x03 sub-type 0x0d (RFC 7432 section 7.8, RFC 5512 opaque).
    DefaultGateway,
    /// Anything else, the 8 octets as sent.
    Unknown([u8; 8]),
}
