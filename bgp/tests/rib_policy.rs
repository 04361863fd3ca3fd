//! iBGP/eBGP advertisement rules, loop detection and route reflection
//! (RFC 4271 sections 5.1 and 9.1.2, RFC 4456), through the public API.

mod rib_util;

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use rib_util::*;
use std::net::Ipv4Addr;

fn one_route() -> Vec<EvpnNlri> {
    vec![type2(rd(9), mac(1), None, 10)]
}

#[test]
fn best_path_by_local_pref_then_as_path_through_the_api() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    rib.apply_update(
        a,
        &reach(
            &Attrs {
                local_pref: Some(50),
                ..Attrs::rt(10)
            },
            vtep(2),
            one_route(),
        ),
    )
    .unwrap();
    rib.apply_update(
        b,
        &reach(
            &Attrs {
                as_path: vec![1, 2, 3],
                ..Attrs::rt(10)
            },
            vtep(3),
            one_route(),
        ),
    )
    .unwrap();
    let best = best_routes(&rib);
    assert_eq!(best.len(), 1);
    assert_eq!(
        best[0].source,
        RouteSource::Peer(b),
        "LOCAL_PREF 100 (default) beats 50"
    );
    rib.apply_update(b, &unreach(one_route())).unwrap();
    assert_eq!(best_routes(&rib)[0].source, RouteSource::Peer(a));
    // Both paths shown, one best.
    rib.apply_update(b, &reach(&Attrs::rt(10), vtep(3), one_route()))
        .unwrap();
    let all = rib.routes(&RouteFilter::default());
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().filter(|r| r.best).count(), 1);
    assert_eq!(all[0].peer_addr, Some(vtep(3)));
}

#[test]
fn ebgp_route_with_our_as_is_dropped() {
    let mut rib = Rib::new(cfg());
    let e = up(&mut rib, 2, 65002);
    rib.apply_update(
        e,
        &reach(
            &Attrs {
                as_path: vec![65002, ASN, 65009],
                ..Attrs::rt(10)
            },
            vtep(2),
            one_route(),
        ),
    )
    .unwrap();
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    assert_eq!(rib.peer_counts(e).unwrap().received, 0);
    // A looped re-announcement withdraws the earlier good one (9.1.2).
    rib.apply_update(
        e,
        &reach(
            &Attrs {
                as_path: vec![65002],
                ..Attrs::rt(10)
            },
            vtep(2),
            one_route(),
        ),
    )
    .unwrap();
    assert_eq!(rib.peer_counts(e).unwrap().received, 1);
    rib.apply_update(
        e,
        &reach(
            &Attrs {
                as_path: vec![65002, ASN],
                ..Attrs::rt(10)
            },
            vtep(2),
            one_route(),
        ),
    )
    .unwrap();
    assert_eq!(rib.peer_counts(e).unwrap().received, 0);
}

#[test]
fn ebgp_export_prepends_keeps_next_hop_and_has_no_local_pref() {
    let mut rib = Rib::new(cfg());
    let i = up(&mut rib, 2, ASN);
    let e = up(&mut rib, 3, 65003);
    let e2 = up(&mut rib, 4, 65004);
    rib.apply_update(
        i,
        &reach(
            &Attrs {
                local_pref: Some(300),
                med: Some(7),
                ..Attrs::rt(10)
            },
            vtep(2),
            one_route(),
        ),
    )
    .unwrap();
    let out = drain(&mut rib, e);
    let got = reached(&out);
    assert_eq!(got.len(), 1);
    let attrs = &got[0].1;
    assert_eq!(as_path(attrs), vec![ASN]);
    assert_eq!(
        attrs.next_hop().addr(),
        Some(vtep(2)),
        "VTEP next hop unchanged"
    );
    assert!(!has_attr(attrs, type_code::LOCAL_PREF));
    // An eBGP-learned route goes to another eBGP peer with our AS in front,
    // and its LOCAL_PREF / MED never leave.
    let n2 = vec![type2(rd(9), mac(2), None, 10)];
    rib.apply_update(
        e,
        &reach(
            &Attrs {
                as_path: vec![65003],
                local_pref: Some(999),
                med: Some(3),
                ..Attrs::rt(10)
            },
            vtep(3),
            n2,
        ),
    )
    .unwrap();
    let got = reached(&drain(&mut rib, e2));
    let (_, a2) = got
        .iter()
        .find(|(n, _)| matches!(&n.route, EvpnRoute::MacIpAdvertisement(r) if r.mac == mac(2)))
        .unwrap();
    assert_eq!(as_path(a2), vec![ASN, 65003]);
    assert!(!has_attr(a2, type_code::LOCAL_PREF));
    assert!(!has_attr(a2, type_code::MULTI_EXIT_DISC));
    // ... and to the iBGP peer with LOCAL_PREF 100, not the eBGP peer's 999.
    let got = reached(&drain(&mut rib, i));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.local_pref(), Some(100));
    assert_eq!(as_path(&got[0].1), vec![65003]);
    // Not back to the peer it came from; not to the AS already in the path.
    assert!(reached(&drain(&mut rib, e)).is_empty());
}

