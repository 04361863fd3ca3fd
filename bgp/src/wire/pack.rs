//! Building UPDATEs for EVPN routes: many NLRI with identical attributes
//! packed into as few messages as the negotiated size allows (RFC 4271
//! section 4.3, RFC 8654), End-of-RIB markers (RFC 4724 section 2), and
//! NOTIFICATION constructors (RFC 4486, RFC 9003).
//!
//! Invariants: every returned message is at most `params.max_message_len`
//! octets; an NLRI that cannot fit even alone is an error, never truncated;
//! MP_REACH_NLRI / MP_UNREACH_NLRI is the first attribute (RFC 7606 section
//! 5.1) and carries the Extended Length flag (its length routinely passes 255).

use super::attr::*;
use super::codec::finish_header;
use super::error::{cease_subcode, EncodeError};
use super::evpn::EvpnNlri;
use super::message::*;
use super::SessionParams;
use bytes::{BufMut, Bytes, BytesMut};

/// Header (19), withdrawn length (2), total path attribute length (2).
const UPDATE_FIXED: usize = HEADER_LEN + 4;

/// Whole UPDATE messages announcing `nlri` (AFI 25 / SAFI 70) with the path
/// attributes `attrs` (which must not contain MP_REACH_NLRI) and the VTEP
/// `next_hop`, packed up to `params.max_message_len` octets each.
pub fn encode_evpn_reach(
    attrs: &[PathAttribute],
    next_hop: &MpNextHop,
    nlri: &[EvpnNlri],
    params: &SessionParams,
) -> Result<Vec<Bytes>, EncodeError> {
    if attrs.iter().any(|a| {
        matches!(
            a.value,
            AttrValue::MpReachNlri(_) | AttrValue::MpUnreachNlri(_)
        )
    }) {
        return Err(EncodeError::Invalid {
            what: "EVPN UPDATE attributes",
            why: "MP_REACH_NLRI / MP_UNREACH_NLRI are added by the encoder",
        });
    }
    let mut other = BytesMut::with_capacity(128);
    for a in attrs {
        a.emit(params, &mut other)?;
    }
    // MP_REACH_NLRI value head: AFI, SAFI, next hop length and value, reserved.
    let mut head = BytesMut::with_capacity(24);
    head.put_u16(afi::L2VPN);
    head.put_u8(safi::EVPN);
    next_hop.emit(&mut head)?;
    head.put_u8(0);
    pack(params, &head, &other, type_code::MP_REACH_NLRI, nlri)
}

/// Whole UPDATE messages withdrawing `nlri` (AFI 25 / SAFI 70) in
/// MP_UNREACH_NLRI, packed up to `params.max_message_len` octets each.
pub fn encode_evpn_unreach(
    nlri: &[EvpnNlri],
    params: &SessionParams,
) -> Result<Vec<Bytes>, EncodeError> {
    let mut head = BytesMut::with_capacity(3);
    head.put_u16(afi::L2VPN);
    head.put_u8(safi::EVPN);
    pack(params, &head, &[], type_code::MP_UNREACH_NLRI, nlri)
}

fn pack(
    params: &SessionParams,
    mp_head: &[u8],
    other_attrs: &[u8],
    mp_type: u8,
    nlri: &[EvpnNlri],
) -> Result<Vec<Bytes>, EncodeError> {
    let max = params.max_message_len;
    // MP attribute header: flags, type, 2-octet length.
    let fixed = UPDATE_FIXED + 4 + mp_head.len() + other_attrs.len();
    let add_path = params.add_path_evpn_tx;
    // One buffer sized for all the messages: each is split off it as a
    // view (no copy), and a single route costs one small allocation.
    let nlri_len: usize = nlri.iter().map(|n| n.encoded_len(add_path)).sum();
    let per_message = max.saturating_sub(fixed).max(1);
    let messages = nlri_len.div_ceil(per_message).max(1);
    let mut out = Vec::with_capacity(messages);
    let mut buf = BytesMut::with_capacity(nlri_len + messages * fixed);
    let mut i = 0;
    while i < nlri.len() {
        // How many NLRI fit in this message.
        let mut size = fixed;
        let mut j = i;
        while let Some(n) = nlri.get(j) {
            let l = n.encoded_len(add_path);
            if size + l > max {
                break;
            }
            size += l;
            j += 1;
        }
        if j == i {
            let len = nlri.get(i).map_or(0, |n| n.encoded_len(add_path));
            return Err(EncodeError::NlriDoesNotFit { len, max });
        }
        let start = buf.len();
        buf.put_slice(&[0xff; 16]);
        buf.put_u16(0);
        buf.put_u8(msg_type::UPDATE);
        buf.put_u16(0); // no IPv4 withdrawn routes
        let attr_len_at = buf.len();
        buf.put_u16(0);
        buf.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
        buf.put_u8(mp_type);
        let mp_len_at = buf.len();
        buf.put_u16(0);
        buf.put_slice(mp_head);
        for n in nlri.get(i..j).unwrap_or_default() {
            n.emit(add_path, &mut buf)?;
        }
        let mp_len = buf.len() - mp_len_at - 2;
        buf.put_slice(other_attrs);
        let attr_len = buf.len() - attr_len_at - 2;
        let too_long = |what, len| EncodeError::FieldTooLong {
            what,
            len,
            max: 65535,
        };
        let mp16 = u16::try_from(mp_len).map_err(|_| too_long("MP_REACH_NLRI", mp_len))?;
        let a16 = u16::try_from(attr_len).map_err(|_| too_long("path attributes", attr_len))?;
        buf[mp_len_at..mp_len_at + 2].copy_from_slice(&mp16.to_be_bytes());
        buf[attr_len_at..attr_len_at + 2].copy_from_slice(&a16.to_be_bytes());
        finish_header(&mut buf, start, max)?;
        out.push(buf.split().freeze());
        i = j;
    }
    Ok(out)
}

