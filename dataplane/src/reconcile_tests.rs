//! Table tests of the reconciler: empty to full, full to empty, partial
//! drift, entries owned by others, and convergence (a plan applied to the
//! observed state leaves nothing to do).

use super::*;
use crate::state::{Change, NeighObs};
use crate::types::BumPolicy;

fn vni(v: u32) -> Vni {
    Vni::new(v).unwrap()
}
fn mac(last: u8) -> Mac {
    Mac([2, 0, 0, 0, 0, last])
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// VNI 10 with one remote MAC (v4 and v6 bindings) behind 192.168.100.2.
fn full_desired(bum: BumPolicy) -> Desired {
    let mut d = Desired::default();
    let mut cfg = VniConfig::new(vni(10), ip("192.168.100.1"));
    cfg.bum = bum;
    for c in [
        Change::SetVni(cfg),
        Change::SetRemoteMac {
            vni: vni(10),
            mac: mac(2),
            vtep: ip("192.168.100.2"),
        },
        Change::SetRemoteIp {
            vni: vni(10),
            ip: ip("10.0.0.2"),
            mac: mac(2),
        },
        Change::SetRemoteIp {
            vni: vni(10),
            ip: ip("fd00::2"),
            mac: mac(2),
        },
        Change::AddFloodVtep {
            vni: vni(10),
            vtep: ip("192.168.100.2"),
        },
        Change::AddLocalPort {
            vni: vni(10),
            ifname: "veth1".into(),
        },
    ] {
        d.apply(c).unwrap();
    }
    d
}

fn converge(d: &Desired, o: &mut Observed) -> Vec<Op> {
    let plan = reconcile(d, o);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    for op in &plan.ops {
        apply_to_observed(o, op);
    }
    plan.ops
}

fn veth(ifindex: u32) -> LinkObs {
    LinkObs {
        ifindex,
        kind: LinkKind::Other("veth".into()),
        mtu: 1500,
        up: false,
        master: None,
        alias: None,
        mac: Some(mac(0x50)),
        port_flags: None,
        addrgen_none: false,
    }
}

#[test]
fn empty_to_full() {
    let d = full_desired(BumPolicy::Suppress);
    let mut o = Observed::default();
    o.links.insert("veth1".into(), veth(7));
    let ops = converge(&d, &mut o);
    let cfg = &d.vnis[&vni(10)].config;
    let expected = vec![
        Op::CreateBridge {
            vni: vni(10),
            name: "br10".into(),
            mac: cfg.bridge_mac,
            mtu: 1450,
        },
        Op::CreateVxlan(cfg.clone()),
        Op::SetLink {
            name: "vxlan10".into(),
            change: LinkChange::Master("br10".into()),
        },
        Op::SetLink {
            name: "veth1".into(),
            change: LinkChange::Master("br10".into()),
        },
        Op::SetLink {
            name: "br10".into(),
            change: LinkChange::AddrGenNone,
        },
        Op::SetLink {
            name: "br10".into(),
            change: LinkChange::Up,
        },
        Op::SetLink {
            name: "vxlan10".into(),
            change: LinkChange::Up,
        },
        Op::SetLink {
            name: "veth1".into(),
            change: LinkChange::Up,
        },
        Op::SetPortFlags {
            name: "vxlan10".into(),
            flags: PortFlags::vxlan_port(BumPolicy::Suppress),
        },
        Op::SetPortFlags {
            name: "veth1".into(),
            flags: PortFlags::local_port(),
        },
        Op::AddFdb {
            vni: vni(10),
            dev: "vxlan10".into(),
            mac: mac(2),
            vtep: ip("192.168.100.2"),
        },
        Op::AddNeigh {
            vni: vni(10),
            bridge: "br10".into(),
            ip: ip("10.0.0.2"),
            mac: mac(2),
        },
        Op::AddNeigh {
            vni: vni(10),
            bridge: "br10".into(),
            ip: ip("fd00::2"),
            mac: mac(2),
        },
    ];
    assert_eq!(ops, expected, "suppress mode programs no flood entry");
    assert_eq!(
        reconcile(&d, &o),
        Plan::default(),
        "converged state needs nothing"
    );
}

#[test]
fn replicate_mode_programs_flood_list() {
    let d = full_desired(BumPolicy::Replicate);
    let mut o = Observed::default();
    let ops = converge(&d, &mut o);
    assert!(ops.contains(&Op::AddFlood {
        vni: vni(10),
        dev: "vxlan10".into(),
        vtep: ip("192.168.100.2")
    }));
    let flags = PortFlags::vxlan_port(BumPolicy::Replicate);
    assert!(
        flags.flood
            && flags.bcast_flood
            && flags.mcast_flood
            && flags.neigh_suppress
            && !flags.learning
    );
    // Switching the policy to suppress removes the flood entry and flags.
    let mut d2 = d.clone();
    let mut cfg = d2.vnis[&vni(10)].config.clone();
    cfg.bum = BumPolicy::Suppress;
    d2.apply(Change::SetVni(cfg)).unwrap();
    let ops = converge(&d2, &mut o);
    assert_eq!(
        ops,
        vec![
            Op::SetPortFlags {
                name: "vxlan10".into(),
                flags: PortFlags::vxlan_port(BumPolicy::Suppress)
            },
            Op::DelFlood {
                vni: vni(10),
                dev: "vxlan10".into(),
                vtep: ip("192.168.100.2")
            },
        ]
    );
}

#[test]
fn full_to_empty_deletes_only_owned_devices() {
    let d = full_desired(BumPolicy::Suppress);
    let mut o = Observed::default();
    o.links.insert("veth1".into(), veth(7));
    converge(&d, &mut o);
    let ops = converge(&Desired::default(), &mut o);
    assert_eq!(
        ops,
        vec![
            Op::DeleteLink {
                name: "br10".into()
            },
            Op::DeleteLink {
                name: "vxlan10".into()
            }
        ],
        "devices carry the owner alias; the veth does not and stays"
    );
    assert!(o.links.contains_key("veth1"));
    assert!(o.fdb.is_empty() && o.neigh.is_empty());
}

#[test]
fn partial_drift_is_repaired_and_nothing_else() {
    let d = full_desired(BumPolicy::Suppress);
    let mut o = Observed::default();
    o.links.insert("veth1".into(), veth(7));
    converge(&d, &mut o);
    // Someone deleted the v6 neighbour, moved the MAC to another VTEP,
    // removed the bridge half of the FDB entry of... and set vxlan10's flood on.
    o.neigh.remove(&("br10".into(), ip("fd00::2")));
    o.fdb.insert(
        ("vxlan10".into(), mac(2)),
        FdbObs {
            vtep: Some(ip("192.168.100.9")),
            master: false,
            owned: true,
        },
    );
    if let Some(l) = o.links.get_mut("vxlan10") {
        l.port_flags = Some(PortFlags {
            flood: true,
            ..PortFlags::vxlan_port(BumPolicy::Suppress)
        });
    }
    // A stale entry plane owns, and a MAC-only entry left from a withdrawn route.
    o.neigh.insert(
        ("br10".into(), ip("10.0.0.99")),
        NeighObs {
            mac: Some(mac(9)),
            owned: true,
            valid: true,
        },
    );
    o.fdb.insert(
        ("vxlan10".into(), mac(9)),
        FdbObs {
            vtep: Some(ip("192.168.100.3")),
            master: true,
            owned: true,
        },
    );
    let ops = converge(&d, &mut o);
    assert_eq!(
        ops,
        vec![
            Op::SetPortFlags {
                name: "vxlan10".into(),
                flags: PortFlags::vxlan_port(BumPolicy::Suppress)
            },
            Op::DelNeigh {
                vni: vni(10),
                bridge: "br10".into(),
                ip: ip("10.0.0.99")
            },
            Op::DelFdb {
                vni: vni(10),
                dev: "vxlan10".into(),
                mac: mac(9)
            },
            Op::AddFdb {
                vni: vni(10),
                dev: "vxlan10".into(),
                mac: mac(2),
                vtep: ip("192.168.100.2")
            },
            Op::AddNeigh {
                vni: vni(10),
                bridge: "br10".into(),
                ip: ip("fd00::2"),
                mac: mac(2)
            },
        ]
    );
}

#[test]
fn entries_owned_by_others_are_left_alone() {
    let d = full_desired(BumPolicy::Suppress);
    let mut o = Observed::default();
    o.links.insert("veth1".into(), veth(7));
    converge(&d, &mut o);
    // Foreign state on plane's devices, with keys plane does not want.
    o.neigh.insert(
        ("br10".into(), ip("10.0.0.50")),
        NeighObs {
            mac: Some(mac(50)),
            owned: false,
            valid: true,
        },
    );
    o.fdb.insert(
        ("vxlan10".into(), mac(50)),
        FdbObs {
            vtep: Some(ip("192.168.100.5")),
            master: true,
            owned: false,
        },
    );
    o.flood
        .insert(("vxlan10".into(), ip("192.168.100.5")), false);
    // A foreign bridge that is not plane's.
    let mut foreign = veth(20);
    foreign.kind = LinkKind::Bridge;
    o.links.insert("docker0".into(), foreign);
    assert_eq!(reconcile(&d, &o), Plan::default());
    // A foreign entry on a key plane wants is taken over (replace), and
    // marked as plane's from then on.
    o.neigh.insert(
        ("br10".into(), ip("10.0.0.2")),
        NeighObs {
            mac: Some(mac(2)),
            owned: false,
            valid: true,
        },
    );
    assert_eq!(
        reconcile(&d, &o).ops,
        vec![Op::AddNeigh {
            vni: vni(10),
            bridge: "br10".into(),
            ip: ip("10.0.0.2"),
            mac: mac(2)
        }]
    );
}

#[test]
fn adopts_matching_devices_without_recreating() {
    let d = full_desired(BumPolicy::Suppress);
    let cfg = d.vnis[&vni(10)].config.clone();
    let mut o = Observed::default();
    // Devices made by someone else (no alias), matching the config.
    let mut br = veth(3);
    br.kind = LinkKind::Bridge;
    br.mtu = 1450;
    br.up = true;
    br.mac = Some(cfg.bridge_mac);
    br.addrgen_none = true;
    let mut vx = veth(4);
    vx.kind = LinkKind::Vxlan {
        id: 10,
        local: Some(cfg.local_vtep),
        port: 4789,
        learning: false,
    };
    vx.mtu = 1450;
    vx.up = true;
    vx.master = Some("br10".into());
    vx.port_flags = Some(PortFlags::vxlan_port(BumPolicy::Suppress));
    o.links.insert("br10".into(), br);
    o.links.insert("vxlan10".into(), vx);
    let ops = reconcile(&d, &o).ops;
    assert!(!ops.iter().any(|op| matches!(
        op,
        Op::DeleteLink { .. } | Op::CreateVxlan(_) | Op::CreateBridge { .. }
    )));
    assert!(ops.contains(&Op::SetLink {
        name: "br10".into(),
        change: LinkChange::Alias("plane:vni=10".into())
    }));
}

#[test]
fn foreign_vxlan_with_other_id_is_a_conflict_not_a_deletion() {
    let d = full_desired(BumPolicy::Suppress);
    let mut o = Observed::default();
    let mut vx = veth(4);
    vx.kind = LinkKind::Vxlan {
        id: 99,
        local: None,
        port: 4789,
        learning: true,
    };
    o.links.insert("vxlan10".into(), vx);
    let plan = reconcile(&d, &o);
    assert!(!plan
        .ops
        .iter()
        .any(|op| matches!(op, Op::DeleteLink { .. })));
    assert_eq!(plan.conflicts.len(), 1, "{:?}", plan.conflicts);
    // The same device owned by plane (alias) is recreated.
    if let Some(l) = o.links.get_mut("vxlan10") {
        l.alias = Some("plane:vni=10".into());
    }
    let plan = reconcile(&d, &o);
    assert!(plan.ops.contains(&Op::DeleteLink {
        name: "vxlan10".into()
    }));
    assert!(plan
        .ops
        .contains(&Op::CreateVxlan(d.vnis[&vni(10)].config.clone())));
}

#[test]
fn scoped_reconcile_matches_full_reconcile_on_touched_keys() {
    let d = full_desired(BumPolicy::Suppress);
    let mut o = Observed::default();
    o.links.insert("veth1".into(), veth(7));
    converge(&d, &mut o);
    let mut d2 = d.clone();
    d2.apply(Change::SetRemoteMac {
        vni: vni(10),
        mac: mac(3),
        vtep: ip("192.168.100.3"),
    })
    .unwrap();
    d2.apply(Change::RemoveRemoteIp {
        vni: vni(10),
        ip: ip("10.0.0.2"),
    })
    .unwrap();
    let mut scope = Scope::default();
    scope.macs.insert((vni(10), mac(3)));
    scope.ips.insert((vni(10), ip("10.0.0.2")));
    assert_eq!(reconcile_scope(&d2, &o, &scope), reconcile(&d2, &o));
}

#[test]
fn changes_for_unknown_vni_or_taken_names_are_refused() {
    let mut d = full_desired(BumPolicy::Suppress);
    let e = d.apply(Change::SetRemoteMac {
        vni: vni(11),
        mac: mac(1),
        vtep: ip("1.1.1.1"),
    });
    assert_eq!(e, Err(crate::state::ChangeError::UnknownVni(vni(11))));
    let mut cfg = VniConfig::new(vni(11), ip("192.168.100.1"));
    cfg.bridge = "br10".into();
    assert!(matches!(
        d.apply(Change::SetVni(cfg)),
        Err(crate::state::ChangeError::NameInUse { .. })
    ));
    // Idempotent removal.
    assert_eq!(
        d.apply(Change::RemoveRemoteMac {
            vni: vni(10),
            mac: mac(77)
        }),
        Ok(())
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the kernel has, applying the plan converges: a second
        /// reconcile has nothing to do, and no foreign entry was deleted.
        #[test]
        fn plan_converges(
            want in proptest::collection::btree_map(0u8..16, 0u8..4, 0..8),
            have in proptest::collection::btree_map(0u8..16, (0u8..4, any::<bool>(), any::<bool>()), 0..8),
        ) {
            let mut d = full_desired(BumPolicy::Suppress);
            for (m, v) in &want {
                d.apply(Change::SetRemoteMac { vni: vni(10), mac: mac(*m), vtep: ip(&format!("192.168.1.{v}")) }).unwrap();
                d.apply(Change::SetRemoteIp { vni: vni(10), ip: ip(&format!("10.1.0.{m}")), mac: mac(*m) }).unwrap();
            }
            let mut o = Observed::default();
            converge(&full_desired(BumPolicy::Suppress), &mut o);
            for (m, (v, master, owned)) in &have {
                o.fdb.insert(("vxlan10".into(), mac(*m)), FdbObs { vtep: Some(ip(&format!("192.168.1.{v}"))), master: *master, owned: *owned });
                o.neigh.insert(("br10".into(), ip(&format!("10.1.0.{m}"))), NeighObs { mac: Some(mac(*v)), owned: *owned, valid: true });
            }
            let foreign: Vec<_> = o.fdb.iter().filter(|(_, f)| !f.owned).map(|(k, _)| k.clone()).collect();
            converge(&d, &mut o);
            prop_assert_eq!(reconcile(&d, &o), Plan::default());
            for k in foreign {
                prop_assert!(o.fdb.contains_key(&k), "foreign {:?} deleted", k);
            }
        }
    }
}
