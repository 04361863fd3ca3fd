//! Property tests: for generated messages of every type (OPEN with every
//! capability, UPDATE with every attribute and every EVPN route type,
//! NOTIFICATION, KEEPALIVE, ROUTE-REFRESH), decode(encode(m)) == m, and the
//! encoding frames as one whole message. Plus: no input makes the decoder
//! or the framer panic.

use bytes::{Bytes, BytesMut};
use plane_bgp::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// ------------------------------------------------------------ EVPN values

fn rd() -> BoxedStrategy<RouteDistinguisher> {
    let s = {
        prop_oneof![
            (any::<u16>(), any::<u32>())
                .prop_map(|(asn, number)| RouteDistinguisher::As2 { asn, number }),
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, number)| RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::from(a),
                number
            }),
            (any::<u32>(), any::<u16>())
                .prop_map(|(asn, number)| RouteDistinguisher::As4 { asn, number }),
            (3u16.., any::<[u8; 6]>())
                .prop_map(|(rd_type, value)| RouteDistinguisher::Unknown { rd_type, value }),
        ]
    };
    s.boxed()
}

fn label() -> impl Strategy<Value = u32> {
    0u32..=0x00ff_ffff
}

fn ip() -> BoxedStrategy<IpAddr> {
    let s = {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ]
    };
    s.boxed()
}

fn esi() -> BoxedStrategy<Esi> {
    let s = { any::<[u8; 10]>().prop_map(Esi) };
    s.boxed()
}

fn mac() -> BoxedStrategy<MacAddr> {
    let s = { any::<[u8; 6]>().prop_map(MacAddr) };
    s.boxed()
}

pub fn type2() -> BoxedStrategy<MacIpAdvertisement> {
    let s = {
        (
            rd(),
            esi(),
            any::<u32>(),
            mac(),
            prop::option::of(ip()),
            label(),
            prop::option::of(label()),
        )
            .prop_map(|(rd, esi, ethernet_tag, mac, ip, label1, label2)| {
                MacIpAdvertisement {
                    rd,
                    esi,
                    ethernet_tag,
                    mac,
                    ip,
                    label1,
                    label2,
                }
            })
    };
    s.boxed()
}

fn route() -> BoxedStrategy<EvpnRoute> {
    let s = {
        prop_oneof![
            (rd(), esi(), any::<u32>(), label()).prop_map(|(rd, esi, ethernet_tag, label)| {
                EvpnRoute::EthernetAutoDiscovery(EthernetAutoDiscovery {
                    rd,
                    esi,
                    ethernet_tag,
                    label,
                })
            }),
            type2().prop_map(EvpnRoute::MacIpAdvertisement),
            (rd(), any::<u32>(), ip()).prop_map(|(rd, ethernet_tag, originator)| {
                EvpnRoute::InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag {
                    rd,
                    ethernet_tag,
                    originator,
                })
            }),
            (rd(), esi(), ip()).prop_map(|(rd, esi, originator)| EvpnRoute::EthernetSegment(
                EthernetSegment {
                    rd,
                    esi,
                    originator
                }
            )),
            (
                rd(),
                esi(),
                any::<u32>(),
                any::<bool>(),
                any::<[u8; 16]>(),
                any::<[u8; 16]>(),
                any::<u8>(),
                label()
            )
                .prop_map(|(rd, esi, ethernet_tag, v6, p, g, plen, label)| {
                    let (prefix, gateway, prefix_len) = if v6 {
                        (
                            IpAddr::V6(Ipv6Addr::from(p)),
                            IpAddr::V6(Ipv6Addr::from(g)),
                            plen % 129,
                        )
                    } else {
                        let (p4, g4) = ([p[0], p[1], p[2], p[3]], [g[0], g[1], g[2], g[3]]);
                        (IpAddr::V4(p4.into()), IpAddr::V4(g4.into()), plen % 33)
                    };
                    EvpnRoute::IpPrefix(IpPrefixRoute {
                        rd,
                        esi,
                        ethernet_tag,
                        prefix,
                        prefix_len,
                        gateway,
                        label,
                    })
                }),
            (6u8.., vec(any::<u8>(), 0..40)).prop_map(|(route_type, v)| EvpnRoute::Unknown {
                route_type,
                value: Bytes::from(v)
            }),
        ]
    };
    s.boxed()
}

