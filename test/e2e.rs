//! End to end: three hosts in network namespaces, each running `planed` as a
//! real process (or FRR in the mixed test), containers attached with
//! `planectl endpoint add --netns`, traffic checked with ping and an
//! underlay capture.
//!
//! Containers reuse MACs and IPs across VNIs, on different hosts, so that a
//! leak between VNIs would point an FDB entry at the wrong host:
//!
//! ```text
//!            h1          h2          h3
//!  VNI 10    :01 .1      :02 .2      :03 .3
//!  VNI 20    :02 .2      :03 .3      :01 .1    + :09 .9 (VNI 20 only)
//! ```
//!
//! Each test shares one setup across its assertions to keep the suite fast.

use plane_test::e2e::{
    kernel_vni, Capture, Container, FrrHost, Host, HostSpec, KernelVni, Peer, PingRun, Underlay,
};
use plane_test::{poll_until, require_program, require_root};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
/// Hold time of the tests' sessions: short, so that a dead host is noticed
/// quickly, long enough for two busy cores.
const HOLD: u16 = 6;

fn kernel(h: &Host, vni: u32) -> KernelVni {
    kernel_vni(&h.ns, &format!("vxlan{vni}"), &format!("br{vni}"))
}

/// Waits until `h`'s kernel has MAC -> VTEP and IP -> MAC for container `c`
/// in its VNI.
fn wait_programmed(h: &Host, c: &Container, vtep: &str) {
    let what = format!("{} kernel: VNI {} {} -> {vtep}", h.name(), c.vni, c.mac);
    let r = poll_until(&what, WAIT, || {
        let k = kernel(h, c.vni);
        (k.vtep_of(&c.mac) == Some(vtep)
            && k.mac_of(&c.ipv4) == Some(c.mac.as_str())
            && k.mac_of(&c.ipv6) == Some(c.mac.as_str()))
        .then_some(())
    });
    if let Err(e) = r {
        panic!(
            "{e}\nkernel: {:?}\n--- log ---\n{}",
            kernel(h, c.vni),
            h.log()
        );
    }
}

/// Waits until `h`'s kernel has nothing for container `c`'s MAC in its VNI.
fn wait_gone(h: &Host, c: &Container, within: Duration) {
    let what = format!("{} kernel: VNI {} {} gone", h.name(), c.vni, c.mac);
    let r = poll_until(&what, within, || {
        let k = kernel(h, c.vni);
        (k.vtep_of(&c.mac).is_none() && k.mac_of(&c.ipv4).is_none()).then_some(())
    });
    if let Err(e) = r {
        panic!("{e}\nkernel: {:?}", kernel(h, c.vni));
    }
}

fn wait_sessions(hosts: &[&Host], each: usize) {
    for h in hosts {
        let r = poll_until(&format!("{} sessions up", h.name()), WAIT, || {
            (h.established() == each).then_some(())
        });
        if let Err(e) = r {
            let diag =
                h.ns.sh("ip addr; ip route; ping -c1 -W1 10.0.0.2; ss -tanp")
                    .unwrap_or_else(|e| e);
            panic!("{e}\n{diag}\n--- {} log ---\n{}", h.name(), h.log());
        }
    }
}

/// Three planed hosts with the given per-host peer lists, started.
fn planed_hosts(underlay: &Underlay, peers: [Vec<Peer>; 3]) -> Vec<Host> {
    let mut hosts = Vec::new();
    for (i, p) in peers.into_iter().enumerate() {
        let idx = i as u8 + 1;
        let spec = HostSpec {
            idx,
            peers: p,
            vnis: vec![10, 20],
            flood: Vec::new(),
            hold_time: HOLD,
        };
        hosts.push(Host::new(underlay, spec).expect("host"));
    }
    for h in hosts.iter_mut() {
        h.start().expect("planed starts");
    }
    hosts
}

fn mesh_peers() -> [Vec<Peer>; 3] {
    let p = |idx| Peer {
        idx,
        rr_client: false,
    };
    [vec![p(2), p(3)], vec![p(1), p(3)], vec![p(1), p(2)]]
}

/// The containers of the table in the module doc: `[host][vni index]`, and
/// the VNI-20-only one on h3.
struct Tenants {
    c: [[Container; 2]; 3],
    only20: Container,
}

fn tenants() -> Tenants {
    let mk = |vni, last| Container::new(vni, last).expect("container");
    Tenants {
        c: [
            [mk(10, 1), mk(20, 2)],
            [mk(10, 2), mk(20, 3)],
            [mk(10, 3), mk(20, 1)],
        ],
        only20: mk(20, 9),
    }
}

fn vtep(h: usize) -> String {
    format!("10.0.0.{}", h + 1)
}

