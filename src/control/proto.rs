//! The control protocol: typed requests, replies and errors, and how they
//! travel on the socket.
//!
//! Framing (newline-delimited JSON, one JSON value per line, UTF-8):
//!
//! ```text
//! client → {"request":"show_routes","vni":10}
//! server ← {"item":{"type":2,"rd":"10.0.0.1:1","vni":10,...}}     zero or more
//! server ← {"end":{"count":1}}                                    or
//! server ← {"error":{"code":"not_found","message":"..."}}
//! ```
//!
//! Every request gets exactly one terminating line, `end` or `error`, so a
//! reader never has to guess whether a dump is complete (OpenBGPD's
//! `IMSG_CTL_END`). A connection carries any number of requests, one after
//! the other. A request line is at most [`MAX_REQUEST_BYTES`].
//!
//! The item DTOs carry exactly the JSON fields of design.md (`show ... --json`
//! prints them); RDs, RTs and MACs are strings (`10.0.0.1:1`, `65000:10`,
//! `aa:bb:cc:dd:ee:ff`), addresses have no prefix length.
//!
//! What it never does: I/O. Invariant: a [`Route`]'s `type` is derived from
//! its kind, so the two can never disagree.

use crate::config::values::{
    check_ifname, parse_unicast_mac, serde_mac, serde_opt_mac, serde_rd, serde_rt_match_vec,
    serde_rt_vec,
};
use crate::config::{BumMode, IpCidr, RtMatch, MAX_VNI};
use plane_bgp::wire::{MacAddr, RouteDistinguisher, RouteTarget, TUNNEL_TYPE_VXLAN};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// Largest request line the server reads; longer ones get
/// [`ErrorCode::RequestTooLarge`] and the connection is closed.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Largest reply line the client reads (one route, neighbour, VNI...).
pub const MAX_REPLY_LINE_BYTES: usize = 4 * 1024 * 1024;

/// A request to planed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// EVPN routes of the RIB (received and local), best or not.
    ShowRoutes(RouteFilter),
    /// Configured BGP neighbours and their sessions.
    ShowNeighbors,
    /// Configured VNIs with their counters.
    ShowVnis,
    /// Local endpoints (containers) attached to VNIs.
    ShowEndpoints(VniFilter),
    /// What is programmed in the kernel per VNI.
    ShowFdb(VniFilter),
    /// One object: the daemon at a glance.
    ShowSummary,
    /// Attaches an endpoint; replies with the endpoint as planed made it.
    /// Idempotent: the same spec again replies with the existing endpoint; a
    /// different spec for the same <VNI, MAC> is [`ErrorCode::AlreadyExists`].
    EndpointAdd(EndpointSpec),
    /// Detaches an endpoint (and deletes the veth plane made for it).
    /// Deleting what is not there is success (CNI DEL must be idempotent).
    EndpointDel(EndpointKey),
    /// One endpoint, or [`ErrorCode::NotFound`] (for CNI CHECK).
    EndpointGet(EndpointKey),
}

impl Request {
    /// True for requests that change state: only root or members of
    /// `[control] group` may send them.
    pub fn is_change(&self) -> bool {
        matches!(self, Request::EndpointAdd(_) | Request::EndpointDel(_))
    }

    /// Checks the request's arguments (see [`EndpointSpec::validate`]).
    pub fn validate(&self) -> Result<(), ControlError> {
        match self {
            Request::EndpointAdd(spec) => spec.validate(),
            Request::EndpointDel(key) | Request::EndpointGet(key) => key.validate(),
            _ => Ok(()),
        }
    }

    /// The verb as written on the wire (`show_routes`), for logs.
    pub fn verb(&self) -> &'static str {
        match self {
            Request::ShowRoutes(_) => "show_routes",
            Request::ShowNeighbors => "show_neighbors",
            Request::ShowVnis => "show_vnis",
            Request::ShowEndpoints(_) => "show_endpoints",
            Request::ShowFdb(_) => "show_fdb",
            Request::ShowSummary => "show_summary",
            Request::EndpointAdd(_) => "endpoint_add",
            Request::EndpointDel(_) => "endpoint_del",
            Request::EndpointGet(_) => "endpoint_get",
        }
    }
}

