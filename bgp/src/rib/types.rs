//! The RIB's public value types: configuration, peers, the dataplane event
//! stream, outgoing route sets and CLI snapshots.

use super::attrs::PathAttrs;
use crate::wire::{EvpnNlri, MacAddr, RouteDistinguisher, RouteTarget};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the RIB needs from the configuration.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RibConfig {
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    /// RFC 4456 CLUSTER_ID; the router id when `None`.
    pub cluster_id: Option<Ipv4Addr>,
    /// Our VXLAN tunnel endpoint: next hop of local routes, PMSI tunnel id.
    pub vtep: IpAddr,
    pub vnis: Vec<VniImport>,
}

/// Duplicate MAC detection (RFC 7432 section 15.1): a local MAC that moves
/// `max_moves` times within `window` is duplicate; see
/// [`super::Rib::set_duplicate_mac_detection`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DupMacDetection {
    /// N of the RFC, at least 1.
    pub max_moves: u32,
    /// M of the RFC; also how long a duplicate MAC must stay without moves
    /// to recover.
    pub window: Duration,
}

impl Default for DupMacDetection {
    /// The RFC's defaults, as FRR's: 5 moves within 180 seconds.
    fn default() -> Self {
        DupMacDetection {
            max_moves: 5,
            window: Duration::from_secs(180),
        }
    }
}

/// A local MAC found duplicate ([`super::Rib::duplicate_macs`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DuplicateMac {
    pub vni: u32,
    pub mac: MacAddr,
    /// Moves counted within the window, at least `max_moves`.
    pub moves: u32,
    /// When it was found duplicate (the driver's clock).
    pub since: Instant,
    /// The remote VTEPs it moved between with us.
    pub vteps: Vec<IpAddr>,
    /// Our routes for it are withdrawn (a remote route wins): the MAC
    /// stays where it is now, either way.
    pub moved: bool,
}

/// One VNI (MAC-VRF): its RD and route targets.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VniImport {
    pub vni: u32,
    /// `None`: auto, `router-id:index` (RFC 7432 section 7.9, as FRR).
    pub rd: Option<RouteDistinguisher>,
    /// A remote route is imported into this VNI when any of its RTs matches.
    pub import_rts: Vec<RtMatch>,
    /// RTs attached to local routes of this VNI.
    pub export_rts: Vec<RouteTarget>,
}

impl VniImport {
    /// The `rd = "auto"`, `import_rt = ["auto"]`, `export_rt = ["auto"]`
    /// VNI: auto RT `AS:VNI`, and `*:VNI` import so that eBGP fabrics (each
    /// host its own AS) work.
    pub fn auto(vni: u32, local_asn: u32) -> Self {
        let rt = auto_rt(local_asn, vni);
        VniImport {
            vni,
            rd: None,
            import_rts: vec![RtMatch::Exact(rt), RtMatch::AnyAsn(vni)],
            export_rts: vec![rt],
        }
    }
}

/// The auto route target `AS:VNI` (RFC 8365 section 5.1.2.1), as FRR derives
/// it: a 2-octet-AS RT with the low 16 bits of the ASN, because a 4-octet-AS
/// RT has no room for a 24-bit VNI.
pub fn auto_rt(local_asn: u32, vni: u32) -> RouteTarget {
    RouteTarget::As2 {
        asn: (local_asn & 0xffff) as u16,
        value: vni,
    }
}

/// An import rule: what an imported route's route targets are matched
/// against. The one type for it: the config (`import-rt`), the control
/// protocol and the RIB all use this.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum RtMatch {
    /// The route carries exactly this route target.
    Exact(RouteTarget),
    /// `*:N`: any AS-type route target (type 0x00 or 0x02) whose assigned
    /// number is N, whatever the ASN: eBGP fabrics where every host has its
    /// own ASN and exports `ASN:VNI` (FRR's `route-target import *:N`).
    AnyAsn(u32),
}

impl RtMatch {
    /// True when `rt` satisfies this import rule.
    pub fn matches(&self, rt: &RouteTarget) -> bool {
        match (self, rt) {
            (RtMatch::Exact(want), got) => want == got,
            (RtMatch::AnyAsn(n), RouteTarget::As2 { value, .. }) => value == n,
            (RtMatch::AnyAsn(n), RouteTarget::As4 { value, .. }) => u32::from(*value) == *n,
            (RtMatch::AnyAsn(_), RouteTarget::Ipv4 { .. }) => false,
        }
    }
}

/// As the config writes it: the route target, or `*:N`.
impl std::fmt::Display for RtMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RtMatch::Exact(rt) => rt.fmt(f),
            RtMatch::AnyAsn(n) => write!(f, "*:{n}"),
        }
    }
}

/// A peer, as the session driver names it. Any value; the RIB never
/// interprets it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerId(pub u32);

