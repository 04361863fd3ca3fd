//! End-to-end fabric for tests and benchmarks: hosts in network namespaces
//! on one underlay switch, each running `planed` (a real process, with its
//! own generated plane.toml, control socket and state file) or FRR, and
//! containers (namespaces) attached to them.
//!
//! ```text
//!           sw (bridge "sw")
//!     ┌──────────┼──────────┐
//!   h1 ul0     h2 ul0     h3 ul0        10.0.0.N/24, VTEP = BGP address
//!   planed     planed     planed|FRR
//!     │ veth made by planed (endpoint add --netns) or by the test (FRR)
//!   containers (netns, eth0)
//! ```
//!
//! Everything lives in namespaces the harness creates (deleted on drop) and
//! in a temporary directory; processes are stopped by PID on drop.

use crate::{poll_until, run, veth, Child, Netns, Result};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The AS of every host (iBGP).
pub const ASN: u32 = 65000;

/// The underlay: a switch namespace with a bridge.
pub struct Underlay {
    pub switch: Netns,
    pub dir: tempfile::TempDir,
}

impl Underlay {
    pub fn new() -> Result<Underlay> {
        let switch = Netns::new("sw")?;
        switch.ip(&["link", "add", "sw", "type", "bridge"])?;
        switch.ip(&["link", "set", "sw", "up"])?;
        let dir = tempfile::Builder::new()
            .prefix("plane-e2e-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        Ok(Underlay { switch, dir })
    }

    /// A host namespace with `ul0` = 10.0.0.`idx`/24 on the switch.
    pub fn host_ns(&self, idx: u8) -> Result<Netns> {
        let ns = Netns::new(&format!("h{idx}"))?;
        let port = format!("swp{idx}");
        veth(&ns, "ul0", &self.switch, &port)?;
        self.switch
            .ip(&["link", "set", &port, "master", "sw", "up"])?;
        ns.ip(&["link", "set", "ul0", "address", &underlay_mac(idx)])?;
        ns.ip(&["addr", "add", &format!("10.0.0.{idx}/24"), "dev", "ul0"])?;
        ns.ip(&["link", "set", "ul0", "up"])?;
        // Static underlay neighbours: the kernel's ARP table is shared by
        // every namespace of the machine and a busy machine can fill it
        // (gc_thresh3), which would fail our underlay ARP with ENOBUFS;
        // PERMANENT entries are exempt. It also keeps underlay ARP out of
        // the captures.
        for other in (1..=MAX_HOSTS).filter(|&o| o != idx) {
            ns.ip(&[
                "neigh",
                "replace",
                &format!("10.0.0.{other}"),
                "lladdr",
                &underlay_mac(other),
                "dev",
                "ul0",
                "nud",
                "permanent",
            ])?;
        }
        Ok(ns)
    }
}

/// Hosts per underlay (static neighbours are set for all of them).
pub const MAX_HOSTS: u8 = 6;

/// The underlay MAC of host `idx`.
pub fn underlay_mac(idx: u8) -> String {
    format!("02:0a:00:00:00:{idx:02x}")
}

/// The underlay address of host `idx`.
pub fn host_addr(idx: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, idx)
}

/// One `[[bgp.neighbor]]` of a generated config.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub idx: u8,
    pub rr_client: bool,
}

/// What a generated plane.toml contains.
#[derive(Clone, Debug)]
pub struct HostSpec {
    pub idx: u8,
    pub peers: Vec<Peer>,
    pub vnis: Vec<u32>,
    /// VNIs with `bum = "flood"` (the others suppress).
    pub flood: Vec<u32>,
    pub hold_time: u16,
}

impl HostSpec {
    /// Full iBGP mesh among `hosts`.
    pub fn mesh(idx: u8, hosts: &[u8], vnis: &[u32], hold_time: u16) -> HostSpec {
        HostSpec {
            idx,
            peers: hosts
                .iter()
                .filter(|&&h| h != idx)
                .map(|&h| Peer {
                    idx: h,
                    rr_client: false,
                })
                .collect(),
            vnis: vnis.to_vec(),
            flood: Vec::new(),
            hold_time,
        }
    }

