//! The kernel backend: the only code that speaks rtnetlink.
//!
//! - Builds RTM_NEWLINK/RTM_SETLINK/RTM_DELLINK and RTM_NEWNEIGH/RTM_DELNEIGH
//!   messages from [`Op`]s (rtnetlink's typed builders for links, hand-built
//!   neighbour messages where rtnetlink has no builder: combined NUD states,
//!   `NTF_SELF|NTF_MASTER|NTF_EXT_LEARNED`, `NDA_PROTOCOL`, append).
//! - Sends entry operations in batches: many messages in one datagram with
//!   `ConnectionHandle::request_batch` (netlink-proto 0.14), several batches in
//!   flight on one connection. Every message asks for an ACK, so each one gets
//!   exactly one answer (ACK or error) carrying its sequence number: answers
//!   are matched back to messages by sequence order, and one bad entry fails
//!   alone (netlink batches are not transactional). FDB and IP neighbour
//!   messages go on two connections at once (see [`NetlinkBackend`]).
//! - Dumps links, bridge FDB and IPv4/IPv6 neighbours into [`Observed`],
//!   deduplicated by key (dumps are not atomic).
//! - Monitors RTNLGRP_LINK and RTNLGRP_NEIGH on a socket with a 64 MiB
//!   receive buffer (SO_RCVBUFFORCE); ENOBUFS becomes
//!   [`Notification::Overrun`], which the task answers with a resync by dump.
//!
//! Ownership marks (see docs/dataplane.md): neighbours carry
//! `NDA_PROTOCOL` = [`PLANE_PROTOCOL`] and `NTF_EXT_LEARNED`; FDB entries on
//! plane's VXLAN devices carry `NTF_EXT_LEARNED` (the kernel stores no
//! protocol for FDB entries); devices carry the alias `plane:vni=N`.
//!
//! Never deletes a device or entry that the reconciler did not ask for; never
//! retries on its own (errors are reported, the task resyncs).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoBridgePort, InfoData, InfoKind, InfoPortData,
    InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_proto::sys::{AsyncSocket, SocketAddr};
use netlink_proto::ConnectionHandle;
use rtnetlink::{LinkBridge, LinkBridgePort, LinkUnspec, LinkVxlan};
use tracing::debug;

use crate::backend::{Backend, BackendError, OpError};
use crate::reconcile::{LinkChange, Op};
use crate::state::{FdbObs, LinkKind, LinkObs, NeighObs, Observed};
use crate::types::{Mac, PortFlags};

/// `NDA_PROTOCOL` value marking neighbour entries plane installed. Chosen
/// outside the values iproute2's rt_protos names and FRR uses (186-196).
pub const PLANE_PROTOCOL: u8 = 0xb1;

/// Messages per datagram. 64-256 measured about the same; 128 keeps a batch
/// of answers well under the receive buffer.
pub const BATCH: usize = 128;
/// Batches in flight on one connection.
pub const IN_FLIGHT: usize = 8;
/// Batches per pacing window ([`NetlinkBackend::pace_with`]): 32 x 128
/// messages queue at most about 8k notifications (two per deletion), about
/// 10 MB of the monitor socket's buffer.
pub const PACE_WINDOW: usize = 32;
/// Longest wait for the monitor per window: a reader that has stalled must
/// not stop programming, only slow it.
pub const PACE_MAX_WAIT: Duration = Duration::from_millis(200);
/// Longest wait in [`Backend::settle`].
pub const SETTLE_MAX_WAIT: Duration = Duration::from_millis(500);
/// Receive buffer of both sockets (SO_RCVBUFFORCE): the default 212 KiB
/// overflows under notification load (kernel.md).
pub const RCVBUF: usize = 64 << 20;

/// NUD_NOARP|NUD_REACHABLE: what iproute2 calls `static` for FDB entries. A
/// master entry with NUD_PERMANENT would mean "local MAC" (kernel.md).
const NUD_STATIC: u16 = 0x42;

type Msg = NetlinkMessage<RouteNetlinkMessage>;
/// Sequence number and result of the last message of a batch (`None`: the
/// connection closed before it was answered).
type LastAnswer = Option<(u32, Result<(), OpError>)>;

/// Options of the kernel backend.
#[derive(Debug, Clone)]
pub struct NetlinkOptions {
    pub batch: usize,
    pub in_flight: usize,
    /// IP neighbour messages on a second connection, concurrently with FDB
    /// messages. Off by default: on kernels where both take the RTNL lock
    /// (6.18 measured) the second sender mostly spins on it, for about 1.5x
    /// the CPU and the same install time (docs/BENCHMARKS.md).
    pub split: bool,
}

impl Default for NetlinkOptions {
    fn default() -> Self {
        NetlinkOptions {
            batch: BATCH,
            in_flight: IN_FLIGHT,
            split: false,
        }
    }
}

