//! Third-party BGP peers for interop tests: GoBGP (gobgpd) and FRR (bgpd,
//! zebra) run inside a test's namespace, each stopped by PID when dropped;
//! and [`PlaneSpeaker`], plane's own speaker running on a thread that
//! entered the test's namespace.
//!
//! Every runner writes its configuration and logs to a temporary directory
//! that lives as long as the runner (printed by `Debug` and kept in error
//! messages so that a failing test can be diagnosed). Nothing here refers to
//! files outside the repository; the daemons come from Debian's packages
//! (gobgpd 3.10, frr 8.4).
//!
//! Gotchas encoded here (see also the interop notes in docs):
//! - FRR needs `-u root -g frrvty`, `-P 0` (no TCP vty), one `--vty_socket`
//!   directory and one zserv socket path for zebra, bgpd and vtysh.
//! - FRR 8.x needs `no bgp ebgp-requires-policy`, `no bgp default
//!   ipv4-unicast`, and a short `timers connect` (default retry 120 s).
//! - GoBGP's CLI talks gRPC to `127.0.0.1:50051` inside the namespace.

use crate::{poll_until, run, veth, Child, Netns, Result};
use plane_bgp::rib::RibEvent;
use plane_bgp::speaker::{self, SpeakerConfig, SpeakerHandle};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long daemons get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One GoBGP neighbour.
#[derive(Clone, Debug)]
pub struct GobgpNeighbor {
    pub address: IpAddr,
    pub peer_as: u32,
    /// Remote port (plane may listen on a test port).
    pub port: Option<u16>,
    /// Only accept connections (`passive-mode`).
    pub passive: bool,
    /// (hold time, keepalive interval) in seconds.
    pub timers: Option<(u16, u16)>,
    /// iBGP route reflector client (on the RR side).
    pub rr_client: bool,
}

impl GobgpNeighbor {
    pub fn new(address: IpAddr, peer_as: u32) -> GobgpNeighbor {
        GobgpNeighbor {
            address,
            peer_as,
            port: None,
            passive: false,
            timers: None,
            rr_client: false,
        }
    }
}

