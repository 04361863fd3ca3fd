//! Interop tests: plane's BGP speaker against GoBGP 3.10 (gobgpd) and FRR 8.4
//! (bgpd + zebra) as real peers, each scenario in its own pair (or trio) of
//! network namespaces that the test creates and always removes.
//!
//! plane's speaker runs in-process on a thread that entered the plane
//! namespace ([`PlaneSpeaker`]); we check what the peers received with
//! `gobgp -j global rib -a evpn` and `vtysh -c 'show bgp l2vpn evpn json'`,
//! and what plane received through its own API ([`SpeakerHandle::routes`]).
//!
//! Scenarios (independent, run in parallel by the test harness):
//! - `gobgp_plane_active`: plane connects; type-2 (MAC+IPv4, MAC+IPv6,
//!   MAC-only) and type-3 both ways with RD, RT, VNI, next hop,
//!   encapsulation, PMSI; withdrawals both ways; gobgpd SIGKILLed is
//!   detected at once and its routes withdrawn.
//! - `frr_plane_passive`: FRR connects to plane's test port; FRR originates
//!   from a VXLAN device (advertise-all-vni); routes both ways; a withdrawal;
//!   FRR silenced by nftables is detected by the 3 s hold timer and its
//!   routes withdrawn.
//! - `frr_md5`: a wrong TCP-MD5 key never comes up (and the kernel counts
//!   it), the right one does.
//! - `frr_route_reflector`: plane and GoBGP as iBGP clients of an FRR route
//!   reflector get each other's routes.
//! - `plane_route_reflector`: plane reflects between an FRR and a GoBGP
//!   client (ORIGINATOR_ID, CLUSTER_LIST, next hop unchanged).
//! - `frr_graceful_restart`: plane as graceful restart helper of FRR: a
//!   SIGKILLed bgpd's routes stay stale, End-of-RIB after its restart sweeps
//!   what it no longer has.
//!
//! Every link carries permanent neighbour entries (see `peers::link`), so
//! the tests do not depend on the host-wide neighbour table having room.

use plane_bgp::fsm::State;
use plane_bgp::rib::{PmsiView, RouteFilter, RouteView, VniImport};
use plane_bgp::speaker::{NeighborConfig, SpeakerConfig};
use plane_bgp::wire::{
    MacAddr, RouteDistinguisher, RouteTarget, PMSI_INGRESS_REPLICATION, TUNNEL_TYPE_VXLAN,
};
use plane_test::peers::{add_vni, Frr, FrrNeighbor, Gobgp, GobgpNeighbor, PlaneSpeaker};
use plane_test::{poll_until, require_program, require_root, Netns};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const PLANE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PLANE_AS: u32 = 65001;
const PEER_AS: u32 = 65002;
/// plane listens on a test port, not 179, to show that it is configurable.
const PLANE_PORT: u16 = 1790;
const VNI: u32 = 100;
const WAIT: Duration = Duration::from_secs(30);

fn ip(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

fn mac(s: &str) -> MacAddr {
    s.parse().expect("test MAC")
}

/// Two namespaces joined by a veth: plane at 10.0.0.1, the peer at 10.0.0.2.
/// Logs of plane's speaker go to the test output with `PLANE_LOG=debug`.
fn logs() {
    let filter = std::env::var("PLANE_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn pair(tag: &str) -> (Netns, Netns) {
    let a = Netns::new(&format!("{tag}p")).expect("plane netns");
    let b = Netns::new(&format!("{tag}q")).expect("peer netns");
    link(&a, "ul0", "10.0.0.1/24", &b, "ul0", "10.0.0.2/24");
    (a, b)
}

fn link(a: &Netns, a_if: &str, a_cidr: &str, b: &Netns, b_if: &str, b_cidr: &str) {
    plane_test::peers::link(a, a_if, a_cidr, b, b_if, b_cidr).expect("test link");
}

fn plane_config(router_id: Ipv4Addr, asn: u32, neighbors: Vec<NeighborConfig>) -> SpeakerConfig {
    let listen = vec![SocketAddr::new(ip(router_id), PLANE_PORT)];
    let mut c = SpeakerConfig::new(asn, router_id, listen, ip(router_id));
    c.connect_retry = Duration::from_secs(1);
    c.vnis = vec![VniImport::auto(VNI, asn)];
    c.neighbors = neighbors;
    c
}

fn plane_state(plane: &PlaneSpeaker, peer: IpAddr) -> Option<State> {
    let n = plane.call(plane.handle().neighbors()).ok()?;
    n.into_iter().find(|n| n.address == peer).map(|n| n.state)
}

fn plane_routes(plane: &PlaneSpeaker) -> Vec<RouteView> {
    plane
        .call(plane.handle().routes(RouteFilter::default()))
        .unwrap_or_default()
}

fn wait_established(plane: &PlaneSpeaker, peer: IpAddr, diag: impl Fn() -> String) {
    poll_until("plane's session to reach Established", WAIT, || {
        (plane_state(plane, peer) == Some(State::Established)).then_some(())
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}; plane: {:?}; peer: {}",
            plane.call(plane.handle().neighbors()),
            diag()
        )
    });
}

