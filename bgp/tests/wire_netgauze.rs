//! Differential test: an independent decoder, netgauze-bgp-pkt 0.13, reads
//! the UPDATEs plane encodes for generated type-2 and type-3 routes and
//! agrees on RD, ESI, Ethernet tag, MAC, IP, the 24-bit label (VNI) and the
//! route targets.
//!
//! netgauze models the label as an MPLS label with a bottom-of-stack bit;
//! with VXLAN the whole 24 bits are the VNI (RFC 8365), so the raw 3 octets
//! are compared.

use netgauze_bgp_pkt::community::{
    ExtendedCommunity as NgExt, TransitiveFourOctetExtendedCommunity,
    TransitiveIpv4ExtendedCommunity, TransitiveTwoOctetExtendedCommunity,
};
use netgauze_bgp_pkt::nlri::{L2EvpnAddress, L2EvpnRoute, RouteDistinguisher as NgRd};
use netgauze_bgp_pkt::path_attribute::{
    MpReach as NgMpReach, MpUnreach as NgMpUnreach, PathAttributeValue,
};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use plane_bgp::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    prop_oneof![
        (any::<u16>(), any::<u32>())
            .prop_map(|(asn, number)| RouteDistinguisher::As2 { asn, number }),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, number)| RouteDistinguisher::Ipv4 {
            addr: Ipv4Addr::from(a),
            number
        }),
        (any::<u32>(), any::<u16>())
            .prop_map(|(asn, number)| RouteDistinguisher::As4 { asn, number }),
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

fn route() -> impl Strategy<Value = EvpnRoute> {
    let label = 0u32..=0x00ff_ffff;
    prop_oneof![
        (
            rd(),
            any::<[u8; 10]>(),
            any::<u32>(),
            any::<[u8; 6]>(),
            prop::option::of(ip()),
            label.clone(),
            prop::option::of(label)
        )
            .prop_map(|(rd, esi, ethernet_tag, mac, ip, label1, label2)| {
                EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
                    rd,
                    esi: Esi(esi),
                    ethernet_tag,
                    mac: MacAddr(mac),
                    ip,
                    label1,
                    label2,
                })
            }),
        (rd(), any::<u32>(), ip()).prop_map(|(rd, ethernet_tag, originator)| {
            EvpnRoute::InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag {
                rd,
                ethernet_tag,
                originator,
            })
        }),
    ]
}

fn route_target() -> impl Strategy<Value = RouteTarget> {
    prop_oneof![
        (any::<u16>(), any::<u32>()).prop_map(|(asn, value)| RouteTarget::As2 { asn, value }),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, value)| RouteTarget::Ipv4 {
            addr: a.into(),
            value
        }),
        (any::<u32>(), any::<u16>()).prop_map(|(asn, value)| RouteTarget::As4 { asn, value }),
    ]
}

fn ng_rd(rd: NgRd) -> RouteDistinguisher {
    match rd {
        NgRd::As2Administrator { asn2, number } => RouteDistinguisher::As2 { asn: asn2, number },
        NgRd::Ipv4Administrator { ip, number } => RouteDistinguisher::Ipv4 { addr: ip, number },
        NgRd::As4Administrator { asn4, number } => RouteDistinguisher::As4 { asn: asn4, number },
        NgRd::LeafAdRoutes => panic!("netgauze read a leaf A-D RD"),
    }
}

fn label_bytes(l: u32) -> [u8; 3] {
    let [_, a, b, c] = l.to_be_bytes();
    [a, b, c]
}

/// The route as netgauze read it, in plane's terms.
fn from_netgauze(a: &L2EvpnAddress) -> EvpnRoute {
    let raw = |l: &[u8; 3]| u32::from_be_bytes([0, l[0], l[1], l[2]]);
    match a.route() {
        L2EvpnRoute::MacIpAdvertisement(m) => EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
            rd: ng_rd(m.rd()),
            esi: Esi(*m.segment_id().value()),
            ethernet_tag: m.tag().value(),
            mac: MacAddr(*m.mac().value()),
            ip: m.ip(),
            label1: raw(m.mpls_label1().value()),
            label2: m.mpls_label2().map(|l| raw(l.value())),
        }),
        L2EvpnRoute::InclusiveMulticastEthernetTagRoute(r) => {
            EvpnRoute::InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag {
                rd: ng_rd(r.rd()),
                ethernet_tag: r.tag().value(),
                originator: r.ip(),
            })
        }
        other => panic!("netgauze read another route type: {other:?}"),
    }
}

fn ng_route_targets(v: &PathAttributeValue) -> Option<Vec<RouteTarget>> {
    let PathAttributeValue::ExtendedCommunities(c) = v else {
        return None;
    };
    Some(
        c.communities()
            .iter()
            .filter_map(|c| match c {
                NgExt::TransitiveTwoOctet(TransitiveTwoOctetExtendedCommunity::RouteTarget {
                    global_admin,
                    local_admin,
                }) => Some(RouteTarget::As2 {
                    asn: *global_admin,
                    value: *local_admin,
                }),
                NgExt::TransitiveIpv4(TransitiveIpv4ExtendedCommunity::RouteTarget {
                    global_admin,
                    local_admin,
                }) => Some(RouteTarget::Ipv4 {
                    addr: *global_admin,
                    value: *local_admin,
                }),
                NgExt::TransitiveFourOctet(TransitiveFourOctetExtendedCommunity::RouteTarget {
                    global_admin,
                    local_admin,
                }) => Some(RouteTarget::As4 {
                    asn: *global_admin,
                    value: *local_admin,
                }),
                _ => None,
            })
            .collect(),
    )
}

