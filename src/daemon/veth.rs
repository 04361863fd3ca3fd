//! Plumbing for `endpoint add --netns`: plane makes the veth pair itself.
//!
//! The host end (named by [`super::endpoints::host_veth_name`]) stays in
//! planed's namespace, to be attached to the VNI's bridge; the other end is
//! created directly inside the container's namespace with its name, MAC and
//! MTU, then gets the endpoint's addresses and is set up.
//!
//! Done with iproute2 (`ip`, `nsenter`) rather than rtnetlink: entering the
//! container's namespace needs `setns` on a thread, which `nsenter` does for
//! us without `unsafe` or a dedicated thread in planed. IPv6 addresses are
//! added `nodad`: the address is unique by construction (the endpoint table
//! refuses duplicates per VNI) and DAD would delay the container by a second.
//!
//! What it never does: touch an interface it did not make; deleting the host
//! end removes its peer in the container with it.

use crate::config::IpCidr;
use plane_bgp::wire::MacAddr;
use std::path::Path;
use tokio::process::Command;

/// Runs a command; the error carries the command line and its stderr.
async fn run(cmd: &mut Command) -> Result<(), String> {
    let line = format!("{:?}", cmd.as_std());
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{line}: cannot start: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{line}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Makes the veth pair `host` <-> `ifname` (in `netns`), sets MAC, MTU and
/// addresses inside, and sets both ends up. On failure the host end is
/// deleted again, so nothing half-made remains.
pub async fn create(
    host: &str,
    netns: &Path,
    ifname: &str,
    mac: MacAddr,
    ips: &[IpCidr],
    mtu: u32,
) -> Result<(), String> {
    if !netns.exists() {
        return Err(format!("{}: no such namespace file", netns.display()));
    }
    let ns = netns.to_string_lossy().into_owned();
    let mtu = mtu.to_string();
    let mac = mac.to_string();
    // A left-over host end (a crash between create and attach) is ours:
    // its name is derived from <VNI, MAC>.
    if super::if_exists(host) {
        delete(host).await?;
    }
    run(Command::new("ip").args([
        "link", "add", host, "mtu", &mtu, "type", "veth", "peer", "name", ifname, "address", &mac,
        "mtu", &mtu, "netns", &ns,
    ]))
    .await?;
    let inside = async {
        let net = format!("--net={ns}");
        for ip in ips {
            let addr = ip.to_string();
            let mut args = vec![net.as_str(), "ip", "addr", "add", &addr, "dev", ifname];
            if ip.addr.is_ipv6() {
                args.push("nodad");
            }
            run(Command::new("nsenter").args(&args)).await?;
        }
        run(Command::new("nsenter").args([&net, "ip", "link", "set", ifname, "up"])).await?;
        run(Command::new("ip").args(["link", "set", host, "addrgenmode", "none"])).await?;
        run(Command::new("ip").args(["link", "set", host, "up"])).await
    };
    if let Err(e) = inside.await {
        let _ = delete(host).await;
        return Err(e);
    }
    Ok(())
}

/// Deletes the host end (and with it the container end). Already gone is
/// success.
pub async fn delete(host: &str) -> Result<(), String> {
    if !super::if_exists(host) {
        return Ok(());
    }
    run(Command::new("ip").args(["link", "del", host])).await
}
