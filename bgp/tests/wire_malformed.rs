//! Malformed input: one test (at least) per NOTIFICATION subcode the decoder
//! produces, and per RFC 7606 rule (attribute discard, treat-as-withdraw,
//! session reset), each named after the rule.

use bytes::{Bytes, BytesMut};
use plane_bgp::wire::error::{header_subcode, open_subcode, update_subcode};
use plane_bgp::wire::*;
use std::net::{IpAddr, Ipv4Addr};

fn params() -> SessionParams {
    SessionParams::default()
}

fn with_header(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

fn update_bytes(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    with_header(msg_type::UPDATE, &b)
}

fn attr(flags: u8, t: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, t, u8::try_from(value.len()).unwrap()];
    a.extend_from_slice(value);
    a
}

fn type2_route(last_mac_octet: u8) -> EvpnNlri {
    EvpnNlri {
        path_id: None,
        route: EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
            rd: RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                number: 100,
            },
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: MacAddr([2, 0, 0, 0, 1, last_mac_octet]),
            ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 100, last_mac_octet))),
            label1: 100,
            label2: None,
        }),
    }
}

/// An MP_REACH_NLRI attribute for EVPN with one type-2 route.
fn mp_reach(flags: u8) -> Vec<u8> {
    let a = PathAttribute {
        flags,
        value: AttrValue::MpReachNlri(MpReach {
            afi: afi::L2VPN,
            safi: safi::EVPN,
            next_hop: MpNextHop::V4(Ipv4Addr::new(10, 0, 0, 1)),
            nlri: MpNlri::Evpn(vec![type2_route(1)]),
        }),
    };
    let mut b = BytesMut::new();
    a.emit(&params(), &mut b).unwrap();
    b.to_vec()
}

fn origin() -> Vec<u8> {
    attr(0x40, type_code::ORIGIN, &[0])
}

fn as_path() -> Vec<u8> {
    attr(0x40, type_code::AS_PATH, &[2, 1, 0, 0, 0xfd, 0xe8])
}

/// A valid EVPN UPDATE's attributes with `extra` appended.
fn evpn_attrs(extra: &[u8]) -> Vec<u8> {
    [mp_reach(0x80), origin(), as_path(), extra.to_vec()].concat()
}

fn decode(b: &[u8]) -> Result<Message, MessageError> {
    decode_message(b, &params())
}

fn notification(e: &MessageError) -> (u8, u8, Bytes) {
    let n = e.notification().expect("a NOTIFICATION");
    (n.code, n.subcode, n.data)
}

fn assert_reset(b: &[u8], code: u8, subcode: u8) -> MessageError {
    let e = decode(b).expect_err("must fail");
    let (c, s, _) = notification(&e);
    assert_eq!((c, s), (code, subcode), "{e}");
    e
}

/// Treat-as-withdraw of the one EVPN route of `evpn_attrs`, no NOTIFICATION.
fn assert_withdraw(b: &[u8], type_code: Option<u8>) -> AttributeError {
    match decode(b) {
        Err(MessageError::TreatAsWithdraw { evpn, reason, .. }) => {
            assert_eq!(evpn, vec![type2_route(1)]);
            assert_eq!(reason.type_code, type_code, "{reason}");
            assert_eq!(reason.action, ErrorAction::TreatAsWithdraw);
            let e = MessageError::TreatAsWithdraw {
                withdrawn: vec![],
                evpn: vec![],
                reason: reason.clone(),
                discarded: vec![],
            };
            assert_eq!(e.notification(), None);
            *reason
        }
        other => panic!("treat-as-withdraw expected, got {other:?}"),
    }
}

/// Attribute discard: the UPDATE decodes without the attribute; the
/// diagnostics name it.
fn assert_discard(b: &[u8], type_code: u8) {
    let (m, diag) = decode_message_with_diagnostics(b, &params()).expect("decodes");
    let Message::Update(u) = m else {
        panic!("UPDATE")
    };
    assert!(u.attribute(type_code).is_none());
    assert!(u.attribute(type_code::MP_REACH_NLRI).is_some());
    assert_eq!(diag.len(), 1);
    assert_eq!(diag[0].type_code, Some(type_code));
    assert_eq!(diag[0].action, ErrorAction::AttributeDiscard);
}