/// One rtnetlink connection (its socket is served by its own tokio task).
struct Conn {
    handle: ConnectionHandle<RouteNetlinkMessage>,
    /// The socket's netlink port id (bound at open).
    port_id: u32,
    /// When the last pacing window of entry batches started
    /// ([`monitor::Progress::now`]); kept across calls.
    window_start: Option<u64>,
    /// Answers to messages sent without expectation: the errors of entry
    /// batches (see [`send_entries`]).
    unsolicited: futures::channel::mpsc::UnboundedReceiver<(Msg, SocketAddr)>,
}

impl Conn {
    fn open() -> Result<Conn, BackendError> {
        let (mut conn, handle, unsolicited) = netlink_proto::new_connection::<RouteNetlinkMessage>(
            netlink_sys::protocols::NETLINK_ROUTE,
        )
        .map_err(|e| BackendError::Socket(format!("NETLINK_ROUTE socket: {e}")))?;
        // Every message of a batch is answered; ACKs must reach us so that
        // answers can be matched to messages by sequence number.
        conn.set_forward_ack(true);
        set_rcvbuf_force(conn.socket_mut())?;
        // Errors without the echoed request: smaller answers.
        let _ = conn.socket_mut().socket_mut().set_cap_ack(true);
        // Bound now (not on first send) so that the port id is known to
        // the monitor's echo filter before anything is sent.
        let port_id = conn
            .socket_mut()
            .socket_mut()
            .bind_auto()
            .map_err(|e| BackendError::Socket(format!("NETLINK_ROUTE bind: {e}")))?
            .port_number();
        tokio::spawn(conn);
        Ok(Conn {
            handle,
            port_id,
            window_start: None,
            unsolicited,
        })
    }
}

/// Programs the kernel of the calling thread's network namespace.
///
/// Two connections: links, dumps and bridge/VXLAN FDB entries on one, IP
/// neighbour entries on the other. The two kinds of entry are separate
/// kernel objects (no operation on one depends on the other), and the
/// kernel processes them on separate paths, so a plan's FDB and neighbour
/// messages are sent concurrently, each connection from its own task (on a
/// multi-thread runtime, its own core). Order within each kind is kept.
pub struct NetlinkBackend {
    /// Links, dumps and FDB entries (AF_BRIDGE).
    conn: Conn,
    /// IPv4/IPv6 neighbour entries.
    neigh: Conn,
    /// name -> ifindex, from the last dump and kept by link operations.
    index: HashMap<String, u32>,
    opts: NetlinkOptions,
    /// The notification monitor's progress, to pace entry batches by
    /// ([`NetlinkBackend::pace_with`]).
    progress: Option<Arc<monitor::Progress>>,
}

pub(crate) fn set_rcvbuf_force<S: AsyncSocket>(socket: &mut S) -> Result<(), BackendError> {
    use nix::sys::socket::{setsockopt, sockopt};
    let sock = socket.socket_mut();
    setsockopt(&*sock, sockopt::RcvBufForce, &RCVBUF)
        .map_err(|e| BackendError::Socket(format!("SO_RCVBUFFORCE {RCVBUF}: {e}")))
}

impl NetlinkBackend {
    /// Opens the request connection (spawned on the current tokio runtime).
    pub fn new(opts: NetlinkOptions) -> Result<NetlinkBackend, BackendError> {
        Ok(NetlinkBackend {
            conn: Conn::open()?,
            neigh: Conn::open()?,
            index: HashMap::new(),
            opts,
            progress: None,
        })
    }

    /// The netlink port ids of the request sockets: neighbour
    /// notifications stamped with them are plane's own changes.
    pub fn port_ids(&self) -> [u32; 2] {
        [self.conn.port_id, self.neigh.port_id]
    }

    /// Paces entry programming by the notification monitor's reading: at
    /// most about two windows of [`PACE_WINDOW`] batches are sent beyond
    /// what the monitor has read, so that plane's own notifications never
    /// overrun its monitor's socket.
    pub fn pace_with(&mut self, progress: Arc<monitor::Progress>) {
        self.progress = Some(progress);
    }

