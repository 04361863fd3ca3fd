//! Decoding real GoBGP 3.10.0 and FRR 8.4.4 EVPN sessions (bytes in
//! tests/vectors/*.messages.jsonl, see tests/vectors/README.md for their
//! provenance), checked against the values tshark and ExaBGP decoded from
//! the same captures, and re-encoded to the same bytes.

use bytes::BytesMut;
use plane_bgp::wire::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

struct Vector {
    i: u64,
    bytes: Vec<u8>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex in test vector"))
        .collect()
}

fn load(jsonl: &str) -> Vec<Vector> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            Vector {
                i: v["i"].as_u64().expect("i"),
                bytes: hex(v["hex"].as_str().expect("hex")),
            }
        })
        .collect()
}

fn gobgp() -> Vec<Vector> {
    load(include_str!("vectors/gobgp-evpn.messages.jsonl"))
}

fn frr() -> Vec<Vector> {
    load(include_str!("vectors/frr-evpn.messages.jsonl"))
}

fn msg(v: &[Vector], i: u64) -> Message {
    let b = &v.iter().find(|x| x.i == i).expect("message number").bytes;
    decode_message(b, &SessionParams::default()).expect("decodes")
}

fn update(v: &[Vector], i: u64) -> Update {
    match msg(v, i) {
        Message::Update(u) => u,
        m => panic!("message {i} is not an UPDATE: {m:?}"),
    }
}

fn reach(u: &Update) -> &MpReach {
    u.attributes
        .iter()
        .find_map(|a| match &a.value {
            AttrValue::MpReachNlri(m) => Some(m),
            _ => None,
        })
        .expect("MP_REACH_NLRI")
}

fn evpn(nlri: &MpNlri) -> &[EvpnNlri] {
    match nlri {
        MpNlri::Evpn(v) => v,
        other => panic!("not EVPN: {other:?}"),
    }
}

fn mac(s: &str) -> MacAddr {
    s.parse().expect("MAC")
}

fn type2(r: &EvpnNlri) -> &MacIpAdvertisement {
    match &r.route {
        EvpnRoute::MacIpAdvertisement(m) => m,
        other => panic!("not type 2: {other:?}"),
    }
}

/// Every captured message frames (and only once it is whole), decodes, and
/// re-encodes to the same bytes: FRR's OPEN (one capability per parameter)
/// and GoBGP's (all capabilities in one parameter) included.
#[test]
fn every_captured_message_frames_decodes_and_reencodes() {
    let params = SessionParams::default();
    for (name, vectors) in [("gobgp", gobgp()), ("frr", frr())] {
        assert!(!vectors.is_empty());
        for v in &vectors {
            let b = &v.bytes;
            for cut in 0..b.len() {
                assert_eq!(
                    frame(&b[..cut], MAX_MESSAGE_LEN),
                    Ok(None),
                    "{name} {} cut {cut}",
                    v.i
                );
            }
            assert_eq!(frame(b, MAX_MESSAGE_LEN), Ok(Some(b.len())));
            let m = decode_message(b, &params).unwrap_or_else(|e| panic!("{name} {}: {e}", v.i));
            let mut out = BytesMut::new();
            encode_message(&m, &params, &mut out).expect("encodes");
            assert_eq!(&out[..], &b[..], "{name} message {} re-encodes", v.i);
        }
    }
}

#[test]
fn frr_open_capabilities() {
    let Message::Open(o) = msg(&gobgp(), 3) else {
        panic!("OPEN expected")
    };
    assert_eq!(
        (o.my_as, o.hold_time, o.bgp_id),
        (65001, 180, Ipv4Addr::new(10, 0, 0, 2))
    );
    assert_eq!(o.asn(), 65001);
    assert_eq!(o.capability_params, CapabilityParams::PerCapability);
    let c = &o.capabilities;
    assert!(c.contains(&Capability::Multiprotocol { afi: 25, safi: 70 }));
    assert!(c.contains(&Capability::RouteRefresh));
    assert!(c.contains(&Capability::EnhancedRouteRefresh));
    assert!(c.contains(&Capability::ExtendedMessage));
    assert!(c.contains(&Capability::FourOctetAs(65001)));
    assert!(c.contains(&Capability::AddPath(vec![AddPathFamily {
        afi: 25,
        safi: 70,
        send_receive: 1
    }])));
    // tshark: restart flags 0xc (restart state, graceful notification), time 120.
    assert!(c.contains(&Capability::GracefulRestart(GracefulRestart {
        restarting: true,
        notification: true,
        restart_time: 120,
        families: vec![],
    })));
    // Old Cisco route refresh (128), FQDN (73) and LLGR (71) are kept.
    for code in [128, 73, 71] {
        assert!(c
            .iter()
            .any(|x| matches!(x, Capability::Unknown { code: k, .. } if *k == code)));
    }
}

