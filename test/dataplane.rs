//! Kernel tests of the dataplane, in namespaces the tests create (two hosts
//! joined by a veth underlay, a container namespace per host, see
//! `plane_test::topo`). Each host runs a `Dataplane` on a thread inside its
//! namespace; nothing but the dataplane programs bridges, VXLAN devices,
//! FDB or neighbour entries.
//!
//! - `containers_ping_across_hosts_without_bum`: IPv4 and IPv6 ping across
//!   hosts; a capture on the underlay during ARP, ND, broadcast ping,
//!   multicast ping and traffic to an unknown MAC counts 0 ARP, 0 NS, 0
//!   broadcast, 0 multicast and 0 unknown-unicast VXLAN frames.
//! - `userspace_responder_mode_without_bum`: the same with `neigh_suppress`
//!   off and plane's ARP/ND responder answering.
//! - `ipv6_underlay_ping`: VTEPs with IPv6 addresses.
//! - `ten_thousand_neighbours_survive_gc`: 10,000 suppression neighbours stay.
//! - `restart_issues_no_change_and_loses_no_ping`: a second dataplane over
//!   existing state issues 0 operations while a ping runs without loss.
//! - `drift_is_repaired`: entries and a device deleted behind plane's back
//!   come back.
//! - `local_endpoints_are_learned`: MACs from bridge FDB notifications and IPs
//!   from ARP/ND snooping are reported as events.
//! - `plumbed_container_port_carries_traffic`: a veth made by
//!   `plane::endpoint`, attached by the dataplane, carries a ping.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use plane_dataplane::netlink::NetlinkOptions;
use plane_dataplane::task::{Dataplane, Event};
use plane_dataplane::{BumPolicy, Change, Mac, Vni, VniConfig};
use plane_test::topo::{count_lines, enter_netns, Host, TwoHosts};
use plane_test::{poll_until, require_program, require_root, Child};
use tokio::sync::mpsc;