/// `show routes` filters; absent fields match everything.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// EVPN route type (2 or 3).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub route_type: Option<u8>,
    #[serde(with = "serde_opt_mac", skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
}

impl RouteFilter {
    /// True when `route` passes the filter (for handlers that filter a dump).
    pub fn matches(&self, route: &Route) -> bool {
        self.vni.is_none_or(|v| v == route.vni)
            && self.route_type.is_none_or(|t| t == route.route_type())
            && self
                .mac
                .is_none_or(|m| matches!(route.kind, RouteKind::MacIp { mac, .. } if mac == m))
    }
}

/// A filter on one VNI; absent matches every VNI.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VniFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
}

/// An endpoint's identity: a MAC within a VNI (two VNIs may reuse a MAC).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointKey {
    pub vni: u32,
    #[serde(with = "serde_mac")]
    pub mac: MacAddr,
}

/// How an endpoint reaches its VNI's bridge.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Attach {
    /// The host-side interface already exists (a veth made by someone else);
    /// plane enslaves it to the bridge.
    Port { ifname: String },
    /// plane makes a veth pair: the host end on the bridge, the other end
    /// moved into `netns` and named `ifname`, with the MAC and addresses set.
    Netns {
        /// A namespace file (`/var/run/netns/x`, `/proc/PID/ns/net`) or a PID.
        netns: String,
        /// Interface name inside the namespace (`eth0`).
        ifname: String,
    },
}

impl Attach {
    /// The namespace file to open: a PID becomes `/proc/PID/ns/net`.
    /// `None` for [`Attach::Port`].
    pub fn netns_path(&self) -> Option<PathBuf> {
        match self {
            Attach::Port { .. } => None,
            Attach::Netns { netns, .. } => Some(match netns.parse::<u32>() {
                Ok(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
                Err(_) => PathBuf::from(netns),
            }),
        }
    }
}

impl fmt::Display for Attach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attach::Port { ifname } => write!(f, "port {ifname}"),
            Attach::Netns { netns, ifname } => write!(f, "netns {netns} {ifname}"),
        }
    }
}

/// What `endpoint add` asks for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    pub vni: u32,
    #[serde(with = "serde_mac")]
    pub mac: MacAddr,
    /// Addresses with prefix length; may be empty (MAC-only endpoint).
    pub ips: Vec<IpCidr>,
    pub attach: Attach,
}

impl EndpointSpec {
    pub fn key(&self) -> EndpointKey {
        EndpointKey {
            vni: self.vni,
            mac: self.mac,
        }
    }

    /// Checks what can be checked without the daemon's state: a 24-bit VNI,
    /// a unicast MAC, valid interface names, a namespace given as an absolute
    /// path or a PID, no address twice. The server runs it before the handler
    /// sees the request.
    pub fn validate(&self) -> Result<(), ControlError> {
        self.key().validate()?;
        let bad = |why: String| Err(ControlError::invalid(why));
        match &self.attach {
            Attach::Port { ifname } => {
                if let Err(why) = check_ifname(ifname) {
                    return bad(format!("attach.ifname: {why}"));
                }
            }
            Attach::Netns { netns, ifname } => {
                if let Err(why) = check_ifname(ifname) {
                    return bad(format!("attach.ifname: {why}"));
                }
                if netns.parse::<u32>().is_err() && !netns.starts_with('/') {
                    return bad(format!(
                        "attach.netns: an absolute path or a PID expected, got {netns:?}"
                    ));
                }
            }
        }
        for (i, a) in self.ips.iter().enumerate() {
            if self.ips.iter().skip(i + 1).any(|b| b.addr == a.addr) {
                return bad(format!("ips: {} given twice", a.addr));
            }
            if a.addr.is_unspecified() || a.addr.is_multicast() || a.addr.is_loopback() {
                return bad(format!("ips: {a} is not a unicast host address"));
            }
        }
        Ok(())
    }
}

