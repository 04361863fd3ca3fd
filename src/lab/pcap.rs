//! A small reader of classic pcap files (what `tcpdump -U -w` writes) that
//! counts the VXLAN frames of an underlay capture by their inner frame:
//! ARP, IPv6 Neighbor Discovery, and broadcast/multicast (BUM).
//!
//! Layers walked: pcap record → Ethernet (LINKTYPE_ETHERNET, with 802.1Q
//! tags) or Linux cooked (SLL, SLL2) → IPv4 / IPv6 → UDP to the VXLAN port
//! (RFC 7348, 4789 unless told) → VXLAN header (8 bytes) → inner Ethernet.
//!
//! What it never does: panic or index out of bounds on a truncated or
//! malformed capture: every read is checked, a bad record is counted in
//! `malformed`, a truncated file ends the count (tcpdump stopped mid-record).

use std::collections::BTreeMap;

/// Counts of one capture (or a sum of several).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct VxlanCounts {
    /// Every VXLAN frame.
    pub frames: u64,
    /// Inner ARP frames (broadcast requests and unicast probes).
    pub arp: u64,
    /// Inner ICMPv6 Neighbor Discovery (RS, RA, NS, NA, redirect).
    pub nd: u64,
    /// Inner frames to a broadcast or multicast MAC.
    pub bum: u64,
    /// Records that could not be decoded down to VXLAN (not counted above).
    pub malformed: u64,
}

impl std::ops::AddAssign for VxlanCounts {
    fn add_assign(&mut self, o: VxlanCounts) {
        self.frames += o.frames;
        self.arp += o.arp;
        self.nd += o.nd;
        self.bum += o.bum;
        self.malformed += o.malformed;
    }
}

/// Why a capture could not be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PcapError {
    #[error("not a pcap file (magic {0:#010x}); pcapng is not read, use tcpdump -w")]
    Magic(u32),
    #[error("pcap header truncated ({0} bytes)")]
    Header(usize),
    #[error("link type {0} not supported (Ethernet 1, Linux SLL 113, SLL2 276)")]
    LinkType(u32),
}

const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Counts the VXLAN frames (UDP destination `vxlan_port`) of a capture,
/// per VNI and in total.
pub fn count_vxlan(
    data: &[u8],
    vxlan_port: u16,
) -> Result<(VxlanCounts, BTreeMap<u32, VxlanCounts>), PcapError> {
    let header = data.get(..24).ok_or(PcapError::Header(data.len()))?;
    let magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let big = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        m => return Err(PcapError::Magic(m)),
    };
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    };
    let link = u32_at(header, 20).ok_or(PcapError::Header(data.len()))? & 0x0fff_ffff;
    if ![LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2].contains(&link) {
        return Err(PcapError::LinkType(link));
    }
    let mut total = VxlanCounts::default();
    let mut per_vni: BTreeMap<u32, VxlanCounts> = BTreeMap::new();
    let mut at = 24usize;
    while let Some(rec) = data.get(at..at + 16) {
        let Some(incl) = u32_at(rec, 8).and_then(|n| usize::try_from(n).ok()) else {
            break;
        };
        let start = at + 16;
        let Some(pkt) = data.get(start..start.saturating_add(incl)) else {
            break; // truncated last record: tcpdump was stopped mid-write
        };
        at = start + incl;
        match decode(pkt, link, vxlan_port) {
            Some(Some((vni, c))) => {
                total += c;
                *per_vni.entry(vni).or_default() += c;
            }
            Some(None) => {} // not VXLAN (a BGP segment, ARP of the underlay)
            None => total.malformed += 1,
        }
    }
    Ok((total, per_vni))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// `None`: malformed; `Some(None)`: not VXLAN; `Some(Some(vni, counts))`.
