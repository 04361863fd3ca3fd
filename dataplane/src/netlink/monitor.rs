//! Kernel notifications (RTNLGRP_LINK, RTNLGRP_NEIGH) as [`Notification`]s.
//!
//! A raw netlink socket with a 64 MiB receive buffer (SO_RCVBUFFORCE): the
//! default overflows under load. ENOBUFS becomes [`Notification::Overrun`],
//! which the task answers with a resync by dump.
//!
//! The socket is read by a dedicated thread in blocking `recvmmsg` calls, up
//! to [`SLOTS`] datagrams per call: every notification is its own datagram,
//! and plane's own programming echoes two to three of them per entry, so one
//! system call and one wake-up per notification (a tokio socket: epoll plus
//! `recvfrom`) was the monitor's main cost. What one call reads goes to the
//! task as one batch: one wake-up of the task per batch, not per
//! notification; while the task is busy, batches grow (see [`read_loop`]).
//! The thread exits when the task is gone (checked at least every
//! [`IDLE_CHECK`]).
//!
//! Neighbour messages, the bulk (three per remote MAC+IP programmed), are
//! decoded here without allocation ([`decode_neigh`]: only the fields plane
//! uses), and additions carrying plane's marks, which are its own
//! programming echoed back, are dropped before anything else happens; most
//! never arrive: a socket filter ([`super::echo_filter`]) drops them in the
//! kernel, so the decode below is the second line, not the hot path. Link
//! messages are rare and decoded by netlink-packet-route. Never panics on
//! any input: every read is bounds-checked.

use std::io::IoSliceMut;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders};
use tokio::sync::{mpsc, Notify};
use tracing::warn;

use super::{parse_link, parse_protinfo, PLANE_PROTOCOL, RCVBUF};
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

/// Datagrams read per `recvmmsg`.
pub const SLOTS: usize = 64;
/// Bytes per datagram slot: a neighbour notification takes about 100, a link
/// notification a few KiB. A longer one arrives truncated (MSG_TRUNC) and is
/// answered like an overrun: a resync by dump.
const SLOT_BYTES: usize = 16 << 10;
/// Notifications held by the reader while the channel is full (about 50
/// bytes each): together with the channel and the socket's buffer, what a
/// busy task can fall behind by before notifications are lost.
pub const MAX_PENDING: usize = 1 << 18;
/// How often (ms) the reader retries handing notifications to a busy task
/// when the socket is quiet.
const RETRY_MS: u8 = 5;
/// After a read that emptied the socket while notifications were flowing,
/// the reader waits this long before reading again, instead of sleeping in
/// the socket: every notification that arrives while a reader sleeps in the
/// socket costs the sender a wake-up of the reader (a cross-CPU interrupt
/// on a VM), and a burst of plane's own programming sends hundreds of
/// thousands. Notifications are at most this much later for it.
const COALESCE: Duration = Duration::from_micros(200);
/// How long an idle reader waits before checking whether the task is gone.
pub const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How far the reader has got, shared with the backend.
///
/// - Pacing: the kernel queues two notifications per removed FDB entry or
///   neighbour on the monitor's socket in the programming thread's
///   `sendmsg`; a reader starved of CPU would let the socket overrun, which
///   costs a full resync by dump. The backend waits, between windows of
///   batches, until everything queued before the previous window has been
///   read ([`Progress::wait_read`]).
/// - Settling: after executing a plan the task waits until the echoes of
///   its own operations are in its channel ([`Progress::wait_handed`]) and
///   takes them before anything else, so that an echo is never mistaken
///   for drift by a later plan (a deletion echo read after the same entry
///   was added again would look like a deletion behind plane's back).
#[derive(Debug)]
pub struct Progress {
    epoch: Instant,
    /// [`Progress::now`] at the start of the last read that emptied the
    /// socket: every notification queued before it has been read.
    read_at: AtomicU64,
    /// Likewise, and everything read up to then has been handed to the task.
    handed_at: AtomicU64,
    /// [`BUSY`], [`SOCKET_EMPTY`] or [`IDLE`].
    state: AtomicU8,
    changed: Notify,
}

/// The reader is reading or handing over.
const BUSY: u8 = 0;
/// The socket is empty; notifications wait for room in the channel.
const SOCKET_EMPTY: u8 = 1;
/// The socket is empty and everything has been handed over (or the reader
/// has stopped).
const IDLE: u8 = 2;

impl Progress {
    fn new() -> Progress {
        Progress {
            epoch: Instant::now(),
            read_at: AtomicU64::new(0),
            handed_at: AtomicU64::new(0),
            state: AtomicU8::new(BUSY),
            changed: Notify::new(),
        }
    }