    pub fn toml(&self, dir: &Path) -> String {
        let a = host_addr(self.idx);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "[bgp]\nasn = {ASN}\nrouter_id = \"{a}\"\nlisten = \"{a}:179\"\nhold_time = {}\nconnect_retry = 1\n",
            self.hold_time
        );
        for p in &self.peers {
            let _ = writeln!(
                s,
                "[[bgp.neighbor]]\naddress = \"{}\"\nremote_asn = {ASN}\nroute_reflector_client = {}\n",
                host_addr(p.idx),
                p.rr_client
            );
        }
        let _ = writeln!(s, "[underlay]\nlocal_ip = \"{a}\"\n");
        for v in &self.vnis {
            let bum = if self.flood.contains(v) {
                "flood"
            } else {
                "suppress"
            };
            let _ = writeln!(s, "[[vni]]\nid = {v}\nbum = \"{bum}\"\n");
        }
        let _ = writeln!(
            s,
            "[control]\nsocket = \"{}\"\n",
            dir.join(format!("h{}.sock", self.idx)).display()
        );
        s
    }
}

impl HostSpec {
    /// The config of [`HostSpec::toml`] with `bum = MODE` for the VNIs in
    /// `vnis`: for modes the spec has no field for (`"proxy"`). Fails if a
    /// VNI is not in the spec, rather than writing a config without it.
    pub fn toml_with_bum(&self, dir: &Path, vnis: &[u32], mode: &str) -> Result<String> {
        let mut s = self.toml(dir);
        for v in vnis {
            let was = if self.flood.contains(v) {
                "flood"
            } else {
                "suppress"
            };
            let from = format!("[[vni]]\nid = {v}\nbum = \"{was}\"\n");
            if !s.contains(&from) {
                return Err(format!(
                    "h{}: VNI {v} is not in the generated config",
                    self.idx
                ));
            }
            s = s.replace(&from, &format!("[[vni]]\nid = {v}\nbum = \"{mode}\"\n"));
        }
        Ok(s)
    }
}

/// A host running planed.
pub struct Host {
    pub ns: Netns,
    pub spec: HostSpec,
    pub dir: PathBuf,
    pub planed: Option<Child>,
}

impl Host {
    pub fn new(underlay: &Underlay, spec: HostSpec) -> Result<Host> {
        let ns = underlay.host_ns(spec.idx)?;
        let dir = underlay.dir.path().to_path_buf();
        let host = Host {
            ns,
            spec,
            dir,
            planed: None,
        };
        std::fs::write(host.config_path(), host.spec.toml(&host.dir))
            .map_err(|e| format!("writing {}: {e}", host.config_path().display()))?;
        Ok(host)
    }

    /// Writes a new plane.toml from `spec` (planed reads it on SIGHUP).
    pub fn rewrite_config(&mut self, spec: HostSpec) -> Result<()> {
        self.spec = spec;
        std::fs::write(self.config_path(), self.spec.toml(&self.dir))
            .map_err(|e| format!("writing {}: {e}", self.config_path().display()))
    }

    /// State of the session with host `idx` ("Established", "Active"...).
    pub fn session_state(&self, idx: u8) -> Option<String> {
        let addr = host_addr(idx).to_string();
        self.json(&["show", "neighbors"]).ok().and_then(|v| {
            v.as_array()?
                .iter()
                .find(|n| n["address"] == addr.as_str())
                .and_then(|n| n["state"].as_str().map(str::to_string))
        })
    }

