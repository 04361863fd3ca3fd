//! `up`, `down` and `status` of a lab.
//!
//! `up` runs a fixed list of steps, printing one progress line per step:
//! leftovers of an earlier run removed (a crashed or killed `up` is
//! recovered by starting clean), state dir, underlay, VTEP devices of FRR
//! hosts, daemons, daemons ready, container namespaces, containers attached
//! (through `planectl endpoint add --netns`, the hook users run), BGP
//! sessions. When a step fails, everything is removed again unless `keep`
//! is set (to look at it).
//!
//! `down` needs only the lab name: it removes every namespace whose name
//! starts with the lab's prefix, after stopping the processes inside them
//! (and those recorded in the state dir, checked by program name against
//! PID reuse), then the state dir; it fails when anything is left.
//!
//! What it never does: create a link or address in the root namespace, or
//! touch a namespace outside its prefix.

use super::daemons::{self, Started};
use super::names::{self, Names, CONTAINER_IF, HOST_UNDERLAY_IF, UNDERLAY_BRIDGE};
use super::sys;
use super::topology::{AttachVia, Container, Host, HostKind, Lab, UnderlayMode};
use super::{write_file, LabError};
use crate::control::Client;
use std::time::{Duration, Instant};

/// Where progress lines go (the CLI prints them to stderr).
pub struct Progress<'a> {
    sink: Box<dyn FnMut(&str) + 'a>,
    step: usize,
    total: usize,
    started: Instant,
}

impl<'a> Progress<'a> {
    pub fn new(sink: impl FnMut(&str) + 'a) -> Progress<'a> {
        Progress {
            sink: Box::new(sink),
            step: 0,
            total: 0,
            started: Instant::now(),
        }
    }

    /// Discards every line.
    pub fn quiet() -> Progress<'a> {
        Progress::new(|_| {})
    }

    fn begin(&mut self, total: usize) {
        self.step = 0;
        self.total = total;
    }

    /// Runs one step and prints `[n/total] what: detail (time)`.
    fn run<T>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<(T, String), LabError>,
    ) -> Result<T, LabError> {
        self.step += 1;
        let t = Instant::now();
        let r = f();
        let line = match &r {
            Ok((_, detail)) => format!(
                "[{}/{}] {what}: {detail} ({:.1}s)",
                self.step,
                self.total,
                t.elapsed().as_secs_f64()
            ),
            Err(e) => format!("[{}/{}] {what}: FAILED: {e}", self.step, self.total),
        };
        (self.sink)(&line);
        r.map(|(v, _)| v)
    }

    pub fn line(&mut self, text: &str) {
        (self.sink)(text);
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// How `up` runs.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Keep what was built when a step fails (default: remove it).
    pub keep_on_error: bool,
    /// How long to wait for daemons and BGP sessions.
    pub timeout: Duration,
    /// Threads for per-container work.
    pub workers: usize,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            keep_on_error: false,
            timeout: Duration::from_secs(60),
            workers: 4,
        }
    }
}

/// Builds the lab. On failure everything is removed (unless
/// `keep_on_error`) and the failing step's error returned.
pub fn up(lab: &Lab, opts: &UpOptions, p: &mut Progress<'_>) -> Result<(), LabError> {
    let names = Names::new(&lab.name);
    p.begin(9);
    let r = up_steps(lab, &names, opts, p);
    if r.is_err() && !opts.keep_on_error {
        p.line("removing what was built (use --keep to look at it)");
        if let Err(e) = down(&names, &mut Progress::quiet()) {
            p.line(&format!("cleanup failed too: {e}"));
        }
    }
    r
}