// ------------------------------------------------------- message header

#[test]
fn header_1_1_bad_marker_in_framer_and_decoder() {
    let mut m = with_header(msg_type::KEEPALIVE, &[]);
    m[3] = 0;
    // The framer reports it as soon as the bad octet has arrived.
    assert_eq!(frame(&m[..4], 4096), Err(MessageError::BadMarker));
    let e = assert_reset(
        &m,
        error_code::MESSAGE_HEADER,
        header_subcode::CONNECTION_NOT_SYNCHRONIZED,
    );
    assert_eq!(e, MessageError::BadMarker);
}

#[test]
fn header_1_2_framer_rejects_short_and_long_lengths_without_waiting() {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 18]);
    let e = frame(&m, 4096).expect_err("18 < 19");
    assert_eq!(notification(&e), (1, 2, Bytes::from_static(&[0, 18])));
    m[16..18].copy_from_slice(&4097u16.to_be_bytes());
    let e = frame(&m, 4096).expect_err("above the maximum");
    assert_eq!(
        notification(&e),
        (1, 2, Bytes::copy_from_slice(&4097u16.to_be_bytes()))
    );
    // With extended messages (RFC 8654) the same length needs more bytes.
    assert_eq!(frame(&m, MAX_EXTENDED_MESSAGE_LEN), Ok(None));
}

#[test]
fn header_1_2_per_type_minimum_lengths() {
    for (t, body) in [
        (msg_type::KEEPALIVE, &[0u8][..]),
        (msg_type::OPEN, &[4, 0, 1, 0, 90, 1, 1, 1, 1][..]),
        (msg_type::UPDATE, &[0, 0][..]),
        (msg_type::NOTIFICATION, &[6][..]),
        (msg_type::ROUTE_REFRESH, &[0, 25, 0, 70, 0][..]),
    ] {
        assert_reset(&with_header(t, body), 1, header_subcode::BAD_MESSAGE_LENGTH);
    }
}

#[test]
fn header_1_2_length_field_disagreeing_with_the_message() {
    let mut m = with_header(msg_type::KEEPALIVE, &[]);
    m.push(0);
    assert_reset(&m, 1, 2);
    assert_reset(&m[..10], 1, 2);
}

#[test]
fn header_1_2_message_above_negotiated_maximum() {
    let m = with_header(msg_type::NOTIFICATION, &[6, 2, 0][..]);
    let small = SessionParams {
        max_message_len: 21,
        ..params()
    };
    let e = decode_message(&m, &small).expect_err("22 > 21");
    assert_eq!(notification(&e).1, header_subcode::BAD_MESSAGE_LENGTH);
}

#[test]
fn header_1_3_unknown_type() {
    let e = assert_reset(&with_header(9, &[]), 1, header_subcode::BAD_MESSAGE_TYPE);
    assert_eq!(notification(&e).2, Bytes::from_static(&[9]));
}

// ---------------------------------------------------------------- OPEN

fn open_body(version: u8, my_as: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(u8::try_from(params.len()).unwrap());
    b.extend_from_slice(params);
    b
}

#[test]
fn open_2_1_unsupported_version_names_version_4() {
    let e = assert_reset(
        &with_header(msg_type::OPEN, &open_body(3, 65000, 90, [1, 1, 1, 1], &[])),
        2,
        open_subcode::UNSUPPORTED_VERSION_NUMBER,
    );
    assert_eq!(notification(&e).2, Bytes::from_static(&[0, 4]));
}

