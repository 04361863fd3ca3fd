//! Driver tests: the peer task over in-memory pipes with paused tokio time,
//! so that hold timers, keepalives, connect retries and collisions run in
//! virtual seconds and deterministically. The far end is scripted here with
//! the wire codec.

use bytes::{Bytes, BytesMut};
use plane_bgp::fsm::{admin_shutdown, shutdown_message, DownReason, FsmConfig, State};
use plane_bgp::session::{
    spawn_peer, BoxTransport, ConnectFuture, Connector, PeerCommand, PeerConfig, PeerEvent,
};
use plane_bgp::wire::{
    decode_message, encode_message, frame, Capability, Message, Open, SessionParams, Update,
};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// Hands out scripted connections; an empty script is a SYN that is never
/// answered. Records when each attempt was made.
#[derive(Default)]
struct PipeConnector {
    script: Mutex<VecDeque<io::Result<DuplexStream>>>,
    attempts: Mutex<Vec<Instant>>,
}

impl Connector for PipeConnector {
    fn connect(&self) -> ConnectFuture {
        if let Ok(mut a) = self.attempts.lock() {
            a.push(Instant::now());
        }
        let next = self.script.lock().ok().and_then(|mut s| s.pop_front());
        Box::pin(async move {
            match next {
                Some(Ok(s)) => Ok(Box::new(s) as BoxTransport),
                Some(Err(e)) => Err(e),
                None => std::future::pending().await,
            }
        })
    }
}

/// The scripted far end of a connection.
struct FarEnd {
    io: DuplexStream,
    buf: BytesMut,
}

impl FarEnd {
    async fn send(&mut self, m: Message) {
        let mut out = BytesMut::new();
        encode_message(&m, &SessionParams::default(), &mut out).expect("encode");
        self.io.write_all(&out).await.expect("write to driver");
    }

    /// The next message from the driver, or None when it closed.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(n) = frame(&self.buf, 65535).expect("driver sends valid framing") {
                let m = self.buf.split_to(n);
                return Some(
                    decode_message(&m, &SessionParams::default())
                        .expect("driver sends valid messages"),
                );
            }
            if self.io.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    /// Reads until the driver closes, returning what it sent.
    async fn drain(&mut self) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(m) = self.recv().await {
            v.push(m);
        }
        v
    }
}

fn pipe() -> (DuplexStream, FarEnd) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (
        a,
        FarEnd {
            io: b,
            buf: BytesMut::new(),
        },
    )
}

fn config(router_id: Ipv4Addr, hold: u16) -> PeerConfig {
    let mut fsm = FsmConfig::evpn(65000, router_id, 65001);
    fsm.hold_time = hold;
    PeerConfig {
        address: PEER,
        port: 179,
        local_address: None,
        password: None,
        route_reflector_client: false,
        fsm,
    }
}

fn peer_open(id: Ipv4Addr, hold: u16) -> Message {
    Message::Open(Open {
        version: 4,
        my_as: 65001,
        hold_time: hold,
        bgp_id: id,
        capabilities: vec![
            Capability::Multiprotocol { afi: 25, safi: 70 },
            Capability::FourOctetAs(65001),
        ],
        capability_params: plane_bgp::wire::CapabilityParams::PerCapability,
        other_params: vec![],
    })
}

/// Waits for the first event matching `f`, skipping others.
async fn expect_event<T>(
    events: &mut mpsc::Receiver<PeerEvent>,
    mut f: impl FnMut(PeerEvent) -> Option<T>,
) -> T {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(600), events.recv())
            .await
            .expect("event within 600 virtual seconds")
            .expect("peer task alive");
        if let Some(t) = f(ev) {
            return t;
        }
    }
}