    pub fn name(&self) -> String {
        format!("h{}", self.spec.idx)
    }
    pub fn addr(&self) -> Ipv4Addr {
        host_addr(self.spec.idx)
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(format!("h{}.toml", self.spec.idx))
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join(format!("h{}.sock", self.spec.idx))
    }
    pub fn state_file(&self) -> PathBuf {
        self.dir.join(format!("h{}.endpoints.json", self.spec.idx))
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("h{}.log", self.spec.idx))
    }

    /// The log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts planed and waits until its control socket answers.
    pub fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("log file: {e}"))?;
        let err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut cmd = self.ns.command(crate::workspace_bin("planed"));
        cmd.arg("--config")
            .arg(self.config_path())
            .arg("--state-file")
            .arg(self.state_file())
            .env(
                "PLANE_LOG",
                std::env::var("PLANE_E2E_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        self.planed = Some(Child::spawn(cmd, &format!("planed {}", self.name()))?);
        let name = self.name();
        poll_until(
            &format!("planed {name} control socket"),
            Duration::from_secs(20),
            || self.planectl(&["show", "summary"]).ok(),
        )
        .map_err(|e| format!("{e}\n--- {name} log ---\n{}", self.log()))?;
        Ok(())
    }

    /// SIGKILL: no Cease, the kernel state stays.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.planed.take() {
            c.kill();
        }
    }

    /// Sends a signal to planed.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        self.planed
            .as_ref()
            .ok_or_else(|| "planed not running".to_string())?
            .signal(sig)
    }

    /// Runs planectl against this host's socket; stdout on success.
    pub fn planectl(&self, args: &[&str]) -> Result<String> {
        let mut a: Vec<String> = vec!["--socket".into(), self.socket().display().to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        run(&crate::workspace_bin("planectl").display().to_string(), a)
    }

    /// `planectl --json ARGS` parsed.
    pub fn json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.planectl(&a)?;
        serde_json::from_str(&out).map_err(|e| format!("planectl {args:?}: not JSON ({e}): {out}"))
    }

    /// Number of neighbours in state Established.
    pub fn established(&self) -> usize {
        self.json(&["show", "neighbors"])
            .ok()
            .and_then(|v| {
                v.as_array()
                    .map(|a| a.iter().filter(|n| n["state"] == "Established").count())
            })
            .unwrap_or(0)
    }

    /// Adds an endpoint with `--netns` (plane makes the veth).
    pub fn add_endpoint(&self, c: &Container) -> Result<String> {
        let ips = format!("{}/24,{}/64", c.ipv4, c.ipv6);
        let out = self.planectl(&[
            "endpoint",
            "add",
            "--vni",
            &c.vni.to_string(),
            "--mac",
            &c.mac,
            "--ip",
            &ips,
            "--netns",
            &c.ns.path().display().to_string(),
        ])?;
        c.tune()?;
        Ok(out)
    }

    /// Writes plane.toml with `bum = MODE` for `vnis` (see
    /// [`HostSpec::toml_with_bum`]); before [`Host::start`] or with a SIGHUP.
    /// [`Host::rewrite_config`] writes the spec's modes again.
    pub fn write_config_with_bum(&self, vnis: &[u32], mode: &str) -> Result<()> {
        let text = self.spec.toml_with_bum(&self.dir, vnis, mode)?;
        std::fs::write(self.config_path(), text)
            .map_err(|e| format!("writing {}: {e}", self.config_path().display()))
    }

    pub fn del_endpoint(&self, vni: u32, mac: &str) -> Result<String> {
        self.planectl(&["endpoint", "del", "--vni", &vni.to_string(), "--mac", mac])
    }
}

/// Kernel view of one VNI on a host: remote FDB entries (MAC -> VTEP) and
/// neighbour entries (IP -> MAC), sorted; taken with iproute2, not planectl.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KernelVni {
    pub fdb: Vec<(String, String)>,
    pub neigh: Vec<(String, String)>,
}

impl KernelVni {
    pub fn vtep_of(&self, mac: &str) -> Option<&str> {
        self.fdb
            .iter()
            .find(|(m, _)| m == mac)
            .map(|(_, v)| v.as_str())
    }
    pub fn mac_of(&self, ip: &str) -> Option<&str> {
        self.neigh
            .iter()
            .find(|(i, _)| i == ip)
            .map(|(_, m)| m.as_str())
    }
}

