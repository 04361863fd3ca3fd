//! Two hosts joined by a veth underlay, one container namespace per host:
//! the topology of the dataplane kernel tests and benchmarks.
//!
//! ```text
//!   c1 [eth0 10.0.0.1 fd00:10::1]        c2 [eth0 10.0.0.2 fd00:10::2]
//!        │ veth                                 │ veth
//!   h1 [vc1]  ... u1 192.168.100.1 ── u2 192.168.100.2 ...  h2 [vc2]
//!                    fd00:100::1          fd00:100::2
//! ```
//!
//! Only namespaces and veths are made here; bridges and VXLAN devices are the
//! dataplane's job. Containers get fixed MACs, `nodad` IPv6 addresses and a
//! long neighbour reachable time, so that unicast refresh probes do not
//! appear in captures. Everything is removed on drop ([`Netns`]).
//!
//! [`in_netns`] runs a closure on a fresh thread that has entered a
//! namespace: sockets it opens (netlink, packet) belong to that namespace.

use std::path::Path;

use crate::{run, veth, Netns, Result};

/// One host: its namespace, its container, addresses.
#[derive(Debug)]
pub struct Host {
    pub ns: Netns,
    pub container: Netns,
    /// Underlay address (the VTEP).
    pub vtep: String,
    pub vtep6: String,
    /// Host end of the container's veth.
    pub port: String,
    pub mac: String,
    pub ip4: String,
    pub ip6: String,
}

#[derive(Debug)]
pub struct TwoHosts {
    pub h1: Host,
    pub h2: Host,
}

impl TwoHosts {
    pub fn new() -> Result<TwoHosts> {
        let h1 = Netns::new("h")?;
        let h2 = Netns::new("h")?;
        veth(&h1, "u1", &h2, "u2")?;
        h1.ip(&["addr", "add", "192.168.100.1/24", "dev", "u1"])?;
        h1.ip(&["addr", "add", "fd00:100::1/64", "dev", "u1", "nodad"])?;
        h1.ip(&["link", "set", "u1", "up"])?;
        h2.ip(&["addr", "add", "192.168.100.2/24", "dev", "u2"])?;
        h2.ip(&["addr", "add", "fd00:100::2/64", "dev", "u2", "nodad"])?;
        h2.ip(&["link", "set", "u2", "up"])?;
        let mk = |ns: Netns, i: u8| -> Result<Host> {
            let c = Netns::new("c")?;
            let port = format!("vc{i}");
            let mac = format!("02:00:00:00:00:0{i}");
            veth(&c, "eth0", &ns, &port)?;
            c.ip(&["link", "set", "eth0", "address", &mac])?;
            c.ip(&["addr", "add", &format!("10.0.0.{i}/24"), "dev", "eth0"])?;
            c.ip(&[
                "addr",
                "add",
                &format!("fd00:10::{i}/64"),
                "dev",
                "eth0",
                "nodad",
            ])?;
            c.ip(&["link", "set", "eth0", "up"])?;
            for fam in ["ipv4", "ipv6"] {
                c.exec(
                    "sysctl",
                    [
                        "-q",
                        "-w",
                        &format!("net.{fam}.neigh.eth0.base_reachable_time_ms=600000"),
                    ],
                )?;
            }
            c.exec(
                "sysctl",
                ["-q", "-w", "net.ipv4.icmp_echo_ignore_broadcasts=0"],
            )?;
            ns.ip(&["link", "set", &port, "up"])?;
            Ok(Host {
                ns,
                container: c,
                vtep: format!("192.168.100.{i}"),
                vtep6: format!("fd00:100::{i}"),
                port,
                mac,
                ip4: format!("10.0.0.{i}"),
                ip6: format!("fd00:10::{i}"),
            })
        };
        Ok(TwoHosts {
            h1: mk(h1, 1)?,
            h2: mk(h2, 2)?,
        })
    }
}

/// Runs `f` on a new thread inside the network namespace at `path` and
/// returns its result. The calling thread's namespace is not changed.
pub fn in_netns<T, F>(path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = path.to_path_buf();
    std::thread::spawn(move || -> Result<T> {
        enter_netns(&path)?;
        Ok(f())
    })
    .join()
    .map_err(|_| "thread in namespace panicked".to_string())?
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter_netns(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns {}: {e}", path.display()))
}

/// Counts lines of `ip -n NS neigh show dev DEV` (or `bridge fdb`) output.
pub fn count_lines(out: &str) -> usize {
    out.lines().filter(|l| !l.trim().is_empty()).count()
}

/// `tcpdump` is used for captures; `tshark` is not needed (pcap is parsed
/// by the tests themselves).
pub fn have_tcpdump() -> bool {
    crate::which("tcpdump").is_some() && run("tcpdump", ["--version"]).is_ok()
}
