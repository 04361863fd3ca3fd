//! Parse and emit of path attributes, with the RFC 7606 classification of
//! every error (attribute discard, treat-as-withdraw, session reset).
//!
//! What it never does: decide what to do with the routes (the caller gets
//! the routes to withdraw), or check semantics that need session context
//! beyond [`SessionParams`] (first AS on eBGP, martian next hops: the RIB's
//! job). Invariant: a decoded attribute re-emits to the same octets, flags
//! included, except that the MP_REACH_NLRI reserved octet is emitted as 0
//! (RFC 4760 section 3: ignored on receipt) and a 1-octet length that a peer
//! sent with the Extended Length bit set stays 2 octets (the flag is kept).

use super::attr::*;
use super::community::ExtendedCommunity;
use super::error::{update_subcode as sub, AttrFault, AttributeError, EncodeError, ErrorAction};
use super::evpn_codec::{decode_evpn_nlri_into, evpn_capacity};
use super::message::AS_TRANS;
use super::reader::Reader;
use super::SessionParams;
use bytes::{BufMut, Bytes, BytesMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The result of decoding the Path Attributes field of an UPDATE when no
/// error calls for a session reset.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DecodedAttributes {
    /// The attributes that parsed, in received order (discarded ones left out).
    pub attributes: Vec<PathAttribute>,
    /// Attribute-discard errors (RFC 7606 section 2), for the log.
    pub discarded: Vec<AttributeError>,
    /// The first treat-as-withdraw error, if any: the UPDATE's routes must
    /// then be withdrawn rather than installed.
    pub withdraw: Option<AttributeError>,
}

/// What a failed attribute value parse reports before the caller adds the
/// type code and the raw octets.
struct Fault {
    fault: AttrFault,
    action: ErrorAction,
    subcode: u8,
}

fn fault(fault: AttrFault, action: ErrorAction, subcode: u8) -> Fault {
    Fault {
        fault,
        action,
        subcode,
    }
}

fn len_fault(expected: &'static str, got: usize, action: ErrorAction) -> Fault {
    fault(
        AttrFault::Length { expected, got },
        action,
        sub::ATTRIBUTE_LENGTH_ERROR,
    )
}

/// Decodes the Path Attributes field of an UPDATE (RFC 4271 section 4.3).
///
/// `Err` is an error RFC 7606 answers with a session reset; every other
/// error is in the returned value.
pub fn decode_path_attributes(
    buf: &[u8],
    params: &SessionParams,
) -> Result<DecodedAttributes, AttributeError> {
    let mut out = DecodedAttributes {
        attributes: Vec::with_capacity(8),
        discarded: Vec::new(),
        withdraw: None,
    };
    decode_path_attributes_into(buf, params, &mut out, &mut 0)?;
    Ok(out)
}

