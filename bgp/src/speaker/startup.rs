//! The start-up window of the speaker (RFC 4724 section 4.1): from
//! [`super::start`] until every neighbour has sent its End-of-RIB for
//! L2VPN/EVPN, or until the Selection_Deferral_Timer bound
//! ([`SpeakerConfig::selection_deferral`]) passes, whichever comes first.
//!
//! Two things wait on it:
//! - the embedder, through [`SpeakerHandle::initial_sync`]: planed removes
//!   stale kernel state only once the peers' tables are in;
//! - a restarting speaker (R bit set, [`GracefulRestartConfig::restarting`])
//!   defers its own UPDATEs and End-of-RIB to every peer ("deferring") until
//!   each neighbour has either sent End-of-RIB or is Established without
//!   being one we wait for: RFC 4724 excludes peers that sent no graceful
//!   restart capability (they need not send End-of-RIB) and peers that set
//!   the R bit themselves (they wait for ours: waiting for theirs would
//!   deadlock two restarting speakers until the bound).
//!
//! A neighbour that never comes up, or never sends End-of-RIB, holds the
//! window only until the bound. Neighbours removed meanwhile no longer
//! count; neighbours added before the window closes do.
//!
//! The set of neighbours is "closed" (armed) when the speaker starts with
//! neighbours in its configuration, or at the first
//! [`SpeakerHandle::initial_sync`] call: before that an empty or partial set
//! cannot end the window early (planed adds its neighbours after the start,
//! once its local routes are originated).
//!
//! Invariants: the window ends once (then [`Startup::deadline`] is `None`
//! and every waiter has its answer); deferring implies the window is open.
//! What it never does: touch peers or the RIB (the speaker asks it and acts).
//!
//! [`SpeakerConfig::selection_deferral`]: super::SpeakerConfig::selection_deferral
//! [`SpeakerHandle::initial_sync`]: super::SpeakerHandle::initial_sync
//! [`GracefulRestartConfig::restarting`]: crate::fsm::GracefulRestartConfig::restarting

use super::handle::InitialSync;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{info, warn};

/// What the window needs to know of one neighbour.
#[derive(Clone, Copy, Debug)]
pub(super) struct PeerSync {
    pub address: IpAddr,
    /// End-of-RIB for L2VPN/EVPN received in any session since the start.
    pub end_of_rib: bool,
    /// Established with no GR capability or with the R bit: the restarting
    /// side does not wait for its End-of-RIB (RFC 4724 section 4.1).
    pub not_awaited: bool,
}

pub(super) struct Startup {
    started: Instant,
    deadline: Instant,
    /// The neighbour set is complete: an all-done check may end the window.
    armed: bool,
    /// Our UPDATEs and End-of-RIB are held back (restarting speaker).
    deferring: bool,
    waiters: Vec<oneshot::Sender<InitialSync>>,
    outcome: Option<InitialSync>,
}

impl Startup {
    /// A window opened `now`, bounded by `bound`.
    pub fn new(now: Instant, bound: Duration, restarting: bool, armed: bool) -> Startup {
        Startup {
            started: now,
            deadline: now + bound,
            armed,
            deferring: restarting,
            waiters: Vec::new(),
            outcome: None,
        }
    }

    /// When the bound ends the window; `None` once it is over.
    pub fn deadline(&self) -> Option<Instant> {
        self.outcome.is_none().then_some(self.deadline)
    }

    /// True while our advertisements are held back.
    pub fn deferring(&self) -> bool {
        self.deferring
    }

    /// Registers a waiter (answered at once when the window is over) and
    /// closes the neighbour set.
    pub fn wait(&mut self, reply: oneshot::Sender<InitialSync>) {
        self.armed = true;
        match &self.outcome {
            Some(o) => {
                let _ = reply.send(o.clone());
            }
            None => self.waiters.push(reply),
        }
    }

