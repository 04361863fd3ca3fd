//! The EVPN RIB: Adj-RIB-In per peer, Loc-RIB with the BGP decision process,
//! Adj-RIB-Out per peer, route reflection, graceful-restart helper, local
//! origination and the per-VNI dataplane view.
//!
//! Sans-IO: [`Rib`] is a plain struct owned by one task (the speaker). Its
//! methods take inputs (UPDATE contents, session up/down, local endpoints)
//! and leave outputs to be pulled: [`Rib::take_events`] for the dataplane,
//! [`Rib::take_outgoing`] per peer for the session. It never does I/O,
//! never reads the clock (the GR stale timer is the driver's: it calls
//! [`Rib::stale_expired`]) and never encodes: outgoing routes are attribute
//! sets with NLRI groups, which the session encodes with
//! `wire::encode_evpn_reach` for its negotiated [`crate::wire::SessionParams`]
//! (message size, add-path, 4-octet AS differ per peer, so encoding belongs
//! to the session, and the RIB does not depend on the codec).
//!
//! ```text
//!  apply_update / apply_withdraw ──▶ Adj-RIB-In (paths tagged by peer)
//!  originate_* / withdraw_*      ──▶      │
//!                                   decision process (decision.rs) per key
//!                                         │ best path changed
//!                 ┌───────────────────────┴──────────────────────┐
//!                 ▼                                              ▼
//!   per-VNI view (view.rs): RT import,            per-peer pending queue (coalescing)
//!   winner per (VNI, MAC, IP) across RDs,                        │ take_outgoing(peer, max)
//!   flood lists ──▶ take_events()                  export rules ─▶ Adj-RIB-Out, grouped
//!                                                                 by attribute set
//! ```
//!
//! MAC Mobility (RFC 7432 section 15): a local MAC is originated with a
//! sequence number above any remote one for it (the MAC moved here); when a
//! remote route for a local MAC beats ours (higher sequence, or the same
//! from a lower VTEP address, or sticky), our routes for the MAC are
//! withdrawn and the MAC is marked moved ([`Rib::local_mac_moved`]); they
//! come back when no remote route beats them any more, or when the MAC is
//! originated again (relearned: above the remote sequence). The RIB is the
//! one owner of that state: it holds both the local routes and the remote
//! ones they are weighed against.
//!
//! Duplicate MAC detection (RFC 7432 section 15.1, [`dupmac`]): the moves
//! of each local MAC are counted (away: a remote route beats ours; here: we
//! originate it above a remote sequence number); `max_moves` within
//! `window` make it duplicate: a warning is logged once, and the MAC is no
//! longer originated above a remote sequence number, so that two PEs
//! taking it from each other stop raising it forever; wherever it is now
//! (advertised here, or withdrawn because a remote route wins), it stays.
//! It recovers when `window` passes without a move, or when its local
//! routes are all withdrawn (the endpoint is gone). The RIB does not read
//! the clock: the driver calls [`Rib::tick`] with the time before each
//! batch of inputs; moves are only counted once it has.
//!
//! Invariants:
//! - A destination's `paths[0]` is its best path by [`decision::compare`].
//! - A local MAC has paths in the table exactly when it is not moved; it is
//!   moved exactly when the view's best remote route for it beats it.
//! - A route is in a peer's Adj-RIB-Out exactly when it was last sent to
//!   that peer as reachable; the pending queue holds each route at most once,
//!   and draining it sends the *current* state, so a route that changed many
//!   times before the peer drained is sent once (or not at all).
//! - Peers are independent: each has its own queue; a slow peer only grows
//!   its own queue (bounded by the number of routes).
//!
//! What it never does: change a path's next hop (EVPN: the VTEP stays),
//! advertise a route back to the peer it came from, or send an iBGP-learned
//! route to an iBGP peer without route reflection (RFC 4456 section 6).
//!
//! Not done: add-path (a path id in received NLRI is ignored: one path per
//! peer and key), RFC 6793 AS4_PATH merging for 2-octet-AS peers (AS_PATH
//! length is taken from AS_PATH), per-peer policy, route refresh
//! re-advertisement beyond [`Rib::resend_all`].

mod attrs;
mod decision;
mod dupmac;
mod key;
mod table;
mod types;
mod view;

pub use attrs::{PathAttrs, DEFAULT_LOCAL_PREF};
pub use types::*;

use crate::wire::{
    afi, safi, type_code, AsPath, AttrValue, Esi, EvpnNlri, ExtendedCommunity, MacAddr, MpNextHop,
    MpNlri, Origin, PathAttribute, PmsiTunnel, PmsiTunnelId, RouteDistinguisher, Update,
    PMSI_INGRESS_REPLICATION, TUNNEL_TYPE_VXLAN,
};
use attrs::{AttrTable, ExportAs, Reflect};
use decision::{Path, PeerFacts};
use dupmac::MoveTracker;
use hashbrown::{HashMap, HashSet};
use key::{NlriData, RouteKey};
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;
use table::{RouteId, Table};
use view::{Membership, View};

/// One peer's state in the RIB: Adj-RIB-Out and pending queue while up;
/// its paths (possibly stale) live in the table.
struct Peer {
    info: PeerInfo,
    up: bool,
    adj_out: HashSet<RouteId>,
    queue: VecDeque<RouteId>,
    queued: HashSet<RouteId>,
    received: u64,
    stale: u64,
    /// End-of-RIB owed once the initial table has been drained.
    eor_due: bool,
}

struct Peers(HashMap<PeerId, Peer>);

impl PeerFacts for Peers {
    fn facts(&self, source: RouteSource) -> Option<PeerInfo> {
        match source {
            RouteSource::Local => None,
            RouteSource::Peer(p) => self.0.get(&p).map(|p| p.info),
        }
    }
}

/// A local type-2 route for one IP (or none) of a MAC.
#[derive(Clone, Copy, Debug)]
struct LocalMacIp {
    ip: Option<IpAddr>,
    seq: u32,
    sticky: bool,
}