/// [`decode_path_attributes`] into the caller's (empty) value, so that the
/// UPDATE decoder moves nothing large through a return value. `present`
/// gets one bit per type code below 128 of each attribute in
/// `out.attributes` (parsed and kept), so that the UPDATE decoder checks
/// the mandatory attributes without another pass.
pub(crate) fn decode_path_attributes_into(
    buf: &[u8],
    params: &SessionParams,
    out: &mut DecodedAttributes,
    present: &mut u128,
) -> Result<(), AttributeError> {
    // Type codes seen so far (one bit each), to find repeated attributes
    // (RFC 7606 section 3 (g)).
    let (mut seen_low, mut seen_high) = (0u128, 0u128);
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let start = r.rest();
        let header = (|| {
            let flags = r.u8()?;
            let type_code = r.u8()?;
            let len = if flags & flags::EXTENDED_LENGTH != 0 {
                usize::from(r.u16()?)
            } else {
                usize::from(r.u8()?)
            };
            Some((flags, type_code, len))
        })();
        let Some((flags, type_code, len)) = header else {
            // RFC 7606 section 4, second case: fewer octets than an attribute
            // header. The NLRI field is still located by the Total Path
            // Attribute Length, so treat-as-withdraw.
            list_overrun(out, "attribute header", 3, start.len());
            break;
        };
        let hdr_len = start.len() - r.remaining();
        let Some(value) = r.take(len) else {
            // RFC 7606 section 4, first case: the attribute overruns the field.
            let available = r.remaining();
            list_overrun(out, "attribute value", len, available);
            break;
        };
        let raw = &start[..hdr_len + len];
        let bit = 1u128 << (type_code & 0x7f);
        let word = if type_code < 0x80 {
            &mut seen_low
        } else {
            &mut seen_high
        };
        let seen_before = *word & bit != 0;
        *word |= bit;
        if seen_before {
            if matches!(
                type_code,
                type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI
            ) {
                // RFC 7606 section 3 (g): a repeated MP_REACH_NLRI or
                // MP_UNREACH_NLRI leaves the NLRI ambiguous: session reset
                // with Malformed Attribute List.
                return Err(attr_error(
                    type_code,
                    raw,
                    fault(
                        AttrFault::Duplicate,
                        ErrorAction::SessionReset,
                        sub::MALFORMED_ATTRIBUTE_LIST,
                    ),
                ));
            }
            // RFC 7606 section 3 (g): all but the first occurrence are discarded.
            out.discarded.push(attr_error(
                type_code,
                raw,
                fault(
                    AttrFault::Duplicate,
                    ErrorAction::AttributeDiscard,
                    sub::MALFORMED_ATTRIBUTE_LIST,
                ),
            ));
            continue;
        }

        // RFC 7606 section 3 (c): Optional/Transitive bits that conflict with
        // the attribute's definition make it malformed: treat-as-withdraw.
        // The value is still parsed, so that MP_REACH / MP_UNREACH still
        // yield the routes to withdraw.
        if let Some(expected) = known_flags(type_code) {
            if flags & (flags::OPTIONAL | flags::TRANSITIVE) != expected {
                let e = attr_error(
                    type_code,
                    raw,
                    fault(
                        AttrFault::Flags { flags },
                        ErrorAction::TreatAsWithdraw,
                        sub::ATTRIBUTE_FLAGS_ERROR,
                    ),
                );
                out.withdraw.get_or_insert(e);
            }
        } else if flags & flags::OPTIONAL == 0 {
            // RFC 4271 section 6.3: an unrecognized well-known attribute.
            // RFC 7606 does not revise this case: session reset.
            return Err(attr_error(
                type_code,
                raw,
                fault(
                    AttrFault::UnrecognizedWellKnown,
                    ErrorAction::SessionReset,
                    sub::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                ),
            ));
        }

        match decode_value(type_code, flags, value, params, &mut out.attributes) {
            Ok(()) => {
                if type_code < 0x80 {
                    *present |= bit;
                }
            }
            Err(f) => {
                let e = attr_error(type_code, raw, f);
                match e.action {
                    ErrorAction::SessionReset => return Err(e),
                    ErrorAction::TreatAsWithdraw => {
                        out.withdraw.get_or_insert(e);
                    }
                    ErrorAction::AttributeDiscard => out.discarded.push(e),
                }
            }
        }
    }
    Ok(())
}

fn list_overrun(out: &mut DecodedAttributes, what: &'static str, needed: usize, available: usize) {
    let e = AttributeError {
        type_code: None,
        action: ErrorAction::TreatAsWithdraw,
        subcode: sub::MALFORMED_ATTRIBUTE_LIST,
        data: Bytes::new(),
        fault: AttrFault::Overrun {
            what,
            needed,
            available,
        },
    };
    out.withdraw.get_or_insert(e);
}

fn attr_error(type_code: u8, raw: &[u8], f: Fault) -> AttributeError {
    // RFC 4271 section 6.3: the data of flags, length and most value errors
    // is the attribute itself. Only copied on the error path.
    let data = match f.action {
        ErrorAction::SessionReset => Bytes::copy_from_slice(raw),
        _ => Bytes::new(),
    };
    AttributeError {
        type_code: Some(type_code),
        action: f.action,
        subcode: f.subcode,
        data,
        fault: f.fault,
    }
}

/// The Optional and Transitive bits a known attribute must carry.
fn known_flags(t: u8) -> Option<u8> {
    use type_code::*;
    const O: u8 = flags::OPTIONAL;
    const T: u8 = flags::TRANSITIVE;
    Some(match t {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => T,
        MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => O,
        AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR
        | PMSI_TUNNEL | LARGE_COMMUNITY => O | T,
        _ => return None,
    })
}

fn u32_of(value: &[u8], what: &'static str, action: ErrorAction) -> Result<u32, Fault> {
    <[u8; 4]>::try_from(value)
        .map(u32::from_be_bytes)
        .map_err(|_| len_fault(what, value.len(), action))
}

