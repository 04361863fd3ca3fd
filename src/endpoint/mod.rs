//! Veth plumbing for local endpoints: the part of attaching a container that
//! happens in the kernel, shared by `plane-cni` and planed (`planectl
//! endpoint add --netns`).
//!
//! [`create`] makes a veth pair whose container end is created directly in
//! the target network namespace (`IFLA_NET_NS_FD` in the peer's
//! `IFLA_INFO_DATA`), already named (`eth0`), with its MAC and MTU; the host
//! end (`pl` + 8 hex digits, see [`host_ifname`]) is put on the VNI's bridge
//! with the port flags of the dataplane ([`PortFlags::local_port`]) and set
//! up. Inside the namespace the addresses are added, IPv6 DAD is switched off
//! (see [`create`]), the link is set up and the routes are added.
//!
//! Namespaces: a netlink socket stays bound to the namespace it was created
//! in, so every operation inside a container runs on a dedicated thread that
//! first `setns(2)`s into it and then opens its own rtnetlink connection on a
//! current-thread runtime. Host-side operations run on a dedicated thread
//! too, so that these blocking functions never start a runtime inside the
//! caller's (planed calls them from `spawn_blocking`).
//!
//! What it never does: shell out to `ip`, talk to planed, or touch an
//! interface it did not name: [`delete`] removes only the host end it
//! derived (which removes the pair) or, when that is gone, a *veth* named
//! `ifname` inside the namespace.
//!
//! Invariants: names are at most 15 bytes (`IFNAMSIZ` - 1); derived MACs are
//! unicast and locally administered; deleting what is already gone (the
//! namespace, the veth) is success.

mod link;
mod netns;

use crate::config::IpCidr;
use plane_bgp::wire::MacAddr;
use plane_dataplane::PortFlags;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Longest interface name the kernel accepts (`IFNAMSIZ` - 1).
pub use plane_dataplane::types::MAX_IFNAME;

/// A route to add inside the container.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RouteSpec {
    /// Destination prefix (`0.0.0.0/0` for a default route).
    pub dst: IpCidr,
    /// Next hop; `None` for a route on the link.
    pub gw: Option<IpAddr>,
}

/// What [`create`] makes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VethSpec {
    /// The container's namespace file (`/run/netns/x`, `/proc/PID/ns/net`).
    pub netns: PathBuf,
    /// Interface name inside the namespace (`eth0`).
    pub ifname: String,
    /// Host end name (see [`host_ifname`]).
    pub host_ifname: String,
    /// MAC of the container end.
    pub mac: MacAddr,
    /// MTU of both ends; `None`: the bridge's MTU (so that the container
    /// never sends frames the VXLAN device cannot carry), else 1500.
    pub mtu: Option<u32>,
    /// Addresses of the container end.
    pub addresses: Vec<IpCidr>,
    /// Routes inside the container, added after the addresses.
    pub routes: Vec<RouteSpec>,
    /// The VNI's bridge on the host; `None` leaves the host end unattached
    /// (the caller's dataplane attaches it).
    pub bridge: Option<String>,
}

/// What [`create`] made.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Veth {
    pub host_ifname: String,
    pub host_index: u32,
    /// Index of the container end inside its namespace.
    pub container_index: u32,
    pub mtu: u32,
}

/// The container end as [`inspect`] finds it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ContainerIface {
    pub index: u32,
    pub mac: Option<MacAddr>,
    /// `IFLA_INFO_KIND` (`veth`), when the kernel reports one.
    pub kind: Option<String>,
    pub up: bool,
    pub mtu: Option<u32>,
    /// Addresses with prefix length (link-local IPv6 included).
    pub addresses: Vec<IpCidr>,
}

/// The host end as [`inspect_host`] finds it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HostPort {
    pub index: u32,
    /// Name of the bridge it is a port of, if any.
    pub bridge: Option<String>,
    pub up: bool,
}