/// Reads `bridge fdb show dev VXLAN` (entries with `dst`) and
/// `ip neigh show dev BRIDGE` (entries with `lladdr`) in `ns`.
pub fn kernel_vni(ns: &Netns, vxlan: &str, bridge: &str) -> KernelVni {
    let mut k = KernelVni::default();
    if let Ok(out) = run("bridge", ["-n", ns.name(), "fdb", "show", "dev", vxlan]) {
        for line in out.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if let Some(i) = w.iter().position(|x| *x == "dst") {
                if let (Some(mac), Some(dst)) = (w.first(), w.get(i + 1)) {
                    if *mac != "00:00:00:00:00:00" {
                        k.fdb.push((mac.to_string(), dst.to_string()));
                    }
                }
            }
        }
    }
    for fam in ["-4", "-6"] {
        if let Ok(out) = run("ip", ["-n", ns.name(), fam, "neigh", "show", "dev", bridge]) {
            for line in out.lines() {
                let w: Vec<&str> = line.split_whitespace().collect();
                if let Some(i) = w.iter().position(|x| *x == "lladdr") {
                    if let (Some(ip), Some(mac)) = (w.first(), w.get(i + 1)) {
                        k.neigh.push((ip.to_string(), mac.to_string()));
                    }
                }
            }
        }
    }
    k.fdb.sort();
    k.fdb.dedup();
    k.neigh.sort();
    k
}

/// A container: a namespace whose `eth0` a host makes (or the test makes).
pub struct Container {
    pub ns: Netns,
    pub vni: u32,
    pub mac: String,
    pub ipv4: String,
    pub ipv6: String,
}

impl Container {
    /// `last` picks MAC `02:00:00:00:00:LAST`, IPs 192.168.0.LAST and fd00::LAST.
    pub fn new(vni: u32, last: u8) -> Result<Container> {
        let ns = Netns::new("c")?;
        ns.sh("sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0")?;
        Ok(Container {
            ns,
            vni,
            mac: format!("02:00:00:00:00:{last:02x}"),
            ipv4: format!("192.168.0.{last}"),
            ipv6: format!("fd00::{last:x}"),
        })
    }

    /// Once `eth0` exists: neighbour refresh probes (unicast) would cross
    /// the underlay as known unicast; keep them out of the capture window
    /// (kernel.md). Per device: a namespace has no `neigh.default` of its own.
    pub fn tune(&self) -> Result<()> {
        self.ns
            .sh(
                "sysctl -qw net.ipv4.neigh.eth0.base_reachable_time_ms=600000 \
                 net.ipv6.neigh.eth0.base_reachable_time_ms=600000",
            )
            .map(|_| ())
    }

    /// One ping (v4 or v6) that must be answered within `wait` seconds.
    pub fn ping(&self, ip: &str, wait: u32) -> bool {
        self.ns
            .exec("ping", ["-c", "1", "-W", &wait.to_string(), ip])
            .is_ok()
    }

    /// Pings until one answer or `timeout`.
    pub fn ping_until(&self, ip: &str, timeout: Duration) -> Result<()> {
        poll_until(
            &format!("ping {ip} from {} (VNI {})", self.ipv4, self.vni),
            timeout,
            || self.ping(ip, 1).then_some(()),
        )
    }
}

impl Container {
    /// Whether `ip` resolves from `eth0` now: forgets the neighbour entries,
    /// sends one ping (its ARP request or NS is what is tested, not the
    /// echo) and looks for a link-layer address in the entry the kernel
    /// made. `Err` if the namespace cannot be driven at all.
    pub fn resolves(&self, ip: &str) -> Result<bool> {
        self.ns.ip(&["neigh", "flush", "dev", "eth0"])?;
        // The echo may go unanswered (the peer can be gone): only the
        // resolution counts.
        let _ = self.ping(ip, 1);
        let entry = self.ns.ip(&["neigh", "show", "to", ip, "dev", "eth0"])?;
        Ok(entry.contains("lladdr"))
    }
}

/// A capture (tcpdump -U --immediate-mode) of VXLAN on a host's underlay.
pub struct Capture {
    child: Child,
    pub file: PathBuf,
}

