//! The BGP speaker: the one task that owns the listeners, the peer tasks and
//! the [`Rib`], and the [`SpeakerHandle`] the daemon and its CLI talk to.
//!
//! ```text
//!   SpeakerHandle ──Request (oneshot reply)──▶ ┌─────────────┐ ◀── accept tasks (one per listen address)
//!                                              │ speaker task│ ──PeerCommand──▶ peer tasks (session::)
//!   dataplane ◀──Vec<RibEvent> (bounded)────── │  owns Rib   │ ◀──PeerEvent──── (one per neighbour)
//!                                              └─────────────┘
//! ```
//!
//! Flow of routes: a peer task decodes an UPDATE and sends it here; the RIB
//! applies it; the RIB's dataplane events go out on the bounded event
//! channel; routes to advertise are pulled per peer with
//! [`Rib::take_outgoing`], encoded for that peer's session and handed to
//! its task one batch at a time (the next batch only after `Drained`), so a
//! slow peer only grows its own pending set in the RIB.
//!
//! Sessions going down: everything the peer sent is withdrawn, except when
//! it negotiated graceful restart for EVPN and the connection was lost
//! without a NOTIFICATION (RFC 4724 helper): then its routes stay as stale
//! until its End-of-RIB or its restart time, whichever comes first.
//!
//! Start-up window ([`startup`], RFC 4724 section 4.1): until every
//! neighbour sent its End-of-RIB or the selection deferral bound passed.
//! The embedder learns its end from [`SpeakerHandle::initial_sync`]; a
//! restarting speaker (R bit) keeps its own UPDATEs and End-of-RIB back
//! meanwhile (the per-peer queues wait in the RIB), while routes received
//! are applied and reach the dataplane stream as they come: the kernel's
//! adopted state is only added to, its stale part is removed by the
//! embedder after the window. When the deferral ends, the restart is over:
//! every peer task gets FSM settings without the R bit, so that a session
//! that comes back later opens with R=0.
//!
//! What it never does: block on a peer (commands use `try_send`), touch the
//! kernel (the dataplane consumes the events), or share the RIB.

mod handle;
mod startup;

pub use handle::{
    InitialSync, NeighborConfig, NeighborStatus, SpeakerConfig, SpeakerError, SpeakerHandle,
};

use crate::fsm::{admin_shutdown, DownReason, FsmConfig, State};
use crate::rib::{PeerId, PeerInfo, Rib, RibConfig, RibEvent};
use crate::session::transport::{listen, set_listener_key};
use crate::session::{spawn_peer, PeerCommand, PeerConfig, PeerEvent, SessionId, TcpConnector};
use crate::wire::{afi, encode_evpn_reach, encode_evpn_unreach, end_of_rib, safi, SessionParams};
use bytes::Bytes;
use handle::Request;
use startup::{PeerSync, Startup};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Route changes per batch handed to a peer task (a few hundred KB encoded).
const BATCH_ROUTES: usize = 4096;
/// Capacity of the channel of dataplane event batches.
const EVENT_BATCHES: usize = 256;
/// How long shutdown waits for peers to send their Cease.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Starts the speaker: binds the listen addresses, starts every neighbour.
/// Returns the handle, the dataplane event stream and the task.
pub async fn start(
    config: SpeakerConfig,
) -> Result<(SpeakerHandle, mpsc::Receiver<Vec<RibEvent>>, JoinHandle<()>), SpeakerError> {
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let l = listen(*addr).map_err(|source| SpeakerError::Listen {
            addr: *addr,
            source,
        })?;
        listeners.push(Arc::new(l));
    }
    let (req_tx, req_rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_BATCHES);
    let (peer_tx, peer_rx) = mpsc::channel(1024);
    let (accept_tx, accept_rx) = mpsc::channel(64);
    let mut accept_tasks = Vec::new();
    for l in &listeners {
        let l = Arc::clone(l);
        let tx = accept_tx.clone();
        accept_tasks.push(tokio::spawn(async move { accept_loop(l, tx).await }));
    }
    let mut rib = Rib::new(RibConfig {
        local_asn: config.asn,
        router_id: config.router_id,
        cluster_id: config.cluster_id,
        vtep: config.vtep,
        vnis: config.vnis.clone(),
    });
    rib.set_duplicate_mac_detection(config.duplicate_mac);
    let neighbors = config.neighbors.clone();
    let startup = Startup::new(
        Instant::now(),
        config.selection_deferral,
        config.graceful_restart.is_some_and(|gr| gr.restarting),
        !neighbors.is_empty(),
    );
    let mut speaker = Speaker {
        config,
        rib,
        listeners,
        accept_tasks,
        peers: HashMap::new(),
        next_id: 0,
        peer_tx,
        events: ev_tx,
        startup,
    };
    for n in neighbors {
        speaker.add_neighbor(n)?;
    }
    let task = tokio::spawn(speaker.run(req_rx, peer_rx, accept_rx));
    Ok((SpeakerHandle::new(req_tx), ev_rx, task))
}

