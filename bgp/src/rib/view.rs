//! The per-VNI dataplane view and route-target import.
//!
//! Loc-RIB best paths are per route key, and the key contains the RD, so
//! the same MAC advertised by two VTEPs (each with its own RD) is two
//! destinations. The dataplane needs one answer per (VNI, MAC, IP): this
//! module groups the best paths of type-2 destinations by (VNI, MAC),
//! picks the winner per IP across RDs by RFC 7432 section 15 (sticky,
//! sequence number, then lowest VTEP), and emits [`RibEvent`]s when the
//! remote winner changes. Type-3 best paths give per-VNI flood lists.
//!
//! Import (RFC 7432 section 9.1 / RFC 8365 5.1.2): a remote path joins the
//! VNIs whose import rules match one of its route targets; a path that
//! matches none joins none (it stays in the Loc-RIB and is still reflected).
//! A local path joins the VNI it was originated in.
//!
//! Invariants: a candidate is `installed` exactly when it is a remote
//! winner the dataplane was told about; every `FloodAdd` is matched by one
//! `FloodRemove` before the next `FloodAdd` of the same (VNI, VTEP).

use super::decision::{view_compare, Path, ViewRank};
use super::key::RouteKey;
use super::table::{RouteId, Table};
use super::types::{RibEvent, RouteSource, RtMatch, VniImport};
use crate::wire::{MacAddr, RouteDistinguisher, RouteTarget};
use hashbrown::HashMap;
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::net::IpAddr;

pub(crate) type Vnis = SmallVec<[u32; 2]>;

#[derive(Clone, Copy, Debug)]
struct Cand {
    id: RouteId,
    installed: bool,
}

/// Where one destination's best path sits in the view.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct Membership {
    pub vnis: Vnis,
    /// Type 3 from a peer: the VTEP for the flood lists.
    pub flood_vtep: Option<IpAddr>,
}

#[derive(Default)]
pub(crate) struct View {
    macs: HashMap<(u32, MacAddr), SmallVec<[Cand; 1]>>,
    floods: HashMap<(u32, IpAddr), SmallVec<[RouteId; 1]>>,
    exact: HashMap<RouteTarget, Vnis>,
    any: HashMap<u32, Vnis>,
    configured: hashbrown::HashSet<u32>,
}

impl View {
    /// Rebuild the import index from the VNI configuration.
    pub fn set_imports(&mut self, vnis: &[VniImport]) {
        self.exact.clear();
        self.any.clear();
        self.configured.clear();
        for v in vnis {
            self.configured.insert(v.vni);
            for m in &v.import_rts {
                let list = match m {
                    RtMatch::Exact(rt) => self.exact.entry(*rt).or_default(),
                    RtMatch::AnyAsn(n) => self.any.entry(*n).or_default(),
                };
                if !list.contains(&v.vni) {
                    list.push(v.vni);
                }
            }
        }
    }

    /// The VNIs `path` (the best path of `key`) is imported into.
    pub fn membership(&self, key: &RouteKey, path: &Path) -> Membership {
        let mut m = Membership::default();
        if !matches!(key, RouteKey::MacIp { .. } | RouteKey::Imet { .. }) {
            return m;
        }
        if path.source == RouteSource::Local {
            let vni = match key {
                RouteKey::MacIp { .. } => Some(path.data.label1),
                _ => path.attrs.pmsi().map(|(label, _)| label),
            };
            m.vnis.extend(vni.filter(|v| self.configured.contains(v)));
            return m;
        }
        for rt in path.attrs.route_targets() {
            // `*:N` matches AS-type RTs only (types 0x00 and 0x02), as
            // `RtMatch::matches` and FRR's `route-target import *:N`.
            let any_value = match rt {
                RouteTarget::As2 { value, .. } => Some(value),
                RouteTarget::As4 { value, .. } => Some(u32::from(value)),
                RouteTarget::Ipv4 { .. } => None,
            };
            let any = any_value.and_then(|n| self.any.get(&n));
            for v in self.exact.get(&rt).into_iter().chain(any).flatten() {
                if !m.vnis.contains(v) {
                    m.vnis.push(*v);
                }
            }
        }
        if let RouteKey::Imet { .. } = key {
            m.flood_vtep = path
                .attrs
                .pmsi()
                .and_then(|(_, ep)| ep)
                .or(path.attrs.next_hop().addr());
        }
        m
    }