    async fn dump(
        &self,
        what: &'static str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, BackendError> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut stream = self
            .conn
            .handle
            .request(req, SocketAddr::new(0, 0))
            .map_err(|e| BackendError::Dump {
                what,
                why: e.to_string(),
            })?;
        let mut out = Vec::new();
        while let Some(m) = stream.next().await {
            match m.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(BackendError::Dump {
                        what,
                        why: errno_text(e.raw_code()),
                    })
                }
                _ => {}
            }
        }
        Ok(out)
    }

    async fn dump_links(&self) -> Result<Vec<(String, LinkObs, Option<u32>)>, BackendError> {
        let msgs = self
            .dump(
                "links",
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
            )
            .await?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => parse_link(&l),
                _ => None,
            })
            .collect())
    }

    async fn refresh_index(&mut self) -> Result<(), BackendError> {
        let links = self.dump_links().await?;
        self.index = links.into_iter().map(|(n, l, _)| (n, l.ifindex)).collect();
        Ok(())
    }

    fn ifindex(&self, name: &str) -> Result<u32, OpError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| OpError::NoDevice(name.to_string()))
    }

    async fn link_op(&mut self, op: &Op) -> Result<(), OpError> {
        // A device that appeared since the last dump (a container's veth):
        // refresh the index once before giving up.
        let (msg, flags) = match self.link_message(op) {
            Err(OpError::NoDevice(_)) => {
                self.refresh_index()
                    .await
                    .map_err(|e| OpError::Index(e.to_string()))?;
                self.link_message(op)?
            }
            r => r?,
        };
        let mut res = self.send_one(msg, flags).await;
        // ENODEV on anything but a delete: the cached index is stale, e.g. a
        // container's veth was deleted and made again under the same name
        // (endpoint del, then add). Refresh the index and retry once.
        if matches!(
            res,
            Err(OpError::Kernel {
                errno: libc::ENODEV
            })
        ) && !matches!(op, Op::DeleteLink { .. })
        {
            self.refresh_index()
                .await
                .map_err(|e| OpError::Index(e.to_string()))?;
            let (msg, flags) = self.link_message(op)?;
            res = self.send_one(msg, flags).await;
        }
        let res = match (op, res) {
            // Deleting what is already gone is success.
            (
                Op::DeleteLink { .. },
                Err(OpError::Kernel {
                    errno: libc::ENODEV,
                }),
            ) => Ok(()),
            (_, r) => r,
        };
        if res.is_ok()
            && matches!(
                op,
                Op::CreateBridge { .. } | Op::CreateVxlan(_) | Op::DeleteLink { .. }
            )
        {
            if let Err(e) = self.refresh_index().await {
                return Err(OpError::Index(e.to_string()));
            }
        }
        // IFLA_AF_SPEC/inet6 in the RTM_NEWLINK that creates the device is
        // refused with EAFNOSUPPORT (the device has no inet6_dev yet), and
        // IFLA_IFALIAS in it is ignored (6.18: the kernel applies the alias
        // in do_setlink only, which creation does not run; without this the
        // first link notifications showed plane's new devices unmarked and
        // a drift repair set the alias afterwards): set both right after
        // creation instead.
        if res.is_ok() {
            let created = match op {
                Op::CreateBridge { name, vni, .. } => Some((name.clone(), *vni)),
                Op::CreateVxlan(cfg) => Some((cfg.vxlan.clone(), cfg.vni)),
                _ => None,
            };
            if let Some((name, vni)) = created {
                for change in [
                    LinkChange::Alias(crate::state::owner_alias(vni)),
                    LinkChange::AddrGenNone,
                ] {
                    let set = Op::SetLink {
                        name: name.clone(),
                        change,
                    };
                    let (msg, flags) = self.link_message(&set)?;
                    self.send_one(msg, flags).await?;
                }
            }
        }
        res
    }

    /// Sends one link request and waits for its answer.
    async fn send_one(&self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), OpError> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = flags;
        let mut r = send_batch(self.conn.handle.clone(), vec![req]).await;
        r.pop().unwrap_or(Err(OpError::Closed))
    }

    fn link_message(&self, op: &Op) -> Result<(RouteNetlinkMessage, u16), OpError> {
        let create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        let set = NLM_F_REQUEST | NLM_F_ACK;
        Ok(match op {
            Op::DeleteLink { name } => {
                let m = LinkUnspec::new_with_index(self.ifindex(name)?).build();
                (RouteNetlinkMessage::DelLink(m), set)
            }
            Op::CreateBridge {
                vni,
                name,
                mac,
                mtu,
            } => {
                let m = LinkBridge::new(name)
                    .address(mac.octets().to_vec())
                    .mtu(*mtu)
                    .append_extra_attribute(LinkAttribute::IfAlias(crate::state::owner_alias(*vni)))
                    .build();
                (RouteNetlinkMessage::NewLink(m), create)
            }
            Op::CreateVxlan(cfg) => {
                let b = LinkVxlan::new(&cfg.vxlan, cfg.vni.get())
                    .port(cfg.port)
                    .learning(false);
                let b = match cfg.local_vtep {
                    IpAddr::V4(a) => b.local(a),
                    IpAddr::V6(a) => b.local6(a),
                };
                let m = b
                    .mtu(cfg.mtu)
                    .append_extra_attribute(LinkAttribute::IfAlias(crate::state::owner_alias(
                        cfg.vni,
                    )))
                    .build();
                (RouteNetlinkMessage::NewLink(m), create)
            }
            Op::SetLink { name, change } => {
                let b = LinkUnspec::new_with_index(self.ifindex(name)?);
                let m = match change {
                    LinkChange::Mtu(m) => b.mtu(*m).build(),
                    LinkChange::Master(master) => b.controller(self.ifindex(master)?).build(),
                    LinkChange::Up => b.up().build(),
                    LinkChange::Alias(a) => b
                        .append_extra_attribute(LinkAttribute::IfAlias(a.clone()))
                        .build(),
                    LinkChange::Mac(mac) => b.address(mac.octets().to_vec()).build(),
                    LinkChange::AddrGenNone => b.append_extra_attribute(addrgen_none()).build(),
                };
                (RouteNetlinkMessage::SetLink(m), set)
            }
            Op::SetPortFlags { name, flags } => {
                let m = LinkBridgePort::new(self.ifindex(name)?)
                    .learning(flags.learning)
                    .neigh_suppress(flags.neigh_suppress)
                    .flood(flags.flood)
                    .mcast_flood(flags.mcast_flood)
                    .bcast_flood(flags.bcast_flood)
                    .build();
                (RouteNetlinkMessage::NewLink(m), set)
            }
            _ => return Err(OpError::Internal("not a link operation")),
        })
    }

    fn entry_message(&self, op: &Op) -> Result<Msg, OpError> {
        let add = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        let del = NLM_F_REQUEST | NLM_F_ACK;
        let (inner, flags) = match op {
            Op::AddFdb { dev, mac, vtep, .. } => {
                let m = fdb_message(
                    self.ifindex(dev)?,
                    *mac,
                    Some(*vtep),
                    NeighbourFlags::Own | NeighbourFlags::Controller | NeighbourFlags::ExtLearned,
                );
                (RouteNetlinkMessage::NewNeighbour(m), add)
            }
            Op::DelFdb { dev, mac, .. } => {
                let m = fdb_message(
                    self.ifindex(dev)?,
                    *mac,
                    None,
                    NeighbourFlags::Own | NeighbourFlags::Controller,
                );
                (RouteNetlinkMessage::DelNeighbour(m), del)
            }
            Op::AddFlood { dev, vtep, .. } => {
                let m = fdb_message(
                    self.ifindex(dev)?,
                    Mac::ZERO,
                    Some(*vtep),
                    NeighbourFlags::Own | NeighbourFlags::ExtLearned,
                );
                (
                    RouteNetlinkMessage::NewNeighbour(m),
                    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
                )
            }
            Op::DelFlood { dev, vtep, .. } => {
                let m = fdb_message(
                    self.ifindex(dev)?,
                    Mac::ZERO,
                    Some(*vtep),
                    NeighbourFlags::Own,
                );
                (RouteNetlinkMessage::DelNeighbour(m), del)
            }
            Op::AddNeigh {
                bridge, ip, mac, ..
            } => {
                let m = neigh_message(self.ifindex(bridge)?, *ip, Some(*mac));
                (RouteNetlinkMessage::NewNeighbour(m), add)
            }
            Op::DelNeigh { bridge, ip, .. } => {
                let m = neigh_message(self.ifindex(bridge)?, *ip, None);
                (RouteNetlinkMessage::DelNeighbour(m), del)
            }
            _ => return Err(OpError::Internal("not an entry operation")),
        };
        let mut msg = NetlinkMessage::from(inner);
        msg.header.flags = flags;
        Ok(msg)
    }

    async fn entry_ops(&mut self, ops: &[&Op]) -> Vec<Result<(), OpError>> {
        let mut results: Vec<Option<Result<(), OpError>>> = vec![None; ops.len()];
        let missing = ops.iter().any(|op| match op {
            Op::AddFdb { dev, .. }
            | Op::DelFdb { dev, .. }
            | Op::AddFlood { dev, .. }
            | Op::DelFlood { dev, .. } => !self.index.contains_key(dev),
            Op::AddNeigh { bridge, .. } | Op::DelNeigh { bridge, .. } => {
                !self.index.contains_key(bridge)
            }
            _ => false,
        });
        if missing {
            let _ = self.refresh_index().await;
        }
        let mut sendable: Vec<(usize, Msg)> = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match self.entry_message(op) {
                Ok(m) => sendable.push((i, m)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        // IP neighbours on their own connection, concurrently with the rest.
        let split = self.opts.split;
        let (neigh, fdb): (Vec<_>, Vec<_>) = sendable.into_iter().partition(|(i, _)| {
            split && matches!(ops.get(*i), Some(Op::AddNeigh { .. } | Op::DelNeigh { .. }))
        });
        let (batch, in_flight) = (self.opts.batch, self.opts.in_flight);
        let (a, b) = futures::join!(
            send_entries(
                &mut self.conn,
                fdb,
                batch,
                in_flight,
                self.progress.as_deref()
            ),
            send_entries(
                &mut self.neigh,
                neigh,
                batch,
                in_flight,
                self.progress.as_deref()
            ),
        );
        for (i, r) in a.into_iter().chain(b) {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(r);
            }
        }
        // Deleting what is gone is success. A DelFdb whose bridge half is
        // gone fails as a whole (the kernel stops at the master): retry the
        // VXLAN half alone.
        let mut retry: Vec<(usize, Msg)> = Vec::new();
        for (i, r) in results.iter_mut().enumerate() {
            let Some(Err(OpError::Kernel { errno })) = r else {
                continue;
            };
            let gone = *errno == libc::ENOENT;
            let exists = *errno == libc::EEXIST;
            match ops.get(i) {
                Some(Op::DelFdb { dev, mac, .. }) if gone => {
                    if let Ok(idx) = self.ifindex(dev) {
                        let mut m = NetlinkMessage::from(RouteNetlinkMessage::DelNeighbour(
                            fdb_message(idx, *mac, None, NeighbourFlags::Own),
                        ));
                        m.header.flags = NLM_F_REQUEST | NLM_F_ACK;
                        retry.push((i, m));
                    }
                }
                Some(Op::DelNeigh { .. } | Op::DelFlood { .. }) if gone => *r = Some(Ok(())),
                Some(Op::AddFlood { .. }) if exists => *r = Some(Ok(())),
                _ => {}
            }
        }
        if !retry.is_empty() {
            let (idx, msgs): (Vec<usize>, Vec<Msg>) = retry.into_iter().unzip();
            let res = send_batch(self.conn.handle.clone(), msgs).await;
            for (i, r) in idx.into_iter().zip(res) {
                let r = match r {
                    Err(OpError::Kernel {
                        errno: libc::ENOENT,
                    }) => Ok(()),
                    r => r,
                };
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(OpError::Closed)))
            .collect()
    }
}

