//! The BGP decision process (RFC 4271 section 9.1.2.2, RFC 4456 section 9)
//! with the EVPN MAC Mobility rules of RFC 7432 section 15 in front, and
//! the cross-RD choice of the per-VNI dataplane view.
//!
//! Pure functions over paths and the facts about their peers; they never
//! look at anything else, so that the result depends only on the
//! candidates (the selection iterates in source order, which keeps the
//! non-transitive MED rule deterministic).

use super::attrs::{PathAttrs, DEFAULT_LOCAL_PREF};
use super::key::NlriData;
use super::types::{PeerInfo, RouteSource};
use std::cmp::Ordering;
use std::net::IpAddr;
use std::sync::Arc;

/// One path to a destination: one per source.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Path {
    pub attrs: Arc<PathAttrs>,
    pub source: RouteSource,
    pub data: NlriData,
    /// RFC 4724: kept from a restarting peer until refreshed or swept.
    pub stale: bool,
}

impl Path {
    /// Same advertisement (what a peer would be sent is unchanged).
    pub fn same_as(&self, other: &Path) -> bool {
        self.source == other.source
            && Arc::ptr_eq(&self.attrs, &other.attrs)
            && self.data == other.data
    }
}

/// What the decision process needs to know about a path's peer.
pub(crate) trait PeerFacts {
    fn facts(&self, source: RouteSource) -> Option<PeerInfo>;
}

/// `Greater` when `a` is the better path. Steps, in order:
/// 1. RFC 7432 15.2: sticky over non-sticky; section 15: higher sequence number;
/// 2. locally originated over learned;
/// 3. higher LOCAL_PREF (100 when absent);
/// 4. shorter AS_PATH; 5. lower ORIGIN;
/// 6. lower MED, only between paths from the same neighbouring AS (absent = 0);
/// 7. eBGP-learned over iBGP-learned;
/// 8. lower ORIGINATOR_ID, else the peer's BGP identifier (RFC 4456 9);
/// 9. shorter CLUSTER_LIST; 10. lower peer address;
///
/// then the lower peer id, so that the order is total.
pub(crate) fn compare(a: &Path, b: &Path, peers: &impl PeerFacts) -> Ordering {
    let (a_sticky, a_seq) = a.attrs.mac_mobility();
    let (b_sticky, b_seq) = b.attrs.mac_mobility();
    let fa = peers.facts(a.source);
    let fb = peers.facts(b.source);
    let local = |s: RouteSource| s == RouteSource::Local;
    let lp = |p: &Path| p.attrs.local_pref().unwrap_or(DEFAULT_LOCAL_PREF);
    let ebgp = |f: &Option<PeerInfo>| f.is_some_and(|f| !f.ibgp);
    let med_applies = a.attrs.neighbor_as() == b.attrs.neighbor_as();
    let router_id =
        |p: &Path, f: &Option<PeerInfo>| p.attrs.originator_id().or(f.map(|f| f.router_id));
    a_sticky
        .cmp(&b_sticky)
        .then(a_seq.cmp(&b_seq))
        .then(local(a.source).cmp(&local(b.source)))
        .then(lp(a).cmp(&lp(b)))
        .then(b.attrs.as_path_len().cmp(&a.attrs.as_path_len()))
        .then(b.attrs.origin().cmp(&a.attrs.origin()))
        .then(if med_applies {
            b.attrs.med().unwrap_or(0).cmp(&a.attrs.med().unwrap_or(0))
        } else {
            Ordering::Equal
        })
        .then(ebgp(&fa).cmp(&ebgp(&fb)))
        .then(router_id(b, &fb).cmp(&router_id(a, &fa)))
        .then(b.attrs.cluster_list_len().cmp(&a.attrs.cluster_list_len()))
        .then(fb.map(|f| f.addr).cmp(&fa.map(|f| f.addr)))
        .then(b.source.cmp(&a.source))
}

