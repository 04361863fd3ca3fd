//! The BGP session state machine of RFC 4271 section 8, with no I/O.
//!
//! [`Fsm::handle`] takes one [`Event`] (named after RFC 4271 section 8.1) and
//! returns the [`Action`]s the driver must perform, in order: open a TCP
//! connection, send a message, start or stop a timer, close the connection,
//! report the session up or down. Timers are actions with a duration; the
//! driver turns their expiry back into events. The FSM never reads the clock,
//! never touches a socket and never sees an UPDATE's content (the driver hands
//! UPDATEs to the RIB and feeds the FSM only `UpdateMsg` / `UpdateMsgErr`).
//!
//! One `Fsm` drives one connection at a time. Connection collisions (RFC 4271
//! section 6.8) are resolved by the driver, which holds the second connection
//! until its OPEN arrives and then either drops it or feeds the losing
//! connection's FSM an `OpenCollisionDump`.
//!
//! Deviations from the letter of section 8.2.2, each on purpose:
//! - No DelayOpen and no SendNOTIFICATIONwithoutOPEN (optional attributes).
//! - Receiving a NOTIFICATION in OpenSent closes the connection without
//!   answering with an FSM-error NOTIFICATION: the peer is already closing.
//! - Automatic restart after an error goes through the IdleHoldTimer
//!   (section 8.1.1 DampPeerOscillations): its duration doubles with the
//!   ConnectRetryCounter, which is reset once the session is Established.
//! - A TCP connect that fails in Connect moves to Active with the
//!   ConnectRetryTimer set to the same backoff, so that an unreachable peer
//!   is retried after 1x, 2x, 4x ... the ConnectRetryTime, up to a ceiling.
//!
//! Invariants: `negotiated()` is `Some` exactly in OpenConfirm and
//! Established; `SessionEstablished` and `SessionDown` alternate, and
//! `SessionDown` is emitted only when leaving Established.

mod open;

pub use open::{check_open, local_open, Negotiated, OpenError};

use crate::wire::{error_code, Notification, Open};
use bytes::Bytes;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The six states of RFC 4271 section 8.2.2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// The RFC name, as `show neighbors` prints it.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }

    /// All states, in RFC order (for table tests and metrics).
    pub const ALL: [State; 6] = [
        State::Idle,
        State::Connect,
        State::Active,
        State::OpenSent,
        State::OpenConfirm,
        State::Established,
    ];
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The timers of RFC 4271 section 8 (plus the IdleHoldTimer of 8.1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
    IdleHold,
}

/// Events of RFC 4271 section 8.1, with the RFC's event number in the doc.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// Event 1: ManualStart (the neighbour is configured or enabled).
    ManualStart,
    /// Event 2: ManualStop, carrying the Cease NOTIFICATION to send (RFC 4486
    /// subcode, e.g. Administrative Shutdown with an RFC 9003 message).
    ManualStop(Notification),
    /// Event 4: ManualStart_with_PassiveTcpEstablishment (only listen).
    ManualStartPassive,
    /// Event 9: ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10: HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11: KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Event 13: IdleHoldTimer_Expires (automatic restart after an error).
    IdleHoldTimerExpires,
    /// Event 16: Tcp_CR_Acked (our outgoing connection is up).
    TcpCrAcked,
    /// Event 17: TcpConnectionConfirmed (an incoming connection was accepted).
    TcpConnectionConfirmed,
    /// Event 18: TcpConnectionFails.
    TcpConnectionFails,
    /// Event 19: BGPOpen (a syntactically valid OPEN; the FSM checks its content).
    BgpOpen(Open),
    /// Event 21: BGPHeaderErr, with the NOTIFICATION to send.
    BgpHeaderErr(Notification),
    /// Event 22: BGPOpenMsgErr, with the NOTIFICATION to send.
    BgpOpenMsgErr(Notification),
    /// Event 23: OpenCollisionDump (this connection lost a collision).
    OpenCollisionDump,
    /// Event 24: NotifMsgVerErr (a NOTIFICATION with a version error).
    NotifMsgVerErr(Notification),
    /// Event 25: NotifMsg.
    NotifMsg(Notification),
    /// Event 26: KeepAliveMsg.
    KeepAliveMsg,
    /// Event 27: UpdateMsg (also ROUTE-REFRESH: any valid message that is
    /// not OPEN, KEEPALIVE or NOTIFICATION restarts the HoldTimer).
    UpdateMsg,
    /// Event 28: UpdateMsgErr, with the NOTIFICATION to send (RFC 7606
    /// session reset; treat-as-withdraw never reaches the FSM).
    UpdateMsgErr(Notification),
}

