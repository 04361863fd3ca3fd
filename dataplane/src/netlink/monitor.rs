//! Kernel notifications (RTNLGRP_LINK, RTNLGRP_NEIGH) as [`Notification`]s.
//!
//! A raw netlink socket with a 64 MiB receive buffer (SO_RCVBUFFORCE): the
//! default overflows under load. ENOBUFS becomes [`Notification::Overrun`],
//! which the task answers with a resync by dump.
//!
//! Neighbour messages, the bulk (three per remote MAC+IP programmed), are
//! decoded here without allocation ([`decode_neigh`]: only the fields plane
//! uses), and additions carrying plane's marks, which are its own
//! programming echoed back, are dropped before anything else happens; most
//! never arrive: a socket filter ([`super::echo_filter`]) drops them in the
//! kernel, so the decode below is the second line, not the hot path. Link
//! messages are rare and decoded by netlink-packet-route. Never panics on
//! any input: every read is bounds-checked.

use std::net::IpAddr;

use bytes::BytesMut;
use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use tokio::sync::mpsc;
use tracing::warn;

use super::{parse_link, parse_protinfo, set_rcvbuf_force, PLANE_PROTOCOL};
use crate::backend::{BackendError, Notification};
use crate::types::Mac;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWNEIGH: u16 = 28;
const RTM_DELNEIGH: u16 = 29;
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_NEIGH: u32 = 3;
const AF_INET: u8 = 2;
const AF_BRIDGE: u8 = 7;
const AF_INET6: u8 = 10;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_MASTER: u16 = 9;
const NDA_PROTOCOL: u16 = 12;
const NTF_SELF: u8 = 0x02;
const NTF_MASTER: u8 = 0x04;
const NTF_EXT_LEARNED: u8 = 0x10;
const NUD_PERMANENT: u16 = 0x80;
const NLMSG_HDRLEN: usize = 16;
const NDMSG_LEN: usize = 12;

/// Subscribes and forwards notifications on `tx` until it closes.
pub fn spawn_monitor(tx: mpsc::Sender<Notification>) -> Result<(), BackendError> {
    let sock_err = |e: std::io::Error| BackendError::Socket(format!("notification socket: {e}"));
    let mut sock = TokioSocket::new(netlink_sys::protocols::NETLINK_ROUTE).map_err(sock_err)?;
    let groups = (1 << (RTNLGRP_LINK - 1)) | (1 << (RTNLGRP_NEIGH - 1));
    sock.socket_mut()
        .bind(&SocketAddr::new(0, groups))
        .map_err(sock_err)?;
    set_rcvbuf_force(&mut sock)?;
    // Before the first message can matter: plane's own additions are then
    // never queued (the decode below still drops any that get through).
    super::echo_filter::attach(sock.socket_mut())
        .map_err(|e| BackendError::Socket(format!("notification socket filter: {e}")))?;
    tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(1 << 16);
        loop {
            buf.clear();
            buf.reserve(1 << 16);
            match sock.recv(&mut buf).await {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    if tx.send(Notification::Overrun).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    warn!(%e, "notification socket failed; drift is no longer detected");
                    return;
                }
            }
            for msg in messages(&buf) {
                if let Some(n) = decode(msg) {
                    if tx.send(n).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(())
}

fn ne16(b: &[u8], at: usize) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_ne_bytes(s))
}

fn ne32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(s))
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// The netlink messages of a datagram; stops at the first malformed length.
pub fn messages(mut d: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let len = usize::try_from(ne32(d, 0)?).ok()?;
        if len < NLMSG_HDRLEN {
            return None;
        }
        let msg = d.get(..len)?;
        d = d.get(align4(len)..).unwrap_or(&[]);
        Some(msg)
    })
}

/// One notification from one netlink message.
pub fn decode(msg: &[u8]) -> Option<Notification> {
    match ne16(msg, 4)? {
        RTM_NEWNEIGH | RTM_DELNEIGH => decode_neigh(msg),
        RTM_NEWLINK | RTM_DELLINK => decode_link(msg),
        _ => None,
    }
}