fn nlri(add_path: bool) -> BoxedStrategy<EvpnNlri> {
    let s = {
        (any::<u32>(), route()).prop_map(move |(id, route)| EvpnNlri {
            path_id: add_path.then_some(id),
            route,
        })
    };
    s.boxed()
}

// ------------------------------------------------------- attribute values

fn ext_community() -> BoxedStrategy<ExtendedCommunity> {
    let s = {
        prop_oneof![
            (any::<u16>(), any::<u32>()).prop_map(|(asn, value)| ExtendedCommunity::RouteTarget(
                RouteTarget::As2 { asn, value }
            )),
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, value)| ExtendedCommunity::RouteTarget(
                RouteTarget::Ipv4 {
                    addr: a.into(),
                    value
                }
            )),
            (any::<u32>(), any::<u16>()).prop_map(|(asn, value)| ExtendedCommunity::RouteTarget(
                RouteTarget::As4 { asn, value }
            )),
            any::<u16>().prop_map(|tunnel_type| ExtendedCommunity::Encapsulation { tunnel_type }),
            (any::<bool>(), any::<u32>())
                .prop_map(|(sticky, sequence)| ExtendedCommunity::MacMobility { sticky, sequence }),
            (any::<bool>(), label()).prop_map(|(single_active, label)| {
                ExtendedCommunity::EsiLabel {
                    single_active,
                    label,
                }
            }),
            mac().prop_map(ExtendedCommunity::EsImportRouteTarget),
            mac().prop_map(ExtendedCommunity::RoutersMac),
            Just(ExtendedCommunity::DefaultGateway),
            // Anything else: canonical by construction.
            any::<[u8; 8]>().prop_map(ExtendedCommunity::from_bytes),
        ]
    };
    s.boxed()
}

fn as_path(four_octet: bool) -> BoxedStrategy<AsPath> {
    let s = {
        let asn = if four_octet {
            any::<u32>().boxed()
        } else {
            (0u32..=65535).boxed()
        };
        let kind = prop_oneof![
            Just(AsSegmentType::AsSet),
            Just(AsSegmentType::AsSequence),
            Just(AsSegmentType::ConfedSequence),
            Just(AsSegmentType::ConfedSet),
        ];
        vec(
            (kind, vec(asn, 1..6)).prop_map(|(kind, asns)| AsSegment {
                kind,
                asns: asns.into(),
            }),
            0..4,
        )
        .prop_map(|segments| AsPath {
            segments: segments.into(),
        })
    };
    s.boxed()
}

fn v4_prefix() -> BoxedStrategy<Prefix> {
    let s = {
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            Prefix {
                path_id: None,
                addr: IpAddr::V4(Ipv4Addr::from(a & mask)),
                len,
            }
        })
    };
    s.boxed()
}

fn v6_prefix() -> BoxedStrategy<Prefix> {
    let s = {
        (any::<u128>(), 0u8..=128).prop_map(|(a, len)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            Prefix {
                path_id: None,
                addr: IpAddr::V6(Ipv6Addr::from(a & mask)),
                len,
            }
        })
    };
    s.boxed()
}

fn next_hop() -> BoxedStrategy<MpNextHop> {
    let s = {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|a| MpNextHop::V4(a.into())),
            any::<[u8; 16]>().prop_map(|a| MpNextHop::V6(a.into())),
            (any::<[u8; 16]>(), any::<[u8; 16]>())
                .prop_map(|(g, l)| MpNextHop::V6LinkLocal(g.into(), l.into())),
        ]
    };
    s.boxed()
}

fn mp_reach(add_path: bool) -> BoxedStrategy<AttrValue> {
    let s = {
        prop_oneof![
            (next_hop(), vec(nlri(add_path), 0..8)).prop_map(|(next_hop, n)| {
                AttrValue::MpReachNlri(MpReach {
                    afi: afi::L2VPN,
                    safi: safi::EVPN,
                    next_hop,
                    nlri: MpNlri::Evpn(n),
                })
            }),
            (next_hop(), vec(v6_prefix(), 0..5)).prop_map(|(next_hop, p)| AttrValue::MpReachNlri(
                MpReach {
                    afi: afi::IPV6,
                    safi: safi::UNICAST,
                    next_hop,
                    nlri: MpNlri::Unicast(p),
                }
            )),
            (
                // 4, 16 and 32 octets decode as addresses whatever the family.
                vec(any::<u8>(), 0..20)
                    .prop_filter("not an address length", |v| v.len() != 4 && v.len() != 16),
                vec(any::<u8>(), 0..20)
            )
                .prop_map(|(nh, n)| {
                    AttrValue::MpReachNlri(MpReach {
                        afi: 16388,
                        safi: 128,
                        next_hop: MpNextHop::Other(nh.into()),
                        nlri: MpNlri::Unknown(n.into()),
                    })
                }),
        ]
    };
    s.boxed()
}

