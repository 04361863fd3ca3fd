//! BGP scale benchmark: the replay sender streams N type-2 routes over a real
//! session to plane, FRR bgpd and gobgpd, one after another in one run, each
//! receiver alone in a fresh pair of network namespaces. Reported per run:
//! the time from the first UPDATE octet on the socket until the receiver
//! counts all N routes from the sender, and the receiver's resident memory
//! growth per route (VmRSS after minus before, over N).
//!
//! ```text
//! cargo bench -p plane-test --bench bgp_scale -- [--sizes 100000,1000000] [--gobgp-size 100000]
//!     [--targets plane,frr,gobgp] [--packings packed,single] [--gobgp-timeout-s 2400]
//! ```
//!
//! plane runs as a separate process (this binary re-executed with
//! `--plane-speaker` inside the receiver namespace) so that its memory is
//! measured alone; it answers `count` on stdin with the number of routes
//! received. FRR is polled with `show bgp l2vpn evpn summary json`, GoBGP with
//! `gobgp -j neighbor`. Needs root, gobgpd and FRR; prints a Markdown table.

use plane_bgp::rib::VniImport;
use plane_bgp::speaker::{self, NeighborConfig, SpeakerConfig};
use plane_test::peers::{Frr, FrrNeighbor, Gobgp, GobgpNeighbor};
use plane_test::replay::{run_session, Packing, Replay, SendStats};
use plane_test::Netns;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECEIVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SENDER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const RECEIVER_AS: u32 = 65001;
const SENDER_AS: u32 = 65002;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--plane-speaker") {
        plane_speaker();
        return;
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sizes: Vec<u32> = opt("--sizes")
        .unwrap_or_else(|| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let gobgp_size: u32 = opt("--gobgp-size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let targets = opt("--targets").unwrap_or_else(|| "plane,frr,gobgp".into());
    let packings: Vec<Packing> = opt("--packings")
        .unwrap_or_else(|| "packed,single".into())
        .split(',')
        .filter_map(|p| match p {
            "packed" => Some(Packing::Packed),
            "single" => Some(Packing::OnePerUpdate),
            _ => None,
        })
        .collect();
    let gobgp_timeout = Duration::from_secs(
        opt("--gobgp-timeout-s")
            .and_then(|s| s.parse().ok())
            .unwrap_or(2400),
    );
    if !plane_test::is_root() {
        eprintln!("bgp_scale needs root (network namespaces)");
        std::process::exit(2);
    }
    let replay = Replay {
        local_asn: SENDER_AS,
        router_id: SENDER,
        peer_asn: RECEIVER_AS,
        next_hop: SENDER,
        vni: 100,
    };
    let mut rows = Vec::new();
    let mut plan: Vec<(Target, u32, Packing)> = Vec::new();
    for &n in &sizes {
        for &p in &packings {
            if targets.contains("plane") {
                plan.push((Target::Plane, n, p));
            }
            if targets.contains("frr") {
                plan.push((Target::Frr, n, p));
            }
        }
    }
    if targets.contains("gobgp") {
        plan.push((Target::Gobgp, gobgp_size, Packing::Packed));
    }
    for (target, n, packing) in plan {
        eprintln!("== {target:?}: {n} routes, {packing:?}");
        let timeout = if target == Target::Gobgp {
            gobgp_timeout
        } else {
            Duration::from_secs(600)
        };
        match run_one(target, n, packing, &replay, timeout) {
            Ok(r) => {
                eprintln!("   {r:?}");
                rows.push(r);
            }
            Err(e) => {
                eprintln!("   failed: {e}");
                rows.push(Row {
                    target,
                    n,
                    packing,
                    bytes: 0,
                    time: None,
                    cpu: None,
                    rss_growth: None,
                    note: e,
                });
            }
        }
    }
    println!(
        "| receiver | routes | packing | bytes on the wire | time to all routes in RIB | receiver CPU | RSS growth per route |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    for r in &rows {
        let time = r
            .time
            .map(|t| format!("{:.3} s", t.as_secs_f64()))
            .unwrap_or_else(|| format!("- ({})", r.note));
        let rss = r
            .rss_growth
            .map(|b| format!("{:.0} B", b as f64 / f64::from(r.n)))
            .unwrap_or_else(|| "-".into());
        let packing = match r.packing {
            Packing::Packed => "packed (FRR-like)",
            Packing::OnePerUpdate => "1 per UPDATE (GoBGP-like)",
        };
        let cpu = r
            .cpu
            .map(|c| format!("{:.2} s", c.as_secs_f64()))
            .unwrap_or_else(|| "-".into());
        println!(
            "| {:?} | {} | {packing} | {} | {time} | {cpu} | {rss} |",
            r.target, r.n, r.bytes
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Plane,
    Frr,
    Gobgp,
}

#[derive(Debug)]
struct Row {
    target: Target,
    n: u32,
    packing: Packing,
    bytes: usize,
    time: Option<Duration>,
    /// Receiver CPU (user + system) from the first UPDATE to the end.
    cpu: Option<Duration>,
    rss_growth: Option<i64>,
    note: String,
}

/// The receiver under test: how to read its route count and memory.
enum Receiver {
    Plane(PlaneProcess),
    Frr(Frr),
    Gobgp(Gobgp),
}

impl Receiver {
    fn pid(&self) -> u32 {
        match self {
            Receiver::Plane(p) => p.child.id(),
            Receiver::Frr(f) => f.bgpd_pid(),
            Receiver::Gobgp(g) => g.pid(),
        }
    }

    fn count(&mut self) -> Option<u64> {
        match self {
            Receiver::Plane(p) => p.count(),
            Receiver::Frr(f) => {
                let v = f.json("show bgp l2vpn evpn summary json").ok()?;
                v.pointer(&format!("/peers/{SENDER}/pfxRcd"))
                    .and_then(|c| c.as_u64())
            }
            Receiver::Gobgp(g) => {
                let v = g.json(&["neighbor", &SENDER.to_string()]).ok()?;
                let afis = v.get("afi_safis")?.as_array()?.clone();
                afis.iter()
                    .filter_map(|a| a.pointer("/state/received").and_then(|r| r.as_u64()))
                    .max()
            }
        }
    }

    fn poll_interval(&self) -> Duration {
        match self {
            Receiver::Plane(_) => Duration::from_millis(2),
            Receiver::Frr(_) => Duration::from_millis(10),
            Receiver::Gobgp(_) => Duration::from_secs(1),
        }
    }
}

/// User + system CPU time of a process (/proc/PID/stat fields 14 and 15,
/// in clock ticks of 10 ms): robust against other load on the machine,
/// unlike wall time.
fn cpu_time(pid: u32) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count from its ')'.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn rss_bytes(pid: u32) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn run_one(
    target: Target,
    n: u32,
    packing: Packing,
    replay: &Replay,
    timeout: Duration,
) -> Result<Row, String> {
    let encode_start = Instant::now();
    let messages = Arc::new(
        replay
            .encode(n, packing)
            .map_err(|e| format!("encode: {e}"))?,
    );
    let bytes: usize = messages.iter().map(|m| m.len()).sum();
    eprintln!(
        "   encoded {} messages, {bytes} bytes in {:?}",
        messages.len(),
        encode_start.elapsed()
    );
    let rx = Netns::new("br")?;
    let tx = Netns::new("bs")?;
    plane_test::peers::link(&rx, "ul0", "10.0.0.1/24", &tx, "ul0", "10.0.0.2/24")?;
    let mut receiver = match target {
        Target::Plane => Receiver::Plane(PlaneProcess::start(&rx)?),
        Target::Frr => {
            let mut nb = FrrNeighbor::new(IpAddr::V4(SENDER), SENDER_AS);
            nb.passive = true;
            Receiver::Frr(Frr::start(&rx, RECEIVER_AS, "10.0.0.1", &[nb], false)?)
        }
        Target::Gobgp => {
            let mut nb = GobgpNeighbor::new(IpAddr::V4(SENDER), SENDER_AS);
            nb.passive = true;
            Receiver::Gobgp(Gobgp::start(&rx, RECEIVER_AS, "10.0.0.1", &[nb])?)
        }
    };
    std::thread::sleep(Duration::from_millis(500));
    let pid = receiver.pid();
    let rss_before = rss_bytes(pid);
    let cpu_before = cpu_time(pid);
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<SendStats>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let path = tx.path();
        let messages = Arc::clone(&messages);
        let replay = replay.clone();
        std::thread::spawn(move || -> Result<(), String> {
            let f =
                std::fs::File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns: {e}"))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                let stream = loop {
                    match tokio::net::TcpStream::connect((RECEIVER, 179)).await {
                        Ok(s) => break s,
                        Err(e) if Instant::now() > deadline => return Err(format!("connect: {e}")),
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                };
                run_session(stream, &replay, &messages, sent_tx, stop_rx).await
            })
        })
    };
    let stats = match sent_rx.blocking_recv() {
        Ok(s) => s,
        Err(_) => {
            let why = sender
                .join()
                .map_err(|_| "sender panicked".to_string())
                .and_then(|r| r)
                .err();
            return Err(format!("sender stopped before sending: {why:?}"));
        }
    };
    let deadline = stats.first_update + timeout;
    let interval = receiver.poll_interval();
    let done = loop {
        if receiver.count().is_some_and(|c| c >= u64::from(n)) {
            break Some(Instant::now());
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(interval);
    };
    let time = done.map(|t| t.duration_since(stats.first_update));
    // Let allocations settle (the receiver may still be answering).
    std::thread::sleep(Duration::from_millis(300));
    let rss_after = rss_bytes(pid);
    let cpu = cpu_time(pid)
        .zip(cpu_before)
        .map(|(a, b)| a.saturating_sub(b));
    let _ = stop_tx.send(());
    let _ = sender.join();
    let note = if time.is_none() {
        format!("timeout {timeout:?}, got {:?}", receiver.count())
    } else {
        String::new()
    };
    drop(receiver);
    Ok(Row {
        target,
        n,
        packing,
        bytes,
        time,
        cpu,
        rss_growth: rss_before.zip(rss_after).map(|(b, a)| a - b),
        note,
    })
}

/// plane's speaker as a child process in the receiver namespace.
struct PlaneProcess {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl PlaneProcess {
    fn start(ns: &Netns) -> Result<PlaneProcess, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns.name()])
            .arg(exe)
            .arg("--plane-speaker");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("plane speaker: {e}"))?;
        let stdin = child.stdin.take().ok_or("plane speaker: no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("plane speaker: no stdout")?);
        let mut p = PlaneProcess {
            child,
            stdin,
            stdout,
        };
        // The first answer also says it is up.
        p.count().ok_or("plane speaker did not answer")?;
        Ok(p)
    }

    fn count(&mut self) -> Option<u64> {
        writeln!(self.stdin, "count").ok()?;
        self.stdin.flush().ok()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        line.trim().parse().ok()
    }
}

