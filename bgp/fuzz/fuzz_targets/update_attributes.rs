//! Fuzz target: the UPDATE Path Attributes decoder with its RFC 7606
//! classification. Attributes that decode must re-encode and decode again
//! to the same values.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use plane_bgp::wire::*;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, attrs)) = data.split_first() else {
        return;
    };
    let params = SessionParams {
        four_octet_as: knobs & 1 != 0,
        add_path_evpn_rx: knobs & 4 != 0,
        add_path_evpn_tx: knobs & 4 != 0,
        ..SessionParams::default()
    };
    let Ok(d) = decode_path_attributes(attrs, &params) else {
        return;
    };
    let mut out = BytesMut::new();
    for a in &d.attributes {
        a.emit(&params, &mut out)
            .expect("a decoded attribute re-encodes");
    }
    let again = decode_path_attributes(&out, &params).expect("re-encoded attributes decode");
    let values = |v: &[PathAttribute]| v.iter().map(|a| a.value.clone()).collect::<Vec<_>>();
    assert_eq!(values(&again.attributes), values(&d.attributes));
});
