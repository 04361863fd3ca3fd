//! Path attributes, RFC 4271 section 4.3 and 5, with the multiprotocol
//! (RFC 4760), 4-octet AS (RFC 6793), route reflection (RFC 4456),
//! extended and large community (RFC 4360, RFC 8092) and PMSI tunnel
//! (RFC 6514 section 5) attributes.
//!
//! ```text
//! | Attr. Flags (1) | Attr. Type Code (1) | Length (1 or 2, per Extended Length bit) | Value |
//! ```

use super::community::ExtendedCommunity;
use super::evpn::EvpnNlri;
use bytes::Bytes;
use smallvec::SmallVec;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// Inline capacities of the small lists a decoded UPDATE carries: what
// GoBGP and FRR send for one EVPN route fits without a heap allocation
// (an AS_PATH of one segment of up to 4 ASNs, up to 4 extended
// communities), which is most of the cost of decoding one route
// per UPDATE. Longer lists spill to the heap. Build them from a `Vec` with
// `.into()`.

/// The ASNs of one AS_PATH segment.
pub type Asns = SmallVec<[u32; 4]>;
/// The segments of an AS_PATH.
pub type AsSegments = SmallVec<[AsSegment; 1]>;
/// The EXTENDED_COMMUNITIES of an UPDATE.
pub type ExtCommunities = SmallVec<[ExtendedCommunity; 4]>;

/// Attribute flag bits (RFC 4271 section 4.3).
pub mod flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes.
pub mod type_code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const ORIGINATOR_ID: u8 = 9;
    pub const CLUSTER_LIST: u8 = 10;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const PMSI_TUNNEL: u8 = 22;
    pub const LARGE_COMMUNITY: u8 = 32;
}

/// AFI / SAFI values plane knows by name.
pub mod afi {
    pub const IPV4: u16 = 1;
    pub const IPV6: u16 = 2;
    pub const L2VPN: u16 = 25;
}
pub mod safi {
    pub const UNICAST: u8 = 1;
    pub const EVPN: u8 = 70;
}

/// One path attribute: the flags as received (so that re-encoding is
/// byte-exact, Extended Length included) and the typed value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PathAttribute {
    pub flags: u8,
    pub value: AttrValue,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AsSegmentType {
    AsSet = 1,
    AsSequence = 2,
    /// RFC 5065.
    ConfedSequence = 3,
    ConfedSet = 4,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AsSegment {
    pub kind: AsSegmentType,
    pub asns: Asns,
}

/// AS_PATH or AS4_PATH. Whether ASNs are 2 or 4 octets on the wire depends
/// on the session (4-octet AS capability) for AS_PATH; AS4_PATH is always 4.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct AsPath {
    pub segments: AsSegments,
}

/// The next hop of MP_REACH_NLRI (RFC 4760 section 3). For EVPN it is the
/// VTEP address, 4 or 16 octets (32 for IPv6 global + link-local).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum MpNextHop {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    V6LinkLocal(Ipv6Addr, Ipv6Addr),
    Other(Bytes),
}

impl MpNextHop {
    /// The address a route is forwarded to (the VTEP for EVPN).
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            MpNextHop::V4(a) => Some(IpAddr::V4(*a)),
            MpNextHop::V6(a) | MpNextHop::V6LinkLocal(a, _) => Some(IpAddr::V6(*a)),
            MpNextHop::Other(_) => None,
        }
    }
}

impl From<IpAddr> for MpNextHop {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => MpNextHop::V4(a),
            IpAddr::V6(a) => MpNextHop::V6(a),
        }
    }
}

/// An IPv4 or IPv6 prefix in NLRI encoding (RFC 4271 section 4.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Prefix {
    pub path_id: Option<u32>,
    pub addr: IpAddr,
    pub len: u8,
}

/// The NLRI carried in MP_REACH_NLRI / MP_UNREACH_NLRI.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum MpNlri {
    /// AFI 25 / SAFI 70.
    Evpn(Vec<EvpnNlri>),
    /// AFI 1 or 2 / SAFI 1.
    Unicast(Vec<Prefix>),
    /// Any other AFI/SAFI: the NLRI bytes as sent.
    Unknown(Bytes),
}

/// MP_REACH_NLRI, RFC 4760 section 3.
///
/// ```text
/// | AFI (2) | SAFI (1) | Length of Next Hop (1) | Next Hop (var) |
/// | Reserved (1) | NLRI (var) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct MpReach {
    pub afi: u16,
    pub safi: u8,
    pub next_hop: MpNextHop,
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI, RFC 4760 section 4.
///
/// ```text
/// | AFI (2) | SAFI (1) | Withdrawn Routes (var) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct MpUnreach {
    pub afi: u16,
    pub safi: u8,
    pub nlri: MpNlri,
}