/// The RIB. See the module documentation.
pub struct Rib {
    cfg: RibConfig,
    table: Table,
    attrs: AttrTable,
    view: View,
    peers: Peers,
    /// Local type-2 routes per (VNI, MAC): all carry the same sequence number.
    local_macs: HashMap<(u32, MacAddr), SmallVec<[LocalMacIp; 2]>>,
    /// Local MACs whose routes are withdrawn because a remote route for the
    /// MAC beats them (RFC 7432 section 15): a subset of `local_macs`' keys;
    /// their entries stay there, not in the table.
    moved: HashSet<(u32, MacAddr)>,
    /// RFC 7432 section 15.1: moves of local MACs, duplicate ones.
    moves: MoveTracker,
    /// The driver's clock at its last [`Rib::tick`].
    now: Option<Instant>,
    local_imets: HashSet<u32>,
    /// Auto-RD index per VNI, stable across reloads.
    rd_index: HashMap<u32, u16>,
    events: Vec<RibEvent>,
}

impl Rib {
    pub fn new(cfg: RibConfig) -> Self {
        let mut rib = Rib {
            cfg: RibConfig {
                vnis: Vec::new(),
                ..cfg.clone()
            },
            table: Table::default(),
            attrs: AttrTable::default(),
            view: View::default(),
            peers: Peers(HashMap::new()),
            local_macs: HashMap::new(),
            moved: HashSet::new(),
            moves: MoveTracker::new(Some(DupMacDetection::default())),
            now: None,
            local_imets: HashSet::new(),
            rd_index: HashMap::new(),
            events: Vec::new(),
        };
        rib.set_vnis(cfg.vnis);
        rib
    }

    fn cluster_id(&self) -> Ipv4Addr {
        self.cfg.cluster_id.unwrap_or(self.cfg.router_id)
    }

    fn vni_cfg(&self, vni: u32) -> Option<&VniImport> {
        self.cfg.vnis.iter().find(|v| v.vni == vni)
    }

    /// The RD of a configured VNI: configured, or auto `router-id:index`.
    pub fn vni_rd(&self, vni: u32) -> Option<RouteDistinguisher> {
        let v = self.vni_cfg(vni)?;
        v.rd.or_else(|| {
            let number = *self.rd_index.get(&vni)?;
            Some(RouteDistinguisher::Ipv4 {
                addr: self.cfg.router_id,
                number,
            })
        })
    }

    /// Replace the VNI configuration (reload). Remote routes are re-imported
    /// under the new rules (events for what changes); local routes of a VNI
    /// whose RD or export RTs changed are re-originated; those of a removed
    /// VNI are withdrawn.
    pub fn set_vnis(&mut self, vnis: Vec<VniImport>) {
        let old_rds: HashMap<u32, Option<RouteDistinguisher>> = self
            .cfg
            .vnis
            .iter()
            .map(|v| (v.vni, self.vni_rd(v.vni)))
            .collect();
        let old_cfg = std::mem::replace(&mut self.cfg.vnis, vnis);
        self.rd_index
            .retain(|vni, _| self.cfg.vnis.iter().any(|v| v.vni == *vni));
        for v in &self.cfg.vnis {
            if v.rd.is_none() && !self.rd_index.contains_key(&v.vni) {
                let used: HashSet<u16> = self.rd_index.values().copied().collect();
                let index = (1..=u16::MAX)
                    .find(|i| !used.contains(i))
                    .unwrap_or(u16::MAX);
                self.rd_index.insert(v.vni, index);
            }
        }
        // Re-import remote routes when the import rules changed.
        let imports = |c: &[VniImport]| -> Vec<(u32, Vec<RtMatch>)> {
            let mut v: Vec<_> = c.iter().map(|v| (v.vni, v.import_rts.clone())).collect();
            v.sort_by_key(|x| x.0);
            v
        };
        if imports(&old_cfg) != imports(&self.cfg.vnis) {
            let before: Vec<(RouteId, Membership)> = self
                .table
                .iter()
                .filter_map(|(id, d)| Some((id, self.view.membership(&d.key, d.best()?))))
                .collect();
            self.view.set_imports(&self.cfg.vnis);
            for (id, old) in before {
                let Some(new) = self
                    .table
                    .get(id)
                    .and_then(|d| Some(self.view.membership(&d.key, d.best()?)))
                else {
                    continue;
                };
                if new != old {
                    self.view
                        .update(&self.table, id, &old, &new, &mut self.events);
                }
            }
        }
        // Local routes whose RD or export RTs changed.
        let changed = |vni: u32, this: &Rib| -> bool {
            let old = old_cfg.iter().find(|v| v.vni == vni);
            let new = this.vni_cfg(vni);
            old.map(|o| &o.export_rts) != new.map(|n| &n.export_rts)
                || old_rds.get(&vni).copied().flatten() != this.vni_rd(vni)
        };
        let macs: Vec<(u32, MacAddr)> = self
            .local_macs
            .keys()
            .copied()
            .filter(|(v, _)| changed(*v, self))
            .collect();
        for (vni, mac) in macs {
            let Some(entries) = self.local_macs.remove(&(vni, mac)) else {
                continue;
            };
            let old_rd = old_rds.get(&vni).copied().flatten();
            for e in &entries {
                if let Some(rd) = old_rd {
                    self.set_path(mac_key(rd, mac, e.ip), RouteSource::Local, None);
                }
            }
            if self.vni_cfg(vni).is_none() {
                self.moved.remove(&(vni, mac));
                self.moves.forget(&(vni, mac));
            } else if self.moved.contains(&(vni, mac)) {
                // Still withdrawn; the check below re-advertises it under
                // the new RD if the remote route no longer wins.
                self.local_macs.insert((vni, mac), entries);
            } else {
                for e in entries {
                    // Cannot fail: the VNI is configured.
                    let _ = self.originate_mac_ip(vni, mac, e.ip, e.seq, e.sticky);
                }
            }
        }
        // Imports and RDs changed: which local MACs a remote route beats may
        // have too.
        let local: Vec<(u32, MacAddr)> = self.local_macs.keys().copied().collect();
        for (vni, mac) in local {
            self.mobility_check(vni, mac);
        }
        let imets: Vec<u32> = self
            .local_imets
            .iter()
            .copied()
            .filter(|v| changed(*v, self))
            .collect();
        for vni in imets {
            self.local_imets.remove(&vni);
            if let Some(rd) = old_rds.get(&vni).copied().flatten() {
                self.set_path(imet_key(rd, self.cfg.vtep), RouteSource::Local, None);
            }
            if self.vni_cfg(vni).is_some() {
                let _ = self.originate_imet(vni);
            }
        }
    }