/// Why plumbing failed. Each variant names the object and the namespace.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The namespace file does not exist (the container is gone).
    #[error("network namespace {}: does not exist", path.display())]
    NetnsGone { path: PathBuf },
    /// The namespace file exists but cannot be entered.
    #[error("network namespace {}: cannot enter: {source}", path.display())]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A name or value the kernel would refuse, caught before asking it.
    #[error("{0}")]
    Invalid(String),
    /// The bridge to attach to does not exist.
    #[error("bridge {0} does not exist on the host (is the VNI configured in planed?)")]
    NoBridge(String),
    /// `ifname` already exists in the container's namespace.
    #[error("interface {ifname} already exists in {}", netns.display())]
    IfnameTaken { ifname: String, netns: PathBuf },
    /// A netlink request failed.
    #[error("{what}: {message}")]
    Netlink { what: String, message: String },
    /// The worker thread could not be started or died.
    #[error("plumbing thread: {0}")]
    Thread(String),
}

/// `pl` + 8 hex digits of a 64-bit FNV-1a hash of `seed`: a host-side name
/// that the same seed (a CNI container id and ifname, a namespace and
/// ifname) gives again on delete, with no state to keep.
pub fn host_ifname(seed: &str) -> String {
    format!("pl{:08x}", fnv1a(seed.as_bytes()) >> 32)
}

/// A MAC derived from the VNI and a seed (the container id and ifname):
/// stable across restarts of the container's network setup, so that the
/// EVPN routes of a re-added container keep their key. Locally administered
/// (bit 1 of the first octet) and unicast (bit 0 clear); never all-zero.
pub fn stable_mac(vni: u32, seed: &str) -> MacAddr {
    let mut input = vni.to_be_bytes().to_vec();
    input.extend_from_slice(seed.as_bytes());
    let h = fnv1a(&input).to_be_bytes();
    MacAddr([(h[0] & 0xfc) | 0x02, h[1], h[2], h[3], h[4], h[5]])
}

/// 64-bit FNV-1a: tiny, stable across Rust versions (unlike `DefaultHasher`),
/// good enough to spread names and MACs. Not a defence against chosen seeds:
/// a collision is caught by the kernel (the name exists) or by planed (the
/// <VNI, MAC> is taken).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Checks an interface name as the kernel would (`dev_valid_name`): the
/// dataplane's rule, with this module's error.
pub fn check_ifname(name: &str) -> Result<(), EndpointError> {
    plane_dataplane::types::check_ifname(name).map_err(|_| {
        EndpointError::Invalid(format!(
            "interface name {name:?}: 1 to {MAX_IFNAME} bytes without '/', ':' or spaces expected"
        ))
    })
}

/// Makes the veth pair of `spec` (see the module docs). A host end left by
/// an earlier failed attempt (same name) is deleted first, so a retried ADD
/// converges. On failure after the pair exists, the pair is deleted again.
///
/// IPv6 DAD is switched off on the container end (`accept_dad = 0`): the
/// control plane already guarantees that an address is unique in its VNI
/// (planed refuses a second endpoint with it), and DAD would keep the
/// address tentative for about a second after link up, during which the
/// container cannot use it; its multicast NS is BUM that plane suppresses
/// anyway. The neighbour reachable time is left at the kernel default:
/// refresh probes are unicast (known traffic, kernel.md) and a longer time
/// would keep stale entries after a remote container moves.
pub fn create(spec: &VethSpec) -> Result<Veth, EndpointError> {
    check_ifname(&spec.ifname)?;
    check_ifname(&spec.host_ifname)?;
    if let Some(b) = &spec.bridge {
        check_ifname(b)?;
    }
    let netns = netns::NetnsFile::open(&spec.netns)?;
    let host = {
        let spec = spec.clone();
        let fd = netns.try_clone()?;
        netns::run(None, move |h| link::create_host_side(h, spec, fd))?
    };
    let container = {
        let spec = spec.clone();
        netns::run(Some(&netns), move |h| link::configure_container(h, spec))
    };
    match container {
        Ok(container_index) => Ok(Veth {
            host_ifname: spec.host_ifname.clone(),
            host_index: host.index,
            container_index,
            mtu: host.mtu,
        }),
        Err(e) => {
            let name = spec.host_ifname.clone();
            if let Err(undo) = netns::run(None, move |h| link::delete_by_name(h, name, None)) {
                tracing::warn!(host_ifname = %spec.host_ifname, error = %undo, "cannot remove the half-made veth");
            }
            Err(e)
        }
    }
}

