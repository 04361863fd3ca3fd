//! Benchmark: how long after a local endpoint appears does the remote host's
//! kernel forward to it (FDB entry MAC -> VTEP and neighbour entry IP -> MAC)?
//!
//! - plane: two planed hosts (h1, h2). Clock starts when `planectl endpoint
//!   add` returns on h1 (the operator's "done"); stops when h2's kernel
//!   reported both entries (netlink notifications, `ip -ts monitor neigh`).
//! - FRR: two FRR hosts (zebra + bgpd, advertise-all-vni) in their own
//!   underlay, same run. Clock starts when the local MAC (`bridge fdb add
//!   ... master static`) and neighbour (`ip neigh add ... nud permanent`)
//!   are in h3's kernel (both commands returned); stops when h4's kernel has
//!   the FDB entry and the neighbour entry.
//!
//! A negative latency means the remote kernel had the entries before the
//! local command had returned (planectl's exit and reaping take longer than
//! BGP over a veth); the "invoked" rows start the clock before the command
//! is spawned instead, which includes process start-up on both sides.
//!
//! Endpoints are added one after the other (N = `PLANE_BENCH_N`, default
//! 1,000); the table reports p50 / p90 / p99 / max in milliseconds. Each
//! endpoint's start is taken after the previous one completed on the remote
//! side, so the numbers are per-endpoint latencies, not queueing under load.
//!
//! Run: test/bench/e2e/run.sh (builds in release, needs root, FRR, iproute2).

use plane_test::e2e::{FrrHost, Host, HostSpec, Peer, Underlay};
use plane_test::{poll_until, run, Child};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// `[2026-11-21T22:18:51.918635]` (UTC, as `ip -ts` prints with TZ=UTC) to
/// microseconds since the epoch.
fn parse_ts(s: &str) -> Option<i64> {
    let s = s.strip_prefix('[')?.strip_suffix(']')?;
    let (date, time) = s.split_once('T')?;
    let d: Vec<i64> = date.split('-').filter_map(|x| x.parse().ok()).collect();
    let (hms, frac) = time.split_once('.')?;
    let t: Vec<i64> = hms.split(':').filter_map(|x| x.parse().ok()).collect();
    let ([y, m, dd], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let us: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    Some(((days * 24 + hh) * 60 + mm) * 60 * 1_000_000 + ss * 1_000_000 + us)
}

/// A neighbour no endpoint uses, on the underlay device every host has
/// (`ul0`): the subscription probe of [`Monitor::start`]. On the device
/// neither `vxlan10` nor `br10`, so [`Monitor::seen`] never counts it.
const PROBE_IP: &str = "10.0.0.254";
const PROBE_MAC: &str = "02:0a:00:00:00:fe";

/// `ip -ts monitor neigh` in a namespace, to a file: bridge FDB and
/// neighbour notifications with their kernel-side arrival time.
struct Monitor {
    _child: Child,
    file: PathBuf,
}

impl Monitor {
    fn start(ns: &plane_test::Netns, file: PathBuf) -> Monitor {
        let out = std::fs::File::create(&file).expect("monitor file");
        let mut cmd = Command::new("ip");
        cmd.args(["-n", ns.name(), "-ts", "monitor", "neigh"])
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null());
        let child = Child::spawn(cmd, "ip monitor").expect("ip monitor");
        let monitor = Monitor {
            _child: child,
            file,
        };
        monitor.wait_subscribed(ns);
        monitor
    }

    /// Returns once the monitor prints events: no clock may start before,
    /// or an endpoint's entries could land before the subscription and
    /// never be seen. Adds and deletes the probe neighbour until the file
    /// shows it (an event before the subscription is lost, so each try
    /// makes a new one).
    fn wait_subscribed(&self, ns: &plane_test::Netns) {
        let probe = || -> Option<()> {
            ns.ip(&[
                "neigh",
                "replace",
                PROBE_IP,
                "lladdr",
                PROBE_MAC,
                "dev",
                "ul0",
                "nud",
                "permanent",
            ])
            .ok()?;
            ns.ip(&["neigh", "del", PROBE_IP, "dev", "ul0"]).ok()?;
            std::fs::read_to_string(&self.file)
                .ok()?
                .contains(PROBE_IP)
                .then_some(())
        };
        poll_until("ip monitor subscribed", Duration::from_secs(20), probe)
            .expect("ip monitor prints the probe neighbour");
    }

    /// First time each (VTEP-carrying FDB MAC on `vxlan`) and each
    /// (neighbour IP on `bridge`) was reported.
    fn seen(&self, vxlan: &str, bridge: &str) -> (HashMap<String, i64>, HashMap<String, i64>) {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let (mut fdb, mut neigh) = (HashMap::new(), HashMap::new());
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            let Some(ts) = w.first().and_then(|t| parse_ts(t)) else {
                continue;
            };
            if w.get(1) == Some(&"Deleted") {
                continue;
            }
            let (Some(first), Some(dev), Some(mac)) = (
                w.get(1),
                w.iter()
                    .position(|x| *x == "dev")
                    .and_then(|i| w.get(i + 1)),
                w.iter()
                    .position(|x| *x == "lladdr")
                    .and_then(|i| w.get(i + 1)),
            ) else {
                continue;
            };
            if first.parse::<std::net::IpAddr>().is_err() {
                continue;
            }
            if *dev == vxlan {
                fdb.entry(mac.to_string()).or_insert(ts);
            } else if *dev == bridge {
                neigh.entry(first.to_string()).or_insert(ts);
            }
        }
        (fdb, neigh)
    }
}