/// Adds every container on its host and waits until every other host's
/// kernel has it.
fn attach_all(hosts: &[Host], t: &Tenants) {
    for (h, cs) in t.c.iter().enumerate() {
        for c in cs {
            hosts[h].add_endpoint(c).expect("endpoint add");
        }
    }
    hosts[2].add_endpoint(&t.only20).expect("endpoint add");
    for (h, cs) in t.c.iter().enumerate() {
        for c in cs {
            for (o, other) in hosts.iter().enumerate() {
                if o != h {
                    wait_programmed(other, c, &vtep(h));
                }
            }
        }
    }
}

/// Every container reaches every other container of its VNI (v4 and v6).
/// Stops the underlay captures (one per host, in order) and asserts that
/// each saw VXLAN traffic but no ARP, no NS and no broadcast or multicast.
fn assert_no_bum(hosts: &[Host], caps: Vec<Capture>) {
    let mut bum = Vec::new();
    for (h, cap) in hosts.iter().zip(caps) {
        let (total, arp, ns, bcast) = cap.finish().expect("capture");
        bum.push((h.name(), total, arp, ns, bcast));
    }
    for (name, total, arp, ns, bcast) in &bum {
        assert!(*total > 0, "{name}: capture saw no VXLAN traffic at all");
        assert_eq!(
            (*arp, *ns, *bcast),
            (0, 0, 0),
            "{name}: BUM on the underlay: {bum:?}"
        );
    }
    eprintln!("underlay capture (host, vxlan frames, arp, ns, bum): {bum:?}");
}

fn check_reachability(t: &Tenants) {
    for v in 0..2 {
        for a in 0..3 {
            for b in 0..3 {
                if a == b {
                    continue;
                }
                let (src, dst) = (&t.c[a][v], &t.c[b][v]);
                src.ping_until(&dst.ipv4, WAIT).expect("ping v4");
                src.ping_until(&dst.ipv6, WAIT).expect("ping v6");
            }
        }
    }
}

