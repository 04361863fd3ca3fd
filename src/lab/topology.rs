//! Topology files (`topologies/NAME.toml`): what a lab is made of, read and
//! checked into a resolved [`Lab`] where every container has its MAC and
//! addresses and every BGP session is listed.
//!
//! The file (docs/planelab.md has the operator's view):
//!
//! ```toml
//! name = "demo"                 # lab name, the prefix of every name (default: file stem)
//! asn = 65000                   # one AS, iBGP everywhere
//! attach = "planectl"           # or "cni": plane-cni run as a container runtime does
//! [underlay]
//! mode = "segment"              # one bridge in the lab's underlay namespace, or "links"
//! [[host]]
//! name = "h1"
//! underlay = "192.168.100.1"    # VTEP address, /24 on the segment
//! kind = "planed"               # or "frr-vtep", "frr-rr", "gobgp-rr"
//! [[vni]]
//! id = 10
//! subnet = "10.0.0.0/24"        # optional: containers without `ip` get the next free one
//! [[container]]
//! name = "c1"
//! host = "h1"
//! vni = 10
//! mac = "02:42:0a:00:00:01"     # optional
//! ip = "10.0.0.1/24"            # optional; ip6 = "fd00::1/64" optional
//! [scale]                       # optional: generate hosts and containers
//! hosts = 4
//! containers_per_host = 100
//! vnis = [10, 20]
//! ```
//!
//! What it never does: touch the system. Invariants of a [`Lab`]: names are
//! unique and short enough for the namespace and interface names derived from
//! them; every container's host and VNI exist; MACs are unique and addresses
//! unique within a VNI; a container is never on a route reflector; in
//! `links` mode every BGP session runs over a direct link.

use crate::config::values::{parse_unicast_mac, IpCidr};
use plane_bgp::wire::MacAddr;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Longest lab name: namespace names stay readable and the FRR/GoBGP state
/// paths short enough for a unix socket (108 bytes).
pub const MAX_LAB_NAME: usize = 16;
/// Longest host name: the underlay namespace's bridge port is `u-<host>`,
/// within IFNAMSIZ (15 characters).
pub const MAX_HOST_NAME: usize = 12;
/// Longest container name.
pub const MAX_CONTAINER_NAME: usize = 24;

/// Why a topology file was refused: the file and every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|p| format!("{file}: {p}")).collect::<Vec<_>>().join("\n"))]
pub struct TopologyError {
    pub file: String,
    /// Each says where (`host h1: underlay`) and why.
    pub problems: Vec<String>,
}

/// What runs on a host.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKind {
    /// planed with a generated plane.toml.
    Planed,
    /// FRR (zebra + bgpd) as a VTEP with `advertise-all-vni`.
    FrrVtep,
    /// FRR bgpd as a route reflector (no VTEP).
    FrrRr,
    /// gobgpd as a route reflector (no VTEP).
    GobgpRr,
}

impl HostKind {
    pub fn is_vtep(self) -> bool {
        matches!(self, HostKind::Planed | HostKind::FrrVtep)
    }
    pub fn is_rr(self) -> bool {
        matches!(self, HostKind::FrrRr | HostKind::GobgpRr)
    }
}

impl fmt::Display for HostKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostKind::Planed => "planed",
            HostKind::FrrVtep => "frr-vtep",
            HostKind::FrrRr => "frr-rr",
            HostKind::GobgpRr => "gobgp-rr",
        })
    }
}

/// How the hosts' underlay is wired.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnderlayMode {
    /// One bridge in the lab's `underlay` namespace; every host has a veth on it.
    #[default]
    Segment,
    /// Point-to-point veths between the hosts named in `[[link]]`.
    Links,
}

/// How containers on planed hosts are attached: both are hooks users run.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachVia {
    /// `planectl endpoint add --netns` (planed makes the veth).
    #[default]
    Planectl,
    /// `plane-cni` invoked as a container runtime does (CNI 1.1 ADD/DEL,
    /// static addresses, the MAC as `runtimeConfig.mac`).
    Cni,
}

