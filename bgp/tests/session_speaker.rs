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