    // ---------------------------------------------------------------- peers

    /// A session reached Established. The peer's Adj-RIB-Out is filled with
    /// the whole table; End-of-RIB follows it ([`Outgoing::end_of_rib`]).
    /// Stale paths from a previous session (graceful restart) are kept until
    /// refreshed, [`Rib::end_of_rib_received`] or [`Rib::stale_expired`].
    pub fn peer_up(&mut self, peer: PeerId, info: PeerInfo) {
        if self.peers.0.get(&peer).is_some_and(|p| p.up) {
            self.clear_out(peer);
        }
        let p = self.peers.0.entry(peer).or_insert_with(|| Peer {
            info,
            up: false,
            adj_out: HashSet::new(),
            queue: VecDeque::new(),
            queued: HashSet::new(),
            received: 0,
            stale: 0,
            eor_due: false,
        });
        p.info = info;
        p.up = true;
        p.eor_due = true;
        if !info.gr_helper {
            // RFC 4724 section 4.2: the restarted peer no longer has GR for
            // the family, so its stale routes go now.
            self.sweep(peer, true);
        }
        self.resend_all(peer);
    }

    /// Queue every route for `peer` again (initial table, or a ROUTE-REFRESH
    /// request, RFC 2918). Routes already sent are sent again.
    pub fn resend_all(&mut self, peer: PeerId) {
        let Some(p) = self.peers.0.get_mut(&peer) else {
            return;
        };
        let mut added = Vec::new();
        for (id, _) in self.table.iter().filter(|(_, d)| d.best().is_some()) {
            if p.queued.insert(id) {
                p.queue.push_back(id);
                added.push(id);
            }
        }
        for id in added {
            if let Some(d) = self.table.get_mut(id) {
                d.refs = d.refs.saturating_add(1);
            }
        }
    }

    /// The session went down. Without graceful restart every path it sent
    /// is withdrawn; with `keep_stale` (and the peer negotiated GR,
    /// [`PeerInfo::gr_helper`]) they are kept as stale: the driver then
    /// schedules [`Rib::stale_expired`] after the peer's restart time.
    pub fn peer_down(&mut self, peer: PeerId, keep_stale: bool) {
        let Some(p) = self.peers.0.get_mut(&peer) else {
            return;
        };
        p.up = false;
        let keep = keep_stale && p.info.gr_helper;
        self.clear_out(peer);
        let source = RouteSource::Peer(peer);
        if keep {
            let mut stale = 0;
            for id in self.table.ids() {
                if let Some(path) = self
                    .table
                    .get_mut(id)
                    .and_then(|d| d.paths.iter_mut().find(|p| p.source == source))
                {
                    path.stale = true;
                    stale += 1;
                }
            }
            if let Some(p) = self.peers.0.get_mut(&peer) {
                p.stale = stale;
            }
        } else {
            self.sweep(peer, false);
        }
    }

    /// Forget `peer` entirely (removed from the configuration): as
    /// `peer_down(peer, false)`, and its counters go.
    pub fn peer_remove(&mut self, peer: PeerId) {
        self.peer_down(peer, false);
        self.peers.0.remove(&peer);
    }

    /// End-of-RIB from `peer` (RFC 4724 section 4.2): its stale paths that
    /// were not refreshed are withdrawn.
    pub fn end_of_rib_received(&mut self, peer: PeerId) {
        self.sweep(peer, true);
    }

    /// The restart (or stale-path) timer for `peer` expired: its stale
    /// paths are withdrawn.
    pub fn stale_expired(&mut self, peer: PeerId) {
        self.sweep(peer, true);
    }

    /// Remove `peer`'s paths: only stale ones, or all.
    fn sweep(&mut self, peer: PeerId, only_stale: bool) {
        let Some(p) = self.peers.0.get(&peer) else {
            return;
        };
        if only_stale && p.stale == 0 {
            return;
        }
        let source = RouteSource::Peer(peer);
        for id in self.table.ids() {
            let Some(d) = self.table.get(id) else {
                continue;
            };
            if d.paths
                .iter()
                .any(|p| p.source == source && (p.stale || !only_stale))
            {
                let key = d.key.clone();
                self.set_path(key, source, None);
            }
        }
    }

    /// Drop `peer`'s pending queue and Adj-RIB-Out (the session is gone).
    fn clear_out(&mut self, peer: PeerId) {
        let Some(p) = self.peers.0.get_mut(&peer) else {
            return;
        };
        let ids: Vec<RouteId> = p.queued.drain().chain(p.adj_out.drain()).collect();
        p.queue.clear();
        for id in ids {
            if let Some(d) = self.table.get_mut(id) {
                d.refs = d.refs.saturating_sub(1);
            }
            self.table.release(id);
        }
    }

    // ------------------------------------------------------------- updates