/// Splits a value into fixed-size items; the length must be a non-zero
/// multiple of `N`.
fn items<T, const N: usize>(
    value: &[u8],
    expected: &'static str,
    action: ErrorAction,
    f: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>, Fault> {
    if value.is_empty() || value.len() % N != 0 {
        return Err(len_fault(expected, value.len(), action));
    }
    let mut out = Vec::with_capacity(value.len() / N);
    for c in value.chunks_exact(N) {
        if let Ok(a) = <[u8; N]>::try_from(c) {
            out.push(f(a));
        }
    }
    Ok(out)
}

/// Appends the attribute `make` builds, written straight into the vector.
///
/// Why not `out.push(value)`: a 96-octet value built on the stack (or merged
/// from several `match` arms) is copied with 16-octet loads of octets just
/// written with narrower stores, and each such load stalls on store
/// forwarding: that cost more than parsing an EVPN UPDATE's attributes
/// (`perf annotate`, docs/BENCHMARKS.md). `extend` of a `TrustedLen`
/// iterator reserves first and builds the value where it lands. Each call
/// site builds a single variant, so that nothing is merged.
#[inline(always)]
fn push_with(out: &mut Vec<PathAttribute>, make: impl FnOnce() -> PathAttribute) {
    out.extend(std::iter::once_with(make));
}

/// Decodes one attribute value and appends it to `out` (built in place:
/// no intermediate `Result` holding the value).
fn decode_value(
    t: u8,
    flags: u8,
    value: &[u8],
    params: &SessionParams,
    out: &mut Vec<PathAttribute>,
) -> Result<(), Fault> {
    use type_code::*;
    use ErrorAction::*;
    // The attributes of an EVPN UPDATE each push their own variant (see
    // `push_with`); the rarer ones share the push at the end.
    let v = match t {
        // RFC 7606 section 7.1: wrong length or undefined value: treat-as-withdraw.
        ORIGIN => {
            let origin = match value {
                [0] => Origin::Igp,
                [1] => Origin::Egp,
                [2] => Origin::Incomplete,
                [v] => {
                    return Err(fault(
                        AttrFault::Value {
                            what: "ORIGIN",
                            value: u32::from(*v),
                        },
                        TreatAsWithdraw,
                        sub::INVALID_ORIGIN_ATTRIBUTE,
                    ))
                }
                _ => return Err(len_fault("1", value.len(), TreatAsWithdraw)),
            };
            push_with(out, || PathAttribute {
                flags,
                value: AttrValue::Origin(origin),
            });
            return Ok(());
        }
        // RFC 7606 section 7.2: a malformed AS_PATH: treat-as-withdraw.
        // RFC 6793 section 6: a malformed AS4_PATH is discarded.
        AS_PATH | AS4_PATH => {
            let (four_octet, action) = if t == AS_PATH {
                push_with(out, || PathAttribute {
                    flags,
                    value: AttrValue::AsPath(AsPath::default()),
                });
                (params.four_octet_as, TreatAsWithdraw)
            } else {
                push_with(out, || PathAttribute {
                    flags,
                    value: AttrValue::As4Path(AsPath::default()),
                });
                (true, AttributeDiscard)
            };
            // Built in place: the segments are inline in the value, and
            // moving a whole attribute costs more than parsing it.
            let parsed = match out.last_mut() {
                Some(PathAttribute {
                    value: AttrValue::AsPath(p) | AttrValue::As4Path(p),
                    ..
                }) => decode_as_path(value, four_octet, p),
                _ => Ok(()),
            };
            return parsed.map_err(|m| {
                out.pop();
                fault(AttrFault::Malformed(m), action, sub::MALFORMED_AS_PATH)
            });
        }
        // RFC 7606 section 7.3: NEXT_HOP length other than 4: treat-as-withdraw.
        NEXT_HOP => match <[u8; 4]>::try_from(value) {
            Ok(a) => AttrValue::NextHop(Ipv4Addr::from(a)),
            Err(_) => return Err(len_fault("4", value.len(), TreatAsWithdraw)),
        },
        // RFC 7606 section 7.4.
        MULTI_EXIT_DISC => {
            let med = u32_of(value, "4", TreatAsWithdraw)?;
            push_with(out, || PathAttribute {
                flags,
                value: AttrValue::MultiExitDisc(med),
            });
            return Ok(());
        }
        // RFC 7606 section 7.5 (from an external peer the attribute is
        // discarded whatever its content: that is the RIB's check).
        LOCAL_PREF => {
            let pref = u32_of(value, "4", TreatAsWithdraw)?;
            push_with(out, || PathAttribute {
                flags,
                value: AttrValue::LocalPref(pref),
            });
            return Ok(());
        }
        // RFC 7606 section 7.6: ATOMIC_AGGREGATE length other than 0: discard.
        ATOMIC_AGGREGATE => {
            if !value.is_empty() {
                return Err(len_fault("0", value.len(), AttributeDiscard));
            }
            AttrValue::AtomicAggregate
        }
        // RFC 7606 section 7.7: AGGREGATOR of the wrong length: discard.
        AGGREGATOR => {
            let (asn, addr) = match (params.four_octet_as, value) {
                (true, &[a, b, c, d, e, f, g, h]) => {
                    (u32::from_be_bytes([a, b, c, d]), [e, f, g, h])
                }
                (false, &[a, b, e, f, g, h]) => {
                    (u32::from(u16::from_be_bytes([a, b])), [e, f, g, h])
                }
                (true, _) => return Err(len_fault("8", value.len(), AttributeDiscard)),
                (false, _) => return Err(len_fault("6", value.len(), AttributeDiscard)),
            };
            AttrValue::Aggregator {
                asn,
                address: Ipv4Addr::from(addr),
            }
        }
        // RFC 6793 section 6: a malformed AS4_AGGREGATOR is discarded.
        AS4_AGGREGATOR => match value {
            &[a, b, c, d, e, f, g, h] => AttrValue::As4Aggregator {
                asn: u32::from_be_bytes([a, b, c, d]),
                address: Ipv4Addr::new(e, f, g, h),
            },
            _ => return Err(len_fault("8", value.len(), AttributeDiscard)),
        },
        // RFC 7606 section 7.8: length not a non-zero multiple of 4: treat-as-withdraw.
        COMMUNITIES => AttrValue::Communities(items(
            value,
            "a non-zero multiple of 4",
            TreatAsWithdraw,
            u32::from_be_bytes,
        )?),
        // RFC 7606 section 7.9.
        ORIGINATOR_ID => {
            AttrValue::OriginatorId(Ipv4Addr::from(u32_of(value, "4", TreatAsWithdraw)?))
        }
        // RFC 7606 section 7.10.
        CLUSTER_LIST => AttrValue::ClusterList(items(
            value,
            "a non-zero multiple of 4",
            TreatAsWithdraw,
            Ipv4Addr::from,
        )?),
        // RFC 7606 section 7.11 and 7.12: when MP_REACH_NLRI / MP_UNREACH_NLRI
        // is malformed the NLRI cannot be located: session reset (RFC 4760
        // section 7: Optional Attribute Error).
        MP_REACH_NLRI => return decode_mp_reach(flags, value, params, out),
        MP_UNREACH_NLRI => return decode_mp_unreach(flags, value, params, out),
        // RFC 7606 section 7.14: not a non-zero multiple of 8: treat-as-withdraw.
        EXTENDED_COMMUNITIES => {
            if value.is_empty() || value.len() % 8 != 0 {
                let n = value.len();
                return Err(len_fault("a non-zero multiple of 8", n, TreatAsWithdraw));
            }
            // Built in place, as AS_PATH.
            push_with(out, || PathAttribute {
                flags,
                value: AttrValue::ExtendedCommunities(ExtCommunities::new()),
            });
            if let Some(PathAttribute {
                value: AttrValue::ExtendedCommunities(list),
                ..
            }) = out.last_mut()
            {
                list.reserve_exact(value.len() / 8);
                for c in value.chunks_exact(8) {
                    if let Ok(a) = <[u8; 8]>::try_from(c) {
                        ExtendedCommunity::decode_with(a, |c| list.push(c));
                    }
                }
            }
            return Ok(());
        }
        // RFC 8092 section 6: not a non-zero multiple of 12: treat-as-withdraw.
        LARGE_COMMUNITY => AttrValue::LargeCommunities(items(
            value,
            "a non-zero multiple of 12",
            TreatAsWithdraw,
            |[a, b, c, d, e, f, g, h, i, j, k, l]| LargeCommunity {
                global_admin: u32::from_be_bytes([a, b, c, d]),
                local_data1: u32::from_be_bytes([e, f, g, h]),
                local_data2: u32::from_be_bytes([i, j, k, l]),
            },
        )?),
        // RFC 6514 and RFC 7432 give no error handling for PMSI_TUNNEL; RFC
        // 7606 section 2 makes treat-as-withdraw the default for attributes
        // that affect route selection or forwarding, which this one does
        // (it carries the flood list of a type-3 route).
        PMSI_TUNNEL => AttrValue::PmsiTunnel(decode_pmsi(value)?),
        _ => AttrValue::Unknown {
            type_code: t,
            value: Bytes::copy_from_slice(value),
        },
    };
    out.push(PathAttribute { flags, value: v });
    Ok(())
}

/// AS_PATH segments (RFC 4271 section 4.3, RFC 6793), appended to `path`:
/// a segment is malformed when its type is unknown, its length is 0 or it
/// overruns.
fn decode_as_path(value: &[u8], four_octet: bool, path: &mut AsPath) -> Result<(), &'static str> {
    let width = if four_octet { 4 } else { 2 };
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let (Some(kind), Some(count)) = (r.u8(), r.u8()) else {
            return Err("segment header truncated");
        };
        let kind = match kind {
            1 => AsSegmentType::AsSet,
            2 => AsSegmentType::AsSequence,
            3 => AsSegmentType::ConfedSequence,
            4 => AsSegmentType::ConfedSet,
            _ => return Err("unknown segment type"),
        };
        if count == 0 {
            return Err("segment of length 0");
        }
        let body = r
            .take(usize::from(count) * width)
            .ok_or("segment overruns the attribute")?;
        path.segments.push(AsSegment {
            kind,
            asns: Asns::new(),
        });
        let Some(AsSegment { asns, .. }) = path.segments.last_mut() else {
            continue;
        };
        asns.reserve_exact(usize::from(count));
        if four_octet {
            for c in body.chunks_exact(4) {
                if let Ok(a) = <[u8; 4]>::try_from(c) {
                    asns.push(u32::from_be_bytes(a));
                }
            }
        } else {
            for c in body.chunks_exact(2) {
                if let Ok(a) = <[u8; 2]>::try_from(c) {
                    asns.push(u32::from(u16::from_be_bytes(a)));
                }
            }
        }
    }
    Ok(())
}