#[test]
fn gobgp_open_capabilities_in_one_parameter() {
    let Message::Open(o) = msg(&gobgp(), 2) else {
        panic!("OPEN expected")
    };
    assert_eq!((o.asn(), o.hold_time), (65000, 90));
    assert_eq!(o.capability_params, CapabilityParams::Single);
    assert_eq!(o.capabilities.len(), 5);
    assert_eq!(o.capabilities[0], Capability::RouteRefresh);
    assert_eq!(
        o.capabilities[2],
        Capability::Multiprotocol { afi: 25, safi: 70 }
    );
    // Extended next hop (5) is kept as sent.
    assert_eq!(
        o.capabilities[4],
        Capability::Unknown {
            code: 5,
            value: bytes::Bytes::from_static(&[0, 0x19, 0, 0x46, 0, 2])
        }
    );
}

/// GoBGP message 6: type-2 MAC 02:00:00:00:01:01 IPv4 192.168.100.11.
#[test]
fn gobgp_type2_mac_ipv4() {
    let u = update(&gobgp(), 6);
    assert_eq!(
        u.attribute(type_code::ORIGIN),
        Some(&AttrValue::Origin(Origin::Incomplete))
    );
    assert_eq!(
        u.attribute(type_code::AS_PATH),
        Some(&AttrValue::AsPath(AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentType::AsSequence,
                asns: vec![65000].into()
            }]
            .into()
        }))
    );
    assert_eq!(
        u.attribute(type_code::EXTENDED_COMMUNITIES),
        Some(&AttrValue::ExtendedCommunities(
            vec![
                ExtendedCommunity::RouteTarget(RouteTarget::As2 {
                    asn: 65000,
                    value: 100
                }),
                ExtendedCommunity::Encapsulation {
                    tunnel_type: TUNNEL_TYPE_VXLAN
                },
            ]
            .into()
        ))
    );
    let m = reach(&u);
    assert_eq!((m.afi, m.safi), (25, 70));
    assert_eq!(m.next_hop, MpNextHop::V4(Ipv4Addr::new(10, 0, 0, 1)));
    let r = evpn(&m.nlri);
    assert_eq!(r.len(), 1);
    assert_eq!(
        *type2(&r[0]),
        MacIpAdvertisement {
            rd: RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                number: 100
            },
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: mac("02:00:00:00:01:01"),
            ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 100, 11))),
            label1: 100,
            label2: None,
        }
    );
    assert_eq!(type2(&r[0]).vni(), 100);
}

/// GoBGP messages 7 and 8: MAC-only (IP length 0) and IPv6.
#[test]
fn gobgp_type2_mac_only_and_ipv6() {
    let v = gobgp();
    let u7 = update(&v, 7);
    let r7 = type2(&evpn(&reach(&u7).nlri)[0]).clone();
    assert_eq!(
        (r7.mac, r7.ip, r7.label1),
        (mac("02:00:00:00:01:02"), None, 100)
    );
    let u8 = update(&v, 8);
    let r8 = type2(&evpn(&reach(&u8).nlri)[0]).clone();
    assert_eq!(r8.mac, mac("02:00:00:00:01:03"));
    assert_eq!(
        r8.ip,
        Some(IpAddr::V6("fd00:100::13".parse::<Ipv6Addr>().unwrap()))
    );
}

/// GoBGP message 9: type 3 with PMSI tunnel ingress replication.
#[test]
fn gobgp_type3_with_pmsi_tunnel() {
    let u = update(&gobgp(), 9);
    let r = evpn(&reach(&u).nlri);
    assert_eq!(
        r[0].route,
        EvpnRoute::InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag {
            rd: RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                number: 100
            },
            ethernet_tag: 0,
            originator: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        })
    );
    assert_eq!(
        u.attribute(type_code::PMSI_TUNNEL),
        Some(&AttrValue::PmsiTunnel(PmsiTunnel {
            flags: 0,
            tunnel_type: PMSI_INGRESS_REPLICATION,
            label: 100,
            tunnel_id: PmsiTunnelId::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        }))
    );
}

