//! Parse and emit of EVPN NLRI (RFC 7432 section 7, RFC 9136 section 3),
//! Route Distinguishers (RFC 4364 section 4.2) and ESIs (RFC 7432 section 5).
//!
//! Invariants: parsing never panics and never reads past the route's own
//! length octet; a parsed NLRI emits the same bytes (labels, ESI and unknown
//! RD types are kept raw); an unknown route type is kept as bytes. Emit
//! refuses (never truncates) a label wider than 24 bits or a prefix length
//! beyond the address family.

use super::error::{EncodeError, EvpnError};
use super::evpn::*;
use super::reader::Reader;
use bytes::{BufMut, Bytes, BytesMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Route type codes, RFC 7432 section 7 and RFC 9136.
pub mod route_type {
    pub const ETHERNET_AUTO_DISCOVERY: u8 = 1;
    pub const MAC_IP_ADVERTISEMENT: u8 = 2;
    pub const INCLUSIVE_MULTICAST_ETHERNET_TAG: u8 = 3;
    pub const ETHERNET_SEGMENT: u8 = 4;
    pub const IP_PREFIX: u8 = 5;
}

const LABEL_MAX: u32 = 0x00ff_ffff;

impl RouteDistinguisher {
    /// Decodes the 8 octets: type (2) and value (6).
    pub fn from_bytes(b: [u8; 8]) -> Self {
        let [t0, t1, v0, v1, v2, v3, v4, v5] = b;
        match u16::from_be_bytes([t0, t1]) {
            0 => RouteDistinguisher::As2 {
                asn: u16::from_be_bytes([v0, v1]),
                number: u32::from_be_bytes([v2, v3, v4, v5]),
            },
            1 => RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(v0, v1, v2, v3),
                number: u16::from_be_bytes([v4, v5]),
            },
            2 => RouteDistinguisher::As4 {
                asn: u32::from_be_bytes([v0, v1, v2, v3]),
                number: u16::from_be_bytes([v4, v5]),
            },
            rd_type => RouteDistinguisher::Unknown {
                rd_type,
                value: [v0, v1, v2, v3, v4, v5],
            },
        }
    }

    /// The 8 octets on the wire.
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        let (t, v): (u16, [u8; 6]) = match *self {
            RouteDistinguisher::As2 { asn, number } => {
                let [a0, a1] = asn.to_be_bytes();
                let [n0, n1, n2, n3] = number.to_be_bytes();
                (0, [a0, a1, n0, n1, n2, n3])
            }
            RouteDistinguisher::Ipv4 { addr, number } => {
                let [a0, a1, a2, a3] = addr.octets();
                let [n0, n1] = number.to_be_bytes();
                (1, [a0, a1, a2, a3, n0, n1])
            }
            RouteDistinguisher::As4 { asn, number } => {
                let [a0, a1, a2, a3] = asn.to_be_bytes();
                let [n0, n1] = number.to_be_bytes();
                (2, [a0, a1, a2, a3, n0, n1])
            }
            RouteDistinguisher::Unknown { rd_type, value } => (rd_type, value),
        };
        out[..2].copy_from_slice(&t.to_be_bytes());
        out[2..].copy_from_slice(&v);
        out
    }
}

impl Esi {
    /// The ESI type octet (RFC 7432 section 5).
    pub fn esi_type(&self) -> u8 {
        self.0[0]
    }