impl Event {
    /// The RFC 4271 section 8.1 name of the event.
    pub fn name(&self) -> &'static str {
        match self {
            Event::ManualStart => "ManualStart",
            Event::ManualStop(_) => "ManualStop",
            Event::ManualStartPassive => "ManualStart_with_PassiveTcpEstablishment",
            Event::ConnectRetryTimerExpires => "ConnectRetryTimer_Expires",
            Event::HoldTimerExpires => "HoldTimer_Expires",
            Event::KeepaliveTimerExpires => "KeepaliveTimer_Expires",
            Event::IdleHoldTimerExpires => "IdleHoldTimer_Expires",
            Event::TcpCrAcked => "Tcp_CR_Acked",
            Event::TcpConnectionConfirmed => "TcpConnectionConfirmed",
            Event::TcpConnectionFails => "TcpConnectionFails",
            Event::BgpOpen(_) => "BGPOpen",
            Event::BgpHeaderErr(_) => "BGPHeaderErr",
            Event::BgpOpenMsgErr(_) => "BGPOpenMsgErr",
            Event::OpenCollisionDump => "OpenCollisionDump",
            Event::NotifMsgVerErr(_) => "NotifMsgVerErr",
            Event::NotifMsg(_) => "NotifMsg",
            Event::KeepAliveMsg => "KeepAliveMsg",
            Event::UpdateMsg => "UpdateMsg",
            Event::UpdateMsgErr(_) => "UpdateMsgErr",
        }
    }
}

/// Why an Established session went down.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DownReason {
    /// We stopped it (ManualStop) and sent this Cease.
    Stopped(Notification),
    /// We detected an error and sent this NOTIFICATION (hold timer expiry,
    /// UPDATE error, FSM error, collision).
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed without a NOTIFICATION (peer
    /// killed, link reset): the case where graceful restart helpers keep
    /// the peer's routes (RFC 4724 section 4.2).
    ConnectionLost,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Stopped(n) => write!(f, "stopped, sent {}", describe(n)),
            DownReason::NotificationSent(n) => write!(f, "sent {}", describe(n)),
            DownReason::NotificationReceived(n) => write!(f, "received {}", describe(n)),
            DownReason::ConnectionLost => f.write_str("TCP connection lost"),
        }
    }
}

/// What the driver must do, in the order given.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// Initiate a TCP connection to the peer (answer: Tcp_CR_Acked or TcpConnectionFails).
    Connect,
    /// Send our OPEN on the current connection.
    SendOpen(Open),
    SendKeepalive,
    SendNotification(Notification),
    /// (Re)start a timer; a running one is replaced.
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    /// Close the current connection (and abandon a pending connect).
    CloseConnection,
    /// The session is Established with these parameters.
    SessionEstablished(Box<Negotiated>),
    /// The Established session went down.
    SessionDown(DownReason),
}

/// Graceful restart as we advertise it (RFC 4724 section 3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GracefulRestartConfig {
    /// Seconds a helper keeps our routes after our session drops (12 bits).
    pub restart_time: u16,
    /// R bit: we are restarting (set by planed after a restart).
    pub restarting: bool,
    /// F bit for EVPN: forwarding state (kernel FDB) was preserved.
    pub forwarding_preserved: bool,
}

