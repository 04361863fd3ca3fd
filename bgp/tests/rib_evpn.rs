//! EVPN specifics: route-target import into VNIs, MAC mobility across RDs
//! (RFC 7432 section 15), local takeover, and the dataplane event stream.

mod rib_util;

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use rib_util::*;

fn best_event(
    vni: u32,
    m: MacAddr,
    ip: Option<std::net::IpAddr>,
    from: u8,
    seq: u32,
    peer: PeerId,
) -> RibEvent {
    RibEvent::MacIpBest {
        vni,
        mac: m,
        ip,
        vtep: vtep(from),
        seq,
        sticky: false,
        rd: rd(from),
        peer,
    }
}

#[test]
fn import_by_exact_auto_and_wildcard_rt_and_not_without_match() {
    let mut c = cfg();
    // VNI 30 imports only an explicit RT, no wildcard.
    c.vnis.push(VniImport {
        vni: 30,
        rd: None,
        import_rts: vec![RtMatch::Exact(RouteTarget::Ipv4 {
            addr: "192.0.2.1".parse().unwrap(),
            value: 7,
        })],
        export_rts: vec![],
    });
    let mut rib = Rib::new(c);
    let p = up(&mut rib, 2, 65002);
    let a = Attrs {
        as_path: vec![65002],
        ..Attrs::default()
    };
    // auto RT 65000:10 (exact match of VNI 10's auto import)
    let auto = Attrs {
        ext: vec![rt(65000, 10)],
        ..a.clone()
    };
    // wildcard: another AS's auto RT 65002:20 matches *:20
    let wild = Attrs {
        ext: vec![rt(65002, 20)],
        ..a.clone()
    };
    // explicit RT of VNI 30
    let exact = Attrs {
        ext: vec![ExtendedCommunity::RouteTarget(RouteTarget::Ipv4 {
            addr: "192.0.2.1".parse().unwrap(),
            value: 7,
        })],
        ..a.clone()
    };
    // no matching RT: 65002:99 matches nothing configured
    let none = Attrs {
        ext: vec![rt(65002, 99)],
        ..a.clone()
    };
    // RT 65002:30 must not import into VNI 30 (no wildcard there)
    let not30 = Attrs {
        ext: vec![rt(65002, 30)],
        ..a.clone()
    };
    // *:10 matches AS-type RTs only, not the IPv4-type 192.0.2.9:10.
    let ipv4_rt = RouteTarget::Ipv4 {
        addr: "192.0.2.9".parse().unwrap(),
        value: 10,
    };
    let not_ipv4 = Attrs {
        ext: vec![ExtendedCommunity::RouteTarget(ipv4_rt)],
        ..a
    };
    assert!(!RtMatch::AnyAsn(10).matches(&ipv4_rt));
    assert!(RtMatch::AnyAsn(20).matches(&RouteTarget::As2 {
        asn: 65002,
        value: 20
    }));
    for (i, attrs) in [auto, wild, exact, none, not30, not_ipv4]
        .iter()
        .enumerate()
    {
        let n = u32::try_from(i).unwrap();
        rib.apply_update(
            p,
            &reach(attrs, vtep(2), vec![type2(rd(2), mac(n), None, 100 + n)]),
        )
        .unwrap();
    }
    let mut events = rib.take_events();
    events.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        events,
        vec![
            best_event(10, mac(0), None, 2, 0, p),
            best_event(20, mac(1), None, 2, 0, p),
            best_event(30, mac(2), None, 2, 0, p)
        ]
    );
    // Unimported routes stay in the Loc-RIB (they are still reflected).
    assert_eq!(best_routes(&rib).len(), 6);
    assert_eq!(rib.stats().mac_groups, 3);
}

