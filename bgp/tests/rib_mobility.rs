//! RFC 7432 section 15 from the side of the PE that advertised a MAC as
//! local: a remote route for the MAC with a higher sequence number (or the
//! same one from a lower VTEP address) makes us withdraw ours; a weaker one
//! changes nothing; (re)learning the MAC takes it back with a higher
//! sequence number.
//!
//! We are VTEP 10.0.0.1 (below every peer's 10.0.1.N) unless a test says.

mod rib_util;

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use rib_util::*;
use std::net::{IpAddr, Ipv4Addr};

const VNI: u32 = 10;

fn ipa() -> Option<IpAddr> {
    Some(ip("192.168.0.5"))
}

/// A RIB with peers 2 (the remote VTEP) and 3 (an observer), and the local
/// MAC 1 advertised MAC-only and with one IP at `seq`, drained.
fn with_local(c: RibConfig, seq: u32) -> (Rib, PeerId, PeerId) {
    let mut rib = Rib::new(c);
    let (p2, p3) = (up(&mut rib, 2, ASN), up(&mut rib, 3, ASN));
    for ip in [None, ipa()] {
        assert_eq!(rib.originate_mac_ip(VNI, mac(1), ip, seq, false), Ok(seq));
    }
    for p in [p2, p3] {
        assert_eq!(reached(&drain(&mut rib, p)).len(), 2);
    }
    assert!(rib.take_events().is_empty());
    (rib, p2, p3)
}

/// Peer 2 advertises MAC 1 (MAC-only and with the IP) from its VTEP.
fn remote(rib: &mut Rib, p2: PeerId, seq: u32, sticky: bool) {
    let nlri = vec![
        type2(rd(2), mac(1), None, VNI),
        type2(rd(2), mac(1), ipa(), VNI),
    ];
    rib.apply_update(p2, &reach(&Attrs::rt(VNI).seq(seq, sticky), vtep(2), nlri))
        .unwrap();
}

fn remote_withdraw(rib: &mut Rib, p2: PeerId) {
    let nlri = vec![
        type2(rd(2), mac(1), None, VNI),
        type2(rd(2), mac(1), ipa(), VNI),
    ];
    rib.apply_update(p2, &unreach(nlri)).unwrap();
}

fn best(ip: Option<IpAddr>, seq: u32, sticky: bool, peer: PeerId) -> RibEvent {
    RibEvent::MacIpBest {
        vni: VNI,
        mac: mac(1),
        ip,
        vtep: vtep(2),
        seq,
        sticky,
        rd: rd(2),
        peer,
    }
}

fn withdrawn(ip: Option<IpAddr>) -> RibEvent {
    RibEvent::MacIpWithdrawn {
        vni: VNI,
        mac: mac(1),
        ip,
    }
}

/// The RDs of the NLRI withdrawn in `out`.
fn unreached_rds(out: &Outgoing) -> Vec<Option<RouteDistinguisher>> {
    out.unreach.iter().map(|n| n.route.rd()).collect()
}