/// Three planed in an iBGP full mesh: reachability within VNIs and never
/// across, 0 BUM on the underlay, withdrawal, MAC move, SIGKILL restart
/// without loss, and a dead host's endpoints withdrawn within the hold time.
#[test]
fn full_mesh_three_planed_hosts() {
    require_root!();
    require_program!("tcpdump");
    require_program!("tshark");
    let underlay = Underlay::new().expect("underlay");
    let mut hosts = planed_hosts(&underlay, mesh_peers());
    wait_sessions(&hosts.iter().collect::<Vec<_>>(), 2);
    let t = tenants();

    // Capture on every host's underlay from before the first endpoint.
    let caps: Vec<Capture> = hosts
        .iter()
        .map(|h| {
            Capture::start(
                &h.ns,
                underlay.dir.path().join(format!("{}.pcap", h.name())),
            )
            .expect("tcpdump")
        })
        .collect();
    attach_all(&hosts, &t);

    // Same MAC in two VNIs on different hosts: each VNI points at its own.
    let k10 = kernel(&hosts[0], 10);
    let k20 = kernel(&hosts[0], 20);
    assert_eq!(
        k10.vtep_of("02:00:00:00:00:02"),
        Some("10.0.0.2"),
        "{k10:?}"
    );
    assert_eq!(
        k20.vtep_of("02:00:00:00:00:01"),
        Some("10.0.0.3"),
        "{k20:?}"
    );
    assert_eq!(
        k20.vtep_of("02:00:00:00:00:03"),
        Some("10.0.0.2"),
        "{k20:?}"
    );
    assert_eq!(
        k20.vtep_of("02:00:00:00:00:09"),
        Some("10.0.0.3"),
        "{k20:?}"
    );
    assert_eq!(
        k10.vtep_of("02:00:00:00:00:09"),
        None,
        "VNI 20 leaked into VNI 10: {k10:?}"
    );
    assert_eq!(k10.mac_of("192.168.0.9"), None, "{k10:?}");

    check_reachability(&t);
    // Never across VNIs: .9 exists only in VNI 20.
    assert!(
        !t.c[0][0].ping("192.168.0.9", 1),
        "VNI 10 reached a VNI 20 container"
    );
    assert!(
        t.c[0][1].ping("192.168.0.9", 2),
        "VNI 20 did not reach its own container"
    );

    assert_no_bum(&hosts, caps);

    // show commands agree with the kernel.
    let fdb = hosts[0].json(&["show", "fdb"]).expect("show fdb");
    let v10 = fdb
        .as_array()
        .and_then(|a| a.iter().find(|v| v["vni"] == 10))
        .expect("VNI 10 in show fdb");
    assert!(
        v10["remote_macs"].as_array().is_some_and(|m| m
            .iter()
            .any(|e| e["mac"] == "02:00:00:00:00:02" && e["vtep"] == "10.0.0.2")),
        "{v10}"
    );
    assert_eq!(
        v10["flood"],
        serde_json::json!([]),
        "bum = suppress: no flood list"
    );
    let routes = hosts[0]
        .json(&["show", "routes", "--vni", "10"])
        .expect("show routes");
    let n = routes.as_array().map_or(0, |a| a.len());
    // 3 type-2 (MAC, v4, v6) per container and a type-3 per host.
    assert_eq!(n, 3 * 3 + 3, "{routes:#}");

    // Endpoint removal withdraws it everywhere.
    hosts[1]
        .del_endpoint(20, &t.c[1][1].mac)
        .expect("endpoint del");
    for o in [0, 2] {
        wait_gone(&hosts[o], &t.c[1][1], WAIT);
    }

    // Move: the container of h2 / VNI 10 comes up on h3 (a new namespace with
    // the same MAC and IPs, as after a migration) before h2 lets go of it;
    // h3 advertises a higher MAC Mobility sequence, every host re-points.
    let moved = Container::new(10, 2).expect("container");
    hosts[2].add_endpoint(&moved).expect("endpoint add on h3");
    wait_programmed(&hosts[0], &moved, "10.0.0.3");
    let seq = hosts[0]
        .json(&["show", "routes", "--vni", "10"])
        .expect("routes")
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|r| {
                    r["mac"] == "02:00:00:00:00:02"
                        && r["nexthop"] == "10.0.0.3"
                        && r["ip"].is_null()
                })
                .and_then(|r| r["seq"].as_u64())
        });
    assert_eq!(seq, Some(1), "MAC Mobility sequence of the moved MAC");
    // RFC 7432 section 15: h2 sees the higher sequence and withdraws its own
    // routes for the MAC, so h1 keeps only h3's (MAC-only, v4, v6); h2
    // still has the endpoint registered and reports it moved.
    let moved_routes = |h: &Host| -> Vec<String> {
        h.json(&["show", "routes", "--vni", "10", "--type", "2"])
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|r| r["mac"] == moved.mac.as_str())
            .map(|r| format!("{}", r["nexthop"]))
            .collect()
    };
    let r = poll_until(
        "h2's routes for the moved MAC withdrawn (seen on h1)",
        WAIT,
        || (moved_routes(&hosts[0]) == vec!["\"10.0.0.3\""; 3]).then_some(()),
    );
    if let Err(e) = r {
        panic!(
            "{e}\nh1 routes: {:?}\n--- h2 log ---\n{}",
            moved_routes(&hosts[0]),
            hosts[1].log()
        );
    }
    let state_on_h2 = || {
        hosts[1]
            .json(&["show", "endpoints", "--vni", "10"])
            .ok()
            .and_then(|v| {
                v.as_array().and_then(|a| {
                    a.iter()
                        .find(|e| e["mac"] == moved.mac.as_str())
                        .map(|e| e["state"].clone())
                })
            })
    };
    assert_eq!(
        state_on_h2(),
        Some(serde_json::json!("moved")),
        "h2's endpoint after the move"
    );
    hosts[1]
        .del_endpoint(10, &moved.mac)
        .expect("endpoint del on h2");
    wait_programmed(&hosts[1], &moved, "10.0.0.3");
    t.c[0][0]
        .ping_until(&moved.ipv4, WAIT)
        .expect("ping the moved container");
    moved
        .ping_until(&t.c[0][0].ipv6, WAIT)
        .expect("ping from the moved container");

    // SIGKILL planed on h1 and start it again while pinging both ways: its
    // kernel state stays, its peers keep its routes (GR helpers).
    let before: Vec<KernelVni> = [10, 20].iter().map(|v| kernel(&hosts[0], *v)).collect();
    let dir = underlay.dir.path();
    let out_ping =
        PingRun::start(&t.c[0][0], &t.c[2][0].ipv4, "0.05", 12, dir.join("p1")).expect("ping");
    let in_ping =
        PingRun::start(&t.c[2][1], &t.c[0][1].ipv6, "0.05", 12, dir.join("p2")).expect("ping");
    std::thread::sleep(Duration::from_secs(1)); // traffic before the kill (not synchronisation)
    hosts[0].kill();
    let killed = Instant::now();
    // While h1 is down, the moved container leaves h3: h1 cannot hear the
    // withdrawal, its kernel keeps the entry; the restart must clean it up.
    hosts[2]
        .del_endpoint(10, &moved.mac)
        .expect("endpoint del on h3");
    wait_gone(&hosts[1], &moved, WAIT);
    hosts[0].start().expect("planed restarts");
    eprintln!("planed h1 back after {:?}", killed.elapsed());
    wait_sessions(&[&hosts[0]], 2);
    let (tx1, rx1) = out_ping.finish().expect("ping");
    let (tx2, rx2) = in_ping.finish().expect("ping");
    assert!(tx1 > 100 && tx2 > 100, "pings ran: {tx1} {tx2}");
    assert_eq!(
        (tx1 - rx1, tx2 - rx2),
        (0, 0),
        "packets lost across the restart (out, in)"
    );
    // After the restart and the resync the kernel state is the same, less
    // what was withdrawn while planed was down.
    let mut before = before;
    before[0].fdb.retain(|(m, _)| *m != moved.mac);
    before[0]
        .neigh
        .retain(|(ip, _)| *ip != moved.ipv4 && *ip != moved.ipv6);
    for (i, v) in [10u32, 20].iter().enumerate() {
        let r = poll_until("same kernel state after restart", WAIT, || {
            (kernel(&hosts[0], *v) == before[i]).then_some(())
        });
        if let Err(e) = r {
            panic!(
                "{e}\nbefore {:?}\nafter  {:?}\n{}",
                before[i],
                kernel(&hosts[0], *v),
                hosts[0].log()
            );
        }
    }
    let eps = hosts[0].json(&["show", "endpoints"]).expect("endpoints");
    assert_eq!(
        eps.as_array().map_or(0, |a| a.len()),
        2,
        "endpoints restored: {eps}"
    );

    // A host whose sessions die (planed frozen: no KEEPALIVE) has its
    // endpoints withdrawn everywhere within the hold time.
    hosts[2]
        .signal(nix::sys::signal::Signal::SIGSTOP)
        .expect("SIGSTOP");
    let frozen = Instant::now();
    let limit = Duration::from_secs(u64::from(HOLD) + 3);
    wait_gone(&hosts[0], &t.c[2][0], limit);
    wait_gone(&hosts[1], &t.c[2][0], limit);
    eprintln!(
        "h3 endpoints withdrawn {:?} after its planed froze (hold time {HOLD} s)",
        frozen.elapsed()
    );
    hosts[2]
        .signal(nix::sys::signal::Signal::SIGCONT)
        .expect("SIGCONT");
    wait_programmed(&hosts[0], &t.c[2][0], "10.0.0.3");
}