impl Capture {
    pub fn start(ns: &Netns, file: PathBuf) -> Result<Capture> {
        let mut cmd = ns.command("tcpdump");
        cmd.args(["-i", "ul0", "-U", "--immediate-mode", "-nn", "-w"])
            .arg(&file)
            .arg("udp port 4789")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = Child::spawn(cmd, "tcpdump")?;
        // tcpdump creates the file once it listens.
        poll_until("tcpdump to start", Duration::from_secs(10), || {
            file.exists().then_some(())
        })?;
        let _ = child.running();
        Ok(Capture { child, file })
    }

    /// Stops the capture (SIGTERM, flushes) and counts inner frames:
    /// (total VXLAN frames, ARP, IPv6 NS, broadcast-or-multicast).
    pub fn finish(mut self) -> Result<(usize, usize, usize, usize)> {
        self.child.stop(Duration::from_secs(5));
        let count = |filter: &str| -> Result<usize> {
            let out = run(
                "tshark",
                [
                    "-r",
                    &self.file.display().to_string(),
                    "-d",
                    "udp.port==4789,vxlan",
                    "-Y",
                    filter,
                    "-T",
                    "fields",
                    "-e",
                    "frame.number",
                ],
            )?;
            Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
        };
        Ok((
            count("vxlan")?,
            count("vxlan && arp")?,
            count("vxlan && icmpv6.type == 135")?,
            count("vxlan && eth.dst.ig == 1")?,
        ))
    }
}

/// Continuous ping from a container; `finish` returns (sent, received).
pub struct PingRun {
    child: Option<std::process::Child>,
    out: PathBuf,
}

impl PingRun {
    /// `ping -i INTERVAL -w DEADLINE ip` in the background.
    pub fn start(
        c: &Container,
        ip: &str,
        interval: &str,
        deadline_s: u32,
        out: PathBuf,
    ) -> Result<PingRun> {
        let f = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", c.ns.name(), "ping", "-i", interval, "-w"])
            .arg(deadline_s.to_string())
            .arg(ip)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("ping: {e}"))?;
        Ok(PingRun {
            child: Some(child),
            out,
        })
    }

    /// Waits for the ping to end; (transmitted, received).
    pub fn finish(mut self) -> Result<(u32, u32)> {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        let text = std::fs::read_to_string(&self.out).map_err(|e| e.to_string())?;
        let line = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .ok_or_else(|| format!("no ping summary in {text}"))?;
        let nums: Vec<u32> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        match nums.as_slice() {
            [tx, rx, ..] => Ok((*tx, *rx)),
            _ => Err(format!("cannot read ping summary {line:?}")),
        }
    }
}

