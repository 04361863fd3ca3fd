//! Benchmark: container start to remote reachability through plane-cni.
//!
//! Two hosts (network namespaces h1, h2 joined by an underlay veth) each run
//! planed with VNI 10, iBGP between them. A probe container on h1 is
//! attached once. Then N containers (default 100, `CNI_BENCH_N`) are started
//! one after another on h2: for each, the namespace is made (not timed),
//! a ping from the probe is started (`-i 0.002`, exits on the first reply)
//! and plane-cni ADD is run exactly as a runtime runs it, with host-local
//! IPAM from /usr/lib/cni. Measured per container, from the ADD exec:
//!
//! - `add`: until plane-cni exits (IPAM, veth, registration with planed);
//! - `reachable`: until the probe on the *other* host gets its first echo
//!   reply (adds BGP UPDATE, programming on h1, ARP answered by h1's bridge).
//!
//! The peer, in the same run and interleaved: the reference `bridge` CNI
//! plugin with the same host-local IPAM on h2 (a local bridge, no overlay),
//! ADD latency only (it has no remote reachability to compare).
//!
//! The probe's ARP retransmit time is 5 ms (default 1 s), so that the
//! measurement is not quantised by ARP retries while the route is not there
//! yet.
//!
//! Run: `cargo bench -p plane --bench cni` (as root).

use plane_test::{poll_until, Child, Netns};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const CNI_PATH: &str = "/usr/lib/cni";

