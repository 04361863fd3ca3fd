//! The rtnetlink requests of the veth plumbing; each function runs on the
//! netlink handle of one namespace (see `netns`).
//!
//! What it never does: delete a link it did not look up by the name the
//! caller derived; treat "already gone" (`ENODEV`) as an error on delete.

use super::netns::NetnsFile;
use super::{ContainerIface, EndpointError, HostPort, RouteSpec, VethSpec};
use crate::config::IpCidr;
use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::RouteScope;
use plane_bgp::wire::MacAddr;
use rtnetlink::{
    Handle, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use std::net::IpAddr;

const ENODEV: i32 = libc::ENODEV;
const EEXIST: i32 = libc::EEXIST;

/// MTU of the pair when neither the spec nor a bridge gives one.
const DEFAULT_MTU: u32 = 1500;

/// The host end as made.
pub(super) struct HostSide {
    pub index: u32,
    pub mtu: u32,
}

/// The positive errno of a netlink error answer.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn nl_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> EndpointError {
    let what = what.into();
    move |e| EndpointError::Netlink {
        what,
        message: match &e {
            rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
            other => other.to_string(),
        },
    }
}

/// The link named `name`, or `None` when it does not exist.
async fn link_by_name(h: &Handle, name: &str) -> Result<Option<LinkMessage>, EndpointError> {
    match h
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
    {
        Ok(m) => Ok(m),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("looking up {name}"))(e)),
    }
}

async fn link_by_index(h: &Handle, index: u32) -> Result<Option<LinkMessage>, EndpointError> {
    match h.link().get().match_index(index).execute().try_next().await {
        Ok(m) => Ok(m),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("looking up link {index}"))(e)),
    }
}

fn mtu_of(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(v) => Some(*v),
        _ => None,
    })
}

fn name_of(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn controller_of(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

fn kind_of(m: &LinkMessage) -> Option<String> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.to_string()),
            _ => None,
        }),
        _ => None,
    })
}

fn mac_of(m: &LinkMessage) -> Option<MacAddr> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) => <[u8; 6]>::try_from(b.as_slice()).ok().map(MacAddr),
        _ => None,
    })
}

/// Deletes the link `name` (only if its kind is `kind`, when given).
/// `Ok(false)` when there was nothing to delete.
pub(super) async fn delete_by_name(
    h: Handle,
    name: String,
    kind: Option<&'static str>,
) -> Result<bool, EndpointError> {
    let Some(link) = link_by_name(&h, &name).await? else {
        return Ok(false);
    };
    if let Some(k) = kind {
        if kind_of(&link).as_deref() != Some(k) {
            return Ok(false);
        }
    }
    match h.link().del(link.header.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(false),
        Err(e) => Err(nl_err(format!("deleting {name}"))(e)),
    }
}

/// Creates the pair with its container end directly in `netns`, attaches
/// the host end to the bridge and sets it up.
pub(super) async fn create_host_side(
    h: Handle,
    spec: VethSpec,
    netns: NetnsFile,
) -> Result<HostSide, EndpointError> {
    let bridge = match &spec.bridge {
        Some(name) => Some(
            link_by_name(&h, name)
                .await?
                .ok_or_else(|| EndpointError::NoBridge(name.clone()))?,
        ),
        None => None,
    };
    let mtu = spec
        .mtu
        .or_else(|| bridge.as_ref().and_then(mtu_of))
        .unwrap_or(DEFAULT_MTU);
    // A host end left by an earlier failed ADD (same derived name).
    delete_by_name(h.clone(), spec.host_ifname.clone(), None).await?;

    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(spec.ifname.clone())
        .address(spec.mac.octets().to_vec())
        .mtu(mtu)
        .setns_by_fd(netns.raw_fd())
        .build();
    let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(spec.host_ifname.clone())
        .mtu(mtu)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    match h.link().add(pair).execute().await {
        Ok(()) => {}
        Err(e) if errno(&e) == Some(EEXIST) => {
            return Err(EndpointError::IfnameTaken {
                ifname: spec.ifname.clone(),
                netns: spec.netns.clone(),
            })
        }
        Err(e) => {
            return Err(nl_err(format!(
                "creating veth {} <-> {} in {}",
                spec.host_ifname,
                spec.ifname,
                spec.netns.display()
            ))(e))
        }
    }
    let result = attach_host_end(&h, &spec, bridge.as_ref()).await;
    match result {
        Ok(index) => Ok(HostSide { index, mtu }),
        Err(e) => {
            let _ = delete_by_name(h, spec.host_ifname.clone(), None).await;
            Err(e)
        }
    }
}

async fn attach_host_end(
    h: &Handle,
    spec: &VethSpec,
    bridge: Option<&LinkMessage>,
) -> Result<u32, EndpointError> {
    let name = &spec.host_ifname;
    let index = link_by_name(h, name)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| EndpointError::Netlink {
            what: format!("looking up {name}"),
            message: "the veth vanished right after it was made".into(),
        })?;
    if let Some(br) = bridge {
        h.link()
            .set(
                LinkUnspec::new_with_index(index)
                    .controller(br.header.index)
                    .build(),
            )
            .execute()
            .await
            .map_err(nl_err(format!(
                "attaching {name} to bridge {}",
                spec.bridge.as_deref().unwrap_or("?")
            )))?;
        let f = super::port_flags();
        h.link()
            .set_port(
                LinkBridgePort::new(index)
                    .learning(f.learning)
                    .neigh_suppress(f.neigh_suppress)
                    .flood(f.flood)
                    .mcast_flood(f.mcast_flood)
                    .bcast_flood(f.bcast_flood)
                    .build(),
            )
            .execute()
            .await
            .map_err(nl_err(format!("setting the bridge port flags of {name}")))?;
    }
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(nl_err(format!("setting {name} up")))?;
    Ok(index)
}