    /// A timestamp for the waits.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn read_up_to(&self, since: u64) {
        self.read_at.fetch_max(since, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn handed_up_to(&self, since: u64) {
        self.read_at.fetch_max(since, Ordering::Release);
        self.handed_at.fetch_max(since, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Release);
        if state != BUSY {
            self.changed.notify_waiters();
        }
    }

    /// Waits until every notification queued before `since` has been read
    /// from the socket, at most `max`; true when it has.
    pub async fn wait_read(&self, since: u64, max: Duration) -> bool {
        self.wait(max, || {
            self.state.load(Ordering::Acquire) != BUSY
                || self.read_at.load(Ordering::Acquire) >= since
        })
        .await
    }

    /// Waits until every notification queued before `since` has been handed
    /// to the task's channel, at most `max`; true when it has.
    pub async fn wait_handed(&self, since: u64, max: Duration) -> bool {
        self.wait(max, || {
            self.state.load(Ordering::Acquire) == IDLE
                || self.handed_at.load(Ordering::Acquire) >= since
        })
        .await
    }

    async fn wait(&self, max: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done();
            }
        }
    }
}

/// Subscribes and forwards notifications on `tx` until it closes; the echo
/// filter drops neighbour changes stamped with `own_pids` (the backend's
/// [`super::NetlinkBackend::port_ids`]). The socket is opened in the calling
/// thread's network namespace. The returned
/// [`Progress`] is for the backend's pacing.
pub fn spawn_monitor(
    tx: mpsc::Sender<Vec<Notification>>,
    own_pids: &[u32],
) -> Result<Arc<Progress>, BackendError> {
    let sock_err = |e: std::io::Error| BackendError::Socket(format!("notification socket: {e}"));
    let mut sock = Socket::new(netlink_sys::protocols::NETLINK_ROUTE).map_err(sock_err)?;
    let groups = (1 << (RTNLGRP_LINK - 1)) | (1 << (RTNLGRP_NEIGH - 1));
    sock.bind(&SocketAddr::new(0, groups)).map_err(sock_err)?;
    {
        use nix::sys::socket::{setsockopt, sockopt};
        setsockopt(&sock, sockopt::RcvBufForce, &RCVBUF)
            .map_err(|e| BackendError::Socket(format!("SO_RCVBUFFORCE {RCVBUF}: {e}")))?;
    }
    socket2::SockRef::from(&sock)
        .set_read_timeout(Some(IDLE_CHECK))
        .map_err(sock_err)?;
    // Before the first message can matter: plane's own additions are then
    // never queued (the decode below still drops any that get through).
    super::echo_filter::attach(&sock, own_pids)
        .map_err(|e| BackendError::Socket(format!("notification socket filter: {e}")))?;
    let progress = Arc::new(Progress::new());
    let reader = progress.clone();
    std::thread::Builder::new()
        .name("plane-nlmon".into())
        .spawn(move || {
            read_loop(&sock, &tx, &reader);
            // Nobody reads any more: never make the backend wait.
            reader.set_state(IDLE);
        })
        .map_err(|e| BackendError::Socket(format!("notification thread: {e}")))?;
    Ok(progress)
}

/// What one `recvmmsg` slot received.
struct Received {
    len: usize,
    truncated: bool,
}