    /// Re-evaluates the window against the neighbours as they are `now`.
    /// Returns true when the deferral of our advertisements ended in this
    /// call (the caller then stops announcing the R bit).
    pub fn check(&mut self, now: Instant, peers: &[PeerSync]) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        let was_deferring = self.deferring;
        let all_eor = peers.iter().all(|p| p.end_of_rib);
        if now >= self.deadline || (self.armed && all_eor) {
            self.finish(now, peers);
        } else if self.deferring
            && self.armed
            && peers.iter().all(|p| p.end_of_rib || p.not_awaited)
        {
            self.deferring = false;
            info!("graceful restart: End-of-RIB from every peer we wait for; sending our routes");
        }
        was_deferring && !self.deferring
    }

    fn finish(&mut self, now: Instant, peers: &[PeerSync]) {
        let mut end_of_rib: Vec<IpAddr> = Vec::new();
        let mut missing: Vec<IpAddr> = Vec::new();
        for p in peers {
            if p.end_of_rib {
                end_of_rib.push(p.address);
            } else {
                missing.push(p.address);
            }
        }
        end_of_rib.sort();
        missing.sort();
        let outcome = InitialSync {
            end_of_rib,
            missing,
            elapsed: now.saturating_duration_since(self.started),
        };
        if outcome.missing.is_empty() {
            info!(
                peers = outcome.end_of_rib.len(),
                elapsed = ?outcome.elapsed,
                deferred = self.deferring,
                "End-of-RIB received from every neighbour: start-up window over"
            );
        } else {
            warn!(
                missing = ?outcome.missing,
                elapsed = ?outcome.elapsed,
                deferred = self.deferring,
                "selection deferral bound over without End-of-RIB from every neighbour"
            );
        }
        self.deferring = false;
        for w in self.waiters.drain(..) {
            let _ = w.send(outcome.clone());
        }
        self.outcome = Some(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn peer(last: u8, end_of_rib: bool, not_awaited: bool) -> PeerSync {
        PeerSync {
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            end_of_rib,
            not_awaited,
        }
    }

    const BOUND: Duration = Duration::from_secs(120);

    #[test]
    fn unarmed_window_is_not_ended_by_an_empty_or_complete_set() {
        let t0 = Instant::now();
        let mut s = Startup::new(t0, BOUND, true, false);
        assert!(!s.check(t0, &[]));
        assert!(!s.check(t0, &[peer(2, true, false)]));
        assert!(s.deferring() && s.deadline().is_some());
        let (tx, mut rx) = oneshot::channel();
        s.wait(tx);
        assert!(rx.try_recv().is_err(), "waiting is not an answer");
        assert!(s.check(t0, &[peer(2, true, false)]));
        let o = rx
            .try_recv()
            .expect("answered when every peer sent End-of-RIB");
        assert_eq!(o.end_of_rib, vec![peer(2, true, false).address]);
        assert!(o.missing.is_empty());
        assert_eq!(s.deadline(), None);
        assert!(!s.deferring());
    }

    #[test]
    fn deferral_skips_peers_without_gr_or_restarting_but_the_sync_does_not() {
        let t0 = Instant::now();
        let mut s = Startup::new(t0, BOUND, true, true);
        let (tx, mut rx) = oneshot::channel();
        s.wait(tx);
        // One peer sent End-of-RIB, the other is Established without GR.
        let peers = [peer(2, true, false), peer(3, false, true)];
        assert!(s.check(t0, &peers), "deferral ends");
        assert!(!s.deferring());
        assert!(rx.try_recv().is_err(), "the sync still waits for 10.0.0.3");
        assert!(!s.check(t0 + BOUND, &peers));
        let o = rx.try_recv().expect("answered at the bound");
        assert_eq!(o.missing, vec![peer(3, false, false).address]);
        assert_eq!(o.elapsed, BOUND);
    }

    #[test]
    fn a_peer_that_is_down_holds_the_deferral_until_the_bound() {
        let t0 = Instant::now();
        let mut s = Startup::new(t0, BOUND, true, true);
        let peers = [peer(2, true, false), peer(3, false, false)];
        assert!(!s.check(t0 + BOUND / 2, &peers));
        assert!(s.deferring());
        assert!(s.check(t0 + BOUND, &peers));
        assert!(!s.deferring());
        // A late waiter gets the recorded outcome at once.
        let (tx, mut rx) = oneshot::channel();
        s.wait(tx);
        assert_eq!(
            rx.try_recv().expect("answer").missing,
            vec![peers[1].address]
        );
    }

    #[test]
    fn a_speaker_that_is_not_restarting_never_defers() {
        let t0 = Instant::now();
        let mut s = Startup::new(t0, BOUND, false, true);
        assert!(!s.deferring());
        assert!(!s.check(t0, &[peer(2, false, false)]));
        assert!(s.deadline().is_some());
    }
}