/// Inside the container: DAD off, addresses, link up, routes.
pub(super) async fn configure_container(h: Handle, spec: VethSpec) -> Result<u32, EndpointError> {
    let ifname = &spec.ifname;
    let netns = spec.netns.display();
    let index = link_by_name(&h, ifname)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| EndpointError::Netlink {
            what: format!("looking up {ifname} in {netns}"),
            message: "the container end is not there".into(),
        })?;
    disable_dad(ifname);
    for a in &spec.addresses {
        h.address()
            .add(index, a.addr, a.prefix_len)
            .replace()
            .execute()
            .await
            .map_err(nl_err(format!("adding {a} to {ifname} in {netns}")))?;
    }
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(nl_err(format!("setting {ifname} up in {netns}")))?;
    for r in &spec.routes {
        add_route(&h, index, r).await.map_err(nl_err(format!(
            "adding route {} to {ifname} in {netns}",
            route_text(r)
        )))?;
    }
    Ok(index)
}

fn route_text(r: &RouteSpec) -> String {
    match r.gw {
        Some(gw) => format!("{} via {gw}", r.dst),
        None => r.dst.to_string(),
    }
}

/// The network address of `c` (host bits cleared): the kernel refuses a
/// route whose destination has host bits set. A prefix length beyond the
/// family's width keeps every bit (the kernel then refuses the route with a
/// message naming it).
fn network(c: &IpCidr) -> IpAddr {
    c.network().addr
}

async fn add_route(h: &Handle, index: u32, r: &RouteSpec) -> Result<(), rtnetlink::Error> {
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(network(&r.dst), r.dst.prefix_len)
        .map_err(|e| rtnetlink::Error::InvalidNla(e.to_string()))?
        .output_interface(index);
    b = match r.gw {
        Some(gw) => b
            .gateway(gw)
            .map_err(|e| rtnetlink::Error::InvalidNla(e.to_string()))?,
        None => b.scope(RouteScope::Link),
    };
    h.route().add(b.build()).replace().execute().await
}

/// `net.ipv6.conf.<ifname>.accept_dad = 0` (why: see `super::create`). The
/// file is opened by this thread, which is inside the container's namespace,
/// and net sysctls resolve against the opener's namespace. A missing file
/// means IPv6 is disabled in the container: nothing to do.
fn disable_dad(ifname: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/accept_dad");
    match std::fs::write(&path, "0") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(%path, error = %e, "cannot switch IPv6 DAD off"),
    }
}

pub(super) async fn inspect(
    h: Handle,
    ifname: String,
) -> Result<Option<ContainerIface>, EndpointError> {
    let Some(link) = link_by_name(&h, &ifname).await? else {
        return Ok(None);
    };
    let index = link.header.index;
    let mut addresses = Vec::new();
    let mut dump = h.address().get().set_link_index_filter(index).execute();
    while let Some(m) = dump
        .try_next()
        .await
        .map_err(nl_err(format!("listing the addresses of {ifname}")))?
    {
        if m.header.index != index {
            continue;
        }
        let addr = m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        });
        if let Some(addr) = addr {
            addresses.push(IpCidr {
                addr,
                prefix_len: m.header.prefix_len,
            });
        }
    }
    Ok(Some(ContainerIface {
        index,
        mac: mac_of(&link),
        kind: kind_of(&link),
        up: link.header.flags.contains(LinkFlags::Up),
        mtu: mtu_of(&link),
        addresses,
    }))
}

pub(super) async fn inspect_host(
    h: Handle,
    name: String,
) -> Result<Option<HostPort>, EndpointError> {
    let Some(link) = link_by_name(&h, &name).await? else {
        return Ok(None);
    };
    let bridge = match controller_of(&link) {
        Some(i) => link_by_index(&h, i).await?.as_ref().and_then(name_of),
        None => None,
    };
    Ok(Some(HostPort {
        index: link.header.index,
        bridge,
        up: link.header.flags.contains(LinkFlags::Up),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_clears_host_bits() {
        let n = |s: &str| network(&s.parse::<IpCidr>().unwrap()).to_string();
        assert_eq!(n("10.1.2.3/16"), "10.1.0.0");
        assert_eq!(n("10.1.2.3/0"), "0.0.0.0");
        assert_eq!(n("10.1.2.3/32"), "10.1.2.3");
        assert_eq!(n("fd00::1:2/112"), "fd00::1:0");
        assert_eq!(n("fd00::1/0"), "::");
        let wide = IpCidr {
            addr: "10.1.2.3".parse().unwrap(),
            prefix_len: 40,
        };
        assert_eq!(network(&wide).to_string(), "10.1.2.3");
    }
}