impl Drop for PlaneProcess {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child side: a speaker that accepts the sender, and answers `count`.
fn plane_speaker() {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plane speaker: runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async {
        let mut cfg = SpeakerConfig::new(
            RECEIVER_AS,
            RECEIVER,
            vec![SocketAddr::new(IpAddr::V4(RECEIVER), 179)],
            IpAddr::V4(RECEIVER),
        );
        cfg.vnis = vec![VniImport::auto(100, RECEIVER_AS)];
        let mut nb = NeighborConfig::new(IpAddr::V4(SENDER), SENDER_AS);
        nb.passive = true;
        cfg.neighbors = vec![nb];
        let (handle, mut events, _task) = match speaker::start(cfg).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("plane speaker: {e}");
                std::process::exit(1);
            }
        };
        // The dataplane stream is consumed and dropped, as a fast dataplane would.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<String>(4);
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { return };
                if line_tx.blocking_send(line).is_err() {
                    return;
                }
            }
        });
        while let Some(line) = line_rx.recv().await {
            match line.trim() {
                "count" => {
                    let n = handle
                        .neighbors()
                        .await
                        .ok()
                        .and_then(|v| v.first().map(|n| n.received))
                        .unwrap_or(0);
                    println!("{n}");
                }
                "quit" => break,
                _ => {}
            }
        }
        let _ = handle.shutdown("benchmark over").await;
    });
}
