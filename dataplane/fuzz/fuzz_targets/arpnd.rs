//! ARP/ND parsing, snooping and the proxy responder never panic, and a reply
//! only ever carries the binding the lookup returned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plane_dataplane::arpnd::{respond, snoop};
use plane_dataplane::Mac;

const BOUND: Mac = Mac([2, 0, 0, 0, 0, 2]);

fuzz_target!(|data: &[u8]| {
    let _ = snoop(data);
    if let Some(reply) = respond(data, |_| Some(BOUND)) {
        assert_eq!(reply.get(6..12), Some(&BOUND.octets()[..]));
    }
});