/// Index of the best path, scanning in source order.
pub(crate) fn select(paths: &[Path], peers: &impl PeerFacts) -> Option<usize> {
    if paths.len() <= 1 {
        return (!paths.is_empty()).then_some(0);
    }
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&i| paths.get(i).map(|p| p.source));
    let mut best: Option<usize> = None;
    for i in order {
        let (Some(p), current) = (paths.get(i), best.and_then(|b| paths.get(b))) else {
            continue;
        };
        if current.is_none_or(|c| compare(p, c, peers) == Ordering::Greater) {
            best = Some(i);
        }
    }
    best
}

/// A Loc-RIB best path as a candidate in the per-VNI view, where the same
/// MAC (and IP) may be advertised under different RDs by different VTEPs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ViewRank {
    pub sticky: bool,
    pub seq: u32,
    pub local: bool,
    pub vtep: Option<IpAddr>,
}

/// `Greater` when `a` wins in the VNI view (RFC 7432 section 15): sticky
/// (static) over non-sticky (15.2), then the higher sequence number, then
/// the lower VTEP address ("the PE with the lowest IP address", section 15),
/// which every PE applies alike, so that all of them pick the same owner of
/// a MAC. Only a route that claims our own VTEP address ties at that point;
/// the local one wins it.
pub(crate) fn view_compare(a: &ViewRank, b: &ViewRank) -> Ordering {
    a.sticky
        .cmp(&b.sticky)
        .then(a.seq.cmp(&b.seq))
        .then(b.vtep.cmp(&a.vtep))
        .then(a.local.cmp(&b.local))
}

