//! Two speakers over loopback TCP (127.0.0.1 and 127.0.0.2, both active, so
//! their connections collide): the session comes up, local type-2 and
//! type-3 routes reach the other side's RIB and dataplane stream, a
//! withdrawal propagates, and a shutdown reaches the peer as Cease /
//! Administrative Shutdown with its message, withdrawing the routes.

use plane_bgp::fsm::State;
use plane_bgp::rib::{RibEvent, RouteFilter, RouteSource, VniImport};
use plane_bgp::speaker::{self, NeighborConfig, SpeakerConfig, SpeakerHandle};
use plane_bgp::wire::MacAddr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::mpsc;

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

async fn start(
    me: Ipv4Addr,
    port: u16,
    other: Ipv4Addr,
    other_port: u16,
) -> (SpeakerHandle, mpsc::Receiver<Vec<RibEvent>>) {
    let mut cfg = SpeakerConfig::new(
        65000,
        me,
        vec![SocketAddr::new(IpAddr::V4(me), port)],
        IpAddr::V4(me),
    );
    cfg.connect_retry = Duration::from_secs(1);
    cfg.vnis = vec![VniImport::auto(100, 65000)];
    let mut n = NeighborConfig::new(IpAddr::V4(other), 65000);
    n.port = other_port;
    n.local_address = Some(IpAddr::V4(me));
    cfg.neighbors = vec![n];
    let (handle, events, _task) = speaker::start(cfg).await.expect("speaker starts");
    (handle, events)
}

/// Polls `f` every 20 ms for up to 20 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state_of(h: &SpeakerHandle) -> State {
    h.neighbors().await.expect("neighbors")[0].state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_speakers_exchange_routes_and_shut_down_cleanly() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("PLANE_LOG").unwrap_or_default())
        .with_test_writer()
        .try_init();
    let (pa, pb) = (free_port(A), free_port(B));
    let (a, _a_events) = start(A, pa, B, pb).await;
    let (b, mut b_events) = start(B, pb, A, pa).await;
    eventually("both Established", || async {
        (state_of(&a).await == State::Established && state_of(&b).await == State::Established)
            .then_some(())
    })
    .await;

    let mac: MacAddr = "02:00:00:00:01:01".parse().expect("mac");
    let ip: IpAddr = "192.168.100.11".parse().expect("ip");
    a.originate_imet(100).await.expect("imet");
    a.originate_mac_ip(100, mac, Some(ip))
        .await
        .expect("mac+ip");
    a.originate_mac_ip(100, mac, None).await.expect("mac only");

    let routes = eventually("3 routes at B", || async {
        let r = b.routes(RouteFilter::default()).await.expect("routes");
        (r.len() == 3).then_some(r)
    })
    .await;
    for r in &routes {
        assert_eq!(r.nexthop, Some(IpAddr::V4(A)), "{r:?}");
        assert_eq!(r.vni, Some(100), "{r:?}");
        assert!(matches!(r.source, RouteSource::Peer(_)), "{r:?}");
        assert_eq!(r.peer_addr, Some(IpAddr::V4(A)));
    }
    assert!(routes
        .iter()
        .any(|r| r.route_type == 3 && r.originator == Some(IpAddr::V4(A))));
    assert!(routes
        .iter()
        .any(|r| r.route_type == 2 && r.mac == Some(mac) && r.ip == Some(ip)));
    assert!(routes
        .iter()
        .any(|r| r.route_type == 2 && r.mac == Some(mac) && r.ip.is_none()));
    let neighbors = b.neighbors().await.expect("neighbors");
    assert_eq!(neighbors[0].received, 3);
    assert!(neighbors[0].uptime.is_some());
    assert_eq!(a.neighbors().await.expect("neighbors")[0].sent, 3);

    // The dataplane stream at B saw the flood entry and the MAC/IP.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let batch = tokio::time::timeout(Duration::from_secs(10), b_events.recv())
            .await
            .expect("dataplane events")
            .expect("stream open");
        seen.extend(batch);
    }
    assert!(
        seen.contains(&RibEvent::FloodAdd {
            vni: 100,
            vtep: IpAddr::V4(A)
        }),
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| matches!(e, RibEvent::MacIpBest { vni: 100, ip: Some(_), vtep, .. } if *vtep == IpAddr::V4(A))));

    // Withdrawal propagates.
    a.withdraw_mac_ip(100, mac, Some(ip))
        .await
        .expect("withdraw");
    eventually("withdrawal at B", || async {
        let r = b.routes(RouteFilter::default()).await.expect("routes");
        (r.len() == 2 && !r.iter().any(|r| r.ip.is_some())).then_some(())
    })
    .await;

    // A clean shutdown: B sees Administrative Shutdown with the message and
    // withdraws everything A sent.
    a.shutdown("maintenance window").await.expect("shutdown");
    let err = eventually("B notices the Cease", || async {
        let n = b.neighbors().await.expect("neighbors");
        let err = n[0].last_error.clone()?;
        (n[0].state != State::Established).then_some(err)
    })
    .await;
    assert!(
        err.contains("Administrative Shutdown") && err.contains("maintenance window"),
        "{err}"
    );
    eventually("routes of A withdrawn at B", || async {
        b.routes(RouteFilter::default())
            .await
            .expect("routes")
            .is_empty()
            .then_some(())
    })
    .await;
    b.shutdown("test over").await.expect("shutdown");
}