/// plane's local routes for the scenario: MAC+IPv4, MAC+IPv6, MAC-only, IMET.
const PLANE_MACS: [(&str, Option<&str>); 3] = [
    ("02:00:00:00:0a:01", Some("192.168.100.1")),
    ("02:00:00:00:0a:02", Some("fd00::a2")),
    ("02:00:00:00:0a:03", None),
];

fn originate(plane: &PlaneSpeaker) {
    let h = plane.handle();
    plane.call(h.originate_imet(VNI)).expect("originate IMET");
    for (m, a) in PLANE_MACS {
        let a = a.map(|a| a.parse().expect("test IP"));
        plane
            .call(h.originate_mac_ip(VNI, mac(m), a))
            .expect("originate MAC/IP");
    }
}

/// Checks plane's view of the peer's routes: (type, MAC, IP) with RD, VNI,
/// next hop, route target, encapsulation and (type 3) PMSI as the peer
/// originated them.
fn check_plane_received(
    routes: &[RouteView],
    peer: Ipv4Addr,
    rd: RouteDistinguisher,
    rt: RouteTarget,
    want: &[(u8, Option<&str>, Option<&str>)],
) {
    for (t, m, a) in want {
        let m = m.map(mac);
        let a: Option<IpAddr> = a.map(|a| a.parse().expect("test IP"));
        let r = routes
            .iter()
            .find(|r| r.route_type == *t && r.mac == m && (*t == 3 || r.ip == a))
            .unwrap_or_else(|| panic!("plane lacks type-{t} {m:?} {a:?}: {routes:#?}"));
        assert_eq!(r.rd, Some(rd), "RD of {r:?}");
        assert_eq!(r.vni, Some(VNI), "VNI of {r:?}");
        assert_eq!(r.nexthop, Some(ip(peer)), "next hop of {r:?}");
        assert_eq!(r.peer_addr, Some(ip(peer)), "source of {r:?}");
        assert!(r.rts.contains(&rt), "RT {rt} missing in {r:?}");
        assert_eq!(
            r.encapsulation,
            Some(TUNNEL_TYPE_VXLAN),
            "VXLAN encapsulation of {r:?}"
        );
        if *t == 3 {
            assert_eq!(r.originator, Some(ip(peer)), "originator of {r:?}");
            // RFC 8365 5.1.3: ingress replication, label = VNI, endpoint = VTEP.
            let want = PmsiView {
                tunnel_type: PMSI_INGRESS_REPLICATION,
                label: VNI,
                endpoint: Some(ip(peer)),
            };
            assert_eq!(r.pmsi, Some(want), "PMSI of {r:?}");
        } else {
            assert_eq!(r.pmsi, None, "type 2 has no PMSI: {r:?}");
        }
    }
}

fn has_ext_community(attrs: &[Value], pred: impl Fn(&Value) -> bool) -> bool {
    attrs
        .iter()
        .filter(|a| a["type"] == 16)
        .flat_map(|a| a["value"].as_array().cloned().unwrap_or_default())
        .any(|c| pred(&c))
}