    /// The typed view of the ten octets, RFC 7432 section 5. Reserved
    /// octets are not part of the view; [`Esi`] itself keeps them.
    pub fn value(&self) -> EsiValue {
        let [t, v @ ..] = self.0;
        let mac = |i: usize| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&v[i..i + 6]);
            MacAddr(m)
        };
        let u16_at = |i: usize| u16::from_be_bytes([v[i], v[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
        match t {
            0 => EsiValue::Arbitrary(v),
            1 => EsiValue::Lacp {
                system_mac: mac(0),
                port_key: u16_at(6),
            },
            2 => EsiValue::Bridge {
                root_bridge_mac: mac(0),
                priority: u16_at(6),
            },
            3 => EsiValue::Mac {
                system_mac: mac(0),
                discriminator: u32::from_be_bytes([0, v[6], v[7], v[8]]),
            },
            4 => EsiValue::RouterId {
                router_id: Ipv4Addr::new(v[0], v[1], v[2], v[3]),
                discriminator: u32_at(4),
            },
            5 => EsiValue::As {
                asn: u32_at(0),
                discriminator: u32_at(4),
            },
            esi_type => EsiValue::Unknown { esi_type, value: v },
        }
    }
}

impl From<EsiValue> for Esi {
    /// Builds the ten octets; reserved octets are zero. A type-3
    /// discriminator keeps its low 24 bits (the field is 3 octets).
    fn from(v: EsiValue) -> Self {
        let mut o = [0u8; 10];
        match v {
            EsiValue::Arbitrary(b) => o[1..].copy_from_slice(&b),
            EsiValue::Lacp {
                system_mac,
                port_key,
            } => {
                o[0] = 1;
                o[1..7].copy_from_slice(&system_mac.0);
                o[7..9].copy_from_slice(&port_key.to_be_bytes());
            }
            EsiValue::Bridge {
                root_bridge_mac,
                priority,
            } => {
                o[0] = 2;
                o[1..7].copy_from_slice(&root_bridge_mac.0);
                o[7..9].copy_from_slice(&priority.to_be_bytes());
            }
            EsiValue::Mac {
                system_mac,
                discriminator,
            } => {
                o[0] = 3;
                o[1..7].copy_from_slice(&system_mac.0);
                o[7..10].copy_from_slice(&discriminator.to_be_bytes()[1..]);
            }
            EsiValue::RouterId {
                router_id,
                discriminator,
            } => {
                o[0] = 4;
                o[1..5].copy_from_slice(&router_id.octets());
                o[5..9].copy_from_slice(&discriminator.to_be_bytes());
            }
            EsiValue::As { asn, discriminator } => {
                o[0] = 5;
                o[1..5].copy_from_slice(&asn.to_be_bytes());
                o[5..9].copy_from_slice(&discriminator.to_be_bytes());
            }
            EsiValue::Unknown { esi_type, value } => {
                o[0] = esi_type;
                o[1..].copy_from_slice(&value);
            }
        }
        Esi(o)
    }
}

fn truncated(what: &'static str, needed: usize, available: usize) -> EvpnError {
    EvpnError::Truncated {
        what,
        needed,
        available,
    }
}

/// Decodes a sequence of EVPN NLRI (the NLRI field of MP_REACH_NLRI or
/// MP_UNREACH_NLRI for AFI 25 / SAFI 70). With `add_path`, each NLRI is
/// preceded by a 4-octet path identifier (RFC 7911 section 3).
pub fn decode_evpn_nlri(buf: &[u8], add_path: bool) -> Result<Vec<EvpnNlri>, EvpnError> {
    let mut out = Vec::new();
    decode_evpn_nlri_into(buf, add_path, &mut out)?;
    Ok(out)
}

/// The routes to reserve room for before decoding `len` octets of EVPN
/// NLRI: a type-3 route is the shortest common one (19 octets with its
/// header), bounded so that a hostile length costs nothing.
pub(crate) fn evpn_capacity(len: usize) -> usize {
    (len / 19).min(256)
}

/// [`decode_evpn_nlri`] appending to the caller's vector (the one inside
/// the MP_REACH_NLRI attribute being decoded): returning the vector through
/// a `Result` costs a store-forwarding stall per UPDATE, more than parsing
/// a route. On error `out` holds the routes before the bad one.
pub(crate) fn decode_evpn_nlri_into(
    buf: &[u8],
    add_path: bool,
    out: &mut Vec<EvpnNlri>,
) -> Result<(), EvpnError> {
    out.reserve_exact(evpn_capacity(buf.len()));
    let mut rest = buf;
    while !rest.is_empty() {
        let path_id = if add_path {
            let Some((id, tail)) = rest.split_first_chunk::<4>() else {
                return Err(truncated("path identifier", 4, rest.len()));
            };
            rest = tail;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let Some(([route_type, len], tail)) = rest.split_first_chunk::<2>() else {
            return Err(truncated("route type and length", 2, rest.len()));
        };
        let len = usize::from(*len);
        if len > tail.len() {
            return Err(truncated("route value", len, tail.len()));
        }
        let (value, tail) = tail.split_at(len);
        rest = tail;
        // Type 2 is most of what a VTEP receives: decode it straight into
        // the vector; anything unusual takes the general path (and its errors).
        let route = match (*route_type, mac_ip_fast(value)) {
            (route_type::MAC_IP_ADVERTISEMENT, Some(m)) => EvpnRoute::MacIpAdvertisement(m),
            (t, _) => EvpnRoute::parse_value(t, value)?,
        };
        out.push(EvpnNlri { path_id, route });
    }
    Ok(())
}

/// The well-formed type-2 layouts (RFC 7432 section 7.2) read from fixed
/// offsets; `None` sends the value to [`parse_mac_ip`] for a precise error.
#[inline(always)]
fn mac_ip_fast(v: &[u8]) -> Option<MacIpAdvertisement> {
    let (head, rest) = v.split_first_chunk::<30>()?;
    let [r0, r1, r2, r3, r4, r5, r6, r7, e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, t0, t1, t2, t3, mac_bits, m0, m1, m2, m3, m4, m5, ip_bits] =
        *head;
    if mac_bits != 48 {
        return None;
    }
    let (ip, labels) = match ip_bits {
        0 => (None, rest),
        32 => {
            let (a, l) = rest.split_first_chunk::<4>()?;
            (Some(IpAddr::V4(Ipv4Addr::from(*a))), l)
        }
        128 => {
            let (a, l) = rest.split_first_chunk::<16>()?;
            (Some(IpAddr::V6(Ipv6Addr::from(*a))), l)
        }
        _ => return None,
    };
    let (label1, label2) = match *labels {
        [a, b, c] => (u32::from_be_bytes([0, a, b, c]), None),
        [a, b, c, d, e, f] => (
            u32::from_be_bytes([0, a, b, c]),
            Some(u32::from_be_bytes([0, d, e, f])),
        ),
        _ => return None,
    };
    Some(MacIpAdvertisement {
        rd: RouteDistinguisher::from_bytes([r0, r1, r2, r3, r4, r5, r6, r7]),
        esi: Esi([e0, e1, e2, e3, e4, e5, e6, e7, e8, e9]),
        ethernet_tag: u32::from_be_bytes([t0, t1, t2, t3]),
        mac: MacAddr([m0, m1, m2, m3, m4, m5]),
        ip,
        label1,
        label2,
    })
}

impl EvpnNlri {
    /// Octets this NLRI takes on the wire.
    pub fn encoded_len(&self, add_path: bool) -> usize {
        let id = if add_path { 4 } else { 0 };
        id + 2 + self.route.value_len()
    }

    /// Appends the NLRI. With `add_path` the path identifier (0 when `None`)
    /// comes first.
    pub fn emit(&self, add_path: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
        if add_path {
            out.put_u32(self.path_id.unwrap_or(0));
        }
        let len = self.route.value_len();
        let len8 = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            what: "EVPN route",
            len,
            max: 255,
        })?;
        out.put_u8(self.route.route_type());
        out.put_u8(len8);
        self.route.emit_value(out)
    }
}

