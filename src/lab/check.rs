//! `check`: proves a running lab's claims and reports them as a table or JSON.
//!
//! 1. Captures start on every underlay link (`tcpdump --immediate-mode -U
//!    -w`, VXLAN port: without immediate mode, packets still in the ring
//!    buffer when tcpdump is stopped are lost, and a short check saw none).
//! 2. Reachability: every pair of containers of one VNI pings (IPv4, and
//!    IPv6 where both have it); no pair across VNIs does. When the target's
//!    address is also used in the source's own VNI (tenants reuse addresses),
//!    a ping is answered by that twin, so isolation is proven instead by the
//!    target's receive counter: it must not grow by the pings sent.
//! 3. The captures stop; their VXLAN frames are counted by inner frame
//!    (ARP, ND, broadcast/multicast): the BUM column must read 0.
//! 4. BGP: every session of the topology is Established, as each planed
//!    (`show neighbors`) and each third-party host (vtysh / gobgp) sees it.
//! 5. Kernel vs RIB: on every planed host, the best remote type-2 routes
//!    equal what `show fdb` says is programmed (remote MACs with their VTEP,
//!    suppression neighbours).
//!
//! What it never does: change the lab (it only pings, captures and reads).
//! Invariant: [`CheckReport::ok`] is true only when every item passed.

use super::build::host_sessions;
use super::names::{Names, CONTAINER_IF, HOST_UNDERLAY_IF};
use super::pcap::{count_vxlan, VxlanCounts};
use super::sys;
use super::topology::{Container, HostKind, Lab, PairPolicy, UnderlayMode};
use super::LabError;
use crate::control::{Client, RouteFilter, RouteKind, RouteSource};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How a pair is tested.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// Same VNI: must reach.
    SameVni,
    /// Different VNI, address not used in the source's VNI: must not reach.
    CrossVni,
    /// Different VNI, the address is also used in the source's VNI: the
    /// target's receive counter must not grow.
    CrossVniTwin,
}

/// One tested ordered pair and address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    pub src: String,
    pub dst: String,
    pub ip: IpAddr,
    pub kind: ProbeKind,
    /// The ping got an answer (for twins: the twin answered, not asserted).
    pub answered: bool,
    /// What the claim needs, held.
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One underlay link's capture.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkCapture {
    pub link: String,
    pub counts: VxlanCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One BGP session of the topology, as each end reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionCheck {
    pub a: String,
    pub b: String,
    pub state_at_a: String,
    pub state_at_b: String,
    pub passed: bool,
}

/// Kernel state vs RIB of one planed host.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KernelCheck {
    pub host: String,
    pub rib_macs: usize,
    pub fdb_macs: usize,
    pub rib_neighbors: usize,
    pub fdb_neighbors: usize,
    /// Each difference, e.g. `vni 10: 02:..:01 via 192.168.100.2 in RIB, not in kernel`.
    pub mismatches: Vec<String>,
    pub passed: bool,
}

/// Everything `check` found.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CheckReport {
    pub lab: String,
    pub ok: bool,
    pub probes: Vec<Probe>,
    pub captures: Vec<LinkCapture>,
    pub sessions: Vec<SessionCheck>,
    pub kernel: Vec<KernelCheck>,
    /// Problems that stopped a part of the check from running.
    pub errors: Vec<String>,
    pub seconds: f64,
}

