//! The peer task: see the module documentation of [`super`].

use super::netstat;
use super::transport::{BoxTransport, ConnectFuture, Connector};
use crate::fsm::{
    self, cease_subcode, describe, notification, Action, DownReason, Event, Fsm, FsmConfig,
    Negotiated, State, Timer, LARGE_HOLD_TIME,
};
use crate::wire::{
    decode_message, encode_message, error_code, frame, Capability, EvpnNlri, Message, Notification,
    Open, SessionParams, Update, MAX_MESSAGE_LEN,
};
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

/// Configuration of one neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub address: IpAddr,
    /// The peer's port (179 in production; tests use others).
    pub port: u16,
    /// Source address for outgoing connections.
    pub local_address: Option<IpAddr>,
    /// RFC 2385 TCP-MD5 key.
    pub password: Option<String>,
    /// RFC 4456: we reflect routes to this iBGP peer.
    pub route_reflector_client: bool,
    pub fsm: FsmConfig,
}

/// Identifies one Established session of a peer; output for an older
/// session is dropped.
pub type SessionId = u64;

/// From the speaker to a peer task.
pub enum PeerCommand {
    /// ManualStart.
    Start,
    /// ManualStop with this Cease.
    Stop(Notification),
    /// A connection accepted from the peer's address.
    Incoming(BoxTransport),
    /// Encoded messages (UPDATEs, End-of-RIB) for session `session`.
    Send {
        session: SessionId,
        messages: Vec<Bytes>,
    },
    /// New FSM settings (hold time, GR flags ...), used from the next OPEN.
    SetConfig(FsmConfig),
}

impl std::fmt::Debug for PeerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerCommand::Start => f.write_str("Start"),
            PeerCommand::Stop(n) => write!(f, "Stop({n:?})"),
            PeerCommand::Incoming(_) => f.write_str("Incoming"),
            PeerCommand::Send { session, messages } => {
                write!(f, "Send({session}, {} messages)", messages.len())
            }
            PeerCommand::SetConfig(_) => f.write_str("SetConfig"),
        }
    }
}

/// From a peer task to the speaker.
#[derive(Debug)]
pub enum PeerEvent {
    StateChanged {
        peer: IpAddr,
        state: State,
    },
    Established {
        peer: IpAddr,
        session: SessionId,
        negotiated: Box<Negotiated>,
    },
    /// The Established session `session` ended.
    Down {
        peer: IpAddr,
        session: SessionId,
        reason: DownReason,
    },
    Update {
        peer: IpAddr,
        session: SessionId,
        update: Update,
    },
    /// RFC 7606 treat-as-withdraw: these routes are withdrawn.
    Withdraw {
        peer: IpAddr,
        session: SessionId,
        evpn: Vec<EvpnNlri>,
    },
    RouteRefresh {
        peer: IpAddr,
        session: SessionId,
        afi: u16,
        safi: u8,
    },
    /// The last batch is written: send the next one.
    Drained {
        peer: IpAddr,
        session: SessionId,
    },
    /// Something an operator should see as the neighbour's last error.
    Error {
        peer: IpAddr,
        message: String,
    },
}

/// Starts the task of one neighbour. It runs until the command channel closes
/// (then it stops the session with Cease / Peer De-configured).
pub fn spawn_peer(
    config: PeerConfig,
    connector: Arc<dyn Connector>,
    events: mpsc::Sender<PeerEvent>,
) -> (mpsc::Sender<PeerCommand>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    let span = tracing::info_span!("peer", addr = %config.address);
    let task = PeerTask {
        peer: config.address,
        has_password: config.password.is_some(),
        fsm: Fsm::new(config.fsm),
        connector,
        events,
        commands: rx,
        reader: None,
        writer: None,
        outbound: false,
        connecting: None,
        pending: None,
        timers: [None; 4],
        session: 0,
        params: SessionParams::default(),
        awaiting_drain: false,
        last_md5: String::new(),
    };
    (tx, tokio::spawn(task.run().instrument(span)))
}

type PendingOpen =
    Pin<Box<dyn Future<Output = (BoxTransport, BytesMut, Result<Open, Notification>)> + Send>>;

struct PeerTask {
    peer: IpAddr,
    has_password: bool,
    fsm: Fsm,
    connector: Arc<dyn Connector>,
    events: mpsc::Sender<PeerEvent>,
    commands: mpsc::Receiver<PeerCommand>,
    reader: Option<(ReadHalf<BoxTransport>, BytesMut)>,
    writer: Option<(WriteHalf<BoxTransport>, BytesMut)>,
    /// The current connection is the one we opened.
    outbound: bool,
    connecting: Option<ConnectFuture>,
    /// A second connection waiting for its OPEN (collision).
    pending: Option<PendingOpen>,
    timers: [Option<Instant>; 4],
    session: SessionId,
    params: SessionParams,
    /// A `Send` batch is in the write buffer; answer `Drained` once written.
    awaiting_drain: bool,
    /// Last logged TCP-MD5 counters, to log only changes.
    last_md5: String,
}