/// Per-session configuration of the FSM.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FsmConfig {
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    /// The peer's ASN; an OPEN with another one is refused (Bad Peer AS).
    pub remote_asn: u32,
    /// Proposed hold time in seconds: 0 (no keepalives) or at least 3.
    pub hold_time: u16,
    /// KEEPALIVE interval (`[bgp] keepalive`); `None`: a third of the
    /// negotiated hold time. Never more than that third (RFC 4271 section
    /// 10), so a peer proposing a shorter hold time still gets its
    /// KEEPALIVEs in time.
    pub keepalive: Option<Duration>,
    /// Base ConnectRetryTime; backoff doubles it per failed attempt.
    pub connect_retry_time: Duration,
    /// Ceiling of the connect / restart backoff.
    pub connect_retry_max: Duration,
    /// Only accept connections, never connect.
    pub passive: bool,
    /// Restart automatically after an error (via the IdleHoldTimer).
    pub auto_restart: bool,
    /// Address families both sides must advertise (AFI, SAFI); EVPN is (25, 70).
    pub families: Vec<(u16, u8)>,
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Advertise RFC 8654 extended messages.
    pub extended_message: bool,
}

impl FsmConfig {
    /// An EVPN session with the defaults plane uses: hold time 90 s,
    /// connect retry 5 s doubling up to 60 s, route refresh, 4-octet AS,
    /// extended messages, graceful restart with a 120 s restart time.
    pub fn evpn(local_asn: u32, router_id: Ipv4Addr, remote_asn: u32) -> FsmConfig {
        FsmConfig {
            local_asn,
            router_id,
            remote_asn,
            hold_time: 90,
            keepalive: None,
            connect_retry_time: Duration::from_secs(5),
            connect_retry_max: Duration::from_secs(60),
            passive: false,
            auto_restart: true,
            families: vec![(crate::wire::afi::L2VPN, crate::wire::safi::EVPN)],
            graceful_restart: Some(GracefulRestartConfig {
                restart_time: 120,
                restarting: false,
                forwarding_preserved: false,
            }),
            extended_message: true,
        }
    }
}

/// The HoldTimer value while waiting for the peer's OPEN (RFC 4271 section
/// 8.2.2 suggests 4 minutes).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// The largest backoff exponent: 2^6 times the base is past any sane ceiling.
const MAX_BACKOFF_SHIFT: u32 = 6;

/// One BGP session's state machine.
#[derive(Clone, Debug)]
pub struct Fsm {
    config: FsmConfig,
    state: State,
    /// RFC 4271 ConnectRetryCounter.
    connect_retry_counter: u32,
    negotiated: Option<Box<Negotiated>>,
    /// Set by ManualStop, cleared by ManualStart: no automatic restart.
    stopped: bool,
    /// A configuration given in OpenSent, applied once the peer's OPEN is
    /// negotiated against the one our OPEN proposed ([`Fsm::set_config`]).
    pending_config: Option<Box<FsmConfig>>,
}