/// Which pairs to test: every ordered pair, or a sample (see [`PairPolicy`]).
pub fn plan_probes(lab: &Lab, policy: PairPolicy) -> Vec<Probe> {
    let mut by_vni_ips: HashMap<u32, BTreeSet<IpAddr>> = HashMap::new();
    for c in &lab.containers {
        by_vni_ips
            .entry(c.vni)
            .or_default()
            .extend(c.ips().iter().map(|i| i.addr));
    }
    let targets: Vec<Vec<&Container>> = match policy {
        PairPolicy::All => lab
            .containers
            .iter()
            .map(|src| {
                lab.containers
                    .iter()
                    .filter(|d| d.name != src.name)
                    .collect()
            })
            .collect(),
        PairPolicy::Sample => {
            let mut groups: BTreeMap<(u32, &str), Vec<&Container>> = BTreeMap::new();
            for c in &lab.containers {
                groups.entry((c.vni, c.host.as_str())).or_default().push(c);
            }
            lab.containers
                .iter()
                .enumerate()
                .map(|(i, src)| {
                    groups
                        .values()
                        .filter_map(|g| {
                            let n = g.len();
                            (0..n)
                                .map(|k| g.get((i + k) % n).copied())
                                .find(|d| d.is_some_and(|d| d.name != src.name))
                                .flatten()
                        })
                        .collect()
                })
                .collect()
        }
    };
    let mut out = Vec::new();
    for (src, dsts) in lab.containers.iter().zip(targets) {
        for dst in dsts {
            for (s, d) in [(src.ip4, dst.ip4), (src.ip6, dst.ip6)] {
                let (Some(_), Some(d)) = (s, d) else { continue };
                let kind = if src.vni == dst.vni {
                    ProbeKind::SameVni
                } else if by_vni_ips
                    .get(&src.vni)
                    .is_some_and(|ips| ips.contains(&d.addr))
                {
                    ProbeKind::CrossVniTwin
                } else {
                    ProbeKind::CrossVni
                };
                out.push(Probe {
                    src: src.name.clone(),
                    dst: dst.name.clone(),
                    ip: d.addr,
                    kind,
                    answered: false,
                    passed: false,
                    detail: None,
                });
            }
        }
    }
    out
}

/// How `check` runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Overrides the topology's pair policy.
    pub pairs: Option<PairPolicy>,
    /// Parallel sources pinging.
    pub workers: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            pairs: None,
            workers: 8,
        }
    }
}

/// Runs every check against the running lab.
pub fn check(lab: &Lab, opts: &CheckOptions) -> Result<CheckReport, LabError> {
    let started = std::time::Instant::now();
    let names = Names::new(&lab.name);
    if super::build::lab_namespaces(&names)?.is_empty() {
        return Err(LabError::step(
            "check",
            format!("lab {} is not up (no namespace)", lab.name),
        ));
    }
    let mut errors = Vec::new();
    let captures = start_captures(lab, &names);
    let mut probes = plan_probes(lab, opts.pairs.unwrap_or(lab.pairs));
    run_pings(lab, &names, &mut probes, opts.workers);
    run_twins(lab, &names, &mut probes);
    let captures = stop_captures(captures);
    let sessions = check_sessions(lab, &names, &mut errors);
    let kernel = check_kernel(lab, &names, &mut errors);
    let ok = errors.is_empty()
        && probes.iter().all(|p| p.passed)
        && captures
            .iter()
            .all(|c| c.error.is_none() && c.counts.bum == 0)
        && sessions.iter().all(|s| s.passed)
        && kernel.iter().all(|k| k.passed);
    Ok(CheckReport {
        lab: lab.name.clone(),
        ok,
        probes,
        captures,
        sessions,
        kernel,
        errors,
        seconds: started.elapsed().as_secs_f64(),
    })
}

struct RunningCapture {
    link: String,
    ns: String,
    file: PathBuf,
    pid: Option<i32>,
    error: Option<String>,
}

/// The underlay links and where to capture each: (name, namespace, interface).
fn underlay_links(lab: &Lab, names: &Names) -> Vec<(String, String, String)> {
    match lab.underlay {
        UnderlayMode::Segment => lab
            .hosts
            .iter()
            .map(|h| {
                (
                    format!("{}-underlay", h.name),
                    names.host_ns(&h.name),
                    HOST_UNDERLAY_IF.to_string(),
                )
            })
            .collect(),
        UnderlayMode::Links => lab
            .links
            .iter()
            .map(|(a, b)| (format!("{a}-{b}"), names.host_ns(a), Names::link_if(b)))
            .collect(),
    }
}

