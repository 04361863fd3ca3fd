//! The speaker's start-up window (RFC 4724 section 4.1) against scripted
//! peers over loopback TCP (127.0.0.2 and 127.0.0.3 connect to a speaker on
//! 127.0.0.1; the neighbours are passive): End-of-RIB is reported per peer,
//! [`SpeakerHandle::initial_sync`] answers when every neighbour sent it or
//! at the selection deferral bound, and a restarting speaker holds its own
//! UPDATEs and End-of-RIB back until the peers it waits for sent theirs.
//!
//! "Nothing sent yet" is read from the neighbour's `sent` count right after
//! an event: the speaker hands routes to a peer in the same turn of its loop
//! as the event that allows it, before it answers a later request, so a
//! count of 0 there is not a race.

use bytes::{Bytes, BytesMut};
use plane_bgp::fsm::State;
use plane_bgp::rib::VniImport;
use plane_bgp::speaker::{
    self, InitialSync, NeighborConfig, NeighborStatus, SpeakerConfig, SpeakerHandle,
};
use plane_bgp::wire::{
    afi, decode_message, encode_message, end_of_rib, frame, safi, Capability, GracefulRestart,
    GracefulRestartFamily, Message, Open, SessionParams,
};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

const SPEAKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const P1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const P2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const VNI: u32 = 100;

fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("PLANE_LOG").unwrap_or_default())
        .with_test_writer()
        .try_init();
}

fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A speaker on 127.0.0.1 with P1 and P2 as passive iBGP neighbours.
async fn start(restarting: bool, bound: Duration) -> (SpeakerHandle, SocketAddr) {
    let addr = SocketAddr::new(IpAddr::V4(SPEAKER), free_port(SPEAKER));
    let mut cfg = SpeakerConfig::new(65000, SPEAKER, vec![addr], IpAddr::V4(SPEAKER));
    cfg.vnis = vec![VniImport::auto(VNI, 65000)];
    if let Some(gr) = cfg.graceful_restart.as_mut() {
        gr.restarting = restarting;
        gr.forwarding_preserved = true;
    }
    cfg.selection_deferral = bound;
    cfg.neighbors = [P1, P2]
        .into_iter()
        .map(|p| {
            let mut n = NeighborConfig::new(IpAddr::V4(p), 65000);
            n.passive = true;
            n
        })
        .collect();
    let (handle, _events, _task) = speaker::start(cfg).await.expect("speaker starts");
    // Something to advertise as soon as advertising is allowed.
    handle.originate_imet(VNI).await.expect("IMET originated");
    (handle, addr)
}

/// How a scripted peer announces graceful restart.
#[derive(Clone, Copy)]
enum Gr {
    /// No GR capability at all.
    None,
    /// GR for EVPN, R bit clear.
    Helper,
    /// GR for EVPN with the R bit: it is restarting too.
    Restarting,
}

/// A scripted BGP peer on the far end of one TCP connection.
struct FarEnd {
    io: TcpStream,
    buf: BytesMut,
    /// The speaker's OPEN.
    open: Option<Open>,
}