impl Drop for PingRun {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// FRR (zebra + bgpd) as an EVPN host: Linux bridge + VXLAN per VNI made
/// here (as FRR expects them), `advertise-all-vni`, iBGP to `peers`.
pub struct FrrHost {
    pub ns: Netns,
    pub idx: u8,
    pub dir: PathBuf,
    zebra: Option<Child>,
    bgpd: Option<Child>,
}

impl FrrHost {
    pub fn new(underlay: &Underlay, idx: u8, peers: &[u8], vnis: &[u32]) -> Result<FrrHost> {
        let ns = underlay.host_ns(idx)?;
        let dir = underlay.dir.path().join(format!("frr{idx}"));
        std::fs::create_dir_all(dir.join("vty")).map_err(|e| e.to_string())?;
        let a = host_addr(idx);
        for v in vnis {
            let (br, vx) = (format!("br{v}"), format!("vxlan{v}"));
            ns.ip(&["link", "add", &br, "type", "bridge"])?;
            ns.ip(&[
                "link",
                "set",
                &br,
                "addrgenmode",
                "none",
                "address",
                &format!("02:b0:00:00:{idx:02x}:{:02x}", v % 256),
            ])?;
            ns.ip(&[
                "link",
                "add",
                &vx,
                "type",
                "vxlan",
                "id",
                &v.to_string(),
                "local",
                &a.to_string(),
                "dstport",
                "4789",
                "nolearning",
            ])?;
            ns.ip(&["link", "set", &vx, "master", &br, "addrgenmode", "none"])?;
            ns.sh(&format!(
                "bridge link set dev {vx} neigh_suppress on learning off"
            ))?;
            ns.ip(&["link", "set", &br, "up"])?;
            ns.ip(&["link", "set", &vx, "up"])?;
        }
        let mut bgpd = format!(
            "hostname frr{idx}\nlog file {}/bgpd.log informational\n!\nrouter bgp {ASN}\n bgp router-id {a}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n",
            dir.display()
        );
        for p in peers {
            let _ = writeln!(
                bgpd,
                " neighbor {} remote-as {ASN}\n neighbor {} timers connect 1",
                host_addr(*p),
                host_addr(*p)
            );
        }
        bgpd.push_str(" !\n address-family l2vpn evpn\n");
        for p in peers {
            let _ = writeln!(bgpd, "  neighbor {} activate", host_addr(*p));
        }
        bgpd.push_str("  advertise-all-vni\n exit-address-family\n!\n");
        std::fs::write(dir.join("bgpd.conf"), bgpd).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("zebra.conf"),
            format!(
                "hostname frr{idx}\nlog file {}/zebra.log informational\n!\n",
                dir.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        Ok(FrrHost {
            ns,
            idx,
            dir,
            zebra: None,
            bgpd: None,
        })
    }

    fn daemon(&self, name: &str) -> Command {
        let mut c = self.ns.command(format!("/usr/lib/frr/{name}"));
        c.arg("-f")
            .arg(self.dir.join(format!("{name}.conf")))
            .arg("-i")
            .arg(self.dir.join(format!("{name}.pid")))
            .args(["-u", "root", "-g", "frrvty", "-P", "0", "-z"])
            .arg(self.dir.join("zserv.api"))
            .arg("--vty_socket")
            .arg(self.dir.join("vty"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    pub fn start(&mut self) -> Result<()> {
        self.zebra = Some(Child::spawn(self.daemon("zebra"), "zebra")?);
        let sock = self.dir.join("zserv.api");
        poll_until("zebra socket", Duration::from_secs(20), || {
            sock.exists().then_some(())
        })?;
        self.bgpd = Some(Child::spawn(self.daemon("bgpd"), "bgpd")?);
        poll_until("bgpd vty", Duration::from_secs(20), || {
            self.vtysh("show bgp summary").ok()
        })?;
        Ok(())
    }

    pub fn vtysh(&self, cmd: &str) -> Result<String> {
        run(
            "vtysh",
            [
                "--vty_socket",
                &self.dir.join("vty").display().to_string(),
                "-d",
                "bgpd",
                "-c",
                cmd,
            ],
        )
    }

    /// A container behind FRR: a veth made by the test on `br<VNI>`.
    pub fn attach(&self, c: &Container, port: &str) -> Result<()> {
        run(
            "ip",
            [
                "link",
                "add",
                port,
                "netns",
                self.ns.name(),
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                c.ns.name(),
                "address",
                &c.mac,
            ],
        )?;
        self.ns.ip(&[
            "link",
            "set",
            port,
            "master",
            &format!("br{}", c.vni),
            "addrgenmode",
            "none",
            "up",
        ])?;
        c.ns.ip(&["addr", "add", &format!("{}/24", c.ipv4), "dev", "eth0"])?;
        c.ns.ip(&[
            "addr",
            "add",
            &format!("{}/64", c.ipv6),
            "dev",
            "eth0",
            "nodad",
        ])?;
        c.ns.ip(&["link", "set", "eth0", "up"])?;
        c.tune()
    }
}

impl Drop for FrrHost {
    fn drop(&mut self) {
        if let Some(mut b) = self.bgpd.take() {
            b.stop(Duration::from_secs(3));
        }
        if let Some(mut z) = self.zebra.take() {
            z.stop(Duration::from_secs(3));
        }
    }
}
