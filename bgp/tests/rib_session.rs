//! Session lifecycle in the RIB: withdraw on session loss, graceful restart
//! helper (RFC 4724), End-of-RIB, and the per-peer Adj-RIB-Out (batching
//! by attribute set, coalescing, independence of peers).

mod rib_util;

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use rib_util::*;

fn routes(n: u32, from: u8) -> Vec<EvpnNlri> {
    (0..n).map(|i| type2(rd(from), mac(i), None, 10)).collect()
}

#[test]
fn peer_down_withdraws_everything_it_sent() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, 65002), up(&mut rib, 3, 65003));
    rib.apply_update(
        a,
        &reach(
            &Attrs {
                as_path: vec![65002],
                ..Attrs::rt(10)
            },
            vtep(2),
            routes(5, 2),
        ),
    )
    .unwrap();
    assert_eq!(rib.take_events().len(), 5);
    assert_eq!(reached(&drain(&mut rib, b)).len(), 5);
    assert_eq!(rib.peer_counts(b).unwrap().sent, 5);
    rib.peer_down(a, true); // keep_stale ignored: GR not negotiated
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    let ev = rib.take_events();
    assert_eq!(ev.len(), 5);
    assert!(ev
        .iter()
        .all(|e| matches!(e, RibEvent::MacIpWithdrawn { .. })));
    let out = drain(&mut rib, b);
    assert_eq!(out.unreach.len(), 5);
    assert!(out.reach.is_empty());
    assert_eq!(rib.peer_counts(b).unwrap().sent, 0);
    assert_eq!(rib.peer_counts(a).unwrap().received, 0);
    assert_eq!(rib.stats().destinations, 0, "nothing left behind");
}

fn gr_peer(rib: &mut Rib, n: u8) -> PeerId {
    let (id, mut info) = peer(n, ASN);
    info.gr_helper = true;
    rib.peer_up(id, info);
    id
}

#[test]
fn graceful_restart_keeps_stale_until_end_of_rib_then_sweeps_unrefreshed() {
    let mut rib = Rib::new(cfg());
    let a = gr_peer(&mut rib, 2);
    let b = up(&mut rib, 3, 65003);
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), routes(3, 2)))
        .unwrap();
    drain(&mut rib, b);
    rib.take_events();
    rib.peer_down(a, true);
    let all = rib.routes(&RouteFilter::default());
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|r| r.stale));
    assert!(rib.take_events().is_empty(), "forwarding continues");
    assert!(drain(&mut rib, b).reach.is_empty() && drain(&mut rib, b).unreach.is_empty());
    // The peer comes back and refreshes routes 0 and 1, then End-of-RIB.
    let (_, mut info) = peer(2, ASN);
    info.gr_helper = true;
    rib.peer_up(a, info);
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), routes(2, 2)))
        .unwrap();
    let stale: Vec<_> = rib
        .routes(&RouteFilter::default())
        .into_iter()
        .filter(|r| r.stale)
        .collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].mac, Some(mac(2)));
    assert!(
        rib.take_events().is_empty(),
        "refresh with the same attributes changes nothing"
    );
    rib.end_of_rib_received(a);
    assert_eq!(rib.routes(&RouteFilter::default()).len(), 2);
    assert_eq!(
        rib.take_events(),
        vec![RibEvent::MacIpWithdrawn {
            vni: 10,
            mac: mac(2),
            ip: None
        }]
    );
    assert_eq!(drain(&mut rib, b).unreach.len(), 1);
}

#[test]
fn graceful_restart_stale_timer_sweeps_everything_stale() {
    let mut rib = Rib::new(cfg());
    let a = gr_peer(&mut rib, 2);
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), routes(3, 2)))
        .unwrap();
    rib.peer_down(a, true);
    assert_eq!(rib.peer_counts(a).unwrap().received, 3);
    rib.stale_expired(a);
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    assert_eq!(rib.peer_counts(a).unwrap().received, 0);
    // Without keep_stale the routes go at once even with GR negotiated.
    let (_, mut info) = peer(2, ASN);
    info.gr_helper = true;
    rib.peer_up(a, info);
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), routes(3, 2)))
        .unwrap();
    rib.peer_down(a, false);
    assert!(rib.routes(&RouteFilter::default()).is_empty());
}