impl EndpointKey {
    /// A 24-bit VNI and a unicast MAC.
    pub fn validate(&self) -> Result<(), ControlError> {
        if self.vni == 0 || self.vni > MAX_VNI {
            return Err(ControlError::invalid(format!(
                "vni: 24-bit VNI expected, got {}",
                self.vni
            )));
        }
        parse_unicast_mac(&self.mac.to_string())
            .map_err(|why| ControlError::invalid(format!("mac: {why}")))?;
        Ok(())
    }
}

/// A local endpoint as planed holds it (`show endpoints`, `endpoint add|get`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Endpoint {
    pub vni: u32,
    #[serde(with = "serde_mac")]
    pub mac: MacAddr,
    pub ips: Vec<IpCidr>,
    pub attach: Attach,
    /// Host-side interface on the bridge (the given port, or the veth end
    /// plane made).
    pub port: String,
    /// The VNI's bridge.
    pub bridge: String,
    /// Whether planed advertises it. Filled in by planed when it answers;
    /// absent from older state files (then `active`).
    #[serde(default)]
    pub state: EndpointState,
}

/// Whether a local endpoint's type-2 routes are advertised.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    /// Its routes are advertised: the MAC is here.
    #[default]
    Active,
    /// A remote VTEP advertises the MAC with a higher MAC Mobility sequence
    /// number (or the same one from a lower VTEP address): the MAC moved
    /// there, so planed withdrew the endpoint's routes (RFC 7432 section
    /// 15). The endpoint stays registered with its port; its routes come
    /// back when the remote route is withdrawn, or at once, above the
    /// remote sequence, when the same endpoint is added again.
    Moved,
    /// Its MAC moved back and forth between this host and another VTEP
    /// too often (RFC 7432 section 15.1 duplicate MAC detection: `max_moves`
    /// within `window` of `[evpn.duplicate_mac]`): planed no longer takes
    /// it back with a higher sequence number, and the MAC stays where it
    /// was at detection (advertised here or not, as `show routes --mac M`
    /// shows). It clears when the MAC has not moved for `window`, or when
    /// the endpoint is deleted.
    Duplicate,
}

impl fmt::Display for EndpointState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointState::Active => "active",
            EndpointState::Moved => "moved",
            EndpointState::Duplicate => "duplicate",
        })
    }
}

/// Where a route came from: `"local"` or the peer's address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RouteSource {
    Local,
    Peer(IpAddr),
}

impl fmt::Display for RouteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteSource::Local => f.write_str("local"),
            RouteSource::Peer(a) => a.fmt(f),
        }
    }
}

impl Serialize for RouteSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RouteSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        if text == "local" {
            return Ok(RouteSource::Local);
        }
        text.parse().map(RouteSource::Peer).map_err(|_| {
            serde::de::Error::custom(format!(
                "\"local\" or a peer address expected, got {text:?}"
            ))
        })
    }
}

/// The route-type specific part of a [`Route`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RouteKind {
    /// Type 2, MAC/IP Advertisement (RFC 7432 section 7.2).
    MacIp {
        mac: MacAddr,
        /// `None` for a MAC-only route.
        ip: Option<IpAddr>,
        /// MAC Mobility sequence number (RFC 7432 section 15), 0 when absent.
        seq: u32,
    },
    /// Type 3, Inclusive Multicast Ethernet Tag (RFC 7432 section 7.3).
    Imet { originator: IpAddr },
}

/// One EVPN route of the RIB (`show routes`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(into = "RouteJson", try_from = "RouteJson")]
pub struct Route {
    pub rd: RouteDistinguisher,
    pub vni: u32,
    /// The VTEP (MP_REACH next hop).
    pub nexthop: IpAddr,
    pub source: RouteSource,
    /// Selected by best-path selection.
    pub best: bool,
    /// Route targets the route carries.
    pub route_targets: Vec<RouteTarget>,
    /// Tunnel type of the Encapsulation extended community (RFC 9012
    /// section 4.1; 8 = VXLAN), when the route carries one.
    pub encap: Option<u16>,
    /// The PMSI Tunnel attribute (type 3), when the route carries one.
    pub pmsi: Option<Pmsi>,
    pub kind: RouteKind,
}