/// Reads until the task is gone or the socket fails.
///
/// While the task is busy (it reads no notifications while it programs a
/// large plan), what is read piles up in `pending` instead of waiting for
/// room in the channel: the kernel socket keeps being drained (its overrun
/// costs a full resync), and the next batch the task takes is one large
/// one. `pending` is bounded by [`MAX_PENDING`]; beyond it the reader waits.
fn read_loop(sock: &Socket, tx: &mpsc::Sender<Vec<Notification>>, progress: &Progress) {
    let mut reader = Reader::new(sock);
    let mut pending: Vec<Notification> = Vec::new();
    let mut coalesce = false;
    loop {
        let start = progress.now();
        let mut r = reader.read(MsgFlags::MSG_DONTWAIT);
        // This read found the socket empty: everything queued before it
        // started is read (and handed over once `pending` is).
        let emptied = matches!(r, Ok(n) if n < SLOTS) || r == Err(Errno::EAGAIN);
        if emptied {
            progress.read_up_to(start);
        }
        if r == Err(Errno::EAGAIN) {
            if !pending.is_empty() {
                match tx.try_send(std::mem::take(&mut pending)) {
                    Ok(()) => progress.handed_up_to(start),
                    Err(mpsc::error::TrySendError::Full(p)) => {
                        // The task is busy (perhaps executing a plan paced
                        // by this reader: never block on it here). Look
                        // again soon, or as soon as the socket has data.
                        pending = p;
                        progress.set_state(SOCKET_EMPTY);
                        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
                        let _ = poll(&mut fds, PollTimeout::from(RETRY_MS));
                        progress.set_state(BUSY);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
                continue;
            }
            // Nothing queued, nothing pending: sleep in the socket until
            // something comes (or IDLE_CHECK passes).
            progress.handed_up_to(start);
            progress.set_state(IDLE);
            r = reader.read(MsgFlags::MSG_WAITFORONE);
            progress.set_state(BUSY);
        }
        match r {
            Ok(n) => {
                reader.decode_into(&mut pending);
                if n < SLOTS {
                    coalesce = true;
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {
                if tx.is_closed() {
                    return;
                }
                continue;
            }
            Err(Errno::ENOBUFS) => pending.push(Notification::Overrun),
            Err(e) => {
                warn!(%e, "notification socket failed; drift is no longer detected");
                return;
            }
        }
        let sent = if pending.is_empty() {
            true
        } else if pending.len() >= MAX_PENDING {
            if tx.blocking_send(std::mem::take(&mut pending)).is_err() {
                return;
            }
            true
        } else {
            match tx.try_send(std::mem::take(&mut pending)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(p)) => {
                    pending = p;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        };
        if sent && emptied {
            progress.handed_up_to(start);
        }
        if std::mem::take(&mut coalesce) {
            std::thread::sleep(COALESCE);
        }
    }
}

/// `recvmmsg` into [`SLOTS`] preallocated buffers.
struct Reader<'s> {
    sock: &'s Socket,
    bufs: Vec<Vec<u8>>,
    headers: MultiHeaders<()>,
    got: Vec<Received>,
}

impl<'s> Reader<'s> {
    fn new(sock: &'s Socket) -> Reader<'s> {
        Reader {
            sock,
            bufs: (0..SLOTS).map(|_| vec![0u8; SLOT_BYTES]).collect(),
            headers: MultiHeaders::<()>::preallocate(SLOTS, None),
            got: Vec::with_capacity(SLOTS),
        }
    }

    /// One `recvmmsg`; the number of datagrams read.
    fn read(&mut self, flags: MsgFlags) -> Result<usize, Errno> {
        self.got.clear();
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(b.as_mut_slice())])
            .collect();
        let got = &mut self.got;
        recvmmsg(
            self.sock.as_raw_fd(),
            &mut self.headers,
            iovs.iter_mut(),
            flags,
            None,
        )
        .map(|msgs| {
            got.extend(msgs.map(|m| Received {
                len: m.bytes,
                truncated: m.flags.contains(MsgFlags::MSG_TRUNC),
            }))
        })?;
        Ok(self.got.len())
    }

    /// Decodes what the last read got.
    fn decode_into(&self, out: &mut Vec<Notification>) {
        for (slot, r) in self.bufs.iter().zip(&self.got) {
            if r.truncated {
                warn!(
                    bytes = r.len,
                    "kernel notification longer than {SLOT_BYTES} bytes: resync by dump"
                );
                out.push(Notification::Overrun);
                continue;
            }
            out.extend(messages(slot.get(..r.len).unwrap_or(&[])).filter_map(decode));
        }
    }
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

    #[tokio::test(start_paused = true)]
    async fn progress_waits_for_the_reader_and_gives_up_at_the_bound() {
        let p = Arc::new(Progress::new());
        let max = Duration::from_millis(200);
        let t = p.now();
        // Nothing read since t: the wait ends at the bound, unmet.
        assert!(!p.wait_read(t, max).await);
        // The reader emptied the socket after t: met at once.
        p.read_up_to(t + 1);
        assert!(p.wait_read(t, max).await);
        // Read is not handed over: the task's own echoes may still be in
        // the reader's hands.
        assert!(!p.wait_handed(t, max).await);
        // Handed over by another thread while waiting.
        let q = p.clone();
        let waiter = tokio::spawn(async move { q.wait_handed(t, Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        p.handed_up_to(t + 1);
        assert!(waiter.await.unwrap());
        // An idle reader (asleep in the socket, nothing pending) satisfies
        // both waits; a reader holding notifications only the read wait.
        let later = p.now() + 1_000_000;
        p.set_state(SOCKET_EMPTY);
        assert!(p.wait_read(later, max).await);
        assert!(!p.wait_handed(later, max).await);
        p.set_state(IDLE);
        assert!(p.wait_handed(later, max).await);
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