/// Checks GoBGP's RIB holds plane's four routes with everything intact.
fn check_gobgp_received(paths: &[Value]) {
    let from_plane: Vec<&Value> = paths
        .iter()
        .filter(|p| {
            p["attrs"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| a["type"] == 14 && a["nexthop"] == "10.0.0.1")
            })
        })
        .collect();
    assert_eq!(
        from_plane.len(),
        4,
        "GoBGP should hold plane's 4 routes: {paths:#?}"
    );
    for p in &from_plane {
        let v = &p["nlri"]["value"];
        assert_eq!(v["rd"]["admin"], "10.0.0.1", "auto RD router-id:index: {p}");
        assert_eq!(v["rd"]["assigned"], 1, "{p}");
        let attrs = p["attrs"].as_array().cloned().unwrap_or_default();
        assert!(
            has_ext_community(&attrs, |c| c["subtype"] == 2
                && c["value"] == format!("{PLANE_AS}:{VNI}")),
            "RT {PLANE_AS}:{VNI} in {p}"
        );
        assert!(
            has_ext_community(&attrs, |c| c["tunnel_type"] == 8),
            "VXLAN encapsulation in {p}"
        );
        match p["nlri"]["type"].as_u64() {
            Some(2) => assert_eq!(v["labels"][0], VNI, "VNI in label 1: {p}"),
            Some(3) => {
                let pmsi = attrs
                    .iter()
                    .find(|a| a["type"] == 22)
                    .unwrap_or_else(|| panic!("PMSI in {p}"));
                assert_eq!(pmsi["tunnel-type"], 6, "ingress replication: {p}");
                assert_eq!(pmsi["label"], VNI, "{p}");
                assert_eq!(pmsi["tunnel-id"], "10.0.0.1", "{p}");
                assert_eq!(v["ip"], "10.0.0.1", "originator: {p}");
            }
            other => panic!("unexpected route type {other:?}: {p}"),
        }
    }
    for (m, a) in PLANE_MACS {
        let found = from_plane.iter().any(|p| {
            let v = &p["nlri"]["value"];
            v["mac"] == m && a.map_or(v["ip"] == "<nil>", |a| v["ip"] == a)
        });
        assert!(found, "GoBGP lacks {m} {a:?}: {from_plane:#?}");
    }
}