/// Restart after SIGKILL, read from planed's log: the stale kernel state
/// goes only after every neighbour's End-of-RIB, not after a guessed quiet
/// time nor at the selection deferral bound (the restart time, 120 s).
#[test]
fn restart_removes_stale_state_after_end_of_rib() {
    require_root!();
    let underlay = Underlay::new().expect("underlay");
    let p = |idx| Peer {
        idx,
        rr_client: false,
    };
    let mut hosts: Vec<Host> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(idx, peer)| {
            let spec = HostSpec {
                idx,
                peers: vec![p(peer)],
                vnis: vec![10],
                flood: Vec::new(),
                hold_time: HOLD,
            };
            Host::new(&underlay, spec).expect("host")
        })
        .collect();
    for h in hosts.iter_mut() {
        h.start().expect("planed starts");
    }
    wait_sessions(&[&hosts[0], &hosts[1]], 1);
    let a = Container::new(10, 1).expect("container");
    let b = Container::new(10, 2).expect("container");
    let gone = Container::new(10, 3).expect("container");
    hosts[0].add_endpoint(&a).expect("endpoint add");
    hosts[1].add_endpoint(&b).expect("endpoint add");
    hosts[1].add_endpoint(&gone).expect("endpoint add");
    wait_programmed(&hosts[0], &b, "10.0.0.2");
    wait_programmed(&hosts[0], &gone, "10.0.0.2");

    // h1 dies; meanwhile `gone` leaves h2: h1's kernel keeps it (stale).
    hosts[0].kill();
    hosts[1]
        .del_endpoint(10, &gone.mac)
        .expect("endpoint del on h2");
    let restarted_at = hosts[0].log().len();
    hosts[0].start().expect("planed restarts");
    let since_restart = |h: &Host| h.log().get(restarted_at..).unwrap_or_default().to_string();
    let log = poll_until("h1 resynced after its restart", WAIT, || {
        let l = since_restart(&hosts[0]);
        l.contains("initial dataplane resync done").then_some(l)
    })
    .unwrap_or_else(|e| panic!("{e}\n--- h1 log ---\n{}", hosts[0].log()));
    let at = |what: &str| {
        log.find(what)
            .unwrap_or_else(|| panic!("h1 logged no {what:?} after the restart:\n{log}"))
    };
    assert!(log.contains("restarting=true"), "{log}");
    if let Some(line) = log
        .lines()
        .find(|l| l.contains("End-of-RIB from every neighbour"))
    {
        eprintln!("h1 after its restart: {line}");
    }
    assert!(
        at("End-of-RIB received") < at("End-of-RIB from every neighbour")
            && at("End-of-RIB from every neighbour") < at("initial dataplane resync done"),
        "resync after the peer's End-of-RIB:\n{log}"
    );
    assert!(
        !log.contains("selection deferral bound over"),
        "the window ended by End-of-RIB, not by the bound:\n{log}"
    );
    wait_gone(&hosts[0], &gone, WAIT);
    wait_programmed(&hosts[0], &b, "10.0.0.2");
    wait_programmed(&hosts[1], &a, "10.0.0.1");
    a.ping_until(&b.ipv4, WAIT).expect("ping after the restart");
}