/// FRR message 10 of the GoBGP capture: three type-2 routes packed in one
/// MP_REACH_NLRI with the Extended Length flag, AS_PATH [65001 65000].
#[test]
fn frr_readvertisement_packs_three_routes_with_extended_length() {
    let u = update(&gobgp(), 10);
    assert_eq!(
        u.attributes[0].flags,
        flags::OPTIONAL | flags::EXTENDED_LENGTH
    );
    let r = evpn(&reach(&u).nlri);
    let macs: Vec<_> = r.iter().map(|n| type2(n).mac.to_string()).collect();
    assert_eq!(
        macs,
        [
            "02:00:00:00:01:01",
            "02:00:00:00:01:03",
            "02:00:00:00:01:02"
        ]
    );
    assert_eq!(
        u.attribute(type_code::AS_PATH),
        Some(&AttrValue::AsPath(AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentType::AsSequence,
                asns: vec![65001, 65000].into()
            }]
            .into()
        }))
    );
}

/// Withdrawals: GoBGP (message 12, flags 0x80, label 100) and FRR (message
/// 13, flags 0x90, label 0) name the same route key.
#[test]
fn withdrawals_from_both_carry_the_route_key() {
    let v = gobgp();
    let key = |u: &Update| {
        let m = u
            .attributes
            .iter()
            .find_map(|a| match &a.value {
                AttrValue::MpUnreachNlri(m) => Some(m.clone()),
                _ => None,
            })
            .expect("MP_UNREACH_NLRI");
        let r = type2(&evpn(&m.nlri)[0]).clone();
        (r.rd, r.ethernet_tag, r.mac, r.ip, r.label1)
    };
    let (g, f) = (key(&update(&v, 12)), key(&update(&v, 13)));
    assert_eq!((g.0, g.1, g.2, g.3), (f.0, f.1, f.2, f.3));
    assert_eq!((g.4, f.4), (100, 0));
    assert_eq!(g.3, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 100, 11))));
}

/// FRR capture message 5: five type-2 routes, RD 10.0.0.2:2, with and
/// without IP, IPv4 and IPv6 in one MP_REACH_NLRI (ExaBGP decode).
#[test]
fn frr_five_routes_in_one_update() {
    let u = update(&frr(), 5);
    assert_eq!(
        u.attribute(type_code::ORIGIN),
        Some(&AttrValue::Origin(Origin::Igp))
    );
    let m = reach(&u);
    assert_eq!(m.next_hop, MpNextHop::V4(Ipv4Addr::new(10, 0, 0, 2)));
    let got: Vec<_> = evpn(&m.nlri)
        .iter()
        .map(|n| {
            let r = type2(n);
            assert_eq!(r.rd.to_string(), "10.0.0.2:2");
            assert_eq!((r.esi, r.ethernet_tag, r.vni()), (Esi::ZERO, 0, 100));
            (r.mac.to_string(), r.ip.map(|ip| ip.to_string()))
        })
        .collect();
    let s = |m: &str, ip: Option<&str>| (m.to_string(), ip.map(str::to_string));
    assert_eq!(
        got,
        [
            s("02:00:00:00:02:01", None),
            s("02:00:00:00:02:03", Some("fd00:100::23")),
            s("02:00:00:00:02:03", None),
            s("02:00:00:00:02:02", None),
            s("02:00:00:00:02:01", Some("192.168.100.21")),
        ]
    );
    assert_eq!(
        u.attribute(type_code::EXTENDED_COMMUNITIES),
        Some(&AttrValue::ExtendedCommunities(
            vec![
                ExtendedCommunity::Encapsulation {
                    tunnel_type: TUNNEL_TYPE_VXLAN
                },
                ExtendedCommunity::RouteTarget(RouteTarget::As2 {
                    asn: 65001,
                    value: 100
                }),
            ]
            .into()
        ))
    );
}

/// Re-packing FRR's five routes with plane's encoder gives one UPDATE
/// that decodes to the same routes and attributes.
#[test]
fn repacking_frr_routes_gives_one_update_with_the_same_routes() {
    let u = update(&frr(), 5);
    let m = reach(&u).clone();
    let others: Vec<_> = u
        .attributes
        .iter()
        .filter(|a| !matches!(a.value, AttrValue::MpReachNlri(_)))
        .cloned()
        .collect();
    let params = SessionParams::default();
    let msgs = encode_evpn_reach(&others, &m.next_hop, evpn(&m.nlri), &params).unwrap();
    assert_eq!(msgs.len(), 1);
    // FRR puts MP_REACH_NLRI first with Extended Length, as plane does:
    // the bytes are the same.
    let b = &frr().into_iter().find(|v| v.i == 5).unwrap().bytes;
    assert_eq!(&msgs[0][..], &b[..]);
}