fn mp_unreach(add_path: bool) -> BoxedStrategy<AttrValue> {
    let s = {
        vec(nlri(add_path), 0..8).prop_map(|n| {
            AttrValue::MpUnreachNlri(MpUnreach {
                afi: afi::L2VPN,
                safi: safi::EVPN,
                nlri: MpNlri::Evpn(n),
            })
        })
    };
    s.boxed()
}

fn pmsi() -> BoxedStrategy<AttrValue> {
    let s = {
        prop_oneof![
            (any::<u8>(), label(), ip()).prop_map(|(flags, label, ip)| PmsiTunnel {
                flags,
                tunnel_type: PMSI_INGRESS_REPLICATION,
                label,
                tunnel_id: PmsiTunnelId::Ip(ip),
            }),
            (any::<u8>(), 0u8..6, label(), vec(any::<u8>(), 0..20)).prop_map(
                |(flags, tunnel_type, label, id)| {
                    PmsiTunnel {
                        flags,
                        tunnel_type,
                        label,
                        tunnel_id: PmsiTunnelId::Other(id.into()),
                    }
                }
            ),
        ]
        .prop_map(AttrValue::PmsiTunnel)
    };
    s.boxed()
}

/// Every attribute at most once (RFC 7606 discards repeats), ORIGIN and
/// AS_PATH always (mandatory with NLRI), in any order, each with its
/// defined flags and possibly the Extended Length bit.
fn attributes(four_octet: bool, add_path: bool) -> BoxedStrategy<Vec<PathAttribute>> {
    let s = {
        let asn = if four_octet {
            any::<u32>().boxed()
        } else {
            (0u32..=65535).boxed()
        };
        let origin = prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ];
        let required = (origin, as_path(four_octet), any::<[u8; 4]>()).prop_map(|(o, p, nh)| {
            vec![
                AttrValue::Origin(o),
                AttrValue::AsPath(p),
                AttrValue::NextHop(nh.into()),
            ]
        });
        let opt1 = (
            prop::option::of(any::<u32>().prop_map(AttrValue::MultiExitDisc)),
            prop::option::of(any::<u32>().prop_map(AttrValue::LocalPref)),
            prop::option::of(Just(AttrValue::AtomicAggregate)),
            prop::option::of(
                (asn, any::<[u8; 4]>()).prop_map(|(asn, a)| AttrValue::Aggregator {
                    asn,
                    address: a.into(),
                }),
            ),
            prop::option::of(vec(any::<u32>(), 1..10).prop_map(AttrValue::Communities)),
            prop::option::of(any::<[u8; 4]>().prop_map(|a| AttrValue::OriginatorId(a.into()))),
            prop::option::of(
                vec(any::<[u8; 4]>(), 1..5)
                    .prop_map(|v| AttrValue::ClusterList(v.into_iter().map(Into::into).collect())),
            ),
            prop::option::of(mp_reach(add_path)),
        );
        let opt2 = (
            prop::option::of(mp_unreach(add_path)),
            prop::option::of(
                vec(ext_community(), 1..8).prop_map(|c| AttrValue::ExtendedCommunities(c.into())),
            ),
            prop::option::of(as_path(true).prop_map(AttrValue::As4Path)),
            prop::option::of((any::<u32>(), any::<[u8; 4]>()).prop_map(|(asn, a)| {
                AttrValue::As4Aggregator {
                    asn,
                    address: a.into(),
                }
            })),
            prop::option::of(pmsi()),
            prop::option::of(vec(any::<(u32, u32, u32)>(), 1..5).prop_map(|v| {
                AttrValue::LargeCommunities(
                    v.into_iter()
                        .map(|(global_admin, local_data1, local_data2)| LargeCommunity {
                            global_admin,
                            local_data1,
                            local_data2,
                        })
                        .collect(),
                )
            })),
            prop::option::of(
                (40u8.., vec(any::<u8>(), 0..30)).prop_map(|(type_code, v)| AttrValue::Unknown {
                    type_code,
                    value: v.into(),
                }),
            ),
        );
        (
            required,
            opt1,
            opt2,
            vec(any::<bool>(), 16),
            prop::option::of(any::<u8>()),
        )
            .prop_map(|(req, o1, o2, ext, unknown_flags)| {
                let mut v = req;
                v.extend(
                    [o1.0, o1.1, o1.2, o1.3, o1.4, o1.5, o1.6, o1.7]
                        .into_iter()
                        .flatten(),
                );
                v.extend(
                    [o2.0, o2.1, o2.2, o2.3, o2.4, o2.5, o2.6]
                        .into_iter()
                        .flatten(),
                );
                v.into_iter()
                    .zip(ext)
                    .map(|(value, ext)| {
                        let mut flags = value.default_flags();
                        if let (AttrValue::Unknown { .. }, Some(f)) = (&value, unknown_flags) {
                            // Any optional flags combination (the Optional bit
                            // must be set: an unknown well-known one is an error).
                            flags = (f & 0xe0) | 0x80;
                        }
                        if ext {
                            flags |= flags::EXTENDED_LENGTH;
                        }
                        PathAttribute { flags, value }
                    })
                    .collect::<Vec<_>>()
            })
            .prop_shuffle()
    };
    s.boxed()
}

