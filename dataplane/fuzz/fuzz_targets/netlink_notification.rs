//! The notification decoder (raw netlink datagrams from the kernel) never
//! panics, whatever the lengths and attributes claim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plane_dataplane::netlink::monitor::{decode, messages};

fuzz_target!(|data: &[u8]| {
    for m in messages(data) {
        let _ = decode(m);
    }
});