#[test]
fn initial_table_then_end_of_rib_once() {
    let mut rib = Rib::new(cfg());
    rib.originate_imet(10).unwrap();
    rib.originate_mac_ip(10, mac(1), None, 0, false).unwrap();
    let p = up(&mut rib, 2, ASN);
    assert_eq!(rib.peers_with_pending(), vec![p]);
    let first = rib.take_outgoing(p, 1);
    assert_eq!(first.nlri_count(), 1);
    assert!(!first.end_of_rib, "not before the whole table is out");
    let second = rib.take_outgoing(p, 1);
    assert_eq!(second.nlri_count(), 1);
    assert!(second.end_of_rib);
    assert!(rib.peers_with_pending().is_empty());
    assert!(rib.take_outgoing(p, 10).is_empty());
    // Empty table: End-of-RIB right away.
    let q = PeerId(3);
    let mut empty = Rib::new(cfg());
    let (_, info) = peer(3, ASN);
    empty.peer_up(q, info);
    assert!(empty.take_outgoing(q, 10).end_of_rib);
}

#[test]
fn outgoing_groups_nlri_by_attribute_set() {
    let mut rib = Rib::new(cfg());
    let (a, b, c) = (
        up(&mut rib, 2, 65002),
        up(&mut rib, 3, 65003),
        up(&mut rib, 4, 65004),
    );
    let base = Attrs {
        as_path: vec![65002],
        ..Attrs::rt(10)
    };
    rib.apply_update(a, &reach(&base, vtep(2), routes(100, 2)))
        .unwrap();
    rib.apply_update(
        a,
        &reach(
            &Attrs {
                med: Some(1),
                ..base.clone()
            },
            vtep(2),
            (100..150).map(|i| type2(rd(2), mac(i), None, 10)).collect(),
        ),
    )
    .unwrap();
    rib.apply_update(
        b,
        &reach(
            &Attrs {
                as_path: vec![65003],
                ..Attrs::rt(10)
            },
            vtep(3),
            (0..10).map(|i| type2(rd(3), mac(i), None, 10)).collect(),
        ),
    )
    .unwrap();
    let out = drain(&mut rib, c);
    let mut sizes: Vec<usize> = out.reach.iter().map(|r| r.nlri.len()).collect();
    sizes.sort();
    // MED is stripped towards eBGP, so a's two sets become one: 150 + 10.
    assert_eq!(sizes, vec![10, 150]);
    assert_eq!(out.nlri_count(), 160);
}

#[test]
fn pending_coalesces_to_last_state_and_slow_peer_does_not_hold_back_others() {
    let mut rib = Rib::new(cfg());
    let a = up(&mut rib, 2, ASN);
    let (fast, slow) = (up(&mut rib, 3, 65003), up(&mut rib, 4, 65004));
    drain(&mut rib, fast);
    drain(&mut rib, slow);
    let r = vec![type2(rd(2), mac(1), None, 10)];
    for med in 1..=5 {
        rib.apply_update(
            a,
            &reach(
                &Attrs {
                    local_pref: Some(100 + med),
                    ..Attrs::rt(10)
                },
                vtep(2),
                r.clone(),
            ),
        )
        .unwrap();
        let out = drain(&mut rib, fast);
        assert_eq!(reached(&out).len(), 1, "fast peer gets each change");
    }
    // The slow peer gets the last state once.
    let out = drain(&mut rib, slow);
    assert_eq!(reached(&out).len(), 1);
    // Announce then withdraw before a drain: a never-sent route is not withdrawn.
    let r2 = vec![type2(rd(2), mac(2), None, 10)];
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), r2.clone()))
        .unwrap();
    rib.apply_update(a, &unreach(r2)).unwrap();
    assert!(drain(&mut rib, slow).is_empty());
    // Withdraw of a sent route: sent as a withdrawal, once.
    rib.apply_update(a, &unreach(r.clone())).unwrap();
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), r.clone()))
        .unwrap();
    rib.apply_update(a, &unreach(r)).unwrap();
    let out = drain(&mut rib, slow);
    assert_eq!(out.unreach.len(), 1);
    assert!(out.reach.is_empty());
    assert_eq!(rib.peer_counts(slow).unwrap().sent, 0);
    let kept = rib.stats().destinations;
    assert_eq!(kept, 2, "kept while peers still have them queued");
    assert_eq!(drain(&mut rib, fast).unreach.len(), 1);
    assert_eq!(
        drain(&mut rib, a).nlri_count(),
        0,
        "nothing goes back to the source"
    );
    let left = rib.stats().destinations;
    assert_eq!(left, 0, "freed once every peer has drained");
}