#[test]
fn ibgp_routes_are_not_sent_to_ibgp_peers_without_reflection() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), one_route()))
        .unwrap();
    let out = drain(&mut rib, b);
    assert!(out.reach.is_empty());
    assert!(out.end_of_rib);
    assert_eq!(rib.peer_counts(b).unwrap().sent, 0);
}

fn rr() -> (Rib, PeerId, PeerId, PeerId) {
    let mut c = cfg();
    c.cluster_id = Some(Ipv4Addr::new(9, 9, 9, 9));
    let mut rib = Rib::new(c);
    let mut client = |n: u8, rr_client: bool| {
        let (id, mut info) = peer(n, ASN);
        info.rr_client = rr_client;
        rib.peer_up(id, info);
        id
    };
    let (c1, c2, nc) = (client(2, true), client(3, true), client(4, false));
    (rib, c1, c2, nc)
}

#[test]
fn reflector_sends_client_routes_to_all_and_sets_originator_and_cluster_list() {
    let (mut rib, c1, c2, nc) = rr();
    rib.apply_update(c1, &reach(&Attrs::rt(10), vtep(2), one_route()))
        .unwrap();
    for to in [c2, nc] {
        let got = reached(&drain(&mut rib, to));
        assert_eq!(got.len(), 1, "client route reflected to {to:?}");
        assert_eq!(got[0].1.originator_id(), Some(Ipv4Addr::new(10, 0, 1, 2)));
        assert!(got[0].1.cluster_list_contains(Ipv4Addr::new(9, 9, 9, 9)));
        assert_eq!(got[0].1.next_hop().addr(), Some(vtep(2)));
    }
    assert!(
        reached(&drain(&mut rib, c1)).is_empty(),
        "not back to the originator"
    );
}

#[test]
fn reflector_sends_non_client_routes_to_clients_only() {
    let (mut rib, c1, c2, nc) = rr();
    let (_, other_nc) = peer(5, ASN);
    rib.peer_up(PeerId(5), other_nc);
    rib.apply_update(nc, &reach(&Attrs::rt(10), vtep(4), one_route()))
        .unwrap();
    assert_eq!(reached(&drain(&mut rib, c1)).len(), 1);
    assert_eq!(reached(&drain(&mut rib, c2)).len(), 1);
    assert!(
        reached(&drain(&mut rib, PeerId(5))).is_empty(),
        "non-client to non-client"
    );
}

#[test]
fn reflection_loops_are_dropped() {
    let (mut rib, c1, _, _) = rr();
    // Our router id as ORIGINATOR_ID.
    rib.apply_update(
        c1,
        &reach(
            &Attrs {
                originator: Some(ROUTER_ID),
                ..Attrs::rt(10)
            },
            vtep(2),
            one_route(),
        ),
    )
    .unwrap();
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    // Our cluster id in CLUSTER_LIST.
    let looped = Attrs {
        cluster_list: vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(9, 9, 9, 9)],
        ..Attrs::rt(10)
    };
    rib.apply_update(c1, &reach(&looped, vtep(2), one_route()))
        .unwrap();
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    // Another cluster's id is fine.
    let ok = Attrs {
        cluster_list: vec![Ipv4Addr::new(1, 1, 1, 1)],
        ..Attrs::rt(10)
    };
    rib.apply_update(c1, &reach(&ok, vtep(2), one_route()))
        .unwrap();
    assert_eq!(rib.routes(&RouteFilter::default()).len(), 1);
}

#[test]
fn bad_next_hop_is_treat_as_withdraw() {
    let mut rib = Rib::new(cfg());
    let a = up(&mut rib, 2, ASN);
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), one_route()))
        .unwrap();
    let mut u = reach(&Attrs::rt(10), vtep(2), one_route());
    if let AttrValue::MpReachNlri(r) = &mut u.attributes[0].value {
        r.next_hop = MpNextHop::Other(bytes::Bytes::from_static(&[1, 2, 3]));
    }
    assert!(matches!(
        rib.apply_update(a, &u),
        Err(RibError::BadNextHop { count: 1, .. })
    ));
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    assert_eq!(
        rib.apply_update(PeerId(77), &u),
        Err(RibError::UnknownPeer(PeerId(77)))
    );
}
