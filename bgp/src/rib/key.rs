//! Compact EVPN route keys and the per-path NLRI fields that are not part
//! of the key.
//!
//! RFC 7432 section 7.2: for a MAC/IP Advertisement route only the RD, the
//! Ethernet Tag ID, the MAC and the IP address are the route key; the ESI
//! and both MPLS labels (the VNI with VXLAN) are route attributes. Section
//! 7.3: an IMET route's key is the RD, the Ethernet Tag ID and the
//! originating router's IP. Other route types (1, 4, 5 and unknown) are
//! stored and reflected whole: their full NLRI is the key.
//!
//! Invariant: `RouteKey::from_route(r).0.to_route(&data)` gives back `r`
//! (up to the RD normalisation of [`RouteDistinguisher::from_bytes`]), so what plane sends
//! is what it received.
//!
//! Keys are kept small (40 bytes) because the RIB stores one per route.

use crate::wire::{
    Esi, EvpnNlri, EvpnRoute, InclusiveMulticastEthernetTag, MacAddr, MacIpAdvertisement,
    RouteDistinguisher,
};
use std::net::IpAddr;

/// The identity of a route in the Loc-RIB (RD plus route-type key).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum RouteKey {
    /// Type 2. `rd` in its 8-octet wire form.
    MacIp {
        rd: [u8; 8],
        tag: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
    },
    /// Type 3.
    Imet {
        rd: [u8; 8],
        tag: u32,
        originator: IpAddr,
    },
    /// Any other route type, whole.
    Other(Box<EvpnRoute>),
}

/// Label value meaning "no second label" (labels are 24-bit).
const NO_LABEL: u32 = u32::MAX;

/// The NLRI fields of a type-2 route that RFC 7432 treats as attributes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct NlriData {
    pub esi: Esi,
    pub label1: u32,
    label2: u32,
}

impl NlriData {
    pub const NONE: NlriData = NlriData {
        esi: Esi::ZERO,
        label1: 0,
        label2: NO_LABEL,
    };

    pub fn new(esi: Esi, label1: u32, label2: Option<u32>) -> Self {
        NlriData {
            esi,
            label1,
            label2: label2.unwrap_or(NO_LABEL),
        }
    }

    pub fn label2(&self) -> Option<u32> {
        (self.label2 != NO_LABEL).then_some(self.label2)
    }
}

impl RouteKey {
    /// Split a received route into its key and its attribute-like fields.
    pub fn from_route(route: &EvpnRoute) -> (RouteKey, NlriData) {
        match route {
            EvpnRoute::MacIpAdvertisement(r) => (
                RouteKey::MacIp {
                    rd: r.rd.to_bytes(),
                    tag: r.ethernet_tag,
                    mac: r.mac,
                    ip: r.ip,
                },
                NlriData::new(r.esi, r.label1, r.label2),
            ),
            EvpnRoute::InclusiveMulticastEthernetTag(r) => (
                RouteKey::Imet {
                    rd: r.rd.to_bytes(),
                    tag: r.ethernet_tag,
                    originator: r.originator,
                },
                NlriData::NONE,
            ),
            other => (RouteKey::Other(Box::new(other.clone())), NlriData::NONE),
        }
    }

    /// The NLRI to send for this key with the given path fields.
    pub fn to_nlri(&self, data: &NlriData) -> EvpnNlri {
        let route = match self {
            RouteKey::MacIp { rd, tag, mac, ip } => {
                EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
                    rd: RouteDistinguisher::from_bytes(*rd),
                    esi: data.esi,
                    ethernet_tag: *tag,
                    mac: *mac,
                    ip: *ip,
                    label1: data.label1,
                    label2: data.label2(),
                })
            }
            RouteKey::Imet {
                rd,
                tag,
                originator,
            } => EvpnRoute::InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag {
                rd: RouteDistinguisher::from_bytes(*rd),
                ethernet_tag: *tag,
                originator: *originator,
            }),
            RouteKey::Other(route) => (**route).clone(),
        };
        EvpnNlri {
            path_id: None,
            route,
        }
    }

    pub fn route_type(&self) -> u8 {
        match self {
            RouteKey::MacIp { .. } => 2,
            RouteKey::Imet { .. } => 3,
            RouteKey::Other(r) => r.route_type(),
        }
    }

    pub fn rd(&self) -> Option<RouteDistinguisher> {
        match self {
            RouteKey::MacIp { rd, .. } | RouteKey::Imet { rd, .. } => {
                Some(RouteDistinguisher::from_bytes(*rd))
            }
            RouteKey::Other(r) => r.rd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn rd_round_trips_through_wire_form() {
        let rds = [
            RouteDistinguisher::As2 {
                asn: 65000,
                number: 100_000,
            },
            RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                number: 7,
            },
            RouteDistinguisher::As4 {
                asn: 4_200_000_000,
                number: 3,
            },
            RouteDistinguisher::Unknown {
                rd_type: 9,
                value: [1, 2, 3, 4, 5, 6],
            },
        ];
        for rd in rds {
            assert_eq!(RouteDistinguisher::from_bytes(rd.to_bytes()), rd);
        }
    }

    #[test]
    fn labels_and_esi_are_not_part_of_the_type2_key() {
        let mk = |label1, esi| {
            EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
                rd: RouteDistinguisher::As2 { asn: 1, number: 1 },
                esi,
                ethernet_tag: 0,
                mac: MacAddr([0, 1, 2, 3, 4, 5]),
                ip: None,
                label1,
                label2: None,
            })
        };
        let (k1, d1) = RouteKey::from_route(&mk(10, Esi::ZERO));
        let (k2, d2) = RouteKey::from_route(&mk(20, Esi([1; 10])));
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
        assert_eq!(k2.to_nlri(&d2).route, mk(20, Esi([1; 10])));
    }

    #[test]
    fn key_stays_small() {
        assert!(
            std::mem::size_of::<RouteKey>() <= 40,
            "{}",
            std::mem::size_of::<RouteKey>()
        );
    }
}
