//! ARP (RFC 826) and IPv6 Neighbor Discovery (RFC 4861) on Ethernet frames:
//! parsing for snooping, and a pure proxy responder.
//!
//! [`snoop`] extracts the sender's IP-to-MAC binding from ARP requests,
//! replies and gratuitous ARP, and from NS/NA with a link-layer address
//! option. [`respond`] builds the ARP reply or Neighbor Advertisement that
//! answers a request for an address the control plane knows (a `lookup`
//! closure), exactly as the kernel bridge does with `neigh_suppress`: it
//! never answers duplicate-address probes (sender 0.0.0.0 or ::) nor
//! gratuitous announcements, and never answers for unknown addresses.
//!
//! No I/O, no allocation beyond the reply, no panic on any input: every
//! read is bounds-checked. Frames with an 802.1Q tag are ignored (plane's
//! bridges do not filter VLANs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::Mac;

const ETH_HLEN: usize = 14;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPV6_HLEN: usize = 40;
const NEXT_HEADER_ICMPV6: u8 = 58;
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;
/// ND option types (RFC 4861 §4.6.1).
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn mac_at(b: &[u8], at: usize) -> Option<Mac> {
    Mac::from_slice(b.get(at..at + 6)?)
}

fn v4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(s))
}

fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

/// An ARP packet for Ethernet/IPv4 (RFC 826).
///
/// ```text
///  0      2      4    5    6      8          14         18         24         28
///  | HTYPE| PTYPE|HLEN|PLEN| OPER | SHA (6)  | SPA (4)  | THA (6)  | TPA (4)  |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sha: Mac,
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

impl Arp {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
    const LEN: usize = 28;

    /// Parses the ARP payload of an Ethernet frame (after the header).
    pub fn parse(p: &[u8]) -> Option<Arp> {
        // Ethernet (1), IPv4 (0x0800), 6-byte hardware, 4-byte protocol.
        if be16(p, 0)? != 1 || be16(p, 2)? != 0x0800 || *p.get(4)? != 6 || *p.get(5)? != 4 {
            return None;
        }
        Some(Arp {
            op: be16(p, 6)?,
            sha: mac_at(p, 8)?,
            spa: v4_at(p, 14)?,
            tha: mac_at(p, 18)?,
            tpa: v4_at(p, 24)?,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        out.extend_from_slice(&self.op.to_be_bytes());
        out.extend_from_slice(&self.sha.octets());
        out.extend_from_slice(&self.spa.octets());
        out.extend_from_slice(&self.tha.octets());
        out.extend_from_slice(&self.tpa.octets());
    }
}

/// An NS or NA (RFC 4861 §4.3, §4.4) with the fields plane uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nd {
    pub icmp_type: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub target: Ipv6Addr,
    /// Source (NS) or target (NA) link-layer address option.
    pub lla: Option<Mac>,
}

impl Nd {
    /// Parses the IPv6 payload of an Ethernet frame when it is an NS or NA.
    pub fn parse(p: &[u8]) -> Option<Nd> {
        if *p.first()? >> 4 != 6 || *p.get(6)? != NEXT_HEADER_ICMPV6 {
            return None;
        }
        // RFC 4861 §7.1.1: hop limit 255, else not from the link.
        if *p.get(7)? != 255 {
            return None;
        }
        let plen = usize::from(be16(p, 4)?);
        let icmp = p.get(IPV6_HLEN..IPV6_HLEN + plen)?;
        let icmp_type = *icmp.first()?;
        if (icmp_type != ICMPV6_NS && icmp_type != ICMPV6_NA) || *icmp.get(1)? != 0 {
            return None;
        }
        let target = v6_at(icmp, 8)?;
        let want = if icmp_type == ICMPV6_NS {
            OPT_SOURCE_LLA
        } else {
            OPT_TARGET_LLA
        };
        let mut lla = None;
        let mut off = 24;
        while let (Some(&t), Some(&l)) = (icmp.get(off), icmp.get(off + 1)) {
            let len = usize::from(l) * 8;
            if len == 0 {
                return None; // RFC 4861 §4.6: length 0 is invalid.
            }
            if t == want && len == 8 {
                lla = mac_at(icmp, off + 2);
            }
            off += len;
        }
        Some(Nd {
            icmp_type,
            src: v6_at(p, 8)?,
            dst: v6_at(p, 24)?,
            target,
            lla,
        })
    }
}

/// A frame's ARP or ND content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    Arp { eth_src: Mac, arp: Arp },
    Nd { eth_src: Mac, nd: Nd },
}