mod scripted {
    //! A peer scripted with the codec over loopback TCP, for what FRR and
    //! GoBGP cannot be told to do on cue (graceful restart timing).
    use bytes::BytesMut;
    use plane_bgp::wire::*;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};

    pub struct Peer {
        pub io: TcpStream,
        buf: BytesMut,
        /// Our ASN (OPEN and AS_PATH).
        pub asn: u32,
    }

    pub const ID: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
    pub const ASN: u32 = 65003;

    impl Peer {
        pub async fn connect(to: SocketAddr) -> Peer {
            Peer::connect_from(to, ID, None).await
        }

        /// Connects from `from`, optionally with a tiny receive buffer (a
        /// slow reader).
        pub async fn connect_from(to: SocketAddr, from: Ipv4Addr, rcvbuf: Option<u32>) -> Peer {
            let s = TcpSocket::new_v4().expect("socket");
            if let Some(size) = rcvbuf {
                s.set_recv_buffer_size(size).expect("SO_RCVBUF");
            }
            s.bind(SocketAddr::new(IpAddr::V4(from), 0))
                .expect("bind 127.0.0.x");
            Peer {
                io: s.connect(to).await.expect("connect to plane"),
                buf: BytesMut::new(),
                asn: ASN,
            }
        }

        pub async fn send(&mut self, m: Message) {
            let mut out = BytesMut::new();
            encode_message(&m, &SessionParams::default(), &mut out).expect("encode");
            self.io.write_all(&out).await.expect("write");
        }

        pub async fn recv(&mut self) -> Message {
            loop {
                if let Some(n) = frame(&self.buf, 65535).expect("framing") {
                    let m = self.buf.split_to(n);
                    return decode_message(&m, &SessionParams::default()).expect("decode");
                }
                assert!(
                    self.io.read_buf(&mut self.buf).await.expect("read") > 0,
                    "plane closed"
                );
            }
        }

        /// OPEN with graceful restart for EVPN (restart time, R bit), then
        /// the handshake; returns plane's OPEN.
        pub async fn establish(&mut self, restart_time: u16, restarting: bool) -> Open {
            self.establish_as(ID, restart_time, restarting).await
        }

        /// [`Peer::establish`] with the F bit given.
        pub async fn establish_gr(
            &mut self,
            restart_time: u16,
            restarting: bool,
            forwarding_preserved: bool,
        ) -> Open {
            self.establish_with(ID, restart_time, restarting, forwarding_preserved)
                .await
        }

        pub async fn establish_as(
            &mut self,
            id: Ipv4Addr,
            restart_time: u16,
            restarting: bool,
        ) -> Open {
            self.establish_with(id, restart_time, restarting, true)
                .await
        }

        async fn establish_with(
            &mut self,
            id: Ipv4Addr,
            restart_time: u16,
            restarting: bool,
            forwarding_preserved: bool,
        ) -> Open {
            self.send(Message::Open(Open {
                version: 4,
                my_as: u16::try_from(self.asn).unwrap_or(AS_TRANS),
                hold_time: 90,
                bgp_id: id,
                capabilities: vec![
                    Capability::Multiprotocol { afi: 25, safi: 70 },
                    Capability::FourOctetAs(self.asn),
                    Capability::GracefulRestart(GracefulRestart {
                        restarting,
                        notification: false,
                        restart_time,
                        families: vec![GracefulRestartFamily {
                            afi: 25,
                            safi: 70,
                            forwarding_preserved,
                        }],
                    }),
                ],
                capability_params: plane_bgp::wire::CapabilityParams::PerCapability,
                other_params: vec![],
            }))
            .await;
            let Message::Open(open) = self.recv().await else {
                panic!("plane must answer with OPEN")
            };
            assert_eq!(self.recv().await, Message::Keepalive);
            self.send(Message::Keepalive).await;
            open
        }

        /// Announces MACs 02:00:00:00:0f:NN (MAC-only) in VNI 100.
        pub async fn announce(&mut self, macs: &[u8]) {
            let macs: Vec<MacAddr> = macs
                .iter()
                .map(|m| MacAddr([2, 0, 0, 0, 0x0f, *m]))
                .collect();
            self.announce_macs(&macs).await;
        }

        /// Announces MAC-only routes in VNI 100, packed.
        pub async fn announce_macs(&mut self, macs: &[MacAddr]) {
            let nlri: Vec<EvpnNlri> = macs
                .iter()
                .map(|m| EvpnNlri {
                    path_id: None,
                    route: EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
                        rd: RouteDistinguisher::Ipv4 {
                            addr: ID,
                            number: 100,
                        },
                        esi: Esi::ZERO,
                        ethernet_tag: 0,
                        mac: *m,
                        ip: None,
                        label1: 100,
                        label2: None,
                    }),
                })
                .collect();
            let attrs: Vec<PathAttribute> = vec![
                AttrValue::Origin(Origin::Igp).into(),
                AttrValue::AsPath(AsPath {
                    segments: vec![AsSegment {
                        kind: AsSegmentType::AsSequence,
                        asns: vec![self.asn].into(),
                    }]
                    .into(),
                })
                .into(),
                AttrValue::ExtendedCommunities(
                    vec![ExtendedCommunity::RouteTarget(RouteTarget::As2 {
                        asn: 65003,
                        value: 100,
                    })]
                    .into(),
                )
                .into(),
            ];
            for m in encode_evpn_reach(&attrs, &MpNextHop::V4(ID), &nlri, &SessionParams::default())
                .expect("encode")
            {
                self.io.write_all(&m).await.expect("write");
            }
        }

        /// Reads UPDATEs until `n` EVPN NLRI have been announced in total.
        pub async fn count_announced(&mut self, n: usize) {
            let mut seen = 0;
            while seen < n {
                if let Message::Update(u) = self.recv().await {
                    for a in &u.attributes {
                        if let AttrValue::MpReachNlri(MpReach {
                            nlri: MpNlri::Evpn(v),
                            ..
                        }) = &a.value
                        {
                            seen += v.len();
                        }
                    }
                }
            }
        }

        pub async fn end_of_rib(&mut self) {
            let unreach = MpUnreach {
                afi: 25,
                safi: 70,
                nlri: MpNlri::Evpn(vec![]),
            };
            self.send(Message::Update(Update {
                attributes: vec![AttrValue::MpUnreachNlri(unreach).into()],
                ..Update::default()
            }))
            .await;
        }
    }
}