fn start_captures(lab: &Lab, names: &Names) -> Vec<RunningCapture> {
    let dir = names.state_dir().join("captures");
    let _ = std::fs::create_dir_all(&dir);
    let tcpdump = sys::which("tcpdump");
    let mut out = Vec::new();
    for (link, ns, ifname) in underlay_links(lab, names) {
        let file = dir.join(format!("{link}.pcap"));
        let log = dir.join(format!("{link}.log"));
        let _ = std::fs::remove_file(&file);
        let mut cap = RunningCapture {
            link,
            ns: ns.clone(),
            file: file.clone(),
            pid: None,
            error: None,
        };
        let Some(tcpdump) = &tcpdump else {
            cap.error = Some("tcpdump not found (apt install tcpdump)".into());
            out.push(cap);
            continue;
        };
        let file_s = file.display().to_string();
        match sys::spawn_in(
            &ns,
            tcpdump,
            &[
                "-i",
                &ifname,
                "-nn",
                "--immediate-mode",
                "-U",
                "-w",
                &file_s,
                "udp",
                "port",
                "4789",
            ],
            &log,
        ) {
            Ok(pid) => {
                cap.pid = Some(pid);
                // Ready once tcpdump says it listens (the socket is bound).
                let ready = sys::poll(Duration::from_secs(10), || {
                    std::fs::read_to_string(&log)
                        .ok()
                        .filter(|t| t.contains("listening on"))
                        .map(|_| ())
                });
                if ready.is_none() {
                    cap.error = Some(format!(
                        "tcpdump did not start: {}",
                        std::fs::read_to_string(&log).unwrap_or_default().trim()
                    ));
                }
            }
            Err(e) => cap.error = Some(e.to_string()),
        }
        out.push(cap);
    }
    out
}

fn stop_captures(caps: Vec<RunningCapture>) -> Vec<LinkCapture> {
    let pids: Vec<i32> = caps.iter().filter_map(|c| c.pid).collect();
    // SIGTERM: tcpdump flushes and exits; -U already wrote every packet.
    sys::stop_pids(&pids, Duration::from_secs(5));
    caps.into_iter()
        .map(|c| {
            let _ = &c.ns;
            let mut counts = VxlanCounts::default();
            let mut error = c.error;
            if error.is_none() {
                match std::fs::read(&c.file) {
                    Ok(data) => match count_vxlan(&data, 4789) {
                        Ok((total, _)) => counts = total,
                        Err(e) => error = Some(format!("{}: {e}", c.file.display())),
                    },
                    Err(e) => error = Some(format!("{}: {e}", c.file.display())),
                }
            }
            LinkCapture {
                link: c.link,
                counts,
                error,
            }
        })
        .collect()
}

fn ping_args(lab: &Lab, count: u32) -> String {
    let wait = lab.ping_timeout_ms.div_ceil(1000).max(1);
    format!("ping -c {count} -i 0.2 -W {wait} -q")
}

/// Pings of one source run in parallel inside its namespace, one shell per
/// source; sources run `workers` at a time.
fn run_pings(lab: &Lab, names: &Names, probes: &mut [Probe], workers: usize) {
    let mut by_src: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    for p in probes.iter().filter(|p| p.kind != ProbeKind::CrossVniTwin) {
        by_src.entry(p.src.clone()).or_default().insert(p.ip);
    }
    let jobs: Vec<(String, Vec<IpAddr>)> = by_src
        .into_iter()
        .map(|(s, ips)| (s, ips.into_iter().collect()))
        .collect();
    let ping = ping_args(lab, 2);
    // The kernel's ARP/ND tables are shared by every namespace of the
    // machine (gc_thresh3 entries in all, 1024 by default): beyond it
    // sendmsg fails with ENOBUFS. Each source flushes what its pings
    // resolved, and only as many sources run at once as the table holds.
    let widest = jobs
        .iter()
        .map(|(_, ips)| ips.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let workers = workers.min((neigh_budget() / widest).max(1));
    let outputs = sys::parallel_map(&jobs, workers, |(src, ips)| {
        let list = ips
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "for t in {list}; do ( if {ping} $t >/dev/null 2>&1; then echo \"ok $t\"; else echo \"no $t\"; fi ) & done; wait; ip neigh flush dev {CONTAINER_IF} >/dev/null 2>&1; true"
        );
        sys::exec_in(&names.container_ns(src), "sh", &["-c", &script])
    });
    let mut results = HashMap::<(String, IpAddr), Result<bool, String>>::new();
    for ((src, ips), out) in jobs.iter().zip(outputs) {
        match out {
            Ok(text) => {
                for line in text.lines() {
                    if let Some((verdict, ip)) = line.split_once(' ') {
                        if let Ok(ip) = ip.parse::<IpAddr>() {
                            results.insert((src.clone(), ip), Ok(verdict == "ok"));
                        }
                    }
                }
            }
            Err(e) => {
                for ip in ips {
                    results.insert((src.clone(), *ip), Err(e.to_string()));
                }
            }
        }
    }
    for p in probes
        .iter_mut()
        .filter(|p| p.kind != ProbeKind::CrossVniTwin)
    {
        match results.get(&(p.src.clone(), p.ip)) {
            Some(Ok(answered)) => {
                p.answered = *answered;
                p.passed = *answered == (p.kind == ProbeKind::SameVni);
                if !p.passed {
                    p.detail = Some(if p.answered {
                        "answered across VNIs".into()
                    } else {
                        "no answer".into()
                    });
                }
            }
            Some(Err(e)) => p.detail = Some(e.clone()),
            None => p.detail = Some("not pinged".into()),
        }
    }
}