#[test]
fn open_2_2_as_zero_rfc7607() {
    assert_reset(
        &with_header(msg_type::OPEN, &open_body(4, 0, 90, [1, 1, 1, 1], &[])),
        2,
        open_subcode::BAD_PEER_AS,
    );
    // AS_TRANS in My AS, 0 in the 4-octet AS capability.
    let caps = [2, 6, 65, 4, 0, 0, 0, 0];
    assert_reset(
        &with_header(
            msg_type::OPEN,
            &open_body(4, 23456, 90, [1, 1, 1, 1], &caps),
        ),
        2,
        open_subcode::BAD_PEER_AS,
    );
}

#[test]
fn open_2_3_zero_bgp_identifier() {
    assert_reset(
        &with_header(msg_type::OPEN, &open_body(4, 65000, 90, [0, 0, 0, 0], &[])),
        2,
        open_subcode::BAD_BGP_IDENTIFIER,
    );
}

#[test]
fn open_2_6_hold_time_one_or_two() {
    for hold in [1, 2] {
        assert_reset(
            &with_header(
                msg_type::OPEN,
                &open_body(4, 65000, hold, [1, 1, 1, 1], &[]),
            ),
            2,
            open_subcode::UNACCEPTABLE_HOLD_TIME,
        );
    }
    // 0 and 3 are fine.
    for hold in [0, 3] {
        assert!(decode(&with_header(
            msg_type::OPEN,
            &open_body(4, 65000, hold, [1, 1, 1, 1], &[])
        ))
        .is_ok());
    }
}

#[test]
fn open_2_0_malformed_parameters() {
    // A capability whose length overruns its parameter; a parameter that
    // overruns the parameters; octets after the parameters.
    for params in [&[2u8, 3, 1, 4, 0][..], &[2, 9, 1, 0][..]] {
        assert_reset(
            &with_header(
                msg_type::OPEN,
                &open_body(4, 65000, 90, [1, 1, 1, 1], params),
            ),
            2,
            open_subcode::UNSPECIFIC,
        );
    }
    let mut b = open_body(4, 65000, 90, [1, 1, 1, 1], &[]);
    b.push(0);
    assert_reset(
        &with_header(msg_type::OPEN, &b),
        2,
        open_subcode::UNSPECIFIC,
    );
}

#[test]
fn open_malformed_known_capability_is_kept_as_unknown() {
    // Multiprotocol with 3 octets instead of 4: kept, ignored by negotiation.
    let b = with_header(
        msg_type::OPEN,
        &open_body(4, 65000, 90, [1, 1, 1, 1], &[2, 5, 1, 3, 0, 25, 70]),
    );
    let Ok(Message::Open(o)) = decode(&b) else {
        panic!()
    };
    assert_eq!(
        o.capabilities,
        vec![Capability::Unknown {
            code: 1,
            value: Bytes::from_static(&[0, 25, 70])
        }]
    );
}

#[test]
fn route_refresh_7_1_borr_of_wrong_length_rfc7313() {
    let m = with_header(msg_type::ROUTE_REFRESH, &[0, 25, 1, 70, 0]);
    let e = assert_reset(&m, error_code::ROUTE_REFRESH, 1);
    // RFC 7313 section 5: the data is the complete message.
    assert_eq!(notification(&e).2, Bytes::from(m));
}

// ------------------------------------------- UPDATE: session reset cases

#[test]
fn update_3_1_withdrawn_length_overruns() {
    let mut m = update_bytes(&[], &[], &[]);
    m[19..21].copy_from_slice(&[0, 9]);
    assert_reset(&m, 3, update_subcode::MALFORMED_ATTRIBUTE_LIST);
}

#[test]
fn update_3_1_total_attribute_length_overruns() {
    let mut m = update_bytes(&[], &origin(), &[]);
    m[21..23].copy_from_slice(&[0, 40]);
    assert_reset(&m, 3, update_subcode::MALFORMED_ATTRIBUTE_LIST);
}