/// Drives a session to Established over `far` (the driver connected out).
async fn establish(far: &mut FarEnd, events: &mut mpsc::Receiver<PeerEvent>, hold: u16) {
    assert!(
        matches!(far.recv().await, Some(Message::Open(_))),
        "driver opens with OPEN"
    );
    far.send(peer_open(Ipv4Addr::new(10, 0, 0, 2), hold)).await;
    assert_eq!(far.recv().await, Some(Message::Keepalive));
    far.send(Message::Keepalive).await;
    expect_event(events, |e| {
        matches!(e, PeerEvent::Established { .. }).then_some(())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn hold_timer_expiry_sends_notification_and_reports_down() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 1), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    // Peer proposes 3 s: the minimum wins, keepalives every second.
    establish(&mut far, &mut events, 3).await;
    let start = Instant::now();
    // The far end goes silent; the driver keeps sending keepalives, then
    // gives up when the hold time has passed without anything received.
    let sent = far.drain().await;
    let elapsed = start.elapsed();
    let keepalives = sent.iter().filter(|m| **m == Message::Keepalive).count();
    assert!(
        keepalives >= 2,
        "keepalives every second before expiry: {sent:?}"
    );
    match sent.last() {
        Some(Message::Notification(n)) => {
            assert_eq!((n.code, n.subcode), (4, 0), "Hold Timer Expired")
        }
        other => panic!("expected NOTIFICATION 4/0 last, got {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(4),
        "expired after {elapsed:?}"
    );
    let reason = expect_event(&mut events, |e| match e {
        PeerEvent::Down { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(matches!(reason, DownReason::NotificationSent(n) if n.code == 4));
}

#[tokio::test(start_paused = true)]
async fn keepalives_from_the_peer_keep_the_session_up() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    let (cmd, _task) = spawn_peer(config(Ipv4Addr::new(10, 0, 0, 1), 3), connector.clone(), tx);
    cmd.send(PeerCommand::Start).await.expect("start");
    establish(&mut far, &mut events, 3).await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        far.send(Message::Keepalive).await;
    }
    // 10 s with a 3 s hold time: still up, no Down event.
    while let Ok(ev) = events.try_recv() {
        assert!(
            !matches!(ev, PeerEvent::Down { .. }),
            "session went down: {ev:?}"
        );
    }
    cmd.send(PeerCommand::Stop(admin_shutdown("test over")))
        .await
        .expect("stop");
    let sent = far.drain().await;
    match sent.last() {
        Some(Message::Notification(n)) => {
            assert_eq!((n.code, n.subcode), (6, 2));
            assert_eq!(shutdown_message(n).as_deref(), Some("test over"));
        }
        other => panic!("expected Cease last, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn connect_retry_backs_off_exponentially() {
    let connector = Arc::new(PipeConnector::default());
    for _ in 0..5 {
        connector
            .script
            .lock()
            .expect("lock")
            .push_back(Err(io::Error::from(io::ErrorKind::ConnectionRefused)));
    }
    let (tx, mut events) = mpsc::channel(256);
    let start = Instant::now();
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 1), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs(100)).await;
    let attempts: Vec<u64> = connector
        .attempts
        .lock()
        .expect("lock")
        .iter()
        .map(|t| (*t - start).as_secs())
        .collect();
    // Refused at 0, then retried after 5, 10, 20 and 40 s; the next wait
    // is capped at 60 s, so the sixth attempt (t = 135 s) is not yet due.
    assert_eq!(attempts, [0, 5, 15, 35, 75]);
}

#[tokio::test(start_paused = true)]
async fn collision_lower_identifier_yields_to_the_peers_connection() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far_out) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    // Our identifier 10.0.0.1 < the peer's 10.0.0.2: the peer's connection wins.
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 1), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    assert!(matches!(far_out.recv().await, Some(Message::Open(_))));
    far_out
        .send(peer_open(Ipv4Addr::new(10, 0, 0, 2), 90))
        .await;
    assert_eq!(far_out.recv().await, Some(Message::Keepalive)); // OpenConfirm
    let (theirs, mut far_in) = pipe();
    cmd.send(PeerCommand::Incoming(Box::new(theirs)))
        .await
        .expect("incoming");
    far_in.send(peer_open(Ipv4Addr::new(10, 0, 0, 2), 90)).await;
    // The outbound connection is closed with Cease / Connection Collision Resolution.
    let dumped = far_out.drain().await;
    assert!(
        matches!(dumped.last(), Some(Message::Notification(n)) if (n.code, n.subcode) == (6, 7)),
        "{dumped:?}"
    );
    // The inbound one continues: our OPEN, our KEEPALIVE, then Established.
    assert!(
        matches!(far_in.recv().await, Some(Message::Open(o)) if o.bgp_id == Ipv4Addr::new(10, 0, 0, 1))
    );
    assert_eq!(far_in.recv().await, Some(Message::Keepalive));
    far_in.send(Message::Keepalive).await;
    expect_event(&mut events, |e| {
        matches!(e, PeerEvent::Established { .. }).then_some(())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn collision_higher_identifier_keeps_its_own_connection() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far_out) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 3), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    assert!(matches!(far_out.recv().await, Some(Message::Open(_))));
    far_out
        .send(peer_open(Ipv4Addr::new(10, 0, 0, 2), 90))
        .await;
    assert_eq!(far_out.recv().await, Some(Message::Keepalive));
    let (theirs, mut far_in) = pipe();
    cmd.send(PeerCommand::Incoming(Box::new(theirs)))
        .await
        .expect("incoming");
    far_in.send(peer_open(Ipv4Addr::new(10, 0, 0, 2), 90)).await;
    let rejected = far_in.drain().await;
    assert!(
        matches!(rejected.as_slice(), [Message::Notification(n)] if (n.code, n.subcode) == (6, 7)),
        "the new connection gets only the Cease: {rejected:?}"
    );
    far_out.send(Message::Keepalive).await;
    expect_event(&mut events, |e| {
        matches!(e, PeerEvent::Established { .. }).then_some(())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn open_without_evpn_gets_unsupported_capability() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 1), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    assert!(matches!(far.recv().await, Some(Message::Open(_))));
    let Message::Open(mut open) = peer_open(Ipv4Addr::new(10, 0, 0, 2), 90) else {
        unreachable!()
    };
    open.capabilities = vec![
        Capability::Multiprotocol { afi: 1, safi: 1 },
        Capability::FourOctetAs(65001),
    ];
    far.send(Message::Open(open)).await;
    let sent = far.drain().await;
    assert!(
        matches!(sent.as_slice(), [Message::Notification(n)] if (n.code, n.subcode) == (2, 7) && n.data.as_ref() == [1, 4, 0, 25, 0, 70]),
        "{sent:?}"
    );
    let err = expect_event(&mut events, |e| match e {
        PeerEvent::Error { message, .. } => Some(message),
        _ => None,
    })
    .await;
    assert!(err.contains("Unsupported Capability"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn updates_go_to_the_speaker_and_output_is_pulled() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 1), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    establish(&mut far, &mut events, 90).await;
    // An empty UPDATE (IPv4 End-of-RIB) reaches the speaker as an UPDATE.
    far.send(Message::Update(Update::default())).await;
    let update = expect_event(&mut events, |e| match e {
        PeerEvent::Update {
            update, session, ..
        } => Some((update, session)),
        _ => None,
    })
    .await;
    assert_eq!(update, (Update::default(), 1));
    // A batch for session 1 is written, then Drained asks for more; a
    // batch for an old session is dropped.
    let mut eor = BytesMut::new();
    encode_message(
        &Message::Update(Update::default()),
        &SessionParams::default(),
        &mut eor,
    )
    .expect("encode");
    let eor: Bytes = eor.freeze();
    cmd.send(PeerCommand::Send {
        session: 0,
        messages: vec![eor.clone()],
    })
    .await
    .expect("send");
    cmd.send(PeerCommand::Send {
        session: 1,
        messages: vec![eor.clone(), eor],
    })
    .await
    .expect("send");
    assert_eq!(far.recv().await, Some(Message::Update(Update::default())));
    assert_eq!(far.recv().await, Some(Message::Update(Update::default())));
    expect_event(&mut events, |e| {
        matches!(e, PeerEvent::Drained { session: 1, .. }).then_some(())
    })
    .await;
    let state = expect_event(&mut events, |e| match e {
        PeerEvent::StateChanged { state, .. } => Some(state),
        PeerEvent::Down { .. } => panic!("session went down"),
        _ => None,
    });
    // Nothing else happens: no state change within a minute.
    assert!(tokio::time::timeout(Duration::from_secs(60), state)
        .await
        .is_err());
    let _ = State::Established;
}

#[tokio::test(start_paused = true)]
async fn peer_closing_the_connection_is_a_connection_loss() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 1), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    establish(&mut far, &mut events, 90).await;
    let at = Instant::now();
    drop(far);
    let reason = expect_event(&mut events, |e| match e {
        PeerEvent::Down { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, DownReason::ConnectionLost);
    assert!(
        at.elapsed() < Duration::from_millis(10),
        "detected at once, not by a timer"
    );
}

#[tokio::test(start_paused = true)]
async fn a_broken_header_gets_a_message_header_error() {
    let connector = Arc::new(PipeConnector::default());
    let (ours, mut far) = pipe();
    connector.script.lock().expect("lock").push_back(Ok(ours));
    let (tx, mut events) = mpsc::channel(64);
    let (cmd, _task) = spawn_peer(
        config(Ipv4Addr::new(10, 0, 0, 1), 90),
        connector.clone(),
        tx,
    );
    cmd.send(PeerCommand::Start).await.expect("start");
    establish(&mut far, &mut events, 90).await;
    // 19 octets whose marker is not all ones: connection not synchronized.
    far.io.write_all(&[0u8; 19]).await.expect("write");
    let sent = far.drain().await;
    assert!(
        matches!(sent.last(), Some(Message::Notification(n)) if (n.code, n.subcode) == (1, 1)),
        "Message Header Error / Connection Not Synchronized: {sent:?}"
    );
    let reason = expect_event(&mut events, |e| match e {
        PeerEvent::Down { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(
        matches!(&reason, DownReason::NotificationSent(n) if n.code == 1),
        "{reason:?}"
    );
}
