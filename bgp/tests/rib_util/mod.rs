//! Builders shared by the RIB tests: a two-VNI host (AS 65000, router id
//! and VTEP 10.0.0.1, VNIs 10 and 20 with auto RD/RT), peers 10.0.1.N, and
//! EVPN UPDATEs as a peer would send them.
#![allow(dead_code)]

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use std::net::{IpAddr, Ipv4Addr};

pub const ASN: u32 = 65000;
pub const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

pub fn cfg() -> RibConfig {
    RibConfig {
        local_asn: ASN,
        router_id: ROUTER_ID,
        cluster_id: None,
        vtep: IpAddr::V4(ROUTER_ID),
        vnis: vec![VniImport::auto(10, ASN), VniImport::auto(20, ASN)],
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Peer N: address and router id 10.0.1.N, iBGP when `asn == ASN`.
pub fn peer(n: u8, asn: u32) -> (PeerId, PeerInfo) {
    let a = Ipv4Addr::new(10, 0, 1, n);
    (
        PeerId(u32::from(n)),
        PeerInfo {
            addr: IpAddr::V4(a),
            asn,
            router_id: a,
            ibgp: asn == ASN,
            rr_client: false,
            gr_helper: false,
        },
    )
}

pub fn up(rib: &mut Rib, n: u8, asn: u32) -> PeerId {
    let (id, info) = peer(n, asn);
    rib.peer_up(id, info);
    id
}

pub fn mac(n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([0x02, 0, b[0], b[1], b[2], b[3]])
}

/// The RD VTEP 10.0.1.N uses.
pub fn rd(n: u8) -> RouteDistinguisher {
    RouteDistinguisher::Ipv4 {
        addr: Ipv4Addr::new(10, 0, 1, n),
        number: 1,
    }
}

pub fn vtep(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, n))
}

pub fn type2(rd: RouteDistinguisher, mac: MacAddr, ip: Option<IpAddr>, vni: u32) -> EvpnNlri {
    EvpnNlri {
        path_id: None,
        route: EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
            rd,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac,
            ip,
            label1: vni,
            label2: None,
        }),
    }
}

pub fn type3(rd: RouteDistinguisher, originator: IpAddr) -> EvpnNlri {
    EvpnNlri {
        path_id: None,
        route: EvpnRoute::InclusiveMulticastEthernetTag(InclusiveMulticastEthernetTag {
            rd,
            ethernet_tag: 0,
            originator,
        }),
    }
}

pub fn rt(asn: u16, value: u32) -> ExtendedCommunity {
    ExtendedCommunity::RouteTarget(RouteTarget::As2 { asn, value })
}

/// Attributes as a peer sends them.
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    pub as_path: Vec<u32>,
    pub ext: Vec<ExtendedCommunity>,
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub originator: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    pub pmsi: Option<(u32, IpAddr)>,
}

impl Attrs {
    /// With route target `ASN:vni` (the auto RT of a same-AS host).
    pub fn rt(vni: u32) -> Attrs {
        Attrs {
            ext: vec![rt(65000, vni)],
            ..Attrs::default()
        }
    }

    pub fn seq(mut self, sequence: u32, sticky: bool) -> Attrs {
        self.ext
            .push(ExtendedCommunity::MacMobility { sticky, sequence });
        self
    }

    pub fn build(&self) -> Vec<PathAttribute> {
        let mut v: Vec<PathAttribute> = vec![
            AttrValue::Origin(Origin::Igp).into(),
            AttrValue::AsPath(AsPath {
                segments: if self.as_path.is_empty() {
                    vec![]
                } else {
                    vec![AsSegment {
                        kind: AsSegmentType::AsSequence,
                        asns: self.as_path.clone().into(),
                    }]
                }
                .into(),
            })
            .into(),
        ];
        if let Some(m) = self.med {
            v.push(AttrValue::MultiExitDisc(m).into());
        }
        if let Some(lp) = self.local_pref {
            v.push(AttrValue::LocalPref(lp).into());
        }
        if let Some(o) = self.originator {
            v.push(AttrValue::OriginatorId(o).into());
        }
        if !self.cluster_list.is_empty() {
            v.push(AttrValue::ClusterList(self.cluster_list.clone()).into());
        }
        let mut ext = self.ext.clone();
        ext.push(ExtendedCommunity::Encapsulation {
            tunnel_type: TUNNEL_TYPE_VXLAN,
        });
        v.push(AttrValue::ExtendedCommunities(ext.into()).into());
        if let Some((label, ep)) = self.pmsi {
            v.push(
                AttrValue::PmsiTunnel(PmsiTunnel {
                    flags: 0,
                    tunnel_type: PMSI_INGRESS_REPLICATION,
                    label,
                    tunnel_id: PmsiTunnelId::Ip(ep),
                })
                .into(),
            );
        }
        v
    }
}

pub fn reach(attrs: &Attrs, next_hop: IpAddr, nlri: Vec<EvpnNlri>) -> Update {
    let mut attributes = attrs.build();
    attributes.insert(
        0,
        AttrValue::MpReachNlri(MpReach {
            afi: afi::L2VPN,
            safi: safi::EVPN,
            next_hop: MpNextHop::from(next_hop),
            nlri: MpNlri::Evpn(nlri),
        })
        .into(),
    );
    Update {
        attributes,
        ..Update::default()
    }
}

pub fn unreach(nlri: Vec<EvpnNlri>) -> Update {
    Update {
        attributes: vec![AttrValue::MpUnreachNlri(MpUnreach {
            afi: afi::L2VPN,
            safi: safi::EVPN,
            nlri: MpNlri::Evpn(nlri),
        })
        .into()],
        ..Update::default()
    }
}

pub fn drain(rib: &mut Rib, peer: PeerId) -> Outgoing {
    rib.take_outgoing(peer, usize::MAX)
}

/// All NLRI advertised in `out`, with their attribute sets.
pub fn reached(out: &Outgoing) -> Vec<(EvpnNlri, std::sync::Arc<PathAttrs>)> {
    out.reach
        .iter()
        .flat_map(|r| r.nlri.iter().map(move |n| (n.clone(), r.attrs.clone())))
        .collect()
}

pub fn best_routes(rib: &Rib) -> Vec<RouteView> {
    rib.routes(&RouteFilter {
        best_only: true,
        ..RouteFilter::default()
    })
}

pub fn as_path(a: &PathAttrs) -> Vec<u32> {
    a.attributes()
        .iter()
        .find_map(|x| match &x.value {
            AttrValue::AsPath(p) => Some(p.segments.iter().flat_map(|s| s.asns.clone()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

pub fn has_attr(a: &PathAttrs, code: u8) -> bool {
    a.attributes().iter().any(|x| x.value.type_code() == code)
}

/// Our type-2 routes in the Loc-RIB, as (IP, sequence).
pub fn local_type2(rib: &Rib) -> Vec<(Option<IpAddr>, u32)> {
    let mut v: Vec<_> = rib
        .routes(&RouteFilter {
            route_type: Some(2),
            ..RouteFilter::default()
        })
        .into_iter()
        .filter(|r| r.source == RouteSource::Local)
        .map(|r| (r.ip, r.seq))
        .collect();
    v.sort();
    v
}