#[test]
fn update_3_1_repeated_mp_reach_rfc7606_3g() {
    let attrs = [mp_reach(0x80), mp_reach(0x80), origin(), as_path()].concat();
    assert_reset(
        &update_bytes(&[], &attrs, &[]),
        3,
        update_subcode::MALFORMED_ATTRIBUTE_LIST,
    );
}

#[test]
fn update_3_2_unrecognized_well_known_attribute() {
    let e = assert_reset(
        &update_bytes(&[], &evpn_attrs(&attr(0x40, 99, &[1])), &[]),
        3,
        update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
    );
    // RFC 4271 section 6.3: the data is the attribute.
    assert_eq!(notification(&e).2, Bytes::from_static(&[0x40, 99, 1, 1]));
}

#[test]
fn update_3_9_mp_reach_next_hop_length_inconsistent_rfc7606_7_11() {
    let mut a = mp_reach(0x80);
    a[6] = 5; // next hop length 5 for EVPN
    assert_reset(
        &update_bytes(&[], &[a, origin(), as_path()].concat(), &[]),
        3,
        update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
    );
}

#[test]
fn update_3_9_mp_reach_and_unreach_too_short() {
    let short_reach = attr(0x80, type_code::MP_REACH_NLRI, &[0, 25, 70]);
    assert_reset(
        &update_bytes(&[], &short_reach, &[]),
        3,
        update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
    );
    let short_unreach = attr(0x80, type_code::MP_UNREACH_NLRI, &[0, 25]);
    assert_reset(
        &update_bytes(&[], &short_unreach, &[]),
        3,
        update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
    );
}

#[test]
fn update_3_9_malformed_evpn_nlri_rfc7606_5_3() {
    // A type-2 route whose MAC length is 47 bits.
    let mut a = mp_reach(0x80);
    // Attribute header 3, AFI/SAFI/next hop/reserved 9, route type and length 2, RD, ESI, tag.
    let mac_len_at = 3 + 9 + 2 + 8 + 10 + 4;
    assert_eq!(a[mac_len_at], 48);
    a[mac_len_at] = 47;
    assert_reset(
        &update_bytes(&[], &[a, origin(), as_path()].concat(), &[]),
        3,
        update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
    );
    // A route length overrunning the attribute.
    let mut a = mp_reach(0x80);
    a[3 + 9 + 1] = 200;
    assert_reset(
        &update_bytes(&[], &[a, origin(), as_path()].concat(), &[]),
        3,
        update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
    );
}

#[test]
fn update_3_10_invalid_network_field_rfc7606_5_3() {
    let attrs = [
        origin(),
        as_path(),
        attr(0x40, type_code::NEXT_HOP, &[10, 0, 0, 1]),
    ]
    .concat();
    assert_reset(
        &update_bytes(&[], &attrs, &[33, 10, 0, 0, 0, 0]),
        3,
        update_subcode::INVALID_NETWORK_FIELD,
    );
    assert_reset(
        &update_bytes(&[24, 10], &[], &[]),
        3,
        update_subcode::INVALID_NETWORK_FIELD,
    );
}

#[test]
fn session_reset_wins_over_treat_as_withdraw_rfc7606_3j() {
    let attrs = [
        attr(0x40, type_code::ORIGIN, &[7]),
        attr(0x40, 99, &[]),
        mp_reach(0x80),
        as_path(),
    ]
    .concat();
    assert_reset(
        &update_bytes(&[], &attrs, &[]),
        3,
        update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
    );
}

// --------------------------------------- UPDATE: RFC 7606 treat-as-withdraw

#[test]
fn rfc7606_7_1_origin_bad_length_or_value() {
    for bad in [
        attr(0x40, type_code::ORIGIN, &[3]),
        attr(0x40, type_code::ORIGIN, &[0, 0]),
    ] {
        let attrs = [mp_reach(0x80), bad, as_path()].concat();
        assert_withdraw(&update_bytes(&[], &attrs, &[]), Some(type_code::ORIGIN));
    }
}