impl Backend for NetlinkBackend {
    async fn observe(&mut self) -> Result<Observed, BackendError> {
        let links = self.dump_links().await?;
        let by_index: HashMap<u32, String> = links
            .iter()
            .map(|(n, l, _)| (l.ifindex, n.clone()))
            .collect();
        self.index = links
            .iter()
            .map(|(n, l, _)| (n.clone(), l.ifindex))
            .collect();
        let mut obs = Observed::default();
        for (name, mut link, master) in links {
            link.master = master.and_then(|m| by_index.get(&m).cloned());
            obs.links.insert(name, link);
        }
        let is_vxlan = |i: u32| {
            by_index
                .get(&i)
                .and_then(|n| obs.links.get(n))
                .is_some_and(|l| matches!(l.kind, LinkKind::Vxlan { .. }))
        };
        let is_bridge = |i: u32| {
            by_index
                .get(&i)
                .and_then(|n| obs.links.get(n))
                .is_some_and(|l| l.kind == LinkKind::Bridge)
        };

        let mut bridge_q = NeighbourMessage::default();
        bridge_q.header.family = AddressFamily::Bridge;
        let fdb = self
            .dump("bridge fdb", RouteNetlinkMessage::GetNeighbour(bridge_q))
            .await?;
        let mut fdb_obs = std::collections::BTreeMap::new();
        let mut flood_obs = std::collections::BTreeMap::new();
        for m in fdb {
            let RouteNetlinkMessage::NewNeighbour(n) = m else {
                continue;
            };
            let Some(f) = parse_fdb(&n) else { continue };
            if !is_vxlan(f.ifindex) {
                continue;
            }
            let Some(dev) = by_index.get(&f.ifindex) else {
                continue;
            };
            if f.mac == Mac::ZERO {
                if let (Some(vtep), false) = (f.vtep, f.master_entry) {
                    flood_obs.insert((dev.clone(), vtep), f.ext_learned);
                }
                continue;
            }
            let e = fdb_obs.entry((dev.clone(), f.mac)).or_insert(FdbObs {
                vtep: None,
                master: false,
                owned: false,
            });
            // Either half carrying the mark makes the entry plane's: a half
            // left by a failed add (the kernel installs the bridge half
            // first) is then removed as stale.
            e.owned |= f.ext_learned;
            if f.master_entry {
                e.master = true;
            } else {
                e.vtep = f.vtep;
            }
        }
        obs.fdb = fdb_obs;
        obs.flood = flood_obs;

        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut q = NeighbourMessage::default();
            q.header.family = family;
            let what = if family == AddressFamily::Inet {
                "IPv4 neighbours"
            } else {
                "IPv6 neighbours"
            };
            for m in self
                .dump(what, RouteNetlinkMessage::GetNeighbour(q))
                .await?
            {
                let RouteNetlinkMessage::NewNeighbour(n) = m else {
                    continue;
                };
                let Some((ifindex, ip, obs_n)) = parse_neigh(&n) else {
                    continue;
                };
                if !is_bridge(ifindex) {
                    continue;
                }
                if let Some(br) = by_index.get(&ifindex) {
                    obs.neigh.insert((br.clone(), ip), obs_n);
                }
            }
        }
        Ok(obs)
    }

    async fn settle(&self) {
        if let Some(p) = &self.progress {
            if !p.wait_handed(p.now(), SETTLE_MAX_WAIT).await {
                debug!("notification monitor behind; not settled");
            }
        }
    }

    async fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), OpError>> {
        let mut results = Vec::with_capacity(ops.len());
        let mut i = 0;
        while i < ops.len() {
            if let Some(op) = ops.get(i).filter(|o| o.is_link_op()) {
                results.push(self.link_op(op).await);
                i += 1;
                continue;
            }
            let start = i;
            while ops.get(i).is_some_and(|o| !o.is_link_op()) {
                i += 1;
            }
            let slice: Vec<&Op> = ops.get(start..i).unwrap_or(&[]).iter().collect();
            results.extend(self.entry_ops(&slice).await);
        }
        results
    }
}

