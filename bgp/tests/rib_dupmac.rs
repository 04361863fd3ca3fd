//! RFC 7432 section 15.1, duplicate MAC detection, from the side of a PE
//! that has the MAC as local: a MAC taken back and forth between us and
//! peer 2 is found duplicate after `max_moves` moves within `window`, a
//! warning is logged once, and its sequence number is no longer raised, so
//! the ping-pong stops where it is; moves spread wider than the window are
//! not duplicate; it recovers after a quiet window or when the endpoint is
//! deleted. Also: what a restarted PE advertises for a MAC that had moved
//! away before the restart (section 15, with the start-up deferral).
//!
//! We are VTEP 10.0.0.1; peer 2 is VTEP 10.0.1.2, peer 3 an observer.

mod rib_util;

use plane_bgp::rib::*;
use rib_util::*;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const VNI: u32 = 10;

fn ipa() -> Option<IpAddr> {
    Some(ip("192.168.0.5"))
}

fn detection(max_moves: u32, window_secs: u64) -> Option<DupMacDetection> {
    Some(DupMacDetection {
        max_moves,
        window: Duration::from_secs(window_secs),
    })
}

/// A RIB at time `t0` with peers 2 and 3 and the local MAC 1 (MAC-only and
/// one IP) advertised at sequence 0, drained.
fn with_local(t0: Instant, dup: Option<DupMacDetection>) -> (Rib, PeerId, PeerId) {
    let mut rib = Rib::new(cfg());
    rib.set_duplicate_mac_detection(dup);
    rib.tick(t0);
    let (p2, p3) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    for ip in [None, ipa()] {
        assert_eq!(rib.originate_mac_ip(VNI, mac(1), ip, 0, false), Ok(0));
    }
    for p in [p2, p3] {
        assert_eq!(reached(&drain(&mut rib, p)).len(), 2);
        assert!(drain(&mut rib, p).is_empty());
    }
    rib.take_events();
    (rib, p2, p3)
}

/// Peer 2 advertises MAC 1 (MAC-only and with the IP) at `seq`.
fn remote(rib: &mut Rib, p2: PeerId, seq: u32) {
    let nlri = vec![
        type2(rd(2), mac(1), None, VNI),
        type2(rd(2), mac(1), ipa(), VNI),
    ];
    rib.apply_update(p2, &reach(&Attrs::rt(VNI).seq(seq, false), vtep(2), nlri))
        .unwrap();
}

/// The endpoint is added again here (a relearning): the sequence used.
fn relearn(rib: &mut Rib) -> u32 {
    rib.originate_mac_ip(VNI, mac(1), None, 0, false).unwrap()
}

/// Sequence numbers of what `out` advertises.
fn sent_seqs(out: &Outgoing) -> Vec<u32> {
    reached(out)
        .iter()
        .map(|(_, a)| a.mac_mobility().1)
        .collect()
}

thread_local! {
    /// What the global test subscriber wrote on this thread.
    static LOG: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes into this thread's [`LOG`].
struct ThreadLog;

impl Write for ThreadLog {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOG.with(|l| l.borrow_mut().extend_from_slice(b));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Collects the WARN lines logged on this thread while `f` runs. One global
/// subscriber writing per thread, not a scoped one per test: with scoped
/// subscribers, tests running in parallel race on tracing's per-callsite
/// interest cache and a warning could be lost (seen once in ~10 runs).
fn warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| ThreadLog)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    LOG.with(|l| l.borrow_mut().clear());
    let out = f();
    let text = LOG.with(|l| String::from_utf8_lossy(&l.borrow()).into_owned());
    (out, text.lines().map(str::to_string).collect())
}