/// What woke the task.
enum Wake {
    Command(Option<PeerCommand>),
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Connected(std::io::Result<BoxTransport>),
    PendingOpen(BoxTransport, BytesMut, Result<Open, Notification>),
    Timer,
}

fn timer_index(t: Timer) -> usize {
    match t {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
        Timer::IdleHold => 3,
    }
}

const TIMERS: [(Timer, Event); 4] = [
    (Timer::ConnectRetry, Event::ConnectRetryTimerExpires),
    (Timer::Hold, Event::HoldTimerExpires),
    (Timer::Keepalive, Event::KeepaliveTimerExpires),
    (Timer::IdleHold, Event::IdleHoldTimerExpires),
];

/// How long a NOTIFICATION may take to leave before the connection is dropped anyway.
const NOTIFICATION_FLUSH: Duration = Duration::from_secs(1);

/// Read chunk: enough for a full extended message.
const READ_CHUNK: usize = 64 * 1024;

impl PeerTask {
    async fn run(mut self) {
        loop {
            let deadline = self.timers.iter().flatten().min().copied();
            // Disjoint borrows: async blocks capture whole variables.
            let (commands, reader, writer) =
                (&mut self.commands, &mut self.reader, &mut self.writer);
            let (connecting, pending) = (&mut self.connecting, &mut self.pending);
            let wake = tokio::select! {
                cmd = commands.recv() => Wake::Command(cmd),
                r = async {
                    match reader.as_mut() {
                        Some((r, buf)) => {
                            buf.reserve(READ_CHUNK);
                            r.read_buf(buf).await
                        }
                        None => std::future::pending().await,
                    }
                } => Wake::Read(r),
                r = async {
                    match writer.as_mut() {
                        Some((w, buf)) if !buf.is_empty() => w.write(buf).await,
                        _ => std::future::pending().await,
                    }
                } => Wake::Wrote(r),
                r = async {
                    match connecting.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                } => Wake::Connected(r),
                (t, buf, r) = async {
                    match pending.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                } => Wake::PendingOpen(t, buf, r),
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Timer,
            };
            match wake {
                Wake::Command(None) => {
                    self.feed(Event::ManualStop(fsm::peer_deconfigured(
                        "neighbour removed",
                    )))
                    .await;
                    return;
                }
                Wake::Command(Some(cmd)) => self.command(cmd).await,
                Wake::Read(Ok(0)) => {
                    debug!("connection closed by peer");
                    self.feed(Event::TcpConnectionFails).await;
                }
                Wake::Read(Ok(_)) => self.process_input().await,
                Wake::Read(Err(e)) => {
                    self.error(format!("read: {e}")).await;
                    self.feed(Event::TcpConnectionFails).await;
                }
                Wake::Wrote(Ok(n)) => self.wrote(n).await,
                Wake::Wrote(Err(e)) => {
                    self.error(format!("write: {e}")).await;
                    self.feed(Event::TcpConnectionFails).await;
                }
                Wake::Connected(r) => {
                    self.connecting = None;
                    match r {
                        Ok(t) => {
                            self.install(t, BytesMut::new(), true);
                            self.feed(Event::TcpCrAcked).await;
                        }
                        Err(e) => {
                            self.error(format!("connect: {e}")).await;
                            self.log_md5();
                            self.feed(Event::TcpConnectionFails).await;
                        }
                    }
                }
                Wake::PendingOpen(t, buf, r) => {
                    self.pending = None;
                    self.resolve_collision(t, buf, r).await;
                }
                Wake::Timer => self.fire_timers().await,
            }
        }
    }

    async fn command(&mut self, cmd: PeerCommand) {
        match cmd {
            PeerCommand::Start => self.feed(Event::ManualStart).await,
            PeerCommand::Stop(n) => {
                self.pending = None;
                self.feed(Event::ManualStop(n)).await;
            }
            PeerCommand::Incoming(t) => self.incoming(t).await,
            PeerCommand::Send { session, messages } => {
                if session != self.session || self.fsm.state() != State::Established {
                    return;
                }
                if let Some((_, buf)) = self.writer.as_mut() {
                    for m in messages {
                        buf.extend_from_slice(&m);
                    }
                    self.awaiting_drain = true;
                    if buf.is_empty() {
                        self.wrote(0).await;
                    }
                }
            }
            PeerCommand::SetConfig(c) => self.fsm.set_config(c),
        }
    }