impl Fsm {
    /// A session in Idle; nothing happens until ManualStart.
    pub fn new(config: FsmConfig) -> Fsm {
        Fsm {
            config,
            state: State::Idle,
            connect_retry_counter: 0,
            negotiated: None,
            stopped: true,
            pending_config: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The latest configuration (one waiting for OpenSent to end included).
    pub fn config(&self) -> &FsmConfig {
        self.pending_config.as_deref().unwrap_or(&self.config)
    }

    /// Replaces the configuration; takes effect at the next OPEN.
    ///
    /// In OpenSent our OPEN is out and the peer's is not in: the session is
    /// negotiated against what that OPEN proposed (RFC 4271 section 4.2, the
    /// hold time), so the new configuration waits until OpenSent is left.
    pub fn set_config(&mut self, config: FsmConfig) {
        if self.state == State::OpenSent {
            self.pending_config = Some(Box::new(config));
        } else {
            self.config = config;
        }
    }

    /// What was negotiated, in OpenConfirm and Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_deref()
    }

    /// True after ManualStop (and before the first ManualStart): the
    /// session must stay down, incoming connections are refused.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// RFC 4271 ConnectRetryCounter.
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// The backoff for the current ConnectRetryCounter: base * 2^(n-1), capped.
    pub fn backoff(&self) -> Duration {
        let shift = self
            .connect_retry_counter
            .saturating_sub(1)
            .min(MAX_BACKOFF_SHIFT);
        let base = self.config.connect_retry_time;
        base.saturating_mul(1u32 << shift)
            .min(self.config.connect_retry_max.max(base))
    }

    /// Feeds one event; returns the actions to perform in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            State::Idle => self.idle(event, &mut out),
            State::Connect => self.connect(event, &mut out),
            State::Active => self.active(event, &mut out),
            State::OpenSent => self.open_sent(event, &mut out),
            State::OpenConfirm => self.open_confirm(event, &mut out),
            State::Established => self.established(event, &mut out),
        }
        if self.state != State::OpenSent {
            if let Some(c) = self.pending_config.take() {
                self.config = *c;
            }
        }
        out
    }

    fn idle(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::ManualStart | Event::ManualStartPassive => {
                self.stopped = false;
                self.connect_retry_counter = 0;
                if event == Event::ManualStartPassive {
                    self.config.passive = true;
                }
                self.start(out);
            }
            Event::IdleHoldTimerExpires if !self.stopped => self.start(out),
            // A connection that shows up while Idle is refused (8.2.2 Idle).
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => out.push(Action::CloseConnection),
            _ => {}
        }
    }

    /// Leaves Idle: connect (or only listen when passive).
    fn start(&mut self, out: &mut Vec<Action>) {
        out.push(Action::StopTimer(Timer::IdleHold));
        if self.config.passive {
            self.state = State::Active;
        } else {
            out.push(Action::StartTimer(
                Timer::ConnectRetry,
                self.config.connect_retry_time,
            ));
            out.push(Action::Connect);
            self.state = State::Connect;
        }
    }

    fn connect(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::ManualStart | Event::ManualStartPassive => {}
            Event::ManualStop(_) => self.stop(out),
            Event::ConnectRetryTimerExpires => {
                // The attempt hangs (SYN unanswered): abandon it, try again.
                out.push(Action::CloseConnection);
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.config.connect_retry_time,
                ));
                out.push(Action::Connect);
            }
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => self.send_open(out),
            Event::TcpConnectionFails => {
                self.connect_retry_counter = self.connect_retry_counter.saturating_add(1);
                out.push(Action::CloseConnection);
                out.push(Action::StartTimer(Timer::ConnectRetry, self.backoff()));
                self.state = State::Active;
            }
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => self.fail(Some(n), out),
            Event::NotifMsgVerErr(_) => self.fail(None, out),
            _ => self.fail(None, out),
        }
    }

    fn active(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::ManualStart | Event::ManualStartPassive => {}
            Event::ManualStop(_) => self.stop(out),
            Event::ConnectRetryTimerExpires if !self.config.passive => {
                out.push(Action::StartTimer(
                    Timer::ConnectRetry,
                    self.config.connect_retry_time,
                ));
                out.push(Action::Connect);
                self.state = State::Connect;
            }
            Event::ConnectRetryTimerExpires => {}
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => self.send_open(out),
            Event::TcpConnectionFails => {
                // An accepted connection failed before OPEN: keep listening.
                out.push(Action::CloseConnection);
                if !self.config.passive {
                    self.connect_retry_counter = self.connect_retry_counter.saturating_add(1);
                    out.push(Action::StartTimer(Timer::ConnectRetry, self.backoff()));
                }
            }
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => self.fail(Some(n), out),
            _ => self.fail(None, out),
        }
    }

    fn send_open(&mut self, out: &mut Vec<Action>) {
        out.push(Action::StopTimer(Timer::ConnectRetry));
        out.push(Action::SendOpen(local_open(&self.config)));
        out.push(Action::StartTimer(Timer::Hold, LARGE_HOLD_TIME));
        self.state = State::OpenSent;
    }

    fn open_sent(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            // A second connection is the driver's collision business (6.8).
            Event::ManualStart
            | Event::ManualStartPassive
            | Event::TcpCrAcked
            | Event::TcpConnectionConfirmed => {}
            Event::ManualStop(n) => {
                out.push(Action::SendNotification(n));
                self.stop(out);
            }
            Event::HoldTimerExpires => {
                self.fail(Some(notification(error_code::HOLD_TIMER_EXPIRED, 0)), out)
            }
            Event::TcpConnectionFails => {
                // 8.2.2 OpenSent: keep listening, retry later.
                out.push(Action::CloseConnection);
                out.push(Action::StopTimer(Timer::Hold));
                self.connect_retry_counter = self.connect_retry_counter.saturating_add(1);
                if !self.config.passive {
                    out.push(Action::StartTimer(Timer::ConnectRetry, self.backoff()));
                }
                self.state = State::Active;
            }
            Event::BgpOpen(open) => match check_open(&self.config, &open) {
                Ok(negotiated) => {
                    out.push(Action::StopTimer(Timer::ConnectRetry));
                    out.push(Action::SendKeepalive);
                    self.start_session_timers(negotiated.hold_time, out);
                    self.negotiated = Some(Box::new(negotiated));
                    self.state = State::OpenConfirm;
                }
                Err(e) => self.fail(Some(e.notification()), out),
            },
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => self.fail(Some(n), out),
            Event::OpenCollisionDump => self.fail(Some(collision()), out),
            Event::NotifMsgVerErr(_) | Event::NotifMsg(_) => self.fail(None, out),
            _ => self.fail(
                Some(notification(error_code::FSM, fsm_subcode::OPEN_SENT)),
                out,
            ),
        }
    }

    /// After OPEN: Hold and Keepalive timers from the negotiated hold time
    /// (0 disables both, RFC 4271 section 4.2).
    fn start_session_timers(&self, hold_time: u16, out: &mut Vec<Action>) {
        if hold_time == 0 {
            out.push(Action::StopTimer(Timer::Hold));
            out.push(Action::StopTimer(Timer::Keepalive));
        } else {
            out.push(Action::StartTimer(
                Timer::Keepalive,
                self.keepalive(hold_time),
            ));
            out.push(Action::StartTimer(
                Timer::Hold,
                Duration::from_secs(u64::from(hold_time)),
            ));
        }
    }

    /// The KEEPALIVE interval for a negotiated hold time (not 0).
    fn keepalive(&self, hold_time: u16) -> Duration {
        let third = keepalive_interval(hold_time);
        self.config
            .keepalive
            .map_or(third, |k| k.clamp(Duration::from_secs(1), third))
    }

    fn hold_time(&self) -> u16 {
        self.negotiated.as_ref().map(|n| n.hold_time).unwrap_or(0)
    }

    fn restart_hold(&self, out: &mut Vec<Action>) {
        let hold = self.hold_time();
        if hold > 0 {
            out.push(Action::StartTimer(
                Timer::Hold,
                Duration::from_secs(u64::from(hold)),
            ));
        }
    }

    fn restart_keepalive(&self, out: &mut Vec<Action>) {
        let hold = self.hold_time();
        if hold > 0 {
            out.push(Action::StartTimer(Timer::Keepalive, self.keepalive(hold)));
        }
    }

    fn open_confirm(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            // A second connection is the driver's collision business (6.8).
            Event::ManualStart
            | Event::ManualStartPassive
            | Event::TcpCrAcked
            | Event::TcpConnectionConfirmed => {}
            Event::ManualStop(n) => {
                out.push(Action::SendNotification(n));
                self.stop(out);
            }
            Event::HoldTimerExpires => {
                self.fail(Some(notification(error_code::HOLD_TIMER_EXPIRED, 0)), out)
            }
            Event::KeepaliveTimerExpires => {
                out.push(Action::SendKeepalive);
                self.restart_keepalive(out);
            }
            Event::TcpConnectionFails | Event::NotifMsg(_) | Event::NotifMsgVerErr(_) => {
                self.fail(None, out)
            }
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) => self.fail(Some(n), out),
            Event::OpenCollisionDump => self.fail(Some(collision()), out),
            Event::KeepAliveMsg => {
                self.restart_hold(out);
                self.connect_retry_counter = 0;
                self.state = State::Established;
                if let Some(n) = &self.negotiated {
                    out.push(Action::SessionEstablished(n.clone()));
                }
            }
            _ => self.fail(
                Some(notification(error_code::FSM, fsm_subcode::OPEN_CONFIRM)),
                out,
            ),
        }
    }

    fn established(&mut self, event: Event, out: &mut Vec<Action>) {
        match event {
            Event::ManualStart
            | Event::ManualStartPassive
            | Event::TcpCrAcked
            | Event::TcpConnectionConfirmed => {}
            Event::ManualStop(n) => {
                out.push(Action::SendNotification(n.clone()));
                self.stop(out);
                out.push(Action::SessionDown(DownReason::Stopped(n)));
            }
            Event::HoldTimerExpires => {
                let n = notification(error_code::HOLD_TIMER_EXPIRED, 0);
                self.fail(Some(n.clone()), out);
                out.push(Action::SessionDown(DownReason::NotificationSent(n)));
            }
            Event::KeepaliveTimerExpires => {
                out.push(Action::SendKeepalive);
                self.restart_keepalive(out);
            }
            Event::KeepAliveMsg | Event::UpdateMsg => self.restart_hold(out),
            Event::TcpConnectionFails => {
                self.fail(None, out);
                out.push(Action::SessionDown(DownReason::ConnectionLost));
            }
            Event::NotifMsg(n) | Event::NotifMsgVerErr(n) => {
                self.fail(None, out);
                out.push(Action::SessionDown(DownReason::NotificationReceived(n)));
            }
            Event::BgpHeaderErr(n) | Event::BgpOpenMsgErr(n) | Event::UpdateMsgErr(n) => {
                self.fail(Some(n.clone()), out);
                out.push(Action::SessionDown(DownReason::NotificationSent(n)));
            }
            Event::OpenCollisionDump => {
                let n = collision();
                self.fail(Some(n.clone()), out);
                out.push(Action::SessionDown(DownReason::NotificationSent(n)));
            }
            _ => {
                let n = notification(error_code::FSM, fsm_subcode::ESTABLISHED);
                self.fail(Some(n.clone()), out);
                out.push(Action::SessionDown(DownReason::NotificationSent(n)));
            }
        }
    }

    /// ManualStop: everything off, back to Idle, no automatic restart.
    fn stop(&mut self, out: &mut Vec<Action>) {
        out.push(Action::CloseConnection);
        for t in [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::IdleHold,
        ] {
            out.push(Action::StopTimer(t));
        }
        self.connect_retry_counter = 0;
        self.negotiated = None;
        self.stopped = true;
        self.state = State::Idle;
    }

    /// An error: optionally send a NOTIFICATION, close, back to Idle, and
    /// schedule the automatic restart with backoff.
    fn fail(&mut self, notification: Option<Notification>, out: &mut Vec<Action>) {
        if let Some(n) = notification {
            out.push(Action::SendNotification(n));
        }
        out.push(Action::CloseConnection);
        for t in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            out.push(Action::StopTimer(t));
        }
        self.connect_retry_counter = self.connect_retry_counter.saturating_add(1);
        self.negotiated = None;
        self.state = State::Idle;
        if self.config.auto_restart && !self.stopped {
            out.push(Action::StartTimer(Timer::IdleHold, self.backoff()));
        }
    }
}