fn mp_fault(fault: AttrFault) -> Fault {
    Fault {
        fault,
        action: ErrorAction::SessionReset,
        subcode: sub::OPTIONAL_ATTRIBUTE_ERROR,
    }
}

fn is_known_family(afi: u16, safi: u8) -> bool {
    matches!(
        (afi, safi),
        (afi::L2VPN, safi::EVPN) | (afi::IPV4, safi::UNICAST) | (afi::IPV6, safi::UNICAST)
    )
}

/// MP_REACH_NLRI, appended to `out`. The attribute is pushed before its
/// NLRI are read, and EVPN NLRI are decoded into its vector: neither the
/// attribute nor the route vector moves through a return value.
fn decode_mp_reach(
    flags: u8,
    value: &[u8],
    params: &SessionParams,
    out: &mut Vec<PathAttribute>,
) -> Result<(), Fault> {
    let mut r = Reader::new(value);
    let (Some(afi), Some(safi), Some(nh_len)) = (r.u16(), r.u8(), r.u8()) else {
        return Err(mp_fault(AttrFault::Length {
            expected: "at least 5",
            got: value.len(),
        }));
    };
    let nh = r.take(usize::from(nh_len)).ok_or_else(|| {
        mp_fault(AttrFault::Overrun {
            what: "next hop",
            needed: usize::from(nh_len),
            available: value.len().saturating_sub(4),
        })
    })?;
    let next_hop = match nh.len() {
        4 => <[u8; 4]>::try_from(nh)
            .map(|a| MpNextHop::V4(a.into()))
            .ok(),
        16 => <[u8; 16]>::try_from(nh)
            .map(|a| MpNextHop::V6(a.into()))
            .ok(),
        32 => {
            let (g, l) = nh.split_at(16);
            match (<[u8; 16]>::try_from(g), <[u8; 16]>::try_from(l)) {
                (Ok(g), Ok(l)) => Some(MpNextHop::V6LinkLocal(g.into(), l.into())),
                _ => None,
            }
        }
        _ => None,
    };
    let next_hop = match next_hop {
        Some(nh) => nh,
        // RFC 7606 section 7.11: a next hop length inconsistent with the
        // family leaves the NLRI unlocatable: session reset.
        None if is_known_family(afi, safi) => {
            return Err(mp_fault(AttrFault::Value {
                what: "MP_REACH_NLRI next hop length",
                value: u32::from(nh_len),
            }))
        }
        None => MpNextHop::Other(Bytes::copy_from_slice(nh)),
    };
    // RFC 4760 section 3: one reserved octet, ignored on receipt.
    if r.u8().is_none() {
        return Err(mp_fault(AttrFault::Overrun {
            what: "reserved octet",
            needed: 1,
            available: 0,
        }));
    }
    let nlri = r.rest();
    if (afi, safi) != (afi::L2VPN, safi::EVPN) {
        let nlri = decode_mp_nlri(afi, safi, nlri)?;
        let value = AttrValue::MpReachNlri(MpReach {
            afi,
            safi,
            next_hop,
            nlri,
        });
        out.push(PathAttribute { flags, value });
        return Ok(());
    }
    push_with(out, || PathAttribute {
        flags,
        value: AttrValue::MpReachNlri(MpReach {
            afi,
            safi,
            next_hop,
            nlri: MpNlri::Evpn(Vec::with_capacity(evpn_capacity(nlri.len()))),
        }),
    });
    decode_evpn_into_last(out, nlri, params)
}