    /// A connection accepted from the peer's address.
    async fn incoming(&mut self, t: BoxTransport) {
        match self.fsm.state() {
            State::Idle if self.fsm.is_stopped() => {
                debug!("refusing connection: neighbour is administratively down");
            }
            State::Idle | State::Connect | State::Active => {
                info!("accepted connection");
                self.adopt(t, BytesMut::new(), None).await;
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                debug!(state = %self.fsm.state(), "second connection: waiting for its OPEN (collision check)");
                self.pending = Some(Box::pin(read_open(t)));
            }
        }
    }

    /// RFC 4271 section 6.8 with the OPEN of the second connection in hand.
    async fn resolve_collision(
        &mut self,
        t: BoxTransport,
        buf: BytesMut,
        open: Result<Open, Notification>,
    ) {
        let open = match open {
            Ok(open) => open,
            Err(n) => {
                self.error(format!(
                    "second connection failed before OPEN: {}",
                    describe(&n)
                ))
                .await;
                reject(t, n).await;
                return;
            }
        };
        match self.fsm.state() {
            State::Idle | State::Connect | State::Active => self.adopt(t, buf, Some(open)).await,
            State::OpenSent | State::OpenConfirm => {
                let local = u32::from(self.fsm.config().router_id);
                let remote = u32::from(open.bgp_id);
                // The connection opened by the higher identifier survives.
                if self.outbound && local > remote {
                    info!(%open.bgp_id, "collision: keeping our connection (higher BGP identifier)");
                    reject(t, collision_notification()).await;
                } else {
                    info!(%open.bgp_id, "collision: keeping the peer's connection");
                    self.feed(Event::OpenCollisionDump).await;
                    self.adopt(t, buf, Some(open)).await;
                }
            }
            State::Established => {
                // Only a peer that says it restarts (R bit) replaces an
                // Established session; anything else is a collision (6.8).
                let restarting = open
                    .capabilities
                    .iter()
                    .any(|c| matches!(c, Capability::GracefulRestart(gr) if gr.restarting));
                let gr = self
                    .fsm
                    .negotiated()
                    .is_some_and(|n| n.peer_graceful_restart.is_some());
                if gr && restarting {
                    info!("peer reconnected while Established: graceful restart, replacing the old session");
                    self.feed(Event::TcpConnectionFails).await;
                    self.adopt(t, buf, Some(open)).await;
                } else {
                    info!("collision with an Established session: closing the new connection");
                    reject(t, collision_notification()).await;
                }
            }
        }
    }

    /// Makes `t` (accepted from the peer) the session's connection, with a
    /// fresh FSM that starts from OpenSent.
    async fn adopt(&mut self, t: BoxTransport, buf: BytesMut, open: Option<Open>) {
        self.connecting = None;
        self.close_now();
        let config = self.fsm.config().clone();
        // A passive start reaches Active without connecting; the real
        // configuration (active or not) applies again from here on.
        let mut fresh = Fsm::new(FsmConfig {
            passive: true,
            ..config.clone()
        });
        fresh.handle(Event::ManualStart);
        fresh.set_config(config);
        self.fsm = fresh;
        self.timers = [None; 4];
        self.install(t, buf, false);
        self.feed(Event::TcpConnectionConfirmed).await;
        if let Some(open) = open {
            self.feed(Event::BgpOpen(open)).await;
        }
        // Bytes that arrived behind the OPEN.
        if self.reader.as_ref().is_some_and(|(_, b)| !b.is_empty()) {
            self.process_input().await;
        }
    }

    fn install(&mut self, t: BoxTransport, rbuf: BytesMut, outbound: bool) {
        let (r, w) = tokio::io::split(t);
        self.reader = Some((r, rbuf));
        self.writer = Some((w, BytesMut::new()));
        self.outbound = outbound;
        self.params = SessionParams::default();
        self.awaiting_drain = false;
    }

    async fn wrote(&mut self, n: usize) {
        let Some((_, buf)) = self.writer.as_mut() else {
            return;
        };
        let _ = buf.split_to(n.min(buf.len()));
        if buf.is_empty() && self.awaiting_drain {
            self.awaiting_drain = false;
            let ev = PeerEvent::Drained {
                peer: self.peer,
                session: self.session,
            };
            let _ = self.events.send(ev).await;
        }
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        for (timer, event) in TIMERS {
            let i = timer_index(timer);
            if self.timers[i].is_some_and(|d| d <= now) {
                self.timers[i] = None;
                if timer == Timer::ConnectRetry && self.fsm.state() == State::Connect {
                    // A SYN without answer: with TCP-MD5, a key mismatch looks like this.
                    self.log_md5();
                }
                if timer == Timer::Hold {
                    warn!(state = %self.fsm.state(), "hold timer expired: nothing received from the peer in time");
                    if self.fsm.state() != State::Established {
                        self.log_md5();
                    }
                }
                self.feed(event).await;
            }
        }
    }