#[test]
fn higher_seq_remote_withdraws_local_and_its_withdrawal_restores_it() {
    let (mut rib, p2, p3) = with_local(cfg(), 0);
    let ours = rib.vni_rd(VNI);
    remote(&mut rib, p2, 1, false);
    // The dataplane follows the remote VTEP...
    assert_eq!(
        rib.take_events(),
        vec![best(None, 1, false, p2), best(ipa(), 1, false, p2)]
    );
    // ... and both of our routes are withdrawn from every peer.
    assert!(rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(local_type2(&rib), vec![]);
    assert_eq!(unreached_rds(&drain(&mut rib, p2)), vec![ours, ours]);
    let out = drain(&mut rib, p3);
    assert_eq!(unreached_rds(&out), vec![ours, ours]);
    assert!(out.reach.is_empty(), "iBGP route not reflected: {out:?}");

    // A second, still higher update changes nothing for us.
    remote(&mut rib, p2, 2, false);
    assert_eq!(rib.take_events().len(), 2);
    assert!(drain(&mut rib, p3).is_empty());

    // The remote route goes: the endpoint is still registered here, so our
    // routes come back as they were (sequence 0: no remote to beat).
    remote_withdraw(&mut rib, p2);
    assert_eq!(rib.take_events(), vec![withdrawn(None), withdrawn(ipa())]);
    assert!(!rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(local_type2(&rib), vec![(None, 0), (ipa(), 0)]);
    let out = drain(&mut rib, p3);
    assert_eq!(reached(&out).len(), 2);
    assert!(out.unreach.is_empty());
}

#[test]
fn lower_seq_remote_keeps_local_and_is_not_installed() {
    let (mut rib, p2, p3) = with_local(cfg(), 3);
    remote(&mut rib, p2, 2, false);
    assert_eq!(
        rib.take_events(),
        vec![],
        "the remote VTEP is not installed"
    );
    assert!(!rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(local_type2(&rib), vec![(None, 3), (ipa(), 3)]);
    assert!(drain(&mut rib, p2).is_empty(), "nothing withdrawn");
    assert!(drain(&mut rib, p3).is_empty());
}

#[test]
fn equal_seq_lower_vtep_wins_on_both_sides() {
    // We (10.0.0.1) are below peer 2's VTEP: ours stays, theirs is not
    // installed (peer 2 withdraws its own by the same rule).
    let (mut rib, p2, _) = with_local(cfg(), 1);
    remote(&mut rib, p2, 1, false);
    assert_eq!(rib.take_events(), vec![]);
    assert_eq!(local_type2(&rib), vec![(None, 1), (ipa(), 1)]);
    assert!(drain(&mut rib, p2).is_empty());

    // Our VTEP above peer 2's: we withdraw ours, the dataplane follows it.
    let c = RibConfig {
        vtep: IpAddr::V4(Ipv4Addr::new(10, 0, 9, 1)),
        ..cfg()
    };
    let (mut rib, p2, p3) = with_local(c, 1);
    let ours = rib.vni_rd(VNI);
    remote(&mut rib, p2, 1, false);
    assert_eq!(
        rib.take_events(),
        vec![best(None, 1, false, p2), best(ipa(), 1, false, p2)]
    );
    assert!(rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(local_type2(&rib), vec![]);
    assert_eq!(unreached_rds(&drain(&mut rib, p3)), vec![ours, ours]);
}

#[test]
fn relearning_a_moved_mac_takes_it_back_above_the_remote_seq() {
    let (mut rib, p2, p3) = with_local(cfg(), 0);
    remote(&mut rib, p2, 4, false);
    rib.take_events();
    drain(&mut rib, p3);
    assert!(rib.local_mac_moved(VNI, mac(1)));
    // The endpoint is added again (it came back here): one origination
    // brings every route of the MAC back, at the remote sequence + 1.
    assert_eq!(rib.originate_mac_ip(VNI, mac(1), None, 0, false), Ok(5));
    assert!(!rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(local_type2(&rib), vec![(None, 5), (ipa(), 5)]);
    assert_eq!(rib.take_events(), vec![withdrawn(None), withdrawn(ipa())]);
    let sent: Vec<u32> = reached(&drain(&mut rib, p3))
        .iter()
        .map(|(_, a)| a.mac_mobility().1)
        .collect();
    assert_eq!(sent, vec![5, 5]);
}

#[test]
fn a_sticky_remote_mac_wins_even_over_relearning() {
    let (mut rib, p2, _) = with_local(cfg(), 7);
    remote(&mut rib, p2, 0, true);
    assert_eq!(
        rib.take_events(),
        vec![best(None, 0, true, p2), best(ipa(), 0, true, p2)]
    );
    assert!(rib.local_mac_moved(VNI, mac(1)));
    rib.originate_mac_ip(VNI, mac(1), None, 0, false).unwrap();
    assert!(rib.local_mac_moved(VNI, mac(1)), "RFC 7432 15.2");
    assert_eq!(local_type2(&rib), vec![]);
    assert_eq!(rib.take_events(), vec![]);
}

#[test]
fn deleting_a_moved_endpoint_forgets_it() {
    let (mut rib, p2, p3) = with_local(cfg(), 0);
    remote(&mut rib, p2, 1, false);
    drain(&mut rib, p3);
    for ip in [ipa(), None] {
        rib.withdraw_mac_ip(VNI, mac(1), ip).unwrap();
    }
    assert!(!rib.local_mac_moved(VNI, mac(1)));
    assert!(drain(&mut rib, p3).is_empty(), "already withdrawn");
    // The remote route going no longer brings anything back.
    remote_withdraw(&mut rib, p2);
    assert_eq!(local_type2(&rib), vec![]);
    assert!(drain(&mut rib, p3).is_empty());
}

#[test]
fn a_moved_mac_stays_withdrawn_across_an_rd_change() {
    let (mut rib, p2, p3) = with_local(cfg(), 0);
    remote(&mut rib, p2, 1, false);
    drain(&mut rib, p3);
    let new_rd = RouteDistinguisher::As2 {
        asn: 65000,
        number: 99,
    };
    let mut vnis = cfg().vnis;
    vnis[0].rd = Some(new_rd);
    rib.set_vnis(vnis);
    assert!(rib.local_mac_moved(VNI, mac(1)));
    assert_eq!(local_type2(&rib), vec![]);
    assert!(drain(&mut rib, p3).is_empty());
    // When the remote route goes, it comes back under the new RD.
    remote_withdraw(&mut rib, p2);
    let out = drain(&mut rib, p3);
    let rds: Vec<_> = reached(&out).iter().map(|(n, _)| n.route.rd()).collect();
    assert_eq!(rds, vec![Some(new_rd); 2]);
}