fn mac(i: usize) -> String {
    format!("02:10:00:00:{:02x}:{:02x}", i / 256, i % 256)
}

fn ip(i: usize) -> String {
    format!("10.1.{}.{}", i / 250, i % 250 + 1)
}

/// Per-endpoint latency in ms, from `starts` (µs) to the later of the FDB
/// and neighbour notifications; waits until the remote has all of them.
fn latencies(
    what: &str,
    monitor: &Monitor,
    vxlan: &str,
    bridge: &str,
    starts: &[i64],
) -> Result<Vec<f64>, String> {
    poll_until(
        &format!("{what}: remote kernel has every endpoint"),
        Duration::from_secs(60),
        || {
            let (fdb, neigh) = monitor.seen(vxlan, bridge);
            let mut out = Vec::with_capacity(starts.len());
            for (i, t0) in starts.iter().enumerate() {
                let f = fdb.get(&mac(i))?;
                let n = neigh.get(&ip(i))?;
                out.push((*f.max(n) - t0) as f64 / 1000.0);
            }
            Some(out)
        },
    )
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn summary(name: &str, mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let (p50, p90, p99, max) = (pct(&v, 0.5), pct(&v, 0.9), pct(&v, 0.99), pct(&v, 1.0));
    eprintln!(
        "| {name} | {} | {p50:.2} | {p90:.2} | {p99:.2} | {max:.2} |",
        v.len()
    );
    (p50, p99)
}

/// Waits until `path` has one more line that mentions `needle` than before
/// (used to pace FRR adds: the next starts once the previous is remote).
fn wait_remote(monitor: &Monitor, vxlan: &str, bridge: &str, i: usize) {
    let _ = poll_until("remote entry", Duration::from_secs(20), || {
        let (fdb, neigh) = monitor.seen(vxlan, bridge);
        (fdb.contains_key(&mac(i)) && neigh.contains_key(&ip(i))).then_some(())
    });
}

/// (from the command's return, from its invocation), ms per endpoint.
fn bench_plane(n: usize, dir: &Path) -> (Vec<f64>, Vec<f64>) {
    let underlay = Underlay::new().expect("underlay");
    let spec = |idx, other| HostSpec {
        idx,
        peers: vec![Peer {
            idx: other,
            rr_client: false,
        }],
        vnis: vec![10],
        flood: Vec::new(),
        hold_time: 90,
    };
    let mut h1 = Host::new(&underlay, spec(1, 2)).expect("h1");
    let mut h2 = Host::new(&underlay, spec(2, 1)).expect("h2");
    h1.start().expect("planed h1");
    h2.start().expect("planed h2");
    poll_until("session", Duration::from_secs(30), || {
        (h1.established() == 1).then_some(())
    })
    .expect("session up");
    // One host port carries every endpoint: the benchmark is about routes.
    h1.ns
        .ip(&[
            "link", "add", "bench0", "type", "veth", "peer", "name", "bench1",
        ])
        .expect("veth");
    h1.ns.ip(&["link", "set", "bench1", "up"]).expect("up");
    let monitor = Monitor::start(&h2.ns, dir.join("plane-monitor.txt"));
    let (mut invoked, mut starts) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let ipc = format!("{}/16", ip(i));
        invoked.push(now_us());
        h1.planectl(&[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            &mac(i),
            "--ip",
            &ipc,
            "--port",
            "bench0",
        ])
        .expect("endpoint add");
        starts.push(now_us());
        wait_remote(&monitor, "vxlan10", "br10", i);
    }
    let done = latencies("plane", &monitor, "vxlan10", "br10", &starts).expect("plane latencies");
    let from_invocation = latencies("plane", &monitor, "vxlan10", "br10", &invoked).expect("plane");
    (done, from_invocation)
}