/// A route's PMSI Tunnel attribute (RFC 6514 section 5); for VXLAN EVPN
/// (RFC 8365 section 5.1.3) ingress replication, label = VNI, endpoint =
/// the VTEP.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Pmsi {
    /// 6 = ingress replication.
    pub tunnel_type: u8,
    pub label: u32,
    /// `None` when the tunnel identifier is not an IP address.
    pub endpoint: Option<IpAddr>,
}

/// `encap` in JSON: `"vxlan"` for tunnel type 8, else the number as a
/// string, `null` when absent.
mod serde_encap {
    use super::TUNNEL_TYPE_VXLAN;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u16>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(TUNNEL_TYPE_VXLAN) => s.serialize_str("vxlan"),
            Some(t) => s.serialize_str(&t.to_string()),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        if text == "vxlan" {
            return Ok(Some(TUNNEL_TYPE_VXLAN));
        }
        text.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "encap: \"vxlan\" or a tunnel type 0-65535 expected, got {text:?}"
            ))
        })
    }
}

impl Route {
    /// 2 or 3.
    pub fn route_type(&self) -> u8 {
        match self.kind {
            RouteKind::MacIp { .. } => 2,
            RouteKind::Imet { .. } => 3,
        }
    }
}

/// The JSON shape of a [`Route`]: design.md's fields, flat.
#[derive(Serialize, Deserialize)]
struct RouteJson {
    #[serde(rename = "type")]
    route_type: u8,
    #[serde(with = "serde_rd")]
    rd: RouteDistinguisher,
    vni: u32,
    nexthop: IpAddr,
    source: RouteSource,
    best: bool,
    #[serde(
        with = "serde_opt_mac",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    mac: Option<MacAddr>,
    /// Type 2 always writes `ip` (null when MAC-only); type 3 never does.
    #[serde(default, skip_serializing_if = "OptionalIp::is_absent")]
    ip: OptionalIp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    originator: Option<IpAddr>,
    #[serde(with = "serde_rt_vec", default)]
    route_targets: Vec<RouteTarget>,
    /// Always written, `null` when absent.
    #[serde(with = "serde_encap", default)]
    encap: Option<u16>,
    /// Always written, `null` when absent.
    #[serde(default)]
    pmsi: Option<Pmsi>,
}

/// `ip` of a route's JSON: absent (type 3), null (MAC-only) or an address.
#[derive(Default)]
enum OptionalIp {
    #[default]
    Absent,
    Present(Option<IpAddr>),
}

impl OptionalIp {
    fn is_absent(&self) -> bool {
        matches!(self, OptionalIp::Absent)
    }
}

impl Serialize for OptionalIp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OptionalIp::Absent | OptionalIp::Present(None) => s.serialize_none(),
            OptionalIp::Present(Some(ip)) => ip.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for OptionalIp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<IpAddr>::deserialize(d).map(OptionalIp::Present)
    }
}

impl From<Route> for RouteJson {
    fn from(r: Route) -> RouteJson {
        let route_type = r.route_type();
        let (mac, ip, seq, originator) = match r.kind {
            RouteKind::MacIp { mac, ip, seq } => {
                (Some(mac), OptionalIp::Present(ip), Some(seq), None)
            }
            RouteKind::Imet { originator } => (None, OptionalIp::Absent, None, Some(originator)),
        };
        RouteJson {
            route_type,
            rd: r.rd,
            vni: r.vni,
            nexthop: r.nexthop,
            source: r.source,
            best: r.best,
            mac,
            ip,
            seq,
            originator,
            route_targets: r.route_targets,
            encap: r.encap,
            pmsi: r.pmsi,
        }
    }
}