/// MP_UNREACH_NLRI, appended to `out`; EVPN NLRI built in place as in
/// [`decode_mp_reach`].
fn decode_mp_unreach(
    flags: u8,
    value: &[u8],
    params: &SessionParams,
    out: &mut Vec<PathAttribute>,
) -> Result<(), Fault> {
    let mut r = Reader::new(value);
    let (Some(afi), Some(safi)) = (r.u16(), r.u8()) else {
        return Err(mp_fault(AttrFault::Length {
            expected: "at least 3",
            got: value.len(),
        }));
    };
    let nlri = r.rest();
    if (afi, safi) != (afi::L2VPN, safi::EVPN) {
        let nlri = decode_mp_nlri(afi, safi, nlri)?;
        let value = AttrValue::MpUnreachNlri(MpUnreach { afi, safi, nlri });
        out.push(PathAttribute { flags, value });
        return Ok(());
    }
    push_with(out, || PathAttribute {
        flags,
        value: AttrValue::MpUnreachNlri(MpUnreach {
            afi,
            safi,
            nlri: MpNlri::Evpn(Vec::with_capacity(evpn_capacity(nlri.len()))),
        }),
    });
    decode_evpn_into_last(out, nlri, params)
}

/// Decodes EVPN `nlri` into the route vector of the MP_REACH_NLRI or
/// MP_UNREACH_NLRI attribute just pushed on `out` (built in place: no copy
/// of the routes); on error the attribute is popped again.
fn decode_evpn_into_last(
    out: &mut Vec<PathAttribute>,
    nlri: &[u8],
    params: &SessionParams,
) -> Result<(), Fault> {
    let parsed = match out.last_mut().map(|a| &mut a.value) {
        Some(
            AttrValue::MpReachNlri(MpReach {
                nlri: MpNlri::Evpn(routes),
                ..
            })
            | AttrValue::MpUnreachNlri(MpUnreach {
                nlri: MpNlri::Evpn(routes),
                ..
            }),
        ) => decode_evpn_nlri_into(nlri, params.add_path_evpn_rx, routes),
        _ => Ok(()),
    };
    parsed.map_err(|e| {
        out.pop();
        mp_fault(AttrFault::Evpn(e))
    })
}

