//! The table of local endpoints (containers) and its state file.
//!
//! An endpoint is `<VNI, MAC, IPs, port>`: a MAC in a VNI (two VNIs may reuse
//! a MAC and an IP), the addresses it answers to and the host-side interface
//! on the VNI's bridge. This module checks a request against the table
//! ([`Endpoints::check_add`]) and keeps the table on disk
//! ([`save`] / [`load`]) so that a restarted planed re-originates every
//! endpoint.
//!
//! What it never does: touch the kernel or BGP; the daemon core does that
//! after the check passes, then [`Endpoints::insert`]s.
//!
//! Invariants: at most one endpoint per <VNI, MAC>; within a VNI an IP
//! belongs to at most one endpoint; two VNIs never see each other's entries.

use crate::control::{Endpoint, EndpointKey, EndpointSpec, ErrorCode};
use plane_bgp::wire::MacAddr;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Why an endpoint request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("VNI {0} is not configured (see `planectl show vnis`)")]
    UnknownVni(u32),
    #[error("VNI {vni}: MAC {mac} is already an endpoint ({existing}); delete it first")]
    DuplicateMac {
        vni: u32,
        mac: MacAddr,
        existing: String,
    },
    #[error("VNI {vni}: IP {ip} is already used by the endpoint with MAC {owner}")]
    IpConflict {
        vni: u32,
        ip: IpAddr,
        owner: MacAddr,
    },
    #[error("VNI {vni}: IP {ip} is given twice")]
    IpTwice { vni: u32, ip: IpAddr },
    #[error("MAC {0}: a unicast, non-zero MAC is required")]
    BadMac(MacAddr),
    #[error(
        "port {0:?} does not exist on this host (the veth must exist before `endpoint add --port`)"
    )]
    PortMissing(String),
    #[error("interface name {0:?}: must be 1 to 15 bytes without '/', ':' or whitespace")]
    BadIfName(String),
    #[error("network namespace {}: {why}", path.display())]
    Netns { path: PathBuf, why: String },
    #[error("making the veth for VNI {vni} MAC {mac}: {why}")]
    Veth { vni: u32, mac: MacAddr, why: String },
    #[error("VNI {vni}: attaching {port} to the bridge failed: {why}")]
    Dataplane { vni: u32, port: String, why: String },
    #[error("VNI {vni} MAC {mac}: BGP: {why}")]
    Bgp { vni: u32, mac: MacAddr, why: String },
    #[error("the daemon is stopping")]
    Stopping,
}

impl EndpointError {
    /// The control protocol's code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            EndpointError::UnknownVni(_) | EndpointError::PortMissing(_) => ErrorCode::NotFound,
            EndpointError::DuplicateMac { .. } | EndpointError::IpConflict { .. } => {
                ErrorCode::AlreadyExists
            }
            EndpointError::IpTwice { .. }
            | EndpointError::BadMac(_)
            | EndpointError::BadIfName(_)
            | EndpointError::Netns { .. } => ErrorCode::InvalidArgument,
            EndpointError::Stopping => ErrorCode::Unavailable,
            EndpointError::Veth { .. }
            | EndpointError::Dataplane { .. }
            | EndpointError::Bgp { .. } => ErrorCode::Internal,
        }
    }
}

/// Local endpoints by <VNI, MAC>.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Endpoints {
    by_key: BTreeMap<(u32, MacAddr), Endpoint>,
}