/// The ping-pong: peer 2 takes the MAC with seq + 1, we take it back with
/// seq + 1, ten seconds apart. With 5 moves in 180 s, the fifth move (the
/// third time it moves away) makes it duplicate: from then on our
/// relearning no longer raises the sequence, the MAC stays with peer 2,
/// nothing more is sent, and the warning came once.
#[test]
fn five_moves_within_the_window_make_a_duplicate_that_stops_raising_the_sequence() {
    let t0 = Instant::now();
    let (((mut rib, p2, p3), remote_seq), warns) = warnings(|| {
        let (mut rib, p2, p3) = with_local(t0, detection(5, 180));
        let mut seq = 0;
        let mut t = t0;
        for round in 0..3 {
            t += Duration::from_secs(10);
            rib.tick(t);
            seq += 1;
            remote(&mut rib, p2, seq); // moves away: moves 1, 3, 5
            assert!(rib.local_mac_moved(VNI, mac(1)), "round {round}");
            assert_eq!(local_type2(&rib), vec![]);
            t += Duration::from_secs(10);
            rib.tick(t);
            if round < 2 {
                assert!(!rib.local_mac_duplicate(VNI, mac(1)), "round {round}");
                seq += 1;
                assert_eq!(relearn(&mut rib), seq, "moves here: moves 2, 4");
                assert_eq!(local_type2(&rib), vec![(None, seq), (ipa(), seq)]);
                assert_eq!(sent_seqs(&drain(&mut rib, p3)), vec![seq, seq]);
            }
        }
        assert!(rib.local_mac_duplicate(VNI, mac(1)));
        // Relearning again: not taken back, the sequence stays below.
        assert_eq!(relearn(&mut rib), 4, "our last sequence, not 6");
        assert!(rib.local_mac_moved(VNI, mac(1)));
        assert_eq!(local_type2(&rib), vec![]);
        // Peer 2 insisting changes nothing for us and warns no more.
        rib.tick(t + Duration::from_secs(1));
        remote(&mut rib, p2, seq + 1);
        assert_eq!(relearn(&mut rib), 4);
        ((rib, p2, p3), seq + 1)
    });
    assert_eq!(remote_seq, 6);
    let dup: Vec<&String> = warns
        .iter()
        .filter(|l| l.contains("duplicate MAC"))
        .collect();
    assert_eq!(dup.len(), 1, "warned once: {warns:?}");
    for needle in [
        "vni=10",
        "02:00:00:00:00:01",
        "moves=5",
        "window_secs=180",
        "10.0.0.1",
        "10.0.1.2",
    ] {
        assert!(dup[0].contains(needle), "{needle} in {}", dup[0]);
    }
    // Our routes were withdrawn at the last move away; nothing since.
    let out = drain(&mut rib, p3);
    assert_eq!(out.unreach.len(), 2, "{out:?}");
    assert!(out.reach.is_empty());
    assert!(drain(&mut rib, p2).reach.is_empty());
    assert_eq!(
        rib.duplicate_macs(),
        vec![DuplicateMac {
            vni: VNI,
            mac: mac(1),
            moves: 5,
            since: t0 + Duration::from_secs(50),
            vteps: vec![vtep(2)],
            moved: true,
        }]
    );
}

