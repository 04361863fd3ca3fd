//! Duplicate MAC detection (RFC 7432 section 15.1): counts the moves of
//! each local MAC and says when one moved `max_moves` times within
//! `window`, which is what a MAC does when two PEs keep taking it from each
//! other (the same MAC on two hosts, a loop): both sides bump the MAC
//! Mobility sequence number forever.
//!
//! A move is counted for a MAC we have as local, on either side of it: the
//! MAC moves away (a remote route beats ours and ours are withdrawn) or
//! moves here (we originate it above a remote sequence number). Moves
//! between two other PEs are theirs to count.
//!
//! Pure bookkeeping: time comes in as an argument ([`MoveTracker::record`],
//! [`MoveTracker::expire`]); what a duplicate MAC stops doing is the RIB's
//! (see `Rib::originate_mac_ip`). It never reads the clock and never logs.
//!
//! Invariants: a history holds only moves within `window` of the last one
//! recorded; a MAC is duplicate from the move that made the count reach
//! `max_moves` until `window` passes without a move (or it is forgotten);
//! with detection off nothing is kept.

use super::types::DupMacDetection;
use crate::wire::MacAddr;
use hashbrown::HashMap;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

/// The moves of one local MAC in one VNI.
#[derive(Clone, Debug)]
struct History {
    /// When each move happened, oldest first, within `window` of the last.
    moves: VecDeque<Instant>,
    /// Remote VTEPs the MAC moved from or to, as seen (for the operator).
    vteps: SmallVec<[IpAddr; 2]>,
    /// When it was found duplicate.
    duplicate_since: Option<Instant>,
}

/// What [`MoveTracker::record`] found: the MAC just became duplicate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Detected {
    pub moves: u32,
    pub vteps: Vec<IpAddr>,
}

/// Per (VNI, MAC) move counts. See the module documentation.
#[derive(Default)]
pub(crate) struct MoveTracker {
    cfg: Option<DupMacDetection>,
    macs: HashMap<(u32, MacAddr), History>,
}

impl MoveTracker {
    pub fn new(cfg: Option<DupMacDetection>) -> Self {
        MoveTracker {
            cfg,
            macs: HashMap::new(),
        }
    }

    pub fn config(&self) -> Option<DupMacDetection> {
        self.cfg
    }

    /// Replaces the settings; turning detection off forgets every MAC.
    pub fn set_config(&mut self, cfg: Option<DupMacDetection>) {
        self.cfg = cfg;
        if cfg.is_none() {
            self.macs.clear();
        }
    }

    /// Counts one move of `key` at `now`, to or from `vtep`. `Some` exactly
    /// once per duplicate episode: when this move makes the count within
    /// the window reach `max_moves`.
    pub fn record(
        &mut self,
        key: (u32, MacAddr),
        now: Instant,
        vtep: Option<IpAddr>,
    ) -> Option<Detected> {
        let cfg = self.cfg?;
        let h = self.macs.entry(key).or_insert_with(|| History {
            moves: VecDeque::new(),
            vteps: SmallVec::new(),
            duplicate_since: None,
        });
        while h
            .moves
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= cfg.window)
        {
            h.moves.pop_front();
        }
        h.moves.push_back(now);
        if let Some(v) = vtep {
            if !h.vteps.contains(&v) {
                h.vteps.push(v);
            }
        }
        let moves = u32::try_from(h.moves.len()).unwrap_or(u32::MAX);
        if h.duplicate_since.is_some() || moves < cfg.max_moves {
            return None;
        }
        h.duplicate_since = Some(now);
        Some(Detected {
            moves,
            vteps: h.vteps.to_vec(),
        })
    }

    pub fn is_duplicate(&self, key: &(u32, MacAddr)) -> bool {
        self.macs
            .get(key)
            .is_some_and(|h| h.duplicate_since.is_some())
    }

    /// Moves within the window and the time of detection, for a duplicate MAC.
    pub fn duplicate(&self, key: &(u32, MacAddr)) -> Option<(u32, Instant, &[IpAddr])> {
        let h = self.macs.get(key)?;
        let since = h.duplicate_since?;
        let moves = u32::try_from(h.moves.len()).unwrap_or(u32::MAX);
        Some((moves, since, &h.vteps))
    }

    /// Every duplicate MAC.
    pub fn duplicates(&self) -> impl Iterator<Item = (u32, MacAddr)> + '_ {
        self.macs
            .iter()
            .filter(|(_, h)| h.duplicate_since.is_some())
            .map(|(k, _)| *k)
    }

    /// Forgets `key` (its local MAC is gone). True when it was duplicate.
    pub fn forget(&mut self, key: &(u32, MacAddr)) -> bool {
        self.macs
            .remove(key)
            .is_some_and(|h| h.duplicate_since.is_some())
    }

    /// Drops histories whose last move is `window` old at `now`. Returns
    /// the MACs that were duplicate: they recovered.
    pub fn expire(&mut self, now: Instant) -> Vec<(u32, MacAddr)> {
        let Some(cfg) = self.cfg else {
            return Vec::new();
        };
        let mut recovered = Vec::new();
        self.macs.retain(|key, h| {
            let quiet = h
                .moves
                .back()
                .is_none_or(|t| now.saturating_duration_since(*t) >= cfg.window);
            if quiet && h.duplicate_since.is_some() {
                recovered.push(*key);
            }
            !quiet
        });
        recovered.sort();
        recovered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key() -> (u32, MacAddr) {
        (10, MacAddr([2, 0, 0, 0, 0, 1]))
    }

    fn tracker() -> MoveTracker {
        MoveTracker::new(Some(DupMacDetection {
            max_moves: 3,
            window: Duration::from_secs(10),
        }))
    }

    #[test]
    fn detects_once_at_the_threshold_within_the_window() {
        let t0 = Instant::now();
        let mut t = tracker();
        let v: IpAddr = "10.0.1.2".parse().unwrap();
        assert_eq!(t.record(key(), t0, Some(v)), None);
        assert_eq!(t.record(key(), t0 + Duration::from_secs(4), Some(v)), None);
        assert_eq!(
            t.record(key(), t0 + Duration::from_secs(8), Some(v)),
            Some(Detected {
                moves: 3,
                vteps: vec![v]
            })
        );
        assert!(t.is_duplicate(&key()));
        // Once per episode.
        assert_eq!(t.record(key(), t0 + Duration::from_secs(9), None), None);
        // Quiet for a window after the last move: recovered, forgotten.
        assert!(t.expire(t0 + Duration::from_secs(18)).is_empty());
        assert_eq!(t.expire(t0 + Duration::from_secs(19)), vec![key()]);
        assert!(!t.is_duplicate(&key()));
    }

    #[test]
    fn moves_spread_wider_than_the_window_are_not_duplicate() {
        let t0 = Instant::now();
        let mut t = tracker();
        for i in 0..10 {
            assert_eq!(
                t.record(key(), t0 + Duration::from_secs(5 * i), None),
                None,
                "move {i}"
            );
        }
        assert!(!t.is_duplicate(&key()));
    }

    #[test]
    fn off_keeps_nothing() {
        let mut t = MoveTracker::new(None);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(t.record(key(), t0, None), None);
        }
        assert_eq!(t.duplicates().count(), 0);
        assert!(t.macs.is_empty());
    }
}