/// Sends one batch asking an ACK for its last message only (the kernel
/// answers every failing message anyway): per message, the kernel then
/// allocates nothing and plane parses nothing unless it fails. Returns
/// the sequence number of the last message, from which the others
/// follow (netlink-proto numbers a batch consecutively), and the
/// result of the last message.
async fn send_batch_last_ack(
    handle: ConnectionHandle<RouteNetlinkMessage>,
    mut msgs: Vec<Msg>,
) -> (usize, LastAnswer) {
    use netlink_proto::ReplyExpectation;
    let n = msgs.len();
    let last = n.saturating_sub(1);
    let tagged: Vec<(Msg, ReplyExpectation)> = msgs
        .drain(..)
        .enumerate()
        .map(|(i, mut m)| {
            if i == last {
                m.header.flags |= NLM_F_ACK;
                (m, ReplyExpectation::Expected)
            } else {
                m.header.flags &= !NLM_F_ACK;
                (m, ReplyExpectation::NotExpected)
            }
        })
        .collect();
    let Ok(mut stream) = handle.request_batch_with_expectation(tagged, SocketAddr::new(0, 0))
    else {
        return (n, None);
    };
    let mut answer = None;
    while let Some(m) = stream.next().await {
        if let NetlinkPayload::Error(e) = m.payload {
            let r = ack_result(e.code);
            answer = Some((m.header.sequence_number, r));
        }
    }
    (n, answer)
}