/// KEEPALIVE interval: a third of the hold time (RFC 4271 section 10), at
/// least one second.
pub fn keepalive_interval(hold_time: u16) -> Duration {
    Duration::from_secs(u64::from((hold_time / 3).max(1)))
}

/// FSM error subcodes, RFC 6608.
pub mod fsm_subcode {
    pub const OPEN_SENT: u8 = 1;
    pub const OPEN_CONFIRM: u8 = 2;
    pub const ESTABLISHED: u8 = 3;
}

// OPEN and Cease subcodes are the codec's (one table for the whole
// speaker); re-exported here because FSM users name them with its events.
pub use crate::wire::error::{cease_subcode, open_subcode};

fn collision() -> Notification {
    notification(
        error_code::CEASE,
        cease_subcode::CONNECTION_COLLISION_RESOLUTION,
    )
}

/// A NOTIFICATION without data.
pub fn notification(code: u8, subcode: u8) -> Notification {
    Notification {
        code,
        subcode,
        data: Bytes::new(),
    }
}

/// Cease / Administrative Shutdown with an RFC 9003 shutdown
/// communication (length octet + UTF-8, at most 255 octets, cut at a
/// character boundary).
pub fn admin_shutdown(message: &str) -> Notification {
    Notification {
        code: error_code::CEASE,
        subcode: cease_subcode::ADMINISTRATIVE_SHUTDOWN,
        data: shutdown_communication(message),
    }
}