#[test]
fn take_outgoing_respects_max_in_fifo_order() {
    let mut rib = Rib::new(cfg());
    let a = up(&mut rib, 2, 65002);
    let b = up(&mut rib, 3, 65003);
    drain(&mut rib, b);
    rib.apply_update(
        a,
        &reach(
            &Attrs {
                as_path: vec![65002],
                ..Attrs::rt(10)
            },
            vtep(2),
            routes(25, 2),
        ),
    )
    .unwrap();
    let mut got = Vec::new();
    loop {
        let out = rib.take_outgoing(b, 10);
        if out.is_empty() {
            break;
        }
        assert!(out.nlri_count() <= 10);
        got.extend(reached(&out).into_iter().map(|(n, _)| n));
    }
    assert_eq!(got, routes(25, 2));
}

#[test]
fn stale_routes_go_when_the_peer_returns_without_graceful_restart() {
    let mut rib = Rib::new(cfg());
    let a = gr_peer(&mut rib, 2);
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), routes(3, 2)))
        .unwrap();
    rib.peer_down(a, true);
    assert_eq!(rib.routes(&RouteFilter::default()).len(), 3);
    let (_, info) = peer(2, ASN); // gr_helper false
    rib.peer_up(a, info);
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    assert_eq!(rib.take_events().len(), 3 + 3, "3 added, then 3 withdrawn");
}

#[test]
fn route_refresh_resends_the_table_without_end_of_rib() {
    let mut rib = Rib::new(cfg());
    rib.originate_imet(10).unwrap();
    rib.originate_imet(20).unwrap();
    let p = up(&mut rib, 2, ASN);
    assert!(drain(&mut rib, p).end_of_rib);
    rib.resend_all(p);
    let again = drain(&mut rib, p);
    assert_eq!(reached(&again).len(), 2);
    assert!(!again.end_of_rib);
    assert_eq!(rib.peer_counts(p).unwrap().sent, 2);
}

#[test]
fn filters_select_by_type_vni_and_best() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    rib.originate_imet(10).unwrap();
    rib.originate_mac_ip(20, mac(1), None, 0, false).unwrap();
    let same = vec![type2(rd(9), mac(2), None, 10)];
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), same.clone()))
        .unwrap();
    rib.apply_update(b, &reach(&Attrs::rt(10), vtep(3), same))
        .unwrap();
    let f = |route_type, vni, best_only| RouteFilter {
        route_type,
        vni,
        best_only,
    };
    assert_eq!(rib.routes(&f(None, None, false)).len(), 4);
    assert_eq!(rib.routes(&f(None, None, true)).len(), 3);
    assert_eq!(rib.routes(&f(Some(3), None, false)).len(), 1);
    assert_eq!(rib.routes(&f(Some(2), Some(10), false)).len(), 2);
    assert_eq!(rib.routes(&f(Some(2), Some(20), false)).len(), 1);
    let local = rib.routes(&f(Some(3), None, false));
    assert_eq!(local[0].source, RouteSource::Local);
    assert_eq!(local[0].originator, Some(std::net::IpAddr::V4(ROUTER_ID)));
    assert_eq!(local[0].vni, Some(10));
}

#[test]
fn reload_with_a_new_rd_reoriginates_local_routes() {
    let mut rib = Rib::new(cfg());
    let p = up(&mut rib, 2, ASN);
    rib.originate_mac_ip(10, mac(1), None, 0, false).unwrap();
    rib.originate_imet(10).unwrap();
    drain(&mut rib, p);
    let mut c = cfg();
    let new_rd = RouteDistinguisher::As2 {
        asn: 65000,
        number: 10,
    };
    c.vnis[0].rd = Some(new_rd);
    rib.set_vnis(c.vnis);
    let out = drain(&mut rib, p);
    assert_eq!(out.unreach.len(), 2, "old RD withdrawn");
    let got = reached(&out);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(n, _)| n.route.rd() == Some(new_rd)));
    // A removed VNI's local routes are withdrawn.
    let mut c = cfg();
    c.vnis.remove(0);
    rib.set_vnis(c.vnis);
    let out = drain(&mut rib, p);
    assert_eq!(out.unreach.len(), 2);
    assert!(rib.routes(&RouteFilter::default()).is_empty());
}

#[test]
fn removed_peer_takes_its_routes_and_counters() {
    let mut rib = Rib::new(cfg());
    let a = up(&mut rib, 2, ASN);
    rib.apply_update(a, &reach(&Attrs::rt(10), vtep(2), routes(4, 2)))
        .unwrap();
    rib.peer_remove(a);
    assert!(rib.routes(&RouteFilter::default()).is_empty());
    assert_eq!(rib.peer_counts(a), None);
    assert_eq!(
        rib.apply_update(a, &unreach(routes(1, 2))),
        Err(RibError::UnknownPeer(a))
    );
}