#[test]
fn rfc7606_7_2_malformed_as_path() {
    for seg in [
        &[5u8, 1, 0, 0, 0, 1][..], // unknown segment type
        &[2, 0][..],               // zero-length segment
        &[2, 2, 0, 0, 0, 1][..],   // overrun
        &[2][..],                  // truncated header
    ] {
        let attrs = [
            mp_reach(0x80),
            origin(),
            attr(0x40, type_code::AS_PATH, seg),
        ]
        .concat();
        let e = assert_withdraw(&update_bytes(&[], &attrs, &[]), Some(type_code::AS_PATH));
        assert_eq!(e.subcode, update_subcode::MALFORMED_AS_PATH);
    }
}

#[test]
fn rfc7606_7_3_to_7_5_next_hop_med_local_pref_lengths() {
    for t in [type_code::NEXT_HOP, type_code::LOCAL_PREF] {
        assert_withdraw(
            &update_bytes(&[], &evpn_attrs(&attr(0x40, t, &[1, 2, 3])), &[]),
            Some(t),
        );
    }
    let med = attr(0x80, type_code::MULTI_EXIT_DISC, &[1, 2, 3, 4, 5]);
    assert_withdraw(
        &update_bytes(&[], &evpn_attrs(&med), &[]),
        Some(type_code::MULTI_EXIT_DISC),
    );
}

#[test]
fn rfc7606_7_8_to_7_10_communities_originator_cluster_list() {
    for (f, t, v) in [
        (0xc0, type_code::COMMUNITIES, &[1u8, 2, 3][..]),
        (0xc0, type_code::COMMUNITIES, &[][..]),
        (0x80, type_code::ORIGINATOR_ID, &[1, 2, 3][..]),
        (0x80, type_code::CLUSTER_LIST, &[1, 2, 3, 4, 5][..]),
    ] {
        assert_withdraw(
            &update_bytes(&[], &evpn_attrs(&attr(f, t, v)), &[]),
            Some(t),
        );
    }
}

#[test]
fn rfc7606_7_14_extended_communities_not_multiple_of_8() {
    let a = attr(0xc0, type_code::EXTENDED_COMMUNITIES, &[0; 7]);
    assert_withdraw(
        &update_bytes(&[], &evpn_attrs(&a), &[]),
        Some(type_code::EXTENDED_COMMUNITIES),
    );
}

#[test]
fn rfc8092_6_large_community_not_multiple_of_12() {
    let a = attr(0xc0, type_code::LARGE_COMMUNITY, &[0; 11]);
    assert_withdraw(
        &update_bytes(&[], &evpn_attrs(&a), &[]),
        Some(type_code::LARGE_COMMUNITY),
    );
}

#[test]
fn pmsi_tunnel_too_short_is_treat_as_withdraw() {
    let a = attr(0xc0, type_code::PMSI_TUNNEL, &[0, 6, 0, 0]);
    assert_withdraw(
        &update_bytes(&[], &evpn_attrs(&a), &[]),
        Some(type_code::PMSI_TUNNEL),
    );
}

#[test]
fn rfc7606_3c_flags_conflict_still_withdraws_the_mp_reach_routes() {
    // ORIGIN marked optional.
    let attrs = [
        mp_reach(0x80),
        attr(0xc0, type_code::ORIGIN, &[0]),
        as_path(),
    ]
    .concat();
    let e = assert_withdraw(&update_bytes(&[], &attrs, &[]), Some(type_code::ORIGIN));
    assert_eq!(e.subcode, update_subcode::ATTRIBUTE_FLAGS_ERROR);
    // MP_REACH_NLRI marked transitive: its routes are still found and withdrawn.
    let attrs = [mp_reach(0xc0), origin(), as_path()].concat();
    assert_withdraw(
        &update_bytes(&[], &attrs, &[]),
        Some(type_code::MP_REACH_NLRI),
    );
}