/// (from the commands' return, from their invocation), ms per endpoint.
fn bench_frr(n: usize, dir: &Path) -> (Vec<f64>, Vec<f64>) {
    let underlay = Underlay::new().expect("underlay");
    let mut h3 = FrrHost::new(&underlay, 3, &[4], &[10]).expect("frr h3");
    let mut h4 = FrrHost::new(&underlay, 4, &[3], &[10]).expect("frr h4");
    h3.start().expect("frr h3");
    h4.start().expect("frr h4");
    poll_until("FRR session", Duration::from_secs(60), || {
        h3.vtysh("show bgp neighbors 10.0.0.4")
            .ok()
            .filter(|s| s.contains("BGP state = Established"))
    })
    .expect("FRR session up");
    h3.ns
        .ip(&[
            "link", "add", "bench0", "type", "veth", "peer", "name", "bench1",
        ])
        .expect("veth");
    h3.ns
        .ip(&[
            "link",
            "set",
            "bench0",
            "master",
            "br10",
            "addrgenmode",
            "none",
            "up",
        ])
        .expect("port");
    h3.ns
        .ip(&["link", "set", "bench1", "addrgenmode", "none", "up"])
        .expect("up");
    let monitor = Monitor::start(&h4.ns, dir.join("frr-monitor.txt"));
    let (mut invoked, mut starts) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let (m, a) = (mac(i), ip(i));
        invoked.push(now_us());
        run(
            "sh",
            [
                "-c",
                &format!(
                    "bridge -n {ns} fdb add {m} dev bench0 master static && \
                     ip -n {ns} neigh add {a} lladdr {m} dev br10 nud permanent",
                    ns = h3.ns.name()
                ),
            ],
        )
        .expect("local add");
        starts.push(now_us());
        wait_remote(&monitor, "vxlan10", "br10", i);
    }
    let done = latencies("FRR", &monitor, "vxlan10", "br10", &starts).expect("FRR latencies");
    let from_invocation = latencies("FRR", &monitor, "vxlan10", "br10", &invoked).expect("FRR");
    (done, from_invocation)
}

/// The benchmark proper; ignored by default (slow), see run.sh.
#[test]
#[ignore]
fn bench_endpoint_to_remote_kernel() {
    plane_test::require_root!();
    plane_test::require_program!("/usr/lib/frr/bgpd");
    let n: usize = std::env::var("PLANE_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tmp");
    let plane = bench_plane(n, dir.path());
    let frr = bench_frr(n, dir.path());
    eprintln!("\n| speaker | endpoints | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|");
    let (_, plane_p99) = summary("plane, from `planectl endpoint add` returning", plane.0);
    let (_, plane_inv_p99) = summary("plane, from `planectl endpoint add` invoked", plane.1);
    let (frr_p50, _) = summary("FRR 8.4, from local fdb+neigh add returning", frr.0);
    let (frr_inv_p50, _) = summary("FRR 8.4, from local fdb+neigh add invoked", frr.1);
    eprintln!(
        "\nratio plane p99 / FRR p50: from return {:.3}, from invocation {:.3} (goal < 1)",
        plane_p99 / frr_p50,
        plane_inv_p99 / frr_inv_p50
    );
}

#[test]
fn timestamps_parse_as_utc() {
    assert_eq!(parse_ts("[1970-01-01T00:00:01.5]"), Some(1_500_000));
    assert_eq!(
        parse_ts("[2026-11-21T22:18:51.918635]"),
        Some(1_795_299_531_918_635)
    );
    assert_eq!(parse_ts("nope"), None);
}