/// Neighbour entries the check may hold at once: half the machine-wide
/// `gc_thresh3` (the rest is for the lab's hosts and everyone else).
fn neigh_budget() -> usize {
    let read = |f: &str| {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|t| t.trim().parse::<usize>().ok())
    };
    let v4 = read("/proc/sys/net/ipv4/neigh/default/gc_thresh3").unwrap_or(1024);
    let v6 = read("/proc/sys/net/ipv6/neigh/default/gc_thresh3").unwrap_or(1024);
    v4.min(v6) / 2
}

fn rx_packets(names: &Names, container: &str) -> Option<u64> {
    let path = format!("/sys/class/net/{CONTAINER_IF}/statistics/rx_packets");
    sys::exec_in(&names.container_ns(container), "cat", &[&path])
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Cross-VNI pairs whose address is reused in the source's VNI: sequential,
/// with the target's receive counter read around 3 pings.
fn run_twins(lab: &Lab, names: &Names, probes: &mut [Probe]) {
    let ping = ping_args(lab, 3);
    for p in probes
        .iter_mut()
        .filter(|p| p.kind == ProbeKind::CrossVniTwin)
    {
        let before = rx_packets(names, &p.dst);
        let script = format!(
            "{ping} {} >/dev/null 2>&1 && echo ok || echo no; ip neigh flush dev {CONTAINER_IF} >/dev/null 2>&1",
            p.ip
        );
        let out = sys::exec_in(&names.container_ns(&p.src), "sh", &["-c", &script]);
        let after = rx_packets(names, &p.dst);
        p.answered = out.as_deref().is_ok_and(|o| o.trim() == "ok");
        match (before, after) {
            (Some(b), Some(a)) => {
                let grew = a.saturating_sub(b);
                p.passed = grew < 3;
                if !p.passed {
                    p.detail = Some(format!(
                        "{} received {grew} packets while {} pinged {}",
                        p.dst, p.src, p.ip
                    ));
                }
            }
            _ => p.detail = Some(format!("cannot read {}'s receive counter", p.dst)),
        }
    }
}

fn check_sessions(lab: &Lab, names: &Names, errors: &mut Vec<String>) -> Vec<SessionCheck> {
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    for h in &lab.hosts {
        match host_sessions(lab, names, h) {
            Ok(list) => {
                for s in list {
                    seen.insert((s.host, s.peer), s.state);
                }
            }
            Err(e) => errors.push(format!("host {}: sessions: {e}", h.name)),
        }
    }
    lab.sessions
        .iter()
        .map(|(a, b)| {
            let at_a = seen
                .get(&(a.clone(), b.clone()))
                .cloned()
                .unwrap_or_else(|| "-".into());
            let at_b = seen
                .get(&(b.clone(), a.clone()))
                .cloned()
                .unwrap_or_else(|| "-".into());
            SessionCheck {
                passed: at_a == "Established" && at_b == "Established",
                a: a.clone(),
                b: b.clone(),
                state_at_a: at_a,
                state_at_b: at_b,
            }
        })
        .collect()
}

fn check_kernel(lab: &Lab, names: &Names, errors: &mut Vec<String>) -> Vec<KernelCheck> {
    let mut out = Vec::new();
    for h in lab.hosts.iter().filter(|h| h.kind == HostKind::Planed) {
        let r = Client::connect(names.socket(&h.name)).and_then(|mut c| {
            Ok((
                c.show_routes(RouteFilter::default())?,
                c.show_fdb(None)?,
                c.show_endpoints(None)?,
            ))
        });
        let (routes, fdb, endpoints) = match r {
            Ok(x) => x,
            Err(e) => {
                errors.push(format!("host {}: kernel vs RIB: {e}", h.name));
                continue;
            }
        };
        out.push(compare_kernel(&h.name, &routes, &fdb, &endpoints));
    }
    out
}

/// Compares best remote type-2 routes with the programmed FDB and
/// suppression neighbours; neighbours of local endpoints are allowed extra.
pub fn compare_kernel(
    host: &str,
    routes: &[crate::control::Route],
    fdb: &[crate::control::FdbVni],
    endpoints: &[crate::control::Endpoint],
) -> KernelCheck {
    let mut rib_macs = BTreeSet::new();
    let mut rib_neigh = BTreeSet::new();
    for r in routes
        .iter()
        .filter(|r| r.best && r.source != RouteSource::Local)
    {
        if let RouteKind::MacIp { mac, ip, .. } = r.kind {
            rib_macs.insert((r.vni, mac.to_string(), r.nexthop));
            if let Some(ip) = ip {
                rib_neigh.insert((r.vni, ip, mac.to_string()));
            }
        }
    }
    let mut local_neigh = BTreeSet::new();
    for e in endpoints {
        for ip in &e.ips {
            local_neigh.insert((e.vni, ip.addr, e.mac.to_string()));
        }
    }
    let mut fdb_macs = BTreeSet::new();
    let mut fdb_neigh = BTreeSet::new();
    for v in fdb {
        for m in &v.remote_macs {
            fdb_macs.insert((v.vni, m.mac.to_string(), m.vtep));
        }
        for n in &v.neighbors {
            fdb_neigh.insert((v.vni, n.ip, n.mac.to_string()));
        }
    }
    let mut mismatches = Vec::new();
    for (vni, mac, vtep) in rib_macs.difference(&fdb_macs) {
        mismatches.push(format!(
            "vni {vni}: {mac} via {vtep} in RIB, not in kernel FDB"
        ));
    }
    for (vni, mac, vtep) in fdb_macs.difference(&rib_macs) {
        mismatches.push(format!(
            "vni {vni}: {mac} via {vtep} in kernel FDB, no best route"
        ));
    }
    for (vni, ip, mac) in rib_neigh.difference(&fdb_neigh) {
        mismatches.push(format!(
            "vni {vni}: neighbour {ip} {mac} in RIB, not in kernel"
        ));
    }
    for (vni, ip, mac) in fdb_neigh.difference(&rib_neigh) {
        if !local_neigh.contains(&(*vni, *ip, mac.clone())) {
            mismatches.push(format!(
                "vni {vni}: neighbour {ip} {mac} in kernel, no best route"
            ));
        }
    }
    KernelCheck {
        host: host.to_string(),
        rib_macs: rib_macs.len(),
        fdb_macs: fdb_macs.len(),
        rib_neighbors: rib_neigh.len(),
        fdb_neighbors: fdb_neigh.len(),
        passed: mismatches.is_empty(),
        mismatches,
    }
}

impl CheckReport {
    /// The report as a table for people.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let mark = |ok: bool| if ok { "ok" } else { "FAIL" };
        let _ = writeln!(t, "lab {}: check took {:.1}s\n", self.lab, self.seconds);
        let _ = writeln!(
            t,
            "{:<34} {:>7} {:>7} {:>7}  result",
            "REACHABILITY", "tested", "passed", "failed"
        );
        for (label, kind, v6) in [
            ("same VNI, IPv4 (must reach)", ProbeKind::SameVni, false),
            ("same VNI, IPv6 (must reach)", ProbeKind::SameVni, true),
            ("across VNIs, IPv4 (must not)", ProbeKind::CrossVni, false),
            ("across VNIs, IPv6 (must not)", ProbeKind::CrossVni, true),
            (
                "across VNIs, same IP (no leak)",
                ProbeKind::CrossVniTwin,
                false,
            ),
        ] {
            let sel: Vec<&Probe> = self
                .probes
                .iter()
                .filter(|p| {
                    p.kind == kind && (kind == ProbeKind::CrossVniTwin || p.ip.is_ipv6() == v6)
                })
                .collect();
            if sel.is_empty() {
                continue;
            }
            let passed = sel.iter().filter(|p| p.passed).count();
            let _ = writeln!(
                t,
                "{label:<34} {:>7} {passed:>7} {:>7}  {}",
                sel.len(),
                sel.len() - passed,
                mark(passed == sel.len())
            );
        }
        let _ = writeln!(
            t,
            "\n{:<24} {:>8} {:>6} {:>6} {:>6}  result",
            "UNDERLAY CAPTURE", "vxlan", "ARP", "ND", "BUM"
        );
        for c in &self.captures {
            let _ = writeln!(
                t,
                "{:<24} {:>8} {:>6} {:>6} {:>6}  {}",
                c.link,
                c.counts.frames,
                c.counts.arp,
                c.counts.nd,
                c.counts.bum,
                match &c.error {
                    Some(e) => format!("FAIL: {e}"),
                    None => mark(c.counts.bum == 0).to_string(),
                }
            );
        }
        let _ = writeln!(
            t,
            "\n{:<24} {:<14} {:<14}  result",
            "BGP SESSION", "state at a", "state at b"
        );
        for s in &self.sessions {
            let _ = writeln!(
                t,
                "{:<24} {:<14} {:<14}  {}",
                format!("{} - {}", s.a, s.b),
                s.state_at_a,
                s.state_at_b,
                mark(s.passed)
            );
        }
        if !self.kernel.is_empty() {
            let _ = writeln!(
                t,
                "\n{:<14} {:>16} {:>16}  result",
                "KERNEL vs RIB", "MACs rib/fdb", "neigh rib/fdb"
            );
            for k in &self.kernel {
                let _ = writeln!(
                    t,
                    "{:<14} {:>16} {:>16}  {}",
                    k.host,
                    format!("{}/{}", k.rib_macs, k.fdb_macs),
                    format!("{}/{}", k.rib_neighbors, k.fdb_neighbors),
                    mark(k.passed)
                );
            }
        }
        let failures: Vec<String> = self
            .probes
            .iter()
            .filter(|p| !p.passed)
            .map(|p| {
                format!(
                    "{} -> {} ({}): {}",
                    p.src,
                    p.dst,
                    p.ip,
                    p.detail.as_deref().unwrap_or("failed")
                )
            })
            .chain(
                self.kernel
                    .iter()
                    .flat_map(|k| k.mismatches.iter().map(move |m| format!("{}: {m}", k.host))),
            )
            .chain(self.errors.iter().cloned())
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(t, "\nFAILURES ({}):", failures.len());
            for f in failures.iter().take(25) {
                let _ = writeln!(t, "  {f}");
            }
            if failures.len() > 25 {
                let _ = writeln!(t, "  ... {} more (--json has all)", failures.len() - 25);
            }
        }
        let _ = writeln!(t, "\nRESULT: {}", if self.ok { "PASS" } else { "FAIL" });
        t
    }

    /// Per container: every probe from or to it passed.
    pub fn container_ok(&self, name: &str) -> bool {
        self.probes
            .iter()
            .filter(|p| p.src == name || p.dst == name)
            .all(|p| p.passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{FdbMac, FdbNeighbor, FdbVni, Route};
    use plane_bgp::wire::{MacAddr, RouteDistinguisher};

    fn goplane_like() -> Lab {
        let text = r#"
[[host]]
name = "h1"
underlay = "192.168.100.1"
[[host]]
name = "h2"
underlay = "192.168.100.2"
[[vni]]
id = 10
[[vni]]
id = 20
[[container]]
name = "a1"
host = "h1"
vni = 10
mac = "02:00:00:00:00:01"
ip = "10.0.0.1/24"
[[container]]
name = "a2"
host = "h2"
vni = 10
mac = "02:00:00:00:00:02"
ip = "10.0.0.2/24"
[[container]]
name = "b2"
host = "h2"
vni = 20
mac = "02:00:00:00:00:02"
ip = "10.0.0.2/24"
[[container]]
name = "b3"
host = "h1"
vni = 20
mac = "02:00:00:00:00:03"
ip = "10.0.0.3/24"
"#;
        Lab::parse(text, "t.toml", "t").expect("valid")
    }

    #[test]
    fn probes_classify_same_cross_and_twin() {
        let lab = goplane_like();
        let probes = plan_probes(&lab, PairPolicy::All);
        assert_eq!(probes.len(), 12); // 4 containers, ordered pairs, IPv4 only
        let kind = |s: &str, d: &str| {
            probes
                .iter()
                .find(|p| p.src == s && p.dst == d)
                .map(|p| p.kind)
        };
        assert_eq!(kind("a1", "a2"), Some(ProbeKind::SameVni));
        assert_eq!(kind("a1", "b3"), Some(ProbeKind::CrossVni));
        // 10.0.0.2 exists in VNI 10 too: a ping from a1 is answered by a2.
        assert_eq!(kind("a1", "b2"), Some(ProbeKind::CrossVniTwin));
    }

    #[test]
    fn sample_policy_is_linear() {
        let text = "[scale]\nhosts = 4\ncontainers_per_host = 100\nvnis = [10, 20]\n";
        let lab = Lab::parse(text, "s.toml", "s").expect("valid");
        let probes = plan_probes(&lab, PairPolicy::Sample);
        // one target per (VNI, host) group: 8 groups per source.
        assert_eq!(probes.len(), 400 * 8);
        assert!(probes.iter().all(|p| p.src != p.dst));
        let same = probes
            .iter()
            .filter(|p| p.kind == ProbeKind::SameVni)
            .count();
        assert_eq!(same, 400 * 4);
    }

    fn route(vni: u32, mac: &str, ip: Option<&str>, vtep: &str) -> Route {
        Route {
            rd: RouteDistinguisher::Ipv4 {
                addr: "192.168.100.2".parse().expect("ip"),
                number: 1,
            },
            vni,
            nexthop: vtep.parse().expect("ip"),
            source: RouteSource::Peer(vtep.parse().expect("ip")),
            best: true,
            route_targets: vec![],
            encap: None,
            pmsi: None,
            kind: RouteKind::MacIp {
                mac: mac.parse().expect("mac"),
                ip: ip.map(|i| i.parse().expect("ip")),
                seq: 0,
            },
        }
    }

    #[test]
    fn kernel_compare_reports_both_directions() {
        let routes = vec![
            route(10, "02:00:00:00:00:02", Some("10.0.0.2"), "192.168.100.2"),
            route(10, "02:00:00:00:00:09", None, "192.168.100.3"),
        ];
        let mac = |s: &str| s.parse::<MacAddr>().expect("mac");
        let fdb = vec![FdbVni {
            vni: 10,
            vxlan: "vxlan10".into(),
            remote_macs: vec![
                FdbMac {
                    mac: mac("02:00:00:00:00:02"),
                    vtep: "192.168.100.2".parse().expect("ip"),
                },
                FdbMac {
                    mac: mac("02:00:00:00:00:07"),
                    vtep: "192.168.100.2".parse().expect("ip"),
                },
            ],
            neighbors: vec![FdbNeighbor {
                ip: "10.0.0.2".parse().expect("ip"),
                mac: mac("02:00:00:00:00:02"),
            }],
            flood: vec![],
        }];
        let k = compare_kernel("h1", &routes, &fdb, &[]);
        assert!(!k.passed);
        assert_eq!(k.mismatches.len(), 2, "{:?}", k.mismatches);
        assert!(
            k.mismatches[0].contains("02:00:00:00:00:09 via 192.168.100.3 in RIB, not in kernel")
        );
        assert!(k.mismatches[1]
            .contains("02:00:00:00:00:07 via 192.168.100.2 in kernel FDB, no best route"));
        let ok = compare_kernel(
            "h1",
            &routes[..1],
            &[FdbVni {
                remote_macs: fdb[0].remote_macs[..1].to_vec(),
                ..fdb[0].clone()
            }],
            &[],
        );
        assert!(ok.passed, "{:?}", ok.mismatches);
    }
}