/// The same fabric with h1 as route reflector for h2 and h3 (no session
/// between h2 and h3): containers still reach each other everywhere.
#[test]
fn route_reflector_three_planed_hosts() {
    require_root!();
    let underlay = Underlay::new().expect("underlay");
    let client = |idx| Peer {
        idx,
        rr_client: true,
    };
    let rr = |idx| Peer {
        idx,
        rr_client: false,
    };
    let hosts = planed_hosts(
        &underlay,
        [vec![client(2), client(3)], vec![rr(1)], vec![rr(1)]],
    );
    wait_sessions(&[&hosts[0]], 2);
    wait_sessions(&[&hosts[1], &hosts[2]], 1);
    let t = tenants();
    attach_all(&hosts, &t);
    check_reachability(&t);
    assert!(
        !t.c[1][0].ping("192.168.0.9", 1),
        "VNI 10 reached a VNI 20 container"
    );

    // The reflector's show commands.
    let sum = hosts[0].json(&["show", "summary"]).expect("summary");
    let sum = sum
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (
            &sum["neighbors_established"],
            &sum["vnis"],
            &sum["endpoints"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(2),
            &serde_json::json!(2)
        ),
        "{sum}"
    );
    let vnis = hosts[0].json(&["show", "vnis"]).expect("vnis");
    let v10 = vnis
        .as_array()
        .and_then(|a| a.iter().find(|v| v["vni"] == 10))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        v10["remote_vteps"],
        serde_json::json!(["10.0.0.2", "10.0.0.3"]),
        "{v10}"
    );
    assert_eq!(v10["local_macs"], 1, "{v10}");
    assert_eq!(v10["remote_macs"], 2, "{v10}");

    // SIGTERM on a client: planed exits 0 after a Cease (so the reflector
    // withdraws its routes at once, no graceful-restart wait) and leaves
    // its kernel state in place.
    let mut hosts = hosts;
    let before = kernel(&hosts[1], 10);
    hosts[1]
        .signal(nix::sys::signal::Signal::SIGTERM)
        .expect("SIGTERM");
    let status = hosts[1]
        .planed
        .as_mut()
        .expect("running")
        .wait_timeout(Duration::from_secs(10))
        .expect("planed exits on SIGTERM");
    assert!(status.success(), "planed exit status {status}");
    wait_gone(&hosts[2], &t.c[1][0], Duration::from_secs(5));
    assert_eq!(
        kernel(&hosts[1], 10),
        before,
        "kernel state kept after SIGTERM"
    );
    let log = hosts[1].log();
    assert!(log.contains("planed stopped"), "{log}");
}

/// h1 and h2 run planed, h3 runs FRR (bgpd + zebra, advertise-all-vni) with
/// Linux bridge/VXLAN made by the test: containers behind each reach each
/// other both ways.
#[test]
fn mixed_planed_and_frr() {
    require_root!();
    require_program!("/usr/lib/frr/bgpd");
    let underlay = Underlay::new().expect("underlay");
    let p = |idx| Peer {
        idx,
        rr_client: false,
    };
    let mut hosts = Vec::new();
    for (idx, peers) in [(1u8, vec![p(2), p(3)]), (2, vec![p(1), p(3)])] {
        let spec = HostSpec {
            idx,
            peers,
            vnis: vec![10],
            flood: Vec::new(),
            hold_time: HOLD,
        };
        hosts.push(Host::new(&underlay, spec).expect("host"));
    }
    let mut frr = FrrHost::new(&underlay, 3, &[1, 2], &[10]).expect("frr host");
    for h in hosts.iter_mut() {
        h.start().expect("planed");
    }
    frr.start().expect("frr");
    wait_sessions(&[&hosts[0], &hosts[1]], 2);
    let c1 = Container::new(10, 1).expect("c");
    let c2 = Container::new(10, 2).expect("c");
    let c3 = Container::new(10, 3).expect("c");
    hosts[0].add_endpoint(&c1).expect("add");
    hosts[1].add_endpoint(&c2).expect("add");
    frr.attach(&c3, "cport3").expect("frr container");
    // FRR learns the container's MAC from the bridge and its IPs from the
    // neighbour table (zebra): make them known as a real stack would.
    frr.ns
        .sh("bridge fdb replace 02:00:00:00:00:03 dev cport3 master static")
        .expect("fdb");
    for ip in [&c3.ipv4, &c3.ipv6] {
        frr.ns
            .ip(&[
                "neigh",
                "replace",
                ip,
                "lladdr",
                &c3.mac,
                "dev",
                "br10",
                "nud",
                "permanent",
            ])
            .expect("neigh");
    }
    wait_programmed(&hosts[0], &c3, "10.0.0.3");
    wait_programmed(&hosts[1], &c3, "10.0.0.3");
    let frr_kernel = || kernel_vni(&frr.ns, "vxlan10", "br10");
    let r = poll_until("FRR kernel has the planed containers", WAIT, || {
        let k = frr_kernel();
        (k.vtep_of(&c1.mac) == Some("10.0.0.1") && k.vtep_of(&c2.mac) == Some("10.0.0.2"))
            .then_some(())
    });
    if let Err(e) = r {
        panic!(
            "{e}\nfrr kernel {:?}\n{}",
            frr_kernel(),
            frr.vtysh("show bgp l2vpn evpn").unwrap_or_default()
        );
    }
    c1.ping_until(&c3.ipv4, WAIT).expect("planed -> FRR v4");
    c3.ping_until(&c2.ipv4, WAIT).expect("FRR -> planed v4");
    c3.ping_until(&c1.ipv6, WAIT).expect("FRR -> planed v6");
    c2.ping_until(&c1.ipv6, WAIT).expect("planed -> planed v6");
}