/// Parses an Ethernet frame; `None` unless it is ARP or NS/NA.
pub fn parse(frame: &[u8]) -> Option<Packet> {
    let eth_src = mac_at(frame, 6)?;
    let payload = frame.get(ETH_HLEN..)?;
    match be16(frame, 12)? {
        ETHERTYPE_ARP => Some(Packet::Arp {
            eth_src,
            arp: Arp::parse(payload)?,
        }),
        ETHERTYPE_IPV6 => Some(Packet::Nd {
            eth_src,
            nd: Nd::parse(payload)?,
        }),
        _ => None,
    }
}

/// The sender's IP-to-MAC binding carried by an ARP or ND frame, if any.
pub fn snoop(frame: &[u8]) -> Option<(IpAddr, Mac)> {
    match parse(frame)? {
        Packet::Arp { arp, .. } => {
            (!arp.spa.is_unspecified() && !arp.sha.is_multicast() && arp.sha != Mac::ZERO)
                .then_some((IpAddr::V4(arp.spa), arp.sha))
        }
        Packet::Nd { nd, .. } => {
            let mac = nd.lla.filter(|m| !m.is_multicast() && *m != Mac::ZERO)?;
            if nd.icmp_type == ICMPV6_NS {
                (!nd.src.is_unspecified()).then_some((IpAddr::V6(nd.src), mac))
            } else {
                Some((IpAddr::V6(nd.target), mac))
            }
        }
    }
}

/// The reply to an ARP request or NS for an address `lookup` knows, as a
/// complete Ethernet frame; `None` for anything else.
pub fn respond(frame: &[u8], lookup: impl Fn(IpAddr) -> Option<Mac>) -> Option<Vec<u8>> {
    match parse(frame)? {
        Packet::Arp { eth_src, arp } => {
            // Probes (sender 0.0.0.0) and gratuitous ARP get no answer.
            if arp.op != Arp::REQUEST || arp.spa.is_unspecified() || arp.spa == arp.tpa {
                return None;
            }
            let mac = lookup(IpAddr::V4(arp.tpa))?;
            let mut out = Vec::with_capacity(ETH_HLEN + Arp::LEN);
            out.extend_from_slice(&eth_src.octets());
            out.extend_from_slice(&mac.octets());
            out.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
            Arp {
                op: Arp::REPLY,
                sha: mac,
                spa: arp.tpa,
                tha: arp.sha,
                tpa: arp.spa,
            }
            .emit(&mut out);
            Some(out)
        }
        Packet::Nd { eth_src, nd } => {
            // DAD (source ::) gets no answer, as with the kernel bridge.
            if nd.icmp_type != ICMPV6_NS || nd.src.is_unspecified() || nd.target.is_multicast() {
                return None;
            }
            let mac = lookup(IpAddr::V6(nd.target))?;
            let dst_mac = nd.lla.unwrap_or(eth_src);
            Some(neighbor_advertisement(mac, dst_mac, nd.target, nd.src))
        }
    }
}

/// An NA (RFC 4861 §4.4) from `target`/`mac` to `dst`/`dst_mac`: solicited,
/// override, with the target link-layer address option.
fn neighbor_advertisement(mac: Mac, dst_mac: Mac, target: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[ICMPV6_NA, 0, 0, 0]);
    // R=0, S=1, O=1.
    icmp.extend_from_slice(&[0x60, 0, 0, 0]);
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[OPT_TARGET_LLA, 1]);
    icmp.extend_from_slice(&mac.octets());
    let sum = icmpv6_checksum(&target, &dst, &icmp);
    if let Some(c) = icmp.get_mut(2..4) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    let mut out = Vec::with_capacity(ETH_HLEN + IPV6_HLEN + icmp.len());
    out.extend_from_slice(&dst_mac.octets());
    out.extend_from_slice(&mac.octets());
    out.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    // 32 bytes of ICMPv6: fits u16.
    out.extend_from_slice(&32u16.to_be_bytes());
    out.extend_from_slice(&[NEXT_HEADER_ICMPV6, 255]);
    out.extend_from_slice(&target.octets());
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(&icmp);
    out
}