/// Deletes the veth of an endpoint: the host end `host_ifname` (which takes
/// the container end with it) or, when that is already gone and `netns`
/// still exists, a veth named `ifname` inside it. Success when nothing is
/// left to delete, including when the namespace is gone.
pub fn delete(host_ifname: &str, netns: Option<&Path>, ifname: &str) -> Result<(), EndpointError> {
    check_ifname(host_ifname)?;
    let name = host_ifname.to_string();
    let deleted = netns::run(None, move |h| link::delete_by_name(h, name, None))?;
    if deleted {
        return Ok(());
    }
    let Some(path) = netns else { return Ok(()) };
    if check_ifname(ifname).is_err() {
        return Ok(());
    }
    let file = match netns::NetnsFile::open(path) {
        Ok(f) => f,
        Err(EndpointError::NetnsGone { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let name = ifname.to_string();
    netns::run(Some(&file), move |h| {
        link::delete_by_name(h, name, Some("veth"))
    })
    .map(|_| ())
}

/// The interface `ifname` inside `netns`; `Ok(None)` when it does not exist.
/// [`EndpointError::NetnsGone`] when the namespace does not.
pub fn inspect(netns: &Path, ifname: &str) -> Result<Option<ContainerIface>, EndpointError> {
    check_ifname(ifname)?;
    let file = netns::NetnsFile::open(netns)?;
    let name = ifname.to_string();
    netns::run(Some(&file), move |h| link::inspect(h, name))
}

/// The host end `host_ifname`; `Ok(None)` when it does not exist.
pub fn inspect_host(host_ifname: &str) -> Result<Option<HostPort>, EndpointError> {
    check_ifname(host_ifname)?;
    let name = host_ifname.to_string();
    netns::run(None, move |h| link::inspect_host(h, name))
}

/// The port flags the host end gets: the dataplane's, so that its reconciler
/// never has to change them ([`PortFlags::local_port`]: learning and
/// flooding on, `neigh_suppress` off; suppression is a property of the VXLAN
/// port, and the kernel does not answer ARP/ND that arrives on a port with
/// `neigh_suppress`, so it must stay off on container ports).
pub fn port_flags() -> PortFlags {
    PortFlags::local_port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_short_stable_and_distinct() {
        let a = host_ifname("c0ffee/eth0");
        assert_eq!(a, host_ifname("c0ffee/eth0"));
        assert_ne!(a, host_ifname("c0ffee/eth1"));
        assert_eq!(a.len(), 10);
        assert!(a.starts_with("pl"));
        assert!(check_ifname(&a).is_ok());
    }

    #[test]
    fn stable_macs_are_unicast_local_and_depend_on_vni_and_seed() {
        for seed in ["", "a", "container-1/eth0", "/proc/1/ns/net"] {
            for vni in [0, 10, 0xff_ffff] {
                let m = stable_mac(vni, seed);
                assert_eq!(m.0[0] & 0x01, 0, "{m} multicast");
                assert_eq!(m.0[0] & 0x02, 0x02, "{m} not locally administered");
                assert_ne!(m, MacAddr::ZERO);
                assert_eq!(m, stable_mac(vni, seed));
            }
        }
        assert_ne!(stable_mac(10, "x"), stable_mac(11, "x"));
        assert_ne!(stable_mac(10, "x"), stable_mac(10, "y"));
    }

    #[test]
    fn ifname_rules() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("abcdefghijklmno").is_ok());
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "abcdefghijklmnop"] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }
}