/// SIGHUP reload: a neighbour and a VNI added, then removed, on running
/// daemons; the session that did not change stays up throughout.
#[test]
fn sighup_adds_and_removes_neighbours_and_vnis() {
    require_root!();
    use nix::sys::signal::Signal::SIGHUP;
    let underlay = Underlay::new().expect("underlay");
    let p = |idx| Peer {
        idx,
        rr_client: false,
    };
    let spec = |idx, peers: Vec<Peer>, vnis: Vec<u32>| HostSpec {
        idx,
        peers,
        vnis,
        flood: Vec::new(),
        hold_time: HOLD,
    };
    let mut h1 = Host::new(&underlay, spec(1, vec![p(2)], vec![10])).expect("host");
    let mut h2 = Host::new(&underlay, spec(2, vec![p(1)], vec![10])).expect("host");
    // VNI 20 replicates BUM on h3: type-3 routes become flood entries there.
    let mut h3_spec = spec(3, vec![p(1)], vec![10, 20]);
    h3_spec.flood = vec![20];
    let mut h3 = Host::new(&underlay, h3_spec).expect("host");
    for h in [&mut h1, &mut h2, &mut h3] {
        h.start().expect("planed");
    }
    wait_sessions(&[&h1, &h2], 1);
    assert_ne!(h3.session_state(1).as_deref(), Some("Established"));
    let log_lines = |h: &Host| h.log().matches("session down").count();
    let h2_downs = log_lines(&h2);

    // Add neighbour h3 and VNI 20 to h1.
    h1.rewrite_config(spec(1, vec![p(2), p(3)], vec![10, 20]))
        .expect("config");
    h1.signal(SIGHUP).expect("SIGHUP");
    wait_sessions(&[&h1], 2);
    poll_until("br20 on h1", WAIT, || {
        h1.ns.ip(&["link", "show", "br20"]).ok()
    })
    .expect("br20");
    let a = Container::new(20, 1).expect("c");
    let b = Container::new(20, 3).expect("c");
    h1.add_endpoint(&a).expect("add on VNI 20");
    h3.add_endpoint(&b).expect("add on VNI 20");
    wait_programmed(&h3, &a, "10.0.0.1");
    wait_programmed(&h1, &b, "10.0.0.3");
    b.ping_until(&a.ipv4, WAIT)
        .expect("ping over the added VNI");
    // Flood list: h1's VTEP on h3's replicating VNI 20, none on VNI 10.
    let flood = |vni: u32| -> Option<serde_json::Value> {
        let fdb = h3.json(&["show", "fdb"]).ok()?;
        fdb.as_array()?
            .iter()
            .find(|v| v["vni"] == vni)
            .map(|v| v["flood"].clone())
    };
    poll_until("h3 floods VNI 20 to h1", WAIT, || {
        (flood(20) == Some(serde_json::json!(["10.0.0.1"]))).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", flood(20)));
    assert_eq!(
        flood(10),
        Some(serde_json::json!([])),
        "suppressing VNI floods"
    );
    let zero = h3
        .ns
        .exec("bridge", ["fdb", "show", "dev", "vxlan20"])
        .expect("bridge fdb");
    assert!(
        zero.lines()
            .any(|l| l.starts_with("00:00:00:00:00:00") && l.contains("dst 10.0.0.1")),
        "{zero}"
    );

    // Remove them again.
    h1.rewrite_config(spec(1, vec![p(2)], vec![10]))
        .expect("config");
    h1.signal(SIGHUP).expect("SIGHUP");
    wait_gone(&h3, &a, WAIT);
    poll_until("br20 removed from h1", WAIT, || {
        h1.ns.ip(&["link", "show", "br20"]).is_err().then_some(())
    })
    .expect("br20 removed");
    poll_until("h1 no longer lists h3", WAIT, || {
        h1.session_state(3).is_none().then_some(())
    })
    .expect("neighbour removed");
    assert_eq!(h1.session_state(2).as_deref(), Some("Established"));
    assert_eq!(
        log_lines(&h2),
        h2_downs,
        "the unchanged session flapped:\n{}",
        h2.log()
    );
}

/// The end-to-end latency benchmark (ignored by default; test/bench/e2e/run.sh).
#[path = "bench/e2e/latency.rs"]
mod bench_latency;

/// `bum = "proxy"` through planed: two hosts whose VNI 10 has the kernel's
/// ARP/ND suppression off and planed's userspace responder on. Pings cross
/// (v4, v6) with no ARP, NS or other BUM frame on the underlay; the answers
/// are planed's (none while its process is stopped); the mode switches to
/// "suppress" and back on SIGHUP; a restarted planed answers again; an
/// endpoint removed on h2 stops being answered for on h1.
#[test]
fn proxy_mode_answers_arp_nd_from_userspace() {
    require_root!();
    require_program!("tcpdump");
    require_program!("tshark");
    use nix::sys::signal::Signal::{SIGCONT, SIGHUP, SIGSTOP};
    let underlay = Underlay::new().expect("underlay");
    let p = |idx| Peer {
        idx,
        rr_client: false,
    };
    let mut hosts = Vec::new();
    for (idx, peer) in [(1u8, 2u8), (2, 1)] {
        let spec = HostSpec {
            idx,
            peers: vec![p(peer)],
            vnis: vec![10],
            flood: Vec::new(),
            hold_time: HOLD,
        };
        let h = Host::new(&underlay, spec).expect("host");
        h.write_config_with_bum(&[10], "proxy").expect("config");
        hosts.push(h);
    }
    for h in hosts.iter_mut() {
        h.start().expect("planed");
    }
    wait_sessions(&hosts.iter().collect::<Vec<_>>(), 1);
    let caps: Vec<Capture> = hosts
        .iter()
        .map(|h| {
            Capture::start(
                &h.ns,
                underlay.dir.path().join(format!("{}-proxy.pcap", h.name())),
            )
            .expect("tcpdump")
        })
        .collect();
    let c1 = Container::new(10, 1).expect("container");
    let c2 = Container::new(10, 2).expect("container");
    hosts[0].add_endpoint(&c1).expect("endpoint add");
    hosts[1].add_endpoint(&c2).expect("endpoint add");
    wait_programmed(&hosts[0], &c2, "10.0.0.2");
    wait_programmed(&hosts[1], &c1, "10.0.0.1");

    // No port of either bridge has the kernel answer ARP/ND (a bridge
    // suppresses as soon as one of its ports has neigh_suppress), and the
    // VXLAN port floods nothing: a reply can only come from planed.
    for h in &hosts {
        let links =
            h.ns.exec("bridge", ["-d", "link", "show"])
                .expect("bridge link");
        assert!(
            !links.contains("neigh_suppress on"),
            "{}: {links}",
            h.name()
        );
        let vx =
            h.ns.exec("bridge", ["-d", "link", "show", "dev", "vxlan10"])
                .expect("bridge link");
        assert!(
            vx.contains("neigh_suppress off")
                && vx.contains("flood off")
                && vx.contains("mcast_flood off")
                && vx.contains("bcast_flood off"),
            "{}: {vx}",
            h.name()
        );
    }

    c1.ping_until(&c2.ipv4, WAIT).expect("ping v4 h1 -> h2");
    c1.ping_until(&c2.ipv6, WAIT).expect("ping v6 h1 -> h2");
    assert!(c2.resolves(&c1.ipv4).expect("resolve"), "h2 answers ARP");
    c2.ping_until(&c1.ipv4, WAIT).expect("ping v4 h2 -> h1");
    assert!(c2.resolves(&c1.ipv6).expect("resolve"), "h2 answers NS");
    c2.ping_until(&c1.ipv6, WAIT).expect("ping v6 h2 -> h1");
    assert_no_bum(&hosts, caps);

    // planed stopped (SIGSTOP: the kernel state stays, the responder
    // thread is frozen with the rest of the process): nothing answers.
    // Well within the hold time, so the session survives.
    hosts[0].signal(SIGSTOP).expect("SIGSTOP");
    let frozen = (c1.resolves(&c2.ipv4), c1.resolves(&c2.ipv6));
    hosts[0].signal(SIGCONT).expect("SIGCONT");
    assert_eq!(
        (frozen.0.expect("resolve"), frozen.1.expect("resolve")),
        (false, false),
        "ARP/ND answered while planed on h1 was stopped: not by its responder"
    );
    for ip in [&c2.ipv4, &c2.ipv6] {
        poll_until(&format!("h1 answers for {ip} again"), WAIT, || {
            c1.resolves(ip).ok().filter(|r| *r)
        })
        .expect("answered after SIGCONT");
    }

    // The mode changes at run time (SIGHUP): to "suppress" the kernel
    // answers (also with planed stopped), back to "proxy" planed does again.
    let vxlan_port = |h: &Host, flag: &str| {
        let r = poll_until(&format!("{} vxlan10: {flag}", h.name()), WAIT, || {
            h.ns.exec("bridge", ["-d", "link", "show", "dev", "vxlan10"])
                .ok()
                .filter(|s| s.contains(flag))
        });
        if let Err(e) = r {
            panic!("{e}\n--- {} log ---\n{}", h.name(), h.log());
        }
    };
    for (mode, flag, kernel_answers) in [
        ("suppress", "neigh_suppress on", true),
        ("proxy", "neigh_suppress off", false),
    ] {
        hosts[0].write_config_with_bum(&[10], mode).expect("config");
        hosts[0].signal(SIGHUP).expect("SIGHUP");
        vxlan_port(&hosts[0], flag);
        poll_until(&format!("{mode}: h1 answers for c2"), WAIT, || {
            c1.resolves(&c2.ipv6).ok().filter(|r| *r)
        })
        .expect("answered");
        hosts[0].signal(SIGSTOP).expect("SIGSTOP");
        let frozen = c1.resolves(&c2.ipv4);
        hosts[0].signal(SIGCONT).expect("SIGCONT");
        assert_eq!(
            frozen.expect("resolve"),
            kernel_answers,
            "{mode}: ARP answered with planed stopped"
        );
    }

    // SIGKILL and restart in proxy mode: the responder starts with the
    // bindings of the routes h2 still has (graceful restart resync).
    hosts[0].kill();
    hosts[0].start().expect("planed restarts");
    wait_sessions(&[&hosts[0]], 1);
    vxlan_port(&hosts[0], "neigh_suppress off");
    for ip in [&c2.ipv4, &c2.ipv6] {
        poll_until(&format!("h1 answers for {ip} after restart"), WAIT, || {
            c1.resolves(ip).ok().filter(|r| *r)
        })
        .expect("answered after restart");
    }

    // The endpoint leaves h2: h1 withdraws it and stops answering for it.
    hosts[1].del_endpoint(10, &c2.mac).expect("endpoint del");
    wait_gone(&hosts[0], &c2, WAIT);
    for ip in [&c2.ipv4, &c2.ipv6] {
        let r = poll_until(&format!("h1 no longer answers for {ip}"), WAIT, || {
            c1.resolves(ip).ok().filter(|r| !*r)
        });
        if let Err(e) = r {
            panic!("{e}\n--- h1 log ---\n{}", hosts[0].log());
        }
    }
}

/// SIGHUP with a changed `[log] level` changes what a running planed logs,
/// both ways. planed is started here without `PLANE_LOG` (which would
/// override the file); a single host, no session needed.
#[test]
fn sighup_changes_the_log_level() {
    require_root!();
    use nix::sys::signal::Signal::SIGHUP;
    let underlay = Underlay::new().expect("underlay");
    let spec = HostSpec {
        idx: 1,
        peers: Vec::new(),
        vnis: vec![10],
        flood: Vec::new(),
        hold_time: HOLD,
    };
    let mut h = Host::new(&underlay, spec.clone()).expect("host");
    let write = |h: &Host, extra: &str| {
        let toml = format!("{}{extra}", spec.toml(&h.dir));
        std::fs::write(h.config_path(), toml).expect("config");
    };
    write(&h, "[log]\nlevel = \"warn\"\n");
    let log = std::fs::File::create(h.log_path()).expect("log file");
    let mut cmd = h.ns.command(plane_test::workspace_bin("planed"));
    cmd.arg("--config")
        .arg(h.config_path())
        .arg("--state-file")
        .arg(h.state_file())
        .env_remove("PLANE_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log);
    h.planed = Some(plane_test::Child::spawn(cmd, "planed h1").expect("planed"));
    poll_until("planed h1 control socket", WAIT, || {
        h.planectl(&["show", "summary"]).ok()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", h.log()));
    let wait_for = |what: &str, n: usize| {
        poll_until(&format!("{n} x {what:?} in the log"), WAIT, || {
            (h.log().matches(what).count() >= n).then_some(())
        })
        .unwrap_or_else(|e| panic!("{e}\n--- log ---\n{}", h.log()))
    };

    // warn → info: the reload's own info lines appear.
    write(&h, "[log]\nlevel = \"info\"\n");
    h.signal(SIGHUP).expect("SIGHUP");
    wait_for("SIGHUP: config reloaded", 1);
    let log = h.log();
    assert!(log.contains("[log] level changed"), "{log}");
    // Logged before the SIGHUP was handled, at info: filtered out then.
    assert!(!log.contains("planed running"), "{log}");

    // info → warn: a later reload's info lines are gone. An invalid file
    // (error, shown at warn) marks when that reload is over.
    write(&h, "[log]\nlevel = \"warn\"\n[[vni]]\nid = 20\n");
    h.signal(SIGHUP).expect("SIGHUP");
    wait_for("[log] level changed", 2);
    poll_until("br20 on h1", WAIT, || {
        h.ns.ip(&["link", "show", "br20"]).ok()
    })
    .expect("the rest of the reload applied");
    write(&h, "[bgp\n");
    h.signal(SIGHUP).expect("SIGHUP");
    wait_for("config not reloaded", 1);
    let log = h.log();
    assert_eq!(log.matches("SIGHUP: config reloaded").count(), 1, "{log}");
    assert!(!log.contains("vni=20"), "VNI 20's info line: {log}");
}