impl TryFrom<RouteJson> for Route {
    type Error = String;
    fn try_from(j: RouteJson) -> Result<Route, String> {
        let kind = match (j.route_type, j.mac, j.originator) {
            (2, Some(mac), None) => RouteKind::MacIp {
                mac,
                ip: match j.ip {
                    OptionalIp::Present(ip) => ip,
                    OptionalIp::Absent => None,
                },
                seq: j.seq.unwrap_or(0),
            },
            (3, None, Some(originator)) => RouteKind::Imet { originator },
            (2, _, _) => return Err("a type 2 route has a mac and no originator".into()),
            (3, _, _) => return Err("a type 3 route has an originator and no mac".into()),
            (t, _, _) => return Err(format!("route type 2 or 3 expected, got {t}")),
        };
        Ok(Route {
            rd: j.rd,
            vni: j.vni,
            nexthop: j.nexthop,
            source: j.source,
            best: j.best,
            route_targets: j.route_targets,
            encap: j.encap,
            pmsi: j.pmsi,
            kind,
        })
    }
}

/// BGP session state, RFC 4271 section 8.2.2 names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One configured neighbour (`show neighbors`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Neighbor {
    pub address: IpAddr,
    pub remote_asn: u32,
    pub state: SessionState,
    /// EVPN prefixes received from the peer and currently held.
    pub received: u64,
    /// EVPN prefixes advertised to the peer.
    pub sent: u64,
    /// The peer sent End-of-RIB for L2VPN/EVPN on the current session: its
    /// initial table is complete (RFC 4724 section 2). False while not
    /// Established, and from a planed that predates the field.
    #[serde(default)]
    pub end_of_rib: bool,
    /// Seconds since the session came up (Established) or went down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// Why the last session ended (NOTIFICATION sent/received, I/O error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Neighbor {
    /// A configured neighbour before any session: Idle, nothing exchanged.
    pub fn configured(n: &crate::config::NeighborConfig) -> Neighbor {
        Neighbor {
            address: n.address,
            remote_asn: n.remote_asn,
            state: SessionState::Idle,
            received: 0,
            sent: 0,
            end_of_rib: false,
            uptime_secs: None,
            last_error: None,
            description: n.description.clone(),
        }
    }
}

/// One configured VNI (`show vnis`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct VniInfo {
    pub vni: u32,
    pub bridge: String,
    pub vxlan: String,
    #[serde(with = "serde_rd")]
    pub rd: RouteDistinguisher,
    #[serde(with = "serde_rt_match_vec")]
    pub import_rt: Vec<RtMatch>,
    #[serde(with = "serde_rt_vec")]
    pub export_rt: Vec<RouteTarget>,
    pub bum: BumMode,
    /// Local endpoints (MACs) on this VNI.
    pub local_macs: u64,
    /// Remote MACs learnt from type-2 routes.
    pub remote_macs: u64,
    /// Remote VTEPs of this VNI (from type-3 routes).
    pub remote_vteps: Vec<IpAddr>,
}

impl VniInfo {
    /// A configured VNI with zero counters, for the daemon to fill in.
    pub fn configured(v: &crate::config::VniConfig) -> VniInfo {
        VniInfo {
            vni: v.id,
            bridge: v.bridge.clone(),
            vxlan: v.vxlan.clone(),
            rd: v.rd,
            import_rt: v.import_rt.clone(),
            export_rt: v.export_rt.clone(),
            bum: v.bum,
            local_macs: 0,
            remote_macs: 0,
            remote_vteps: Vec::new(),
        }
    }
}

/// A remote MAC programmed in the bridge FDB of a VXLAN device.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FdbMac {
    #[serde(with = "serde_mac")]
    pub mac: MacAddr,
    pub vtep: IpAddr,
}

/// A suppression neighbour entry (ARP/ND answered locally).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FdbNeighbor {
    pub ip: IpAddr,
    #[serde(with = "serde_mac")]
    pub mac: MacAddr,
}

/// What is programmed in the kernel for one VNI (`show fdb`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FdbVni {
    pub vni: u32,
    pub vxlan: String,
    pub remote_macs: Vec<FdbMac>,
    pub neighbors: Vec<FdbNeighbor>,
    /// VTEPs that get BUM copies (all-zero FDB entries); empty with
    /// `bum = "suppress"`.
    #[serde(default)]
    pub flood: Vec<IpAddr>,
}

