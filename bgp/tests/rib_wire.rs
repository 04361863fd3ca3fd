//! Two hosts' RIBs joined by the real codec: what host A's Adj-RIB-Out
//! yields, encoded with `wire::encode_evpn_reach` / `encode_evpn_unreach`
//! and decoded with `wire::decode_message`, is what host B's RIB imports.
//! eBGP between two ASes, so B imports A's auto RT 65001:10 through its
//! `*:10` wildcard (design.md: "import accepts *:VNI so eBGP fabrics work").

mod rib_util;

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use rib_util::{ip, mac};
use std::net::{IpAddr, Ipv4Addr};

fn host(n: u8) -> Rib {
    let id = Ipv4Addr::new(10, 0, 0, n);
    let asn = 65000 + u32::from(n);
    Rib::new(RibConfig {
        local_asn: asn,
        router_id: id,
        cluster_id: None,
        vtep: IpAddr::V4(id),
        vnis: vec![VniImport::auto(10, asn)],
    })
}

fn info(n: u8) -> PeerInfo {
    let id = Ipv4Addr::new(10, 0, 0, n);
    PeerInfo {
        addr: IpAddr::V4(id),
        asn: 65000 + u32::from(n),
        router_id: id,
        ibgp: false,
        rr_client: false,
        gr_helper: false,
    }
}

/// Send what `from` has for `to_id` into `to` as `from_id`, over the codec.
/// Returns (messages, End-of-RIB seen).
fn transfer(from: &mut Rib, to_id: PeerId, to: &mut Rib, from_id: PeerId) -> (usize, bool) {
    let params = SessionParams::default();
    let out = from.take_outgoing(to_id, usize::MAX);
    let mut msgs: Vec<bytes::Bytes> = Vec::new();
    if !out.unreach.is_empty() {
        msgs.extend(encode_evpn_unreach(&out.unreach, &params).unwrap());
    }
    for r in &out.reach {
        msgs.extend(
            encode_evpn_reach(r.attrs.attributes(), r.attrs.next_hop(), &r.nlri, &params).unwrap(),
        );
    }
    if out.end_of_rib {
        msgs.push(end_of_rib(afi::L2VPN, safi::EVPN));
    }
    let mut eor = false;
    for m in &msgs {
        assert!(m.len() <= params.max_message_len);
        match decode_message(m, &params).unwrap() {
            Message::Update(u) if u.end_of_rib().is_some() => {
                eor = true;
                to.end_of_rib_received(from_id);
            }
            Message::Update(u) => to.apply_update(from_id, &u).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    }
    (msgs.len(), eor)
}

#[test]
fn local_routes_of_one_host_become_dataplane_state_on_the_other() {
    let (mut a, mut b) = (host(1), host(2));
    let (pa, pb) = (PeerId(1), PeerId(2)); // as each side names the other
    a.peer_up(pb, info(2));
    b.peer_up(pa, info(1));
    let vtep_a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    a.originate_imet(10).unwrap();
    a.originate_mac_ip(10, mac(1), Some(ip("192.168.10.1")), 0, false)
        .unwrap();
    a.originate_mac_ip(10, mac(1), None, 0, false).unwrap();
    let (_, eor) = transfer(&mut a, pb, &mut b, pa);
    assert!(eor);
    let mut ev = b.take_events();
    ev.sort_by_key(|e| format!("{e:?}"));
    let rd_a = RouteDistinguisher::Ipv4 {
        addr: Ipv4Addr::new(10, 0, 0, 1),
        number: 1,
    };
    assert_eq!(
        ev,
        vec![
            RibEvent::FloodAdd {
                vni: 10,
                vtep: vtep_a
            },
            RibEvent::MacIpBest {
                vni: 10,
                mac: mac(1),
                ip: None,
                vtep: vtep_a,
                seq: 0,
                sticky: false,
                rd: rd_a,
                peer: pa
            },
            RibEvent::MacIpBest {
                vni: 10,
                mac: mac(1),
                ip: Some(ip("192.168.10.1")),
                vtep: vtep_a,
                seq: 0,
                sticky: false,
                rd: rd_a,
                peer: pa
            },
        ]
    );
    // B's view of the routes: AS path 65001, next hop A's VTEP.
    let routes = b.routes(&RouteFilter::default());
    assert_eq!(routes.len(), 3);
    assert!(routes
        .iter()
        .all(|r| r.nexthop == Some(vtep_a) && r.peer_addr == Some(vtep_a)));
    // B does not send A's routes back to A (A's AS is in the path).
    let (_, eor) = transfer(&mut b, pa, &mut a, pb);
    assert!(eor);
    assert_eq!(
        a.routes(&RouteFilter::default()).len(),
        3,
        "only A's own routes"
    );
    // The MAC moves to B: B takes over with sequence 1, A sees the move.
    assert_eq!(b.originate_mac_ip(10, mac(1), None, 0, false).unwrap(), 1);
    assert_eq!(
        b.take_events(),
        vec![RibEvent::MacIpWithdrawn {
            vni: 10,
            mac: mac(1),
            ip: None
        }]
    );
    transfer(&mut b, pa, &mut a, pb);
    let vtep_b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let rd_b = RouteDistinguisher::Ipv4 {
        addr: Ipv4Addr::new(10, 0, 0, 2),
        number: 1,
    };
    assert_eq!(
        a.take_events(),
        vec![RibEvent::MacIpBest {
            vni: 10,
            mac: mac(1),
            ip: None,
            vtep: vtep_b,
            seq: 1,
            sticky: false,
            rd: rd_b,
            peer: pb
        }]
    );
    // A withdraws its MAC/IP route: B removes it.
    a.withdraw_mac_ip(10, mac(1), Some(ip("192.168.10.1")))
        .unwrap();
    transfer(&mut a, pb, &mut b, pa);
    assert_eq!(
        b.take_events(),
        vec![RibEvent::MacIpWithdrawn {
            vni: 10,
            mac: mac(1),
            ip: Some(ip("192.168.10.1"))
        }]
    );
}

#[test]
fn a_large_table_packs_into_full_updates() {
    let (mut a, mut b) = (host(1), host(2));
    let (pa, pb) = (PeerId(1), PeerId(2));
    for i in 0..5000u32 {
        let o = i.to_be_bytes();
        a.originate_mac_ip(
            10,
            mac(i),
            Some(IpAddr::V4(Ipv4Addr::new(192, 168, o[2], o[3]))),
            0,
            false,
        )
        .unwrap();
    }
    a.peer_up(pb, info(2));
    b.peer_up(pa, info(1));
    let (msgs, eor) = transfer(&mut a, pb, &mut b, pa);
    assert!(eor);
    // A MAC/IPv4 type-2 NLRI is 39 octets: about 100 per 4096-octet UPDATE.
    assert!(msgs <= 5000 / 95 + 2, "{msgs} messages for 5000 routes");
    assert_eq!(b.take_events().len(), 5000);
    assert_eq!(b.peer_counts(pa).unwrap().received, 5000);
    assert_eq!(a.peer_counts(pb).unwrap().sent, 5000);
}
