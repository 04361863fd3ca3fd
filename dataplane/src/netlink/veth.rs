//! Veth plumbing for container hooks (`planectl endpoint add --netns`,
//! plane-cni): a veth pair with one end moved into a container's network
//! namespace (by path or PID), renamed, with its MAC, MTU and addresses set
//! and up; the host end up with the same MTU.
//!
//! The host end is attached to the VNI's bridge, with the local port flags,
//! by the dataplane itself: hand it over with `Change::AddLocalPort` (so
//! that a restart re-attaches it and drift is repaired). Never touches a
//! device it did not create; on any failure the pair is deleted again.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use crate::types::{check_ifname, Mac};

/// A container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsRef {
    /// A bind-mounted namespace, e.g. `/run/netns/NAME` or `/proc/PID/ns/net`.
    Path(PathBuf),
    /// The namespace of a running process.
    Pid(u32),
}

impl NetnsRef {
    fn path(&self) -> PathBuf {
        match self {
            NetnsRef::Path(p) => p.clone(),
            NetnsRef::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        }
    }
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    /// Host end name (e.g. `vc1a2b3c`); attached to the bridge afterwards.
    pub host_ifname: String,
    pub netns: NetnsRef,
    /// Container end name (e.g. `eth0`).
    pub container_ifname: String,
    /// Container end MAC; the kernel picks one when `None`.
    pub mac: Option<Mac>,
    /// Addresses with prefix length on the container end.
    pub addresses: Vec<IpNetwork>,
    pub mtu: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VethError {
    #[error("{0}")]
    Value(#[from] crate::types::ValueError),
    #[error("network namespace {path}: {why}")]
    Netns { path: String, why: String },
    #[error("veth {host}: {step}: {why}")]
    Netlink {
        host: String,
        step: &'static str,
        why: String,
    },
}

/// The container end's MAC, as the kernel set it (the local endpoint's MAC).
pub async fn create_veth(spec: &VethSpec) -> Result<Mac, VethError> {
    check_ifname(&spec.host_ifname)?;
    check_ifname(&spec.container_ifname)?;
    let ns_path = spec.netns.path();
    let ns_file = std::fs::File::open(&ns_path).map_err(|e| VethError::Netns {
        path: ns_path.display().to_string(),
        why: e.to_string(),
    })?;
    let err = |step: &'static str| {
        let host = spec.host_ifname.clone();
        move |e: rtnetlink::Error| VethError::Netlink {
            host,
            step,
            why: e.to_string(),
        }
    };
    let (conn, host, _) = rtnetlink::new_connection().map_err(|e| VethError::Netlink {
        host: spec.host_ifname.clone(),
        step: "netlink socket",
        why: e.to_string(),
    })?;
    tokio::spawn(conn);
    // The peer is created under a temporary name that cannot collide in the
    // host namespace, and renamed inside the container's.
    static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // "plt" + 4 + 8 hex digits: at most 15 bytes (IFNAMSIZ).
    let tmp = format!("plt{:04x}{:x}", std::process::id() & 0xffff, serial);
    host.link()
        .add(LinkVeth::new(&spec.host_ifname, &tmp).mtu(spec.mtu).build())
        .execute()
        .await
        .map_err(err("create pair"))?;
    let result = async {
        let peer = index(&host, &tmp).await.map_err(err("find peer"))?;
        host.link()
            .set(
                LinkUnspec::new_with_index(peer)
                    .setns_by_fd(ns_file.as_raw_fd())
                    .mtu(spec.mtu)
                    .build(),
            )
            .execute()
            .await
            .map_err(err("move peer into namespace"))?;
        let h = index(&host, &spec.host_ifname)
            .await
            .map_err(err("find host end"))?;
        host.link()
            .set(LinkUnspec::new_with_index(h).up().build())
            .execute()
            .await
            .map_err(err("host end up"))?;
        let inner = handle_in(&ns_path).map_err(|why| VethError::Netns {
            path: ns_path.display().to_string(),
            why,
        })?;
        let c = index(&inner, &tmp)
            .await
            .map_err(err("find peer in namespace"))?;
        let mut b = LinkUnspec::new_with_index(c).name(spec.container_ifname.clone());
        if let Some(mac) = spec.mac {
            b = b.address(mac.octets().to_vec());
        }
        inner
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(err("name and MAC"))?;
        for a in &spec.addresses {
            inner
                .address()
                .add(c, a.ip(), a.prefix())
                .execute()
                .await
                .map_err(err("add address"))?;
        }
        inner
            .link()
            .set(LinkUnspec::new_with_index(c).up().build())
            .execute()
            .await
            .map_err(err("container end up"))?;
        if let Ok(lo) = index(&inner, "lo").await {
            let _ = inner
                .link()
                .set(LinkUnspec::new_with_index(lo).up().build())
                .execute()
                .await;
        }
        let mac = mac_of(&inner, c).await.map_err(err("read MAC"))?;
        mac.ok_or_else(|| VethError::Netlink {
            host: spec.host_ifname.clone(),
            step: "read MAC",
            why: "no link-layer address".into(),
        })
    }
    .await;
    if result.is_err() {
        // Deleting either end deletes the pair.
        if let Ok(h) = index(&host, &spec.host_ifname).await {
            let _ = host.link().del(h).execute().await;
        }
    }
    result
}

/// Deletes the pair by its host end; an absent device is success.
pub async fn delete_veth(host_ifname: &str) -> Result<(), VethError> {
    let (conn, host, _) = rtnetlink::new_connection().map_err(|e| VethError::Netlink {
        host: host_ifname.into(),
        step: "netlink socket",
        why: e.to_string(),
    })?;
    tokio::spawn(conn);
    let Ok(i) = index(&host, host_ifname).await else {
        return Ok(());
    };
    host.link()
        .del(i)
        .execute()
        .await
        .map_err(|e| VethError::Netlink {
            host: host_ifname.into(),
            step: "delete",
            why: e.to_string(),
        })
}

async fn index(h: &Handle, name: &str) -> Result<u32, rtnetlink::Error> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await? {
        Some(l) => Ok(l.header.index),
        None => Err(rtnetlink::Error::RequestFailed),
    }
}

async fn mac_of(h: &Handle, index: u32) -> Result<Option<Mac>, rtnetlink::Error> {
    use netlink_packet_route::link::LinkAttribute;
    let mut s = h.link().get().match_index(index).execute();
    Ok(s.try_next().await?.and_then(|l| {
        l.attributes.iter().find_map(|a| match a {
            LinkAttribute::Address(b) => Mac::from_slice(b),
            _ => None,
        })
    }))
}

/// An rtnetlink handle whose socket lives in the namespace at `path`: the
/// socket is opened on a short-lived thread that entered the namespace (a
/// socket keeps the namespace it was created in), and its connection runs
/// on the caller's runtime.
fn handle_in(path: &std::path::Path) -> Result<Handle, String> {
    let path = path.to_path_buf();
    // The socket registers with the caller's tokio reactor.
    let rt = tokio::runtime::Handle::current();
    let (conn, handle) = std::thread::spawn(move || -> Result<_, String> {
        let _enter = rt.enter();
        let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns: {e}"))?;
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| e.to_string())?;
        Ok((conn, handle))
    })
    .join()
    .map_err(|_| "namespace thread panicked".to_string())??;
    tokio::spawn(conn);
    Ok(handle)
}