    /// Apply the EVPN part of an UPDATE from `peer`: MP_UNREACH_NLRI routes
    /// are withdrawn, MP_REACH_NLRI routes announced. Other address families
    /// are ignored (plane only negotiates L2VPN/EVPN). Routes that fail a
    /// loop check (our AS in AS_PATH from eBGP, RFC 4271 9.1.2; our
    /// ORIGINATOR_ID or CLUSTER_ID from iBGP, RFC 4456 8) are treated as
    /// withdrawn, as is an UPDATE whose next hop is not an address (then
    /// [`RibError::BadNextHop`] says so; the session stays up, RFC 7606).
    pub fn apply_update(&mut self, peer: PeerId, update: &Update) -> Result<(), RibError> {
        let info = self
            .peers
            .0
            .get(&peer)
            .filter(|p| p.up)
            .map(|p| p.info)
            .ok_or(RibError::UnknownPeer(peer))?;
        let evpn = |a: u16, s: u8| a == afi::L2VPN && s == safi::EVPN;
        let mut reach: Option<(&MpNextHop, &[EvpnNlri])> = None;
        for a in &update.attributes {
            match &a.value {
                AttrValue::MpUnreachNlri(u) if evpn(u.afi, u.safi) => {
                    if let MpNlri::Evpn(list) = &u.nlri {
                        self.apply_withdraw(peer, list);
                    }
                }
                AttrValue::MpReachNlri(r) if evpn(r.afi, r.safi) => {
                    if let MpNlri::Evpn(list) = &r.nlri {
                        reach = Some((&r.next_hop, list));
                    }
                }
                _ => {}
            }
        }
        let Some((next_hop, nlri)) = reach else {
            return Ok(());
        };
        if next_hop.addr().is_none() {
            self.apply_withdraw(peer, nlri);
            return Err(RibError::BadNextHop {
                peer: info.addr,
                count: nlri.len(),
            });
        }
        let mp = [type_code::MP_REACH_NLRI, type_code::MP_UNREACH_NLRI];
        let mut attrs = PathAttrs::new(
            update
                .attributes
                .iter()
                .filter(|a| !mp.contains(&a.value.type_code()))
                .cloned(),
            next_hop.clone(),
        );
        let looped = if info.ibgp {
            attrs.originator_id() == Some(self.cfg.router_id)
                || attrs.cluster_list_contains(self.cluster_id())
        } else {
            // RFC 4271 5.1.5 / RFC 4456: these never come from outside the AS.
            if attrs.local_pref().is_some()
                || attrs.originator_id().is_some()
                || attrs.cluster_list_len() > 0
            {
                attrs = attrs.without(&[
                    type_code::LOCAL_PREF,
                    type_code::ORIGINATOR_ID,
                    type_code::CLUSTER_LIST,
                ]);
            }
            attrs.as_path_contains(self.cfg.local_asn)
        };
        if looped {
            tracing::debug!(peer = %info.addr, count = nlri.len(), "loop detected, routes treated as withdrawn");
            self.apply_withdraw(peer, nlri);
            return Ok(());
        }
        let attrs = self.attrs.intern(attrs);
        let source = RouteSource::Peer(peer);
        for n in nlri {
            let (key, data) = RouteKey::from_route(&n.route);
            self.set_path(
                key,
                source,
                Some(Path {
                    attrs: Arc::clone(&attrs),
                    source,
                    data,
                    stale: false,
                }),
            );
        }
        Ok(())
    }

    /// Withdraw routes from `peer` (MP_UNREACH_NLRI, or RFC 7606
    /// treat-as-withdraw of an UPDATE's MP_REACH_NLRI routes).
    pub fn apply_withdraw(&mut self, peer: PeerId, nlri: &[EvpnNlri]) {
        for n in nlri {
            let (key, _) = RouteKey::from_route(&n.route);
            self.set_path(key, RouteSource::Peer(peer), None);
        }
    }

    // ---------------------------------------------------------- origination

    /// Originate (or refresh) a local type-2 route in `vni`. Returns the MAC
    /// Mobility sequence number used: at least `seq`, at least what other
    /// local routes of this MAC carry (one sequence per MAC), and the
    /// highest remote sequence + 1 when the MAC is known remotely (RFC 7432
    /// section 15: a MAC that moved here takes over). Originating a MAC
    /// whose routes were withdrawn because it had moved away is such a
    /// (re)learning: all of its routes come back with the new sequence.
    pub fn originate_mac_ip(
        &mut self,
        vni: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
        seq: u32,
        sticky: bool,
    ) -> Result<u32, RibError> {
        let rd = self.vni_rd(vni).ok_or(RibError::UnknownVni(vni))?;
        let key = (vni, mac);
        let (remote, _) = self.view.seqs(&self.table, vni, mac);
        let duplicate = self.moves.is_duplicate(&key);
        let remote_vtep = self
            .view
            .best_remote(&self.table, vni, mac)
            .and_then(|r| r.vtep);
        let entries = self.local_macs.entry(key).or_default();
        let mut seq = entries.iter().map(|e| e.seq).fold(seq, u32::max);
        let mut took_over = false;
        if let Some(r) = remote {
            // RFC 7432 15.1: a duplicate MAC is not raised above the remote
            // sequence any more; that is what ends the ping-pong.
            if r >= seq && !duplicate {
                seq = r.saturating_add(1);
                took_over = true;
            }
        }
        match entries.iter_mut().find(|e| e.ip == ip) {
            Some(e) => *e = LocalMacIp { ip, seq, sticky },
            None => entries.push(LocalMacIp { ip, seq, sticky }),
        }
        // Every local route of this MAC carries the new sequence number.
        let mut all = entries.clone();
        for e in all.iter_mut() {
            e.seq = seq;
        }
        if let Some(v) = self.local_macs.get_mut(&key) {
            v.clone_from(&all);
        }
        if duplicate && self.moved.contains(&key) {
            tracing::debug!(vni, %mac, seq, "duplicate MAC (RFC 7432 15.1): not taken back from the remote VTEP");
            // Advertised again only if no remote route beats it any more.
            self.mobility_check(vni, mac);
            return Ok(seq);
        }
        self.moved.remove(&key);
        for e in all {
            self.put_local_mac(rd, vni, mac, e);
        }
        if took_over {
            self.record_move(vni, mac, remote_vtep);
        }
        // Only a sticky remote route still wins (RFC 7432 15.2).
        self.mobility_check(vni, mac);
        Ok(seq)
    }