/// The End-of-RIB marker of RFC 4724 section 2: an empty UPDATE for IPv4
/// unicast, else an UPDATE with only an empty MP_UNREACH_NLRI.
pub fn end_of_rib(afi: u16, safi: u8) -> Bytes {
    let mut b = BytesMut::with_capacity(30);
    b.put_slice(&[0xff; 16]);
    if (afi, safi) == (afi::IPV4, safi::UNICAST) {
        b.put_u16(23);
        b.put_u8(msg_type::UPDATE);
        b.put_u32(0);
    } else {
        // Header, two length fields, and a 6-octet MP_UNREACH_NLRI.
        b.put_u16(29);
        b.put_u8(msg_type::UPDATE);
        b.put_u16(0);
        b.put_u16(6);
        b.put_u8(flags::OPTIONAL);
        b.put_u8(type_code::MP_UNREACH_NLRI);
        b.put_u8(3);
        b.put_u16(afi);
        b.put_u8(safi);
    }
    b.freeze()
}

impl Update {
    /// The (AFI, SAFI) this UPDATE is the End-of-RIB marker of, if it is one
    /// (RFC 4724 section 2).
    pub fn end_of_rib(&self) -> Option<(u16, u8)> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some((afi::IPV4, safi::UNICAST)),
            [PathAttribute {
                value: AttrValue::MpUnreachNlri(m),
                ..
            }] => {
                let empty = match &m.nlri {
                    MpNlri::Evpn(v) => v.is_empty(),
                    MpNlri::Unicast(v) => v.is_empty(),
                    MpNlri::Unknown(b) => b.is_empty(),
                };
                empty.then_some((m.afi, m.safi))
            }
            _ => None,
        }
    }

    /// The attribute with this type code, if present.
    pub fn attribute(&self, type_code: u8) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .map(|a| &a.value)
            .find(|v| v.type_code() == type_code)
    }
}

/// RFC 9003 section 2: the shutdown communication is at most 255 octets.
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Bytes) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// A Cease with the given subcode (RFC 4486) and no data.
    pub fn cease(subcode: u8) -> Self {
        Notification::new(error_code::CEASE, subcode, Bytes::new())
    }

    /// Hold Timer Expired (RFC 4271 section 6.5).
    pub fn hold_timer_expired() -> Self {
        Notification::new(error_code::HOLD_TIMER_EXPIRED, 0, Bytes::new())
    }

    /// Cease / Administrative Shutdown with an RFC 9003 shutdown
    /// communication (UTF-8, at most 255 octets; longer is an error).
    pub fn administrative_shutdown(message: &str) -> Result<Self, EncodeError> {
        Self::with_communication(cease_subcode::ADMINISTRATIVE_SHUTDOWN, message)
    }

    /// Cease / Administrative Reset with an RFC 9003 shutdown communication.
    pub fn administrative_reset(message: &str) -> Result<Self, EncodeError> {
        Self::with_communication(cease_subcode::ADMINISTRATIVE_RESET, message)
    }

    fn with_communication(subcode: u8, message: &str) -> Result<Self, EncodeError> {
        let len = message.len();
        let l = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            what: "shutdown communication",
            len,
            max: MAX_SHUTDOWN_COMMUNICATION,
        })?;
        let mut data = BytesMut::with_capacity(1 + len);
        data.put_u8(l);
        data.put_slice(message.as_bytes());
        Ok(Notification::new(error_code::CEASE, subcode, data.freeze()))
    }

    /// The RFC 9003 shutdown communication of a Cease / Administrative
    /// Shutdown or Reset: `None` when there is none (other codes, no data,
    /// or length 0); `Some(Err)` when the data is malformed (length beyond
    /// the data, or not UTF-8), which RFC 9003 section 4 says to log and
    /// otherwise ignore.
    pub fn shutdown_communication(&self) -> Option<Result<&str, ShutdownCommunicationError>> {
        let is_admin = self.code == error_code::CEASE
            && matches!(
                self.subcode,
                cease_subcode::ADMINISTRATIVE_SHUTDOWN | cease_subcode::ADMINISTRATIVE_RESET
            );
        let (&len, rest) = self.data.split_first().filter(|_| is_admin)?;
        if len == 0 {
            return None;
        }
        let Some(text) = rest.get(..usize::from(len)) else {
            return Some(Err(ShutdownCommunicationError::Truncated {
                length: len,
                available: rest.len(),
            }));
        };
        Some(std::str::from_utf8(text).map_err(|_| ShutdownCommunicationError::NotUtf8))
    }
}

/// A malformed RFC 9003 shutdown communication.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ShutdownCommunicationError {
    #[error("shutdown communication length {length} exceeds the {available} octets of data")]
    Truncated { length: u8, available: usize },
    #[error("shutdown communication is not valid UTF-8")]
    NotUtf8,
}