/// gobgpd in a namespace.
#[derive(Debug)]
pub struct Gobgp {
    ns: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Gobgp {
    /// Starts gobgpd (EVPN neighbours) and waits for its API.
    pub fn start(
        ns: &Netns,
        asn: u32,
        router_id: &str,
        neighbors: &[GobgpNeighbor],
    ) -> Result<Gobgp> {
        let dir = tempfile::tempdir().map_err(|e| format!("gobgp: temp dir: {e}"))?;
        let mut conf = String::new();
        let _ = writeln!(
            conf,
            "[global.config]\n  as = {asn}\n  router-id = \"{router_id}\""
        );
        for n in neighbors {
            let _ = writeln!(conf, "\n[[neighbors]]\n  [neighbors.config]");
            let _ = writeln!(
                conf,
                "    neighbor-address = \"{}\"\n    peer-as = {}",
                n.address, n.peer_as
            );
            let _ = writeln!(conf, "  [neighbors.timers.config]\n    connect-retry = 1");
            if let Some((hold, ka)) = n.timers {
                let _ = writeln!(
                    conf,
                    "    hold-time = {hold}\n    keepalive-interval = {ka}"
                );
            }
            let _ = writeln!(conf, "  [neighbors.transport.config]");
            if let Some(port) = n.port {
                let _ = writeln!(conf, "    remote-port = {port}");
            }
            if n.passive {
                let _ = writeln!(conf, "    passive-mode = true");
            }
            if n.rr_client {
                let _ = writeln!(
                    conf,
                    "  [neighbors.route-reflector.config]\n    route-reflector-client = true\n    route-reflector-cluster-id = \"{router_id}\""
                );
            }
            let _ = writeln!(conf, "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"l2vpn-evpn\"");
        }
        let conf_path = dir.path().join("gobgpd.toml");
        std::fs::write(&conf_path, conf)
            .map_err(|e| format!("gobgp: write {}: {e}", conf_path.display()))?;
        let log = std::fs::File::create(dir.path().join("gobgpd.log"))
            .map_err(|e| format!("gobgp: log: {e}"))?;
        let mut cmd = ns.command("gobgpd");
        cmd.arg("-f").arg(&conf_path).args([
            "-p",
            "-l",
            "info",
            "--api-hosts",
            "127.0.0.1:50051",
            "--pprof-disable",
        ]);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = Child::spawn(cmd, "gobgpd")?;
        let g = Gobgp {
            ns: ns.name().to_string(),
            dir,
            child,
        };
        poll_until("gobgpd API", START_TIMEOUT, || g.cli(&["global"]).ok())
            .map_err(|e| format!("{e}; log: {}", g.log_tail()))?;
        Ok(g)
    }

    /// Runs `gobgp ARGS` against this daemon.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let mut a = vec![
            "netns",
            "exec",
            &self.ns,
            "gobgp",
            "-u",
            "127.0.0.1",
            "-p",
            "50051",
        ];
        a.extend_from_slice(args);
        run("ip", a)
    }

    /// `gobgp -j ARGS` parsed.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let mut a = vec!["-j"];
        a.extend_from_slice(args);
        let out = self.cli(&a)?;
        serde_json::from_str(&out).map_err(|e| format!("gobgp {args:?}: bad JSON ({e}): {out}"))
    }

    /// The neighbour's session state as GoBGP names it ("established", "active", ...).
    pub fn neighbor_state(&self, addr: IpAddr) -> Result<String> {
        let v = self.json(&["neighbor", &addr.to_string()])?;
        // gobgp -j prints the state as its gRPC enum number.
        let name = match v.pointer("/state/session_state") {
            Some(Value::Number(n)) => match n.as_u64() {
                Some(1) => "idle",
                Some(2) => "connect",
                Some(3) => "active",
                Some(4) => "opensent",
                Some(5) => "openconfirm",
                Some(6) => "established",
                _ => "unknown",
            }
            .to_string(),
            Some(Value::String(s)) => s.to_lowercase(),
            _ => String::new(),
        };
        Ok(name)
    }

    /// Every EVPN path in GoBGP's global RIB, flattened.
    pub fn evpn_paths(&self) -> Result<Vec<Value>> {
        let v = self.json(&["global", "rib", "-a", "evpn"])?;
        let mut out = Vec::new();
        if let Some(m) = v.as_object() {
            for dests in m.values() {
                if let Some(paths) = dests.as_array() {
                    out.extend(paths.iter().cloned());
                }
            }
        }
        Ok(out)
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// SIGKILL: the peer dies without a NOTIFICATION.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("gobgpd.log"), 30)
    }
}

/// One FRR neighbour.
#[derive(Clone, Debug)]
pub struct FrrNeighbor {
    pub address: IpAddr,
    pub remote_as: u32,
    pub port: Option<u16>,
    pub password: Option<String>,
    pub passive: bool,
    /// (keepalive, hold) in seconds.
    pub timers: Option<(u16, u16)>,
    pub rr_client: bool,
}

impl FrrNeighbor {
    pub fn new(address: IpAddr, remote_as: u32) -> FrrNeighbor {
        FrrNeighbor {
            address,
            remote_as,
            port: None,
            password: None,
            passive: false,
            timers: None,
            rr_client: false,
        }
    }
}

/// zebra + bgpd in a namespace.
#[derive(Debug)]
pub struct Frr {
    dir: tempfile::TempDir,
    ns: String,
    bgpd: Child,
    zebra: Child,
}

impl Frr {
    /// Starts zebra and bgpd with an `l2vpn evpn` neighbour per entry;
    /// `advertise_all_vni` makes FRR originate type-2/3 routes from the
    /// namespace's VXLAN devices (see [`add_vni`]).
    pub fn start(
        ns: &Netns,
        asn: u32,
        router_id: &str,
        neighbors: &[FrrNeighbor],
        advertise_all_vni: bool,
    ) -> Result<Frr> {
        Frr::start_with(ns, asn, router_id, neighbors, advertise_all_vni, &[])
    }