    /// Destination `id` (already updated in `table`) moved from `old` to
    /// `new` membership, or its best path changed in place.
    pub fn update(
        &mut self,
        table: &Table,
        id: RouteId,
        old: &Membership,
        new: &Membership,
        out: &mut Vec<RibEvent>,
    ) {
        let Some(dest) = table.get(id) else { return };
        match dest.key {
            RouteKey::MacIp { mac, .. } => {
                for &vni in old
                    .vnis
                    .iter()
                    .chain(new.vnis.iter().filter(|v| !old.vnis.contains(v)))
                {
                    let member = new.vnis.contains(&vni);
                    self.update_mac(table, vni, mac, id, member, out);
                }
            }
            RouteKey::Imet { .. } => {
                let flood = |m: &Membership| -> Vec<(u32, IpAddr)> {
                    m.flood_vtep
                        .map(|t| m.vnis.iter().map(|&v| (v, t)).collect())
                        .unwrap_or_default()
                };
                let (before, after) = (flood(old), flood(new));
                for k in before.iter().filter(|k| !after.contains(k)) {
                    if let Some(list) = self.floods.get_mut(k) {
                        list.retain(|i| *i != id);
                        if list.is_empty() {
                            self.floods.remove(k);
                            out.push(RibEvent::FloodRemove {
                                vni: k.0,
                                vtep: k.1,
                            });
                        }
                    }
                }
                for k in after.iter().filter(|k| !before.contains(k)) {
                    let list = self.floods.entry(*k).or_default();
                    if list.is_empty() {
                        out.push(RibEvent::FloodAdd {
                            vni: k.0,
                            vtep: k.1,
                        });
                    }
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
            }
            RouteKey::Other(_) => {}
        }
    }

    /// Re-decide the (vni, mac) group after `id` joined, left or changed.
    fn update_mac(
        &mut self,
        table: &Table,
        vni: u32,
        mac: MacAddr,
        id: RouteId,
        member: bool,
        out: &mut Vec<RibEvent>,
    ) {
        let group = self.macs.entry((vni, mac)).or_default();
        // What the dataplane has now, per IP.
        let mut before: SmallVec<[(Option<IpAddr>, RouteId); 2]> = SmallVec::new();
        for c in group.iter().filter(|c| c.installed) {
            if let Some(ip) = mac_ip(table, c.id) {
                before.push((ip, c.id));
            }
        }
        let present = group.iter().any(|c| c.id == id);
        if member && !present {
            group.push(Cand {
                id,
                installed: false,
            });
        } else if !member {
            group.retain(|c| c.id != id);
        }
        // Winners per IP among the candidates.
        let mut winners: SmallVec<[(Option<IpAddr>, RouteId, ViewRank); 2]> = SmallVec::new();
        for c in group.iter() {
            let Some((ip, rank)) = rank_of(table, c.id) else {
                continue;
            };
            match winners.iter_mut().find(|w| w.0 == ip) {
                Some(w) if view_compare(&rank, &w.2) == Ordering::Greater => *w = (ip, c.id, rank),
                Some(_) => {}
                None => winners.push((ip, c.id, rank)),
            }
        }
        for c in group.iter_mut() {
            c.installed = winners
                .iter()
                .any(|w| w.1 == c.id && !w.2.local && w.2.vtep.is_some());
        }
        for (ip, _) in &before {
            if !group
                .iter()
                .any(|c| c.installed && mac_ip(table, c.id) == Some(*ip))
            {
                out.push(RibEvent::MacIpWithdrawn { vni, mac, ip: *ip });
            }
        }
        for c in group.iter().filter(|c| c.installed) {
            let was = before.iter().any(|b| b.1 == c.id);
            if was && c.id != id {
                continue;
            }
            if let Some(ev) = best_event(table, vni, c.id) {
                out.push(ev);
            }
        }
        if group.is_empty() {
            self.macs.remove(&(vni, mac));
            if self.macs.is_empty() {
                self.macs.shrink_to_fit();
            }
        }
    }

    /// The highest MAC Mobility sequence number among remote best paths for
    /// `mac` in `vni`, and the highest among local ones.
    pub fn seqs(&self, table: &Table, vni: u32, mac: MacAddr) -> (Option<u32>, Option<u32>) {
        let (mut remote, mut local) = (None, None);
        for c in self.macs.get(&(vni, mac)).into_iter().flatten() {
            let Some(p) = table.get(c.id).and_then(|d| d.best()) else {
                continue;
            };
            let seq = p.attrs.mac_mobility().1;
            let slot = if p.source == RouteSource::Local {
                &mut local
            } else {
                &mut remote
            };
            *slot = Some(slot.map_or(seq, |s: u32| s.max(seq)));
        }
        (remote, local)
    }

    /// The best remote route for `mac` in `vni` by [`view_compare`], over
    /// all of its routes (MAC-only and MAC+IP): what a local advertisement
    /// of the MAC is weighed against (RFC 7432 section 15).
    pub fn best_remote(&self, table: &Table, vni: u32, mac: MacAddr) -> Option<ViewRank> {
        let mut best: Option<ViewRank> = None;
        for c in self.macs.get(&(vni, mac)).into_iter().flatten() {
            let Some((_, rank)) = rank_of(table, c.id) else {
                continue;
            };
            if rank.local {
                continue;
            }
            if best.is_none_or(|b| view_compare(&rank, &b) == Ordering::Greater) {
                best = Some(rank);
            }
        }
        best
    }

    /// Number of (VNI, MAC) groups and flood entries (for tests and stats).
    pub fn sizes(&self) -> (usize, usize) {
        (self.macs.len(), self.floods.len())
    }
}

fn mac_ip(table: &Table, id: RouteId) -> Option<Option<IpAddr>> {
    match table.get(id)?.key {
        RouteKey::MacIp { ip, .. } => Some(ip),
        _ => None,
    }
}

fn rank_of(table: &Table, id: RouteId) -> Option<(Option<IpAddr>, ViewRank)> {
    let dest = table.get(id)?;
    let RouteKey::MacIp { ip, .. } = dest.key else {
        return None;
    };
    let p = dest.best()?;
    let (sticky, seq) = p.attrs.mac_mobility();
    Some((
        ip,
        ViewRank {
            sticky,
            seq,
            local: p.source == RouteSource::Local,
            vtep: p.attrs.next_hop().addr(),
        },
    ))
}

fn best_event(table: &Table, vni: u32, id: RouteId) -> Option<RibEvent> {
    let dest = table.get(id)?;
    let RouteKey::MacIp { rd, mac, ip, .. } = dest.key else {
        return None;
    };
    let p = dest.best()?;
    let RouteSource::Peer(peer) = p.source else {
        return None;
    };
    let (sticky, seq) = p.attrs.mac_mobility();
    Some(RibEvent::MacIpBest {
        vni,
        mac,
        ip,
        vtep: p.attrs.next_hop().addr()?,
        seq,
        sticky,
        rd: RouteDistinguisher::from_bytes(rd),
        peer,
    })
}