#[test]
fn higher_sequence_wins_across_rds_and_replaces_in_dataplane() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    let ipa = Some(ip("192.168.0.5"));
    rib.apply_update(
        a,
        &reach(&Attrs::rt(10), vtep(2), vec![type2(rd(2), mac(1), ipa, 10)]),
    )
    .unwrap();
    assert_eq!(
        rib.take_events(),
        vec![best_event(10, mac(1), ipa, 2, 0, a)]
    );
    // The MAC moves to VTEP 3 with sequence 1: replaced, no withdraw.
    rib.apply_update(
        b,
        &reach(
            &Attrs::rt(10).seq(1, false),
            vtep(3),
            vec![type2(rd(3), mac(1), ipa, 10)],
        ),
    )
    .unwrap();
    assert_eq!(
        rib.take_events(),
        vec![best_event(10, mac(1), ipa, 3, 1, b)]
    );
    // The stale advertisement from VTEP 2 goes: nothing changes in the dataplane.
    rib.apply_update(a, &unreach(vec![type2(rd(2), mac(1), ipa, 10)]))
        .unwrap();
    assert_eq!(rib.take_events(), vec![]);
    // The winner goes: withdrawn.
    rib.apply_update(b, &unreach(vec![type2(rd(3), mac(1), ipa, 10)]))
        .unwrap();
    assert_eq!(
        rib.take_events(),
        vec![RibEvent::MacIpWithdrawn {
            vni: 10,
            mac: mac(1),
            ip: ipa
        }]
    );
}

#[test]
fn lower_sequence_loses_and_loser_withdrawal_is_silent() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    rib.apply_update(
        b,
        &reach(
            &Attrs::rt(10).seq(5, false),
            vtep(3),
            vec![type2(rd(3), mac(1), None, 10)],
        ),
    )
    .unwrap();
    rib.take_events();
    rib.apply_update(
        a,
        &reach(
            &Attrs::rt(10).seq(4, false),
            vtep(2),
            vec![type2(rd(2), mac(1), None, 10)],
        ),
    )
    .unwrap();
    assert_eq!(
        rib.take_events(),
        vec![],
        "a lower sequence number does not win"
    );
    // Equal sequence: the lower VTEP address wins (RFC 7432 section 15).
    rib.apply_update(
        a,
        &reach(
            &Attrs::rt(10).seq(5, false),
            vtep(2),
            vec![type2(rd(2), mac(1), None, 10)],
        ),
    )
    .unwrap();
    assert_eq!(
        rib.take_events(),
        vec![best_event(10, mac(1), None, 2, 5, a)]
    );
}

#[test]
fn sticky_mac_wins_over_higher_sequence() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    rib.apply_update(
        a,
        &reach(
            &Attrs::rt(10).seq(0, true),
            vtep(2),
            vec![type2(rd(2), mac(1), None, 10)],
        ),
    )
    .unwrap();
    rib.take_events();
    rib.apply_update(
        b,
        &reach(
            &Attrs::rt(10).seq(9, false),
            vtep(3),
            vec![type2(rd(3), mac(1), None, 10)],
        ),
    )
    .unwrap();
    assert_eq!(rib.take_events(), vec![]);
    let best: Vec<_> = best_routes(&rib).into_iter().filter(|r| r.sticky).collect();
    assert_eq!(best.len(), 1);
    assert_eq!(best[0].nexthop, Some(vtep(2)));
}