/// A dataplane running on its own thread inside a host namespace. Dropping
/// it stops the task (the runtime shuts down with the thread).
struct HostDp {
    dp: Dataplane,
    events: Option<mpsc::Receiver<Event>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostDp {
    fn start(ns: &Path) -> HostDp {
        let (tx, rx) = std_mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let ns = ns.to_path_buf();
        let thread = std::thread::spawn(move || {
            if let Err(e) = enter_netns(&ns) {
                let _ = tx.send(Err(e));
                return;
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                match Dataplane::start_netlink(NetlinkOptions::default()).await {
                    Ok(v) => {
                        let _ = tx.send(Ok(v));
                        let _ = stop_rx.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let (dp, events) = rx
            .recv()
            .expect("dataplane thread")
            .expect("dataplane start");
        HostDp {
            dp,
            events: Some(events),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for HostDp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn vni10() -> Vni {
    Vni::new(10).expect("vni")
}

/// The desired state of `me` with `peer` remote: what the control plane
/// would hand over after BGP exchanged the type-2 routes.
fn changes(me: &Host, peer: &Host, bum: BumPolicy, v6_underlay: bool) -> Vec<Change> {
    let (local, remote) = if v6_underlay {
        (&me.vtep6, &peer.vtep6)
    } else {
        (&me.vtep, &peer.vtep)
    };
    let mut cfg = VniConfig::new(vni10(), local.parse().expect("vtep"));
    cfg.bum = bum;
    if v6_underlay {
        cfg.mtu = 1430;
    }
    let mac = Mac::from_str(&peer.mac).expect("mac");
    let vtep: IpAddr = remote.parse().expect("vtep");
    vec![
        Change::SetVni(cfg),
        Change::AddLocalPort {
            vni: vni10(),
            ifname: me.port.clone(),
        },
        Change::SetRemoteMac {
            vni: vni10(),
            mac,
            vtep,
        },
        Change::SetRemoteIp {
            vni: vni10(),
            ip: peer.ip4.parse().expect("ip"),
            mac,
        },
        Change::SetRemoteIp {
            vni: vni10(),
            ip: peer.ip6.parse().expect("ip"),
            mac,
        },
        Change::AddFloodVtep { vni: vni10(), vtep },
    ]
}

/// A dataplane on each host, both programmed with the VNI and each other's
/// container (the symmetric setup most tests start from).
fn start_both(
    rt: &tokio::runtime::Runtime,
    t: &TwoHosts,
    bum: BumPolicy,
    v6_underlay: bool,
) -> (HostDp, HostDp) {
    let d1 = HostDp::start(&t.h1.ns.path());
    let d2 = HostDp::start(&t.h2.ns.path());
    program(rt, &d1.dp, changes(&t.h1, &t.h2, bum, v6_underlay));
    program(rt, &d2.dp, changes(&t.h2, &t.h1, bum, v6_underlay));
    (d1, d2)
}

fn program(rt: &tokio::runtime::Runtime, dp: &Dataplane, ch: Vec<Change>) {
    let r = rt.block_on(dp.apply(ch)).expect("apply");
    assert!(
        r.failed.is_empty() && r.refused.is_empty() && r.conflicts.is_empty(),
        "{r:?}"
    );
    let r = rt.block_on(dp.resync()).expect("resync");
    assert!(r.failed.is_empty(), "{r:?}");
}

fn ping(from: &Host, to: &str) -> plane_test::Result<String> {
    from.container
        .exec("ping", ["-c", "2", "-i", "0.2", "-W", "2", to])
}

/// A tcpdump of VXLAN frames on an underlay interface, written to a file
/// in a tempdir with `-U --immediate-mode` so that nothing is lost on stop.
struct Capture {
    child: Child,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Capture {
    fn start(host: &Host, ifname: &str) -> Capture {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("underlay.pcap");
        let mut cmd = host.ns.command("tcpdump");
        cmd.args(["-i", ifname, "-nn", "-U", "--immediate-mode", "-w"])
            .arg(&file)
            .arg("udp port 4789")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = Child::spawn(cmd, "tcpdump").expect("tcpdump");
        // The pcap header is written when the capture is live.
        poll_until("tcpdump to start", Duration::from_secs(10), || {
            std::fs::metadata(&file)
                .ok()
                .filter(|m| m.len() >= 24)
                .map(|_| ())
        })
        .expect("capture");
        Capture {
            child,
            file,
            _dir: dir,
        }
    }

    fn stop(mut self) -> Counts {
        self.child
            .signal(nix::sys::signal::Signal::SIGINT)
            .expect("stop tcpdump");
        let _ = self.child.wait_timeout(Duration::from_secs(10));
        let bytes = std::fs::read(&self.file).expect("read pcap");
        count_vxlan(&bytes, &[])
    }
}

/// What crossed the underlay in VXLAN frames, by inner frame kind.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    vxlan: usize,
    arp: usize,
    ns: usize,
    broadcast: usize,
    multicast: usize,
    unknown_unicast: usize,
}

/// Parses a pcap (Ethernet link type) and classifies inner frames of
/// UDP/4789. `known` are the unicast MACs that may legitimately cross.
fn count_vxlan(pcap: &[u8], known: &[[u8; 6]]) -> Counts {
    let mut c = Counts::default();
    let known: Vec<[u8; 6]> = if known.is_empty() {
        vec![[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]]
    } else {
        known.to_vec()
    };
    let Some(magic) = pcap.get(0..4) else {
        return c;
    };
    let le = magic == [0xd4, 0xc3, 0xb2, 0xa1] || magic == [0x4d, 0x3c, 0xb2, 0xa1];
    let u32_at = |b: &[u8], o: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    let mut off = 24;
    while let Some(incl) = u32_at(pcap, off + 8) {
        let start = off + 16;
        let Some(frame) = pcap.get(start..start + incl as usize) else {
            break;
        };
        off = start + incl as usize;
        let Some(inner) = vxlan_payload(frame) else {
            continue;
        };
        c.vxlan += 1;
        let (Some(dst), Some(et)) = (inner.get(0..6), inner.get(12..14)) else {
            continue;
        };
        let dst: [u8; 6] = dst.try_into().unwrap_or([0; 6]);
        if et == [0x08, 0x06] {
            c.arp += 1;
        }
        if et == [0x86, 0xdd] && inner.get(20) == Some(&58) && inner.get(54) == Some(&135) {
            c.ns += 1;
        }
        if dst == [0xff; 6] {
            c.broadcast += 1;
        } else if dst[0] & 1 == 1 {
            c.multicast += 1;
        } else if !known.contains(&dst) {
            c.unknown_unicast += 1;
        }
    }
    c
}

fn vxlan_payload(frame: &[u8]) -> Option<&[u8]> {
    let et = frame.get(12..14)?;
    let udp = match et {
        [0x08, 0x00] => {
            let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
            if *frame.get(23)? != 17 {
                return None;
            }
            14 + ihl
        }
        [0x86, 0xdd] => {
            if *frame.get(20)? != 17 {
                return None;
            }
            54
        }
        _ => return None,
    };
    let dport = u16::from_be_bytes(frame.get(udp + 2..udp + 4)?.try_into().ok()?);
    if dport != 4789 {
        return None;
    }
    frame.get(udp + 16..)
}

/// Traffic that would be BUM without suppression, from container c1.
fn bum_traffic(t: &TwoHosts) {
    let c1 = &t.h1.container;
    // ARP (broadcast) and ND (multicast NS): flush, then ping.
    c1.ip(&["neigh", "flush", "dev", "eth0"]).expect("flush");
    ping(&t.h1, &t.h2.ip4).expect("ping v4 after flush");
    ping(&t.h1, &t.h2.ip6).expect("ping v6 after flush");
    // Gratuitous ARP and an explicit broadcast ARP request.
    let _ = c1.exec("arping", ["-c", "1", "-U", "-I", "eth0", &t.h1.ip4]);
    let _ = c1.exec("arping", ["-c", "2", "-w", "2", "-I", "eth0", &t.h2.ip4]);
    // Broadcast and multicast ping (replies may come from local only).
    let _ = c1.exec(
        "ping",
        ["-b", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.255"],
    );
    let _ = c1.exec(
        "ping",
        ["-c", "2", "-i", "0.2", "-W", "1", "-I", "eth0", "224.0.0.1"],
    );
    let _ = c1.exec("ping", ["-c", "2", "-i", "0.2", "-W", "1", "ff02::1%eth0"]);
    // Unknown unicast: a neighbour entry pointing at a MAC nobody has.
    c1.ip(&[
        "neigh",
        "replace",
        "10.0.0.99",
        "lladdr",
        "02:99:99:99:99:99",
        "dev",
        "eth0",
    ])
    .expect("neigh");
    let _ = c1.exec("ping", ["-c", "2", "-i", "0.2", "-W", "1", "10.0.0.99"]);
}

fn bum_less(bum: BumPolicy) {
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let (d1, d2) = start_both(&rt, &t, bum, false);
    let br =
        t.h1.ns
            .exec("bridge", ["-d", "link", "show", "dev", "vxlan10"])
            .expect("bridge link");
    let suppress = bum == BumPolicy::Suppress;
    assert_eq!(br.contains("neigh_suppress on"), suppress, "{br}");
    assert!(
        br.contains("flood off")
            && br.contains("mcast_flood off")
            && br.contains("bcast_flood off"),
        "{br}"
    );
    assert!(br.contains("learning off"), "{br}");

    let cap = Capture::start(&t.h1, "u1");
    ping(&t.h1, &t.h2.ip4).expect("ping v4 across hosts");
    ping(&t.h1, &t.h2.ip6).expect("ping v6 across hosts");
    bum_traffic(&t);
    let counts = cap.stop();
    assert!(counts.vxlan >= 8, "the pings crossed as VXLAN: {counts:?}");
    assert_eq!(
        Counts {
            vxlan: counts.vxlan,
            ..Counts::default()
        },
        counts,
        "no ARP, NS, broadcast, multicast or unknown unicast crossed the underlay"
    );
    drop(d1);
    drop(d2);
}

#[test]
fn containers_ping_across_hosts_without_bum() {
    require_root!();
    require_program!("tcpdump");
    bum_less(BumPolicy::Suppress);
}

#[test]
fn userspace_responder_mode_without_bum() {
    require_root!();
    require_program!("tcpdump");
    bum_less(BumPolicy::UserspaceResponder);
}

#[test]
fn ipv6_underlay_ping() {
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    // Kept (not `_`): dropping a HostDp stops its dataplane.
    let (_d1, _d2) = start_both(&rt, &t, BumPolicy::Suppress, true);
    let d =
        t.h1.ns
            .ip(&["-d", "link", "show", "vxlan10"])
            .expect("link");
    assert!(d.contains("local fd00:100::1"), "{d}");
    ping(&t.h1, &t.h2.ip4).expect("ping v4 over v6 underlay");
    ping(&t.h1, &t.h2.ip6).expect("ping v6 over v6 underlay");
}

#[test]
fn ten_thousand_neighbours_survive_gc() {
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let d1 = HostDp::start(&t.h1.ns.path());
    program(
        &rt,
        &d1.dp,
        changes(&t.h1, &t.h2, BumPolicy::Suppress, false),
    );
    let ch = entries(10_000, true);
    let r = rt.block_on(d1.dp.apply(ch)).expect("apply");
    assert!(r.failed.is_empty(), "{:?}", r.failed.first());
    // gc_thresh3 is 1024: forced GC ran on every insertion beyond it.
    let n = count_lines(
        &t.h1
            .ns
            .ip(&["neigh", "show", "dev", "br10", "to", "10.1.0.0/16"])
            .expect("neigh"),
    );
    assert_eq!(n, 10_000);
    // gc_thresh3 is global (not per namespace): read it, never write it.
    let gc =
        std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3").expect("gc_thresh3");
    assert!(
        gc.trim().parse::<usize>().unwrap_or(0) < 10_000,
        "gc_thresh3 {gc} would hide GC loss"
    );
    let snap = rt.block_on(d1.dp.snapshot()).expect("snapshot");
    assert_eq!(snap[0].neighbours.len(), 10_002);
    assert_eq!(snap[0].macs.len(), 10_001);
}

/// `n` remote MAC+IP entries on VNI 10 towards the peer's VTEP, installed
/// or removed.
fn entries(n: u32, add: bool) -> Vec<Change> {
    let mut ch = Vec::new();
    for i in 0..n {
        let b = i.to_be_bytes();
        let mac = Mac([0x02, 0x10, b[0], b[1], b[2], b[3]]);
        let ip = IpAddr::from([10, 1, b[2], b[3]]);
        if add {
            ch.push(Change::SetRemoteMac {
                vni: vni10(),
                mac,
                vtep: "192.168.100.2".parse().expect("ip"),
            });
            ch.push(Change::SetRemoteIp {
                vni: vni10(),
                ip,
                mac,
            });
        } else {
            ch.push(Change::RemoveRemoteMac { vni: vni10(), mac });
            ch.push(Change::RemoveRemoteIp { vni: vni10(), ip });
        }
    }
    ch
}

/// plane's own deletions echo back from the kernel; read after the same
/// entries were installed again, they would look like deletions behind
/// plane's back. Install, remove and reinstall 20,000 entries back to back,
/// then delete one neighbour behind plane's back: the first repair must be
/// that one entry, and no resync (socket overrun) may have happened.
#[test]
fn own_echoes_are_not_drift() {
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let mut d1 = HostDp::start(&t.h1.ns.path());
    program(
        &rt,
        &d1.dp,
        changes(&t.h1, &t.h2, BumPolicy::Suppress, false),
    );
    for add in [true, false, true] {
        let r = rt
            .block_on(d1.dp.apply(entries(20_000, add)))
            .expect("apply");
        assert!(
            r.failed.is_empty() && r.ops == 40_000,
            "{} ops, first failure {:?}",
            r.ops,
            r.failed.first()
        );
    }
    t.h1.ns
        .ip(&["neigh", "del", "10.1.0.7", "dev", "br10"])
        .expect("neigh del");
    let mut events = d1.events.take().expect("events");
    let first = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match events.recv().await {
                    Some(e @ (Event::Repaired { .. } | Event::Resynced { .. })) => return Some(e),
                    Some(_) => continue,
                    None => return None,
                }
            }
        })
        .await
    });
    assert_eq!(first, Ok(Some(Event::Repaired { ops: 1 })));
    let n = count_lines(
        &t.h1
            .ns
            .ip(&["neigh", "show", "dev", "br10", "to", "10.1.0.0/16"])
            .expect("neigh"),
    );
    assert_eq!(n, 20_000);
}

#[test]
fn restart_issues_no_change_and_loses_no_ping() {
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let (d1, d2) = start_both(&rt, &t, BumPolicy::Suppress, false);
    ping(&t.h1, &t.h2.ip4).expect("ping before restart");
    let ifindex_before =
        t.h1.ns
            .ip(&["-o", "link", "show", "vxlan10"])
            .expect("link");

    // A ping runs through the restart: 200 probes at 10 ms.
    let mut pinger = t.h1.container.command("ping");
    pinger
        .args(["-c", "200", "-i", "0.01", "-W", "1", &t.h2.ip4])
        .stdout(Stdio::piped());
    let pinger = pinger.spawn().expect("ping");
    drop(d1);
    let d1 = HostDp::start(&t.h1.ns.path());
    rt.block_on(d1.dp.apply(vec![Change::SetVni(VniConfig::new(
        vni10(),
        t.h1.vtep.parse().expect("ip"),
    ))]))
    .expect("apply vni");
    let plan = rt.block_on(d1.dp.plan()).expect("plan");
    assert!(
        plan.ops.iter().all(|o| matches!(
            o,
            plane_dataplane::Op::DelFdb { .. } | plane_dataplane::Op::DelNeigh { .. }
        )),
        "{plan:?}"
    );
    let r = rt
        .block_on(
            d1.dp
                .apply(changes(&t.h1, &t.h2, BumPolicy::Suppress, false)),
        )
        .expect("apply");
    assert_eq!(
        r.ops, 0,
        "restart over matching state issued changes: {r:?}"
    );
    let r = rt.block_on(d1.dp.resync()).expect("resync");
    assert_eq!(r.ops, 0, "resync over matching state issued changes: {r:?}");
    let out = pinger.wait_with_output().expect("ping output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 0% packet loss"), "{text}");
    let ifindex_after =
        t.h1.ns
            .ip(&["-o", "link", "show", "vxlan10"])
            .expect("link");
    assert_eq!(
        ifindex_before.split(':').next(),
        ifindex_after.split(':').next(),
        "device was recreated"
    );
    drop(d2);
}

#[test]
fn drift_is_repaired() {
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let (d1, d2) = start_both(&rt, &t, BumPolicy::Suppress, false);
    let ns = &t.h1.ns;
    let neigh_back = || {
        let out = ns
            .ip(&["neigh", "show", "dev", "br10", "to", &t.h2.ip4])
            .ok()?;
        out.contains(&t.h2.mac).then_some(())
    };
    // A neighbour entry.
    ns.ip(&["neigh", "del", &t.h2.ip4, "dev", "br10"])
        .expect("neigh del");
    poll_until(
        "neighbour to be reinstalled",
        Duration::from_secs(10),
        neigh_back,
    )
    .expect("repair neighbour");
    // Foreign replacements that the monitor's echo filter must let through:
    // without extern_learn, and extern_learn with another protocol.
    for extra in [&[][..], &["extern_learn", "protocol", "186"][..]] {
        let mut args = vec![
            "neigh",
            "replace",
            &t.h2.ip4,
            "lladdr",
            "02:00:00:00:99:99",
            "dev",
            "br10",
            "nud",
            "noarp",
        ];
        args.extend_from_slice(extra);
        ns.ip(&args).expect("neigh replace");
        poll_until(
            "replaced neighbour to be repaired",
            Duration::from_secs(10),
            neigh_back,
        )
        .unwrap_or_else(|e| panic!("repair after neigh replace {extra:?}: {e}"));
    }
    // Both halves of the FDB entry.
    ns.exec(
        "bridge",
        ["fdb", "del", &t.h2.mac, "dev", "vxlan10", "self", "master"],
    )
    .expect("fdb del");
    poll_until(
        "FDB entry to be reinstalled",
        Duration::from_secs(10),
        || {
            let out = ns.exec("bridge", ["fdb", "show", "dev", "vxlan10"]).ok()?;
            let n = out.lines().filter(|l| l.starts_with(&t.h2.mac)).count();
            (n == 2).then_some(())
        },
    )
    .expect("repair fdb");
    // A port flag.
    ns.exec("bridge", ["link", "set", "dev", "vxlan10", "flood", "on"])
        .expect("flood on");
    poll_until("flood flag to be reset", Duration::from_secs(10), || {
        let out = ns
            .exec("bridge", ["-d", "link", "show", "dev", "vxlan10"])
            .ok()?;
        out.contains(" flood off").then_some(())
    })
    .expect("repair flags");
    // The VXLAN device itself.
    ns.ip(&["link", "del", "vxlan10"]).expect("link del");
    poll_until(
        "vxlan10 and its entries to be back",
        Duration::from_secs(10),
        || {
            let out = ns.exec("bridge", ["fdb", "show", "dev", "vxlan10"]).ok()?;
            out.contains(&format!("dst {}", t.h2.vtep)).then_some(())
        },
    )
    .expect("repair device");
    ping(&t.h1, &t.h2.ip4).expect("ping after repairs");
    drop(d1);
    drop(d2);
}

#[test]
fn local_endpoints_are_learned() {
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let (mut d1, _d2) = start_both(&rt, &t, BumPolicy::Suppress, false);
    let mut events = d1.events.take().expect("events");
    // Container traffic: the bridge learns c1's MAC on vc1; its ARP and ND
    // carry its IPs.
    t.h1.container
        .ip(&["neigh", "flush", "dev", "eth0"])
        .expect("flush");
    ping(&t.h1, &t.h2.ip4).expect("ping v4");
    ping(&t.h1, &t.h2.ip6).expect("ping v6");
    let c1_mac = Mac::from_str(&t.h1.mac).expect("mac");
    let mut seen_mac = false;
    let mut seen_ip4 = false;
    let mut seen_ip6 = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(seen_mac && seen_ip4 && seen_ip6) && std::time::Instant::now() < deadline {
        let ev = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(500), events.recv()).await
        });
        match ev {
            Ok(Some(Event::LocalMac { vni, mac, port })) if mac == c1_mac => {
                assert_eq!((vni, port.as_str()), (vni10(), t.h1.port.as_str()));
                seen_mac = true;
            }
            Ok(Some(Event::LocalIp { ip, mac, .. })) if mac == c1_mac => {
                seen_ip4 |= ip.to_string() == t.h1.ip4;
                seen_ip6 |= ip.to_string() == t.h1.ip6;
            }
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    assert!(seen_mac, "local MAC event");
    assert!(
        seen_ip4 && seen_ip6,
        "local IP events v4 {seen_ip4} v6 {seen_ip6}"
    );
}

/// The container plumbing planed and plane-cni use (`plane::endpoint`),
/// with the host end left unattached and handed to the dataplane as a local
/// port, as planed does for `endpoint add --netns`: the port joins the VNI's
/// bridge and the container reaches the other host over VXLAN.
#[test]
fn plumbed_container_port_carries_traffic() {
    use plane::endpoint::{self, VethSpec};
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let (d1, d2) = start_both(&rt, &t, BumPolicy::Suppress, false);
    let c3 = plane_test::Netns::new("c").expect("netns");
    let mac3 = Mac::from_str("02:00:00:00:00:03").expect("mac");
    let spec = VethSpec {
        netns: c3.path(),
        ifname: "eth0".into(),
        host_ifname: "vc3".into(),
        mac: plane_bgp::wire::MacAddr(mac3.0),
        mtu: Some(1450),
        addresses: vec![
            "10.0.0.3/24".parse().expect("net"),
            "fd00:10::3/64".parse().expect("net"),
        ],
        routes: Vec::new(),
        bridge: None,
    };
    let inside_ns = c3.path();
    let (veth, inside) = plane_test::topo::in_netns(&t.h1.ns.path(), move || {
        let veth = endpoint::create(&spec)?;
        Ok::<_, endpoint::EndpointError>((veth, endpoint::inspect(&inside_ns, "eth0")?))
    })
    .expect("thread")
    .expect("endpoint::create");
    assert_eq!(veth.mtu, 1450);
    let inside = inside.expect("eth0 in the container");
    assert_eq!(inside.mac.map(|m| m.0), Some(mac3.0));
    let r = rt
        .block_on(d1.dp.add_local_port(vni10(), "vc3"))
        .expect("add port");
    assert!(r.failed.is_empty(), "{r:?}");
    let vtep1: IpAddr = t.h1.vtep.parse().expect("ip");
    let r = rt
        .block_on(d2.dp.apply(vec![
            Change::SetRemoteMac {
                vni: vni10(),
                mac: mac3,
                vtep: vtep1,
            },
            Change::SetRemoteIp {
                vni: vni10(),
                ip: "10.0.0.3".parse().expect("ip"),
                mac: mac3,
            },
        ]))
        .expect("apply");
    assert!(r.failed.is_empty(), "{r:?}");
    let link =
        t.h1.ns
            .exec("bridge", ["-d", "link", "show", "dev", "vc3"])
            .expect("bridge link");
    assert!(link.contains("master br10"), "{link}");
    let addr = c3.ip(&["-o", "addr", "show", "dev", "eth0"]).expect("addr");
    assert!(
        addr.contains("10.0.0.3/24") && addr.contains("fd00:10::3/64"),
        "{addr}"
    );
    c3.exec("ping", ["-c", "2", "-i", "0.2", "-W", "2", &t.h2.ip4])
        .expect("ping from the plumbed container");
}

#[test]
fn one_bad_entry_fails_alone() {
    require_root!();
    let t = TwoHosts::new().expect("topology");
    let rt = rt();
    let d1 = HostDp::start(&t.h1.ns.path());
    program(
        &rt,
        &d1.dp,
        changes(&t.h1, &t.h2, BumPolicy::Suppress, false),
    );
    // 1,000 MACs in one apply (several batches); one has an IPv6 VTEP on an
    // IPv4 VXLAN device, which the kernel refuses (EAFNOSUPPORT).
    let bad = 517u32;
    let ch: Vec<Change> = (0..1000u32)
        .map(|i| {
            let b = i.to_be_bytes();
            let vtep: IpAddr = if i == bad {
                "fd00:100::2".parse().expect("ip")
            } else {
                "192.168.100.2".parse().expect("ip")
            };
            Change::SetRemoteMac {
                vni: vni10(),
                mac: Mac([0x02, 0x30, b[0], b[1], b[2], b[3]]),
                vtep,
            }
        })
        .collect();
    let r = rt.block_on(d1.dp.apply(ch)).expect("apply");
    assert_eq!(r.failed.len(), 1, "{:?}", r.failed);
    let b = bad.to_be_bytes();
    let bad_mac = Mac([0x02, 0x30, b[0], b[1], b[2], b[3]]);
    assert!(
        matches!(&r.failed[0].op, plane_dataplane::Op::AddFdb { mac, .. } if *mac == bad_mac),
        "{:?}",
        r.failed[0]
    );
    let fdb =
        t.h1.ns
            .exec("bridge", ["fdb", "show", "dev", "vxlan10"])
            .expect("fdb");
    let n = fdb
        .lines()
        .filter(|l| l.starts_with("02:30:") && l.contains("dst 192.168.100.2"))
        .count();
    assert_eq!(n, 999);
    // The kernel installs the bridge half before refusing the VXLAN half;
    // the VXLAN half (with a destination) must not exist, and the snapshot
    // (what plane reports as programmed) must not list it.
    assert!(
        !fdb.lines()
            .any(|l| l.starts_with(&bad_mac.to_string()) && l.contains(" dst ")),
        "{fdb}"
    );
    let snap = rt.block_on(d1.dp.snapshot()).expect("snapshot");
    assert!(!snap[0].macs.iter().any(|m| m.mac == bad_mac));
    assert_eq!(snap[0].macs.len(), 1000);
}