fn update(four_octet: bool, add_path: bool) -> BoxedStrategy<Update> {
    let s = {
        (
            vec(v4_prefix(), 0..10),
            attributes(four_octet, add_path),
            vec(v4_prefix(), 0..10),
        )
            .prop_map(|(withdrawn, attributes, nlri)| Update {
                withdrawn,
                attributes,
                nlri,
            })
    };
    s.boxed()
}

// ----------------------------------------------------------------- OPEN

fn capability() -> BoxedStrategy<Capability> {
    let s = {
        let known = [1u8, 2, 6, 64, 65, 69, 70];
        prop_oneof![
            (any::<u16>(), any::<u8>())
                .prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
            Just(Capability::RouteRefresh),
            Just(Capability::EnhancedRouteRefresh),
            (1u32..).prop_map(Capability::FourOctetAs),
            (
                any::<bool>(),
                any::<bool>(),
                0u16..=0x0fff,
                vec((any::<u16>(), any::<u8>(), any::<bool>()), 0..4)
            )
                .prop_map(|(restarting, notification, restart_time, f)| {
                    Capability::GracefulRestart(GracefulRestart {
                        restarting,
                        notification,
                        restart_time,
                        families: f
                            .into_iter()
                            .map(|(afi, safi, forwarding_preserved)| GracefulRestartFamily {
                                afi,
                                safi,
                                forwarding_preserved,
                            })
                            .collect(),
                    })
                }),
            Just(Capability::ExtendedMessage),
            vec((any::<u16>(), any::<u8>(), 1u8..=3), 1..4).prop_map(|f| Capability::AddPath(
                f.into_iter()
                    .map(|(afi, safi, send_receive)| AddPathFamily {
                        afi,
                        safi,
                        send_receive
                    })
                    .collect()
            )),
            (
                any::<u8>().prop_filter("unknown code", move |c| !known.contains(c)),
                vec(any::<u8>(), 0..20)
            )
                .prop_map(|(code, v)| Capability::Unknown {
                    code,
                    value: v.into()
                }),
        ]
    };
    s.boxed()
}

fn open() -> BoxedStrategy<Open> {
    let s = {
        (
            1u16..,
            any::<u16>().prop_filter("hold 1 and 2 are refused", |h| *h != 1 && *h != 2),
            1u32..,
            // Up to 40 capabilities: beyond 255 octets of parameters RFC 9072 applies.
            vec(capability(), 0..40),
            any::<bool>(),
            vec(
                (
                    any::<u8>().prop_filter("not capabilities", |t| *t != 2),
                    vec(any::<u8>(), 0..10),
                ),
                0..3,
            ),
        )
            .prop_map(
                |(my_as, hold_time, id, capabilities, grouped, other)| Open {
                    version: 4,
                    my_as,
                    hold_time,
                    bgp_id: Ipv4Addr::from(id),
                    // All in one parameter is told apart from one per parameter
                    // only with two capabilities or more.
                    capability_params: if grouped && capabilities.len() >= 2 {
                        CapabilityParams::Single
                    } else {
                        CapabilityParams::PerCapability
                    },
                    capabilities,
                    other_params: other
                        .into_iter()
                        .map(|(t, v)| (t, Bytes::from(v)))
                        .collect(),
                },
            )
    };
    s.boxed()
}