/// Sends one batch and returns one result per message.
async fn send_batch(
    handle: ConnectionHandle<RouteNetlinkMessage>,
    msgs: Vec<Msg>,
) -> Vec<Result<(), OpError>> {
    let sent = msgs.len();
    let mut stream = match handle.request_batch(msgs, SocketAddr::new(0, 0)) {
        Ok(s) => s,
        Err(_) => return vec![Err(OpError::Closed); sent],
    };
    let mut answers: Vec<(u32, Result<(), OpError>)> = Vec::with_capacity(sent);
    while let Some(m) = stream.next().await {
        if let NetlinkPayload::Error(e) = m.payload {
            let r = ack_result(e.code);
            answers.push((m.header.sequence_number, r));
        }
    }
    if answers.len() != sent {
        return vec![
            Err(OpError::Incomplete {
                sent,
                got: answers.len()
            });
            sent
        ];
    }
    // Sequence numbers of one batch are consecutive (netlink-proto
    // numbers messages in order); sorting restores message order.
    answers.sort_by_key(|(seq, _)| *seq);
    answers.into_iter().map(|(_, r)| r).collect()
}

/// Sends `msgs` (each tagged with its index in the caller's plan) on one
/// connection in batches, several in flight, paced by the monitor's
/// `progress` when there is one, and returns each index with its result.
async fn send_entries(
    conn: &mut Conn,
    msgs: Vec<(usize, Msg)>,
    batch: usize,
    in_flight: usize,
    progress: Option<&monitor::Progress>,
) -> Vec<(usize, Result<(), OpError>)> {
    let mut results = Vec::with_capacity(msgs.len());
    if msgs.is_empty() {
        return results;
    }
    let mut chunks: Vec<Vec<(usize, Msg)>> = {
        let mut v = Vec::new();
        let mut it = msgs.into_iter().peekable();
        while it.peek().is_some() {
            v.push(it.by_ref().take(batch.max(1)).collect::<Vec<_>>());
        }
        v
    };
    let handle = conn.handle.clone();
    let mut answered: Vec<(Vec<usize>, usize, LastAnswer)> = Vec::with_capacity(chunks.len());
    while !chunks.is_empty() {
        let rest = chunks.split_off(PACE_WINDOW.min(chunks.len()));
        let window = std::mem::replace(&mut chunks, rest);
        if let Some(p) = progress {
            // Everything queued before the previous window has been read.
            if let Some(t) = conn.window_start {
                if !p.wait_read(t, PACE_MAX_WAIT).await {
                    debug!("notification monitor behind; programming on");
                }
            }
            conn.window_start = Some(p.now());
        }
        let done: Vec<(Vec<usize>, usize, LastAnswer)> = stream::iter(window)
            .map(|chunk| {
                let handle = handle.clone();
                async move {
                    let (idx, msgs): (Vec<usize>, Vec<Msg>) = chunk.into_iter().unzip();
                    let (n, last) = send_batch_last_ack(handle, msgs).await;
                    (idx, n, last)
                }
            })
            .buffer_unordered(in_flight.max(1))
            .collect()
            .await;
        answered.extend(done);
    }
    // Every batch is answered: the errors of its other messages were
    // forwarded before its last answer (netlink-proto forwards
    // unsolicited messages first in each poll), so they are all queued.
    let mut errors: HashMap<u32, OpError> = HashMap::new();
    while let Ok((m, _)) = conn.unsolicited.try_recv() {
        if let NetlinkPayload::Error(e) = m.payload {
            if let Some(c) = e.code {
                errors.insert(
                    m.header.sequence_number,
                    OpError::Kernel {
                        errno: c.get().saturating_abs(),
                    },
                );
            }
        }
    }
    for (idx, n, last) in answered {
        let Some((last_seq, last_result)) = last else {
            results.extend(idx.into_iter().map(|i| (i, Err(OpError::Closed))));
            continue;
        };
        for (k, i) in idx.iter().enumerate() {
            let r = if k + 1 == n {
                last_result.clone()
            } else {
                let back = u32::try_from(n - 1 - k).unwrap_or(u32::MAX);
                match errors.remove(&last_seq.wrapping_sub(back)) {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            };
            results.push((*i, r));
        }
    }
    results
}

fn addrgen_none() -> LinkAttribute {
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
        In6AddrGenMode::None,
    )])])
}