impl FarEnd {
    /// Connects from `me` and brings the session to Established (hold
    /// time 0: no keepalives to script).
    async fn establish(me: Ipv4Addr, speaker: SocketAddr, gr: Gr) -> FarEnd {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(IpAddr::V4(me), 0))
            .expect("bind a loopback address");
        let io = socket
            .connect(speaker)
            .await
            .expect("connect to the speaker");
        let mut far = FarEnd {
            io,
            buf: BytesMut::new(),
            open: None,
        };
        let mut capabilities = vec![
            Capability::Multiprotocol {
                afi: afi::L2VPN,
                safi: safi::EVPN,
            },
            Capability::FourOctetAs(65000),
        ];
        if let Gr::Helper | Gr::Restarting = gr {
            capabilities.push(Capability::GracefulRestart(GracefulRestart {
                restarting: matches!(gr, Gr::Restarting),
                notification: false,
                restart_time: 120,
                families: vec![GracefulRestartFamily {
                    afi: afi::L2VPN,
                    safi: safi::EVPN,
                    forwarding_preserved: true,
                }],
            }));
        }
        far.send(Message::Open(Open {
            version: 4,
            my_as: 65000,
            hold_time: 0,
            bgp_id: me,
            capabilities,
            capability_params: plane_bgp::wire::CapabilityParams::PerCapability,
            other_params: vec![],
        }))
        .await;
        match far.recv().await {
            Some(Message::Open(o)) => far.open = Some(o),
            other => panic!("expected the speaker's OPEN, got {other:?}"),
        }
        assert_eq!(far.recv().await, Some(Message::Keepalive));
        far.send(Message::Keepalive).await;
        far
    }

    async fn send(&mut self, m: Message) {
        let mut out = BytesMut::new();
        encode_message(&m, &SessionParams::default(), &mut out).expect("encode");
        self.send_raw(&out).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.io
            .write_all(bytes)
            .await
            .expect("write to the speaker");
    }

    async fn send_end_of_rib(&mut self) {
        let eor: Bytes = end_of_rib(afi::L2VPN, safi::EVPN);
        self.send_raw(&eor).await;
    }

    /// The next message from the speaker (10 s at most), None when closed.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(n) = frame(&self.buf, 65535).expect("the speaker frames correctly") {
                let m = self.buf.split_to(n);
                return Some(
                    decode_message(&m, &SessionParams::default())
                        .expect("the speaker sends valid messages"),
                );
            }
            let read = timeout(Duration::from_secs(10), self.io.read_buf(&mut self.buf))
                .await
                .expect("a message from the speaker within 10 s");
            if read.ok()? == 0 {
                return None;
            }
        }
    }

    /// The speaker's R bit in its OPEN.
    fn speaker_restarting(&self) -> bool {
        self.open.iter().flat_map(|o| &o.capabilities).any(|c| {
            matches!(
                c,
                Capability::GracefulRestart(GracefulRestart {
                    restarting: true,
                    ..
                })
            )
        })
    }

    /// Reads the speaker's initial table: UPDATEs up to its End-of-RIB.
    /// Returns how many route UPDATEs came before it.
    async fn initial_table(&mut self) -> usize {
        let mut updates = 0;
        loop {
            match self.recv().await {
                Some(Message::Update(u)) => match u.end_of_rib() {
                    Some(family) => {
                        assert_eq!(family, (afi::L2VPN, safi::EVPN));
                        return updates;
                    }
                    None => updates += 1,
                },
                Some(Message::Keepalive) => {}
                other => panic!("expected UPDATEs then End-of-RIB, got {other:?}"),
            }
        }
    }
}