fn ip_len(ip: &IpAddr) -> usize {
    match ip {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    }
}

fn put_ip(out: &mut BytesMut, ip: &IpAddr) {
    match ip {
        IpAddr::V4(a) => out.put_slice(&a.octets()),
        IpAddr::V6(a) => out.put_slice(&a.octets()),
    }
}

fn put_label(out: &mut BytesMut, what: &'static str, label: u32) -> Result<(), EncodeError> {
    if label > LABEL_MAX {
        return Err(EncodeError::OutOfRange {
            what,
            value: u64::from(label),
            bits: 24,
        });
    }
    out.put_slice(&label.to_be_bytes()[1..]);
    Ok(())
}

/// An IPv4 or IPv6 address of exactly 4 or 16 octets.
fn ip_from(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::V4(Ipv4Addr::from(a)))
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        Some(IpAddr::V6(Ipv6Addr::from(a)))
    } else {
        None
    }
}

/// Reads an "IP Address Length" in bits (32 or 128) and the address.
fn read_originator(r: &mut Reader<'_>, route_type: u8) -> Result<IpAddr, EvpnError> {
    let bits = r.u8().ok_or_else(|| truncated("IP address length", 1, 0))?;
    let n = match bits {
        32 => 4,
        128 => 16,
        _ => {
            return Err(EvpnError::Field {
                route_type,
                field: "IP address length",
                value: u32::from(bits),
            })
        }
    };
    let b = r
        .take(n)
        .ok_or_else(|| truncated("IP address", n, r.remaining()))?;
    ip_from(b).ok_or_else(|| truncated("IP address", n, b.len()))
}

