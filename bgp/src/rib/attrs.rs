//! Shared path attribute sets: what many routes of one UPDATE have in
//! common, stored once.
//!
//! A [`PathAttrs`] is the attributes of an UPDATE without MP_REACH_NLRI /
//! MP_UNREACH_NLRI, plus the MP_REACH next hop, plus values derived once
//! for the decision process (RFC 4271 section 9.1.2.2) so that comparing
//! two paths reads fields instead of walking attribute lists.
//!
//! [`AttrTable`] interns them: equal sets are one `Arc`, so a million
//! routes from a hundred UPDATEs hold a hundred attribute sets. Entries
//! no route refers to any more are dropped by a sweep that runs when the
//! table has doubled since the last one (amortised O(1) per insert).
//!
//! Export rewriting (RFC 4271 section 5.1, RFC 4456 section 8) builds a new
//! set from a stored one: it never mutates a shared set.

use crate::wire::{
    AsPath, AsSegment, AsSegmentType, AttrValue, ExtendedCommunity, MpNextHop, Origin,
    PathAttribute, PmsiTunnel, PmsiTunnelId, RouteTarget,
};
use hashbrown::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// LOCAL_PREF assumed when a path has none (RFC 4271 leaves it to
/// configuration; 100 is what FRR, GoBGP and every vendor use).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// A path attribute set as stored in the RIB and as handed to the encoder.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PathAttrs {
    attrs: Vec<PathAttribute>,
    next_hop: MpNextHop,
    derived: Derived,
}

/// Values the decision process and the dataplane view read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Derived {
    origin: Origin,
    local_pref: Option<u32>,
    med: Option<u32>,
    as_path_len: u32,
    neighbor_as: Option<u32>,
    originator_id: Option<Ipv4Addr>,
    cluster_list_len: u32,
    /// RFC 7432 section 7.7: (sticky, sequence).
    mac_mobility: Option<(bool, u32)>,
    /// RFC 6514 section 5: PMSI label and tunnel endpoint.
    pmsi: Option<(u32, Option<IpAddr>)>,
}

impl PathAttrs {
    /// A set from attributes (MP_REACH / MP_UNREACH are dropped: the RIB
    /// stores NLRI separately) and the next hop.
    pub fn new(attrs: impl IntoIterator<Item = PathAttribute>, next_hop: MpNextHop) -> Self {
        let attrs: Vec<PathAttribute> = attrs
            .into_iter()
            .filter(|a| {
                !matches!(
                    a.value,
                    AttrValue::MpReachNlri(_) | AttrValue::MpUnreachNlri(_)
                )
            })
            .collect();
        let derived = Derived::of(&attrs);
        PathAttrs {
            attrs,
            next_hop,
            derived,
        }
    }

    /// The attributes to encode, without MP_REACH_NLRI (the encoder builds it
    /// from [`PathAttrs::next_hop`] and the NLRI).
    pub fn attributes(&self) -> &[PathAttribute] {
        &self.attrs
    }

    pub fn next_hop(&self) -> &MpNextHop {
        &self.next_hop
    }