fn up_steps(
    lab: &Lab,
    names: &Names,
    opts: &UpOptions,
    p: &mut Progress<'_>,
) -> Result<(), LabError> {
    p.run("leftovers", || {
        let ns = lab_namespaces(names)?;
        if ns.is_empty() && !names.state_dir().exists() {
            return Ok(((), "none".into()));
        }
        let r = down(names, &mut Progress::quiet())?;
        Ok((
            (),
            format!(
                "removed {} namespaces, {} processes of an earlier run",
                r.namespaces, r.processes
            ),
        ))
    })?;
    p.run("state", || {
        let dir = names.state_dir();
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
        let json = serde_json::to_string_pretty(lab).map_err(|e| LabError::Other(e.to_string()))?;
        write_file(&dir.join("lab.json"), &json)?;
        Ok(((), dir.display().to_string()))
    })?;
    p.run("underlay", || underlay(lab, names).map(|d| ((), d)))?;
    p.run("vtep devices", || {
        let frr: Vec<&Host> = lab
            .hosts
            .iter()
            .filter(|h| h.kind == HostKind::FrrVtep)
            .collect();
        for h in &frr {
            frr_vtep_devices(lab, names, h)?;
        }
        Ok(((), format!("{} FRR VTEP host(s)", frr.len())))
    })?;
    let started = p.run("daemons", || {
        let mut all = Vec::new();
        for h in &lab.hosts {
            all.extend(
                daemons::start_host(lab, names, h)?
                    .into_iter()
                    .map(|s| (h.name.clone(), s)),
            );
        }
        let detail = all
            .iter()
            .map(|(h, s)| format!("{h}:{}", s.what))
            .collect::<Vec<_>>()
            .join(" ");
        Ok((all, detail))
    })?;
    p.run("daemons ready", || {
        wait_ready(lab, names, &started, opts.timeout).map(|d| ((), d))
    })?;
    p.run("container namespaces", || {
        sys::parallel(&lab.containers, opts.workers, |c| container_ns(names, c))?;
        Ok(((), format!("{} containers", lab.containers.len())))
    })?;
    p.run("attach", || {
        sys::parallel(&lab.containers, opts.workers, |c| attach(lab, names, c))?;
        Ok((
            (),
            format!(
                "{} endpoints ({} on planed hosts)",
                lab.containers.len(),
                match lab.attach {
                    AttachVia::Planectl => "planectl endpoint add --netns",
                    AttachVia::Cni => "plane-cni ADD",
                }
            ),
        ))
    })?;
    p.run("bgp sessions", || {
        let want = lab.sessions.len();
        let got = sys::poll(opts.timeout, || {
            let n = established_count(lab, names);
            (n >= want).then_some(n)
        });
        match got {
            Some(n) => Ok(((), format!("{n}/{want} Established"))),
            None => Err(LabError::step(
                "bgp sessions",
                format!(
                    "{}/{want} Established after {:?}; see the logs in {}",
                    established_count(lab, names),
                    opts.timeout,
                    names.state_dir().display()
                ),
            )),
        }
    })?;
    write_file(
        &names.state_dir().join("up.done"),
        &format!("{:.3}\n", p.elapsed().as_secs_f64()),
    )?;
    Ok(())
}

/// Every namespace of the lab (by prefix).
pub fn lab_namespaces(names: &Names) -> Result<Vec<String>, LabError> {
    Ok(sys::list_netns()?
        .into_iter()
        .filter(|n| names.owns_ns(n))
        .collect())
}