fn message(four_octet: bool, add_path: bool) -> BoxedStrategy<Message> {
    let s = {
        prop_oneof![
            open().prop_map(Message::Open),
            update(four_octet, add_path).prop_map(Message::Update),
            (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..100)).prop_map(|(code, subcode, d)| {
                Message::Notification(Notification {
                    code,
                    subcode,
                    data: d.into(),
                })
            }),
            Just(Message::Keepalive),
            (any::<u16>(), 0u8..=2, any::<u8>()).prop_map(|(afi, subtype, safi)| {
                Message::RouteRefresh(RouteRefresh { afi, subtype, safi })
            }),
        ]
    };
    s.boxed()
}

fn session() -> BoxedStrategy<SessionParams> {
    let s = {
        (any::<bool>(), any::<bool>()).prop_map(|(four_octet_as, add_path)| SessionParams {
            four_octet_as,
            max_message_len: MAX_EXTENDED_MESSAGE_LEN,
            add_path_evpn_rx: add_path,
            add_path_evpn_tx: add_path,
        })
    };
    s.boxed()
}

fn session_and_message() -> BoxedStrategy<(SessionParams, Message)> {
    let s =
        { session().prop_flat_map(|p| (Just(p), message(p.four_octet_as, p.add_path_evpn_rx))) };
    s.boxed()
}