fn netgauze_parse(b: &[u8]) -> BgpMessage {
    let mut ctx = BgpParsingContext::default();
    let mut cur = SliceReader::new(b);
    BgpMessage::parse(&mut cur, &mut ctx)
        .unwrap_or_else(|e| panic!("netgauze refused {b:02x?}: {e:?}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn netgauze_reads_what_plane_encodes(
        routes in vec(route(), 1..60),
        rts in vec(route_target(), 1..4),
        vtep in ip(),
        max in prop_oneof![Just(MAX_MESSAGE_LEN), Just(MAX_EXTENDED_MESSAGE_LEN)],
    ) {
        let params = SessionParams { max_message_len: max, ..SessionParams::default() };
        let mut ext: Vec<_> = rts.iter().map(|rt| ExtendedCommunity::RouteTarget(*rt)).collect();
        ext.push(ExtendedCommunity::Encapsulation { tunnel_type: TUNNEL_TYPE_VXLAN });
        let attrs = [
            PathAttribute::from(AttrValue::Origin(Origin::Igp)),
            PathAttribute::from(AttrValue::AsPath(AsPath {
                segments: vec![AsSegment { kind: AsSegmentType::AsSequence, asns: vec![65000].into() }].into(),
            })),
            PathAttribute::from(AttrValue::ExtendedCommunities(ext.into())),
        ];
        let nlri: Vec<_> = routes.iter().cloned().map(|route| EvpnNlri { path_id: None, route }).collect();
        let msgs = encode_evpn_reach(&attrs, &MpNextHop::from(vtep), &nlri, &params).expect("packs");
        let mut seen = Vec::new();
        for m in &msgs {
            let BgpMessage::Update(u) = netgauze_parse(m) else {
                return Err(TestCaseError::fail("not an UPDATE"));
            };
            let mut got_rts = None;
            for a in u.path_attributes() {
                if let PathAttributeValue::MpReach(NgMpReach::L2Evpn { next_hop, nlri }) = a.value() {
                    prop_assert_eq!(*next_hop, vtep);
                    seen.extend(nlri.iter().map(from_netgauze));
                }
                if let Some(r) = ng_route_targets(a.value()) {
                    got_rts = Some(r);
                }
            }
            prop_assert_eq!(got_rts.as_ref(), Some(&rts));
        }
        prop_assert_eq!(&seen, &routes);
        // The raw label octets, as netgauze holds them, are plane's VNI.
        for (r, n) in routes.iter().zip(&seen) {
            if let (EvpnRoute::MacIpAdvertisement(a), EvpnRoute::MacIpAdvertisement(b)) = (r, n) {
                prop_assert_eq!(label_bytes(a.label1), label_bytes(b.label1));
            }
        }

        // Withdrawals too.
        let msgs = encode_evpn_unreach(&nlri, &params).expect("packs");
        let mut withdrawn = Vec::new();
        for m in &msgs {
            let BgpMessage::Update(u) = netgauze_parse(m) else {
                return Err(TestCaseError::fail("not an UPDATE"));
            };
            for a in u.path_attributes() {
                if let PathAttributeValue::MpUnreach(NgMpUnreach::L2Evpn { nlri }) = a.value() {
                    withdrawn.extend(nlri.iter().map(from_netgauze));
                }
            }
        }
        prop_assert_eq!(&withdrawn, &routes);
    }
}

/// The captured GoBGP type-2 UPDATE (tests/vectors/gobgp-evpn.messages.jsonl
/// message 6), as plane re-encodes it, reads in netgauze with label octets
/// 00 00 64: VNI 100 (netgauze's MPLS view would say label 6).
#[test]
fn netgauze_reads_the_vni_octets_of_a_gobgp_route() {
    let rd = RouteDistinguisher::Ipv4 {
        addr: Ipv4Addr::new(10, 0, 0, 1),
        number: 100,
    };
    let route = EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddr([2, 0, 0, 0, 1, 1]),
        ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 100, 11))),
        label1: 100,
        label2: None,
    });
    let attrs = [
        PathAttribute::from(AttrValue::Origin(Origin::Incomplete)),
        PathAttribute::from(AttrValue::AsPath(AsPath::default())),
    ];
    let nh = MpNextHop::V4(Ipv4Addr::new(10, 0, 0, 1));
    let msgs = encode_evpn_reach(
        &attrs,
        &nh,
        &[EvpnNlri {
            path_id: None,
            route,
        }],
        &SessionParams::default(),
    )
    .unwrap();
    let BgpMessage::Update(u) = netgauze_parse(&msgs[0]) else {
        panic!()
    };
    let label = u
        .path_attributes()
        .iter()
        .find_map(|a| match a.value() {
            PathAttributeValue::MpReach(NgMpReach::L2Evpn { nlri, .. }) => match nlri[0].route() {
                L2EvpnRoute::MacIpAdvertisement(m) => Some(*m.mpls_label1().value()),
                _ => None,
            },
            _ => None,
        })
        .expect("type-2 route");
    assert_eq!(label, [0, 0, 0x64]);
}