    /// Frames and decodes what is in the read buffer, message by message.
    async fn process_input(&mut self) {
        loop {
            let Some((_, buf)) = self.reader.as_mut() else {
                return;
            };
            let max = self.params.max_message_len.max(MAX_MESSAGE_LEN);
            let len = match frame(buf, max) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(e) => {
                    self.error(format!("message header: {e}")).await;
                    let n = e
                        .notification()
                        .unwrap_or_else(|| notification(error_code::MESSAGE_HEADER, 0));
                    self.feed(Event::BgpHeaderErr(n)).await;
                    return;
                }
            };
            let msg = buf.split_to(len).freeze();
            let event = match decode_message(&msg, &self.params) {
                Ok(m) => self.message(m).await,
                Err(e) => match e.notification() {
                    None => {
                        warn!("UPDATE error, treat-as-withdraw (RFC 7606): {e}");
                        if let crate::wire::MessageError::TreatAsWithdraw { evpn, .. } = e {
                            let ev = PeerEvent::Withdraw {
                                peer: self.peer,
                                session: self.session,
                                evpn,
                            };
                            let _ = self.events.send(ev).await;
                        }
                        Event::UpdateMsg
                    }
                    Some(n) => {
                        warn!("malformed message: {e}");
                        self.error(format!("{e}")).await;
                        match n.code {
                            error_code::MESSAGE_HEADER => Event::BgpHeaderErr(n),
                            error_code::OPEN_MESSAGE => Event::BgpOpenMsgErr(n),
                            _ => Event::UpdateMsgErr(n),
                        }
                    }
                },
            };
            self.feed(event).await;
        }
    }

    /// The FSM event for a decoded message; UPDATEs go to the speaker.
    async fn message(&mut self, m: Message) -> Event {
        let established = self.fsm.state() == State::Established;
        match m {
            Message::Open(open) => Event::BgpOpen(open),
            Message::Keepalive => Event::KeepAliveMsg,
            Message::Notification(n) => {
                let text = describe(&n);
                warn!("peer sent {text}");
                self.error(format!("received {text}")).await;
                if n.code == error_code::OPEN_MESSAGE
                    && n.subcode == fsm::open_subcode::UNSUPPORTED_VERSION_NUMBER
                {
                    Event::NotifMsgVerErr(n)
                } else {
                    Event::NotifMsg(n)
                }
            }
            Message::Update(update) => {
                if established {
                    let ev = PeerEvent::Update {
                        peer: self.peer,
                        session: self.session,
                        update,
                    };
                    let _ = self.events.send(ev).await;
                }
                Event::UpdateMsg
            }
            Message::RouteRefresh(rr) => {
                if established {
                    let ev = PeerEvent::RouteRefresh {
                        peer: self.peer,
                        session: self.session,
                        afi: rr.afi,
                        safi: rr.safi,
                    };
                    let _ = self.events.send(ev).await;
                }
                Event::UpdateMsg
            }
        }
    }

    /// Runs one event through the FSM and performs its actions.
    async fn feed(&mut self, event: Event) {
        let before = self.fsm.state();
        let name = event.name();
        let actions = self.fsm.handle(event);
        let after = self.fsm.state();
        if before != after {
            debug!(event = name, from = %before, to = %after, "state change");
            let _ = self
                .events
                .send(PeerEvent::StateChanged {
                    peer: self.peer,
                    state: after,
                })
                .await;
        }
        for a in actions {
            self.perform(a).await;
        }
    }

    async fn perform(&mut self, action: Action) {
        match action {
            Action::Connect => {
                debug!("connecting");
                self.connecting = Some(self.connector.connect());
            }
            Action::SendOpen(open) => self.send(&Message::Open(open)),
            Action::SendKeepalive => self.send(&Message::Keepalive),
            Action::SendNotification(n) => {
                warn!("sending {}", describe(&n));
                if n.code != error_code::CEASE {
                    self.error(format!("sent {}", describe(&n))).await;
                }
                self.send(&Message::Notification(n));
            }
            Action::StartTimer(t, d) => self.timers[timer_index(t)] = Some(Instant::now() + d),
            Action::StopTimer(t) => self.timers[timer_index(t)] = None,
            Action::CloseConnection => self.close().await,
            Action::SessionEstablished(negotiated) => {
                self.session += 1;
                self.params = negotiated.params;
                info!(
                    peer_as = negotiated.peer_asn,
                    peer_id = %negotiated.peer_id,
                    hold_time = negotiated.hold_time,
                    "session Established"
                );
                let ev = PeerEvent::Established {
                    peer: self.peer,
                    session: self.session,
                    negotiated,
                };
                let _ = self.events.send(ev).await;
            }
            Action::SessionDown(reason) => {
                warn!("session down: {reason}");
                let ev = PeerEvent::Down {
                    peer: self.peer,
                    session: self.session,
                    reason,
                };
                let _ = self.events.send(ev).await;
            }
        }
    }

    /// Queues one message on the current connection.
    fn send(&mut self, m: &Message) {
        let Some((_, buf)) = self.writer.as_mut() else {
            return;
        };
        if let Err(e) = encode_message(m, &self.params, buf) {
            warn!("cannot encode {m:?}: {e}");
        }
    }

    /// Flushes what is queued (the NOTIFICATION, typically) for at most a
    /// second, then drops the connection.
    async fn close(&mut self) {
        self.connecting = None;
        if let Some((mut w, buf)) = self.writer.take() {
            if !buf.is_empty() {
                let _ = tokio::time::timeout(NOTIFICATION_FLUSH, w.write_all(&buf)).await;
            }
            let _ = tokio::time::timeout(NOTIFICATION_FLUSH, w.shutdown()).await;
        }
        self.reader = None;
        self.awaiting_drain = false;
    }

    fn close_now(&mut self) {
        self.writer = None;
        self.reader = None;
    }

    async fn error(&mut self, message: String) {
        let _ = self
            .events
            .send(PeerEvent::Error {
                peer: self.peer,
                message,
            })
            .await;
    }

    /// Logs the kernel's TCP-MD5 counters when they changed and this
    /// session uses a password: a key mismatch is otherwise invisible.
    fn log_md5(&mut self) {
        if !self.has_password {
            return;
        }
        let line = netstat::md5_counters_line();
        if line != self.last_md5 {
            warn!("session with TCP-MD5 is not coming up; kernel counters: {line}");
            self.last_md5 = line;
        }
    }
}