#[test]
fn local_takeover_gets_remote_seq_plus_one_and_withdraws_remote_from_dataplane() {
    let mut rib = Rib::new(cfg());
    let a = up(&mut rib, 2, ASN);
    let ipa = Some(ip("192.168.0.5"));
    rib.apply_update(
        a,
        &reach(
            &Attrs::rt(10).seq(3, false),
            vtep(2),
            vec![
                type2(rd(2), mac(1), ipa, 10),
                type2(rd(2), mac(1), None, 10),
            ],
        ),
    )
    .unwrap();
    assert_eq!(rib.take_events().len(), 2);
    let seq = rib.originate_mac_ip(10, mac(1), ipa, 0, false).unwrap();
    assert_eq!(seq, 4);
    assert_eq!(
        rib.take_events(),
        vec![RibEvent::MacIpWithdrawn {
            vni: 10,
            mac: mac(1),
            ip: ipa
        }]
    );
    // A MAC-only local route of the same MAC carries the same sequence.
    assert_eq!(rib.originate_mac_ip(10, mac(1), None, 0, false).unwrap(), 4);
    assert_eq!(
        rib.take_events(),
        vec![RibEvent::MacIpWithdrawn {
            vni: 10,
            mac: mac(1),
            ip: None
        }]
    );
    // What peer sees: MAC Mobility 4 on both local routes, next hop our VTEP.
    let out = drain(&mut rib, a);
    let local: Vec<_> = reached(&out)
        .into_iter()
        .filter(|(n, _)| n.route.rd() == rib.vni_rd(10))
        .collect();
    assert_eq!(local.len(), 2);
    for (_, attrs) in local {
        assert_eq!(attrs.mac_mobility(), (false, 4));
        assert_eq!(
            attrs.next_hop().addr(),
            Some(std::net::IpAddr::V4(ROUTER_ID))
        );
    }
    // The MAC moves back with sequence 5: the remote wins again, and the
    // whole MAC moved (RFC 7432 section 15): both local routes are withdrawn, so
    // the remote MAC+IP route (still at 3) is the IP's only route again.
    rib.apply_update(
        a,
        &reach(
            &Attrs::rt(10).seq(5, false),
            vtep(2),
            vec![type2(rd(2), mac(1), None, 10)],
        ),
    )
    .unwrap();
    assert_eq!(
        rib.take_events(),
        vec![
            best_event(10, mac(1), None, 2, 5, a),
            best_event(10, mac(1), ipa, 2, 3, a)
        ]
    );
    assert!(rib.local_mac_moved(10, mac(1)));
}