fn underlay(lab: &Lab, names: &Names) -> Result<String, LabError> {
    for h in &lab.hosts {
        let ns = names.host_ns(&h.name);
        sys::ip(&["netns", "add", &ns])?;
        sys::ip_in(&ns, &["link", "set", "lo", "up"])?;
    }
    match lab.underlay {
        UnderlayMode::Segment => {
            let ul = names.underlay_ns();
            sys::ip(&["netns", "add", &ul])?;
            sys::ip_in(&ul, &["link", "set", "lo", "up"])?;
            sys::ip_in(&ul, &["link", "add", UNDERLAY_BRIDGE, "type", "bridge"])?;
            sys::ip_in(
                &ul,
                &["link", "set", UNDERLAY_BRIDGE, "addrgenmode", "none"],
            )?;
            sys::ip_in(&ul, &["link", "set", UNDERLAY_BRIDGE, "up"])?;
            for h in &lab.hosts {
                let ns = names.host_ns(&h.name);
                let port = Names::underlay_port(&h.name);
                sys::ip(&[
                    "link",
                    "add",
                    HOST_UNDERLAY_IF,
                    "netns",
                    &ns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &port,
                    "netns",
                    &ul,
                ])?;
                sys::ip_in(
                    &ul,
                    &["link", "set", &port, "master", UNDERLAY_BRIDGE, "up"],
                )?;
                let addr = format!("{}/{}", h.underlay, lab.underlay_prefix_len);
                sys::ip_in(&ns, &["addr", "add", &addr, "dev", HOST_UNDERLAY_IF])?;
                sys::ip_in(&ns, &["link", "set", HOST_UNDERLAY_IF, "up"])?;
            }
            Ok(format!(
                "segment: bridge {UNDERLAY_BRIDGE} in {ul}, {} hosts",
                lab.hosts.len()
            ))
        }
        UnderlayMode::Links => {
            for h in &lab.hosts {
                let ns = names.host_ns(&h.name);
                sys::ip_in(
                    &ns,
                    &["addr", "add", &format!("{}/32", h.underlay), "dev", "lo"],
                )?;
            }
            for (a, b) in &lab.links {
                let (Some(ha), Some(hb)) = (lab.host(a), lab.host(b)) else {
                    continue;
                };
                let (nsa, nsb) = (names.host_ns(a), names.host_ns(b));
                let (ifa, ifb) = (Names::link_if(b), Names::link_if(a));
                sys::ip(&[
                    "link", "add", &ifa, "netns", &nsa, "type", "veth", "peer", "name", &ifb,
                    "netns", &nsb,
                ])?;
                for (ns, ifn, me, peer) in [(&nsa, &ifa, ha, hb), (&nsb, &ifb, hb, ha)] {
                    sys::ip_in(ns, &["link", "set", ifn, "up"])?;
                    let me_s = me.underlay.to_string();
                    sys::ip_in(
                        ns,
                        &[
                            "route",
                            "add",
                            &format!("{}/32", peer.underlay),
                            "dev",
                            ifn,
                            "src",
                            &me_s,
                        ],
                    )?;
                }
            }
            Ok(format!("{} point-to-point links", lab.links.len()))
        }
    }
}

/// VXLAN + bridge per VNI on an FRR VTEP, with plane's BUM-less port flags
/// (kernel.md), so that FRR advertises what the bridge holds.
fn frr_vtep_devices(lab: &Lab, names: &Names, h: &Host) -> Result<(), LabError> {
    let ns = names.host_ns(&h.name);
    for v in &lab.vnis {
        let (br, vx) = (format!("br{}", v.id), format!("vxlan{}", v.id));
        let id = v.id.to_be_bytes();
        let brmac = format!("02:b0:{:02x}:{:02x}:{:02x}:00", id[1], id[2], id[3]);
        let local = h.underlay.to_string();
        let vid = v.id.to_string();
        sys::ip_in(
            &ns,
            &["link", "add", &br, "address", &brmac, "type", "bridge"],
        )?;
        sys::ip_in(&ns, &["link", "set", &br, "addrgenmode", "none"])?;
        sys::ip_in(
            &ns,
            &[
                "link",
                "add",
                &vx,
                "type",
                "vxlan",
                "id",
                &vid,
                "local",
                &local,
                "dstport",
                "4789",
                "nolearning",
            ],
        )?;
        sys::ip_in(
            &ns,
            &["link", "set", &vx, "master", &br, "addrgenmode", "none"],
        )?;
        sys::exec_in(
            &ns,
            "bridge",
            &[
                "link",
                "set",
                "dev",
                &vx,
                "neigh_suppress",
                "on",
                "learning",
                "off",
                "flood",
                "off",
                "mcast_flood",
                "off",
                "bcast_flood",
                "off",
            ],
        )?;
        sys::ip_in(&ns, &["link", "set", &br, "up"])?;
        sys::ip_in(&ns, &["link", "set", &vx, "up"])?;
    }
    Ok(())
}

fn wait_ready(
    lab: &Lab,
    names: &Names,
    started: &[(String, Started)],
    timeout: Duration,
) -> Result<String, LabError> {
    for h in &lab.hosts {
        let dead = || {
            started
                .iter()
                .filter(|(host, _)| host == &h.name)
                .find(|(_, s)| !sys::alive(s.pid))
                .map(|(_, s)| s.what.clone())
        };
        let ready = sys::poll(timeout, || {
            if dead().is_some() {
                return Some(false);
            }
            let ok = match h.kind {
                HostKind::Planed => Client::connect(names.socket(&h.name))
                    .and_then(|mut c| c.show_summary())
                    .is_ok(),
                HostKind::FrrVtep | HostKind::FrrRr => {
                    daemons::third_party_sessions(lab, names, h).is_ok()
                }
                HostKind::GobgpRr => daemons::third_party_sessions(lab, names, h).is_ok(),
            };
            ok.then_some(true)
        });
        match ready {
            Some(true) => {}
            Some(false) => {
                let what = dead().unwrap_or_default();
                return Err(LabError::step(
                    format!("host {}", h.name),
                    format!("{what} exited: {}", log_tail(names, h)),
                ));
            }
            None => {
                return Err(LabError::step(
                    format!("host {}", h.name),
                    format!("not answering after {timeout:?}: {}", log_tail(names, h)),
                ))
            }
        }
    }
    Ok(format!("{} hosts answer", lab.hosts.len()))
}