/// RFC 4443 §2.3 checksum over the IPv6 pseudo-header and the message.
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let hi = u32::from(*c.first().unwrap_or(&0));
            let lo = u32::from(*c.get(1).unwrap_or(&0));
            sum = sum.wrapping_add((hi << 8) | lo);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    add(&len.to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(msg);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop above folded the carries: sum fits in 16 bits.
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: Mac = Mac([2, 0, 0, 0, 0, 1]);
    const C2: Mac = Mac([2, 0, 0, 0, 0, 2]);

    /// `arping -I eth0 10.0.0.2` from 02:00:00:00:00:01 / 10.0.0.1 (the
    /// layout of a capture of that command in the kernel tests' topology).
    fn arp_request() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&C1.octets());
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&C1.octets());
        f.extend_from_slice(&[10, 0, 0, 1]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[10, 0, 0, 2]);
        f
    }

    /// An NS from fd00:10::1 for fd00:10::2 to its solicited-node address,
    /// with the source link-layer option, as Linux sends it.
    fn ns() -> Vec<u8> {
        let src: Ipv6Addr = "fd00:10::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let target: Ipv6Addr = "fd00:10::2".parse().unwrap();
        let mut icmp = vec![ICMPV6_NS, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&target.octets());
        icmp.extend_from_slice(&[1, 1]);
        icmp.extend_from_slice(&C1.octets());
        let sum = icmpv6_checksum(&src, &dst, &icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut f = vec![0x33, 0x33, 0xff, 0, 0, 2];
        f.extend_from_slice(&C1.octets());
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(&icmp);
        f
    }

    fn known(ip: IpAddr) -> Option<Mac> {
        match ip.to_string().as_str() {
            "10.0.0.2" | "fd00:10::2" => Some(C2),
            _ => None,
        }
    }

    #[test]
    fn arp_reply_for_known_binding() {
        let r = respond(&arp_request(), known).expect("reply");
        let mut want = C1.octets().to_vec();
        want.extend_from_slice(&C2.octets());
        want.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        want.extend_from_slice(&C2.octets());
        want.extend_from_slice(&[10, 0, 0, 2]);
        want.extend_from_slice(&C1.octets());
        want.extend_from_slice(&[10, 0, 0, 1]);
        assert_eq!(r, want);
        assert_eq!(
            snoop(&arp_request()),
            Some(("10.0.0.1".parse().unwrap(), C1))
        );
        assert_eq!(snoop(&r), Some(("10.0.0.2".parse().unwrap(), C2)));
    }

    #[test]
    fn no_reply_for_unknown_probe_or_gratuitous() {
        assert_eq!(respond(&arp_request(), |_| None), None);
        let mut probe = arp_request();
        probe[28..32].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(respond(&probe, known), None);
        assert_eq!(snoop(&probe), None);
        let mut garp = arp_request();
        garp[38..42].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(respond(&garp, |_| Some(C2)), None);
        assert_eq!(snoop(&garp), Some(("10.0.0.1".parse().unwrap(), C1)));
    }

    #[test]
    fn na_for_known_binding_has_valid_checksum() {
        let r = respond(&ns(), known).expect("NA");
        let Some(Packet::Nd { eth_src, nd }) = parse(&r) else {
            panic!("not ND: {r:?}")
        };
        assert_eq!(eth_src, C2);
        assert_eq!(&r[0..6], &C1.octets());
        assert_eq!(nd.icmp_type, ICMPV6_NA);
        assert_eq!(nd.target, "fd00:10::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(nd.dst, "fd00:10::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(nd.lla, Some(C2));
        // A correct checksum sums to zero over pseudo-header and message.
        assert_eq!(icmpv6_checksum(&nd.src, &nd.dst, &r[54..]), 0);
        assert_eq!(snoop(&ns()), Some(("fd00:10::1".parse().unwrap(), C1)));
        assert_eq!(snoop(&r), Some(("fd00:10::2".parse().unwrap(), C2)));
    }

    #[test]
    fn no_na_for_dad_or_unknown() {
        assert_eq!(respond(&ns(), |_| None), None);
        let mut dad = ns();
        dad[22..38].copy_from_slice(&[0; 16]);
        assert_eq!(respond(&dad, known), None);
        let mut bad_hops = ns();
        bad_hops[21] = 64;
        assert_eq!(respond(&bad_hops, known), None);
    }

    #[test]
    fn truncated_frames_are_ignored() {
        let a = arp_request();
        let n = ns();
        for i in 0..a.len() {
            assert_eq!(respond(&a[..i], known), None, "arp cut at {i}");
        }
        for i in 0..n.len() {
            let _ = respond(&n[..i], known);
            let _ = snoop(&n[..i]);
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// No panic on any input, and a reply only ever carries a
            /// known binding.
            #[test]
            fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = snoop(&bytes);
                if let Some(r) = respond(&bytes, |_| Some(C2)) {
                    prop_assert_eq!(&r[6..12], &C2.octets()[..]);
                }
            }

            /// Mutations of valid requests never panic either.
            #[test]
            fn mutated_requests(at in 0usize..86, v in any::<u8>()) {
                for mut f in [arp_request(), ns()] {
                    if let Some(b) = f.get_mut(at) { *b = v; }
                    let _ = respond(&f, known);
                    let _ = snoop(&f);
                }
            }
        }
    }
}