/// The NLRI of a family other than EVPN. RFC 7606 section 5.3:
/// syntactically incorrect NLRI: session reset.
fn decode_mp_nlri(afi: u16, safi: u8, nlri: &[u8]) -> Result<MpNlri, Fault> {
    match (afi, safi) {
        (afi::IPV4, safi::UNICAST) | (afi::IPV6, safi::UNICAST) => {
            decode_prefixes(nlri, afi == afi::IPV6)
                .map(MpNlri::Unicast)
                .map_err(|m| mp_fault(AttrFault::Malformed(m)))
        }
        _ => Ok(MpNlri::Unknown(Bytes::copy_from_slice(nlri))),
    }
}

/// Decodes IPv4 or IPv6 prefixes in NLRI encoding (RFC 4271 section 4.3).
/// Octets past the prefix length in the last octet are kept as sent.
pub(crate) fn decode_prefixes(buf: &[u8], v6: bool) -> Result<Vec<Prefix>, &'static str> {
    let max = if v6 { 128 } else { 32 };
    let mut out = Vec::with_capacity((buf.len() / 4).min(256));
    let mut r = Reader::new(buf);
    while let Some(len) = r.u8() {
        if len > max {
            return Err("prefix length beyond the address family");
        }
        let n = usize::from(len).div_ceil(8);
        let b = r.take(n).ok_or("prefix overruns the field")?;
        let addr = if v6 {
            let mut a = [0u8; 16];
            a[..n].copy_from_slice(b);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            let mut a = [0u8; 4];
            a[..n].copy_from_slice(b);
            IpAddr::V4(Ipv4Addr::from(a))
        };
        out.push(Prefix {
            path_id: None,
            addr,
            len,
        });
    }
    Ok(out)
}