#[test]
fn gobgp_plane_active() {
    require_root!();
    logs();
    require_program!("gobgpd");
    let (pns, gns) = pair("ga");
    let mut peer_cfg = GobgpNeighbor::new(ip(PLANE), PLANE_AS);
    peer_cfg.passive = true;
    let mut gobgp = Gobgp::start(&gns, PEER_AS, "10.0.0.2", &[peer_cfg]).expect("gobgpd");
    let plane = PlaneSpeaker::start(
        &pns,
        plane_config(
            PLANE,
            PLANE_AS,
            vec![NeighborConfig::new(ip(PEER), PEER_AS)],
        ),
        true,
    )
    .expect("plane");
    wait_established(&plane, ip(PEER), || gobgp.log_tail());
    assert_eq!(
        gobgp.neighbor_state(ip(PLANE)).as_deref(),
        Ok("established")
    );

    // GoBGP -> plane.
    let add = |args: &str| {
        let a: Vec<&str> = args.split_whitespace().collect();
        gobgp.cli(&a).expect("gobgp add");
    };
    let tail = "etag 0 label 100 rd 10.0.0.2:100 rt 65002:100 encap vxlan nexthop 10.0.0.2";
    add(&format!(
        "global rib -a evpn add macadv 02:00:00:00:0b:01 192.168.100.11 {tail}"
    ));
    add(&format!(
        "global rib -a evpn add macadv 02:00:00:00:0b:02 fd00::b2 {tail}"
    ));
    add(&format!(
        "global rib -a evpn add macadv 02:00:00:00:0b:03 0.0.0.0 {tail}"
    ));
    add("global rib -a evpn add multicast 10.0.0.2 etag 0 rd 10.0.0.2:100 rt 65002:100 encap vxlan pmsi ingress-repl 100 10.0.0.2 nexthop 10.0.0.2");
    let routes = poll_until("plane to receive GoBGP's 4 routes", WAIT, || {
        let r = plane_routes(&plane);
        (r.iter().filter(|r| r.peer_addr == Some(ip(PEER))).count() == 4).then_some(r)
    })
    .expect("routes at plane");
    check_plane_received(
        &routes,
        PEER,
        RouteDistinguisher::Ipv4 {
            addr: PEER,
            number: 100,
        },
        RouteTarget::As2 {
            asn: 65002,
            value: 100,
        },
        &[
            (2, Some("02:00:00:00:0b:01"), Some("192.168.100.11")),
            (2, Some("02:00:00:00:0b:02"), Some("fd00::b2")),
            (2, Some("02:00:00:00:0b:03"), None),
            (3, None, None),
        ],
    );

    // plane -> GoBGP.
    originate(&plane);
    let paths = poll_until("GoBGP to receive plane's 4 routes", WAIT, || {
        let p = gobgp.evpn_paths().ok()?;
        (p.len() == 8).then_some(p)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", gobgp.evpn_paths()));
    check_gobgp_received(&paths);

    // Withdrawals both ways.
    gobgp
        .cli(&[
            "global",
            "rib",
            "-a",
            "evpn",
            "del",
            "macadv",
            "02:00:00:00:0b:01",
            "192.168.100.11",
            "etag",
            "0",
            "label",
            "100",
            "rd",
            "10.0.0.2:100",
        ])
        .expect("gobgp del");
    poll_until("plane to drop the withdrawn route", WAIT, || {
        let r = plane_routes(&plane);
        (r.iter().filter(|r| r.peer_addr == Some(ip(PEER))).count() == 3
            && !r.iter().any(|r| r.mac == Some(mac("02:00:00:00:0b:01"))))
        .then_some(())
    })
    .expect("withdrawal GoBGP -> plane");
    let (m, a) = PLANE_MACS[1];
    plane
        .call(
            plane
                .handle()
                .withdraw_mac_ip(VNI, mac(m), a.map(|a| a.parse().expect("ip"))),
        )
        .expect("plane withdraw");
    poll_until("GoBGP to drop plane's withdrawn route", WAIT, || {
        let p = gobgp.evpn_paths().ok()?;
        (p.len() == 6 && !p.iter().any(|p| p["nlri"]["value"]["mac"] == m)).then_some(())
    })
    .expect("withdrawal plane -> GoBGP");

    // SIGKILL: the kernel closes the connection, plane notices at once and
    // withdraws everything GoBGP sent (GoBGP does not negotiate GR).
    let killed = Instant::now();
    gobgp.kill();
    poll_until(
        "plane to notice the killed peer",
        Duration::from_secs(2),
        || (plane_state(&plane, ip(PEER)) != Some(State::Established)).then_some(()),
    )
    .expect("killed peer detected at once");
    let detected = killed.elapsed();
    poll_until(
        "GoBGP's routes withdrawn at plane",
        Duration::from_secs(2),
        || {
            (!plane_routes(&plane)
                .iter()
                .any(|r| r.peer_addr == Some(ip(PEER))))
            .then_some(())
        },
    )
    .expect("routes of the killed peer withdrawn");
    eprintln!("killed gobgpd detected after {detected:?}");
}

/// The auto RD FRR derives: router-id:index (index 2 for the first VNI in 8.4).
fn frr_rd_of(paths: &[Value], mac: &str) -> Option<String> {
    paths
        .iter()
        .find(|p| p["prefix"].as_str().is_some_and(|s| s.contains(mac)))
        .and_then(|p| p["rd"].as_str())
        .map(str::to_string)
}

#[test]
fn frr_plane_passive() {
    require_root!();
    logs();
    require_program!("bgpd");
    require_program!("nft");
    let (pns, fns) = pair("fp");
    add_vni(&fns, VNI, "10.0.0.2").expect("VNI in FRR's namespace");
    // FRR originates: a MAC-only route from a static FDB entry, MAC+IPv4
    // from a neighbour entry, and its IMET for the VNI.
    fns.sh("bridge fdb add 02:00:00:00:0c:01 dev ac100 master static")
        .expect("fdb");
    fns.sh("bridge fdb add 02:00:00:00:0c:02 dev ac100 master static")
        .expect("fdb");
    fns.sh("ip neigh add 192.168.100.21 lladdr 02:00:00:00:0c:02 dev br100 nud permanent")
        .expect("neigh");
    let mut n = FrrNeighbor::new(ip(PLANE), PLANE_AS);
    n.port = Some(PLANE_PORT);
    n.timers = Some((1, 3));
    let frr = Frr::start(&fns, PEER_AS, "10.0.0.2", &[n], true).expect("frr");
    let mut nb = NeighborConfig::new(ip(PEER), PEER_AS);
    nb.passive = true;
    nb.hold_time = Some(3);
    let plane =
        PlaneSpeaker::start(&pns, plane_config(PLANE, PLANE_AS, vec![nb]), true).expect("plane");
    wait_established(&plane, ip(PEER), || frr.log_tail());
    assert_eq!(frr.neighbor_state(ip(PLANE)).as_deref(), Ok("Established"));

    // FRR -> plane.
    let routes = poll_until("plane to receive FRR's 4 routes", WAIT, || {
        let r = plane_routes(&plane);
        (r.iter().filter(|r| r.peer_addr == Some(ip(PEER))).count() >= 4).then_some(r)
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:#?}; FRR: {:?}",
            plane_routes(&plane),
            frr.vtysh("show bgp l2vpn evpn")
        )
    });
    let rd = routes
        .iter()
        .find(|r| r.peer_addr == Some(ip(PEER)))
        .and_then(|r| r.rd)
        .expect("an RD");
    assert!(
        matches!(rd, RouteDistinguisher::Ipv4 { addr, .. } if addr == PEER),
        "FRR's auto RD {rd}"
    );
    check_plane_received(
        &routes,
        PEER,
        rd,
        RouteTarget::As2 {
            asn: 65002,
            value: 100,
        },
        &[
            (2, Some("02:00:00:00:0c:01"), None),
            (2, Some("02:00:00:00:0c:02"), None),
            (2, Some("02:00:00:00:0c:02"), Some("192.168.100.21")),
            (3, None, None),
        ],
    );

    // plane -> FRR.
    originate(&plane);
    let paths = poll_until("FRR to receive plane's 4 routes", WAIT, || {
        let p = frr.evpn_paths().ok()?;
        let from_plane: Vec<Value> = p.into_iter().filter(|p| p["rd"] == "10.0.0.1:1").collect();
        (from_plane.len() == 4).then_some(from_plane)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", frr.vtysh("show bgp l2vpn evpn")));
    for p in &paths {
        let ext = p["extendedCommunity"]["string"]
            .as_str()
            .unwrap_or_default();
        assert!(ext.contains("RT:65001:100"), "RT in {p}");
        assert!(ext.contains("ET:8"), "VXLAN encapsulation in {p}");
        let nh = p["nexthops"][0]["ip"].as_str().unwrap_or_default();
        assert_eq!(nh, "10.0.0.1", "next hop in {p}");
    }
    for (m, a) in PLANE_MACS {
        let found = paths.iter().any(|p| {
            let pre = p["prefix"].as_str().unwrap_or_default();
            pre.starts_with("[2]") && pre.contains(m) && a.is_none_or(|a| pre.contains(a))
        });
        assert!(found, "FRR lacks {m} {a:?}: {paths:#?}");
    }
    let imet = paths
        .iter()
        .find(|p| p["prefix"].as_str().is_some_and(|s| s.starts_with("[3]")))
        .unwrap_or_else(|| panic!("FRR lacks plane's IMET: {paths:#?}"));
    let detail = frr
        .vtysh("show bgp l2vpn evpn route type multicast")
        .expect("vtysh");
    assert!(detail.contains("10.0.0.1"), "{imet}\n{detail}");
    let pmsi = frr
        .vtysh("show bgp l2vpn evpn route rd 10.0.0.1:1 type multicast")
        .expect("vtysh");
    assert!(
        pmsi.contains("PMSI") || pmsi.contains("IR"),
        "PMSI tunnel in {pmsi}"
    );

    // A withdrawal from FRR (the FDB entry goes) reaches plane.
    fns.sh("bridge fdb del 02:00:00:00:0c:01 dev ac100 master static")
        .expect("fdb del");
    poll_until("plane to drop FRR's withdrawn MAC", WAIT, || {
        (!plane_routes(&plane)
            .iter()
            .any(|r| r.mac == Some(mac("02:00:00:00:0c:01"))))
        .then_some(())
    })
    .expect("withdrawal FRR -> plane");
    let _ = frr_rd_of(&paths, "0a:01");

    // FRR goes silent: plane's 3 s hold timer notices and withdraws its routes.
    fns.sh("nft add table inet silence && nft add chain inet silence in '{ type filter hook input priority 0; policy drop; }' && nft add chain inet silence out '{ type filter hook output priority 0; policy drop; }'").expect("nft");
    let silenced = Instant::now();
    poll_until(
        "plane's hold timer to expire",
        Duration::from_secs(6),
        || (plane_state(&plane, ip(PEER)) != Some(State::Established)).then_some(()),
    )
    .expect("silent peer detected");
    let detected = silenced.elapsed();
    assert!(
        detected >= Duration::from_secs(2),
        "detected after {detected:?}: too early for a 3 s hold time"
    );
    let err = plane.call(plane.handle().neighbors()).expect("neighbors")[0]
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(err.contains("4/0") || err.contains("Hold Timer"), "{err}");
    poll_until(
        "FRR's routes withdrawn at plane",
        Duration::from_secs(2),
        || {
            (!plane_routes(&plane)
                .iter()
                .any(|r| r.peer_addr == Some(ip(PEER))))
            .then_some(())
        },
    )
    .expect("routes of the silent peer withdrawn");
    eprintln!("silent FRR detected after {detected:?}");
}

fn md5_counters(ns: &Netns) -> u64 {
    let text = ns.exec("cat", ["/proc/net/netstat"]).unwrap_or_default();
    plane_bgp::session::netstat::parse_md5_counters(&text)
        .iter()
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn frr_md5() {
    require_root!();
    logs();
    require_program!("bgpd");
    let (pns, fns) = pair("md");
    let mut n = FrrNeighbor::new(ip(PLANE), PLANE_AS);
    n.password = Some("s3cret-key".into());
    n.port = Some(PLANE_PORT);
    let frr = Frr::start(&fns, PEER_AS, "10.0.0.2", &[n], false).expect("frr");
    // plane with the wrong key: nothing comes up, the kernel counts drops.
    let mut wrong = NeighborConfig::new(ip(PEER), PEER_AS);
    wrong.password = Some("wrong-key".into());
    let plane = PlaneSpeaker::start(&pns, plane_config(PLANE, PLANE_AS, vec![wrong]), false)
        .expect("plane");
    let counted = poll_until(
        "TCP-MD5 drops counted in plane's namespace",
        Duration::from_secs(10),
        || {
            let c = md5_counters(&pns) + md5_counters(&fns);
            (c > 0).then_some(c)
        },
    )
    .expect("TCPMD5 counters");
    assert_ne!(plane_state(&plane, ip(PEER)), Some(State::Established));
    assert_ne!(frr.neighbor_state(ip(PLANE)).as_deref(), Ok("Established"));
    eprintln!("wrong key: {counted} TCPMD5 events counted, no session");

    // The right key: Established.
    let h = plane.handle();
    plane.call(h.remove_neighbor(ip(PEER))).expect("remove");
    let mut right = NeighborConfig::new(ip(PEER), PEER_AS);
    right.password = Some("s3cret-key".into());
    plane.call(h.add_neighbor(right)).expect("add");
    wait_established(&plane, ip(PEER), || frr.log_tail());
    poll_until("FRR Established", WAIT, || {
        (frr.neighbor_state(ip(PLANE)).ok()? == "Established").then_some(())
    })
    .expect("FRR side");
}

#[test]
fn frr_route_reflector() {
    require_root!();
    logs();
    require_program!("bgpd");
    require_program!("gobgpd");
    // rr (FRR, 10.0.1.254 / 10.0.2.254) with clients plane (10.0.1.1) and GoBGP (10.0.2.2), all AS 65000.
    let rr = Netns::new("rrr").expect("rr netns");
    let pns = Netns::new("rrp").expect("plane netns");
    let gns = Netns::new("rrg").expect("gobgp netns");
    link(&rr, "to-plane", "10.0.1.254/24", &pns, "ul0", "10.0.1.1/24");
    link(&rr, "to-gobgp", "10.0.2.254/24", &gns, "ul0", "10.0.2.2/24");
    pns.ip(&["route", "add", "default", "via", "10.0.1.254"])
        .expect("route");
    gns.ip(&["route", "add", "default", "via", "10.0.2.254"])
        .expect("route");
    let plane_ip = Ipv4Addr::new(10, 0, 1, 1);
    let gobgp_ip = Ipv4Addr::new(10, 0, 2, 2);
    let rr_plane = Ipv4Addr::new(10, 0, 1, 254);
    let rr_gobgp = Ipv4Addr::new(10, 0, 2, 254);
    let mut c1 = FrrNeighbor::new(ip(plane_ip), 65000);
    c1.rr_client = true;
    c1.port = Some(PLANE_PORT);
    let mut c2 = FrrNeighbor::new(ip(gobgp_ip), 65000);
    c2.rr_client = true;
    let frr = Frr::start(&rr, 65000, "10.0.1.254", &[c1, c2], false).expect("frr rr");
    let gobgp = Gobgp::start(
        &gns,
        65000,
        "10.0.2.2",
        &[GobgpNeighbor::new(ip(rr_gobgp), 65000)],
    )
    .expect("gobgpd");
    let mut n = NeighborConfig::new(ip(rr_plane), 65000);
    n.passive = true;
    let mut cfg = plane_config(plane_ip, 65000, vec![n]);
    cfg.vnis = vec![VniImport::auto(VNI, 65000)];
    let plane = PlaneSpeaker::start(&pns, cfg, true).expect("plane");
    wait_established(&plane, ip(rr_plane), || frr.log_tail());
    poll_until("GoBGP Established with the RR", WAIT, || {
        (gobgp.neighbor_state(ip(rr_gobgp)).ok()? == "established").then_some(())
    })
    .expect("gobgp session");

    // The other client's route reaches plane through the reflector.
    gobgp
        .cli(&[
            "global",
            "rib",
            "-a",
            "evpn",
            "add",
            "macadv",
            "02:00:00:00:0d:01",
            "192.168.100.31",
            "etag",
            "0",
            "label",
            "100",
            "rd",
            "10.0.2.2:100",
            "rt",
            "65000:100",
            "encap",
            "vxlan",
            "nexthop",
            "10.0.2.2",
        ])
        .expect("gobgp add");
    let routes = poll_until("plane to receive the reflected route", WAIT, || {
        let r = plane_routes(&plane);
        r.iter()
            .any(|r| r.mac == Some(mac("02:00:00:00:0d:01")))
            .then_some(r)
    })
    .unwrap_or_else(|e| panic!("{e}; RR: {:?}", frr.vtysh("show bgp l2vpn evpn")));
    let r = routes
        .iter()
        .find(|r| r.mac == Some(mac("02:00:00:00:0d:01")))
        .expect("route");
    assert_eq!(
        r.nexthop,
        Some(ip(gobgp_ip)),
        "the reflector keeps the next hop: {r:?}"
    );
    assert_eq!(r.peer_addr, Some(ip(rr_plane)), "{r:?}");
    assert_eq!(r.vni, Some(VNI));

    // And plane's route reaches GoBGP.
    plane
        .call(
            plane
                .handle()
                .originate_mac_ip(VNI, mac("02:00:00:00:0e:01"), None),
        )
        .expect("originate");
    poll_until("GoBGP to receive plane's route via the RR", WAIT, || {
        let p = gobgp.evpn_paths().ok()?;
        p.iter()
            .any(|p| p["nlri"]["value"]["mac"] == "02:00:00:00:0e:01")
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", gobgp.evpn_paths()));
}

#[test]
fn plane_route_reflector() {
    require_root!();
    logs();
    require_program!("bgpd");
    require_program!("gobgpd");
    // plane (10.0.1.1 / 10.0.2.1) reflects between its iBGP clients FRR
    // (10.0.1.2) and GoBGP (10.0.2.2), all AS 65000.
    let pns = Netns::new("prp").expect("plane netns");
    let fns = Netns::new("prf").expect("frr netns");
    let gns = Netns::new("prg").expect("gobgp netns");
    link(&pns, "to-frr", "10.0.1.1/24", &fns, "ul0", "10.0.1.2/24");
    link(&pns, "to-gobgp", "10.0.2.1/24", &gns, "ul0", "10.0.2.2/24");
    fns.ip(&["route", "add", "default", "via", "10.0.1.1"])
        .expect("route");
    gns.ip(&["route", "add", "default", "via", "10.0.2.1"])
        .expect("route");
    let (plane_f, plane_g) = (Ipv4Addr::new(10, 0, 1, 1), Ipv4Addr::new(10, 0, 2, 1));
    let (frr_ip, gobgp_ip) = (Ipv4Addr::new(10, 0, 1, 2), Ipv4Addr::new(10, 0, 2, 2));
    let frr = Frr::start(
        &fns,
        65000,
        "10.0.1.2",
        &[FrrNeighbor::new(ip(plane_f), 65000)],
        false,
    )
    .expect("frr");
    let mut gn = GobgpNeighbor::new(ip(plane_g), 65000);
    gn.passive = true;
    let gobgp = Gobgp::start(&gns, 65000, "10.0.2.2", &[gn]).expect("gobgpd");
    let mut to_frr = NeighborConfig::new(ip(frr_ip), 65000);
    to_frr.port = 179;
    to_frr.route_reflector_client = true;
    to_frr.local_address = Some(ip(plane_f));
    let mut to_gobgp = NeighborConfig::new(ip(gobgp_ip), 65000);
    to_gobgp.route_reflector_client = true;
    to_gobgp.local_address = Some(ip(plane_g));
    let mut cfg = plane_config(plane_f, 65000, vec![to_frr, to_gobgp]);
    // plane listens on every address at the test port; FRR connects to 179
    // only if told, so plane connects out to both clients instead.
    cfg.listen = vec![SocketAddr::new(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        PLANE_PORT,
    )];
    let plane = PlaneSpeaker::start(&pns, cfg, false).expect("plane");
    wait_established(&plane, ip(frr_ip), || frr.log_tail());
    wait_established(&plane, ip(gobgp_ip), || gobgp.log_tail());

    gobgp
        .cli(&[
            "global",
            "rib",
            "-a",
            "evpn",
            "add",
            "macadv",
            "02:00:00:00:10:01",
            "192.168.100.41",
            "etag",
            "0",
            "label",
            "100",
            "rd",
            "10.0.2.2:100",
            "rt",
            "65000:100",
            "encap",
            "vxlan",
            "nexthop",
            "10.0.2.2",
        ])
        .expect("gobgp add");
    let path = poll_until(
        "FRR to receive GoBGP's route reflected by plane",
        WAIT,
        || {
            let p = frr.evpn_paths().ok()?;
            p.into_iter().find(|p| {
                p["prefix"]
                    .as_str()
                    .is_some_and(|s| s.contains("02:00:00:00:10:01"))
            })
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {:?}", frr.vtysh("show bgp l2vpn evpn")));
    let detail = frr
        .vtysh("show bgp l2vpn evpn route rd 10.0.2.2:100")
        .expect("vtysh");
    // RFC 4456: ORIGINATOR_ID is the client that originated it, CLUSTER_LIST holds plane's id.
    assert!(detail.contains("Originator: 10.0.2.2"), "{detail}");
    assert!(detail.contains("Cluster list: 10.0.1.1"), "{detail}");
    assert_eq!(
        path["nexthops"][0]["ip"], "10.0.2.2",
        "next hop unchanged: {path}"
    );
}

#[test]
fn frr_graceful_restart() {
    require_root!();
    logs();
    require_program!("bgpd");
    let (pns, fns) = pair("gr");
    // Two VNIs in FRR: 100 stays, 200 goes while bgpd is down.
    add_vni(&fns, VNI, "10.0.0.2").expect("VNI 100 in FRR's namespace");
    add_vni(&fns, 200, "10.0.0.2").expect("VNI 200 in FRR's namespace");
    fns.sh("bridge fdb add 02:00:00:00:11:01 dev ac100 master static")
        .expect("fdb");
    fns.sh("bridge fdb add 02:00:00:00:12:01 dev ac200 master static")
        .expect("fdb");
    let mut n = FrrNeighbor::new(ip(PLANE), PLANE_AS);
    n.port = Some(PLANE_PORT);
    let gr = [
        "bgp graceful-restart",
        "bgp graceful-restart preserve-fw-state",
    ];
    let mut frr = Frr::start_with(&fns, PEER_AS, "10.0.0.2", &[n], true, &gr).expect("frr");
    let mut nb = NeighborConfig::new(ip(PEER), PEER_AS);
    nb.passive = true;
    let plane =
        PlaneSpeaker::start(&pns, plane_config(PLANE, PLANE_AS, vec![nb]), false).expect("plane");
    wait_established(&plane, ip(PEER), || frr.log_tail());
    // (route type, VNI, MAC, stale) of every route FRR sent.
    let from_frr = |plane: &PlaneSpeaker| -> Vec<(u8, Option<u32>, Option<MacAddr>, bool)> {
        let mut v: Vec<_> = plane_routes(plane)
            .into_iter()
            .filter(|r| r.peer_addr == Some(ip(PEER)))
            .map(|r| (r.route_type, r.vni, r.mac, r.stale))
            .collect();
        v.sort();
        v
    };
    let (m1, m2) = (
        Some(mac("02:00:00:00:11:01")),
        Some(mac("02:00:00:00:12:01")),
    );
    let all = |stale| {
        vec![
            (2, Some(100), m1, stale),
            (2, Some(200), m2, stale),
            (3, Some(100), None, stale),
            (3, Some(200), None, stale),
        ]
    };
    poll_until("FRR's routes at plane", WAIT, || {
        (from_frr(&plane) == all(false)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", from_frr(&plane)));

    // bgpd dies without a NOTIFICATION: plane, its graceful restart helper
    // (FRR advertised GR for EVPN), keeps the routes as stale.
    frr.kill_bgpd();
    poll_until(
        "plane to notice bgpd's death",
        Duration::from_secs(5),
        || (plane_state(&plane, ip(PEER)) != Some(State::Established)).then_some(()),
    )
    .expect("session down");
    assert_eq!(from_frr(&plane), all(true), "stale, not withdrawn");

    // VNI 200 goes while bgpd is down; bgpd restarts, re-advertises VNI 100
    // and sends End-of-RIB: VNI 200's stale routes are swept at once (long
    // before FRR's 120 s restart time), VNI 100's are fresh again.
    fns.ip(&["link", "del", "vx200"]).expect("del vx200");
    frr.restart_bgpd(&fns).expect("bgpd restart");
    wait_established(&plane, ip(PEER), || frr.log_tail());
    poll_until(
        "stale routes refreshed or swept after End-of-RIB",
        WAIT,
        || {
            (from_frr(&plane) == [(2, Some(100), m1, false), (3, Some(100), None, false)])
                .then_some(())
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:?}\nFRR: {:?}",
            from_frr(&plane),
            frr.vtysh("show bgp l2vpn evpn")
        )
    });
}
