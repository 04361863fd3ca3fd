//! EVPN NLRI value types (AFI 25 / SAFI 70): RFC 7432 section 7, RFC 9136
//! (type 5), with VXLAN labels per RFC 8365 section 5.1.3 (the whole 24-bit
//! label field is the VNI, as FRR and GoBGP send it).
//!
//! ```text
//! +-----------------------------------+
//! |    Route Type (1 octet)           |
//! +-----------------------------------+
//! |     Length (1 octet)              |
//! +-----------------------------------+
//! | Route Type specific (variable)    |
//! +-----------------------------------+
//! ```

use bytes::Bytes;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// A 48-bit IEEE MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a MAC address from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MAC address aa:bb:cc:dd:ee:ff expected, got {0:?}")]
pub struct MacParseError(pub String);

impl std::str::FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(err)?;
            if p.len() != 2 {
                return Err(err());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

/// Route Distinguisher, RFC 4364 section 4.2. Written `ASN:N` (types 0
/// and 2) or `A.B.C.D:N` (type 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum RouteDistinguisher {
    /// Type 0: 2-octet ASN, 4-octet assigned number.
    As2 { asn: u16, number: u32 },
    /// Type 1: IPv4 address, 2-octet assigned number (FRR's and plane's auto RD).
    Ipv4 { addr: Ipv4Addr, number: u16 },
    /// Type 2: 4-octet ASN, 2-octet assigned number.
    As4 { asn: u32, number: u16 },
    /// Any other type, kept as its 6 value octets.
    Unknown { rd_type: u16, value: [u8; 6] },
}

impl fmt::Display for RouteDistinguisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteDistinguisher::As2 { asn, number } => write!(f, "{asn}:{number}"),
            RouteDistinguisher::Ipv4 { addr, number } => write!(f, "{addr}:{number}"),
            RouteDistinguisher::As4 { asn, number } => write!(f, "{asn}:{number}"),
            RouteDistinguisher::Unknown { rd_type, value } => {
                write!(f, "{rd_type}:")?;
                for b in value {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// Ethernet Segment Identifier, RFC 7432 section 5: 10 octets, kept as sent
/// so that re-encoding is byte-exact; [`Esi::value`] gives the typed view.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Esi(pub [u8; 10]);

impl Esi {
    /// The single-homed ESI (all zero).
    pub const ZERO: Esi = Esi([0; 10]);
}

impl fmt::Debug for Esi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Esi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The typed view of an ESI, RFC 7432 section 5 (types 0 to 5).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EsiValue {
    /// Type 0: operator configured, 9 octets.
    Arbitrary([u8; 9]),
    /// Type 1: LACP, CE system MAC and port key.
    Lacp { system_mac: MacAddr, port_key: u16 },
    /// Type 2: L2 bridge protocol, root bridge MAC and priority.
    Bridge {
        root_bridge_mac: MacAddr,
        priority: u16,
    },
    /// Type 3: MAC based, system MAC and 3-octet local discriminator.
    Mac {
        system_mac: MacAddr,
        discriminator: u32,
    },
    /// Type 4: router-ID based, 4-octet discriminator.
    RouterId {
        router_id: Ipv4Addr,
        discriminator: u32,
    },
    /// Type 5: AS based, 4-octet discriminator.
    As { asn: u32, discriminator: u32 },
    /// Type 6..=255.
    Unknown { esi_type: u8, value: [u8; 9] },
}

/// One EVPN NLRI with its add-path identifier (RFC 7911) when negotiated.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EvpnNlri {
    pub path_id: Option<u32>,
    pub route: EvpnRoute,
}

/// The EVPN route types of RFC 7432 section 7 and RFC 9136.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum EvpnRoute {
    /// Type 1.
    EthernetAutoDiscovery(EthernetAutoDiscovery),
    /// Type 2.
    MacIpAdvertisement(MacIpAdvertisement),
    /// Type 3.
    InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag),
    /// Type 4.
    EthernetSegment(EthernetSegment),
    /// Type 5 (RFC 9136).
    IpPrefix(IpPrefixRoute),
    /// Any other route type, value kept as sent.
    Unknown { route_type: u8, value: Bytes },
}