/// RFC 7432 section 15: our local routes for a MAC must be withdrawn when
/// `remote`, the best remote route for it in the VNI, beats them: a higher
/// sequence number, or the same one from a VTEP with a lower address (and
/// a sticky remote MAC always, 15.2). `local` carries our sequence number
/// and VTEP. The same order as the view's, so that the MAC is withdrawn
/// exactly when the dataplane points it at the remote VTEP.
pub(crate) fn local_yields(local: &ViewRank, remote: &ViewRank) -> bool {
    view_compare(remote, local) == Ordering::Greater
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::types::PeerId;
    use crate::wire::{
        AsPath, AsSegment, AsSegmentType, AttrValue, ExtendedCommunity, MpNextHop, Origin,
        PathAttribute,
    };
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    struct Peers(HashMap<PeerId, PeerInfo>);
    impl PeerFacts for Peers {
        fn facts(&self, s: RouteSource) -> Option<PeerInfo> {
            match s {
                RouteSource::Local => None,
                RouteSource::Peer(p) => self.0.get(&p).copied(),
            }
        }
    }

    fn peer(n: u8, ibgp: bool) -> PeerInfo {
        PeerInfo {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
            asn: if ibgp { 65000 } else { 65000 + u32::from(n) },
            router_id: Ipv4Addr::new(1, 1, 1, n),
            ibgp,
            rr_client: false,
            gr_helper: false,
        }
    }

    #[derive(Default, Clone)]
    struct A {
        lp: Option<u32>,
        path: Vec<u32>,
        origin: Option<Origin>,
        med: Option<u32>,
        originator: Option<Ipv4Addr>,
        clusters: usize,
        mobility: Option<(bool, u32)>,
    }

    fn path(src: u32, a: A) -> Path {
        let mut attrs: Vec<PathAttribute> = vec![
            AttrValue::Origin(a.origin.unwrap_or(Origin::Igp)).into(),
            AttrValue::AsPath(AsPath {
                segments: vec![AsSegment {
                    kind: AsSegmentType::AsSequence,
                    asns: a.path.into(),
                }]
                .into(),
            })
            .into(),
        ];
        if let Some(m) = a.med {
            attrs.push(AttrValue::MultiExitDisc(m).into());
        }
        if let Some(lp) = a.lp {
            attrs.push(AttrValue::LocalPref(lp).into());
        }
        if let Some(o) = a.originator {
            attrs.push(AttrValue::OriginatorId(o).into());
        }
        if a.clusters > 0 {
            attrs.push(AttrValue::ClusterList(vec![Ipv4Addr::new(9, 9, 9, 9); a.clusters]).into());
        }
        if let Some((sticky, sequence)) = a.mobility {
            attrs.push(
                AttrValue::ExtendedCommunities(
                    vec![ExtendedCommunity::MacMobility { sticky, sequence }].into(),
                )
                .into(),
            );
        }
        Path {
            attrs: Arc::new(PathAttrs::new(
                attrs,
                MpNextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
            )),
            source: if src == 0 {
                RouteSource::Local
            } else {
                RouteSource::Peer(PeerId(src))
            },
            data: NlriData::NONE,
            stale: false,
        }
    }

    /// (name, a, b, peer 1 ibgp, peer 2 ibgp): `a` from peer 1 must beat `b` from peer 2.
    #[test]
    fn decision_steps_in_order() {
        let ip = |n| Some(Ipv4Addr::new(5, 5, 5, n));
        let cases: Vec<(&str, A, A, bool, bool)> = vec![
            (
                "sticky beats higher seq",
                A {
                    mobility: Some((true, 0)),
                    ..A::default()
                },
                A {
                    mobility: Some((false, 9)),
                    lp: Some(500),
                    ..A::default()
                },
                true,
                true,
            ),
            (
                "higher seq beats local pref",
                A {
                    mobility: Some((false, 2)),
                    ..A::default()
                },
                A {
                    mobility: Some((false, 1)),
                    lp: Some(500),
                    ..A::default()
                },
                true,
                true,
            ),
            (
                "local pref",
                A {
                    lp: Some(200),
                    path: vec![1, 2, 3],
                    ..A::default()
                },
                A {
                    lp: Some(100),
                    ..A::default()
                },
                true,
                true,
            ),
            (
                "as path length",
                A {
                    path: vec![1],
                    origin: Some(Origin::Incomplete),
                    ..A::default()
                },
                A {
                    path: vec![1, 2],
                    ..A::default()
                },
                true,
                true,
            ),
            (
                "origin",
                A {
                    path: vec![1],
                    origin: Some(Origin::Igp),
                    med: Some(50),
                    ..A::default()
                },
                A {
                    path: vec![1],
                    origin: Some(Origin::Egp),
                    ..A::default()
                },
                true,
                true,
            ),
            (
                "med same neighbour AS",
                A {
                    path: vec![7],
                    med: Some(1),
                    ..A::default()
                },
                A {
                    path: vec![7],
                    med: Some(2),
                    ..A::default()
                },
                true,
                false,
            ),
            (
                "med ignored across ASes; ebgp wins",
                A {
                    path: vec![7],
                    med: Some(9),
                    ..A::default()
                },
                A {
                    path: vec![8],
                    med: Some(1),
                    ..A::default()
                },
                false,
                true,
            ),
            (
                "ebgp over ibgp",
                A {
                    path: vec![7],
                    ..A::default()
                },
                A {
                    path: vec![7],
                    ..A::default()
                },
                false,
                true,
            ),
            (
                "lower originator id",
                A {
                    originator: ip(1),
                    clusters: 3,
                    ..A::default()
                },
                A {
                    originator: ip(2),
                    ..A::default()
                },
                true,
                true,
            ),
            (
                "shorter cluster list",
                A {
                    originator: ip(1),
                    clusters: 1,
                    ..A::default()
                },
                A {
                    originator: ip(1),
                    clusters: 2,
                    ..A::default()
                },
                true,
                true,
            ),
        ];
        for (name, a, b, ibgp1, ibgp2) in cases {
            let peers = Peers(HashMap::from([
                (PeerId(1), peer(1, ibgp1)),
                (PeerId(2), peer(2, ibgp2)),
            ]));
            let (pa, pb) = (path(1, a.clone()), path(2, b.clone()));
            assert_eq!(compare(&pa, &pb, &peers), Ordering::Greater, "{name}");
            assert_eq!(
                compare(&pb, &pa, &peers),
                Ordering::Less,
                "{name} (reversed)"
            );
            // Swap which peer sends which, where peer facts do not decide.
            if ibgp1 == ibgp2 && a.originator.is_some() {
                let (qa, qb) = (path(2, a), path(1, b));
                assert_eq!(
                    compare(&qa, &qb, &peers),
                    Ordering::Greater,
                    "{name} (swapped peers)"
                );
            }
        }
    }

    #[test]
    fn router_id_then_peer_address_break_ties() {
        let peers = Peers(HashMap::from([
            (PeerId(1), peer(1, true)),
            (PeerId(2), peer(2, true)),
        ]));
        assert_eq!(
            compare(&path(1, A::default()), &path(2, A::default()), &peers),
            Ordering::Greater
        );
        let mut p2 = peer(2, true);
        p2.router_id = Ipv4Addr::new(1, 1, 1, 1);
        let peers = Peers(HashMap::from([(PeerId(1), peer(1, true)), (PeerId(2), p2)]));
        // Same router id: the lower address (10.0.0.1) wins.
        assert_eq!(
            compare(&path(1, A::default()), &path(2, A::default()), &peers),
            Ordering::Greater
        );
    }

    #[test]
    fn local_beats_learned_at_equal_mobility() {
        let peers = Peers(HashMap::from([(PeerId(1), peer(1, false))]));
        let local = path(0, A::default());
        let learned = path(
            1,
            A {
                lp: Some(1000),
                ..A::default()
            },
        );
        assert_eq!(compare(&local, &learned, &peers), Ordering::Greater);
        assert_eq!(select(&[learned, local], &peers), Some(1));
    }

    fn rank(sticky: bool, seq: u32, local: bool, vtep: u8) -> ViewRank {
        ViewRank {
            sticky,
            seq,
            local,
            vtep: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, vtep))),
        }
    }

    #[test]
    fn view_prefers_sticky_then_seq_then_lowest_vtep() {
        let r = rank;
        assert_eq!(
            view_compare(&r(true, 0, false, 9), &r(false, 5, true, 1)),
            Ordering::Greater
        );
        assert_eq!(
            view_compare(&r(false, 5, false, 9), &r(false, 4, true, 1)),
            Ordering::Greater
        );
        // Equal sequence: the lower VTEP, local or not (RFC 7432 section 15).
        assert_eq!(
            view_compare(&r(false, 5, false, 1), &r(false, 5, true, 9)),
            Ordering::Greater
        );
        assert_eq!(
            view_compare(&r(false, 5, false, 1), &r(false, 5, false, 2)),
            Ordering::Greater
        );
        // A remote route claiming our own VTEP address: ours.
        assert_eq!(
            view_compare(&r(false, 5, true, 1), &r(false, 5, false, 1)),
            Ordering::Greater
        );
    }

    /// RFC 7432 section 15 from the local PE's side; we are 10.0.0.5 at seq 3.
    #[test]
    fn local_yields_to_higher_seq_or_lower_vtep_at_equal_seq() {
        let ours = rank(false, 3, true, 5);
        let cases = [
            ("higher seq, higher VTEP", rank(false, 4, false, 9), true),
            ("higher seq, lower VTEP", rank(false, 4, false, 1), true),
            ("equal seq, lower VTEP", rank(false, 3, false, 1), true),
            ("equal seq, higher VTEP", rank(false, 3, false, 9), false),
            ("lower seq, lower VTEP", rank(false, 2, false, 1), false),
            ("sticky remote, lower seq", rank(true, 0, false, 9), true),
        ];
        for (name, remote, yields) in cases {
            assert_eq!(local_yields(&ours, &remote), yields, "{name}");
        }
        // A sticky local MAC never moves to a non-sticky remote one.
        assert!(!local_yields(
            &rank(true, 0, true, 5),
            &rank(false, 9, false, 1)
        ));
    }
}