/// What the RIB needs to know about an established session.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PeerInfo {
    pub addr: IpAddr,
    pub asn: u32,
    /// The peer's BGP identifier from its OPEN.
    pub router_id: Ipv4Addr,
    /// `asn == local_asn`.
    pub ibgp: bool,
    /// RFC 4456: this iBGP peer is our route-reflector client.
    pub rr_client: bool,
    /// RFC 4724 helper: both sides negotiated graceful restart for EVPN, so
    /// a session loss keeps this peer's routes as stale.
    pub gr_helper: bool,
}

/// Where a route came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum RouteSource {
    Local,
    Peer(PeerId),
}

/// The dataplane stream: best remote paths per VNI. `MacIpBest` replaces
/// whatever the dataplane has for (vni, mac, ip); `MacIpWithdrawn` removes it.
/// Local winners never appear; a local route that wins over a remote one
/// turns into `MacIpWithdrawn` for the remote one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RibEvent {
    MacIpBest {
        vni: u32,
        mac: MacAddr,
        /// `None`: the MAC-only route (FDB entry only).
        ip: Option<IpAddr>,
        vtep: IpAddr,
        /// RFC 7432 MAC Mobility sequence number.
        seq: u32,
        sticky: bool,
        rd: RouteDistinguisher,
        peer: PeerId,
    },
    MacIpWithdrawn {
        vni: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
    },
    /// A remote VTEP joined the VNI's flood list (type-3 IMET).
    FloodAdd {
        vni: u32,
        vtep: IpAddr,
    },
    FloodRemove {
        vni: u32,
        vtep: IpAddr,
    },
}

/// NLRI that share one attribute set: one MP_REACH_NLRI UPDATE (or several,
/// when they do not fit in one message).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutReach {
    /// Attributes (without MP_REACH_NLRI) and the next hop.
    pub attrs: Arc<PathAttrs>,
    pub nlri: Vec<EvpnNlri>,
}

/// What to send a peer now.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Outgoing {
    pub reach: Vec<OutReach>,
    pub unreach: Vec<EvpnNlri>,
    /// Send End-of-RIB for L2VPN/EVPN (RFC 4724 section 2) after the above:
    /// the peer's initial table is complete. True once per session.
    pub end_of_rib: bool,
}

impl Outgoing {
    pub fn is_empty(&self) -> bool {
        self.reach.is_empty() && self.unreach.is_empty() && !self.end_of_rib
    }

    /// Number of NLRI in `reach` and `unreach`.
    pub fn nlri_count(&self) -> usize {
        self.reach.iter().map(|r| r.nlri.len()).sum::<usize>() + self.unreach.len()
    }
}

/// Which routes [`super::Rib::routes`] returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RouteFilter {
    pub route_type: Option<u8>,
    pub vni: Option<u32>,
    pub best_only: bool,
}

/// One path, for `planectl show routes`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RouteView {
    pub route_type: u8,
    pub rd: Option<RouteDistinguisher>,
    /// Type 2: label 1; type 3: the PMSI label, else the Ethernet tag.
    pub vni: Option<u32>,
    pub nexthop: Option<IpAddr>,
    pub source: RouteSource,
    /// The peer's address when `source` is a peer.
    pub peer_addr: Option<IpAddr>,
    pub best: bool,
    pub stale: bool,
    pub mac: Option<MacAddr>,
    pub ip: Option<IpAddr>,
    pub seq: u32,
    pub sticky: bool,
    /// Type 3: the originating router's IP.
    pub originator: Option<IpAddr>,
    pub rts: Vec<RouteTarget>,
    /// Tunnel type of the Encapsulation extended community (RFC 9012
    /// section 4.1; 8 = VXLAN), when the path carries one.
    pub encapsulation: Option<u16>,
    /// The PMSI Tunnel attribute (type 3), when the path carries one.
    pub pmsi: Option<PmsiView>,
}

/// A path's PMSI Tunnel attribute (RFC 6514 section 5) as
/// [`RouteView`] shows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PmsiView {
    /// 6 = ingress replication, the only type RFC 8365 uses for VXLAN.
    pub tunnel_type: u8,
    /// The MPLS label field: the VNI for VXLAN (RFC 8365 section 5.1.3).
    pub label: u32,
    /// The tunnel endpoint, when the tunnel identifier is an IP address.
    pub endpoint: Option<IpAddr>,
}

/// Per-peer prefix counts (`show neighbors`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PeerCounts {
    /// Paths from this peer in the RIB (stale ones included).
    pub received: u64,
    /// Routes currently advertised to this peer.
    pub sent: u64,
}

/// Errors of the RIB API. None of them is a reason to reset a session: the
/// RIB has already applied RFC 7606 treat-as-withdraw where one applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    #[error("peer {0:?} is not up in the RIB")]
    UnknownPeer(PeerId),
    #[error("VNI {0} is not configured")]
    UnknownVni(u32),
    #[error("UPDATE from {peer}: EVPN next hop is not an IPv4 or IPv6 address; {count} routes treated as withdrawn (RFC 7606)")]
    BadNextHop { peer: IpAddr, count: usize },
}