fn errno_text(code: i32) -> String {
    std::io::Error::from_raw_os_error(code.saturating_abs()).to_string()
}

fn ip_attr(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(a) => NeighbourAddress::Inet(a),
        IpAddr::V6(a) => NeighbourAddress::Inet6(a),
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(a));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

fn fdb_message(
    ifindex: u32,
    mac: Mac,
    vtep: Option<IpAddr>,
    flags: NeighbourFlags,
) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::Other(NUD_STATIC);
    m.header.flags = flags;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.octets().to_vec()));
    if let Some(v) = vtep {
        m.attributes
            .push(NeighbourAttribute::Destination(ip_attr(v)));
    }
    m
}

fn neigh_message(ifindex: u32, ip: IpAddr, mac: Option<Mac>) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.ifindex = ifindex;
    m.attributes
        .push(NeighbourAttribute::Destination(ip_attr(ip)));
    if let Some(mac) = mac {
        m.header.state = NeighbourState::Noarp;
        m.header.flags = NeighbourFlags::ExtLearned;
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.octets().to_vec()));
        m.attributes
            .push(NeighbourAttribute::Protocol(RouteProtocol::from(
                PLANE_PROTOCOL,
            )));
    }
    m
}

/// Parses a link message: (name, link, master ifindex).
pub(crate) fn parse_link(l: &LinkMessage) -> Option<(String, LinkObs, Option<u32>)> {
    let mut name = None;
    let mut kind = LinkKind::Other(String::new());
    let mut mtu = 0;
    let mut master = None;
    let mut alias = None;
    let mut mac = None;
    let mut port_flags = None;
    let mut addrgen_none = false;
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::Controller(m) => master = Some(*m),
            LinkAttribute::IfAlias(s) => alias = Some(s.clone()),
            LinkAttribute::Address(b) => mac = Mac::from_slice(b),
            LinkAttribute::AfSpecUnspec(specs) => {
                for s in specs {
                    if let AfSpecUnspec::Inet6(v6) = s {
                        addrgen_none |= v6
                            .iter()
                            .any(|x| matches!(x, AfSpecInet6::AddrGenMode(In6AddrGenMode::None)));
                    }
                }
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(InfoKind::Bridge) => kind = LinkKind::Bridge,
                        LinkInfo::Kind(k) if !matches!(kind, LinkKind::Vxlan { .. }) => {
                            kind = LinkKind::Other(k.to_string());
                        }
                        LinkInfo::Data(InfoData::Vxlan(v)) => kind = parse_vxlan(v),
                        LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            port_flags = Some(parse_port(p))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let link = LinkObs {
        ifindex: l.header.index,
        kind,
        mtu,
        up: l.header.flags.contains(LinkFlags::Up),
        master: None,
        alias,
        mac,
        port_flags,
        addrgen_none,
    };
    Some((name?, link, master))
}

/// Port flags from IFLA_PROTINFO of an AF_BRIDGE link message, where
/// netlink-packet-route leaves most IFLA_BRPORT_* attributes untyped.
pub(crate) fn parse_protinfo(attrs: &[LinkAttribute]) -> Option<PortFlags> {
    use netlink_packet_core::Nla;
    use netlink_packet_route::link::LinkProtoInfoBridge;
    let infos = attrs.iter().find_map(|a| match a {
        LinkAttribute::ProtoInfoBridge(v) => Some(v),
        _ => None,
    })?;
    let mut f = PortFlags::NONE;
    for i in infos {
        let LinkProtoInfoBridge::Other(nla) = i else {
            continue;
        };
        if nla.value_len() != 1 {
            continue;
        }
        let mut v = [0u8; 1];
        nla.emit_value(&mut v);
        let on = v[0] != 0;
        match nla.kind() {
            8 => f.learning = on,
            9 => f.flood = on,
            27 => f.mcast_flood = on,
            30 => f.bcast_flood = on,
            32 => f.neigh_suppress = on,
            _ => {}
        }
    }
    Some(f)
}

fn parse_vxlan(v: &[InfoVxlan]) -> LinkKind {
    let (mut id, mut local, mut port, mut learning) = (0, None, 0, true);
    for x in v {
        match x {
            InfoVxlan::Id(i) => id = *i,
            InfoVxlan::Local(a) => local = Some(IpAddr::V4(*a)),
            InfoVxlan::Local6(a) => local = Some(IpAddr::V6(*a)),
            InfoVxlan::Port(p) => port = *p,
            InfoVxlan::Learning(l) => learning = *l,
            _ => {}
        }
    }
    LinkKind::Vxlan {
        id,
        local,
        port,
        learning,
    }
}

fn parse_port(p: &[InfoBridgePort]) -> PortFlags {
    let mut f = PortFlags::NONE;
    for x in p {
        match x {
            InfoBridgePort::Learning(v) => f.learning = *v,
            InfoBridgePort::NeighSupress(v) => f.neigh_suppress = *v,
            InfoBridgePort::UnicastFlood(v) => f.flood = *v,
            InfoBridgePort::MulticastFlood(v) => f.mcast_flood = *v,
            InfoBridgePort::BroadcastFlood(v) => f.bcast_flood = *v,
            _ => {}
        }
    }
    f
}

/// A parsed bridge-family FDB message.
pub(crate) struct FdbMsg {
    pub ifindex: u32,
    pub mac: Mac,
    pub master_entry: bool,
    pub ext_learned: bool,
    pub vtep: Option<IpAddr>,
}

pub(crate) fn parse_fdb(n: &NeighbourMessage) -> Option<FdbMsg> {
    if n.header.family != AddressFamily::Bridge {
        return None;
    }
    let mut mac = None;
    let mut vtep = None;
    let mut has_master_attr = false;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(b) => mac = Mac::from_slice(b),
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                vtep = Some(IpAddr::V4(*a))
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                vtep = Some(IpAddr::V6(*a))
            }
            // In AF_BRIDGE messages netlink-packet-route leaves NDA_DST raw.
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => vtep = ip_from_bytes(b),
            NeighbourAttribute::Controller(_) => has_master_attr = true,
            _ => {}
        }
    }
    let flags = n.header.flags;
    Some(FdbMsg {
        ifindex: n.header.ifindex,
        mac: mac?,
        // Master (bridge) entries are recognised by NDA_MASTER in dumps and
        // by NTF_MASTER in notifications (kernel.md).
        master_entry: has_master_attr
            || (flags.contains(NeighbourFlags::Controller) && !flags.contains(NeighbourFlags::Own)),
        ext_learned: flags.contains(NeighbourFlags::ExtLearned),
        vtep,
    })
}

