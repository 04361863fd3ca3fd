//! Framing, and decode / encode of whole messages (RFC 4271 section 4):
//! header checks, OPEN with capabilities (RFC 5492, 4760, 6793, 2918, 7313,
//! 4724, 8654, 7911, 9072), UPDATE with the RFC 7606 outcome, NOTIFICATION,
//! KEEPALIVE, ROUTE-REFRESH.
//!
//! What it never does: keep state between messages, or decide session
//! policy (required capabilities, peer AS checks, hold time negotiation:
//! the FSM's job). Invariants: no panic on any input; the framer answers
//! need-more, complete or malformed and never waits on a bad length.

use super::attr::*;
use super::attr_codec::{
    decode_path_attributes_into, decode_prefixes, put_prefixes, DecodedAttributes,
};
use super::error::{
    update_subcode, AttrFault, AttributeError, EncodeError, ErrorAction, MessageError,
};
use super::evpn::EvpnNlri;
use super::message::*;
use super::reader::Reader;
use super::SessionParams;
use bytes::{BufMut, Bytes, BytesMut};
use std::net::Ipv4Addr;

const MARKER: [u8; 16] = [0xff; 16];

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Finds the next whole message at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some(n))`: `buf[..n]` is one
/// message (header checked: marker and length). `Err`: the stream is broken
/// (bad marker, length below 19 or above `max_len`); send
/// [`MessageError::notification`] and close. A bad marker is reported as
/// soon as its first wrong octet has arrived.
pub fn frame(buf: &[u8], max_len: usize) -> Result<Option<usize>, MessageError> {
    let seen = buf.len().min(MARKER.len());
    if buf[..seen].iter().any(|&b| b != 0xff) {
        return Err(MessageError::BadMarker);
    }
    let (Some(&hi), Some(&lo)) = (buf.get(16), buf.get(17)) else {
        return Ok(None);
    };
    let length = u16::from_be_bytes([hi, lo]);
    let n = usize::from(length);
    if n < HEADER_LEN {
        return Err(MessageError::bad_length(
            length,
            "below the 19-octet header",
        ));
    }
    if n > max_len {
        return Err(MessageError::bad_length(
            length,
            "above the negotiated maximum",
        ));
    }
    Ok((buf.len() >= n).then_some(n))
}

/// Decodes one whole message (header included, as delimited by [`frame`]).
///
/// Attribute-discard errors (RFC 7606) are dropped silently here; use
/// [`decode_message_with_diagnostics`] to log them.
pub fn decode_message(msg: &[u8], params: &SessionParams) -> Result<Message, MessageError> {
    decode_inner(msg, params, None)
}

/// Decodes one whole message, and returns with it the attribute-discard
/// errors (RFC 7606 section 2) of an UPDATE: the attributes named there were
/// left out of the returned [`Update`].
pub fn decode_message_with_diagnostics(
    msg: &[u8],
    params: &SessionParams,
) -> Result<(Message, Vec<AttributeError>), MessageError> {
    let mut discarded = Vec::new();
    let m = decode_inner(msg, params, Some(&mut discarded))?;
    Ok((m, discarded))
}

/// The decoder; attribute-discard errors go to `diagnostics` when given.
/// One function returning the message itself, so that the common path moves
/// no tuples around.
fn decode_inner(
    msg: &[u8],
    params: &SessionParams,
    diagnostics: Option<&mut Vec<AttributeError>>,
) -> Result<Message, MessageError> {
    let length = len16(msg.len());
    if msg.len() < HEADER_LEN {
        return Err(MessageError::bad_length(
            length,
            "below the 19-octet header",
        ));
    }
    let (header, body) = msg.split_at(HEADER_LEN);
    if header[..16] != MARKER {
        return Err(MessageError::BadMarker);
    }
    let field = u16::from_be_bytes([header[16], header[17]]);
    if usize::from(field) != msg.len() {
        return Err(MessageError::bad_length(
            field,
            "does not match the message",
        ));
    }
    if msg.len() > params.max_message_len {
        return Err(MessageError::bad_length(
            field,
            "above the negotiated maximum",
        ));
    }
    let msg_type = header[18];
    let m = match msg_type {
        msg_type::OPEN => Message::Open(decode_open(body, field)?),
        // Returned as it is: the message is written once, in the caller's slot.
        msg_type::UPDATE => return decode_update(body, field, params, diagnostics),
        msg_type::NOTIFICATION => {
            let [code, subcode, data @ ..] = body else {
                return Err(MessageError::bad_length(
                    field,
                    "NOTIFICATION needs 21 octets",
                ));
            };
            Message::Notification(Notification {
                code: *code,
                subcode: *subcode,
                data: Bytes::copy_from_slice(data),
            })
        }
        msg_type::KEEPALIVE => {
            if !body.is_empty() {
                return Err(MessageError::bad_length(field, "KEEPALIVE is 19 octets"));
            }
            Message::Keepalive
        }
        msg_type::ROUTE_REFRESH => match body {
            &[a0, a1, subtype, safi] => Message::RouteRefresh(RouteRefresh {
                afi: u16::from_be_bytes([a0, a1]),
                subtype,
                safi,
            }),
            // RFC 7313 section 5: BoRR / EoRR of the wrong length get a
            // ROUTE-REFRESH Message Error; a plain one is a header error.
            [_, _, 1 | 2, ..] => {
                return Err(MessageError::BadRouteRefreshLength {
                    length: field,
                    message: Bytes::copy_from_slice(msg),
                })
            }
            _ => {
                return Err(MessageError::bad_length(
                    field,
                    "ROUTE-REFRESH is 23 octets",
                ))
            }
        },
        _ => return Err(MessageError::BadType { msg_type }),
    };
    Ok(m)
}

/// Appends one whole message (header included) to `out`. On error `out`
/// is left as it was.
pub fn encode_message(
    msg: &Message,
    params: &SessionParams,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = out.len();
    let r = encode_inner(msg, params, out, start);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn encode_inner(
    msg: &Message,
    params: &SessionParams,
    out: &mut BytesMut,
    start: usize,
) -> Result<(), EncodeError> {
    out.put_slice(&MARKER);
    out.put_u16(0);
    let t = match msg {
        Message::Open(_) => msg_type::OPEN,
        Message::Update(_) => msg_type::UPDATE,
        Message::Notification(_) => msg_type::NOTIFICATION,
        Message::Keepalive => msg_type::KEEPALIVE,
        Message::RouteRefresh(_) => msg_type::ROUTE_REFRESH,
    };
    out.put_u8(t);
    match msg {
        Message::Open(o) => encode_open(o, out)?,
        Message::Update(u) => encode_update(u, params, out)?,
        Message::Notification(n) => {
            out.put_u8(n.code);
            out.put_u8(n.subcode);
            out.put_slice(&n.data);
        }
        Message::Keepalive => {}
        Message::RouteRefresh(r) => {
            out.put_u16(r.afi);
            out.put_u8(r.subtype);
            out.put_u8(r.safi);
        }
    }
    finish_header(out, start, params.max_message_len)
}

/// Writes the length of the message that starts at `start`.
pub(crate) fn finish_header(
    out: &mut BytesMut,
    start: usize,
    max: usize,
) -> Result<(), EncodeError> {
    let len = out.len() - start;
    let l = u16::try_from(len)
        .ok()
        .filter(|_| len <= max)
        .ok_or(EncodeError::MessageTooLong { len, max })?;
    out[start + 16..start + 18].copy_from_slice(&l.to_be_bytes());
    Ok(())
}

// ---------------------------------------------------------------- OPEN

fn malformed_open(reason: &'static str) -> MessageError {
    MessageError::MalformedOpen { reason }
}

fn decode_open(body: &[u8], field: u16) -> Result<Open, MessageError> {
    let mut r = Reader::new(body);
    let (Some(version), Some(my_as), Some(hold_time), Some(id), Some(opt_len)) =
        (r.u8(), r.u16(), r.u16(), r.array::<4>(), r.u8())
    else {
        return Err(MessageError::bad_length(field, "OPEN needs 29 octets"));
    };
    if version != 4 {
        return Err(MessageError::UnsupportedVersion { version });
    }
    // RFC 7607: AS 0 is reserved and never a peer's AS.
    if my_as == 0 {
        return Err(MessageError::BadPeerAs { asn: 0 });
    }
    if hold_time == 1 || hold_time == 2 {
        return Err(MessageError::UnacceptableHoldTime { hold_time });
    }
    let bgp_id = Ipv4Addr::from(id);
    if bgp_id.is_unspecified() {
        return Err(MessageError::BadBgpIdentifier { id: bgp_id });
    }
    // RFC 9072: Non-Ext OP Len 255 followed by Non-Ext OP Type 255 announces
    // a 2-octet parameters length and 2-octet parameter lengths.
    let extended = opt_len == 255 && r.rest().first() == Some(&255);
    let params = if extended {
        r.u8();
        let n = r
            .u16()
            .ok_or_else(|| malformed_open("extended parameters length truncated"))?;
        r.take(usize::from(n))
    } else {
        r.take(usize::from(opt_len))
    }
    .ok_or_else(|| malformed_open("optional parameters overrun the message"))?;
    if !r.is_empty() {
        return Err(malformed_open("octets after the optional parameters"));
    }
    let mut capabilities = Vec::new();
    let mut other_params = Vec::new();
    // Capabilities parameters seen.
    let mut cap_params = 0usize;
    let mut p = Reader::new(params);
    while !p.is_empty() {
        let ptype = p
            .u8()
            .ok_or_else(|| malformed_open("parameter truncated"))?;
        let plen = if extended {
            p.u16()
        } else {
            p.u8().map(u16::from)
        }
        .ok_or_else(|| malformed_open("parameter length truncated"))?;
        let value = p
            .take(usize::from(plen))
            .ok_or_else(|| malformed_open("parameter overruns the parameters"))?;
        if ptype == 2 {
            decode_capabilities(value, &mut capabilities)?;
            cap_params += 1;
        } else {
            other_params.push((ptype, Bytes::copy_from_slice(value)));
        }
    }
    // Anything but all-in-one (one per parameter, or a mix, or empty
    // parameters) decodes as one per parameter: a mix then re-encodes to
    // the same value, not the same octets.
    let capability_params = if cap_params == 1 && capabilities.len() >= 2 {
        CapabilityParams::Single
    } else {
        CapabilityParams::PerCapability
    };
    Ok(Open {
        version,
        my_as,
        hold_time,
        bgp_id,
        capabilities,
        capability_params,
        other_params,
    })
}

/// RFC 5492 section 4: one or more (code, length, value) triples.
fn decode_capabilities(buf: &[u8], out: &mut Vec<Capability>) -> Result<(), MessageError> {
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (Some(code), Some(len)) = (r.u8(), r.u8()) else {
            return Err(malformed_open("capability header truncated"));
        };
        let v = r
            .take(usize::from(len))
            .ok_or_else(|| malformed_open("capability overruns its parameter"))?;
        out.push(Capability::decode(code, v)?);
    }
    Ok(())
}

impl Capability {
    /// The capability code on the wire.
    pub fn code(&self) -> u8 {
        use cap_code::*;
        match self {
            Capability::Multiprotocol { .. } => MULTIPROTOCOL,
            Capability::RouteRefresh => ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => GRACEFUL_RESTART,
            Capability::ExtendedMessage => EXTENDED_MESSAGE,
            Capability::AddPath(_) => ADD_PATH,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value. A known code whose value does not have
    /// the defined shape (or sets reserved bits) is kept as
    /// [`Capability::Unknown`], so that it re-encodes as sent and is ignored
    /// by negotiation. Only AS 0 in the 4-octet AS capability is an error
    /// (RFC 7607).
    pub fn decode(code: u8, v: &[u8]) -> Result<Capability, MessageError> {
        use cap_code::*;
        let typed = match (code, v) {
            (MULTIPROTOCOL, &[a0, a1, 0, safi]) => Some(Capability::Multiprotocol {
                afi: u16::from_be_bytes([a0, a1]),
                safi,
            }),
            (ROUTE_REFRESH, []) => Some(Capability::RouteRefresh),
            (ENHANCED_ROUTE_REFRESH, []) => Some(Capability::EnhancedRouteRefresh),
            (EXTENDED_MESSAGE, []) => Some(Capability::ExtendedMessage),
            (FOUR_OCTET_AS, &[a, b, c, d]) => {
                let asn = u32::from_be_bytes([a, b, c, d]);
                if asn == 0 {
                    return Err(MessageError::BadPeerAs { asn });
                }
                Some(Capability::FourOctetAs(asn))
            }
            (GRACEFUL_RESTART, [f0, f1, fams @ ..]) if fams.len() % 4 == 0 && f0 & 0x30 == 0 => {
                let families: Option<Vec<_>> = fams
                    .chunks_exact(4)
                    .map(|c| match *c {
                        [a0, a1, safi, flags] if flags & 0x7f == 0 => Some(GracefulRestartFamily {
                            afi: u16::from_be_bytes([a0, a1]),
                            safi,
                            forwarding_preserved: flags & 0x80 != 0,
                        }),
                        _ => None,
                    })
                    .collect();
                families.map(|families| {
                    Capability::GracefulRestart(GracefulRestart {
                        restarting: f0 & 0x80 != 0,
                        notification: f0 & 0x40 != 0,
                        restart_time: u16::from_be_bytes([f0 & 0x0f, *f1]),
                        families,
                    })
                })
            }
            (ADD_PATH, fams) if fams.len() % 4 == 0 && !fams.is_empty() => {
                Some(Capability::AddPath(
                    fams.chunks_exact(4)
                        .filter_map(|c| match *c {
                            [a0, a1, safi, send_receive] => Some(AddPathFamily {
                                afi: u16::from_be_bytes([a0, a1]),
                                safi,
                                send_receive,
                            }),
                            _ => None,
                        })
                        .collect(),
                ))
            }
            _ => None,
        };
        Ok(typed.unwrap_or_else(|| Capability::Unknown {
            code,
            value: Bytes::copy_from_slice(v),
        }))
    }

    /// Appends the capability value (without code and length).
    pub fn emit_value(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Capability::Multiprotocol { afi, safi } => {
                out.put_u16(*afi);
                out.put_u8(0);
                out.put_u8(*safi);
            }
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::GracefulRestart(g) => {
                if g.restart_time > 0x0fff {
                    return Err(EncodeError::OutOfRange {
                        what: "graceful restart time",
                        value: u64::from(g.restart_time),
                        bits: 12,
                    });
                }
                let mut head = g.restart_time;
                if g.restarting {
                    head |= 0x8000;
                }
                if g.notification {
                    head |= 0x4000;
                }
                out.put_u16(head);
                for f in &g.families {
                    out.put_u16(f.afi);
                    out.put_u8(f.safi);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::AddPath(fams) => {
                for f in fams {
                    out.put_u16(f.afi);
                    out.put_u8(f.safi);
                    out.put_u8(f.send_receive);
                }
            }
            Capability::Unknown { value, .. } => out.put_slice(value),
        }
        Ok(())
    }
}

/// Appends one capability: code, length, value.
fn put_capability(c: &Capability, v: &mut BytesMut) -> Result<(), EncodeError> {
    let at = v.len();
    v.put_u8(c.code());
    v.put_u8(0);
    c.emit_value(v)?;
    let len = v.len() - at - 2;
    v[at + 1] = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong {
        what: "capability",
        len,
        max: 255,
    })?;
    Ok(())
}

/// OPEN: capabilities packed as `capability_params` says (RFC 5492
/// section 4 allows one parameter per capability or one for all), then the
/// other parameters. Parameters over 255 octets in total, or one over 255,
/// use the RFC 9072 extended encoding.
fn encode_open(o: &Open, out: &mut BytesMut) -> Result<(), EncodeError> {
    out.put_u8(o.version);
    out.put_u16(o.my_as);
    out.put_u16(o.hold_time);
    out.put_slice(&o.bgp_id.octets());
    // (type, value) of every optional parameter.
    let mut params: Vec<(u8, Bytes)> =
        Vec::with_capacity(o.capabilities.len() + o.other_params.len());
    match o.capability_params {
        CapabilityParams::Single if !o.capabilities.is_empty() => {
            let mut v = BytesMut::with_capacity(16 * o.capabilities.len());
            for c in &o.capabilities {
                put_capability(c, &mut v)?;
            }
            // Parameter type 2 holding every capability.
            params.push((2, v.freeze()));
        }
        _ => {
            for c in &o.capabilities {
                let mut v = BytesMut::with_capacity(16);
                put_capability(c, &mut v)?;
                // Parameter type 2 holding this one capability.
                params.push((2, v.freeze()));
            }
        }
    }
    params.extend(o.other_params.iter().cloned());
    let total: usize = params.iter().map(|(_, v)| 2 + v.len()).sum();
    let short = params.iter().all(|(_, v)| v.len() <= 255);
    match u8::try_from(total) {
        // RFC 9072 section 2: 255 in the first octet announces the extended
        // format, so the plain one holds at most 254 octets.
        Ok(l) if l < 255 && short => {
            out.put_u8(l);
            for (t, v) in &params {
                out.put_u8(*t);
                out.put_u8(u8::try_from(v.len()).unwrap_or(u8::MAX));
                out.put_slice(v);
            }
        }
        _ => {
            // RFC 9072: 2-octet parameter lengths.
            let len = params.iter().map(|(_, v)| 3 + v.len()).sum::<usize>();
            let l = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong {
                what: "optional parameters",
                len,
                max: 65535,
            })?;
            out.put_u8(255);
            out.put_u8(255);
            out.put_u16(l);
            for (t, v) in &params {
                out.put_u8(*t);
                // Bounded by the total checked above.
                out.put_u16(u16::try_from(v.len()).unwrap_or(u16::MAX));
                out.put_slice(v);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- UPDATE

fn structure_error(subcode: u8, fault: AttrFault) -> MessageError {
    MessageError::UpdateSessionReset(Box::new(AttributeError {
        type_code: None,
        action: ErrorAction::SessionReset,
        subcode,
        data: Bytes::new(),
        fault,
    }))
}

fn decode_update(
    body: &[u8],
    field: u16,
    params: &SessionParams,
    diagnostics: Option<&mut Vec<AttributeError>>,
) -> Result<Message, MessageError> {
    if body.len() < 4 {
        return Err(MessageError::bad_length(field, "UPDATE needs 23 octets"));
    }
    let mut r = Reader::new(body);
    let Some(wlen) = r.u16() else {
        return Err(MessageError::bad_length(field, "UPDATE needs 23 octets"));
    };
    // RFC 4271 section 6.3 (not revised by RFC 7606 section 4): lengths that
    // overrun the message leave nothing locatable: Malformed Attribute List.
    let available = r.remaining();
    let withdrawn = r.take(usize::from(wlen)).ok_or_else(|| {
        structure_error(
            update_subcode::MALFORMED_ATTRIBUTE_LIST,
            AttrFault::Overrun {
                what: "withdrawn routes",
                needed: usize::from(wlen),
                available,
            },
        )
    })?;
    let available = r.remaining();
    let Some(alen) = r.u16() else {
        return Err(structure_error(
            update_subcode::MALFORMED_ATTRIBUTE_LIST,
            AttrFault::Overrun {
                what: "total path attribute length",
                needed: 2,
                available,
            },
        ));
    };
    let available = r.remaining();
    let attrs = r.take(usize::from(alen)).ok_or_else(|| {
        structure_error(
            update_subcode::MALFORMED_ATTRIBUTE_LIST,
            AttrFault::Overrun {
                what: "path attributes",
                needed: usize::from(alen),
                available,
            },
        )
    })?;
    // RFC 7606 section 5.3: syntactically incorrect prefixes: session reset.
    let prefixes = |b: &[u8]| {
        decode_prefixes(b, false).map_err(|m| {
            structure_error(
                update_subcode::INVALID_NETWORK_FIELD,
                AttrFault::Malformed(m),
            )
        })
    };
    let withdrawn = prefixes(withdrawn)?;
    let nlri = prefixes(r.rest())?;
    // Every field spelled out: `..Default::default()` builds a whole value
    // on the stack and copies it (a store-forwarding stall).
    let mut decoded = DecodedAttributes {
        attributes: Vec::with_capacity(8),
        discarded: Vec::new(),
        withdraw: None,
    };
    // Type codes of the attributes decoded and kept, one bit each.
    let mut present = 0u128;
    decode_path_attributes_into(attrs, params, &mut decoded, &mut present)
        .map_err(|e| MessageError::UpdateSessionReset(Box::new(e)))?;
    let has = |t: u8| present & (1u128 << t) != 0;

    // RFC 7606 section 3 (d): a missing well-known mandatory attribute when
    // the UPDATE carries reachable NLRI: treat-as-withdraw. NEXT_HOP is
    // mandatory only with NLRI in the NLRI field (RFC 4760 section 3).
    if decoded.withdraw.is_none() && (!nlri.is_empty() || has(type_code::MP_REACH_NLRI)) {
        let mandatory: &[u8] = if nlri.is_empty() {
            &[type_code::ORIGIN, type_code::AS_PATH]
        } else {
            &[type_code::ORIGIN, type_code::AS_PATH, type_code::NEXT_HOP]
        };
        if let Some(&t) = mandatory.iter().find(|&&t| !has(t)) {
            decoded.withdraw = Some(AttributeError {
                type_code: Some(t),
                action: ErrorAction::TreatAsWithdraw,
                subcode: update_subcode::MISSING_WELL_KNOWN_ATTRIBUTE,
                data: Bytes::copy_from_slice(&[t]),
                fault: AttrFault::Missing,
            });
        }
    }
    // Fields are moved out one by one: moving the whole value (or its
    // 100+ octet `Option<AttributeError>`) stalls on store forwarding.
    match decoded {
        DecodedAttributes {
            withdraw: None,
            attributes,
            mut discarded,
        } => {
            if let Some(d) = diagnostics {
                d.append(&mut discarded);
            }
            Ok(Message::Update(Update {
                withdrawn,
                attributes,
                nlri,
            }))
        }
        DecodedAttributes {
            withdraw: Some(reason),
            attributes,
            discarded,
        } => {
            let mp_seen = has(type_code::MP_REACH_NLRI) || has(type_code::MP_UNREACH_NLRI);
            Err(treat_as_withdraw(
                reason, attributes, discarded, mp_seen, withdrawn, nlri,
            ))
        }
    }
}

/// The error for an UPDATE whose routes must be withdrawn for `reason`:
/// the routes it names, or a session reset when none can be located.
#[cold]
#[inline(never)]
fn treat_as_withdraw(
    reason: AttributeError,
    attributes: Vec<PathAttribute>,
    discarded: Vec<AttributeError>,
    mp_seen: bool,
    withdrawn: Vec<Prefix>,
    nlri: Vec<Prefix>,
) -> MessageError {
    // RFC 7606 section 4 asks for treat-as-withdraw when the attribute
    // list overruns, relying on MP_REACH_NLRI / MP_UNREACH_NLRI being the
    // first attributes (section 5.1). A sender that puts them later
    // (GoBGP does) may have had them in the unreadable tail: when no
    // route at all could be located, withdrawing nothing would leave the
    // peer's earlier routes installed, so reset the session instead
    // (section 3 (k): the NLRI cannot be reliably identified).
    let list_overrun = reason.type_code.is_none();
    if list_overrun && !mp_seen && withdrawn.is_empty() && nlri.is_empty() {
        return MessageError::UpdateSessionReset(Box::new(AttributeError {
            action: ErrorAction::SessionReset,
            ..reason
        }));
    }
    let (mut w, mut evpn) = (withdrawn, Vec::<EvpnNlri>::new());
    w.extend(nlri);
    for a in attributes {
        let n = match a.value {
            AttrValue::MpReachNlri(m) => m.nlri,
            AttrValue::MpUnreachNlri(m) => m.nlri,
            _ => continue,
        };
        match n {
            MpNlri::Evpn(v) => evpn.extend(v),
            MpNlri::Unicast(v) => w.extend(v),
            MpNlri::Unknown(_) => {}
        }
    }
    MessageError::TreatAsWithdraw {
        withdrawn: w,
        evpn,
        reason: Box::new(reason),
        discarded,
    }
}

fn encode_update(
    u: &Update,
    params: &SessionParams,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let wl_at = out.len();
    out.put_u16(0);
    put_prefixes(&u.withdrawn, out)?;
    let wlen = out.len() - wl_at - 2;
    let al_at = out.len();
    out.put_u16(0);
    for a in &u.attributes {
        a.emit(params, out)?;
    }
    let alen = out.len() - al_at - 2;
    put_prefixes(&u.nlri, out)?;
    let too_long = |what, len| EncodeError::FieldTooLong {
        what,
        len,
        max: 65535,
    };
    let w16 = u16::try_from(wlen).map_err(|_| too_long("withdrawn routes", wlen))?;
    let a16 = u16::try_from(alen).map_err(|_| too_long("path attributes", alen))?;
    out[wl_at..wl_at + 2].copy_from_slice(&w16.to_be_bytes());
    out[al_at..al_at + 2].copy_from_slice(&a16.to_be_bytes());
    Ok(())
}