    /// As [`Frr::start`], with `extra` lines under `router bgp` (e.g.
    /// `bgp graceful-restart`).
    pub fn start_with(
        ns: &Netns,
        asn: u32,
        router_id: &str,
        neighbors: &[FrrNeighbor],
        advertise_all_vni: bool,
        extra: &[&str],
    ) -> Result<Frr> {
        let dir = tempfile::tempdir().map_err(|e| format!("frr: temp dir: {e}"))?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("vty")).map_err(|e| format!("frr: {e}"))?;
        // The daemons run as root with group frrvty: the directory must be reachable.
        let _ = run(
            "chmod",
            [
                "0777",
                &d.to_string_lossy(),
                &d.join("vty").to_string_lossy(),
            ],
        );
        let mut b = String::new();
        let _ = writeln!(
            b,
            "hostname frr-{}\nlog file {}/bgpd.log debugging\n!",
            ns.name(),
            d.display()
        );
        let _ = writeln!(b, "router bgp {asn}\n bgp router-id {router_id}");
        let _ = writeln!(b, " no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check");
        for line in extra {
            let _ = writeln!(b, " {line}");
        }
        for n in neighbors {
            let a = n.address;
            let _ = writeln!(
                b,
                " neighbor {a} remote-as {}\n neighbor {a} timers connect 1",
                n.remote_as
            );
            if let Some(port) = n.port {
                let _ = writeln!(b, " neighbor {a} port {port}");
            }
            if let Some(pw) = &n.password {
                let _ = writeln!(b, " neighbor {a} password {pw}");
            }
            if n.passive {
                let _ = writeln!(b, " neighbor {a} passive");
            }
            if let Some((ka, hold)) = n.timers {
                let _ = writeln!(b, " neighbor {a} timers {ka} {hold}");
            }
        }
        let _ = writeln!(b, " !\n address-family l2vpn evpn");
        for n in neighbors {
            let _ = writeln!(b, "  neighbor {} activate", n.address);
            if n.rr_client {
                let _ = writeln!(b, "  neighbor {} route-reflector-client", n.address);
            }
        }
        if advertise_all_vni {
            let _ = writeln!(b, "  advertise-all-vni");
        }
        let _ = writeln!(b, " exit-address-family\n!");
        std::fs::write(d.join("bgpd.conf"), b).map_err(|e| format!("frr: write bgpd.conf: {e}"))?;
        let zconf = format!(
            "hostname frr-{}\nlog file {}/zebra.log informational\n!\n",
            ns.name(),
            d.display()
        );
        std::fs::write(d.join("zebra.conf"), zconf)
            .map_err(|e| format!("frr: write zebra.conf: {e}"))?;
        let zebra = Child::spawn(daemon(ns, d, "zebra"), "zebra")?;
        poll_until("zebra's zserv socket", START_TIMEOUT, || {
            d.join("zserv.api").exists().then_some(())
        })?;
        let bgpd = Child::spawn(daemon(ns, d, "bgpd"), "bgpd")?;
        let frr = Frr {
            dir,
            ns: ns.name().to_string(),
            bgpd,
            zebra,
        };
        frr.wait_bgpd()?;
        Ok(frr)
    }

    fn wait_bgpd(&self) -> Result<()> {
        poll_until("bgpd's vty", START_TIMEOUT, || {
            self.vtysh("show bgp summary").ok()
        })
        .map(|_| ())
        .map_err(|e| format!("{e}; log: {}", self.log_tail()))
    }

    /// SIGKILL to bgpd: it dies without a NOTIFICATION (zebra stays).
    pub fn kill_bgpd(&mut self) {
        self.bgpd.kill();
    }

    /// Starts bgpd again with the same configuration (after [`Frr::kill_bgpd`]).
    pub fn restart_bgpd(&mut self, ns: &Netns) -> Result<()> {
        self.bgpd.kill();
        self.bgpd = Child::spawn(daemon(ns, self.dir.path(), "bgpd"), "bgpd")?;
        self.wait_bgpd()
    }

    /// Runs one vtysh command against this FRR.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        let vty = self.dir.path().join("vty");
        let vty = vty.to_string_lossy();
        run("vtysh", ["--vty_socket", vty.as_ref(), "-c", command])
    }

    /// A vtysh command that prints JSON, parsed.
    pub fn json(&self, command: &str) -> Result<Value> {
        let out = self.vtysh(command)?;
        serde_json::from_str(&out).map_err(|e| format!("vtysh {command:?}: bad JSON ({e}): {out}"))
    }

    /// "Established", "Active", ... as FRR names it.
    pub fn neighbor_state(&self, addr: IpAddr) -> Result<String> {
        let v = self.json(&format!("show bgp neighbors {addr} json"))?;
        Ok(v.get(addr.to_string())
            .and_then(|n| n.get("bgpState"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Every EVPN path FRR has, flattened from `show bgp l2vpn evpn json`:
    /// each path object gets `"rd"` and `"prefix"` added.
    pub fn evpn_paths(&self) -> Result<Vec<Value>> {
        let v = self.json("show bgp l2vpn evpn json")?;
        let mut out = Vec::new();
        let Some(rds) = v.as_object() else {
            return Ok(out);
        };
        for (rd, prefixes) in rds {
            let Some(prefixes) = prefixes.as_object() else {
                continue;
            };
            for (prefix, p) in prefixes {
                let Some(paths) = p.get("paths").and_then(Value::as_array) else {
                    continue;
                };
                for group in paths {
                    // FRR 8.4 nests each path in a one-element array.
                    let items: Vec<&Value> = match group.as_array() {
                        Some(a) => a.iter().collect(),
                        None => vec![group],
                    };
                    for path in items {
                        let mut path = path.clone();
                        if let Some(o) = path.as_object_mut() {
                            o.insert("rd".into(), Value::String(rd.clone()));
                            o.insert("prefix".into(), Value::String(prefix.clone()));
                        }
                        out.push(path);
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn bgpd_pid(&self) -> u32 {
        self.bgpd.pid()
    }

    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("bgpd.log"), 40)
    }

    pub fn zebra_log_tail(&self) -> String {
        tail(&self.dir.path().join("zebra.log"), 20)
    }

    /// The namespace FRR runs in.
    pub fn ns_name(&self) -> &str {
        &self.ns
    }

    /// Stops bgpd then zebra.
    pub fn stop(&mut self) {
        self.bgpd.stop(Duration::from_secs(2));
        self.zebra.stop(Duration::from_secs(2));
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An FRR daemon (`zebra`, `bgpd`) for namespace `ns` with its files in `d`.
fn daemon(ns: &Netns, d: &Path, name: &str) -> std::process::Command {
    let bin = crate::which(name).unwrap_or_else(|| PathBuf::from("/usr/lib/frr").join(name));
    let mut cmd = ns.command(bin);
    cmd.arg("-f")
        .arg(d.join(format!("{name}.conf")))
        .arg("-i")
        .arg(d.join(format!("{name}.pid")))
        .args(["-u", "root", "-g", "frrvty", "-P", "0", "-z"])
        .arg(d.join("zserv.api"))
        .arg("--vty_socket")
        .arg(d.join("vty"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// A VNI as FRR's `advertise-all-vni` wants it in its namespace: bridge
/// `br<VNI>`, VXLAN `vx<VNI>` (local VTEP, no learning) and an access veth
/// `ac<VNI>` whose other end is kept silent so that no MAC is learned.
pub fn add_vni(ns: &Netns, vni: u32, vtep: &str) -> Result<()> {
    let lines = [
        format!("link add br{vni} type bridge"),
        format!("link set br{vni} addrgenmode none"),
        format!("link add vx{vni} type vxlan id {vni} local {vtep} dstport 4789 nolearning"),
        format!("link set vx{vni} master br{vni} addrgenmode none"),
        format!("link add ac{vni} type veth peer name ah{vni}"),
        format!("link set ac{vni} master br{vni}"),
        format!("link set ah{vni} addrgenmode none"),
        format!("link set ac{vni} addrgenmode none"),
        format!("link set ah{vni} up"),
        format!("link set br{vni} up"),
        format!("link set vx{vni} up"),
        format!("link set ac{vni} up"),
    ];
    for l in lines {
        let args: Vec<&str> = l.split_whitespace().collect();
        ns.ip(&args)?;
    }
    Ok(())
}

/// A veth between two namespaces with addresses, up, and permanent
/// neighbour entries both ways. The kernel's neighbour table is shared by
/// all namespaces of the host; when other work fills it past gc_thresh3,
/// ARP for a new entry fails with ENOBUFS and sessions never come up.
/// Permanent entries are exempt from that limit.
pub fn link(
    a: &Netns,
    a_if: &str,
    a_cidr: &str,
    b: &Netns,
    b_if: &str,
    b_cidr: &str,
) -> Result<()> {
    veth(a, a_if, b, b_if)?;
    for (ns, dev, cidr) in [(a, a_if, a_cidr), (b, b_if, b_cidr)] {
        ns.ip(&["addr", "add", cidr, "dev", dev])?;
        ns.ip(&["link", "set", dev, "up"])?;
    }
    let mac = |ns: &Netns, dev: &str| -> Result<String> {
        let out = ns.ip(&["-j", "link", "show", dev])?;
        let v: Value =
            serde_json::from_str(&out).map_err(|e| format!("ip -j link show {dev}: {e}"))?;
        v[0]["address"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{dev}: no MAC in {out}"))
    };
    let addr = |cidr: &str| cidr.split('/').next().unwrap_or(cidr).to_string();
    let (a_mac, b_mac) = (mac(a, a_if)?, mac(b, b_if)?);
    a.ip(&[
        "neigh",
        "replace",
        &addr(b_cidr),
        "lladdr",
        &b_mac,
        "dev",
        a_if,
        "nud",
        "permanent",
    ])?;
    b.ip(&[
        "neigh",
        "replace",
        &addr(a_cidr),
        "lladdr",
        &a_mac,
        "dev",
        b_if,
        "nud",
        "permanent",
    ])?;
    Ok(())
}

/// plane's speaker on a thread inside a namespace (sockets belong to the
/// network namespace of the thread that creates them), with a runtime on the
/// test side to call its handle.
pub struct PlaneSpeaker {
    handle: SpeakerHandle,
    rt: tokio::runtime::Runtime,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    events: Arc<Mutex<Vec<RibEvent>>>,
}

impl std::fmt::Debug for PlaneSpeaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlaneSpeaker")
    }
}

impl PlaneSpeaker {
    /// Starts the speaker in `ns`. With `record_events` the dataplane stream
    /// is kept for [`PlaneSpeaker::events`], else it is drained and dropped.
    pub fn start(ns: &Netns, config: SpeakerConfig, record_events: bool) -> Result<PlaneSpeaker> {
        let path = ns.path();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let thread = std::thread::Builder::new()
            .name("plane-speaker".into())
            .spawn(move || speaker_thread(path, config, record_events, sink, tx, stop_rx))
            .map_err(|e| format!("speaker thread: {e}"))?;
        let handle = rx
            .recv_timeout(START_TIMEOUT)
            .map_err(|e| format!("speaker did not start: {e}"))??;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("test runtime: {e}"))?;
        Ok(PlaneSpeaker {
            handle,
            rt,
            thread: Some(thread),
            stop: Some(stop_tx),
            events,
        })
    }

    pub fn handle(&self) -> &SpeakerHandle {
        &self.handle
    }

    /// Runs a future (a handle call) to completion from the test thread.
    pub fn call<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The dataplane events so far (when recorded).
    pub fn events(&self) -> Vec<RibEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Shuts the speaker down (Cease to every peer) and joins its thread.
    pub fn shutdown(&mut self, message: &str) {
        if self.thread.is_none() {
            return;
        }
        let h = self.handle.clone();
        let _ = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), h.shutdown(message)).await
        });
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PlaneSpeaker {
    fn drop(&mut self) {
        self.shutdown("test over");
    }
}

fn speaker_thread(
    ns: PathBuf,
    config: SpeakerConfig,
    record: bool,
    sink: Arc<Mutex<Vec<RibEvent>>>,
    tx: std::sync::mpsc::Sender<Result<SpeakerHandle>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let enter = std::fs::File::open(&ns)
        .map_err(|e| format!("open {}: {e}", ns.display()))
        .and_then(|f| {
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns {}: {e}", ns.display()))
        });
    if let Err(e) = enter {
        let _ = tx.send(Err(e));
        return;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Err(format!("speaker runtime: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        let (handle, mut events, task) = match speaker::start(config).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(format!("speaker start: {e}")));
                return;
            }
        };
        let _ = tx.send(Ok(handle));
        tokio::spawn(async move {
            while let Some(batch) = events.recv().await {
                if record {
                    if let Ok(mut s) = sink.lock() {
                        s.extend(batch);
                    }
                }
            }
        });
        let _ = stop.await;
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    });
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