async fn accept_loop(listener: Arc<TcpListener>, tx: mpsc::Sender<(TcpStream, SocketAddr)>) {
    loop {
        match listener.accept().await {
            Ok((s, addr)) => {
                if tx.send((s, addr)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!("accept on {:?}: {e}", listener.local_addr().ok());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

struct Peer {
    config: NeighborConfig,
    id: PeerId,
    tx: mpsc::Sender<PeerCommand>,
    task: JoinHandle<()>,
    state: State,
    /// The Established session and its codec parameters.
    session: Option<(SessionId, SessionParams)>,
    established_at: Option<Instant>,
    last_error: Option<String>,
    /// The peer task has no batch in hand: it may get the next one.
    ready: bool,
    /// Graceful restart helper: when the stale routes go.
    stale_deadline: Option<Instant>,
    /// The peer's restart time when it negotiated GR for EVPN, else 0.
    gr_restart_time: u16,
    /// End-of-RIB for EVPN received on the current session.
    end_of_rib: bool,
    /// End-of-RIB for EVPN received in any session since the start.
    end_of_rib_since_start: bool,
    /// Established without GR capability or with the R bit: a restarting
    /// speaker does not wait for its End-of-RIB (RFC 4724 section 4.1).
    not_awaited: bool,
    /// The task's FSM settings are older than the speaker's (the restart
    /// ended: the R bit must go; timers changed) and its queue had no room
    /// for them yet.
    fsm_outdated: bool,
}

struct Speaker {
    config: SpeakerConfig,
    rib: Rib,
    listeners: Vec<Arc<TcpListener>>,
    accept_tasks: Vec<JoinHandle<()>>,
    peers: HashMap<IpAddr, Peer>,
    next_id: u32,
    peer_tx: mpsc::Sender<PeerEvent>,
    events: mpsc::Sender<Vec<RibEvent>>,
    startup: Startup,
}

/// The FSM settings of neighbour `n`'s sessions under the speaker's
/// configuration as it is now (the R bit included).
fn fsm_config(config: &SpeakerConfig, n: &NeighborConfig) -> FsmConfig {
    let mut fsm = FsmConfig::evpn(config.asn, config.router_id, n.remote_asn);
    fsm.hold_time = n.hold_time.unwrap_or(config.hold_time);
    fsm.keepalive = config.keepalive;
    fsm.connect_retry_time = config.connect_retry;
    fsm.passive = n.passive;
    fsm.graceful_restart = config.graceful_restart;
    fsm
}

/// IPv4-mapped IPv6 (from a dual-stack listener) as plain IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

impl Speaker {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut peer_events: mpsc::Receiver<PeerEvent>,
        mut accepted: mpsc::Receiver<(TcpStream, SocketAddr)>,
    ) {
        loop {
            let stale = self.peers.values().filter_map(|p| p.stale_deadline).min();
            let startup = self.startup.deadline();
            tokio::select! {
                req = requests.recv() => match req {
                    Some(Request::Shutdown { message, reply }) => {
                        self.shutdown(&message, peer_events).await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(req) => self.request(req),
                    None => {
                        self.shutdown("speaker handle dropped", peer_events).await;
                        return;
                    }
                },
                Some(ev) = peer_events.recv() => {
                    self.peer_event(ev);
                    // Drain what is queued before pumping, to batch work.
                    while let Ok(ev) = peer_events.try_recv() {
                        self.peer_event(ev);
                    }
                }
                Some((stream, addr)) = accepted.recv() => self.accepted(stream, addr),
                _ = async {
                    match stale {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => self.expire_stale(),
                _ = async {
                    match startup {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
            self.check_startup();
            self.push_fsm_config();
            self.publish().await;
            self.pump();
        }
    }

    fn request(&mut self, req: Request) {
        // The RIB's clock (RFC 7432 15.1 move counting), before each input.
        self.rib.tick(Instant::now().into_std());
        match req {
            Request::Routes { filter, reply } => {
                let _ = reply.send(self.rib.routes(&filter));
            }
            Request::Neighbors { reply } => {
                let _ = reply.send(self.neighbors());
            }
            Request::OriginateMacIp {
                vni,
                mac,
                ip,
                reply,
            } => {
                let r = self
                    .rib
                    .originate_mac_ip(vni, mac, ip, 0, false)
                    .map_err(SpeakerError::Rib);
                let _ = reply.send(r);
            }
            Request::WithdrawMacIp {
                vni,
                mac,
                ip,
                reply,
            } => {
                let _ = reply.send(
                    self.rib
                        .withdraw_mac_ip(vni, mac, ip)
                        .map_err(SpeakerError::Rib),
                );
            }
            Request::OriginateImet { vni, reply } => {
                let _ = reply.send(self.rib.originate_imet(vni).map_err(SpeakerError::Rib));
            }
            Request::WithdrawImet { vni, reply } => {
                let _ = reply.send(self.rib.withdraw_imet(vni).map_err(SpeakerError::Rib));
            }
            Request::SetVnis { vnis, reply } => {
                self.rib.set_vnis(vnis);
                let _ = reply.send(());
            }
            Request::AddNeighbor { neighbor, reply } => {
                let _ = reply.send(self.add_neighbor(neighbor));
            }
            Request::RemoveNeighbor { address, reply } => {
                let _ = reply.send(self.remove_neighbor(address));
            }
            Request::InitialSync { reply } => self.startup.wait(reply),
            Request::DuplicateMacs { reply } => {
                let _ = reply.send(self.rib.duplicate_macs());
            }
            Request::SetDuplicateMacDetection { detection, reply } => {
                self.rib.set_duplicate_mac_detection(detection);
                self.config.duplicate_mac = detection;
                let _ = reply.send(());
            }
            Request::SetSessionTimers {
                hold_time,
                keepalive,
                connect_retry,
                reply,
            } => {
                self.config.hold_time = hold_time;
                self.config.keepalive = keepalive;
                self.config.connect_retry = connect_retry;
                // Handed to every peer task after this turn (push_fsm_config).
                for p in self.peers.values_mut() {
                    p.fsm_outdated = true;
                }
                info!(
                    hold_time,
                    ?connect_retry,
                    "session timers changed: next OPEN and next connection attempt"
                );
                let _ = reply.send(());
            }
            Request::SetNeighborHoldTime {
                address,
                hold_time,
                reply,
            } => {
                let address = canonical(address);
                let r = match self.peers.get_mut(&address) {
                    Some(p) => {
                        p.config.hold_time = hold_time;
                        p.fsm_outdated = true;
                        info!(peer = %address, ?hold_time, "neighbour hold time changed: next OPEN");
                        Ok(())
                    }
                    None => Err(SpeakerError::UnknownNeighbor(address)),
                };
                let _ = reply.send(r);
            }
            Request::Shutdown { .. } => {}
        }
    }

    /// Lets the start-up window see the neighbours as they are now.
    fn check_startup(&mut self) {
        if self.startup.deadline().is_none() {
            return;
        }
        let peers: Vec<PeerSync> = self
            .peers
            .values()
            .map(|p| PeerSync {
                address: p.config.address,
                end_of_rib: p.end_of_rib_since_start,
                not_awaited: p.session.is_some() && p.not_awaited,
            })
            .collect();
        if self.startup.check(Instant::now(), &peers) {
            // Restart over (RFC 4724 section 4.1: the Restart State bit is
            // set only while restarting): OPENs sent from now on, by
            // neighbours added later and by sessions that come back, carry
            // R=0. A session's OPEN already sent keeps what it said.
            if let Some(gr) = self.config.graceful_restart.as_mut() {
                gr.restarting = false;
            }
            info!("graceful restart over: later OPENs no longer set the Restart State bit");
            for p in self.peers.values_mut() {
                p.fsm_outdated = true;
            }
        }
    }

    /// Hands the current FSM settings to every peer task that has not got
    /// them yet; a task whose queue is full gets them at a later turn.
    fn push_fsm_config(&mut self) {
        for p in self.peers.values_mut() {
            if !p.fsm_outdated {
                continue;
            }
            let fsm = fsm_config(&self.config, &p.config);
            match p.tx.try_send(PeerCommand::SetConfig(fsm)) {
                Ok(()) => p.fsm_outdated = false,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    debug!(peer = %p.config.address, "peer task queue full: FSM settings sent later");
                }
                // The task is gone: nothing will open a session any more.
                Err(mpsc::error::TrySendError::Closed(_)) => p.fsm_outdated = false,
            }
        }
    }

    fn add_neighbor(&mut self, n: NeighborConfig) -> Result<(), SpeakerError> {
        let address = canonical(n.address);
        if self.peers.contains_key(&address) {
            return Err(SpeakerError::DuplicateNeighbor(address));
        }
        if let Some(password) = n.password.as_deref() {
            for l in &self.listeners {
                set_listener_key(l, address, Some(password)).map_err(SpeakerError::Md5)?;
            }
        }
        let fsm = fsm_config(&self.config, &n);
        let peer_config = PeerConfig {
            address,
            port: n.port,
            local_address: n.local_address,
            password: n.password.clone(),
            route_reflector_client: n.route_reflector_client,
            fsm,
        };
        let connector = Arc::new(TcpConnector {
            remote: SocketAddr::new(address, n.port),
            local: n.local_address,
            password: n.password.clone(),
        });
        let (tx, task) = spawn_peer(peer_config, connector, self.peer_tx.clone());
        // The channel is fresh: this cannot fail for lack of room.
        let _ = tx.try_send(PeerCommand::Start);
        self.next_id = self.next_id.wrapping_add(1);
        info!(%address, remote_as = n.remote_asn, passive = n.passive, "neighbour added");
        self.peers.insert(
            address,
            Peer {
                config: NeighborConfig { address, ..n },
                id: PeerId(self.next_id),
                tx,
                task,
                state: State::Idle,
                session: None,
                established_at: None,
                last_error: None,
                ready: false,
                stale_deadline: None,
                gr_restart_time: 0,
                end_of_rib: false,
                end_of_rib_since_start: false,
                not_awaited: false,
                fsm_outdated: false,
            },
        );
        Ok(())
    }

    fn remove_neighbor(&mut self, address: IpAddr) -> Result<(), SpeakerError> {
        let address = canonical(address);
        let p = self
            .peers
            .remove(&address)
            .ok_or(SpeakerError::UnknownNeighbor(address))?;
        // Dropping the command sender stops the task with Cease / Peer
        // De-configured; its last events are ignored (no longer a peer).
        drop(p.tx);
        self.rib.peer_remove(p.id);
        if p.config.password.is_some() {
            for l in &self.listeners {
                if let Err(e) = set_listener_key(l, address, None) {
                    debug!("removing TCP-MD5 key of {address}: {e}");
                }
            }
        }
        info!(%address, "neighbour removed");
        Ok(())
    }

    fn accepted(&mut self, stream: TcpStream, addr: SocketAddr) {
        let ip = canonical(addr.ip());
        let Some(p) = self.peers.get(&ip) else {
            info!(%addr, "connection from an address that is not a neighbour: closed");
            return;
        };
        let _ = stream.set_nodelay(true);
        if p.tx
            .try_send(PeerCommand::Incoming(Box::new(stream)))
            .is_err()
        {
            warn!(%addr, "peer task busy: incoming connection dropped");
        }
    }

    fn peer_event(&mut self, ev: PeerEvent) {
        self.rib.tick(Instant::now().into_std());
        let peer = match &ev {
            PeerEvent::StateChanged { peer, .. }
            | PeerEvent::Established { peer, .. }
            | PeerEvent::Down { peer, .. }
            | PeerEvent::Update { peer, .. }
            | PeerEvent::Withdraw { peer, .. }
            | PeerEvent::RouteRefresh { peer, .. }
            | PeerEvent::Drained { peer, .. }
            | PeerEvent::Error { peer, .. } => *peer,
        };
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let current = |p: &Peer, s: SessionId| p.session.is_some_and(|(id, _)| id == s);
        match ev {
            PeerEvent::StateChanged { state, .. } => p.state = state,
            PeerEvent::Established {
                session,
                negotiated,
                ..
            } => {
                let gr_helper = negotiated.peer_restarts_gracefully(afi::L2VPN, safi::EVPN);
                let info = PeerInfo {
                    addr: peer,
                    asn: negotiated.peer_asn,
                    router_id: negotiated.peer_id,
                    ibgp: negotiated.peer_asn == self.config.asn,
                    rr_client: p.config.route_reflector_client,
                    gr_helper,
                };
                p.gr_restart_time = if gr_helper {
                    negotiated.peer_restart_time()
                } else {
                    0
                };
                p.not_awaited = negotiated
                    .peer_graceful_restart
                    .as_ref()
                    .is_none_or(|gr| gr.restarting);
                p.end_of_rib = false;
                p.session = Some((session, negotiated.params));
                p.established_at = Some(Instant::now());
                p.ready = true;
                p.state = State::Established;
                self.rib.peer_up(p.id, info);
                // RFC 4724 section 4.2, the peer's stale routes once it is
                // back: kept until its End-of-RIB, at most the stale time,
                // if it preserved forwarding state for EVPN; removed at
                // once otherwise.
                if p.stale_deadline.is_some() {
                    let preserved = negotiated.peer_graceful_restart.as_ref().is_some_and(|gr| {
                        gr.families.iter().any(|f| {
                            f.afi == afi::L2VPN && f.safi == safi::EVPN && f.forwarding_preserved
                        })
                    });
                    if preserved {
                        info!(
                            %peer,
                            stale_time = ?self.config.stale_time,
                            "restarting peer is back: keeping its stale routes until its End-of-RIB"
                        );
                        p.stale_deadline = Some(Instant::now() + self.config.stale_time);
                    } else {
                        info!(%peer, "peer back without preserved forwarding state: withdrawing its stale routes");
                        p.stale_deadline = None;
                        self.rib.stale_expired(p.id);
                    }
                }
            }
            PeerEvent::Down {
                session, reason, ..
            } => {
                if !current(p, session) {
                    return;
                }
                // RFC 4724 section 4.2: keep the routes only when the
                // connection was lost (no NOTIFICATION) and the peer asked.
                let restart_time = match reason {
                    DownReason::ConnectionLost => p.gr_restart_time,
                    _ => 0,
                };
                let keep_stale = restart_time > 0;
                p.session = None;
                p.end_of_rib = false;
                p.established_at = None;
                p.ready = false;
                p.last_error = Some(reason.to_string());
                if keep_stale {
                    info!(%peer, restart_time, "graceful restart helper: keeping the peer's routes as stale");
                    p.stale_deadline =
                        Some(Instant::now() + Duration::from_secs(u64::from(restart_time)));
                }
                self.rib.peer_down(p.id, keep_stale);
            }
            PeerEvent::Update {
                session, update, ..
            } => {
                if !current(p, session) {
                    return;
                }
                if update.end_of_rib() == Some((afi::L2VPN, safi::EVPN)) {
                    info!(%peer, "End-of-RIB received");
                    p.end_of_rib = true;
                    p.end_of_rib_since_start = true;
                    p.stale_deadline = None;
                    self.rib.end_of_rib_received(p.id);
                } else if let Err(e) = self.rib.apply_update(p.id, &update) {
                    warn!(%peer, "UPDATE: {e}");
                    p.last_error = Some(e.to_string());
                }
            }
            PeerEvent::Withdraw { session, evpn, .. } => {
                if current(p, session) {
                    self.rib.apply_withdraw(p.id, &evpn);
                }
            }
            PeerEvent::RouteRefresh {
                session,
                afi: a,
                safi: s,
                ..
            } => {
                if current(p, session) && (a, s) == (afi::L2VPN, safi::EVPN) {
                    self.rib.resend_all(p.id);
                }
            }
            PeerEvent::Drained { session, .. } => {
                if current(p, session) {
                    p.ready = true;
                }
            }
            PeerEvent::Error { message, .. } => p.last_error = Some(message),
        }
    }

    fn expire_stale(&mut self) {
        let now = Instant::now();
        for (addr, p) in self.peers.iter_mut() {
            if p.stale_deadline.is_some_and(|d| d <= now) {
                info!(peer = %addr, "restart time over: withdrawing stale routes");
                p.stale_deadline = None;
                self.rib.stale_expired(p.id);
            }
        }
    }

    /// Hands the dataplane what the RIB changed.
    async fn publish(&mut self) {
        let events = self.rib.take_events();
        if !events.is_empty() && self.events.send(events).await.is_err() {
            debug!("dataplane event receiver gone");
        }
    }

    /// Gives every ready peer its next batch of routes; nothing while a
    /// restarting speaker defers its advertisements.
    fn pump(&mut self) {
        if self.startup.deferring() {
            return;
        }
        for p in self.peers.values_mut() {
            let Some((session, params)) = p.session else {
                continue;
            };
            if !p.ready {
                continue;
            }
            let out = self.rib.take_outgoing(p.id, BATCH_ROUTES);
            if out.is_empty() {
                continue;
            }
            let mut messages: Vec<Bytes> = Vec::new();
            for r in &out.reach {
                match encode_evpn_reach(r.attrs.attributes(), r.attrs.next_hop(), &r.nlri, &params)
                {
                    Ok(m) => messages.extend(m),
                    Err(e) => {
                        warn!(peer = %p.config.address, "cannot encode {} routes: {e}", r.nlri.len())
                    }
                }
            }
            if !out.unreach.is_empty() {
                match encode_evpn_unreach(&out.unreach, &params) {
                    Ok(m) => messages.extend(m),
                    Err(e) => warn!(peer = %p.config.address, "cannot encode withdrawals: {e}"),
                }
            }
            if out.end_of_rib {
                messages.push(end_of_rib(afi::L2VPN, safi::EVPN));
            }
            if messages.is_empty() {
                continue;
            }
            match p.tx.try_send(PeerCommand::Send { session, messages }) {
                Ok(()) => p.ready = false,
                Err(e) => {
                    // The routes were taken from the RIB's queue: queue the
                    // whole table again rather than lose them.
                    warn!(peer = %p.config.address, "peer task queue full ({e}): will resend the table");
                    self.rib.resend_all(p.id);
                }
            }
        }
    }

    fn neighbors(&self) -> Vec<NeighborStatus> {
        let mut v: Vec<NeighborStatus> = self
            .peers
            .values()
            .map(|p| {
                let counts = self.rib.peer_counts(p.id).unwrap_or_default();
                NeighborStatus {
                    address: p.config.address,
                    remote_asn: p.config.remote_asn,
                    state: p.state,
                    received: counts.received,
                    sent: counts.sent,
                    uptime: p.established_at.map(|t| t.elapsed()),
                    last_error: p.last_error.clone(),
                    end_of_rib: p.end_of_rib,
                }
            })
            .collect();
        v.sort_by_key(|n| n.address);
        v
    }

    /// Cease / Administrative Shutdown to every peer, wait (bounded) for
    /// them to send it, then stop.
    async fn shutdown(mut self, message: &str, mut peer_events: mpsc::Receiver<PeerEvent>) {
        info!("shutting down: {message}");
        for t in self.accept_tasks.drain(..) {
            t.abort();
        }
        let mut tasks = Vec::new();
        for (_, p) in self.peers.drain() {
            let _ = p.tx.try_send(PeerCommand::Stop(admin_shutdown(message)));
            drop(p.tx);
            tasks.push(p.task);
        }
        drop(self.peer_tx);
        // Keep reading events so that no peer task blocks on a full channel.
        let drain = async {
            while peer_events.recv().await.is_some() {}
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            warn!("peers did not stop within {SHUTDOWN_GRACE:?}");
        }
    }
}