impl Endpoints {
    /// Checks `spec` against the table. `Ok(Some(e))`: the very same
    /// endpoint exists (add is idempotent); `Ok(None)`: it may be added.
    pub fn check_add(&self, spec: &EndpointSpec) -> Result<Option<Endpoint>, EndpointError> {
        if spec.mac == MacAddr::ZERO || spec.mac.is_multicast() {
            return Err(EndpointError::BadMac(spec.mac));
        }
        let mut seen = HashSet::new();
        for ip in &spec.ips {
            if !seen.insert(ip.addr) {
                return Err(EndpointError::IpTwice {
                    vni: spec.vni,
                    ip: ip.addr,
                });
            }
        }
        if let Some(existing) = self.by_key.get(&(spec.vni, spec.mac)) {
            if existing.ips == spec.ips && existing.attach == spec.attach {
                return Ok(Some(existing.clone()));
            }
            return Err(EndpointError::DuplicateMac {
                vni: spec.vni,
                mac: spec.mac,
                existing: describe(existing),
            });
        }
        for e in self.in_vni(spec.vni) {
            if let Some(ip) = e.ips.iter().find(|a| seen.contains(&a.addr)) {
                return Err(EndpointError::IpConflict {
                    vni: spec.vni,
                    ip: ip.addr,
                    owner: e.mac,
                });
            }
        }
        Ok(None)
    }

    pub fn insert(&mut self, e: Endpoint) {
        self.by_key.insert((e.vni, e.mac), e);
    }

    pub fn remove(&mut self, key: EndpointKey) -> Option<Endpoint> {
        self.by_key.remove(&(key.vni, key.mac))
    }

    pub fn get(&self, key: EndpointKey) -> Option<&Endpoint> {
        self.by_key.get(&(key.vni, key.mac))
    }

    /// Endpoints of one VNI, by MAC.
    pub fn in_vni(&self, vni: u32) -> impl Iterator<Item = &Endpoint> + '_ {
        self.by_key
            .range((vni, MacAddr::ZERO)..=(vni, MacAddr([0xff; 6])))
            .map(|(_, e)| e)
    }

    /// Every endpoint, by VNI then MAC.
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> + '_ {
        self.by_key.values()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

