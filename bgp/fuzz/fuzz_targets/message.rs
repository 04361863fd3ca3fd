//! Fuzz target: the framer and the whole-message decoder. Whatever decodes
//! must re-encode, and decode again to the same value (up to the Extended
//! Length flag the encoder adds to values over 255 octets).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use plane_bgp::wire::*;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, msg)) = data.split_first() else {
        return;
    };
    let params = SessionParams {
        four_octet_as: knobs & 1 != 0,
        max_message_len: if knobs & 2 != 0 {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        },
        add_path_evpn_rx: knobs & 4 != 0,
        add_path_evpn_tx: knobs & 4 != 0,
    };
    if let Ok(Some(n)) = frame(msg, params.max_message_len) {
        assert!(n <= msg.len() && n >= HEADER_LEN);
    }
    let Ok(m) = decode_message(msg, &params) else {
        return;
    };
    let mut out = BytesMut::new();
    encode_message(&m, &params, &mut out).expect("a decoded message re-encodes");
    let again = decode_message(&out, &params).expect("a re-encoded message decodes");
    assert_eq!(normalize(again, &params), normalize(m, &params));
});

fn normalize(m: Message, params: &SessionParams) -> Message {
    let Message::Update(mut u) = m else { return m };
    for a in &mut u.attributes {
        let mut v = BytesMut::new();
        if a.value.emit_value(params, &mut v).is_ok() && v.len() > 255 {
            a.flags |= flags::EXTENDED_LENGTH;
        }
    }
    Message::Update(u)
}
