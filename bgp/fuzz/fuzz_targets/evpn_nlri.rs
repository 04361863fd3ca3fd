//! Fuzz target: the EVPN NLRI decoder (AFI 25 / SAFI 70). What decodes must
//! re-encode to the same octets.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use plane_bgp::wire::*;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, nlri)) = data.split_first() else {
        return;
    };
    let add_path = knobs & 1 != 0;
    let Ok(routes) = decode_evpn_nlri(nlri, add_path) else {
        return;
    };
    let mut out = BytesMut::new();
    for r in &routes {
        r.emit(add_path, &mut out)
            .expect("a decoded NLRI re-encodes");
    }
    assert_eq!(&out[..], nlri);
});