fn run_plugin(
    host: &Netns,
    plugin: &str,
    command: &str,
    id: &str,
    netns: &Path,
    conf: &Value,
) -> Value {
    let mut cmd = host.command(plugin);
    cmd.env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", CNI_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("plugin starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(conf.to_string().as_bytes())
        .expect("stdin written");
    let out = child.wait_with_output().expect("plugin runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{plugin} {command} {id}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn planed_config(dir: &Path, me: u8, peer: u8) -> std::path::PathBuf {
    let path = dir.join(format!("h{me}.toml"));
    std::fs::write(
        &path,
        format!(
            "[bgp]\nasn = 65000\nrouter_id = \"10.0.0.{me}\"\nlisten = \"10.0.0.{me}:179\"\n\
             connect_retry = 1\n\n[[bgp.neighbor]]\naddress = \"10.0.0.{peer}\"\nremote_asn = 65000\n\n\
             [underlay]\nlocal_ip = \"10.0.0.{me}\"\n\n[[vni]]\nid = 10\n\n[control]\nsocket = \"{}\"\n",
            dir.join(format!("h{me}.sock")).display()
        ),
    )
    .expect("config written");
    path
}

fn mac_of(ns: &Netns, ifname: &str) -> String {
    let v: Value =
        serde_json::from_str(&ns.ip(&["-j", "link", "show", ifname]).expect("link")).expect("json");
    v[0]["address"].as_str().unwrap_or_default().to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(name: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
    println!(
        "{name:<28} n={:<4} p50 {p50:>8.2} ms  p99 {p99:>8.2} ms  min {:>8.2}  max {:>8.2}",
        ms.len(),
        ms.first().copied().unwrap_or(f64::NAN),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    (p50, p99)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    plane_test::require_root!();
    let n: usize = std::env::var("CNI_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .min(250);
    let planed = env!("CARGO_BIN_EXE_planed");
    let plane_cni = env!("CARGO_BIN_EXE_plane-cni");
    let bridge = format!("{CNI_PATH}/bridge");
    let dir = tempfile::tempdir().expect("tempdir");

    let h1 = Netns::new("bh1").expect("netns");
    let h2 = Netns::new("bh2").expect("netns");
    plane_test::veth(&h1, "u1", &h2, "u2").expect("underlay");
    for (h, ifn, a) in [(&h1, "u1", "10.0.0.1/24"), (&h2, "u2", "10.0.0.2/24")] {
        h.ip(&["addr", "add", a, "dev", ifn]).expect("addr");
        h.ip(&["link", "set", ifn, "up"]).expect("up");
    }
    h1.ip(&[
        "neigh",
        "replace",
        "10.0.0.2",
        "lladdr",
        &mac_of(&h2, "u2"),
        "dev",
        "u1",
        "nud",
        "permanent",
    ])
    .expect("neigh");
    h2.ip(&[
        "neigh",
        "replace",
        "10.0.0.1",
        "lladdr",
        &mac_of(&h1, "u1"),
        "dev",
        "u2",
        "nud",
        "permanent",
    ])
    .expect("neigh");
    let mut daemons = Vec::new();
    for (h, me, peer) in [(&h1, 1u8, 2u8), (&h2, 2, 1)] {
        let mut cmd = h.command(planed);
        cmd.arg("--config")
            .arg(planed_config(dir.path(), me, peer))
            .arg("--state-file")
            .arg(dir.path().join(format!("h{me}.state.json")))
            .env("PLANE_LOG", "error")
            .stdin(Stdio::null());
        daemons.push(Child::spawn(cmd, &format!("planed h{me}")).expect("planed"));
    }
    for (h, me) in [(&h1, 1), (&h2, 2)] {
        let socket = dir.path().join(format!("h{me}.sock"));
        poll_until(
            "session Established and br10",
            Duration::from_secs(30),
            || {
                let mut c = plane::control::Client::connect(&socket).ok()?;
                let up = c
                    .show_neighbors()
                    .ok()?
                    .iter()
                    .all(|n| n.state == plane::control::SessionState::Established);
                (up && h.ip(&["link", "show", "br10"]).is_ok()).then_some(())
            },
        )
        .expect("fabric up");
    }
    h2.ip(&["link", "add", "cnibr0", "type", "bridge"])
        .expect("peer bridge");

    let conf = |me: u8, first: u8, last: u8| {
        json!({
            "cniVersion": "1.0.0", "name": "bench", "type": "plane", "vni": 10,
            "socket": dir.path().join(format!("h{me}.sock")),
            "ipam": {"type": "host-local",
                     "ranges": [[{"subnet": "10.1.0.0/16",
                                  "rangeStart": format!("10.1.{first}.1"),
                                  "rangeEnd": format!("10.1.{last}.254")}]],
                     "dataDir": dir.path().join(format!("ipam{me}"))},
        })
    };
    let conf1 = conf(1, 0, 0);
    let conf2 = conf(2, 1, 1);
    let peer_conf = json!({
        "cniVersion": "1.0.0", "name": "bench-bridge", "type": "bridge", "bridge": "cnibr0",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.2.0.0/16"}]],
                 "dataDir": dir.path().join("ipam-bridge")},
    });

    let probe = Netns::new("bp").expect("netns");
    run_plugin(&h1, plane_cni, "ADD", "probe", &probe.path(), &conf1);
    probe
        .exec(
            "sysctl",
            [
                "-q",
                "-w",
                "net.ipv4.neigh.eth0.retrans_time_ms=5",
                "net.ipv4.neigh.eth0.mcast_solicit=200",
            ],
        )
        .expect("sysctl");

    let mut add_ms = Vec::new();
    let mut reach_ms = Vec::new();
    let mut gap_ms = Vec::new();
    let mut peer_ms = Vec::new();
    let mut containers = Vec::new();
    for i in 0..n {
        let c = Netns::new(&format!("bc{i}")).expect("netns");
        let d = Netns::new(&format!("bd{i}")).expect("netns");
        // The address host-local will give next (sequential allocation).
        let ip = format!("10.1.1.{}", i + 1);

        let mut ping = probe.command("ping");
        ping.args(["-n", "-q", "-c", "1", "-i", "0.002", "-w", "10", &ip])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut ping = Child::spawn(ping, "probe ping").expect("ping");
        let t0 = Instant::now();
        let r = run_plugin(&h2, plane_cni, "ADD", &format!("c{i}"), &c.path(), &conf2);
        let t_add = t0.elapsed();
        let got = r["ips"][0]["address"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            got.split('/').next(),
            Some(ip.as_str()),
            "host-local allocation order"
        );
        let status = ping
            .wait_timeout(Duration::from_secs(15))
            .expect("ping ends");
        let t_reach = t0.elapsed();
        assert!(
            status.success(),
            "container {i} ({ip}) not reachable from h1"
        );
        add_ms.push(t_add.as_secs_f64() * 1e3);
        reach_ms.push(t_reach.as_secs_f64() * 1e3);
        gap_ms.push((t_reach - t_add).as_secs_f64() * 1e3);

        let t1 = Instant::now();
        run_plugin(&h2, &bridge, "ADD", &format!("d{i}"), &d.path(), &peer_conf);
        peer_ms.push(t1.elapsed().as_secs_f64() * 1e3);
        containers.push((c, d));
    }

    println!(
        "\nplane-cni: container start to remote reachability, {n} containers one after another"
    );
    let (a50, a99) = summary("plane-cni ADD", add_ms);
    summary("plane-cni ADD -> remote ping", reach_ms);
    let (p50, p99) = summary("bridge (reference) ADD", peer_ms);
    println!(
        "ratio plane-cni ADD / bridge ADD: p50 {:.2}x  p99 {:.2}x",
        a50 / p50,
        a99 / p99
    );
    summary("ADD exit -> remote ping", gap_ms);
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", l.trim());
    }

    for (i, (c, d)) in containers.iter().enumerate() {
        run_plugin(&h2, plane_cni, "DEL", &format!("c{i}"), &c.path(), &conf2);
        run_plugin(&h2, &bridge, "DEL", &format!("d{i}"), &d.path(), &peer_conf);
    }
    run_plugin(&h1, plane_cni, "DEL", "probe", &probe.path(), &conf1);
}
