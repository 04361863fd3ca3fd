//! Property: any sequence of announcements, withdrawals and session losses
//! from several iBGP and eBGP peers leaves
//! - the Loc-RIB best paths equal to a naive recomputation from what each
//!   peer currently announces (RFC 4271 9.1 and RFC 7432 15, written here
//!   independently as a sort key),
//! - the dataplane state built by applying the event stream equal to the
//!   naive per-(VNI, MAC) winner across RDs,
//! - what an observing eBGP peer holds after draining its Adj-RIB-Out equal
//!   to the best routes.

mod rib_util;

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use proptest::prelude::*;
use rib_util::*;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Peers 1 and 2 are iBGP, 3 and 4 eBGP; 5 is the observer (eBGP).
const PEERS: [u8; 4] = [1, 2, 3, 4];
const OBSERVER: u8 = 5;

fn asn_of(p: u8) -> u32 {
    if p <= 2 {
        ASN
    } else {
        65000 + u32::from(p)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Choice {
    lp: Option<u32>,
    path_len: u32,
    seq: u32,
}

#[derive(Clone, Debug)]
enum Op {
    Announce { peer: u8, key: u8, choice: Choice },
    Withdraw { peer: u8, key: u8 },
    Down { peer: u8 },
    Drain,
}

fn choice() -> impl Strategy<Value = Choice> {
    (
        prop::option::of(prop::sample::select(vec![50u32, 100, 200])),
        0u32..3,
        0u32..3,
    )
        .prop_map(|(lp, path_len, seq)| Choice { lp, path_len, seq })
}

fn op() -> impl Strategy<Value = Op> {
    let peer = prop::sample::select(PEERS.to_vec());
    prop_oneof![
        6 => (peer.clone(), 0u8..6, choice()).prop_map(|(peer, key, choice)| Op::Announce { peer, key, choice }),
        3 => (peer.clone(), 0u8..6).prop_map(|(peer, key)| Op::Withdraw { peer, key }),
        1 => peer.prop_map(|peer| Op::Down { peer }),
        1 => Just(Op::Drain),
    ]
}

/// Key k: MAC k/2 under RD 10.0.1.(8 + k%2): two RDs per MAC, so the
/// same MAC competes across RDs in the VNI view.
fn nlri(key: u8) -> EvpnNlri {
    type2(rd(8 + key % 2), mac(u32::from(key / 2)), None, 10)
}

fn attrs_for(peer: u8, c: Choice) -> Attrs {
    let mut as_path: Vec<u32> = (0..c.path_len).map(|i| 64000 + i).collect();
    if peer > 2 {
        as_path.insert(0, asn_of(peer));
    }
    let a = Attrs {
        as_path,
        local_pref: c.lp,
        ..Attrs::rt(10)
    };
    if c.seq > 0 {
        a.seq(c.seq, false)
    } else {
        a
    }
}

/// The NLRI without the fields RFC 7432 7.2 excludes from the route key
/// (a withdrawal carries zero labels).
fn route_key(n: &EvpnNlri) -> EvpnNlri {
    let mut n = n.clone();
    if let EvpnRoute::MacIpAdvertisement(r) = &mut n.route {
        r.label1 = 0;
        r.label2 = None;
        r.esi = Esi::ZERO;
    }
    n
}

/// The naive best path for one key: (peer, choice).
fn naive_best(cands: &[(u8, Choice)]) -> Option<(u8, Choice)> {
    cands.iter().copied().max_by_key(|&(peer, c)| {
        let ebgp = peer > 2;
        let lp = if ebgp { 100 } else { c.lp.unwrap_or(100) };
        let len = c.path_len + u32::from(ebgp);
        // seq, LOCAL_PREF, shorter path, eBGP, lower router id (= peer number)
        (
            c.seq,
            lp,
            std::cmp::Reverse(len),
            ebgp,
            std::cmp::Reverse(peer),
        )
    })
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut rib = Rib::new(cfg());
    for p in PEERS {
        up(&mut rib, p, asn_of(p));
    }
    let observer = up(&mut rib, OBSERVER, asn_of(OBSERVER));
    // What each peer currently announces: (peer, key) -> choice.
    let mut announced: BTreeMap<(u8, u8), Choice> = BTreeMap::new();
    // Dataplane state from events: (vni, mac, ip) -> (vtep, seq).
    let mut dataplane: HashMap<(u32, MacAddr, Option<IpAddr>), (IpAddr, u32)> = HashMap::new();
    // What the observer holds.
    let mut observed: HashMap<EvpnNlri, Vec<u32>> = HashMap::new();
    let drain_observer = |rib: &mut Rib, observed: &mut HashMap<EvpnNlri, Vec<u32>>| {
        let out = drain(rib, observer);
        for n in &out.unreach {
            observed.remove(&route_key(n));
        }
        for (n, a) in reached(&out) {
            observed.insert(route_key(&n), as_path(&a));
        }
    };
    for op in ops {
        match op {
            Op::Announce { peer, key, choice } => {
                let u = reach(&attrs_for(peer, choice), vtep(peer), vec![nlri(key)]);
                rib.apply_update(PeerId(u32::from(peer)), &u)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                announced.insert((peer, key), choice);
            }
            Op::Withdraw { peer, key } => {
                rib.apply_update(PeerId(u32::from(peer)), &unreach(vec![nlri(key)]))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                announced.remove(&(peer, key));
            }
            Op::Down { peer } => {
                rib.peer_down(PeerId(u32::from(peer)), false);
                announced.retain(|(p, _), _| *p != peer);
                up(&mut rib, peer, asn_of(peer));
            }
            Op::Drain => drain_observer(&mut rib, &mut observed),
        }
        for e in rib.take_events() {
            match e {
                RibEvent::MacIpBest {
                    vni,
                    mac,
                    ip,
                    vtep,
                    seq,
                    ..
                } => {
                    dataplane.insert((vni, mac, ip), (vtep, seq));
                }
                RibEvent::MacIpWithdrawn { vni, mac, ip } => {
                    prop_assert!(
                        dataplane.remove(&(vni, mac, ip)).is_some(),
                        "withdrawn what was never added"
                    );
                }
                other => prop_assert!(false, "unexpected event {:?}", other),
            }
        }
    }
    drain_observer(&mut rib, &mut observed);

    // Loc-RIB.
    let mut expected: BTreeMap<u8, (u8, Choice)> = BTreeMap::new();
    for key in 0..6u8 {
        let cands: Vec<(u8, Choice)> = announced
            .iter()
            .filter(|((_, k), _)| *k == key)
            .map(|((p, _), c)| (*p, *c))
            .collect();
        if let Some(b) = naive_best(&cands) {
            expected.insert(key, b);
        }
    }
    let best = best_routes(&rib);
    prop_assert_eq!(best.len(), expected.len());
    for (key, (peer, c)) in &expected {
        let n = nlri(*key);
        let r = best
            .iter()
            .find(|r| r.rd == n.route.rd() && r.mac == Some(mac(u32::from(key / 2))))
            .ok_or_else(|| TestCaseError::fail(format!("key {key} missing")))?;
        prop_assert_eq!(
            r.source,
            RouteSource::Peer(PeerId(u32::from(*peer))),
            "key {}",
            key
        );
        prop_assert_eq!(r.seq, c.seq);
    }
    // Dataplane: per MAC, the best across the two RDs by (seq, lowest VTEP).
    let mut view: HashMap<(u32, MacAddr, Option<IpAddr>), (IpAddr, u32)> = HashMap::new();
    for (key, (peer, c)) in &expected {
        let k = (10, mac(u32::from(key / 2)), None);
        let cand = (vtep(*peer), c.seq);
        let better = match view.get(&k) {
            None => true,
            Some(&(v, s)) => (cand.1, std::cmp::Reverse(cand.0)) > (s, std::cmp::Reverse(v)),
        };
        if better {
            view.insert(k, cand);
        }
    }
    prop_assert_eq!(&dataplane, &view);
    // Observer: every best route, with our AS prepended.
    prop_assert_eq!(observed.len(), expected.len());
    for (key, (peer, c)) in &expected {
        let path = observed
            .get(&route_key(&nlri(*key)))
            .ok_or_else(|| TestCaseError::fail(format!("observer lacks {key}")))?;
        let mut want = vec![ASN];
        want.extend(as_path(&PathAttrs::new(
            attrs_for(*peer, *c).build(),
            MpNextHop::from(vtep(*peer)),
        )));
        prop_assert_eq!(path, &want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn loc_rib_view_and_adj_rib_out_match_naive_recomputation(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