/// Cease / Peer De-configured (the neighbour was removed), with an RFC
/// 9003 message.
pub fn peer_deconfigured(message: &str) -> Notification {
    Notification {
        code: error_code::CEASE,
        subcode: cease_subcode::PEER_DECONFIGURED,
        data: shutdown_communication(message),
    }
}

/// The RFC 9003 shutdown communication, when this is a Cease
/// Administrative Shutdown / Reset that carries a valid one.
pub fn shutdown_message(n: &Notification) -> Option<String> {
    if n.code != error_code::CEASE
        || !matches!(
            n.subcode,
            cease_subcode::ADMINISTRATIVE_SHUTDOWN
                | cease_subcode::ADMINISTRATIVE_RESET
                | cease_subcode::PEER_DECONFIGURED
        )
    {
        return None;
    }
    let (len, text) = n.data.split_first()?;
    let text = text.get(..usize::from(*len))?;
    std::str::from_utf8(text).ok().map(str::to_string)
}

fn shutdown_communication(message: &str) -> Bytes {
    if message.is_empty() {
        return Bytes::new();
    }
    let mut end = message.len().min(255);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let text = &message.as_bytes()[..end];
    let mut data = Vec::with_capacity(end + 1);
    // `end` is at most 255 by construction above.
    data.push(u8::try_from(end).unwrap_or(u8::MAX));
    data.extend_from_slice(text);
    Bytes::from(data)
}