fn describe(e: &Endpoint) -> String {
    let ips: Vec<String> = e.ips.iter().map(|i| i.to_string()).collect();
    format!("{} on {}, IPs [{}]", e.attach, e.port, ips.join(", "))
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {}: not a JSON array of endpoints: {source} (move it aside to start without endpoints)", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads the state file; `Ok(None)` when it does not exist (first start).
pub fn load(path: &Path) -> Result<Option<Vec<Endpoint>>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                what: "cannot read",
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| StateError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes the table atomically (a temporary file renamed over the old one),
/// so that a crash never leaves a half-written file.
pub fn save(path: &Path, endpoints: &Endpoints) -> Result<(), StateError> {
    let io = |what: &'static str| {
        move |source| StateError::Io {
            path: path.to_path_buf(),
            what,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create its directory"))?;
    }
    let list: Vec<&Endpoint> = endpoints.iter().collect();
    let text = serde_json::to_vec_pretty(&list).map_err(|e| StateError::Io {
        path: path.to_path_buf(),
        what: "cannot serialize",
        source: std::io::Error::other(e),
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io("cannot create the temporary file"))?;
    f.write_all(&text).map_err(io("cannot write"))?;
    f.sync_all().map_err(io("cannot sync"))?;
    std::fs::rename(&tmp, path).map_err(io("cannot rename the temporary file over it"))
}

/// The host-side veth name plane gives the endpoint it plumbs itself:
/// [`crate::endpoint::host_ifname`] of `vni<VNI>-<MAC>`, stable across
/// restarts so that a restarted planed finds the veth it made.
pub fn host_veth_name(vni: u32, mac: MacAddr) -> String {
    crate::endpoint::host_ifname(&format!("vni{vni}-{mac}"))
}

/// The spec an endpoint was made from (to re-create it after a restart).
pub fn spec_of(e: &Endpoint) -> EndpointSpec {
    EndpointSpec {
        vni: e.vni,
        mac: e.mac,
        ips: e.ips.clone(),
        attach: e.attach.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IpCidr;
    use crate::control::Attach;

    fn mac(last: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, last])
    }

    fn spec(vni: u32, m: u8, ips: &[&str]) -> EndpointSpec {
        EndpointSpec {
            vni,
            mac: mac(m),
            ips: ips.iter().map(|s| s.parse::<IpCidr>().unwrap()).collect(),
            attach: Attach::Port {
                ifname: format!("v{m}"),
            },
        }
    }

    fn endpoint(s: &EndpointSpec) -> Endpoint {
        Endpoint {
            vni: s.vni,
            mac: s.mac,
            ips: s.ips.clone(),
            attach: s.attach.clone(),
            port: "v".into(),
            bridge: format!("br{}", s.vni),
            state: Default::default(),
        }
    }

    #[test]
    fn same_mac_and_ip_in_two_vnis_is_fine_but_not_twice_in_one() {
        let mut t = Endpoints::default();
        let a = spec(10, 1, &["10.0.0.1/24"]);
        assert!(t.check_add(&a).unwrap().is_none());
        t.insert(endpoint(&a));
        // Same spec again: idempotent.
        assert_eq!(t.check_add(&a).unwrap(), Some(endpoint(&a)));
        // Same MAC and IP in another VNI: a different tenant.
        let b = spec(20, 1, &["10.0.0.1/24"]);
        assert!(t.check_add(&b).unwrap().is_none());
        // Same MAC, other IP, same VNI: duplicate.
        let c = spec(10, 1, &["10.0.0.2/24"]);
        assert!(matches!(
            t.check_add(&c),
            Err(EndpointError::DuplicateMac { vni: 10, .. })
        ));
        // Other MAC, same IP, same VNI: conflict naming the owner.
        let d = spec(10, 2, &["10.0.0.1/24"]);
        match t.check_add(&d) {
            Err(e @ EndpointError::IpConflict { .. }) => {
                assert_eq!(e.code(), ErrorCode::AlreadyExists);
                assert!(e.to_string().contains("02:00:00:00:00:01"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_bad_mac_and_repeated_ip() {
        let t = Endpoints::default();
        let mut s = spec(10, 1, &["10.0.0.1/24", "10.0.0.1/32"]);
        assert!(matches!(
            t.check_add(&s),
            Err(EndpointError::IpTwice { .. })
        ));
        s.ips.clear();
        s.mac = MacAddr([1, 0, 0, 0, 0, 1]);
        assert!(matches!(t.check_add(&s), Err(EndpointError::BadMac(_))));
    }

    #[test]
    fn in_vni_sees_only_that_vni() {
        let mut t = Endpoints::default();
        for (vni, m) in [(10, 1), (10, 2), (20, 1), (11, 255)] {
            t.insert(endpoint(&spec(vni, m, &[])));
        }
        let macs: Vec<_> = t.in_vni(10).map(|e| e.mac).collect();
        assert_eq!(macs, vec![mac(1), mac(2)]);
        assert_eq!(t.in_vni(12).count(), 0);
    }

    #[test]
    fn state_file_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/endpoints.json");
        assert!(load(&path).unwrap().is_none());
        let mut t = Endpoints::default();
        t.insert(endpoint(&spec(10, 1, &["10.0.0.1/24", "fd00::1/64"])));
        let mut n = endpoint(&spec(20, 3, &[]));
        n.attach = Attach::Netns {
            netns: "/run/netns/c1".into(),
            ifname: "eth0".into(),
        };
        t.insert(n);
        save(&path, &t).unwrap();
        let back = load(&path).unwrap().unwrap();
        let mut u = Endpoints::default();
        for e in back {
            u.insert(e);
        }
        assert_eq!(t, u);
        std::fs::write(&path, "{not json").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("endpoints.json") && e.contains("JSON"), "{e}");
    }

    #[test]
    fn host_veth_names_are_stable_short_and_distinct() {
        let a = host_veth_name(10, mac(1));
        assert_eq!(a, host_veth_name(10, mac(1)));
        assert_ne!(a, host_veth_name(20, mac(1)));
        assert_ne!(a, host_veth_name(10, mac(2)));
        assert_eq!(a.len(), 10);
    }
}