/// Neighbour message fields plane uses, read in place.
pub fn decode_neigh(msg: &[u8]) -> Option<Notification> {
    let deleted = ne16(msg, 4)? == RTM_DELNEIGH;
    let nd = msg.get(NLMSG_HDRLEN..)?;
    let family = *nd.first()?;
    let ifindex = ne32(nd, 4)?;
    let state = ne16(nd, 8)?;
    let flags = *nd.get(10)?;
    let ext = flags & NTF_EXT_LEARNED != 0;
    let (mut dst, mut mac, mut master_attr, mut proto) = (None, None, false, None);
    let mut at = NDMSG_LEN;
    while let (Some(len), Some(kind)) = (ne16(nd, at), ne16(nd, at + 2)) {
        let len = usize::from(len);
        if len < 4 {
            break;
        }
        let Some(val) = nd.get(at + 4..at + len) else {
            break;
        };
        match kind & 0x3fff {
            NDA_DST => {
                dst = match val.len() {
                    4 => <[u8; 4]>::try_from(val).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(val).ok().map(IpAddr::from),
                    _ => None,
                }
            }
            NDA_LLADDR => mac = Mac::from_slice(val),
            NDA_MASTER => master_attr = true,
            NDA_PROTOCOL => proto = val.first().copied(),
            _ => {}
        }
        at += align4(len);
    }
    // plane's own additions echoed back: nothing to learn or repair.
    if !deleted && ext && (family == AF_BRIDGE || proto == Some(PLANE_PROTOCOL)) {
        return None;
    }
    match family {
        AF_BRIDGE => Some(Notification::Fdb {
            ifindex,
            mac: mac?,
            master_entry: master_attr || (flags & NTF_MASTER != 0 && flags & NTF_SELF == 0),
            ext_learned: ext,
            local: state == NUD_PERMANENT,
            vtep: dst,
            deleted,
        }),
        AF_INET | AF_INET6 => Some(Notification::Neigh {
            ifindex,
            ip: dst?,
            mac,
            owned: proto == Some(PLANE_PROTOCOL),
            deleted,
        }),
        _ => None,
    }
}

fn decode_link(msg: &[u8]) -> Option<Notification> {
    let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg).ok()?;
    let (deleted, l) = match m.payload {
        netlink_packet_core::NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
            (false, l)
        }
        netlink_packet_core::NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
            (true, l)
        }
        _ => return None,
    };
    // AF_BRIDGE link messages are bridge port events (`bridge link set`,
    // enslave, release): they carry the port flags in IFLA_PROTINFO.
    if l.header.interface_family == AddressFamily::Bridge {
        let name = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })?;
        let flags = if deleted {
            None
        } else {
            parse_protinfo(&l.attributes)
        };
        return Some(Notification::PortFlags { name, flags });
    }
    let (name, link, master) = parse_link(&l)?;
    Some(Notification::Link {
        name,
        link,
        master,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RTM_DELNEIGH for `ip neigh del 10.0.0.2 dev br10` of an entry plane
    /// installed (layout of `ip monitor neigh` on kernel 6.18, x86-64:
    /// nlmsghdr, ndmsg, NDA_DST, NDA_LLADDR, NDA_PROTOCOL).
    fn del_neigh() -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&0u32.to_ne_bytes()); // length, set below
        m.extend_from_slice(&RTM_DELNEIGH.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[AF_INET, 0, 0, 0]);
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0x40u16.to_ne_bytes()); // NUD_NOARP
        m.extend_from_slice(&[NTF_EXT_LEARNED, 1]);
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&NDA_DST.to_ne_bytes());
        m.extend_from_slice(&[10, 0, 0, 2]);
        m.extend_from_slice(&10u16.to_ne_bytes());
        m.extend_from_slice(&NDA_LLADDR.to_ne_bytes());
        m.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0, 0]);
        m.extend_from_slice(&5u16.to_ne_bytes());
        m.extend_from_slice(&NDA_PROTOCOL.to_ne_bytes());
        m.extend_from_slice(&[PLANE_PROTOCOL, 0, 0, 0]);
        let len = u32::try_from(m.len()).unwrap();
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    #[test]
    fn decodes_neighbour_deletion() {
        let n = decode(&del_neigh());
        assert_eq!(
            n,
            Some(Notification::Neigh {
                ifindex: 7,
                ip: "10.0.0.2".parse().unwrap(),
                mac: Some(Mac([2, 0, 0, 0, 0, 2])),
                owned: true,
                deleted: true,
            })
        );
        // The same as an addition is plane's echo: dropped.
        let mut add = del_neigh();
        add[4..6].copy_from_slice(&RTM_NEWNEIGH.to_ne_bytes());
        assert_eq!(decode(&add), None);
        // Two messages in one datagram.
        let mut two = del_neigh();
        two.extend_from_slice(&del_neigh());
        assert_eq!(messages(&two).count(), 2);
    }

    #[test]
    fn truncations_never_panic() {
        let m = del_neigh();
        for i in 0..m.len() {
            let _ = decode(&m[..i]);
            let _ = messages(&m[..i]).count();
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
                for m in messages(&b) {
                    let _ = decode(m);
                }
                let _ = decode_neigh(&b);
            }

            #[test]
            fn mutated_messages_never_panic(at in 0usize..56, v in any::<u8>()) {
                let mut m = del_neigh();
                if let Some(x) = m.get_mut(at) { *x = v; }
                for msg in messages(&m) {
                    let _ = decode(msg);
                }
            }
        }
    }
}