#[test]
fn rfc7606_3d_missing_well_known_attribute() {
    let attrs = [mp_reach(0x80), as_path()].concat();
    let e = assert_withdraw(&update_bytes(&[], &attrs, &[]), Some(type_code::ORIGIN));
    assert_eq!(e.subcode, update_subcode::MISSING_WELL_KNOWN_ATTRIBUTE);
    // IPv4 NLRI without NEXT_HOP: the prefix is withdrawn.
    let m = update_bytes(&[], &[origin(), as_path()].concat(), &[24, 10, 1, 2]);
    match decode(&m) {
        Err(MessageError::TreatAsWithdraw {
            withdrawn, reason, ..
        }) => {
            assert_eq!(reason.type_code, Some(type_code::NEXT_HOP));
            assert_eq!(
                withdrawn,
                vec![Prefix {
                    path_id: None,
                    addr: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 0)),
                    len: 24
                }]
            );
        }
        other => panic!("{other:?}"),
    }
    // An UPDATE that only withdraws needs no attributes.
    let unreach = attr(0x80, type_code::MP_UNREACH_NLRI, &[0, 25, 70]);
    assert!(decode(&update_bytes(&[], &unreach, &[])).is_ok());
}

#[test]
fn rfc7606_4_attribute_overrunning_the_list() {
    // The last attribute claims 9 octets, 2 follow; and a lone flags octet.
    for tail in [&[0xc0u8, 8, 9, 0, 0][..], &[0x40][..]] {
        let attrs = [mp_reach(0x80), origin(), as_path(), tail.to_vec()].concat();
        let e = assert_withdraw(&update_bytes(&[], &attrs, &[]), None);
        assert_eq!(e.subcode, update_subcode::MALFORMED_ATTRIBUTE_LIST);
    }
}

#[test]
fn rfc7606_3k_overrun_before_any_route_is_located_resets_the_session() {
    // GoBGP's order (ORIGIN, AS_PATH, then MP_REACH_NLRI) with AS_PATH
    // overrunning the list: the routes cannot be located.
    let attrs = [
        origin(),
        vec![0x40, type_code::AS_PATH, 200, 2, 1],
        mp_reach(0x80),
    ]
    .concat();
    assert_reset(
        &update_bytes(&[], &attrs, &[]),
        3,
        update_subcode::MALFORMED_ATTRIBUTE_LIST,
    );
}