fn collision_notification() -> Notification {
    notification(
        error_code::CEASE,
        cease_subcode::CONNECTION_COLLISION_RESOLUTION,
    )
}

/// Sends `n` on a connection that will not become the session, and drops it.
async fn reject(mut t: BoxTransport, n: Notification) {
    let mut buf = BytesMut::new();
    if encode_message(
        &Message::Notification(n),
        &SessionParams::default(),
        &mut buf,
    )
    .is_ok()
    {
        let _ = tokio::time::timeout(NOTIFICATION_FLUSH, t.write_all(&buf)).await;
    }
    let _ = tokio::time::timeout(NOTIFICATION_FLUSH, t.shutdown()).await;
}

/// Reads the first message of a second connection, which must be an OPEN.
async fn read_open(mut t: BoxTransport) -> (BoxTransport, BytesMut, Result<Open, Notification>) {
    let mut buf = BytesMut::with_capacity(MAX_MESSAGE_LEN);
    let r = tokio::time::timeout(LARGE_HOLD_TIME, first_open(&mut t, &mut buf)).await;
    let r = r.unwrap_or_else(|_| Err(notification(error_code::HOLD_TIMER_EXPIRED, 0)));
    (t, buf, r)
}

async fn first_open(t: &mut BoxTransport, buf: &mut BytesMut) -> Result<Open, Notification> {
    loop {
        match frame(buf, MAX_MESSAGE_LEN) {
            Ok(Some(len)) => {
                let msg = buf.split_to(len);
                return match decode_message(&msg, &SessionParams::default()) {
                    Ok(Message::Open(open)) => Ok(open),
                    Ok(_) => Err(notification(error_code::FSM, fsm::fsm_subcode::OPEN_SENT)),
                    Err(e) => Err(e
                        .notification()
                        .unwrap_or_else(|| notification(error_code::OPEN_MESSAGE, 0))),
                };
            }
            Ok(None) => match t.read_buf(buf).await {
                Ok(0) | Err(_) => return Err(notification(error_code::CEASE, 0)),
                Ok(_) => {}
            },
            Err(e) => {
                return Err(e
                    .notification()
                    .unwrap_or_else(|| notification(error_code::MESSAGE_HEADER, 0)))
            }
        }
    }
}