/// Polls the speaker's neighbours every 10 ms (10 s at most) until `f`.
async fn neighbors_until(
    h: &SpeakerHandle,
    what: &str,
    f: impl Fn(&[NeighborStatus]) -> bool,
) -> Vec<NeighborStatus> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ns = h.neighbors().await.expect("neighbors");
        if f(&ns) {
            return ns;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {ns:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn status(ns: &[NeighborStatus], p: Ipv4Addr) -> &NeighborStatus {
    ns.iter()
        .find(|n| n.address == IpAddr::V4(p))
        .expect("configured neighbour listed")
}

/// Both sessions Established as the speaker itself saw it (the uptime is
/// set where the speaker would hand out the first routes).
fn both_established(ns: &[NeighborStatus]) -> bool {
    ns.len() == 2
        && ns
            .iter()
            .all(|n| n.state == State::Established && n.uptime.is_some())
}

type Pending = Pin<Box<dyn Future<Output = Result<InitialSync, speaker::SpeakerError>>>>;

/// Polls the pending `initial_sync` once: Some when it has answered.
async fn answered(sync: &mut Pending) -> Option<InitialSync> {
    timeout(Duration::ZERO, sync)
        .await
        .ok()
        .map(|r| r.expect("speaker alive"))
}

fn ips(v: &[Ipv4Addr]) -> Vec<IpAddr> {
    v.iter().copied().map(IpAddr::V4).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_rib_is_reported_per_peer_and_ends_the_window() {
    init_log();
    let (h, addr) = start(false, Duration::from_secs(600)).await;
    // Registered before any peer is up; answered only at the end.
    let mut sync: Pending = Box::pin({
        let h = h.clone();
        async move { h.initial_sync().await }
    });
    assert!(answered(&mut sync).await.is_none());
    let mut p1 = FarEnd::establish(P1, addr, Gr::Helper).await;
    let mut p2 = FarEnd::establish(P2, addr, Gr::Helper).await;
    assert!(!p1.speaker_restarting(), "R bit only when restarting");
    // Not restarting: the table comes at once.
    assert_eq!(p1.initial_table().await, 1);
    assert_eq!(p2.initial_table().await, 1);

    p1.send_end_of_rib().await;
    let ns = neighbors_until(&h, "End-of-RIB from P1", |ns| status(ns, P1).end_of_rib).await;
    assert!(!status(&ns, P2).end_of_rib, "P2 sent no End-of-RIB");
    assert!(
        answered(&mut sync).await.is_none(),
        "the window waits for P2"
    );

    p2.send_end_of_rib().await;
    let s = timeout(Duration::from_secs(10), sync)
        .await
        .expect("answered after the last End-of-RIB")
        .expect("speaker alive");
    assert_eq!(s.end_of_rib, ips(&[P1, P2]));
    assert!(s.missing.is_empty(), "{s:?}");
    assert!(s.elapsed < Duration::from_secs(600));
    // Later callers get the same answer at once.
    assert_eq!(h.initial_sync().await.expect("answer"), s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_ends_at_the_bound_when_a_peer_never_sends_end_of_rib() {
    init_log();
    const BOUND: Duration = Duration::from_secs(1);
    let t0 = Instant::now();
    let (h, addr) = start(true, BOUND).await;
    let mut p1 = FarEnd::establish(P1, addr, Gr::Helper).await;
    let mut p2 = FarEnd::establish(P2, addr, Gr::Helper).await;
    p1.send_end_of_rib().await;
    let s = h.initial_sync().await.expect("answer");
    assert!(t0.elapsed() >= BOUND, "not before the bound: {s:?}");
    assert!(s.elapsed >= BOUND, "{s:?}");
    assert_eq!(s.end_of_rib, ips(&[P1]));
    assert_eq!(s.missing, ips(&[P2]));
    // The restarting speaker's deferral ended with the bound too.
    assert_eq!(p1.initial_table().await, 1);
    assert_eq!(p2.initial_table().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_speaker_defers_its_updates_until_the_peers_end_of_rib() {
    init_log();
    let (h, addr) = start(true, Duration::from_secs(600)).await;
    let mut p1 = FarEnd::establish(P1, addr, Gr::Helper).await;
    let mut p2 = FarEnd::establish(P2, addr, Gr::Helper).await;
    assert!(p1.speaker_restarting() && p2.speaker_restarting());
    let ns = neighbors_until(&h, "both Established", both_established).await;
    assert!(
        ns.iter().all(|n| n.sent == 0),
        "nothing advertised before any End-of-RIB: {ns:?}"
    );

    p1.send_end_of_rib().await;
    let ns = neighbors_until(&h, "End-of-RIB from P1", |ns| status(ns, P1).end_of_rib).await;
    assert!(
        ns.iter().all(|n| n.sent == 0),
        "still deferred: P2 sent no End-of-RIB: {ns:?}"
    );

    p2.send_end_of_rib().await;
    assert_eq!(
        p1.initial_table().await,
        1,
        "the IMET route, then End-of-RIB"
    );
    assert_eq!(p2.initial_table().await, 1);
    let s = h.initial_sync().await.expect("answer");
    assert!(s.missing.is_empty(), "{s:?}");
    let ns = h.neighbors().await.expect("neighbors");
    assert!(ns.iter().all(|n| n.sent == 1), "{ns:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_speaker_does_not_wait_for_peers_without_gr_or_restarting() {
    init_log();
    let (h, addr) = start(true, Duration::from_secs(600)).await;
    let mut sync: Pending = Box::pin({
        let h = h.clone();
        async move { h.initial_sync().await }
    });
    assert!(answered(&mut sync).await.is_none());
    // P1 restarts too (it waits for our End-of-RIB); P2 has no GR: RFC 4724
    // section 4.1 excludes both from the deferral.
    let mut p1 = FarEnd::establish(P1, addr, Gr::Restarting).await;
    let mut p2 = FarEnd::establish(P2, addr, Gr::None).await;
    assert_eq!(p1.initial_table().await, 1);
    assert_eq!(p2.initial_table().await, 1);
    // The embedder's window still waits for their End-of-RIB.
    assert!(answered(&mut sync).await.is_none());
    p1.send_end_of_rib().await;
    p2.send_end_of_rib().await;
    let s = timeout(Duration::from_secs(10), sync)
        .await
        .expect("answered after both End-of-RIB")
        .expect("speaker alive");
    assert_eq!(s.end_of_rib, ips(&[P1, P2]));
}

/// Closes P1's session and waits until the speaker saw it go, so that the
/// next connection from P1 is a new session, not a collision.
async fn drop_session(h: &SpeakerHandle, p1: FarEnd) {
    drop(p1);
    neighbors_until(h, "P1's session down", |ns| {
        status(ns, P1).state != State::Established
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_back_after_the_bound_opens_without_the_restart_bit() {
    init_log();
    // Long enough for P1 to come up within it on a loaded machine.
    const BOUND: Duration = Duration::from_secs(2);
    let (h, addr) = start(true, BOUND).await;
    let p1 = FarEnd::establish(P1, addr, Gr::Helper).await;
    assert!(p1.speaker_restarting(), "R bit while restarting");
    // P2 never comes: the restart ends at the bound.
    let s = h.initial_sync().await.expect("answer");
    assert_eq!(s.missing, ips(&[P1, P2]));

    drop_session(&h, p1).await;
    let mut p1 = FarEnd::establish(P1, addr, Gr::Helper).await;
    assert!(
        !p1.speaker_restarting(),
        "RFC 4724 section 4.1: no R bit once the restart is over: {:?}",
        p1.open
    );
    // Not deferring any more: the table comes at once.
    assert_eq!(p1.initial_table().await, 1);
    // A neighbour that first connects after the restart: R=0 as well.
    let p2 = FarEnd::establish(P2, addr, Gr::Helper).await;
    assert!(!p2.speaker_restarting(), "{:?}", p2.open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_back_after_every_end_of_rib_opens_without_the_restart_bit() {
    init_log();
    let (h, addr) = start(true, Duration::from_secs(600)).await;
    let mut p1 = FarEnd::establish(P1, addr, Gr::Helper).await;
    let mut p2 = FarEnd::establish(P2, addr, Gr::Helper).await;
    assert!(p1.speaker_restarting() && p2.speaker_restarting());
    p1.send_end_of_rib().await;
    p2.send_end_of_rib().await;
    assert_eq!(p1.initial_table().await, 1);
    assert_eq!(p2.initial_table().await, 1);
    let s = h.initial_sync().await.expect("answer");
    assert!(s.missing.is_empty(), "{s:?}");

    drop_session(&h, p1).await;
    let p1 = FarEnd::establish(P1, addr, Gr::Helper).await;
    assert!(
        !p1.speaker_restarting(),
        "RFC 4724 section 4.1: no R bit once the restart is over: {:?}",
        p1.open
    );
    // The other session was not disturbed.
    let ns = h.neighbors().await.expect("neighbors");
    assert_eq!(status(&ns, P2).state, State::Established);
}