    /// Puts the local path of one type-2 route in the table.
    fn put_local_mac(&mut self, rd: RouteDistinguisher, vni: u32, mac: MacAddr, e: LocalMacIp) {
        let attrs = self.local_mac_attrs(vni, e.seq, e.sticky);
        let path = Path {
            attrs,
            source: RouteSource::Local,
            data: NlriData::new(Esi::ZERO, vni, None),
            stale: false,
        };
        self.set_path(mac_key(rd, mac, e.ip), RouteSource::Local, Some(path));
    }

    /// RFC 7432 section 15 for a local MAC: when the best remote route
    /// for it in `vni` beats ours ([`decision::local_yields`]: a higher
    /// sequence number, or the same from a lower VTEP address), our routes
    /// are withdrawn and the MAC is marked moved; when no remote route beats
    /// them any more (it was withdrawn), they are advertised again as they
    /// were, since the endpoint is still registered here.
    fn mobility_check(&mut self, vni: u32, mac: MacAddr) {
        let (Some(entries), Some(rd)) = (self.local_macs.get(&(vni, mac)), self.vni_rd(vni)) else {
            return;
        };
        let entries = entries.clone();
        let ours = decision::ViewRank {
            sticky: entries.iter().any(|e| e.sticky),
            seq: entries.iter().map(|e| e.seq).max().unwrap_or(0),
            local: true,
            vtep: Some(self.cfg.vtep),
        };
        let remote = self.view.best_remote(&self.table, vni, mac);
        let yields = remote.is_some_and(|r| decision::local_yields(&ours, &r));
        if yields == self.moved.contains(&(vni, mac)) {
            return;
        }
        if yields {
            self.moved.insert((vni, mac));
            let (remote_seq, remote_vtep) = (remote.map(|r| r.seq), remote.and_then(|r| r.vtep));
            if remote.is_some_and(|r| r.sticky) {
                tracing::warn!(vni, %mac, ?remote_vtep, "MAC Mobility: a static (sticky) remote route claims a local MAC; local routes withdrawn (RFC 7432 15.2)");
            } else {
                tracing::info!(vni, %mac, seq = ours.seq, ?remote_seq, ?remote_vtep, "MAC Mobility: the MAC moved to another VTEP; local routes withdrawn (RFC 7432 section 15)");
            }
            for e in &entries {
                self.set_path(mac_key(rd, mac, e.ip), RouteSource::Local, None);
            }
            self.record_move(vni, mac, remote_vtep);
        } else {
            self.moved.remove(&(vni, mac));
            tracing::info!(vni, %mac, seq = ours.seq, "MAC Mobility: no remote route wins any more; local routes advertised again");
            for e in entries {
                self.put_local_mac(rd, vni, mac, e);
            }
        }
    }

    /// True when the local MAC's routes are withdrawn because a remote route
    /// for it wins (RFC 7432 section 15, see [`Rib::originate_mac_ip`]).
    pub fn local_mac_moved(&self, vni: u32, mac: MacAddr) -> bool {
        self.moved.contains(&(vni, mac))
    }

    // ------------------------------------------------- duplicate detection

    /// Duplicate MAC detection settings (RFC 7432 section 15.1); `None`
    /// turns it off (and clears every duplicate MAC). On by default with
    /// the RFC's 5 moves within 180 seconds.
    pub fn set_duplicate_mac_detection(&mut self, cfg: Option<DupMacDetection>) {
        if cfg.is_none() {
            for (vni, mac) in self.moves.duplicates().collect::<Vec<_>>() {
                tracing::info!(vni, %mac, "duplicate MAC detection turned off: MAC no longer duplicate");
            }
        }
        self.moves.set_config(cfg);
    }