/// The last lines of a host's daemon log, for error messages.
pub fn log_tail(names: &Names, h: &Host) -> String {
    let file = match h.kind {
        HostKind::Planed => "planed.log",
        HostKind::FrrVtep | HostKind::FrrRr => "bgpd.out",
        HostKind::GobgpRr => "gobgpd.log",
    };
    let path = names.host_dir(&h.name).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines
        .get(lines.len().saturating_sub(3)..)
        .unwrap_or_default()
        .join(" | ");
    format!("{} [{}]", path.display(), tail)
}

/// Container namespace with loopback up; DAD off (addresses usable at
/// once). New interfaces inherit `default` (the neighbour parameters have
/// no `default` outside the initial namespace: [`attach`] sets them on eth0).
fn container_ns(names: &Names, c: &Container) -> Result<(), LabError> {
    let ns = names.container_ns(&c.name);
    // A namespace left by a failed start is replaced, not an error.
    if std::path::Path::new("/run/netns").join(&ns).exists() {
        sys::ip(&["netns", "del", &ns])?;
    }
    sys::ip(&["netns", "add", &ns])?;
    sys::exec_in(
        &ns,
        "sh",
        &[
            "-c",
            "ip link set lo up && sysctl -qw net.ipv6.conf.default.accept_dad=0 \
             net.ipv6.conf.all.accept_dad=0",
        ],
    )?;
    Ok(())
}

/// Attaches a container: `planectl endpoint add --netns` on planed hosts
/// (the hook users run); a veth into the VNI's bridge on FRR VTEPs.
pub fn attach(lab: &Lab, names: &Names, c: &Container) -> Result<(), LabError> {
    let Some(h) = lab.host(&c.host) else {
        return Err(LabError::Other(format!(
            "container {}: no host {}",
            c.name, c.host
        )));
    };
    let ns_path = format!("/run/netns/{}", names.container_ns(&c.name));
    let ips = c
        .ips()
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    match h.kind {
        HostKind::Planed if lab.attach == AttachVia::Cni => {
            cni(lab, names, c, "ADD")?;
        }
        HostKind::Planed => {
            let socket = names.socket(&h.name).display().to_string();
            let planectl = daemons::bin_dir().join("planectl").display().to_string();
            let vni = c.vni.to_string();
            let mac = c.mac.to_string();
            sys::run(
                &planectl,
                [
                    "--socket",
                    &socket,
                    "endpoint",
                    "add",
                    "--vni",
                    &vni,
                    "--mac",
                    &mac,
                    "--ip",
                    &ips,
                    "--netns",
                    &ns_path,
                    "--ifname",
                    CONTAINER_IF,
                ],
            )?;
        }
        HostKind::FrrVtep => {
            let hns = names.host_ns(&h.name);
            let cns = names.container_ns(&c.name);
            let port = frr_port(lab, c);
            let mac = c.mac.to_string();
            sys::ip(&[
                "link",
                "add",
                &port,
                "netns",
                &hns,
                "type",
                "veth",
                "peer",
                "name",
                CONTAINER_IF,
                "netns",
                &cns,
            ])?;
            sys::ip_in(&cns, &["link", "set", CONTAINER_IF, "address", &mac, "up"])?;
            for ip in c.ips() {
                sys::ip_in(&cns, &["addr", "add", &ip.to_string(), "dev", CONTAINER_IF])?;
            }
            let br = format!("br{}", c.vni);
            sys::ip_in(
                &hns,
                &[
                    "link",
                    "set",
                    &port,
                    "master",
                    &br,
                    "addrgenmode",
                    "none",
                    "up",
                ],
            )?;
            // Static FDB and neighbour entries: FRR advertises MAC+IP at once.
            sys::exec_in(
                &hns,
                "bridge",
                &["fdb", "replace", &mac, "dev", &port, "master", "static"],
            )?;
            for ip in c.ips() {
                sys::ip_in(
                    &hns,
                    &[
                        "neigh",
                        "replace",
                        &ip.addr.to_string(),
                        "lladdr",
                        &mac,
                        "dev",
                        &br,
                        "nud",
                        "permanent",
                    ],
                )?;
            }
        }
        HostKind::FrrRr | HostKind::GobgpRr => {
            return Err(LabError::Other(format!(
                "container {}: host {} has no VTEP",
                c.name, h.name
            )))
        }
    }
    // A long reachable time keeps unicast refresh probes rare during
    // captures (kernel.md); they are known unicast, never BUM, either way.
    let cns = names.container_ns(&c.name);
    let v4 = format!("net.ipv4.neigh.{CONTAINER_IF}.base_reachable_time_ms=600000");
    let v6 = format!("net.ipv6.neigh.{CONTAINER_IF}.base_reachable_time_ms=600000");
    sys::sysctls_in(&cns, &[&v4, &v6])
}