fn decode_pmsi(value: &[u8]) -> Result<PmsiTunnel, Fault> {
    let mut r = Reader::new(value);
    let (Some(flags), Some(tunnel_type), Some(label)) = (r.u8(), r.u8(), r.u24()) else {
        return Err(len_fault(
            "at least 5",
            value.len(),
            ErrorAction::TreatAsWithdraw,
        ));
    };
    let id = r.rest();
    let tunnel_id = match (tunnel_type, id.len()) {
        (PMSI_INGRESS_REPLICATION, 4) => <[u8; 4]>::try_from(id)
            .map(|a| PmsiTunnelId::Ip(IpAddr::from(a)))
            .unwrap_or_else(|_| PmsiTunnelId::Other(Bytes::copy_from_slice(id))),
        (PMSI_INGRESS_REPLICATION, 16) => <[u8; 16]>::try_from(id)
            .map(|a| PmsiTunnelId::Ip(IpAddr::from(a)))
            .unwrap_or_else(|_| PmsiTunnelId::Other(Bytes::copy_from_slice(id))),
        _ => PmsiTunnelId::Other(Bytes::copy_from_slice(id)),
    };
    Ok(PmsiTunnel {
        flags,
        tunnel_type,
        label,
        tunnel_id,
    })
}

// ---------------------------------------------------------------- emit

impl PathAttribute {
    /// Appends the attribute: flags, type, length and value. The length is
    /// 2 octets when the Extended Length flag is set, or when the value
    /// needs it (the flag is then set on the wire); a value over 65535
    /// octets is an error, never truncated.
    pub fn emit(&self, params: &SessionParams, out: &mut BytesMut) -> Result<(), EncodeError> {
        let t = self.value.type_code();
        let start = out.len();
        let ext = self.flags & flags::EXTENDED_LENGTH != 0;
        out.put_u8(self.flags);
        out.put_u8(t);
        out.put_u8(0);
        if ext {
            out.put_u8(0);
        }
        let value_start = out.len();
        self.value.emit_value(params, out)?;
        let len = out.len() - value_start;
        if ext {
            let l = u16::try_from(len)
                .map_err(|_| EncodeError::AttributeTooLong { type_code: t, len })?;
            out[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
        } else if let Ok(l) = u8::try_from(len) {
            out[start + 2] = l;
        } else {
            let l = u16::try_from(len)
                .map_err(|_| EncodeError::AttributeTooLong { type_code: t, len })?;
            // Grow the length field to 2 octets: shift the value by one.
            out.put_u8(0);
            out.copy_within(value_start..value_start + len, value_start + 1);
            out[start] |= flags::EXTENDED_LENGTH;
            out[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
        }
        Ok(())
    }

    /// The attribute as it is passed on to another peer (RFC 4271 section
    /// 5 and 9.1.3): an unrecognized optional transitive attribute gets the
    /// Partial bit; an unrecognized optional non-transitive one is not
    /// passed on (`None`). Recognized attributes are returned as they are.
    pub fn for_propagation(&self) -> Option<PathAttribute> {
        match &self.value {
            AttrValue::Unknown { .. } if self.flags & flags::TRANSITIVE == 0 => None,
            AttrValue::Unknown { .. } => Some(PathAttribute {
                flags: self.flags | flags::PARTIAL,
                value: self.value.clone(),
            }),
            _ => Some(self.clone()),
        }
    }
}

fn put_as_path(path: &AsPath, four_octet: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    for seg in &path.segments {
        let n = u8::try_from(seg.asns.len()).map_err(|_| EncodeError::FieldTooLong {
            what: "AS_PATH segment",
            len: seg.asns.len(),
            max: 255,
        })?;
        out.put_u8(seg.kind as u8);
        out.put_u8(n);
        for &asn in &seg.asns {
            if four_octet {
                out.put_u32(asn);
            } else {
                // RFC 6793 section 4.2.2: a 4-octet ASN becomes AS_TRANS
                // towards an old speaker (the true path goes in AS4_PATH).
                out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
            }
        }
    }
    Ok(())
}

fn put_ip(out: &mut BytesMut, ip: &IpAddr) {
    match ip {
        IpAddr::V4(a) => out.put_slice(&a.octets()),
        IpAddr::V6(a) => out.put_slice(&a.octets()),
    }
}

/// Appends prefixes in NLRI encoding. The add-path identifier of unicast
/// prefixes is not emitted (plane negotiates add-path for EVPN only).
pub(crate) fn put_prefixes(prefixes: &[Prefix], out: &mut BytesMut) -> Result<(), EncodeError> {
    for p in prefixes {
        let mut buf = [0u8; 16];
        let max: u8 = match &p.addr {
            IpAddr::V4(a) => {
                buf[..4].copy_from_slice(&a.octets());
                32
            }
            IpAddr::V6(a) => {
                buf = a.octets();
                128
            }
        };
        if p.len > max {
            return Err(EncodeError::OutOfRange {
                what: "prefix length",
                value: u64::from(p.len),
                bits: if max == 32 { 5 } else { 7 },
            });
        }
        let n = usize::from(p.len).div_ceil(8);
        out.put_u8(p.len);
        out.put_slice(buf.get(..n).unwrap_or_default());
    }
    Ok(())
}

fn put_mp_nlri(
    nlri: &MpNlri,
    params: &SessionParams,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    match nlri {
        MpNlri::Evpn(routes) => {
            for n in routes {
                n.emit(params.add_path_evpn_tx, out)?;
            }
            Ok(())
        }
        MpNlri::Unicast(p) => put_prefixes(p, out),
        MpNlri::Unknown(b) => {
            out.put_slice(b);
            Ok(())
        }
    }
}

impl MpNextHop {
    /// The octets of the next hop field.
    pub fn len(&self) -> usize {
        match self {
            MpNextHop::V4(_) => 4,
            MpNextHop::V6(_) => 16,
            MpNextHop::V6LinkLocal(..) => 32,
            MpNextHop::Other(b) => b.len(),
        }
    }

    /// True for an empty `Other` next hop.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn emit(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = self.len();
        let l = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            what: "MP_REACH_NLRI next hop",
            len,
            max: 255,
        })?;
        out.put_u8(l);
        match self {
            MpNextHop::V4(a) => out.put_slice(&a.octets()),
            MpNextHop::V6(a) => out.put_slice(&a.octets()),
            MpNextHop::V6LinkLocal(g, l) => {
                out.put_slice(&g.octets());
                out.put_slice(&l.octets());
            }
            MpNextHop::Other(b) => out.put_slice(b),
        }
        Ok(())
    }
}