/// The encoder sets Extended Length on a value over 255 octets (it never
/// truncates a length): the expected decode has the flag too.
fn with_needed_extended_length(m: Message, params: &SessionParams) -> Message {
    let Message::Update(mut u) = m else { return m };
    for a in &mut u.attributes {
        let mut v = BytesMut::new();
        a.value.emit_value(params, &mut v).expect("encodes");
        if v.len() > 255 {
            a.flags |= flags::EXTENDED_LENGTH;
        }
    }
    Message::Update(u)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_identity((params, m) in session_and_message()) {
        let mut out = BytesMut::new();
        encode_message(&m, &params, &mut out).expect("encodes");
        prop_assert_eq!(frame(&out, params.max_message_len), Ok(Some(out.len())));
        let (back, discarded) = decode_message_with_diagnostics(&out, &params).expect("decodes");
        prop_assert!(discarded.is_empty(), "{:?}", discarded);
        prop_assert_eq!(back, with_needed_extended_length(m, &params));
    }

    #[test]
    fn evpn_nlri_round_trip_alone(n in vec(nlri(false), 0..20)) {
        let mut out = BytesMut::new();
        for r in &n {
            r.emit(false, &mut out).expect("encodes");
        }
        prop_assert_eq!(decode_evpn_nlri(&out, false), Ok(n));
    }

    #[test]
    fn packed_reach_and_unreach_carry_every_route(
        routes in vec(nlri(false), 0..300),
        nh in next_hop(),
        max in prop_oneof![Just(MAX_MESSAGE_LEN), Just(MAX_EXTENDED_MESSAGE_LEN)],
    ) {
        let params = SessionParams { max_message_len: max, ..SessionParams::default() };
        let attrs = [
            PathAttribute::from(AttrValue::Origin(Origin::Igp)),
            PathAttribute::from(AttrValue::AsPath(AsPath::default())),
        ];
        for (msgs, reach) in [
            (encode_evpn_reach(&attrs, &nh, &routes, &params).expect("packs"), true),
            (encode_evpn_unreach(&routes, &params).expect("packs"), false),
        ] {
            let mut back = Vec::new();
            for m in &msgs {
                prop_assert!(m.len() <= max);
                let Ok(Message::Update(u)) = decode_message(m, &params) else {
                    return Err(TestCaseError::fail("not an UPDATE"));
                };
                let nlri = match (&u.attributes[0].value, reach) {
                    (AttrValue::MpReachNlri(r), true) => &r.nlri,
                    (AttrValue::MpUnreachNlri(r), false) => &r.nlri,
                    _ => return Err(TestCaseError::fail("MP attribute first")),
                };
                let MpNlri::Evpn(v) = nlri else { return Err(TestCaseError::fail("EVPN")) };
                prop_assert!(!v.is_empty());
                back.extend(v.iter().cloned());
            }
            prop_assert_eq!(&back, &routes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..200), add_path in any::<bool>()) {
        let params = SessionParams { add_path_evpn_rx: add_path, ..SessionParams::default() };
        let _ = frame(&b, MAX_MESSAGE_LEN);
        let _ = decode_message(&b, &params);
        let _ = decode_path_attributes(&b, &params);
        let _ = decode_evpn_nlri(&b, add_path);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        (params, m) in session_and_message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut out = BytesMut::new();
        encode_message(&m, &params, &mut out).expect("encodes");
        for (i, x) in flips {
            // Keep the header intact so that the body parsers are exercised.
            let at = 19 + i.index(out.len().saturating_sub(19).max(1));
            if let Some(b) = out.get_mut(at) {
                *b ^= x;
            }
        }
        let _ = decode_message(&out, &params);
    }
}

/// A capability too long for its own 1-octet parameter length re-encodes
/// with RFC 9072 extended parameters; so does a long capability list.
#[test]
fn open_with_long_capabilities_uses_rfc9072_and_round_trips() {
    let params = SessionParams::default();
    for caps in [
        vec![Capability::Unknown {
            code: 200,
            value: Bytes::from(vec![7u8; 254]),
        }],
        vec![Capability::RouteRefresh; 100],
    ] {
        let o = Message::Open(Open {
            version: 4,
            my_as: 65000,
            hold_time: 90,
            bgp_id: Ipv4Addr::new(10, 0, 0, 1),
            capabilities: caps,
            capability_params: CapabilityParams::PerCapability,
            other_params: vec![],
        });
        let mut out = BytesMut::new();
        encode_message(&o, &params, &mut out).expect("encodes");
        // Non-Ext OP Len and Non-Ext OP Type both 255.
        assert_eq!((out[28], out[29]), (255, 255));
        assert_eq!(decode_message(&out, &params), Ok(o));
    }
}

/// All capabilities in one parameter encode as one parameter: with a
/// 1-octet length while it fits (100 route refresh: 200 octets), with RFC
/// 9072 2-octet lengths beyond (150: 300 octets); both round-trip.
#[test]
fn open_with_capabilities_in_one_parameter_encodes_one_parameter() {
    let params = SessionParams::default();
    for (n, head) in [
        // Opt Parm Len 202, type 2, length 200.
        (100, vec![202, 2, 200]),
        // Non-Ext OP Len 255, Non-Ext OP Type 255, length 303, type 2, length 300.
        (150, vec![255, 255, 1, 47, 2, 1, 44]),
    ] {
        let o = Message::Open(Open {
            version: 4,
            my_as: 65000,
            hold_time: 90,
            bgp_id: Ipv4Addr::new(10, 0, 0, 1),
            capabilities: vec![Capability::RouteRefresh; n],
            capability_params: CapabilityParams::Single,
            other_params: vec![],
        });
        let mut out = BytesMut::new();
        encode_message(&o, &params, &mut out).expect("encodes");
        // Header 19, then version, My AS, hold time, BGP identifier: 28.
        assert_eq!(&out[28..28 + head.len()], &head[..], "{n}");
        assert_eq!(out.len(), 28 + head.len() + 2 * n, "{n}");
        assert_eq!(decode_message(&out, &params), Ok(o), "{n}");
    }
}

/// Capabilities spread over parameters in neither plane's grouping (two
/// in one parameter, one in another) decode to one per parameter: the same
/// value again after re-encoding, in FRR's layout.
#[test]
fn open_with_mixed_capability_grouping_round_trips_by_value() {
    let params = SessionParams::default();
    // Parameters: [2: route refresh, enhanced route refresh] [2: extended message].
    let body = [
        4, 0xfd, 0xe8, 0, 90, 10, 0, 0, 1, 10, 2, 4, 2, 0, 70, 0, 2, 2, 6, 0,
    ];
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&u16::try_from(19 + body.len()).expect("short").to_be_bytes());
    msg.push(1);
    msg.extend_from_slice(&body);
    let m = decode_message(&msg, &params).expect("decodes");
    let Message::Open(o) = &m else {
        panic!("OPEN expected")
    };
    assert_eq!(o.capability_params, CapabilityParams::PerCapability);
    assert_eq!(
        o.capabilities,
        [
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::ExtendedMessage
        ]
    );
    let mut out = BytesMut::new();
    encode_message(&m, &params, &mut out).expect("encodes");
    assert_ne!(&out[..], &msg[..]);
    // One parameter per capability: 3 x (type, length, code, length).
    assert_eq!(&out[28..], &[12, 2, 2, 2, 0, 2, 2, 70, 0, 2, 2, 6, 0]);
    assert_eq!(decode_message(&out, &params), Ok(m));
}