/// Which container pairs `check` pings.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairPolicy {
    /// Every ordered pair (same VNI must reach, across VNIs must not).
    #[default]
    All,
    /// Per container, one target per (VNI, host): linear in the container
    /// count, for scale labs.
    Sample,
}

// ---- the file as written -------------------------------------------------

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileTopology {
    name: Option<String>,
    #[serde(default = "default_asn")]
    asn: u32,
    #[serde(default)]
    attach: AttachVia,
    #[serde(default)]
    underlay: FileUnderlay,
    #[serde(default, rename = "host")]
    hosts: Vec<FileHost>,
    #[serde(default, rename = "link")]
    links: Vec<FileLink>,
    #[serde(default, rename = "vni")]
    vnis: Vec<FileVni>,
    #[serde(default, rename = "container")]
    containers: Vec<FileContainer>,
    scale: Option<FileScale>,
    #[serde(default)]
    check: FileCheck,
}

fn default_asn() -> u32 {
    65000
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileUnderlay {
    #[serde(default)]
    mode: UnderlayMode,
    /// Prefix length of host addresses on the segment (default 24).
    prefix_len: Option<u8>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileHost {
    name: String,
    underlay: String,
    #[serde(default = "default_kind")]
    kind: HostKind,
}

fn default_kind() -> HostKind {
    HostKind::Planed
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileLink {
    a: String,
    b: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileVni {
    id: u32,
    subnet: Option<String>,
    subnet6: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileContainer {
    name: String,
    host: String,
    vni: u32,
    mac: Option<String>,
    ip: Option<String>,
    ip6: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileScale {
    hosts: u32,
    containers_per_host: u32,
    #[serde(default = "default_scale_vnis")]
    vnis: Vec<u32>,
    /// First host's underlay address; the others follow (default 192.168.0.1).
    underlay_start: Option<String>,
    /// What the generated hosts run (default planed; `frr-vtep` for the
    /// reference the scale bench compares with).
    kind: Option<HostKind>,
}

fn default_scale_vnis() -> Vec<u32> {
    vec![10]
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileCheck {
    pairs: Option<PairPolicy>,
    /// Per-ping timeout in milliseconds (default 1000).
    ping_timeout_ms: Option<u64>,
}

// ---- the resolved lab ----------------------------------------------------

/// A lab, resolved: what `up` builds and `check` proves.
#[derive(Clone, PartialEq, Debug, serde::Serialize)]
pub struct Lab {
    pub name: String,
    pub asn: u32,
    pub attach: AttachVia,
    pub underlay: UnderlayMode,
    /// Prefix length of host addresses on the underlay segment.
    pub underlay_prefix_len: u8,
    pub hosts: Vec<Host>,
    /// Pairs of host names (links mode only), in file order.
    pub links: Vec<(String, String)>,
    pub vnis: Vec<Vni>,
    pub containers: Vec<Container>,
    /// BGP sessions, each once, as (host, host) with the first name smaller
    /// in file order.
    pub sessions: Vec<(String, String)>,
    pub pairs: PairPolicy,
    pub ping_timeout_ms: u64,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Host {
    pub name: String,
    pub underlay: IpAddr,
    pub kind: HostKind,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Vni {
    pub id: u32,
}

#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Container {
    pub name: String,
    pub host: String,
    pub vni: u32,
    #[serde(serialize_with = "ser_mac")]
    pub mac: MacAddr,
    /// IPv4 address with prefix, when the container has one.
    #[serde(serialize_with = "ser_opt_cidr")]
    pub ip4: Option<IpCidr>,
    #[serde(serialize_with = "ser_opt_cidr")]
    pub ip6: Option<IpCidr>,
}

fn ser_mac<S: serde::Serializer>(m: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(m)
}

fn ser_opt_cidr<S: serde::Serializer>(c: &Option<IpCidr>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.collect_str(c),
        None => s.serialize_none(),
    }
}

impl Container {
    /// The container's addresses (v4 first).
    pub fn ips(&self) -> Vec<IpCidr> {
        self.ip4.iter().chain(self.ip6.iter()).copied().collect()
    }
}

impl Lab {
    /// Reads and checks a topology file; the lab name defaults to the file stem.
    pub fn load(path: &Path) -> Result<Lab, TopologyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError {
            file: file.clone(),
            problems: vec![format!("cannot read: {e}")],
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Lab::parse(&text, &file, &stem)
    }

    /// Checks topology text; `file` names it in errors, `default_name` is the
    /// lab name when the file has none.
    pub fn parse(text: &str, file: &str, default_name: &str) -> Result<Lab, TopologyError> {
        let parsed: FileTopology = toml::from_str(text).map_err(|e| TopologyError {
            file: file.to_string(),
            // toml's message carries line, column and the offending line.
            problems: vec![e.to_string().trim_end().to_string()],
        })?;
        let mut r = Resolver::default();
        let lab = r.resolve(parsed, default_name);
        if r.problems.is_empty() {
            Ok(lab)
        } else {
            Err(TopologyError {
                file: file.to_string(),
                problems: r.problems,
            })
        }
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Containers of one host.
    pub fn containers_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Container> {
        self.containers.iter().filter(move |c| c.host == host)
    }

    /// BGP peers of a host (names).
    pub fn peers_of<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a str> {
        self.sessions.iter().filter_map(move |(a, b)| {
            if a == host {
                Some(b.as_str())
            } else if b == host {
                Some(a.as_str())
            } else {
                None
            }
        })
    }

    /// VNIs with at least one container on this host (a VTEP configures those
    /// and every VNI of the lab: all of them, so that type-3 routes flow).
    pub fn vni_ids(&self) -> Vec<u32> {
        self.vnis.iter().map(|v| v.id).collect()
    }
}

#[derive(Default)]
struct Resolver {
    problems: Vec<String>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// Offset `n` from `base` within the same family (None on overflow).
fn add_to_ip(base: IpAddr, n: u128) -> Option<IpAddr> {
    match base {
        IpAddr::V4(a) => {
            let v = u128::from(u32::from(a)).checked_add(n)?;
            u32::try_from(v).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v)))
        }
        IpAddr::V6(a) => u128::from(a)
            .checked_add(n)
            .map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    }
}

/// True when `ip` lies in `net`.
pub fn in_subnet(net: IpCidr, ip: IpAddr) -> bool {
    match (net.addr, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let shift = 32 - u32::from(net.prefix_len.min(32));
            let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let shift = 128 - u32::from(net.prefix_len.min(128));
            let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Free addresses of a subnet, host part 1, 2, ... (skips `used`).
struct Allocator {
    net: IpCidr,
    next: u128,
}

impl Allocator {
    fn next_free(&mut self, used: &HashSet<IpAddr>) -> Option<IpCidr> {
        let host_bits =
            if self.net.addr.is_ipv4() { 32 } else { 128 } - u32::from(self.net.prefix_len);
        let size = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
        loop {
            self.next += 1;
            // The last address of an IPv4 subnet is its broadcast address.
            if self.next >= size.saturating_sub(u128::from(self.net.addr.is_ipv4())) {
                return None;
            }
            let ip = add_to_ip(network_of(self.net), self.next)?;
            if !used.contains(&ip) {
                return IpCidr::new(ip, self.net.prefix_len).ok();
            }
        }
    }
}

fn network_of(net: IpCidr) -> IpAddr {
    match net.addr {
        IpAddr::V4(a) => {
            let shift = 32 - u32::from(net.prefix_len.min(32));
            let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let shift = 128 - u32::from(net.prefix_len.min(128));
            let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// A MAC for a container that has none: locally administered, derived from
/// the container's position so that it is stable across runs.
fn auto_mac(index: usize) -> MacAddr {
    let i = u32::try_from(index).unwrap_or(u32::MAX).to_be_bytes();
    MacAddr([0x02, 0x70, i[0], i[1], i[2], i[3]])
}

impl Resolver {
    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn resolve(&mut self, f: FileTopology, default_name: &str) -> Lab {
        let name = f.name.clone().unwrap_or_else(|| default_name.to_string());
        if !valid_name(&name) || name.len() > MAX_LAB_NAME {
            self.problem(format!(
                "name: lab name {name:?} must be 1..={MAX_LAB_NAME} characters of a-z, 0-9 and '-' (it prefixes every namespace)"
            ));
        }
        let (mut hosts_f, mut containers_f, mut vnis_f) = (f.hosts, f.containers, f.vnis);
        if let Some(s) = &f.scale {
            self.expand_scale(s, &mut hosts_f, &mut containers_f, &mut vnis_f);
        }
        let prefix_len = f.underlay.prefix_len.unwrap_or(24);

        // Hosts.
        let mut hosts = Vec::new();
        let mut seen = HashSet::new();
        let mut addrs = HashSet::new();
        for h in &hosts_f {
            let what = format!("host {}", h.name);
            if !valid_name(&h.name) || h.name.len() > MAX_HOST_NAME {
                self.problem(format!(
                    "{what}: name must be 1..={MAX_HOST_NAME} characters of a-z, 0-9 and '-'"
                ));
            }
            if !seen.insert(h.name.clone()) {
                self.problem(format!("{what}: defined twice"));
            }
            match h.underlay.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => {
                    if !addrs.insert(a) {
                        self.problem(format!("{what}: underlay {a} is used by another host"));
                    }
                    hosts.push(Host {
                        name: h.name.clone(),
                        underlay: IpAddr::V4(a),
                        kind: h.kind,
                    });
                }
                Ok(IpAddr::V6(a)) => self.problem(format!(
                    "{what}: underlay {a}: only IPv4 underlays are built by planelab"
                )),
                Err(_) => self.problem(format!(
                    "{what}: underlay: an IPv4 address expected, got {:?}",
                    h.underlay
                )),
            }
        }
        if hosts_f.is_empty() {
            self.problem("no [[host]] (or [scale]) given: a lab needs at least one host");
        }
        if hosts.iter().filter(|h| h.kind == HostKind::GobgpRr).count() > 0
            && hosts.iter().filter(|h| h.kind.is_rr()).count() > 1
        {
            self.problem("at most one route reflector per lab");
        }

        // VNIs.
        let mut vnis = Vec::new();
        let mut alloc4: BTreeMap<u32, Allocator> = BTreeMap::new();
        let mut alloc6: BTreeMap<u32, Allocator> = BTreeMap::new();
        for v in &vnis_f {
            let what = format!("vni {}", v.id);
            if v.id == 0 || v.id > crate::config::MAX_VNI {
                self.problem(format!("{what}: id must be 1..=16777215 (24 bits)"));
            }
            if vnis.iter().any(|x: &Vni| x.id == v.id) {
                self.problem(format!("{what}: defined twice"));
            }
            vnis.push(Vni { id: v.id });
            for (key, text, want_v4, map) in [
                ("subnet", &v.subnet, true, &mut alloc4),
                ("subnet6", &v.subnet6, false, &mut alloc6),
            ] {
                let Some(text) = text else { continue };
                match text.parse::<IpCidr>() {
                    Ok(net) if net.addr.is_ipv4() == want_v4 => {
                        map.insert(v.id, Allocator { net, next: 0 });
                    }
                    Ok(_) => self.problem(format!(
                        "{what}: {key}: an {} prefix expected, got {text:?}",
                        if want_v4 { "IPv4" } else { "IPv6" }
                    )),
                    Err(e) => self.problem(format!("{what}: {key}: {e}")),
                }
            }
        }

        // Containers: explicit addresses first, so that auto ones skip them.
        let mut used: BTreeMap<u32, HashSet<IpAddr>> = BTreeMap::new();
        let mut parsed = Vec::new();
        let mut names = HashSet::new();
        for (i, c) in containers_f.iter().enumerate() {
            let what = format!("container {}", c.name);
            if !valid_name(&c.name) || c.name.len() > MAX_CONTAINER_NAME {
                self.problem(format!(
                    "{what}: name must be 1..={MAX_CONTAINER_NAME} characters of a-z, 0-9 and '-'"
                ));
            }
            if !names.insert(c.name.clone()) {
                self.problem(format!("{what}: defined twice"));
            }
            match hosts.iter().find(|h| h.name == c.host) {
                None => self.problem(format!("{what}: host {:?} is not a [[host]]", c.host)),
                Some(h) if !h.kind.is_vtep() => self.problem(format!(
                    "{what}: host {} is a {} (no VTEP): containers need a planed or frr-vtep host",
                    h.name, h.kind
                )),
                Some(_) => {}
            }
            if !vnis.iter().any(|v| v.id == c.vni) {
                self.problem(format!("{what}: vni {} is not a [[vni]]", c.vni));
            }
            let mac = match &c.mac {
                Some(m) => match parse_unicast_mac(m) {
                    Ok(m) => m,
                    Err(e) => {
                        self.problem(format!("{what}: mac: {e}"));
                        MacAddr::ZERO
                    }
                },
                None => auto_mac(i + 1),
            };
            let mut ip4 = None;
            let mut ip6 = None;
            for (key, text, want_v4, slot) in [
                ("ip", &c.ip, true, &mut ip4),
                ("ip6", &c.ip6, false, &mut ip6),
            ] {
                let Some(text) = text else { continue };
                match text.parse::<IpCidr>() {
                    Ok(a) if a.addr.is_ipv4() == want_v4 => {
                        if !used.entry(c.vni).or_default().insert(a.addr) {
                            self.problem(format!(
                                "{what}: {key} {} is used by another container of vni {}",
                                a.addr, c.vni
                            ));
                        }
                        *slot = Some(a);
                    }
                    Ok(_) => self.problem(format!(
                        "{what}: {key}: an {} address A/LEN expected, got {text:?}",
                        if want_v4 { "IPv4" } else { "IPv6" }
                    )),
                    Err(e) => self.problem(format!("{what}: {key}: {e}")),
                }
            }
            parsed.push(Container {
                name: c.name.clone(),
                host: c.host.clone(),
                vni: c.vni,
                mac,
                ip4,
                ip6,
            });
        }
        for c in &mut parsed {
            let used = used.entry(c.vni).or_default();
            for (slot, map) in [(&mut c.ip4, &mut alloc4), (&mut c.ip6, &mut alloc6)] {
                if slot.is_some() {
                    continue;
                }
                if let Some(alloc) = map.get_mut(&c.vni) {
                    match alloc.next_free(used) {
                        Some(a) => {
                            used.insert(a.addr);
                            *slot = Some(a);
                        }
                        None => self.problems.push(format!(
                            "container {}: subnet {} of vni {} is exhausted",
                            c.name, alloc.net, c.vni
                        )),
                    }
                }
            }
            if c.ip4.is_none() && c.ip6.is_none() {
                self.problems.push(format!(
                    "container {}: no address: give ip/ip6 or a subnet for vni {}",
                    c.name, c.vni
                ));
            }
        }
        let mut macs: BTreeMap<(u32, MacAddr), &str> = BTreeMap::new();
        let mut dup_macs = Vec::new();
        for c in &parsed {
            if let Some(other) = macs.insert((c.vni, c.mac), &c.name) {
                dup_macs.push(format!(
                    "container {}: mac {} is also container {other}'s in vni {}",
                    c.name, c.mac, c.vni
                ));
            }
        }
        self.problems.extend(dup_macs);

        // Links.
        let mut links = Vec::new();
        for l in &f.links {
            for end in [&l.a, &l.b] {
                if !hosts.iter().any(|h| &h.name == end) {
                    self.problem(format!("link {}-{}: {end:?} is not a [[host]]", l.a, l.b));
                }
            }
            if l.a == l.b {
                self.problem(format!(
                    "link {}-{}: a link joins two different hosts",
                    l.a, l.b
                ));
            }
            links.push((l.a.clone(), l.b.clone()));
        }
        match f.underlay.mode {
            UnderlayMode::Segment if !links.is_empty() => self.problem(
                "[[link]] given with underlay mode \"segment\": set [underlay] mode = \"links\"",
            ),
            _ => {}
        }

        let sessions = sessions_of(&hosts);
        if f.underlay.mode == UnderlayMode::Links {
            let linked: HashSet<(&str, &str)> = links
                .iter()
                .flat_map(|(a, b)| [(a.as_str(), b.as_str()), (b.as_str(), a.as_str())])
                .collect();
            for (a, b) in &sessions {
                if !linked.contains(&(a.as_str(), b.as_str())) {
                    self.problem(format!(
                        "hosts {a} and {b} peer in BGP but have no [[link]]: links mode routes only between direct neighbours"
                    ));
                }
            }
        }
        let ping_timeout_ms = f.check.ping_timeout_ms.unwrap_or(1000);
        if !(100..=10_000).contains(&ping_timeout_ms) {
            self.problem("check: ping_timeout_ms must be 100..=10000");
        }
        Lab {
            name,
            asn: f.asn,
            attach: f.attach,
            underlay: f.underlay.mode,
            underlay_prefix_len: prefix_len,
            hosts,
            links,
            vnis,
            containers: parsed,
            sessions,
            pairs: f.check.pairs.unwrap_or_default(),
            ping_timeout_ms,
        }
    }

    fn expand_scale(
        &mut self,
        s: &FileScale,
        hosts: &mut Vec<FileHost>,
        containers: &mut Vec<FileContainer>,
        vnis: &mut Vec<FileVni>,
    ) {
        if !(1..=64).contains(&s.hosts) {
            self.problem("scale: hosts must be 1..=64");
            return;
        }
        if !(1..=1000).contains(&s.containers_per_host) {
            self.problem("scale: containers_per_host must be 1..=1000");
            return;
        }
        if s.vnis.is_empty() {
            self.problem("scale: vnis must name at least one VNI");
            return;
        }
        let start = match s.underlay_start.as_deref().unwrap_or("192.168.0.1").parse() {
            Ok(IpAddr::V4(a)) => a,
            _ => {
                self.problem("scale: underlay_start: an IPv4 address expected");
                return;
            }
        };
        for h in 1..=s.hosts {
            hosts.push(FileHost {
                name: format!("h{h}"),
                underlay: Ipv4Addr::from(u32::from(start).saturating_add(h - 1)).to_string(),
                kind: s.kind.unwrap_or(HostKind::Planed),
            });
        }
        if s.kind.is_some_and(|k| !k.is_vtep()) {
            self.problem("scale: kind must be planed or frr-vtep (the containers need a VTEP)");
        }
        for (i, id) in s.vnis.iter().enumerate() {
            if vnis.iter().any(|v| v.id == *id) {
                continue;
            }
            // 10.<i>.0.0/16 and fd00:<i>::/64 per VNI: room for 64k containers.
            vnis.push(FileVni {
                id: *id,
                subnet: Some(format!("10.{}.0.0/16", 100 + i)),
                subnet6: None,
            });
        }
        for h in 1..=s.hosts {
            for n in 1..=s.containers_per_host {
                let idx = usize::try_from(n - 1).unwrap_or(0) % s.vnis.len();
                containers.push(FileContainer {
                    name: format!("h{h}-c{n}"),
                    host: format!("h{h}"),
                    vni: s.vnis.get(idx).copied().unwrap_or(10),
                    mac: None,
                    ip: None,
                    ip6: None,
                });
            }
        }
    }
}

/// Full iBGP mesh among VTEPs; with a route reflector, every VTEP peers
/// with the reflector(s) only.
fn sessions_of(hosts: &[Host]) -> Vec<(String, String)> {
    let rrs: Vec<&Host> = hosts.iter().filter(|h| h.kind.is_rr()).collect();
    let vteps: Vec<&Host> = hosts.iter().filter(|h| h.kind.is_vtep()).collect();
    let mut out = BTreeSet::new();
    let order = |a: &Host, b: &Host| {
        let ia = hosts.iter().position(|h| h.name == a.name);
        let ib = hosts.iter().position(|h| h.name == b.name);
        if ia <= ib {
            (a.name.clone(), b.name.clone())
        } else {
            (b.name.clone(), a.name.clone())
        }
    };
    let mut list = Vec::new();
    if rrs.is_empty() {
        for (i, a) in vteps.iter().enumerate() {
            for b in vteps.iter().skip(i + 1) {
                let p = order(a, b);
                if out.insert(p.clone()) {
                    list.push(p);
                }
            }
        }
    } else {
        for rr in &rrs {
            for v in &vteps {
                let p = order(rr, v);
                if out.insert(p.clone()) {
                    list.push(p);
                }
            }
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = r#"
name = "demo"
[[host]]
name = "h1"
underlay = "192.168.100.1"
[[host]]
name = "h2"
underlay = "192.168.100.2"
[[vni]]
id = 10
subnet = "10.0.0.0/24"
[[vni]]
id = 20
[[container]]
name = "a"
host = "h1"
vni = 10
[[container]]
name = "b"
host = "h2"
vni = 10
ip6 = "fd00::2/64"
[[container]]
name = "x"
host = "h2"
vni = 20
mac = "02:00:00:00:00:01"
ip = "10.0.0.1/24"
"#;

    #[test]
    fn resolves_auto_addresses_macs_and_mesh() {
        let lab = Lab::parse(DEMO, "demo.toml", "x").expect("valid");
        assert_eq!(lab.name, "demo");
        let a = &lab.containers[0];
        assert_eq!(a.ip4.map(|c| c.to_string()), Some("10.0.0.1/24".into()));
        let b = &lab.containers[1];
        assert_eq!(b.ip4.map(|c| c.to_string()), Some("10.0.0.2/24".into()));
        assert_eq!(b.ip6.map(|c| c.to_string()), Some("fd00::2/64".into()));
        assert_ne!(a.mac, b.mac);
        // Same IP in another VNI is allowed (tenants reuse addresses).
        assert_eq!(lab.containers[2].ip4, a.ip4);
        assert_eq!(lab.sessions, vec![("h1".to_string(), "h2".to_string())]);
    }

    #[test]
    fn explicit_address_is_skipped_by_the_allocator() {
        let text = DEMO.replace("vni = 20\nmac", "vni = 10\nmac");
        let text = text.replace(
            "ip = \"10.0.0.1/24\"",
            "ip = \"10.0.0.1/24\"\nip6 = \"fd00::9/64\"",
        );
        let lab = Lab::parse(&text, "t.toml", "t").expect("valid");
        let ips: Vec<String> = lab
            .containers
            .iter()
            .filter_map(|c| c.ip4.map(|i| i.to_string()))
            .collect();
        assert_eq!(ips, vec!["10.0.0.2/24", "10.0.0.3/24", "10.0.0.1/24"]);
    }

    #[test]
    fn reports_every_problem_with_where_and_why() {
        let text = r#"
name = "Bad_Name"
[[host]]
name = "h1"
underlay = "nope"
[[host]]
name = "h1"
underlay = "10.0.0.1"
[[vni]]
id = 0
[[container]]
name = "c"
host = "h9"
vni = 30
mac = "01:00:00:00:00:01"
"#;
        let e = Lab::parse(text, "bad.toml", "x").expect_err("invalid");
        let all = e.to_string();
        for needle in [
            "bad.toml: name: lab name \"Bad_Name\"",
            "host h1: underlay: an IPv4 address expected, got \"nope\"",
            "host h1: defined twice",
            "vni 0: id must be 1..=16777215",
            "container c: host \"h9\" is not a [[host]]",
            "container c: vni 30 is not a [[vni]]",
            "container c: mac: \"01:00:00:00:00:01\" is a multicast MAC",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn syntax_and_unknown_keys_name_the_line() {
        let e = Lab::parse(
            "[[host]]\nname = \"h1\"\nunderlay = \"10.0.0.1\"\ncolour = 1\n",
            "t.toml",
            "t",
        )
        .expect_err("unknown key");
        let s = e.to_string();
        assert!(
            s.contains("t.toml: ") && s.contains("line 4") && s.contains("colour"),
            "{s}"
        );
    }

    #[test]
    fn scale_generates_hosts_containers_and_vnis() {
        let text = "[scale]\nhosts = 4\ncontainers_per_host = 100\nvnis = [10, 20]\n[check]\npairs = \"sample\"\n";
        let lab = Lab::parse(text, "scale.toml", "scale").expect("valid");
        assert_eq!(lab.hosts.len(), 4);
        assert_eq!(lab.containers.len(), 400);
        assert_eq!(lab.sessions.len(), 6);
        assert_eq!(lab.containers.iter().filter(|c| c.vni == 20).count(), 200);
        let macs: HashSet<_> = lab.containers.iter().map(|c| c.mac).collect();
        assert_eq!(macs.len(), 400);
        assert_eq!(lab.hosts[3].underlay.to_string(), "192.168.0.4");
        assert_eq!(lab.pairs, PairPolicy::Sample);
    }

    #[test]
    fn route_reflector_makes_a_star() {
        let text = r#"
[[host]]
name = "rr"
underlay = "10.0.0.9"
kind = "frr-rr"
[[host]]
name = "h1"
underlay = "10.0.0.1"
[[host]]
name = "h2"
underlay = "10.0.0.2"
"#;
        let lab = Lab::parse(text, "t.toml", "t").expect("valid");
        assert_eq!(
            lab.sessions,
            vec![("rr".into(), "h1".into()), ("rr".into(), "h2".into())]
        );
        assert_eq!(lab.peers_of("h1").collect::<Vec<_>>(), vec!["rr"]);
    }

    #[test]
    fn links_mode_needs_a_link_per_session() {
        let text = r#"
[underlay]
mode = "links"
[[host]]
name = "h1"
underlay = "10.0.0.1"
[[host]]
name = "h2"
underlay = "10.0.0.2"
[[host]]
name = "h3"
underlay = "10.0.0.3"
[[link]]
a = "h1"
b = "h2"
"#;
        let e = Lab::parse(text, "t.toml", "t").expect_err("missing links");
        assert!(
            e.to_string()
                .contains("hosts h1 and h3 peer in BGP but have no [[link]]"),
            "{e}"
        );
    }

    #[test]
    fn container_on_a_route_reflector_is_refused() {
        let text = "[[host]]\nname = \"rr\"\nunderlay = \"10.0.0.9\"\nkind = \"gobgp-rr\"\n[[vni]]\nid = 1\nsubnet = \"10.1.0.0/24\"\n[[container]]\nname = \"c\"\nhost = \"rr\"\nvni = 1\n";
        let e = Lab::parse(text, "t.toml", "t").expect_err("refused");
        assert!(e.to_string().contains("no VTEP"), "{e}");
    }
}