/// Runs plane-cni as a container runtime does, in the host's namespace:
/// the verb in `CNI_COMMAND`,
/// the network configuration on stdin (static addresses, the container's
/// MAC as `runtimeConfig.mac`), the result or error JSON on stdout.
fn cni(lab: &Lab, names: &Names, c: &Container, verb: &str) -> Result<(), LabError> {
    use std::io::Write as _;
    let conf = serde_json::json!({
        "cniVersion": "1.1.0",
        "name": format!("plab-{}-vni{}", lab.name, c.vni),
        "type": "plane",
        "vni": c.vni,
        "socket": names.socket(&c.host),
        "addresses": c.ips().iter().map(|a| serde_json::json!({"address": a.to_string()})).collect::<Vec<_>>(),
        "runtimeConfig": {"mac": c.mac.to_string()},
    });
    let plugin = daemons::bin_dir().join("plane-cni");
    let what = format!(
        "CNI_COMMAND={verb} {} (container {})",
        plugin.display(),
        c.name
    );
    // A runtime runs its plugins in the host's namespace: here the lab
    // host's (`ip netns exec` passes the environment on).
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &names.host_ns(&c.host)])
        .arg(&plugin)
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", format!("plab-{}-{}", lab.name, c.name))
        .env(
            "CNI_NETNS",
            format!("/run/netns/{}", names.container_ns(&c.name)),
        )
        .env("CNI_IFNAME", CONTAINER_IF)
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Command {
            command: what.clone(),
            why: format!("cannot start: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(conf.to_string().as_bytes())
            .map_err(|e| LabError::Command {
                command: what.clone(),
                why: format!("stdin: {e}"),
            })?;
    }
    let out = child.wait_with_output().map_err(|e| LabError::Command {
        command: what.clone(),
        why: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command: what,
            why: format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// Host end of a container's veth on an FRR VTEP: `c<index>`.
fn frr_port(lab: &Lab, c: &Container) -> String {
    let i = lab
        .containers
        .iter()
        .position(|x| x.name == c.name)
        .unwrap_or(0);
    format!("c{i}")
}

/// Detaches a container and removes its namespace (for fault tests that
/// "restart" a container).
pub fn detach(lab: &Lab, names: &Names, c: &Container) -> Result<(), LabError> {
    let Some(h) = lab.host(&c.host) else {
        return Err(LabError::Other(format!(
            "container {}: no host {}",
            c.name, c.host
        )));
    };
    if h.kind == HostKind::Planed && lab.attach == AttachVia::Cni {
        cni(lab, names, c, "DEL")?;
    } else if h.kind == HostKind::Planed {
        let socket = names.socket(&h.name).display().to_string();
        let planectl = daemons::bin_dir().join("planectl").display().to_string();
        let (vni, mac) = (c.vni.to_string(), c.mac.to_string());
        sys::run(
            &planectl,
            [
                "--socket", &socket, "endpoint", "del", "--vni", &vni, "--mac", &mac,
            ],
        )?;
    }
    let ns = names.container_ns(&c.name);
    sys::stop_pids(&sys::netns_pids(&ns), Duration::from_secs(1));
    sys::ip(&["netns", "del", &ns])?;
    Ok(())
}

/// Starts a container that [`detach`] stopped: new namespace, attached.
pub fn start_container(lab: &Lab, names: &Names, c: &Container) -> Result<(), LabError> {
    container_ns(names, c)?;
    attach(lab, names, c)
}

/// Restarts a container: detach, new namespace, attach again.
pub fn restart_container(lab: &Lab, names: &Names, c: &Container) -> Result<(), LabError> {
    detach(lab, names, c)?;
    start_container(lab, names, c)
}

/// Sessions Established as the lab's hosts see them, each counted once.
pub fn established_count(lab: &Lab, names: &Names) -> usize {
    let mut up = std::collections::BTreeSet::new();
    for h in &lab.hosts {
        for s in host_sessions(lab, names, h).unwrap_or_default() {
            if s.state == "Established" {
                let (a, b) = if s.host <= s.peer {
                    (s.host, s.peer)
                } else {
                    (s.peer, s.host)
                };
                up.insert((a, b));
            }
        }
    }
    lab.sessions
        .iter()
        .filter(|(a, b)| {
            let k = if a <= b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            up.contains(&k)
        })
        .count()
}

/// The sessions of one host, from planectl (planed) or vtysh/gobgp.
pub fn host_sessions(
    lab: &Lab,
    names: &Names,
    h: &Host,
) -> Result<Vec<daemons::SessionView>, LabError> {
    match h.kind {
        HostKind::Planed => {
            let mut c =
                Client::connect(names.socket(&h.name)).map_err(|source| LabError::Control {
                    host: h.name.clone(),
                    source,
                })?;
            let n = c.show_neighbors().map_err(|source| LabError::Control {
                host: h.name.clone(),
                source,
            })?;
            Ok(n.into_iter()
                .map(|n| daemons::SessionView {
                    host: h.name.clone(),
                    peer: lab
                        .hosts
                        .iter()
                        .find(|x| x.underlay == n.address)
                        .map_or_else(|| n.address.to_string(), |x| x.name.clone()),
                    state: n.state.to_string(),
                })
                .collect())
        }
        _ => daemons::third_party_sessions(lab, names, h),
    }
}

/// What `down` removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DownReport {
    pub namespaces: usize,
    pub processes: usize,
}

/// Removes everything of the lab `names` names: processes, namespaces,
/// state dir. Works from the prefix alone; fails if anything is left.
pub fn down(names: &Names, p: &mut Progress<'_>) -> Result<DownReport, LabError> {
    p.begin(3);
    let nss = lab_namespaces(names)?;
    let processes = p.run("stop processes", || {
        let mut pids: Vec<i32> = nss.iter().flat_map(|ns| sys::netns_pids(ns)).collect();
        // Recorded daemons whose namespace is already gone (a half-done down).
        let hosts = names.state_dir().join("hosts");
        if let Ok(dirs) = std::fs::read_dir(&hosts) {
            for d in dirs.flatten() {
                for s in daemons::recorded_pids(&d.path()) {
                    if sys::comm(s.pid).is_some_and(|c| c == s.what) && !pids.contains(&s.pid) {
                        pids.push(s.pid);
                    }
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        sys::stop_pids(&pids, Duration::from_secs(3));
        let n = pids.len();
        Ok((n, format!("{n} stopped")))
    })?;
    p.run("namespaces", || {
        sys::parallel(&nss, 4, |ns| match sys::ip(&["netns", "del", ns]) {
            Ok(_) => Ok(()),
            // Gone meanwhile (a concurrent down) is success.
            Err(_) if !std::path::Path::new("/run/netns").join(ns).exists() => Ok(()),
            Err(e) => Err(e),
        })?;
        Ok(((), format!("{} deleted", nss.len())))
    })?;
    p.run("state", || {
        let dir = names.state_dir();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
        }
        let left = lab_namespaces(names)?;
        if !left.is_empty() {
            return Err(LabError::step(
                "down",
                format!("namespaces left: {}", left.join(" ")),
            ));
        }
        Ok(((), format!("{} removed", dir.display())))
    })?;
    Ok(DownReport {
        namespaces: nss.len(),
        processes,
    })
}

/// One line per host for `status`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HostStatus {
    pub host: String,
    pub kind: String,
    pub namespace: bool,
    /// Recorded daemons and whether each runs.
    pub daemons: Vec<(String, bool)>,
    pub sessions_established: usize,
    pub sessions: usize,
    pub endpoints: Option<u64>,
}

/// The lab as it is now (namespaces, daemons, sessions, endpoints).
pub fn status(lab: &Lab) -> Result<Vec<HostStatus>, LabError> {
    let names = Names::new(&lab.name);
    let nss = lab_namespaces(&names)?;
    let mut out = Vec::new();
    for h in &lab.hosts {
        let daemons = daemons::recorded_pids(&names.host_dir(&h.name))
            .into_iter()
            .map(|s| {
                let ok = sys::comm(s.pid).is_some_and(|c| c == s.what) && sys::alive(s.pid);
                (s.what, ok)
            })
            .collect();
        let sessions = host_sessions(lab, &names, h).unwrap_or_default();
        let endpoints = (h.kind == HostKind::Planed)
            .then(|| {
                Client::connect(names.socket(&h.name))
                    .and_then(|mut c| c.show_summary())
                    .ok()
            })
            .flatten()
            .map(|s| s.endpoints);
        out.push(HostStatus {
            host: h.name.clone(),
            kind: h.kind.to_string(),
            namespace: nss.contains(&names.host_ns(&h.name)),
            daemons,
            sessions_established: sessions.iter().filter(|s| s.state == "Established").count(),
            sessions: lab.peers_of(&h.name).count(),
            endpoints,
        });
    }
    Ok(out)
}

/// Every lab that has namespaces on this machine (by prefix).
pub fn running_labs() -> Result<Vec<String>, LabError> {
    let mut labs: Vec<String> = sys::list_netns()?
        .iter()
        .filter_map(|n| names::lab_of_ns(n).map(str::to_string))
        .collect();
    labs.sort();
    labs.dedup();
    Ok(labs)
}

/// Faults for tests and demos: stop a host's daemons (SIGKILL, as a crash).
pub fn kill_host_daemons(lab: &Lab, names: &Names, host: &str) -> Result<usize, LabError> {
    lab.host(host)
        .ok_or_else(|| LabError::Other(format!("no host {host} in lab {}", lab.name)))?;
    let pids: Vec<i32> = daemons::recorded_pids(&names.host_dir(host))
        .into_iter()
        .filter(|s| sys::comm(s.pid).is_some_and(|c| c == s.what))
        .map(|s| s.pid)
        .collect();
    sys::stop_pids(&pids, Duration::ZERO);
    Ok(pids.len())
}

/// Starts a host's daemons again (after [`kill_host_daemons`]).
pub fn start_host_daemons(lab: &Lab, names: &Names, host: &str) -> Result<(), LabError> {
    let h = lab
        .host(host)
        .ok_or_else(|| LabError::Other(format!("no host {host} in lab {}", lab.name)))?;
    let started: Vec<(String, Started)> = daemons::start_host(lab, names, h)?
        .into_iter()
        .map(|s| (h.name.clone(), s))
        .collect();
    let one = Lab {
        hosts: vec![h.clone()],
        ..lab.clone()
    };
    wait_ready(&one, names, &started, Duration::from_secs(30))?;
    Ok(())
}

/// Takes a host's underlay link down or up (segment: its bridge port in the
/// underlay namespace; links: every link of the host).
pub fn set_underlay_link(lab: &Lab, names: &Names, host: &str, up: bool) -> Result<(), LabError> {
    lab.host(host)
        .ok_or_else(|| LabError::Other(format!("no host {host} in lab {}", lab.name)))?;
    let state = if up { "up" } else { "down" };
    match lab.underlay {
        UnderlayMode::Segment => {
            sys::ip_in(
                &names.underlay_ns(),
                &["link", "set", &Names::underlay_port(host), state],
            )?;
        }
        UnderlayMode::Links => {
            for (a, b) in lab.links.iter().filter(|(a, b)| a == host || b == host) {
                let peer = if a == host { b } else { a };
                sys::ip_in(
                    &names.host_ns(host),
                    &["link", "set", &Names::link_if(peer), state],
                )?;
            }
        }
    }
    Ok(())
}