fn decode(pkt: &[u8], link: u32, port: u16) -> Option<Option<(u32, VxlanCounts)>> {
    let (mut ethertype, mut off) = match link {
        LINKTYPE_ETHERNET => (be16(pkt, 12)?, 14),
        LINKTYPE_LINUX_SLL => (be16(pkt, 14)?, 16),
        _ => (be16(pkt, 0)?, 20),
    };
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = be16(pkt, off + 2)?;
        off += 4;
    }
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(pkt.get(off)? & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            // A later fragment has no UDP header.
            let frag = be16(pkt, off + 6)? & 0x1fff;
            if frag != 0 {
                return Some(None);
            }
            (*pkt.get(off + 9)?, off + ihl)
        }
        0x86dd => (*pkt.get(off + 6)?, off + 40),
        _ => return Some(None),
    };
    if proto != 17 || be16(pkt, l4 + 2)? != port {
        return Some(None);
    }
    let vx = l4 + 8;
    let flags = *pkt.get(vx)?;
    if flags & 0x08 == 0 {
        return None; // the I flag (valid VNI) must be set, RFC 7348 section 5
    }
    let v = pkt.get(vx + 4..vx + 7)?;
    let vni = u32::from(v[0]) << 16 | u32::from(v[1]) << 8 | u32::from(v[2]);
    let inner = pkt.get(vx + 8..)?;
    let mut c = VxlanCounts {
        frames: 1,
        ..Default::default()
    };
    if inner.first()? & 1 == 1 {
        c.bum = 1;
    }
    let mut et = be16(inner, 12)?;
    let mut ioff = 14;
    while et == 0x8100 {
        et = be16(inner, ioff + 2)?;
        ioff += 4;
    }
    match et {
        0x0806 => c.arp = 1,
        // Next header ICMPv6 directly (ND carries no extension headers),
        // types 133..=137 (RFC 4861).
        0x86dd if *inner.get(ioff + 6)? == 58 && (133..=137).contains(inner.get(ioff + 40)?) => {
            c.nd = 1
        }
        _ => {}
    }
    Some(Some((vni, c)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pcap file (little endian, Ethernet) holding `packets`.
    pub fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for p in packets {
            f.extend_from_slice(&[0; 8]);
            let n = u32::try_from(p.len()).unwrap_or(0);
            f.extend_from_slice(&n.to_le_bytes());
            f.extend_from_slice(&n.to_le_bytes());
            f.extend_from_slice(p);
        }
        f
    }

    /// Outer Ethernet/IPv4/UDP/VXLAN around `inner`.
    pub fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
        let mut p = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        let ip_len = u16::try_from(20 + 8 + 8 + inner.len()).unwrap_or(0);
        p.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        p[16..18].copy_from_slice(&ip_len.to_be_bytes());
        p.extend_from_slice(&[192, 168, 100, 1, 192, 168, 100, 2]);
        p.extend_from_slice(&[0x30, 0x39, 0x12, 0xb5, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x08, 0, 0, 0]);
        p.extend_from_slice(&vni.to_be_bytes()[1..]);
        p.push(0);
        p.extend_from_slice(inner);
        p
    }

    fn inner(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[0x02, 0x42, 0, 0, 0, 1]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn icmp6(t: u8) -> Vec<u8> {
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 8, 58, 255];
        ip6.extend_from_slice(&[0; 32]);
        ip6.extend_from_slice(&[t, 0, 0, 0, 0, 0, 0, 0]);
        ip6
    }

    #[test]
    fn counts_arp_nd_and_bum_by_inner_frame() {
        let bcast = [0xff; 6];
        let ucast = [0x02, 0x42, 0, 0, 0, 2];
        let nsmc = [0x33, 0x33, 0xff, 0, 0, 2];
        let packets = vec![
            vxlan(10, &inner(bcast, 0x0806, &[0; 28])), // broadcast ARP: arp + bum
            vxlan(10, &inner(ucast, 0x0806, &[0; 28])), // unicast ARP probe: arp only
            vxlan(20, &inner(nsmc, 0x86dd, &icmp6(135))), // multicast NS: nd + bum
            vxlan(20, &inner(ucast, 0x86dd, &icmp6(128))), // echo request: plain unicast
            vxlan(20, &inner(ucast, 0x0800, &[0x45; 20])),
        ];
        let (total, per_vni) = count_vxlan(&pcap(&packets), 4789).expect("pcap");
        assert_eq!(
            total,
            VxlanCounts {
                frames: 5,
                arp: 2,
                nd: 1,
                bum: 2,
                malformed: 0
            }
        );
        assert_eq!(per_vni.get(&10).map(|c| c.bum), Some(1));
        assert_eq!(per_vni.get(&20).map(|c| (c.frames, c.nd)), Some((3, 1)));
    }

    #[test]
    fn other_ports_and_truncation_are_not_counted_and_never_panic() {
        let mut other = vxlan(10, &inner([0xff; 6], 0x0806, &[0; 28]));
        other[36] = 0; // UDP destination port 4789 -> 0x00b5
        let good = vxlan(10, &inner([0xff; 6], 0x0806, &[0; 28]));
        let file = pcap(&[other, good.clone(), good[..30].to_vec()]);
        let (total, _) = count_vxlan(&file, 4789).expect("pcap");
        assert_eq!((total.frames, total.bum, total.malformed), (1, 1, 1));
        // Every prefix of the file: an error or a count, never a panic.
        for n in 0..file.len() {
            let _ = count_vxlan(&file[..n], 4789);
        }
        assert_eq!(
            count_vxlan(b"\x0a\x0d\x0d\x0a", 4789),
            Err(PcapError::Header(4))
        );
    }
}