pub(crate) fn parse_neigh(n: &NeighbourMessage) -> Option<(u32, IpAddr, NeighObs)> {
    let mut ip = None;
    let mut mac = None;
    let mut proto = None;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => ip = Some(IpAddr::V4(*a)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                ip = Some(IpAddr::V6(*a))
            }
            NeighbourAttribute::LinkLayerAddress(b) => mac = Mac::from_slice(b),
            NeighbourAttribute::Protocol(p) => proto = Some(u8::from(*p)),
            _ => {}
        }
    }
    let valid = matches!(
        n.header.state,
        NeighbourState::Noarp | NeighbourState::Permanent | NeighbourState::Reachable
    );
    Some((
        n.header.ifindex,
        ip?,
        NeighObs {
            mac,
            owned: proto == Some(PLANE_PROTOCOL),
            valid,
        },
    ))
}

/// The outcome an `NLMSG_ERROR` answer carries: no code is the ACK, a code
/// is the kernel's negative errno.
fn ack_result(code: Option<std::num::NonZeroI32>) -> Result<(), OpError> {
    match code {
        None => Ok(()),
        Some(c) => Err(OpError::Kernel {
            errno: c.get().saturating_abs(),
        }),
    }
}

pub mod echo_filter;
pub mod monitor;
pub use monitor::spawn_monitor;
