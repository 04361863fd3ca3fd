//! Plumbing for `endpoint add --netns`: plane makes the veth pair itself,
//! with [`crate::endpoint`] (rtnetlink, the container end created directly in
//! its namespace with name, MAC and MTU; addresses added inside; IPv6 DAD
//! off). The host end stays unattached here: the dataplane task attaches it
//! to the VNI's bridge, so that one owner sets the port's flags.
//!
//! The blocking plumbing runs on tokio's blocking pool, never on the core
//! task's thread.
//!
//! What it never does: touch an interface it did not name; deleting the host
//! end removes its peer in the container with it.

use crate::config::IpCidr;
use crate::endpoint::{self, VethSpec};
use plane_bgp::wire::MacAddr;
use std::path::{Path, PathBuf};

/// Makes the veth pair `host` <-> `ifname` (in `netns`) with `mac`, `mtu`
/// and `ips` on the container end. A left-over host end of the same name
/// (a crash between create and attach) is replaced.
pub async fn create(
    host: &str,
    netns: &Path,
    ifname: &str,
    mac: MacAddr,
    ips: &[IpCidr],
    mtu: u32,
) -> Result<(), String> {
    let spec = VethSpec {
        netns: netns.to_path_buf(),
        ifname: ifname.to_string(),
        host_ifname: host.to_string(),
        mac,
        mtu: Some(mtu),
        addresses: ips.to_vec(),
        routes: Vec::new(),
        bridge: None,
    };
    tokio::task::spawn_blocking(move || endpoint::create(&spec))
        .await
        .map_err(|e| format!("plumbing task: {e}"))?
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Deletes the host end (and with it the container end); when the host end
/// is gone already, a veth named `ifname` in `netns`. Already gone is
/// success.
pub async fn delete(host: &str, netns: Option<PathBuf>, ifname: &str) -> Result<(), String> {
    let (host, ifname) = (host.to_string(), ifname.to_string());
    tokio::task::spawn_blocking(move || endpoint::delete(&host, netns.as_deref(), &ifname))
        .await
        .map_err(|e| format!("plumbing task: {e}"))?
        .map_err(|e| e.to_string())
}