/// The daemon at a glance (`show summary`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub version: String,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub local_vtep: IpAddr,
    pub uptime_secs: u64,
    pub neighbors: u64,
    pub neighbors_established: u64,
    pub vnis: u64,
    pub endpoints: u64,
    /// EVPN routes in the RIB (all paths).
    pub routes: u64,
}

/// What a [`crate::control::ControlHandler`] answers; each variant belongs to
/// the requests listed with it (checked by the server).
#[derive(Clone, PartialEq, Debug)]
pub enum Response {
    /// `show_routes`.
    Routes(Vec<Route>),
    /// `show_neighbors`.
    Neighbors(Vec<Neighbor>),
    /// `show_vnis`.
    Vnis(Vec<VniInfo>),
    /// `show_endpoints`.
    Endpoints(Vec<Endpoint>),
    /// `show_fdb`.
    Fdb(Vec<FdbVni>),
    /// `show_summary`.
    Summary(Summary),
    /// `endpoint_add`, `endpoint_get`.
    Endpoint(Endpoint),
    /// `endpoint_del`.
    Done,
}

impl Response {
    /// True when this is the kind of answer `request` expects.
    pub fn answers(&self, request: &Request) -> bool {
        matches!(
            (self, request),
            (Response::Routes(_), Request::ShowRoutes(_))
                | (Response::Neighbors(_), Request::ShowNeighbors)
                | (Response::Vnis(_), Request::ShowVnis)
                | (Response::Endpoints(_), Request::ShowEndpoints(_))
                | (Response::Fdb(_), Request::ShowFdb(_))
                | (Response::Summary(_), Request::ShowSummary)
                | (
                    Response::Endpoint(_),
                    Request::EndpointAdd(_) | Request::EndpointGet(_)
                )
                | (Response::Done, Request::EndpointDel(_))
        )
    }

    /// The items of the reply, in order.
    pub fn into_items(self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        fn all<T: Serialize>(v: Vec<T>) -> Result<Vec<serde_json::Value>, serde_json::Error> {
            v.into_iter().map(serde_json::to_value).collect()
        }
        match self {
            Response::Routes(v) => all(v),
            Response::Neighbors(v) => all(v),
            Response::Vnis(v) => all(v),
            Response::Endpoints(v) => all(v),
            Response::Fdb(v) => all(v),
            Response::Summary(s) => all(vec![s]),
            Response::Endpoint(e) => all(vec![e]),
            Response::Done => Ok(Vec::new()),
        }
    }
}

/// Why a request failed; the `code` is for programs, the message for people.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    pub code: ErrorCode,
    pub message: String,
}

/// The kinds of [`ControlError`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, unknown request, missing or malformed field.
    BadRequest,
    /// The request line is longer than [`MAX_REQUEST_BYTES`].
    RequestTooLarge,
    /// A change requested by someone neither root nor in `[control] group`.
    PermissionDenied,
    /// The VNI, endpoint... does not exist.
    NotFound,
    /// A different endpoint already holds this <VNI, MAC>.
    AlreadyExists,
    /// Well-formed but not acceptable (an address of the wrong family...).
    InvalidArgument,
    /// Too many connections, or the daemon is starting or stopping.
    Unavailable,
    /// A bug or a kernel failure; the message says which.
    Internal,
    /// A code this client does not know (a newer planed).
    #[serde(other)]
    Unknown,
}

impl ControlError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ControlError {
        ControlError {
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ControlError {
        ControlError::new(ErrorCode::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> ControlError {
        ControlError::new(ErrorCode::NotFound, message)
    }
    pub fn invalid(message: impl Into<String>) -> ControlError {
        ControlError::new(ErrorCode::InvalidArgument, message)
    }
    pub fn unavailable(message: impl Into<String>) -> ControlError {
        ControlError::new(ErrorCode::Unavailable, message)
    }
    pub fn internal(message: impl Into<String>) -> ControlError {
        ControlError::new(ErrorCode::Internal, message)
    }
}

/// One line the server writes.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyLine {
    /// One object of the answer.
    Item(serde_json::Value),
    /// The answer is complete: `count` items were sent.
    End { count: u64 },
    /// The request failed; no further line belongs to it.
    Error(ControlError),
}