/// A NOTIFICATION for people: code and subcode names, RFC 9003 text.
pub fn describe(n: &Notification) -> String {
    let code = match n.code {
        error_code::MESSAGE_HEADER => "Message Header Error",
        error_code::OPEN_MESSAGE => "OPEN Message Error",
        error_code::UPDATE_MESSAGE => "UPDATE Message Error",
        error_code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        error_code::FSM => "Finite State Machine Error",
        error_code::CEASE => "Cease",
        error_code::ROUTE_REFRESH => "ROUTE-REFRESH Message Error",
        _ => "unknown error code",
    };
    let sub = match (n.code, n.subcode) {
        (error_code::OPEN_MESSAGE, open_subcode::UNSUPPORTED_VERSION_NUMBER) => {
            "Unsupported Version Number"
        }
        (error_code::OPEN_MESSAGE, open_subcode::BAD_PEER_AS) => "Bad Peer AS",
        (error_code::OPEN_MESSAGE, open_subcode::BAD_BGP_IDENTIFIER) => "Bad BGP Identifier",
        (error_code::OPEN_MESSAGE, open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER) => {
            "Unsupported Optional Parameter"
        }
        (error_code::OPEN_MESSAGE, open_subcode::UNACCEPTABLE_HOLD_TIME) => {
            "Unacceptable Hold Time"
        }
        (error_code::OPEN_MESSAGE, open_subcode::UNSUPPORTED_CAPABILITY) => {
            "Unsupported Capability"
        }
        (error_code::CEASE, cease_subcode::MAXIMUM_PREFIXES_REACHED) => {
            "Maximum Number of Prefixes Reached"
        }
        (error_code::CEASE, cease_subcode::ADMINISTRATIVE_SHUTDOWN) => "Administrative Shutdown",
        (error_code::CEASE, cease_subcode::PEER_DECONFIGURED) => "Peer De-configured",
        (error_code::CEASE, cease_subcode::ADMINISTRATIVE_RESET) => "Administrative Reset",
        (error_code::CEASE, cease_subcode::CONNECTION_REJECTED) => "Connection Rejected",
        (error_code::CEASE, cease_subcode::OTHER_CONFIGURATION_CHANGE) => {
            "Other Configuration Change"
        }
        (error_code::CEASE, cease_subcode::CONNECTION_COLLISION_RESOLUTION) => {
            "Connection Collision Resolution"
        }
        (error_code::CEASE, cease_subcode::OUT_OF_RESOURCES) => "Out of Resources",
        _ => "",
    };
    let mut s = format!("NOTIFICATION {}/{} ({code}", n.code, n.subcode);
    if !sub.is_empty() {
        s.push_str(": ");
        s.push_str(sub);
    }
    s.push(')');
    if let Some(m) = shutdown_message(n) {
        s.push_str(&format!(" \"{m}\""));
    }
    s
}