fn length_error(route_type: u8, expected: &'static str, got: usize) -> EvpnError {
    EvpnError::Length {
        route_type,
        expected,
        got,
    }
}

impl EvpnRoute {
    /// Parses a route value (after the type and length octets).
    pub fn parse_value(route_type: u8, value: &[u8]) -> Result<EvpnRoute, EvpnError> {
        use route_type::*;
        let mut r = Reader::new(value);
        let len = value.len();
        let route = match route_type {
            ETHERNET_AUTO_DISCOVERY => {
                if len != 25 {
                    return Err(length_error(route_type, "25", len));
                }
                let (Some(rd), Some(esi), Some(tag), Some(label)) =
                    (r.array::<8>(), r.array::<10>(), r.u32(), r.u24())
                else {
                    return Err(length_error(route_type, "25", len));
                };
                EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
                    rd: RouteDistinguisher::from_bytes(rd),
                    esi: Esi(esi),
                    ethernet_tag: tag,
                    label,
                })
            }
            MAC_IP_ADVERTISEMENT => EvpnRoute::MacIpAdvertisement(parse_mac_ip(value)?),
            INCLUSIVE_MULTICAST_ETHERNET_TAG => {
                const EXPECTED: &str = "17 or 29";
                if len != 17 && len != 29 {
                    return Err(length_error(route_type, EXPECTED, len));
                }
                let (Some(rd), Some(tag)) = (r.array::<8>(), r.u32()) else {
                    return Err(length_error(route_type, EXPECTED, len));
                };
                let originator = read_originator(&mut r, route_type)?;
                if !r.is_empty() {
                    return Err(length_error(route_type, EXPECTED, len));
                }
                EvpnRoute::InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag {
                    rd: RouteDistinguisher::from_bytes(rd),
                    ethernet_tag: tag,
                    originator,
                })
            }
            ETHERNET_SEGMENT => {
                const EXPECTED: &str = "23 or 35";
                if len != 23 && len != 35 {
                    return Err(length_error(route_type, EXPECTED, len));
                }
                let (Some(rd), Some(esi)) = (r.array::<8>(), r.array::<10>()) else {
                    return Err(length_error(route_type, EXPECTED, len));
                };
                let originator = read_originator(&mut r, route_type)?;
                if !r.is_empty() {
                    return Err(length_error(route_type, EXPECTED, len));
                }
                EvpnRoute::EthernetSegment(EthernetSegment {
                    rd: RouteDistinguisher::from_bytes(rd),
                    esi: Esi(esi),
                    originator,
                })
            }
            IP_PREFIX => {
                // RFC 9136 section 3.1: the family follows from the length.
                let n = match len {
                    34 => 4,
                    58 => 16,
                    _ => return Err(length_error(route_type, "34 or 58", len)),
                };
                let (Some(rd), Some(esi), Some(tag), Some(plen), Some(prefix), Some(gw)) = (
                    r.array::<8>(),
                    r.array::<10>(),
                    r.u32(),
                    r.u8(),
                    r.take(n),
                    r.take(n),
                ) else {
                    return Err(length_error(route_type, "34 or 58", len));
                };
                let label = r
                    .u24()
                    .ok_or_else(|| length_error(route_type, "34 or 58", len))?;
                let max_plen = if n == 4 { 32 } else { 128 };
                if plen > max_plen {
                    return Err(EvpnError::Field {
                        route_type,
                        field: "IP prefix length",
                        value: u32::from(plen),
                    });
                }
                let (Some(prefix), Some(gateway)) = (ip_from(prefix), ip_from(gw)) else {
                    return Err(length_error(route_type, "34 or 58", len));
                };
                EvpnRoute::IpPrefix(IpPrefixRoute {
                    rd: RouteDistinguisher::from_bytes(rd),
                    esi: Esi(esi),
                    ethernet_tag: tag,
                    prefix,
                    prefix_len: plen,
                    gateway,
                    label,
                })
            }
            _ => EvpnRoute::Unknown {
                route_type,
                value: Bytes::copy_from_slice(value),
            },
        };
        Ok(route)
    }

    /// The length of the route value (the length octet's content).
    pub fn value_len(&self) -> usize {
        match self {
            EvpnRoute::EthernetAutoDiscovery(_) => 25,
            EvpnRoute::MacIpAdvertisement(r) => {
                33 + r.ip.as_ref().map_or(0, ip_len) + if r.label2.is_some() { 3 } else { 0 }
            }
            EvpnRoute::InclusiveMulticastEthernetTag(r) => 13 + ip_len(&r.originator),
            EvpnRoute::EthernetSegment(r) => 19 + ip_len(&r.originator),
            EvpnRoute::IpPrefix(r) => 26 + 2 * ip_len(&r.prefix),
            EvpnRoute::Unknown { value, .. } => value.len(),
        }
    }

    /// Appends the route value (without type and length octets).
    pub fn emit_value(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            EvpnRoute::EthernetAutoDiscovery(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                out.put_u32(r.ethernet_tag);
                put_label(out, "EVPN type-1 label", r.label)?;
            }
            EvpnRoute::MacIpAdvertisement(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                out.put_u32(r.ethernet_tag);
                out.put_u8(48);
                out.put_slice(&r.mac.0);
                match &r.ip {
                    None => out.put_u8(0),
                    Some(ip @ IpAddr::V4(_)) => {
                        out.put_u8(32);
                        put_ip(out, ip);
                    }
                    Some(ip @ IpAddr::V6(_)) => {
                        out.put_u8(128);
                        put_ip(out, ip);
                    }
                }
                put_label(out, "EVPN type-2 label 1", r.label1)?;
                if let Some(l2) = r.label2 {
                    put_label(out, "EVPN type-2 label 2", l2)?;
                }
            }
            EvpnRoute::InclusiveMulticastEthernetTag(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_u32(r.ethernet_tag);
                out.put_u8(if r.originator.is_ipv4() { 32 } else { 128 });
                put_ip(out, &r.originator);
            }
            EvpnRoute::EthernetSegment(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                out.put_u8(if r.originator.is_ipv4() { 32 } else { 128 });
                put_ip(out, &r.originator);
            }
            EvpnRoute::IpPrefix(r) => {
                let max = if r.prefix.is_ipv4() { 32 } else { 128 };
                if r.prefix_len > max {
                    return Err(EncodeError::OutOfRange {
                        what: "EVPN type-5 prefix length",
                        value: u64::from(r.prefix_len),
                        bits: max.into(),
                    });
                }
                if r.prefix.is_ipv4() != r.gateway.is_ipv4() {
                    return Err(EncodeError::Invalid {
                        what: "EVPN type-5 route",
                        why: "prefix and gateway must be of the same address family",
                    });
                }
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                out.put_u32(r.ethernet_tag);
                out.put_u8(r.prefix_len);
                put_ip(out, &r.prefix);
                put_ip(out, &r.gateway);
                put_label(out, "EVPN type-5 label", r.label)?;
            }
            EvpnRoute::Unknown { value, .. } => out.put_slice(value),
        }
        Ok(())
    }
}