impl AttrValue {
    /// Appends the attribute value (without flags, type and length).
    pub fn emit_value(
        &self,
        params: &SessionParams,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        match self {
            AttrValue::Origin(o) => out.put_u8(*o as u8),
            AttrValue::AsPath(p) => put_as_path(p, params.four_octet_as, out)?,
            AttrValue::As4Path(p) => put_as_path(p, true, out)?,
            AttrValue::NextHop(a) => out.put_slice(&a.octets()),
            AttrValue::MultiExitDisc(v) | AttrValue::LocalPref(v) => out.put_u32(*v),
            AttrValue::AtomicAggregate => {}
            AttrValue::Aggregator { asn, address } => {
                if params.four_octet_as {
                    out.put_u32(*asn);
                } else {
                    out.put_u16(u16::try_from(*asn).unwrap_or(AS_TRANS));
                }
                out.put_slice(&address.octets());
            }
            AttrValue::As4Aggregator { asn, address } => {
                out.put_u32(*asn);
                out.put_slice(&address.octets());
            }
            AttrValue::Communities(c) => c.iter().for_each(|v| out.put_u32(*v)),
            AttrValue::OriginatorId(a) => out.put_slice(&a.octets()),
            AttrValue::ClusterList(l) => l.iter().for_each(|a| out.put_slice(&a.octets())),
            AttrValue::MpReachNlri(m) => {
                out.put_u16(m.afi);
                out.put_u8(m.safi);
                m.next_hop.emit(out)?;
                out.put_u8(0);
                put_mp_nlri(&m.nlri, params, out)?;
            }
            AttrValue::MpUnreachNlri(m) => {
                out.put_u16(m.afi);
                out.put_u8(m.safi);
                put_mp_nlri(&m.nlri, params, out)?;
            }
            AttrValue::ExtendedCommunities(c) => {
                c.iter().for_each(|v| out.put_slice(&v.to_bytes()))
            }
            AttrValue::PmsiTunnel(p) => {
                if p.label > 0x00ff_ffff {
                    return Err(EncodeError::OutOfRange {
                        what: "PMSI tunnel label",
                        value: u64::from(p.label),
                        bits: 24,
                    });
                }
                out.put_u8(p.flags);
                out.put_u8(p.tunnel_type);
                out.put_slice(&p.label.to_be_bytes()[1..]);
                match &p.tunnel_id {
                    PmsiTunnelId::Ip(ip) => put_ip(out, ip),
                    PmsiTunnelId::Other(b) => out.put_slice(b),
                }
            }
            AttrValue::LargeCommunities(l) => l.iter().for_each(|c| {
                out.put_u32(c.global_admin);
                out.put_u32(c.local_data1);
                out.put_u32(c.local_data2);
            }),
            AttrValue::Unknown { value, .. } => out.put_slice(value),
        }
        Ok(())
    }
}