#[test]
fn local_routes_carry_design_wire_conventions() {
    let mut rib = Rib::new(cfg());
    let p = up(&mut rib, 2, ASN);
    rib.originate_mac_ip(10, mac(1), Some(ip("192.168.0.1")), 0, false)
        .unwrap();
    rib.originate_imet(10).unwrap();
    let out = drain(&mut rib, p);
    assert!(out.end_of_rib);
    let all = reached(&out);
    assert_eq!(all.len(), 2);
    let auto_rd = RouteDistinguisher::Ipv4 {
        addr: ROUTER_ID,
        number: 1,
    };
    for (n, attrs) in &all {
        assert_eq!(n.route.rd(), Some(auto_rd));
        assert_eq!(
            attrs.route_targets().collect::<Vec<_>>(),
            vec![RouteTarget::As2 {
                asn: 65000,
                value: 10
            }]
        );
        assert_eq!(attrs.next_hop(), &MpNextHop::V4(ROUTER_ID));
        assert_eq!(attrs.local_pref(), Some(100), "iBGP peer gets LOCAL_PREF");
        let encap = attrs.attributes().iter().any(|a| {
            matches!(&a.value, AttrValue::ExtendedCommunities(c) if c.contains(&ExtendedCommunity::Encapsulation { tunnel_type: 8 }))
        });
        assert!(encap, "encapsulation VXLAN");
        match &n.route {
            EvpnRoute::MacIpAdvertisement(r) => {
                assert_eq!(r.label1, 10);
                assert_eq!(attrs.mac_mobility(), (false, 0));
                assert!(attrs.pmsi().is_none());
            }
            EvpnRoute::InclusiveMulticastEthernetTag(r) => {
                assert_eq!(r.originator, std::net::IpAddr::V4(ROUTER_ID));
                assert_eq!(
                    attrs.pmsi(),
                    Some((10, Some(std::net::IpAddr::V4(ROUTER_ID))))
                );
                let t = attrs.attributes().iter().find_map(|a| match &a.value {
                    AttrValue::PmsiTunnel(t) => Some(t.tunnel_type),
                    _ => None,
                });
                assert_eq!(t, Some(PMSI_INGRESS_REPLICATION));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // MAC-only with no mobility community; unknown VNI is an error.
    assert_eq!(
        rib.originate_mac_ip(99, mac(1), None, 0, false),
        Err(RibError::UnknownVni(99))
    );
    // The second VNI gets the next auto RD index.
    assert_eq!(
        rib.vni_rd(20),
        Some(RouteDistinguisher::Ipv4 {
            addr: ROUTER_ID,
            number: 2
        })
    );
}

#[test]
fn flood_list_from_type3_per_vni_and_vtep() {
    let mut rib = Rib::new(cfg());
    let (a, b) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    let imet = |n: u8, vni: u32| Attrs {
        pmsi: Some((vni, vtep(n))),
        ..Attrs::rt(vni)
    };
    rib.apply_update(
        a,
        &reach(&imet(2, 10), vtep(2), vec![type3(rd(2), vtep(2))]),
    )
    .unwrap();
    rib.apply_update(
        b,
        &reach(&imet(3, 10), vtep(3), vec![type3(rd(3), vtep(3))]),
    )
    .unwrap();
    assert_eq!(
        rib.take_events(),
        vec![
            RibEvent::FloodAdd {
                vni: 10,
                vtep: vtep(2)
            },
            RibEvent::FloodAdd {
                vni: 10,
                vtep: vtep(3)
            }
        ]
    );
    // Our own type-3 is not a flood entry.
    rib.originate_imet(10).unwrap();
    assert_eq!(rib.take_events(), vec![]);
    // Re-announcement with other attributes: no churn.
    rib.apply_update(
        a,
        &reach(
            &Attrs {
                med: Some(5),
                ..imet(2, 10)
            },
            vtep(2),
            vec![type3(rd(2), vtep(2))],
        ),
    )
    .unwrap();
    assert_eq!(rib.take_events(), vec![]);
    rib.peer_down(a, false);
    assert_eq!(
        rib.take_events(),
        vec![RibEvent::FloodRemove {
            vni: 10,
            vtep: vtep(2)
        }]
    );
}

#[test]
fn reload_reimports_routes_under_new_rules() {
    let mut rib = Rib::new(cfg());
    let p = up(&mut rib, 2, 65002);
    let a = Attrs {
        as_path: vec![65002],
        ext: vec![rt(65002, 77)],
        ..Attrs::default()
    };
    rib.apply_update(p, &reach(&a, vtep(2), vec![type2(rd(2), mac(1), None, 77)]))
        .unwrap();
    assert_eq!(rib.take_events(), vec![]);
    let mut c = cfg();
    c.vnis.push(VniImport::auto(77, ASN));
    rib.set_vnis(c.vnis.clone());
    assert_eq!(
        rib.take_events(),
        vec![best_event(77, mac(1), None, 2, 0, p)]
    );
    c.vnis.pop();
    rib.set_vnis(c.vnis);
    assert_eq!(
        rib.take_events(),
        vec![RibEvent::MacIpWithdrawn {
            vni: 77,
            mac: mac(1),
            ip: None
        }]
    );
}

#[test]
fn route_view_shows_encapsulation_and_pmsi_of_received_and_local_routes() {
    let mut rib = Rib::new(cfg());
    let p = up(&mut rib, 2, ASN);
    let imet = Attrs {
        pmsi: Some((10, vtep(2))),
        ..Attrs::rt(10)
    };
    rib.apply_update(p, &reach(&imet, vtep(2), vec![type3(rd(2), vtep(2))]))
        .unwrap();
    rib.apply_update(
        p,
        &reach(
            &Attrs::rt(10),
            vtep(2),
            vec![type2(rd(2), mac(2), None, 10)],
        ),
    )
    .unwrap();
    rib.originate_imet(10).unwrap();
    rib.originate_mac_ip(10, mac(1), None, 0, false).unwrap();
    let all = rib.routes(&RouteFilter::default());
    assert_eq!(all.len(), 4, "{all:#?}");
    for r in &all {
        assert_eq!(r.encapsulation, Some(TUNNEL_TYPE_VXLAN), "{r:?}");
        let endpoint = match r.source {
            RouteSource::Local => std::net::IpAddr::V4(ROUTER_ID),
            RouteSource::Peer(_) => vtep(2),
        };
        let want = (r.route_type == 3).then_some(PmsiView {
            tunnel_type: PMSI_INGRESS_REPLICATION,
            label: 10,
            endpoint: Some(endpoint),
        });
        assert_eq!(r.pmsi, want, "{r:?}");
    }
}