/// Type 2: the fields are variable, so the length is checked per field.
fn parse_mac_ip(value: &[u8]) -> Result<MacIpAdvertisement, EvpnError> {
    const RT: u8 = route_type::MAC_IP_ADVERTISEMENT;
    const EXPECTED: &str = "33, 36, 37, 40, 49 or 52";
    let len = value.len();
    let mut r = Reader::new(value);
    let (Some(rd), Some(esi), Some(tag), Some(mac_bits), Some(mac), Some(ip_bits)) = (
        r.array::<8>(),
        r.array::<10>(),
        r.u32(),
        r.u8(),
        r.array::<6>(),
        r.u8(),
    ) else {
        return Err(length_error(RT, EXPECTED, len));
    };
    if mac_bits != 48 {
        return Err(EvpnError::Field {
            route_type: RT,
            field: "MAC address length",
            value: u32::from(mac_bits),
        });
    }
    let ip = match ip_bits {
        0 => None,
        32 | 128 => {
            let n = usize::from(ip_bits / 8);
            let b = r.take(n).ok_or_else(|| length_error(RT, EXPECTED, len))?;
            ip_from(b)
        }
        _ => {
            return Err(EvpnError::Field {
                route_type: RT,
                field: "IP address length",
                value: u32::from(ip_bits),
            })
        }
    };
    let label1 = r.u24().ok_or_else(|| length_error(RT, EXPECTED, len))?;
    let label2 = match r.remaining() {
        0 => None,
        3 => r.u24(),
        _ => return Err(length_error(RT, EXPECTED, len)),
    };
    Ok(MacIpAdvertisement {
        rd: RouteDistinguisher::from_bytes(rd),
        esi: Esi(esi),
        ethernet_tag: tag,
        mac: MacAddr(mac),
        ip,
        label1,
        label2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rd_types_round_trip() {
        for b in [
            [0, 0, 0xfd, 0xe8, 0, 0, 0, 100],
            [0, 1, 10, 0, 0, 1, 0, 100],
            [0, 2, 0, 1, 0, 0, 0, 7],
            [0, 9, 1, 2, 3, 4, 5, 6],
        ] {
            assert_eq!(RouteDistinguisher::from_bytes(b).to_bytes(), b);
        }
        assert_eq!(
            RouteDistinguisher::from_bytes([0, 1, 10, 0, 0, 1, 0, 100]).to_string(),
            "10.0.0.1:100"
        );
    }

    #[test]
    fn esi_types_zero_to_five_have_typed_views() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        for v in [
            EsiValue::Arbitrary([1, 2, 3, 4, 5, 6, 7, 8, 9]),
            EsiValue::Lacp {
                system_mac: mac,
                port_key: 7,
            },
            EsiValue::Bridge {
                root_bridge_mac: mac,
                priority: 32768,
            },
            EsiValue::Mac {
                system_mac: mac,
                discriminator: 0x00ab_cdef,
            },
            EsiValue::RouterId {
                router_id: Ipv4Addr::new(10, 0, 0, 1),
                discriminator: 9,
            },
            EsiValue::As {
                asn: 4_200_000_000,
                discriminator: 3,
            },
            EsiValue::Unknown {
                esi_type: 6,
                value: [9; 9],
            },
        ] {
            assert_eq!(Esi::from(v).value(), v);
        }
        assert_eq!(
            Esi::from(EsiValue::As {
                asn: 1,
                discriminator: 2
            })
            .esi_type(),
            5
        );
    }

    #[test]
    fn truncated_and_bad_lengths_are_errors() {
        // Length octet says 33, only 3 octets follow.
        assert!(matches!(
            decode_evpn_nlri(&[2, 33, 0, 0, 0], false),
            Err(EvpnError::Truncated { .. })
        ));
        // Type 3 with length 16.
        assert!(matches!(
            decode_evpn_nlri(&[[3u8, 16].as_slice(), &[0; 16]].concat(), false),
            Err(EvpnError::Length { route_type: 3, .. })
        ));
        // Unknown type kept.
        let v = decode_evpn_nlri(&[9, 2, 0xaa, 0xbb], false).unwrap();
        assert_eq!(
            v[0].route,
            EvpnRoute::Unknown {
                route_type: 9,
                value: Bytes::from_static(&[0xaa, 0xbb])
            }
        );
    }

    #[test]
    fn label_wider_than_24_bits_is_refused() {
        let r = EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
            rd: RouteDistinguisher::As2 { asn: 1, number: 1 },
            esi: Esi::ZERO,
            ethernet_tag: 0,
            label: 1 << 24,
        });
        let mut out = BytesMut::new();
        assert!(matches!(
            r.emit_value(&mut out),
            Err(EncodeError::OutOfRange { bits: 24, .. })
        ));
    }
}