/// Found duplicate while advertised here: it stays advertised here at its
/// sequence; when peer 2 raises it, the MAC goes there and is not taken back.
#[test]
fn a_duplicate_found_while_here_stays_here_until_beaten_then_stays_there() {
    let t0 = Instant::now();
    let (mut rib, p2, p3) = with_local(t0, detection(4, 180));
    let mut t = t0;
    for seq in [1, 3] {
        t += Duration::from_secs(1);
        rib.tick(t);
        remote(&mut rib, p2, seq);
        assert_eq!(relearn(&mut rib), seq + 1);
    }
    assert!(rib.local_mac_duplicate(VNI, mac(1)));
    assert!(!rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(local_type2(&rib), vec![(None, 4), (ipa(), 4)]);
    assert_eq!(relearn(&mut rib), 4, "already here: nothing raised");
    drain(&mut rib, p3);
    remote(&mut rib, p2, 5);
    assert!(rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(relearn(&mut rib), 4);
    assert_eq!(local_type2(&rib), vec![]);
    let out = drain(&mut rib, p3);
    assert!(out.reach.is_empty() && out.unreach.len() == 2, "{out:?}");
}

/// One move every 60 s: never 5 within 180 s, so it is never duplicate and
/// each relearning takes the MAC back above the remote sequence.
#[test]
fn moves_spread_wider_than_the_window_are_not_duplicate() {
    let t0 = Instant::now();
    let (mut rib, p2, _) = with_local(t0, detection(5, 180));
    let mut seq = 0;
    let mut t = t0;
    for round in 0..6 {
        t += Duration::from_secs(60);
        rib.tick(t);
        seq += 1;
        remote(&mut rib, p2, seq);
        assert!(rib.local_mac_moved(VNI, mac(1)));
        t += Duration::from_secs(60);
        rib.tick(t);
        seq += 1;
        assert_eq!(relearn(&mut rib), seq, "round {round}");
        assert!(!rib.local_mac_duplicate(VNI, mac(1)), "round {round}");
    }
    assert!(rib.duplicate_macs().is_empty());
}

/// Makes MAC 1 duplicate with 3 moves in 3 s; the MAC is with peer 2 at
/// sequence 3. Returns the time of the last move.
fn make_duplicate(rib: &mut Rib, p2: PeerId, t0: Instant) -> Instant {
    rib.tick(t0 + Duration::from_secs(1));
    remote(rib, p2, 1);
    rib.tick(t0 + Duration::from_secs(2));
    assert_eq!(relearn(rib), 2);
    let t = t0 + Duration::from_secs(3);
    rib.tick(t);
    remote(rib, p2, 3);
    assert!(rib.local_mac_duplicate(VNI, mac(1)));
    assert_eq!(relearn(rib), 2);
    t
}

/// Recovery: a window without moves, then the next relearning takes the
/// MAC back above the remote sequence as before.
#[test]
fn a_duplicate_recovers_after_a_quiet_window() {
    let t0 = Instant::now();
    let (mut rib, p2, p3) = with_local(t0, detection(3, 30));
    let last = make_duplicate(&mut rib, p2, t0);
    rib.tick(last + Duration::from_secs(29));
    assert!(rib.local_mac_duplicate(VNI, mac(1)), "not yet");
    assert_eq!(relearn(&mut rib), 2);
    rib.tick(last + Duration::from_secs(30));
    assert!(!rib.local_mac_duplicate(VNI, mac(1)));
    assert_eq!(relearn(&mut rib), 4);
    assert!(!rib.local_mac_moved(VNI, mac(1)));
    let out = drain(&mut rib, p3);
    assert_eq!(sent_seqs(&out), vec![4, 4]);
}

/// Recovery: the endpoint is deleted (every local route of the MAC
/// withdrawn); added again, it takes the MAC back.
#[test]
fn deleting_the_endpoint_clears_the_duplicate() {
    let t0 = Instant::now();
    let (mut rib, p2, _) = with_local(t0, detection(3, 180));
    make_duplicate(&mut rib, p2, t0);
    rib.withdraw_mac_ip(VNI, mac(1), ipa()).unwrap();
    assert!(
        rib.local_mac_duplicate(VNI, mac(1)),
        "the MAC-only route is left"
    );
    rib.withdraw_mac_ip(VNI, mac(1), None).unwrap();
    assert!(!rib.local_mac_duplicate(VNI, mac(1)));
    assert!(rib.duplicate_macs().is_empty());
    assert_eq!(relearn(&mut rib), 4);
    assert!(!rib.local_mac_moved(VNI, mac(1)));
}

/// Off, or without the driver's clock: the sequence rises forever, as
/// before section 15.1.
#[test]
fn without_detection_or_clock_every_relearning_raises_the_sequence() {
    let t0 = Instant::now();
    let (mut off, p2, _) = with_local(t0, None);
    let mut clockless = Rib::new(cfg());
    let q2 = up(&mut clockless, 2, ASN);
    clockless
        .originate_mac_ip(VNI, mac(1), None, 0, false)
        .unwrap();
    for (rib, p) in [(&mut off, p2), (&mut clockless, q2)] {
        for seq in (1..20).step_by(2) {
            remote(rib, p, seq);
            assert_eq!(relearn(rib), seq + 1);
        }
        assert!(rib.duplicate_macs().is_empty());
    }
    // Turning it off clears a duplicate.
    let (mut rib, p2, _) = with_local(t0, detection(3, 180));
    make_duplicate(&mut rib, p2, t0);
    rib.set_duplicate_mac_detection(None);
    assert!(!rib.local_mac_duplicate(VNI, mac(1)));
    assert_eq!(relearn(&mut rib), 4);
}

/// RFC 7432 section 15 after a restart: the endpoint of a MAC that had
/// moved to peer 2 (sequence 3 there) is restored from the state file and
/// originated at sequence 0, before any session is up. With the start-up
/// deferral (a restarting speaker drains the peers' queues only after
/// their End-of-RIB), peer 2's route is in the RIB before anything is
/// sent: the restarted PE never advertises the MAC, only its End-of-RIB.
/// Without the deferral, sequence 0 goes out first and is withdrawn when
/// peer 2's route comes: a route that loses everywhere, but sent.
#[test]
fn a_restored_moved_endpoint_is_not_advertised_when_the_speaker_defers() {
    let restored = |rib: &mut Rib| {
        for ip in [None, ipa()] {
            assert_eq!(rib.originate_mac_ip(VNI, mac(1), ip, 0, false), Ok(0));
        }
    };
    // Deferred: both sessions up, peer 2's table in, then the first drain.
    let mut rib = Rib::new(cfg());
    restored(&mut rib);
    let (p2, p3) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    remote(&mut rib, p2, 3);
    rib.end_of_rib_received(p2);
    assert!(rib.local_mac_moved(VNI, mac(1)));
    for p in [p2, p3] {
        let out = drain(&mut rib, p);
        assert!(
            out.reach.is_empty() && out.unreach.is_empty(),
            "nothing about the MAC to {p:?}: {out:?}"
        );
        assert!(out.end_of_rib);
    }

    // Not deferred: the observer gets sequence 0, then its withdrawal.
    let mut rib = Rib::new(cfg());
    restored(&mut rib);
    let (p2, p3) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    assert_eq!(sent_seqs(&drain(&mut rib, p3)), vec![0, 0]);
    remote(&mut rib, p2, 3);
    assert_eq!(drain(&mut rib, p3).unreach.len(), 2);
}