/// A speaker on A with the scripted peer as a passive neighbour, GR helper
/// stale time `stale_time`; returns it and where to connect.
async fn gr_speaker(stale_time: Duration) -> (SpeakerHandle, SocketAddr) {
    let port = free_port(A);
    let mut cfg = SpeakerConfig::new(
        65000,
        A,
        vec![SocketAddr::new(IpAddr::V4(A), port)],
        IpAddr::V4(A),
    );
    cfg.vnis = vec![VniImport::auto(100, 65000)];
    cfg.stale_time = stale_time;
    let mut n = NeighborConfig::new(IpAddr::V4(scripted::ID), scripted::ASN);
    n.passive = true;
    cfg.neighbors = vec![n];
    let (plane, _events, _task) = speaker::start(cfg).await.expect("speaker");
    (plane, SocketAddr::new(IpAddr::V4(A), port))
}

/// The scripted peer's MACs (last octet) in the RIB, with their stale flag.
async fn macs(plane: SpeakerHandle) -> Vec<(u8, bool)> {
    let r = plane.routes(RouteFilter::default()).await.expect("routes");
    let mut v: Vec<(u8, bool)> = r
        .iter()
        .filter_map(|r| r.mac.map(|m| (m.octets()[5], r.stale)))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_helper_keeps_stale_routes_until_end_of_rib_or_restart_time() {
    use plane_bgp::wire::{Capability, Message};
    let (plane, to) = gr_speaker(Duration::from_secs(360)).await;
    let peer_ip = IpAddr::V4(scripted::ID);

    let mut p = scripted::Peer::connect(to).await;
    let open = p.establish(1, false).await;
    // plane advertises graceful restart for EVPN (RFC 4724).
    assert!(
        open.capabilities
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(gr)
            if gr.restart_time == 120 && gr.families.iter().any(|f| (f.afi, f.safi) == (25, 70)))),
        "{open:?}"
    );
    // The initial table (empty) ends with End-of-RIB.
    let Message::Update(eor) = p.recv().await else {
        panic!("End-of-RIB expected")
    };
    assert_eq!(eor.end_of_rib(), Some((25, 70)));
    p.announce(&[1, 2]).await;
    eventually("2 routes", || async {
        (macs(plane.clone()).await == [(1, false), (2, false)]).then_some(())
    })
    .await;

    // The connection drops without a NOTIFICATION: routes stay, as stale.
    drop(p);
    eventually("session down", || async {
        (plane.neighbors().await.expect("n")[0].state != State::Established).then_some(())
    })
    .await;
    assert_eq!(
        macs(plane.clone()).await,
        [(1, true), (2, true)],
        "stale, not withdrawn"
    );

    // The peer comes back (R bit), refreshes route 1 only, then End-of-RIB:
    // route 2 is swept, route 1 is fresh again.
    let mut p = scripted::Peer::connect(to).await;
    p.establish(1, true).await;
    p.announce(&[1]).await;
    p.end_of_rib().await;
    eventually("stale route swept after End-of-RIB", || async {
        (macs(plane.clone()).await == [(1, false)]).then_some(())
    })
    .await;

    // Dropped again and not back within the 1 s restart time: all withdrawn.
    drop(p);
    eventually("stale routes withdrawn after the restart time", || async {
        macs(plane.clone()).await.is_empty().then_some(())
    })
    .await;
    assert_eq!(plane.neighbors().await.expect("n")[0].address, peer_ip);
    plane.shutdown("test over").await.expect("shutdown");
}