impl EvpnRoute {
    /// The route type code on the wire.
    pub fn route_type(&self) -> u8 {
        match self {
            EvpnRoute::EthernetAutoDiscovery(_) => 1,
            EvpnRoute::MacIpAdvertisement(_) => 2,
            EvpnRoute::InclusiveMulticastEthernetTag(_) => 3,
            EvpnRoute::EthernetSegment(_) => 4,
            EvpnRoute::IpPrefix(_) => 5,
            EvpnRoute::Unknown { route_type, .. } => *route_type,
        }
    }

    /// The route's RD, when its type has one.
    pub fn rd(&self) -> Option<RouteDistinguisher> {
        match self {
            EvpnRoute::EthernetAutoDiscovery(r) => Some(r.rd),
            EvpnRoute::MacIpAdvertisement(r) => Some(r.rd),
            EvpnRoute::InclusiveMulticastEthernetTag(r) => Some(r.rd),
            EvpnRoute::EthernetSegment(r) => Some(r.rd),
            EvpnRoute::IpPrefix(r) => Some(r.rd),
            EvpnRoute::Unknown { .. } => None,
        }
    }
}

/// Type 1, RFC 7432 section 7.1.
///
/// ```text
/// | RD (8) | ESI (10) | Ethernet Tag ID (4) | MPLS Label (3) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EthernetAutoDiscovery {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub ethernet_tag: u32,
    pub label: u32,
}

/// Type 2, RFC 7432 section 7.2.
///
/// ```text
/// | RD (8) | ESI (10) | Ethernet Tag ID (4) | MAC Address Length (1) = 48 |
/// | MAC Address (6) | IP Address Length (1) = 0, 32 or 128 |
/// | IP Address (0, 4 or 16) | MPLS Label1 (3) | MPLS Label2 (0 or 3) |
/// ```
/// With VXLAN (RFC 8365) `label1` is the 24-bit VNI.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct MacIpAdvertisement {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub ethernet_tag: u32,
    pub mac: MacAddr,
    /// `None` for a MAC-only route.
    pub ip: Option<IpAddr>,
    /// 24-bit: the L2 VNI with VXLAN.
    pub label1: u32,
    /// 24-bit: the L3 VNI (symmetric IRB), when present.
    pub label2: Option<u32>,
}

impl MacIpAdvertisement {
    /// The VNI carried in label 1 (RFC 8365 section 5.1.3).
    pub fn vni(&self) -> u32 {
        self.label1
    }
}

/// Type 3, RFC 7432 section 7.3.
///
/// ```text
/// | RD (8) | Ethernet Tag ID (4) | IP Address Length (1) | Originating Router's IP (4 or 16) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct InclusiveMulticastEthernetTag {
    pub rd: RouteDistinguisher,
    pub ethernet_tag: u32,
    pub originator: IpAddr,
}

/// Type 4, RFC 7432 section 7.4.
///
/// ```text
/// | RD (8) | ESI (10) | IP Address Length (1) | Originating Router's IP (4 or 16) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EthernetSegment {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub originator: IpAddr,
}

/// Type 5, RFC 9136 section 3.1: length 34 (IPv4) or 58 (IPv6).
///
/// ```text
/// | RD (8) | ESI (10) | Ethernet Tag ID (4) | IP Prefix Length (1) |
/// | IP Prefix (4 or 16) | GW IP Address (4 or 16) | MPLS Label (3) |
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct IpPrefixRoute {
    pub rd: RouteDistinguisher,
    pub esi: Esi,
    pub ethernet_tag: u32,
    pub prefix: IpAddr,
    pub prefix_len: u8,
    /// Same family as `prefix`; unspecified when absent.
    pub gateway: IpAddr,
    pub label: u32,
}