#[test]
fn treat_as_withdraw_collects_every_route_of_the_update() {
    let unreach = {
        let a = PathAttribute::from(AttrValue::MpUnreachNlri(MpUnreach {
            afi: afi::L2VPN,
            safi: safi::EVPN,
            nlri: MpNlri::Evpn(vec![type2_route(2)]),
        }));
        let mut b = BytesMut::new();
        a.emit(&params(), &mut b).unwrap();
        b.to_vec()
    };
    let attrs = [
        mp_reach(0x80),
        unreach,
        attr(0x40, type_code::ORIGIN, &[9]),
        as_path(),
        attr(0x40, type_code::NEXT_HOP, &[10, 0, 0, 1]),
    ]
    .concat();
    match decode(&update_bytes(&[8, 10], &attrs, &[16, 10, 2])) {
        Err(MessageError::TreatAsWithdraw {
            withdrawn, evpn, ..
        }) => {
            assert_eq!(evpn, vec![type2_route(1), type2_route(2)]);
            let lens: Vec<_> = withdrawn.iter().map(|p| (p.addr, p.len)).collect();
            assert_eq!(
                lens,
                [
                    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
                    (IpAddr::V4(Ipv4Addr::new(10, 2, 0, 0)), 16)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

// ----------------------------------------- UPDATE: RFC 7606 attribute discard

#[test]
fn rfc7606_7_6_atomic_aggregate_with_a_value() {
    let a = attr(0x40, type_code::ATOMIC_AGGREGATE, &[1]);
    assert_discard(
        &update_bytes(&[], &evpn_attrs(&a), &[]),
        type_code::ATOMIC_AGGREGATE,
    );
}

#[test]
fn rfc7606_7_7_aggregator_wrong_length() {
    let a = attr(0xc0, type_code::AGGREGATOR, &[0; 6]); // 4-octet session wants 8
    assert_discard(
        &update_bytes(&[], &evpn_attrs(&a), &[]),
        type_code::AGGREGATOR,
    );
}

#[test]
fn rfc6793_6_malformed_as4_path_and_as4_aggregator_are_discarded() {
    let a = attr(0xc0, type_code::AS4_PATH, &[2, 1, 0, 1]);
    assert_discard(
        &update_bytes(&[], &evpn_attrs(&a), &[]),
        type_code::AS4_PATH,
    );
    let a = attr(0xc0, type_code::AS4_AGGREGATOR, &[0; 7]);
    assert_discard(
        &update_bytes(&[], &evpn_attrs(&a), &[]),
        type_code::AS4_AGGREGATOR,
    );
}

#[test]
fn rfc7606_3g_repeated_attribute_keeps_the_first() {
    let second = attr(0x40, type_code::ORIGIN, &[2]);
    let m = update_bytes(&[], &evpn_attrs(&second), &[]);
    let (Message::Update(u), diag) = decode_message_with_diagnostics(&m, &params()).unwrap() else {
        panic!()
    };
    assert_eq!(
        u.attribute(type_code::ORIGIN),
        Some(&AttrValue::Origin(Origin::Igp))
    );
    assert_eq!(diag[0].fault, AttrFault::Duplicate);
}

#[test]
fn unknown_optional_attributes_are_kept_and_propagated_with_partial() {
    let m = update_bytes(
        &[],
        &evpn_attrs(&[attr(0xc0, 99, &[1, 2]), attr(0x80, 98, &[3])].concat()),
        &[],
    );
    let Ok(Message::Update(u)) = decode(&m) else {
        panic!()
    };
    let t = u
        .attributes
        .iter()
        .find(|a| a.value.type_code() == 99)
        .unwrap();
    assert_eq!(t.flags, 0xc0);
    assert_eq!(t.for_propagation().unwrap().flags, 0xc0 | flags::PARTIAL);
    let nt = u
        .attributes
        .iter()
        .find(|a| a.value.type_code() == 98)
        .unwrap();
    assert_eq!(nt.for_propagation(), None);
    // Kept attributes re-encode as received.
    let mut out = BytesMut::new();
    encode_message(&Message::Update(u), &params(), &mut out).unwrap();
    assert_eq!(&out[..], &m[..]);
}

// ---------------------------------------------------------- NOTIFICATION

#[test]
fn shutdown_communication_rfc9003() {
    let n = Notification::administrative_shutdown("maintenance, back at 23:00").unwrap();
    assert_eq!((n.code, n.subcode), (6, 2));
    let mut out = BytesMut::new();
    encode_message(&Message::Notification(n.clone()), &params(), &mut out).unwrap();
    let Ok(Message::Notification(back)) = decode(&out) else {
        panic!()
    };
    assert_eq!(
        back.shutdown_communication(),
        Some(Ok("maintenance, back at 23:00"))
    );
    assert!(Notification::administrative_reset(&"x".repeat(256)).is_err());
    assert!(Notification::administrative_reset(&"x".repeat(255)).is_ok());
    // Length beyond the data, and invalid UTF-8, are reported, not panics.
    let bad = Notification::new(6, 2, Bytes::from_static(&[5, b'a']));
    assert!(matches!(
        bad.shutdown_communication(),
        Some(Err(ShutdownCommunicationError::Truncated { .. }))
    ));
    let bad = Notification::new(6, 4, Bytes::from_static(&[1, 0xff]));
    assert_eq!(
        bad.shutdown_communication(),
        Some(Err(ShutdownCommunicationError::NotUtf8))
    );
    assert_eq!(Notification::cease(2).shutdown_communication(), None);
    assert_eq!(
        Notification::hold_timer_expired().shutdown_communication(),
        None
    );
}

// ------------------------------------------------------------- encoding

#[test]
fn encoder_refuses_what_does_not_fit_and_leaves_the_buffer_unchanged() {
    let huge = Update {
        attributes: vec![PathAttribute::from(AttrValue::Communities(vec![1; 2000]))],
        ..Default::default()
    };
    let mut out = BytesMut::from(&b"abc"[..]);
    let e = encode_message(&Message::Update(huge), &params(), &mut out)
        .expect_err("8000 octets > 4096");
    assert!(matches!(e, EncodeError::MessageTooLong { .. }), "{e}");
    assert_eq!(&out[..], b"abc");
    // An attribute over 255 octets without the flag gets Extended Length.
    let big = Update {
        attributes: vec![PathAttribute::from(AttrValue::Communities(vec![7; 100]))],
        ..Default::default()
    };
    let mut out = BytesMut::new();
    encode_message(&Message::Update(big.clone()), &params(), &mut out).unwrap();
    let Ok(Message::Update(back)) = decode(&out) else {
        panic!()
    };
    assert_eq!(back.attributes[0].flags, 0xc0 | flags::EXTENDED_LENGTH);
    assert_eq!(back.attributes[0].value, big.attributes[0].value);
}

#[test]
fn packing_splits_at_the_negotiated_size_and_refuses_an_nlri_that_cannot_fit() {
    let routes: Vec<_> = (0..200).map(type2_route).collect();
    let nh = MpNextHop::V4(Ipv4Addr::new(10, 0, 0, 1));
    let attrs = [
        PathAttribute::from(AttrValue::Origin(Origin::Igp)),
        PathAttribute::from(AttrValue::AsPath(AsPath::default())),
    ];
    for max in [4096, MAX_EXTENDED_MESSAGE_LEN] {
        let p = SessionParams {
            max_message_len: max,
            ..params()
        };
        let msgs = encode_evpn_reach(&attrs, &nh, &routes, &p).unwrap();
        let mut back = Vec::new();
        for m in &msgs {
            assert!(m.len() <= max);
            let Ok(Message::Update(u)) = decode_message(m, &p) else {
                panic!()
            };
            let Some(AttrValue::MpReachNlri(r)) = u.attribute(type_code::MP_REACH_NLRI) else {
                panic!()
            };
            let MpNlri::Evpn(v) = &r.nlri else { panic!() };
            back.extend(v.iter().cloned());
        }
        assert_eq!(back, routes);
        // 200 routes of 39 octets: 8 kB, two 4096-octet UPDATEs or one big one.
        assert_eq!(msgs.len(), if max == 4096 { 2 } else { 1 });
        let w = encode_evpn_unreach(&routes, &p).unwrap();
        assert_eq!(w.len(), msgs.len());
    }
    let tiny = SessionParams {
        max_message_len: 60,
        ..params()
    };
    assert!(matches!(
        encode_evpn_reach(&attrs, &nh, &routes, &tiny),
        Err(EncodeError::NlriDoesNotFit { .. })
    ));
    assert!(encode_evpn_reach(
        &[PathAttribute::from(AttrValue::MpUnreachNlri(MpUnreach {
            afi: 25,
            safi: 70,
            nlri: MpNlri::Evpn(vec![])
        }))],
        &nh,
        &routes,
        &params()
    )
    .is_err());
}

#[test]
fn end_of_rib_markers_rfc4724() {
    for (a, s) in [(afi::IPV4, safi::UNICAST), (afi::L2VPN, safi::EVPN)] {
        let b = end_of_rib(a, s);
        let Ok(Message::Update(u)) = decode(&b) else {
            panic!()
        };
        assert_eq!(u.end_of_rib(), Some((a, s)));
    }
    assert_eq!(end_of_rib(1, 1).len(), 23);
    let Ok(Message::Update(u)) = decode(&update_bytes(&[8, 10], &[], &[])) else {
        panic!()
    };
    assert_eq!(u.end_of_rib(), None);
}