/// RFC 4724 section 4.2 once the restarting peer is back: its stale
/// routes wait for its End-of-RIB at most the local stale time (not the
/// peer's restart time), and go at once when it did not preserve its
/// forwarding state (F bit clear).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_helper_bounds_stale_routes_by_stale_time_and_f_bit() {
    use plane_bgp::wire::Message;
    let (plane, to) = gr_speaker(Duration::from_secs(1)).await;
    let established = |plane: SpeakerHandle| async move {
        (state_of(&plane).await == State::Established).then_some(())
    };
    let down = |plane: SpeakerHandle| async move {
        (state_of(&plane).await != State::Established).then_some(())
    };

    // Routes from a peer with a 60 s restart time; the connection drops.
    let mut p = scripted::Peer::connect(to).await;
    p.establish(60, false).await;
    let Message::Update(_) = p.recv().await else {
        panic!("End-of-RIB expected")
    };
    p.announce(&[1, 2]).await;
    eventually("2 routes", || async {
        (macs(plane.clone()).await == [(1, false), (2, false)]).then_some(())
    })
    .await;
    drop(p);
    eventually("session down", || down(plane.clone())).await;
    assert_eq!(macs(plane.clone()).await, [(1, true), (2, true)]);

    // Back with the F bit, but no End-of-RIB: the stale routes go after the
    // 1 s stale time, long before the peer's 60 s restart time.
    let mut p = scripted::Peer::connect(to).await;
    p.establish(60, true).await;
    eventually("session back", || established(plane.clone())).await;
    assert_eq!(macs(plane.clone()).await, [(1, true), (2, true)]);
    eventually("stale routes withdrawn after the stale time", || async {
        macs(plane.clone()).await.is_empty().then_some(())
    })
    .await;

    // Fresh routes, a drop, and back without preserved forwarding state:
    // the stale routes are gone as soon as the session is up (the speaker
    // handles Established before it answers the next request).
    p.announce(&[3]).await;
    eventually("route 3", || async {
        (macs(plane.clone()).await == [(3, false)]).then_some(())
    })
    .await;
    drop(p);
    eventually("session down", || down(plane.clone())).await;
    assert_eq!(macs(plane.clone()).await, [(3, true)]);
    let mut p = scripted::Peer::connect(to).await;
    p.establish_gr(60, true, false).await;
    eventually("session back", || established(plane.clone())).await;
    assert_eq!(macs(plane.clone()).await, []);
    plane.shutdown("test over").await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_peer_does_not_hold_back_the_others() {
    // 150,000 MAC-only routes are about 6 MB of UPDATEs: more than the
    // kernel can queue towards a zero window (tcp_wmem max 4 MB), so the
    // slow peer really blocks its writer.
    const ROUTES: u32 = 150_000;
    let port = free_port(A);
    let mut cfg = SpeakerConfig::new(
        65000,
        A,
        vec![SocketAddr::new(IpAddr::V4(A), port)],
        IpAddr::V4(A),
    );
    cfg.vnis = vec![VniImport::auto(100, 65000)];
    let source_ip = Ipv4Addr::new(127, 0, 0, 5);
    let (slow_ip, fast_ip) = (Ipv4Addr::new(127, 0, 0, 3), Ipv4Addr::new(127, 0, 0, 4));
    for (ip, asn) in [
        (slow_ip, scripted::ASN),
        (fast_ip, scripted::ASN),
        (source_ip, 65005),
    ] {
        let mut n = NeighborConfig::new(IpAddr::V4(ip), asn);
        n.passive = true;
        cfg.neighbors.push(n);
    }
    let (plane, _events, _task) = speaker::start(cfg).await.expect("speaker");
    let to = SocketAddr::new(IpAddr::V4(A), port);
    // The slow peer reads its OPEN and KEEPALIVE, then nothing more, with a
    // 4 KiB receive buffer: its window closes after a few messages.
    let mut slow = scripted::Peer::connect_from(to, slow_ip, Some(4096)).await;
    slow.establish_as(slow_ip, 0, false).await;
    let mut fast = scripted::Peer::connect_from(to, fast_ip, None).await;
    fast.establish_as(fast_ip, 0, false).await;
    let mut source = scripted::Peer::connect_from(to, source_ip, None).await;
    source.asn = 65005;
    source.establish_as(source_ip, 0, false).await;
    eventually("all Established", || async {
        let n = plane.neighbors().await.expect("n");
        n.iter()
            .all(|n| n.state == State::Established)
            .then_some(())
    })
    .await;
    let reader = tokio::spawn(async move {
        fast.count_announced(ROUTES as usize).await;
        fast
    });
    let macs: Vec<MacAddr> = (0..ROUTES)
        .map(|i| {
            let [_, b, c, d] = i.to_be_bytes();
            MacAddr([2, 0xaa, 0, b, c, d])
        })
        .collect();
    for chunk in macs.chunks(10_000) {
        source.announce_macs(chunk).await;
    }
    // The fast peer gets every route although the slow one reads nothing.
    let _fast = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("fast peer got all routes in time")
        .expect("reader");
    let n = plane.neighbors().await.expect("n");
    let sent = |ip: Ipv4Addr| {
        n.iter()
            .find(|n| n.address == IpAddr::V4(ip))
            .map(|n| n.sent)
    };
    assert_eq!(sent(fast_ip), Some(u64::from(ROUTES)));
    eprintln!(
        "sent to the slow peer while it read nothing: {:?} of {ROUTES}",
        sent(slow_ip)
    );
    assert!(
        sent(slow_ip) < Some(u64::from(ROUTES)),
        "the slow peer's routes wait in the RIB: {n:?}"
    );
    // Once the slow peer reads, it gets everything too.
    tokio::time::timeout(
        Duration::from_secs(120),
        slow.count_announced(ROUTES as usize),
    )
    .await
    .expect("slow peer catches up");
    plane.shutdown("test over").await.expect("shutdown");
}