/// PMSI Tunnel attribute, RFC 6514 section 5; for EVPN type-3 routes RFC
/// 7432 section 11.2 with tunnel type 6 (ingress replication), the label
/// the VNI (RFC 8365) and the tunnel identifier the VTEP address.
///
/// ```text
/// | Flags (1) | Tunnel Type (1) | MPLS Label (3) | Tunnel Identifier (var) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PmsiTunnel {
    pub flags: u8,
    pub tunnel_type: u8,
    /// 24 bits: the VNI with VXLAN.
    pub label: u32,
    pub tunnel_id: PmsiTunnelId,
}

/// PMSI tunnel type 6.
pub const PMSI_INGRESS_REPLICATION: u8 = 6;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum PmsiTunnelId {
    /// 4 or 16 octets: the endpoint address (ingress replication).
    Ip(IpAddr),
    Other(Bytes),
}

/// RFC 8092 large community.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

/// Typed attribute values; unknown type codes are kept with their bytes.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum AttrValue {
    Origin(Origin),
    AsPath(AsPath),
    NextHop(Ipv4Addr),
    MultiExitDisc(u32),
    LocalPref(u32),
    AtomicAggregate,
    /// AGGREGATOR: ASN is 2 or 4 octets per the session.
    Aggregator {
        asn: u32,
        address: Ipv4Addr,
    },
    Communities(Vec<u32>),
    OriginatorId(Ipv4Addr),
    ClusterList(Vec<Ipv4Addr>),
    MpReachNlri(MpReach),
    MpUnreachNlri(MpUnreach),
    ExtendedCommunities(ExtCommunities),
    As4Path(AsPath),
    As4Aggregator {
        asn: u32,
        address: Ipv4Addr,
    },
    PmsiTunnel(PmsiTunnel),
    LargeCommunities(Vec<LargeCommunity>),
    /// Unknown type code: value as sent. An optional transitive one is passed
    /// on with the Partial bit set (RFC 4271 section 5).
    Unknown {
        type_code: u8,
        value: Bytes,
    },
}

impl AttrValue {
    /// The attribute type code on the wire.
    pub fn type_code(&self) -> u8 {
        use type_code::*;
        match self {
            AttrValue::Origin(_) => ORIGIN,
            AttrValue::AsPath(_) => AS_PATH,
            AttrValue::NextHop(_) => NEXT_HOP,
            AttrValue::MultiExitDisc(_) => MULTI_EXIT_DISC,
            AttrValue::LocalPref(_) => LOCAL_PREF,
            AttrValue::AtomicAggregate => ATOMIC_AGGREGATE,
            AttrValue::Aggregator { .. } => AGGREGATOR,
            AttrValue::Communities(_) => COMMUNITIES,
            AttrValue::OriginatorId(_) => ORIGINATOR_ID,
            AttrValue::ClusterList(_) => CLUSTER_LIST,
            AttrValue::MpReachNlri(_) => MP_REACH_NLRI,
            AttrValue::MpUnreachNlri(_) => MP_UNREACH_NLRI,
            AttrValue::ExtendedCommunities(_) => EXTENDED_COMMUNITIES,
            AttrValue::As4Path(_) => AS4_PATH,
            AttrValue::As4Aggregator { .. } => AS4_AGGREGATOR,
            AttrValue::PmsiTunnel(_) => PMSI_TUNNEL,
            AttrValue::LargeCommunities(_) => LARGE_COMMUNITY,
            AttrValue::Unknown { type_code, .. } => *type_code,
        }
    }

    /// The flags an originator sets for this attribute (RFC 4271 section 5
    /// and each attribute's RFC), without Extended Length.
    pub fn default_flags(&self) -> u8 {
        use flags::*;
        match self {
            AttrValue::Origin(_)
            | AttrValue::AsPath(_)
            | AttrValue::NextHop(_)
            | AttrValue::LocalPref(_)
            | AttrValue::AtomicAggregate => TRANSITIVE,
            AttrValue::MultiExitDisc(_)
            | AttrValue::OriginatorId(_)
            | AttrValue::ClusterList(_)
            | AttrValue::MpReachNlri(_)
            | AttrValue::MpUnreachNlri(_) => OPTIONAL,
            AttrValue::Aggregator { .. }
            | AttrValue::Communities(_)
            | AttrValue::ExtendedCommunities(_)
            | AttrValue::As4Path(_)
            | AttrValue::As4Aggregator { .. }
            | AttrValue::PmsiTunnel(_)
            | AttrValue::LargeCommunities(_) => OPTIONAL | TRANSITIVE,
            AttrValue::Unknown { .. } => OPTIONAL | TRANSITIVE,
        }
    }
}

impl From<AttrValue> for PathAttribute {
    /// An attribute with the flags an originator sets.
    fn from(value: AttrValue) -> Self {
        PathAttribute {
            flags: value.default_flags(),
            value,
        }
    }
}