    pub fn origin(&self) -> Origin {
        self.derived.origin
    }
    pub fn local_pref(&self) -> Option<u32> {
        self.derived.local_pref
    }
    pub fn med(&self) -> Option<u32> {
        self.derived.med
    }
    /// RFC 4271 9.1.2.2 a): an AS_SET counts 1, confederation segments 0.
    pub fn as_path_len(&self) -> u32 {
        self.derived.as_path_len
    }
    /// The first AS of the AS_PATH: the neighbouring AS for MED comparison.
    pub fn neighbor_as(&self) -> Option<u32> {
        self.derived.neighbor_as
    }
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.derived.originator_id
    }
    pub fn cluster_list_len(&self) -> u32 {
        self.derived.cluster_list_len
    }
    /// (sticky, sequence) of the MAC Mobility community; `(false, 0)` when absent.
    pub fn mac_mobility(&self) -> (bool, u32) {
        self.derived.mac_mobility.unwrap_or((false, 0))
    }
    /// PMSI Tunnel label (the VNI) and tunnel endpoint, when present.
    pub fn pmsi(&self) -> Option<(u32, Option<IpAddr>)> {
        self.derived.pmsi
    }

    /// Tunnel type of the first Encapsulation extended community (RFC 9012
    /// section 4.1; 8 is VXLAN). Walks the attributes: for snapshots, not
    /// for the decision process.
    pub fn encapsulation(&self) -> Option<u16> {
        self.ext_communities().find_map(|c| match c {
            ExtendedCommunity::Encapsulation { tunnel_type } => Some(*tunnel_type),
            _ => None,
        })
    }

    /// The PMSI Tunnel attribute (RFC 6514 section 5), when present. Walks
    /// the attributes: for snapshots.
    pub fn pmsi_tunnel(&self) -> Option<&PmsiTunnel> {
        self.attrs.iter().find_map(|a| match &a.value {
            AttrValue::PmsiTunnel(p) => Some(p),
            _ => None,
        })
    }

    /// The route targets among the extended communities.
    pub fn route_targets(&self) -> impl Iterator<Item = RouteTarget> + '_ {
        self.ext_communities().filter_map(|c| match c {
            ExtendedCommunity::RouteTarget(rt) => Some(*rt),
            _ => None,
        })
    }

    fn ext_communities(&self) -> impl Iterator<Item = &ExtendedCommunity> + '_ {
        self.attrs.iter().flat_map(|a| match &a.value {
            AttrValue::ExtendedCommunities(c) => c.as_slice(),
            _ => &[],
        })
    }

    /// Whether `asn` occurs anywhere in AS_PATH or AS4_PATH (RFC 4271
    /// section 9.1.2 loop detection).
    pub fn as_path_contains(&self, asn: u32) -> bool {
        self.attrs.iter().any(|a| match &a.value {
            AttrValue::AsPath(p) | AttrValue::As4Path(p) => {
                p.segments.iter().any(|s| s.asns.contains(&asn))
            }
            _ => false,
        })
    }

    pub fn cluster_list_contains(&self, id: Ipv4Addr) -> bool {
        self.attrs
            .iter()
            .any(|a| matches!(&a.value, AttrValue::ClusterList(l) if l.contains(&id)))
    }

    /// This set without the attributes of the given type codes.
    pub(crate) fn without(&self, codes: &[u8]) -> PathAttrs {
        PathAttrs::new(
            self.attrs
                .iter()
                .filter(|a| !codes.contains(&a.value.type_code()))
                .cloned(),
            self.next_hop.clone(),
        )
    }

    /// The set to advertise, rewritten per `how`.
    pub(crate) fn export(&self, how: ExportAs) -> PathAttrs {
        use crate::wire::type_code::*;
        let mut attrs: Vec<PathAttribute> = Vec::with_capacity(self.attrs.len() + 2);
        match how {
            ExportAs::Ibgp { reflect } => {
                attrs.extend(self.attrs.iter().cloned());
                if self.derived.local_pref.is_none() {
                    put(&mut attrs, AttrValue::LocalPref(DEFAULT_LOCAL_PREF));
                }
                if let Some(r) = reflect {
                    // RFC 4456 section 8: ORIGINATOR_ID is set once, by the
                    // first reflector; each reflector prepends its cluster id.
                    if self.derived.originator_id.is_none() {
                        put(&mut attrs, AttrValue::OriginatorId(r.originator));
                    }
                    let mut list = vec![r.cluster_id];
                    for a in &self.attrs {
                        if let AttrValue::ClusterList(l) = &a.value {
                            list.extend_from_slice(l);
                        }
                    }
                    put(&mut attrs, AttrValue::ClusterList(list));
                }
            }
            ExportAs::Ebgp {
                local_asn,
                keep_med,
            } => {
                // RFC 4271 5.1.5: LOCAL_PREF never crosses AS borders;
                // RFC 4456: ORIGINATOR_ID / CLUSTER_LIST are AS-internal;
                // RFC 4271 5.1.4: a MED learned over eBGP is not passed on.
                let mut drop = vec![LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST];
                if !keep_med {
                    drop.push(MULTI_EXIT_DISC);
                }
                attrs.extend(
                    self.attrs
                        .iter()
                        .filter(|a| !drop.contains(&a.value.type_code()))
                        .cloned(),
                );
                let mut path = attrs
                    .iter()
                    .find_map(|a| match &a.value {
                        AttrValue::AsPath(p) => Some(p.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                prepend(&mut path, local_asn);
                put(&mut attrs, AttrValue::AsPath(path));
            }
        }
        PathAttrs::new(attrs, self.next_hop.clone())
    }
}

/// How a path is rewritten for one peer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum ExportAs {
    /// To an iBGP peer; `reflect` when route reflection applies.
    Ibgp { reflect: Option<Reflect> },
    /// To an eBGP peer: our AS prepended; the next hop (the VTEP) unchanged.
    Ebgp { local_asn: u32, keep_med: bool },
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Reflect {
    pub originator: Ipv4Addr,
    pub cluster_id: Ipv4Addr,
}

/// Replace the attribute of the same type, or insert it in type-code order.
fn put(attrs: &mut Vec<PathAttribute>, value: AttrValue) {
    let code = value.type_code();
    if let Some(a) = attrs.iter_mut().find(|a| a.value.type_code() == code) {
        a.value = value;
        return;
    }
    let at = attrs
        .iter()
        .position(|a| a.value.type_code() > code)
        .unwrap_or(attrs.len());
    attrs.insert(at, PathAttribute::from(value));
}

/// RFC 4271 5.1.2: prepend to the leading AS_SEQUENCE, or start one when the
/// path begins with a set or the leading sequence is full (255 ASNs).
fn prepend(path: &mut AsPath, asn: u32) {
    match path.segments.first_mut() {
        Some(s) if s.kind == AsSegmentType::AsSequence && s.asns.len() < 255 => {
            s.asns.insert(0, asn)
        }
        _ => path.segments.insert(
            0,
            AsSegment {
                kind: AsSegmentType::AsSequence,
                asns: vec![asn].into(),
            },
        ),
    }
}

impl Derived {
    fn of(attrs: &[PathAttribute]) -> Derived {
        let mut d = Derived {
            origin: Origin::Incomplete,
            local_pref: None,
            med: None,
            as_path_len: 0,
            neighbor_as: None,
            originator_id: None,
            cluster_list_len: 0,
            mac_mobility: None,
            pmsi: None,
        };
        let mut origin = None;
        for a in attrs {
            match &a.value {
                AttrValue::Origin(o) => origin = Some(*o),
                AttrValue::LocalPref(v) => d.local_pref = Some(*v),
                AttrValue::MultiExitDisc(v) => d.med = Some(*v),
                AttrValue::AsPath(p) => {
                    d.as_path_len = p
                        .segments
                        .iter()
                        .map(|s| match s.kind {
                            AsSegmentType::AsSequence => {
                                u32::try_from(s.asns.len()).unwrap_or(u32::MAX)
                            }
                            AsSegmentType::AsSet => 1,
                            AsSegmentType::ConfedSequence | AsSegmentType::ConfedSet => 0,
                        })
                        .fold(0u32, u32::saturating_add);
                    d.neighbor_as = p
                        .segments
                        .iter()
                        .find(|s| s.kind == AsSegmentType::AsSequence)
                        .and_then(|s| s.asns.first().copied());
                }
                AttrValue::OriginatorId(id) => d.originator_id = Some(*id),
                AttrValue::ClusterList(l) => {
                    d.cluster_list_len = u32::try_from(l.len()).unwrap_or(u32::MAX)
                }
                AttrValue::ExtendedCommunities(cs) => {
                    for c in cs {
                        if let ExtendedCommunity::MacMobility { sticky, sequence } = c {
                            // RFC 7432 15.1: with several, the lowest sequence counts.
                            d.mac_mobility = Some(match d.mac_mobility {
                                Some((s, q)) if q <= *sequence => (s || *sticky, q),
                                Some((s, _)) => (s || *sticky, *sequence),
                                None => (*sticky, *sequence),
                            });
                        }
                    }
                }
                AttrValue::PmsiTunnel(p) => {
                    let ep = match &p.tunnel_id {
                        PmsiTunnelId::Ip(a) => Some(*a),
                        PmsiTunnelId::Other(_) => None,
                    };
                    d.pmsi = Some((p.label, ep));
                }
                _ => {}
            }
        }
        // A missing ORIGIN is an error the codec handles (RFC 7606); if one
        // gets here anyway, it ranks last.
        d.origin = origin.unwrap_or(Origin::Incomplete);
        d
    }
}

/// Interning table for [`PathAttrs`].
#[derive(Debug, Default)]
pub(crate) struct AttrTable {
    set: HashSet<Arc<PathAttrs>>,
    sweep_at: usize,
}

impl AttrTable {
    /// The shared copy of `attrs`.
    pub fn intern(&mut self, attrs: PathAttrs) -> Arc<PathAttrs> {
        if let Some(a) = self.set.get(&attrs) {
            return Arc::clone(a);
        }
        if self.set.len() >= self.sweep_at {
            // Only the table holds these: no route uses them any more.
            self.set.retain(|a| Arc::strong_count(a) > 1);
            self.sweep_at = (self.set.len() * 2).max(1024);
        }
        let a = Arc::new(attrs);
        self.set.insert(Arc::clone(&a));
        a
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::type_code;

    fn base() -> PathAttrs {
        PathAttrs::new(
            [
                AttrValue::Origin(Origin::Igp).into(),
                AttrValue::AsPath(AsPath {
                    segments: vec![
                        AsSegment {
                            kind: AsSegmentType::AsSequence,
                            asns: vec![65001, 65002].into(),
                        },
                        AsSegment {
                            kind: AsSegmentType::AsSet,
                            asns: vec![1, 2, 3].into(),
                        },
                    ]
                    .into(),
                })
                .into(),
                AttrValue::MultiExitDisc(5).into(),
                AttrValue::LocalPref(200).into(),
            ],
            MpNextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
        )
    }

    #[test]
    fn derived_values_follow_rfc4271_counting() {
        let a = base();
        assert_eq!(a.as_path_len(), 3);
        assert_eq!(a.neighbor_as(), Some(65001));
        assert_eq!(a.med(), Some(5));
        assert_eq!(a.local_pref(), Some(200));
        assert!(a.as_path_contains(2));
        assert!(!a.as_path_contains(4));
    }

    #[test]
    fn ebgp_export_prepends_and_strips_internal_attributes() {
        let out = base().export(ExportAs::Ebgp {
            local_asn: 65000,
            keep_med: false,
        });
        assert_eq!(out.as_path_len(), 4);
        assert_eq!(out.neighbor_as(), Some(65000));
        assert_eq!(out.local_pref(), None);
        assert_eq!(out.med(), None);
        let codes: Vec<u8> = out
            .attributes()
            .iter()
            .map(|a| a.value.type_code())
            .collect();
        assert_eq!(codes, vec![type_code::ORIGIN, type_code::AS_PATH]);
    }

    #[test]
    fn reflection_sets_originator_once_and_prepends_cluster_id() {
        let r1 = Reflect {
            originator: Ipv4Addr::new(1, 1, 1, 1),
            cluster_id: Ipv4Addr::new(9, 9, 9, 9),
        };
        let once = base().export(ExportAs::Ibgp { reflect: Some(r1) });
        assert_eq!(once.originator_id(), Some(Ipv4Addr::new(1, 1, 1, 1)));
        let r2 = Reflect {
            originator: Ipv4Addr::new(2, 2, 2, 2),
            cluster_id: Ipv4Addr::new(8, 8, 8, 8),
        };
        let twice = once.export(ExportAs::Ibgp { reflect: Some(r2) });
        assert_eq!(twice.originator_id(), Some(Ipv4Addr::new(1, 1, 1, 1)));
        assert_eq!(twice.cluster_list_len(), 2);
        assert!(twice.cluster_list_contains(Ipv4Addr::new(9, 9, 9, 9)));
        let first = twice.attributes().iter().find_map(|a| match &a.value {
            AttrValue::ClusterList(l) => l.first().copied(),
            _ => None,
        });
        assert_eq!(first, Some(Ipv4Addr::new(8, 8, 8, 8)));
    }

    #[test]
    fn ibgp_export_adds_default_local_pref_when_missing() {
        let a = base().without(&[type_code::LOCAL_PREF]);
        assert_eq!(a.local_pref(), None);
        assert_eq!(
            a.export(ExportAs::Ibgp { reflect: None }).local_pref(),
            Some(DEFAULT_LOCAL_PREF)
        );
    }

    #[test]
    fn interning_shares_equal_sets_and_sweeps_unused_ones() {
        let mut t = AttrTable::default();
        let a = t.intern(base());
        let b = t.intern(base());
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        for i in 0..2000u32 {
            let s = PathAttrs::new(
                [AttrValue::MultiExitDisc(i).into()],
                MpNextHop::V4(Ipv4Addr::LOCALHOST),
            );
            drop(t.intern(s));
        }
        assert!(t.len() < 2000, "unused sets are swept, {} left", t.len());
    }
}