    /// The driver's clock: moves counted from now on happen at `now`, and
    /// duplicate MACs that did not move for the detection window recover
    /// (their sequence number may be raised again). Call it before each
    /// batch of inputs; `now` never goes back.
    pub fn tick(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |t| t.max(now)));
        let window = self.moves.config().map(|c| c.window);
        for (vni, mac) in self.moves.expire(now) {
            tracing::info!(vni, %mac, ?window, "duplicate MAC recovered: no move within the window (RFC 7432 15.1)");
        }
    }

    /// True when the local MAC is duplicate (RFC 7432 section 15.1).
    pub fn local_mac_duplicate(&self, vni: u32, mac: MacAddr) -> bool {
        self.moves.is_duplicate(&(vni, mac))
    }

    /// Every duplicate local MAC, by VNI and MAC.
    pub fn duplicate_macs(&self) -> Vec<DuplicateMac> {
        let mut v: Vec<DuplicateMac> = self
            .moves
            .duplicates()
            .filter_map(|key| {
                let (moves, since, vteps) = self.moves.duplicate(&key)?;
                Some(DuplicateMac {
                    vni: key.0,
                    mac: key.1,
                    moves,
                    since,
                    vteps: vteps.to_vec(),
                    moved: self.moved.contains(&key),
                })
            })
            .collect();
        v.sort_by_key(|d| (d.vni, d.mac));
        v
    }

    /// Counts a move of a local MAC (away or here) at the driver's time;
    /// warns once when that makes it duplicate.
    fn record_move(&mut self, vni: u32, mac: MacAddr, remote_vtep: Option<IpAddr>) {
        let (Some(now), Some(cfg)) = (self.now, self.moves.config()) else {
            return;
        };
        if let Some(d) = self.moves.record((vni, mac), now, remote_vtep) {
            let vteps: Vec<String> = d.vteps.iter().map(|v| v.to_string()).collect();
            tracing::warn!(
                vni,
                %mac,
                moves = d.moves,
                window_secs = cfg.window.as_secs(),
                local_vtep = %self.cfg.vtep,
                remote_vteps = %vteps.join(","),
                moved_away = self.moved.contains(&(vni, mac)),
                "duplicate MAC (RFC 7432 15.1): it moved {} times within {} s between this VTEP and {}; \
                 its sequence number is no longer raised to take it back, it stays where it is now \
                 until {} s pass without a move or its local endpoint is deleted",
                d.moves,
                cfg.window.as_secs(),
                vteps.join(", "),
                cfg.window.as_secs(),
            );
        }
    }

    /// Withdraw a local type-2 route.
    pub fn withdraw_mac_ip(
        &mut self,
        vni: u32,
        mac: MacAddr,
        ip: Option<IpAddr>,
    ) -> Result<(), RibError> {
        let rd = self.vni_rd(vni).ok_or(RibError::UnknownVni(vni))?;
        if let Some(entries) = self.local_macs.get_mut(&(vni, mac)) {
            entries.retain(|e| e.ip != ip);
            if entries.is_empty() {
                self.local_macs.remove(&(vni, mac));
                self.moved.remove(&(vni, mac));
                if self.moves.forget(&(vni, mac)) {
                    tracing::info!(vni, %mac, "duplicate MAC cleared: its local routes are withdrawn");
                }
            }
        }
        self.set_path(mac_key(rd, mac, ip), RouteSource::Local, None);
        Ok(())
    }

    /// Originate the local type-3 (IMET) route of `vni`: PMSI ingress
    /// replication, label = VNI, tunnel endpoint = our VTEP.
    pub fn originate_imet(&mut self, vni: u32) -> Result<(), RibError> {
        let rd = self.vni_rd(vni).ok_or(RibError::UnknownVni(vni))?;
        let mut ext = self.export_rts(vni);
        ext.push(ExtendedCommunity::Encapsulation {
            tunnel_type: TUNNEL_TYPE_VXLAN,
        });
        let pmsi = PmsiTunnel {
            flags: 0,
            tunnel_type: PMSI_INGRESS_REPLICATION,
            label: vni,
            tunnel_id: PmsiTunnelId::Ip(self.cfg.vtep),
        };
        let attrs = self.local_attrs(ext, Some(pmsi));
        self.local_imets.insert(vni);
        let path = Path {
            attrs,
            source: RouteSource::Local,
            data: NlriData::NONE,
            stale: false,
        };
        self.set_path(imet_key(rd, self.cfg.vtep), RouteSource::Local, Some(path));
        Ok(())
    }

    pub fn withdraw_imet(&mut self, vni: u32) -> Result<(), RibError> {
        let rd = self.vni_rd(vni).ok_or(RibError::UnknownVni(vni))?;
        self.local_imets.remove(&vni);
        self.set_path(imet_key(rd, self.cfg.vtep), RouteSource::Local, None);
        Ok(())
    }

    fn export_rts(&self, vni: u32) -> Vec<ExtendedCommunity> {
        let rts = self
            .vni_cfg(vni)
            .map(|v| v.export_rts.clone())
            .unwrap_or_default();
        let rts = if rts.is_empty() {
            vec![auto_rt(self.cfg.local_asn, vni)]
        } else {
            rts
        };
        rts.into_iter()
            .map(ExtendedCommunity::RouteTarget)
            .collect()
    }

    /// Type-2 attributes: RTs, Encapsulation VXLAN (RFC 8365 5.1.3), MAC
    /// Mobility when the sequence is non-zero or the MAC sticky.
    fn local_mac_attrs(&mut self, vni: u32, seq: u32, sticky: bool) -> Arc<PathAttrs> {
        let mut ext = self.export_rts(vni);
        ext.push(ExtendedCommunity::Encapsulation {
            tunnel_type: TUNNEL_TYPE_VXLAN,
        });
        if seq > 0 || sticky {
            ext.push(ExtendedCommunity::MacMobility {
                sticky,
                sequence: seq,
            });
        }
        self.local_attrs(ext, None)
    }

    fn local_attrs(
        &mut self,
        ext: Vec<ExtendedCommunity>,
        pmsi: Option<PmsiTunnel>,
    ) -> Arc<PathAttrs> {
        let mut attrs: Vec<PathAttribute> = vec![
            AttrValue::Origin(Origin::Igp).into(),
            AttrValue::AsPath(AsPath::default()).into(),
            AttrValue::ExtendedCommunities(ext.into()).into(),
        ];
        if let Some(p) = pmsi {
            attrs.push(AttrValue::PmsiTunnel(p).into());
        }
        self.attrs
            .intern(PathAttrs::new(attrs, MpNextHop::from(self.cfg.vtep)))
    }

    // ---------------------------------------------------------------- core

    /// Set (or remove) `source`'s path to `key`, re-run the decision
    /// process, and propagate a best-path change to the view and the peers.
    fn set_path(&mut self, key: RouteKey, source: RouteSource, new: Option<Path>) {
        let id = match &new {
            Some(_) => self.table.find_or_insert(key),
            None => self.table.find(&key),
        };
        let Some(id) = id else {
            if new.is_some() {
                tracing::error!("RIB full: 2^32 destinations; route dropped");
            }
            return;
        };
        let Some(dest) = self.table.get_mut(id) else {
            return;
        };
        let old_best = dest.best().cloned();
        let pos = dest.paths.iter().position(|p| p.source == source);
        let (mut received, mut stale) = (0i64, 0i64);
        match (pos, new) {
            (Some(i), Some(p)) => {
                if let Some(slot) = dest.paths.get_mut(i) {
                    stale -= i64::from(slot.stale);
                    *slot = p;
                }
            }
            (None, Some(p)) => {
                received += 1;
                dest.paths.push(p);
            }
            (Some(i), None) => {
                let p = dest.paths.remove(i);
                received -= 1;
                stale -= i64::from(p.stale);
            }
            (None, None) => {
                self.table.release(id);
                return;
            }
        }
        if let RouteSource::Peer(peer) = source {
            if let Some(p) = self.peers.0.get_mut(&peer) {
                p.received = p.received.saturating_add_signed(received);
                p.stale = p.stale.saturating_add_signed(stale);
            }
        }
        if let Some(dest) = self.table.get_mut(id) {
            if let Some(best) = decision::select(&dest.paths, &self.peers) {
                dest.paths.swap(0, best);
            }
        }
        self.best_changed(id, old_best);
    }

    fn best_changed(&mut self, id: RouteId, old_best: Option<Path>) {
        let Some(dest) = self.table.get(id) else {
            return;
        };
        let new_best = dest.best();
        let same = match (&old_best, new_best) {
            (Some(a), Some(b)) => a.same_as(b),
            (None, None) => true,
            _ => false,
        };
        if same {
            self.table.release(id);
            return;
        }
        let old_m = old_best
            .as_ref()
            .map(|p| self.view.membership(&dest.key, p))
            .unwrap_or_default();
        let new_m = new_best
            .map(|p| self.view.membership(&dest.key, p))
            .unwrap_or_default();
        if old_m != Membership::default() || new_m != Membership::default() {
            self.view
                .update(&self.table, id, &old_m, &new_m, &mut self.events);
        }
        // A remote type-2 route changed: local MACs it concerns are weighed
        // against it again (RFC 7432 section 15), after the peers' queues below.
        let mut mobility: SmallVec<[(u32, MacAddr); 2]> = SmallVec::new();
        let remote = |p: &Option<&Path>| p.is_some_and(|p| p.source != RouteSource::Local);
        if let RouteKey::MacIp { mac, .. } = dest.key {
            if remote(&old_best.as_ref()) || remote(&new_best) {
                for &vni in old_m.vnis.iter().chain(new_m.vnis.iter()) {
                    if self.local_macs.contains_key(&(vni, mac)) && !mobility.contains(&(vni, mac))
                    {
                        mobility.push((vni, mac));
                    }
                }
            }
        }
        let mut added = 0u32;
        let old_src = old_best.as_ref().map(|p| p.source);
        let new_src = new_best.map(|p| p.source);
        for (pid, p) in self.peers.0.iter_mut().filter(|(_, p)| p.up) {
            // A peer never gets its own routes back: when it is the only
            // source involved and has nothing of this route, skip the queue.
            let own = |s: Option<RouteSource>| s.is_none_or(|s| s == RouteSource::Peer(*pid));
            if own(old_src) && own(new_src) && !p.adj_out.contains(&id) {
                continue;
            }
            if p.queued.insert(id) {
                p.queue.push_back(id);
                added += 1;
            }
        }
        if let Some(d) = self.table.get_mut(id) {
            d.refs = d.refs.saturating_add(added);
        }
        self.table.release(id);
        for (vni, mac) in mobility {
            self.mobility_check(vni, mac);
        }
    }

    // --------------------------------------------------------------- output

    /// The dataplane events since the last call, in order.
    pub fn take_events(&mut self) -> Vec<RibEvent> {
        std::mem::take(&mut self.events)
    }

    /// Peers that are up and have something to send.
    pub fn peers_with_pending(&self) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = self
            .peers
            .0
            .iter()
            .filter(|(_, p)| p.up && (!p.queue.is_empty() || p.eor_due))
            .map(|(id, _)| *id)
            .collect();
        v.sort();
        v
    }

    /// Up to `max` route changes for `peer`, oldest first, each in its
    /// current state, with NLRI grouped by identical (rewritten) attribute
    /// set. Empty for a peer that is not up.
    pub fn take_outgoing(&mut self, peer: PeerId, max: usize) -> Outgoing {
        let mut out = Outgoing::default();
        let Some(to) = self.peers.0.get(&peer).filter(|p| p.up).map(|p| p.info) else {
            return out;
        };
        // (stored attribute set, rewrite) -> index in out.reach
        let mut by_source: HashMap<(usize, ExportAs), usize> = HashMap::new();
        let mut by_content: HashMap<Arc<PathAttrs>, usize> = HashMap::new();
        let mut n = 0;
        while n < max {
            let Some(p) = self.peers.0.get_mut(&peer) else {
                break;
            };
            let Some(id) = p.queue.pop_front() else { break };
            p.queued.remove(&id);
            let Some(dest) = self.table.get_mut(id) else {
                continue;
            };
            dest.refs = dest.refs.saturating_sub(1);
            let Some(dest) = self.table.get(id) else {
                continue;
            };
            let export = dest
                .best()
                .and_then(|b| self.export_as(b, peer, &to).map(|how| (b, how)));
            let action = match export {
                Some((best, how)) => {
                    let src = Arc::as_ptr(&best.attrs) as usize;
                    let slot = match by_source.get(&(src, how)) {
                        Some(i) => *i,
                        None => {
                            let attrs = Arc::new(best.attrs.export(how));
                            let i = *by_content.entry(Arc::clone(&attrs)).or_insert_with(|| {
                                out.reach.push(OutReach {
                                    attrs,
                                    nlri: Vec::new(),
                                });
                                out.reach.len() - 1
                            });
                            by_source.insert((src, how), i);
                            i
                        }
                    };
                    Ok((slot, dest.key.to_nlri(&best.data)))
                }
                // Labels and ESI are not part of the key (RFC 7432 7.2): zero.
                None => Err(dest.key.to_nlri(&NlriData::NONE)),
            };
            let Some(p) = self.peers.0.get_mut(&peer) else {
                break;
            };
            let refs: i32 = match action {
                Ok((slot, nlri)) => {
                    if let Some(group) = out.reach.get_mut(slot) {
                        group.nlri.push(nlri);
                    }
                    n += 1;
                    i32::from(p.adj_out.insert(id))
                }
                Err(nlri) => {
                    if p.adj_out.remove(&id) {
                        out.unreach.push(nlri);
                        n += 1;
                        -1
                    } else {
                        0
                    }
                }
            };
            if let Some(d) = self.table.get_mut(id) {
                d.refs = d.refs.saturating_add_signed(refs);
            }
            self.table.release(id);
        }
        if let Some(p) = self.peers.0.get_mut(&peer) {
            if p.queue.is_empty() {
                // After a full-table burst, do not keep its high-water mark.
                p.queue.shrink_to_fit();
                p.queued.shrink_to_fit();
                if p.adj_out.is_empty() {
                    p.adj_out.shrink_to_fit();
                }
            }
            if p.queue.is_empty() && p.eor_due {
                p.eor_due = false;
                out.end_of_rib = true;
            }
        }
        out
    }

    /// How `path` is advertised to `to`, or `None` when it is not.
    fn export_as(&self, path: &Path, to_id: PeerId, to: &PeerInfo) -> Option<ExportAs> {
        let local_asn = self.cfg.local_asn;
        let from = match path.source {
            RouteSource::Local => {
                return Some(if to.ibgp {
                    ExportAs::Ibgp { reflect: None }
                } else {
                    ExportAs::Ebgp {
                        local_asn,
                        keep_med: true,
                    }
                });
            }
            RouteSource::Peer(p) if p == to_id => return None,
            RouteSource::Peer(p) => self.peers.0.get(&p)?.info,
        };
        if !to.ibgp {
            // The peer would drop it (its AS is in the path): do not send.
            if path.attrs.as_path_contains(to.asn) {
                return None;
            }
            return Some(ExportAs::Ebgp {
                local_asn,
                keep_med: from.ibgp,
            });
        }
        if !from.ibgp {
            return Some(ExportAs::Ibgp { reflect: None });
        }
        // RFC 4456 section 6: from a client to everyone, from a non-client
        // to clients only; without clients, iBGP routes stay put.
        if !(from.rr_client || to.rr_client) {
            return None;
        }
        let originator = path.attrs.originator_id().unwrap_or(from.router_id);
        if originator == to.router_id {
            return None;
        }
        Some(ExportAs::Ibgp {
            reflect: Some(Reflect {
                originator,
                cluster_id: self.cluster_id(),
            }),
        })
    }

    // ------------------------------------------------------------ snapshots

    /// Every path matching `filter`, best first per destination.
    pub fn routes(&self, filter: &RouteFilter) -> Vec<RouteView> {
        let mut out = Vec::new();
        for (_, d) in self.table.iter() {
            if filter.route_type.is_some_and(|t| t != d.key.route_type()) {
                continue;
            }
            for (i, p) in d.paths.iter().enumerate() {
                if filter.best_only && i > 0 {
                    break;
                }
                let v = self.route_view(&d.key, p, i == 0);
                if filter.vni.is_some() && v.vni != filter.vni {
                    continue;
                }
                out.push(v);
            }
        }
        out
    }

    fn route_view(&self, key: &RouteKey, p: &Path, best: bool) -> RouteView {
        let (sticky, seq) = p.attrs.mac_mobility();
        let (mac, ip, originator, vni) = match key {
            RouteKey::MacIp { mac, ip, .. } => (Some(*mac), *ip, None, Some(p.data.label1)),
            RouteKey::Imet {
                tag, originator, ..
            } => (
                None,
                None,
                Some(*originator),
                Some(p.attrs.pmsi().map_or(*tag, |(label, _)| label)),
            ),
            RouteKey::Other(_) => (None, None, None, None),
        };
        let peer_addr = match p.source {
            RouteSource::Local => None,
            RouteSource::Peer(id) => self.peers.0.get(&id).map(|p| p.info.addr),
        };
        RouteView {
            route_type: key.route_type(),
            rd: key.rd(),
            vni,
            nexthop: p.attrs.next_hop().addr(),
            source: p.source,
            peer_addr,
            best,
            stale: p.stale,
            mac,
            ip,
            seq,
            sticky,
            originator,
            rts: p.attrs.route_targets().collect(),
            encapsulation: p.attrs.encapsulation(),
            pmsi: p.attrs.pmsi_tunnel().map(|t| PmsiView {
                tunnel_type: t.tunnel_type,
                label: t.label,
                endpoint: match &t.tunnel_id {
                    PmsiTunnelId::Ip(a) => Some(*a),
                    PmsiTunnelId::Other(_) => None,
                },
            }),
        }
    }

    /// Received and sent prefix counts of `peer`.
    pub fn peer_counts(&self, peer: PeerId) -> Option<PeerCounts> {
        let p = self.peers.0.get(&peer)?;
        Some(PeerCounts {
            received: p.received,
            sent: p.adj_out.len() as u64,
        })
    }

    /// Sizes, for statistics and benchmarks.
    pub fn stats(&self) -> RibStats {
        let (mac_groups, flood_entries) = self.view.sizes();
        RibStats {
            destinations: self.table.len(),
            paths: self.table.iter().map(|(_, d)| d.paths.len()).sum(),
            attr_sets: self.attrs.len(),
            mac_groups,
            flood_entries,
        }
    }
}

/// Table sizes ([`Rib::stats`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RibStats {
    pub destinations: usize,
    pub paths: usize,
    pub attr_sets: usize,
    pub mac_groups: usize,
    pub flood_entries: usize,
}

fn mac_key(rd: RouteDistinguisher, mac: MacAddr, ip: Option<IpAddr>) -> RouteKey {
    RouteKey::MacIp {
        rd: rd.to_bytes(),
        tag: 0,
        mac,
        ip,
    }
}

fn imet_key(rd: RouteDistinguisher, vtep: IpAddr) -> RouteKey {
    RouteKey::Imet {
        rd: rd.to_bytes(),
        tag: 0,
        originator: vtep,
    }
}
