//! The core task's state and logic: the config, the local endpoints, the
//! control requests and SIGHUP reload. It talks to the speaker and the
//! dataplane through their handles only.
//!
//! Endpoint add, in this order so that a failure leaves nothing behind:
//! check against the table, make or find the port, attach it to the VNI's
//! bridge, originate the type-2 routes (MAC-only, then one MAC+IP per
//! address; the RIB picks the MAC Mobility sequence, above any remote one),
//! record it and rewrite the state file. Delete undoes it in reverse.
//!
//! MAC Mobility (RFC 7432 section 15): the RIB owns the rule (it withdraws
//! a local MAC's routes when a remote route for the MAC wins, and brings
//! them back when it goes). This task keeps the endpoint registered (the
//! port stays on the bridge, the entry in the state file) and reports it as
//! [`EndpointState::Moved`] while the RIB advertises none of its routes.
//! Adding the very same endpoint again is a relearning: its routes are
//! originated again, above the remote sequence number, and win. Unless the
//! RIB found the MAC duplicate (RFC 7432 section 15.1: it moved back and
//! forth too often): then nothing is raised, the MAC stays where it is,
//! and the endpoint is reported [`EndpointState::Duplicate`].

use super::endpoints::{self, EndpointError, Endpoints};
use super::{convert, veth, DaemonOptions, LogFilter};
use crate::config::{BgpConfig, Config, ConfigDiff};
use crate::control::{
    Attach, ControlError, Endpoint, EndpointKey, EndpointSpec, EndpointState, FdbMac, FdbNeighbor,
    FdbVni, Request, Response, Summary, VniInfo,
};
use plane_bgp::rib::{RouteFilter, RouteSource};
use plane_bgp::speaker::{NeighborConfig as SpeakerNeighbor, SpeakerHandle};
use plane_bgp::wire::MacAddr;
use plane_dataplane::task::{ApplyReport, Dataplane};
use plane_dataplane::Vni;
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Instant;
use tracing::{error, info, warn};

pub struct Core {
    config: Config,
    opts: DaemonOptions,
    speaker: SpeakerHandle,
    dataplane: Dataplane,
    endpoints: Endpoints,
    started: Instant,
}

/// A report's failures as one line, or `None` when everything took effect.
fn report_error(r: &ApplyReport) -> Option<String> {
    let mut parts: Vec<String> = r.refused.iter().map(|e| e.to_string()).collect();
    parts.extend(r.failed.iter().map(|f| format!("{:?}: {}", f.op, f.error)));
    parts.extend(r.conflicts.iter().cloned());
    (!parts.is_empty()).then(|| parts.join("; "))
}

impl Core {
    pub fn new(
        config: Config,
        opts: DaemonOptions,
        speaker: SpeakerHandle,
        dataplane: Dataplane,
    ) -> Core {
        Core {
            config,
            opts,
            speaker,
            dataplane,
            endpoints: Endpoints::default(),
            started: Instant::now(),
        }
    }

    /// VNIs, then saved endpoints, then neighbours (see the module doc of
    /// `daemon` for why this order).
    pub async fn start(&mut self, saved: Vec<Endpoint>) {
        for v in self.config.vnis.clone() {
            self.add_vni(&v).await;
        }
        let mut restored = 0;
        for e in saved {
            let spec = endpoints::spec_of(&e);
            match self.endpoint_add(spec, true).await {
                Ok(_) => restored += 1,
                Err(err) => warn!(
                    vni = e.vni,
                    mac = %e.mac,
                    "endpoint from the state file not restored: {err}"
                ),
            }
        }
        if restored > 0 {
            info!(restored, "endpoints restored from the state file");
        }
        self.save();
        for n in self.config.neighbors.clone() {
            if let Err(e) = self.speaker.add_neighbor(convert::neighbor(&n)).await {
                error!(neighbor = %n.address, "cannot add neighbour: {e}");
            }
        }
    }

    async fn add_vni(&mut self, v: &crate::config::VniConfig) {
        match convert::dataplane_vni(&self.config, v) {
            Ok(d) => match self.dataplane.set_vni(d).await {
                Ok(r) => {
                    if let Some(e) = report_error(&r) {
                        error!(vni = v.id, "VNI devices: {e}");
                    }
                }
                Err(e) => error!(vni = v.id, "VNI devices: {e}"),
            },
            Err(e) => error!(vni = v.id, "VNI: {e}"),
        }
        if let Err(e) = self.speaker.originate_imet(v.id).await {
            error!(vni = v.id, "type-3 route: {e}");
        }
        info!(vni = v.id, bridge = %v.bridge, vxlan = %v.vxlan, bum = %v.bum, "VNI up");
    }

    async fn remove_vni(&mut self, v: &crate::config::VniConfig) {
        let keys: Vec<EndpointKey> = self
            .endpoints
            .in_vni(v.id)
            .map(|e| EndpointKey {
                vni: e.vni,
                mac: e.mac,
            })
            .collect();
        for k in keys {
            self.endpoint_del(k).await;
        }
        if let Err(e) = self.speaker.withdraw_imet(v.id).await {
            warn!(vni = v.id, "withdrawing the type-3 route: {e}");
        }
        if let Ok(vni) = Vni::new(v.id) {
            if let Err(e) = self.dataplane.remove_vni(vni).await {
                error!(vni = v.id, "removing VNI devices: {e}");
            }
        }
        info!(vni = v.id, "VNI removed");
    }

    fn save(&self) {
        if let Err(e) = endpoints::save(&self.opts.state_file, &self.endpoints) {
            error!("{e}; a restart would not restore the endpoints");
        }
    }

    pub async fn handle(&mut self, request: Request) -> Result<Response, ControlError> {
        match request {
            Request::ShowRoutes(f) => {
                let filter = RouteFilter {
                    route_type: f.route_type,
                    vni: f.vni,
                    best_only: false,
                };
                let views = self.speaker.routes(filter).await.map_err(internal)?;
                Ok(Response::Routes(
                    views
                        .iter()
                        .filter_map(convert::route)
                        .filter(|r| f.matches(r))
                        .collect(),
                ))
            }
            Request::ShowNeighbors => {
                let ns = self.speaker.neighbors().await.map_err(internal)?;
                Ok(Response::Neighbors(
                    ns.iter()
                        .map(|n| convert::neighbor_status(n, &self.config))
                        .collect(),
                ))
            }
            Request::ShowVnis => self.show_vnis().await.map(Response::Vnis),
            Request::ShowEndpoints(f) => {
                let states = self.states(f.vni).await?;
                Ok(Response::Endpoints(
                    self.endpoints
                        .iter()
                        .filter(|e| f.vni.is_none_or(|v| v == e.vni))
                        .map(|e| states.of(e))
                        .collect(),
                ))
            }
            Request::ShowFdb(f) => self.show_fdb(f.vni).await.map(Response::Fdb),
            Request::ShowSummary => self.summary().await.map(Response::Summary),
            Request::EndpointAdd(spec) => {
                let e = self
                    .endpoint_add(spec, false)
                    .await
                    .map_err(|e| ControlError::new(e.code(), e.to_string()))?;
                let states = self.states(Some(e.vni)).await?;
                Ok(Response::Endpoint(states.of(&e)))
            }
            Request::EndpointDel(key) => {
                self.endpoint_del(key).await;
                Ok(Response::Done)
            }
            Request::EndpointGet(key) => {
                let states = self.states(Some(key.vni)).await?;
                self.endpoints
                    .get(key)
                    .map(|e| Response::Endpoint(states.of(e)))
                    .ok_or_else(|| {
                        ControlError::not_found(format!(
                            "VNI {}: no endpoint with MAC {}",
                            key.vni, key.mac
                        ))
                    })
            }
        }
    }

    /// The <VNI, MAC>s (of `vni`, or all) the RIB advertises local type-2
    /// routes for. A local endpoint missing here moved away: the RIB
    /// withdrew its routes because a remote route for its MAC wins.
    async fn advertised(&self, vni: Option<u32>) -> Result<HashSet<(u32, MacAddr)>, ControlError> {
        let routes = self
            .speaker
            .routes(RouteFilter {
                route_type: Some(2),
                vni,
                best_only: false,
            })
            .await
            .map_err(internal)?;
        Ok(routes
            .iter()
            .filter(|r| r.source == RouteSource::Local)
            .filter_map(|r| Some((r.vni?, r.mac?)))
            .collect())
    }

    /// What the RIB says about the local MACs of `vni` (or all): advertised,
    /// duplicate.
    async fn states(&self, vni: Option<u32>) -> Result<States, ControlError> {
        let advertised = self.advertised(vni).await?;
        let duplicate = self
            .speaker
            .duplicate_macs()
            .await
            .map_err(internal)?
            .iter()
            .filter(|d| vni.is_none_or(|v| v == d.vni))
            .map(|d| (d.vni, d.mac))
            .collect();
        Ok(States {
            advertised,
            duplicate,
        })
    }

    /// The endpoint's type-2 routes: MAC-only, then one per address.
    fn route_ips(e: &EndpointSpec) -> Vec<Option<IpAddr>> {
        std::iter::once(None)
            .chain(e.ips.iter().map(|c| Some(c.addr)))
            .collect()
    }

    /// RFC 7432 section 15, the MAC (re)learned here: the same endpoint
    /// added again while its MAC is advertised by another VTEP takes it
    /// back; the RIB originates its routes above the remote sequence.
    async fn relearn(&mut self, e: &Endpoint) -> Result<(), EndpointError> {
        let advertised = self
            .advertised(Some(e.vni))
            .await
            .map_err(|err| EndpointError::Bgp {
                vni: e.vni,
                mac: e.mac,
                why: err.message,
            })?;
        if advertised.contains(&(e.vni, e.mac)) {
            return Ok(());
        }
        let mut seq = 0;
        for ip in Self::route_ips(&endpoints::spec_of(e)) {
            seq = seq.max(
                self.speaker
                    .originate_mac_ip(e.vni, e.mac, ip)
                    .await
                    .map_err(|err| EndpointError::Bgp {
                        vni: e.vni,
                        mac: e.mac,
                        why: err.to_string(),
                    })?,
            );
        }
        let duplicate = self
            .speaker
            .duplicate_macs()
            .await
            .is_ok_and(|d| d.iter().any(|d| d.vni == e.vni && d.mac == e.mac));
        if duplicate {
            warn!(
                vni = e.vni,
                mac = %e.mac,
                seq,
                "endpoint added again while its MAC was advertised by another VTEP: \
                 not taken back, the MAC is duplicate (RFC 7432 15.1)"
            );
        } else {
            info!(
                vni = e.vni,
                mac = %e.mac,
                seq,
                "endpoint added again while its MAC was advertised by another VTEP: taken back"
            );
        }
        Ok(())
    }

    /// Adds an endpoint (see the module doc). `restoring`: re-attaching an
    /// endpoint of the state file after a restart, whose port may exist
    /// already and must then be kept as it is (traffic flows through it).
    async fn endpoint_add(
        &mut self,
        spec: EndpointSpec,
        restoring: bool,
    ) -> Result<Endpoint, EndpointError> {
        let vni_cfg = self
            .config
            .vni(spec.vni)
            .cloned()
            .ok_or(EndpointError::UnknownVni(spec.vni))?;
        if let Some(existing) = self.endpoints.check_add(&spec)? {
            if !restoring {
                self.relearn(&existing).await?;
            }
            return Ok(existing);
        }
        let vni = Vni::new(spec.vni).map_err(|_| EndpointError::UnknownVni(spec.vni))?;
        let (port, made) = match &spec.attach {
            Attach::Port { ifname } => {
                if plane_dataplane::types::check_ifname(ifname).is_err() {
                    return Err(EndpointError::BadIfName(ifname.clone()));
                }
                if !super::if_exists(ifname) {
                    return Err(EndpointError::PortMissing(ifname.clone()));
                }
                (ifname.clone(), false)
            }
            Attach::Netns { ifname, .. } => {
                if plane_dataplane::types::check_ifname(ifname).is_err() {
                    return Err(EndpointError::BadIfName(ifname.clone()));
                }
                let host = endpoints::host_veth_name(spec.vni, spec.mac);
                if !(restoring && super::if_exists(&host)) {
                    let path = spec.attach.netns_path().unwrap_or_default();
                    if !path.exists() {
                        return Err(EndpointError::Netns {
                            path,
                            why: "no such namespace file".into(),
                        });
                    }
                    veth::create(
                        &host,
                        &path,
                        ifname,
                        spec.mac,
                        &spec.ips,
                        self.config.underlay.mtu,
                    )
                    .await
                    .map_err(|why| EndpointError::Veth {
                        vni: spec.vni,
                        mac: spec.mac,
                        why,
                    })?;
                }
                (host, true)
            }
        };
        let undo_port = |port: String| async move {
            if made {
                if let Err(e) = veth::delete(&port, None, "").await {
                    warn!(port, "cleaning up the veth: {e}");
                }
            }
        };
        let attached = match self.dataplane.add_local_port(vni, &port).await {
            Ok(r) => report_error(&r).map_or(Ok(()), Err),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = attached {
            // Take the port out of the desired state again, unless another
            // endpoint of this VNI shares it.
            if !self.endpoints.in_vni(spec.vni).any(|e| e.port == port) {
                let _ = self.dataplane.remove_local_port(vni, &port).await;
            }
            undo_port(port.clone()).await;
            return Err(EndpointError::Dataplane {
                vni: spec.vni,
                port,
                why,
            });
        }
        let ips = Self::route_ips(&spec);
        let mut seq = 0;
        for ip in &ips {
            match self.speaker.originate_mac_ip(spec.vni, spec.mac, *ip).await {
                Ok(s) => seq = seq.max(s),
                Err(e) => {
                    self.withdraw(spec.vni, spec.mac, &ips).await;
                    if !self.endpoints.in_vni(spec.vni).any(|e| e.port == port) {
                        let _ = self.dataplane.remove_local_port(vni, &port).await;
                    }
                    undo_port(port).await;
                    return Err(EndpointError::Bgp {
                        vni: spec.vni,
                        mac: spec.mac,
                        why: e.to_string(),
                    });
                }
            }
        }
        let e = Endpoint {
            vni: spec.vni,
            mac: spec.mac,
            ips: spec.ips,
            attach: spec.attach,
            port,
            bridge: vni_cfg.bridge,
            state: EndpointState::Active,
        };
        let ips: Vec<String> = e.ips.iter().map(|i| i.to_string()).collect();
        info!(
            vni = e.vni,
            mac = %e.mac,
            ips = %ips.join(","),
            port = %e.port,
            seq,
            restoring,
            "endpoint added"
        );
        self.endpoints.insert(e.clone());
        if !restoring {
            self.save();
        }
        Ok(e)
    }

    async fn withdraw(&self, vni: u32, mac: MacAddr, ips: &[Option<IpAddr>]) {
        for ip in ips.iter().rev() {
            if let Err(e) = self.speaker.withdraw_mac_ip(vni, mac, *ip).await {
                warn!(vni, %mac, "withdrawing type-2 route: {e}");
            }
        }
    }

    /// Removes an endpoint; removing one that is not there is success.
    async fn endpoint_del(&mut self, key: EndpointKey) {
        let Some(e) = self.endpoints.remove(key) else {
            return;
        };
        let ips = Self::route_ips(&endpoints::spec_of(&e));
        self.withdraw(e.vni, e.mac, &ips).await;
        // A port shared by several endpoints (one veth, several MACs) stays
        // on the bridge until the last of them goes.
        let shared = self.endpoints.in_vni(e.vni).any(|o| o.port == e.port);
        if let (false, Ok(vni)) = (shared, Vni::new(e.vni)) {
            match self.dataplane.remove_local_port(vni, &e.port).await {
                Ok(r) => {
                    if let Some(err) = report_error(&r) {
                        warn!(vni = e.vni, port = %e.port, "detaching: {err}");
                    }
                }
                Err(err) => warn!(vni = e.vni, port = %e.port, "detaching: {err}"),
            }
        }
        if let Attach::Netns { ifname, .. } = &e.attach {
            if let Err(err) = veth::delete(&e.port, e.attach.netns_path(), ifname).await {
                warn!(port = %e.port, "deleting the veth: {err}");
            }
        }
        info!(vni = e.vni, mac = %e.mac, port = %e.port, "endpoint removed");
        self.save();
    }

    async fn show_vnis(&self) -> Result<Vec<VniInfo>, ControlError> {
        let snap = self.dataplane.snapshot().await.map_err(internal)?;
        let imets = self
            .speaker
            .routes(RouteFilter {
                route_type: Some(3),
                vni: None,
                best_only: true,
            })
            .await
            .map_err(internal)?;
        Ok(self
            .config
            .vnis
            .iter()
            .map(|v| {
                let remote_macs = snap
                    .iter()
                    .find(|s| s.vni.get() == v.id)
                    .map_or(0, |s| s.macs.len() as u64);
                let mut remote_vteps: Vec<IpAddr> = imets
                    .iter()
                    .filter(|r| r.vni == Some(v.id) && r.peer_addr.is_some())
                    .filter_map(|r| r.originator.or(r.nexthop))
                    .collect();
                remote_vteps.sort();
                remote_vteps.dedup();
                VniInfo {
                    local_macs: self.endpoints.in_vni(v.id).count() as u64,
                    remote_macs,
                    remote_vteps,
                    ..VniInfo::configured(v)
                }
            })
            .collect())
    }

    async fn show_fdb(&self, vni: Option<u32>) -> Result<Vec<FdbVni>, ControlError> {
        let snap = self.dataplane.snapshot().await.map_err(internal)?;
        Ok(snap
            .into_iter()
            .filter(|s| vni.is_none_or(|v| v == s.vni.get()))
            .map(|s| FdbVni {
                vni: s.vni.get(),
                vxlan: s.vxlan,
                remote_macs: s
                    .macs
                    .iter()
                    .map(|m| FdbMac {
                        mac: MacAddr(m.mac.0),
                        vtep: m.vtep,
                    })
                    .collect(),
                neighbors: s
                    .neighbours
                    .iter()
                    .map(|n| FdbNeighbor {
                        ip: n.ip,
                        mac: MacAddr(n.mac.0),
                    })
                    .collect(),
                flood: s.flood,
            })
            .collect())
    }

    async fn summary(&self) -> Result<Summary, ControlError> {
        let ns = self.speaker.neighbors().await.map_err(internal)?;
        let routes = self
            .speaker
            .routes(RouteFilter::default())
            .await
            .map_err(internal)?;
        Ok(Summary {
            version: env!("CARGO_PKG_VERSION").to_string(),
            asn: self.config.bgp.asn,
            router_id: self.config.bgp.router_id,
            local_vtep: self.config.underlay.local_ip,
            uptime_secs: self.started.elapsed().as_secs(),
            neighbors: ns.len() as u64,
            neighbors_established: ns
                .iter()
                .filter(|n| n.state == plane_bgp::fsm::State::Established)
                .count() as u64,
            vnis: self.config.vnis.len() as u64,
            endpoints: self.endpoints.len() as u64,
            routes: routes.len() as u64,
        })
    }

    /// SIGHUP: re-reads the config file and applies what changed: the
    /// neighbours and VNIs concerned only (the other sessions and VNIs are
    /// untouched; a neighbour whose hold time or description only changed
    /// keeps its session), `[log] level`, `[evpn.duplicate_mac]`, and the
    /// `[bgp]` timers (`hold_time`, `keepalive`, `connect_retry`) for the
    /// sessions opened from then on. What needs a restart
    /// ([`needs_restart`]) keeps its running value, with a warning naming
    /// the keys. An invalid file changes nothing.
    pub async fn reload(&mut self) {
        let path = self.opts.config_path.clone();
        let mut new = match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                error!("SIGHUP: config not reloaded, the running one stays:\n{e}");
                return;
            }
        };
        if self.opts.socket_overridden {
            // --socket / PLANE_SOCKET overrode the file at start; keep it.
            new.control.socket = self.config.control.socket.clone();
        }
        let diff = ConfigDiff::between(&self.config, &new);
        if diff.is_empty() {
            info!("SIGHUP: config unchanged");
            return;
        }
        let restart = needs_restart(&diff);
        if !restart.is_empty() {
            warn!(
                keys = %restart.join(", "),
                "SIGHUP: changing these needs a restart of planed; the running values stay"
            );
        }
        // The running values of what needs a restart, the file's of the rest.
        new.bgp = BgpConfig {
            hold_time: new.bgp.hold_time,
            keepalive: new.bgp.keepalive,
            connect_retry: new.bgp.connect_retry,
            ..self.config.bgp.clone()
        };
        new.underlay = self.config.underlay;
        new.control = self.config.control.clone();
        if new.bgp.hold_time != self.config.bgp.hold_time
            || new.bgp.keepalive != self.config.bgp.keepalive
            || new.bgp.connect_retry != self.config.bgp.connect_retry
        {
            let s = convert::speaker(&new, false);
            match self
                .speaker
                .set_session_timers(s.hold_time, s.keepalive, s.connect_retry)
                .await
            {
                Ok(()) => info!(
                    hold_time = ?new.bgp.hold_time,
                    keepalive = ?new.bgp.keepalive,
                    connect_retry = ?new.bgp.connect_retry,
                    "SIGHUP: [bgp] timers changed; sessions opened from now on use them"
                ),
                Err(e) => {
                    error!("SIGHUP: [bgp] timers not applied, the old ones stay: {e}");
                    new.bgp = self.config.bgp.clone();
                }
            }
        }
        if diff.evpn_changed {
            // The speaker's view of the new file, as at start.
            let detection = convert::speaker(&new, false).duplicate_mac;
            match self.speaker.set_duplicate_mac_detection(detection).await {
                Ok(()) => info!(
                    from = ?self.config.evpn.duplicate_mac,
                    to = ?new.evpn.duplicate_mac,
                    "SIGHUP: [evpn.duplicate_mac] changed"
                ),
                Err(e) => {
                    error!("SIGHUP: [evpn.duplicate_mac] not applied, the old settings stay: {e}");
                    new.evpn = self.config.evpn;
                }
            }
        }
        if diff.log_changed && !self.reload_log(&new.log.level) {
            new.log = self.config.log.clone();
        }
        // Removed VNIs first, while the speaker still knows them, so that
        // their endpoints' routes and their type-3 route are withdrawn.
        for v in &diff.vnis_removed {
            self.remove_vni(v).await;
        }
        self.config = new;
        // Then the new route targets and RDs, so that added VNIs import at once.
        let imports = self.config.vnis.iter().map(convert::vni_import).collect();
        if let Err(e) = self.speaker.set_vnis(imports).await {
            error!("SIGHUP: VNI route targets: {e}");
        }
        for v in &diff.vnis_added {
            self.add_vni(v).await;
        }
        for c in &diff.vnis_changed {
            // Devices (BUM policy, names) follow the new config; the speaker
            // already re-exports with the new RD / RTs.
            self.add_vni(&c.new).await;
        }
        for n in &diff.neighbors_removed {
            if let Err(e) = self.speaker.remove_neighbor(n.address).await {
                warn!(neighbor = %n.address, "SIGHUP: {e}");
            }
        }
        // A neighbour whose session settings changed is reset; one whose
        // hold time or description only changed keeps its session.
        let mut reset = Vec::new();
        for c in &diff.neighbors_changed {
            let (old, new) = (convert::neighbor(&c.old), convert::neighbor(&c.new));
            if old == new {
                continue;
            }
            let hold_time_only = SpeakerNeighbor {
                hold_time: new.hold_time,
                ..old
            } == new;
            if hold_time_only {
                match self
                    .speaker
                    .set_neighbor_hold_time(new.address, new.hold_time)
                    .await
                {
                    Ok(()) => info!(
                        neighbor = %new.address,
                        hold_time = ?c.new.hold_time,
                        "SIGHUP: hold time changed; the session's next OPEN proposes it"
                    ),
                    Err(e) => error!(neighbor = %new.address, "SIGHUP: {e}"),
                }
                continue;
            }
            if let Err(e) = self.speaker.remove_neighbor(c.old.address).await {
                warn!(neighbor = %c.old.address, "SIGHUP: {e}");
            }
            reset.push(&c.new);
        }
        for n in diff.neighbors_added.iter().chain(reset) {
            if let Err(e) = self.speaker.add_neighbor(convert::neighbor(n)).await {
                error!(neighbor = %n.address, "SIGHUP: {e}");
            }
        }
        info!(
            neighbors_added = diff.neighbors_added.len(),
            neighbors_removed = diff.neighbors_removed.len(),
            neighbors_changed = diff.neighbors_changed.len(),
            vnis_added = diff.vnis_added.len(),
            vnis_removed = diff.vnis_removed.len(),
            vnis_changed = diff.vnis_changed.len(),
            "SIGHUP: config reloaded"
        );
        self.save();
    }

    /// SIGHUP with a changed `[log] level`: the running filter becomes
    /// `level`, unless `PLANE_LOG` overrides the file. Returns false when
    /// the old filter stays because the new one could not be applied.
    fn reload_log(&self, level: &str) -> bool {
        let old = &self.config.log.level;
        if let Some(env) = self.opts.log.env_override() {
            info!(plane_log = %env, "SIGHUP: PLANE_LOG overrides [log] level; log filter unchanged");
            return true;
        }
        // The parser checked it already; a filter that fails here is
        // reported, not half applied.
        if let Err(e) = LogFilter::parse(level) {
            error!("SIGHUP: [log] level not applied, {old:?} stays: {e}");
            return false;
        }
        // Said under the filter that shows it: the old one when it shows
        // info, else the new one (`warn` → `debug` and `debug` → `warn`
        // both leave the line).
        let said_before = tracing::enabled!(tracing::Level::INFO);
        if said_before {
            info!(from = %old, to = %level, "SIGHUP: [log] level changed");
        }
        match self.opts.log.set(level) {
            Ok(()) => {
                if !said_before {
                    info!(from = %old, to = %level, "SIGHUP: [log] level changed");
                }
                true
            }
            Err(e) => {
                error!("SIGHUP: [log] level {level:?} not applied, {old:?} stays: {e}");
                false
            }
        }
    }
}

/// The keys of `diff` that a running planed cannot take (a new listener,
/// identity, VTEP, control socket; or a value read only at start), as the
/// file names them (`bgp.asn`). Everything else SIGHUP applies.
fn needs_restart(diff: &ConfigDiff) -> Vec<String> {
    // The speaker takes these for the sessions it opens from now on;
    // keepalive follows the hold time (a third of the negotiated one).
    const LIVE_BGP: [&str; 3] = ["hold_time", "keepalive", "connect_retry"];
    let bgp = diff
        .bgp_keys
        .iter()
        .filter(|k| !LIVE_BGP.contains(k))
        .map(|k| format!("bgp.{k}"));
    let underlay = diff.underlay_keys.iter().map(|k| format!("underlay.{k}"));
    let control = diff.control_keys.iter().map(|k| format!("control.{k}"));
    bgp.chain(underlay).chain(control).collect()
}

/// The RIB's view of local MACs ([`Core::states`]).
struct States {
    advertised: HashSet<(u32, MacAddr)>,
    duplicate: HashSet<(u32, MacAddr)>,
}

impl States {
    /// `e` as planed reports it: duplicate when the RIB found its MAC
    /// duplicate, else moved when the RIB advertises none of its routes
    /// (see [`Core::advertised`]), else active.
    fn of(&self, e: &Endpoint) -> Endpoint {
        let key = (e.vni, e.mac);
        let state = if self.duplicate.contains(&key) {
            EndpointState::Duplicate
        } else if self.advertised.contains(&key) {
            EndpointState::Active
        } else {
            EndpointState::Moved
        };
        Endpoint { state, ..e.clone() }
    }
}

fn internal(e: impl std::fmt::Display) -> ControlError {
    ControlError::internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ErrorCode, VniFilter};
    use plane_bgp::speaker;
    use std::time::Duration;

    const TOML: &str = r#"
[bgp]
asn = 65000
router_id = "10.0.0.1"
[underlay]
local_ip = "10.0.0.1"
[[vni]]
id = 10
[[vni]]
id = 20
"#;

    async fn core(dir: &std::path::Path) -> Core {
        let config = Config::parse(TOML, "t.toml").unwrap();
        let mut sc = convert::speaker(&config, false);
        sc.listen.clear();
        let (sp, _events, _task) = speaker::start(sc).await.unwrap();
        let (dp, _dp_events, _ops) = Dataplane::recording().await;
        let opts = DaemonOptions {
            config_path: dir.join("t.toml"),
            state_file: dir.join("endpoints.json"),
            log: super::super::LogFilter::default(),
            socket_overridden: false,
        };
        let mut c = Core::new(config, opts, sp, dp);
        c.start(Vec::new()).await;
        c
    }

    fn spec(vni: u32, last: u8, ips: &[&str], port: &str) -> EndpointSpec {
        EndpointSpec {
            vni,
            mac: MacAddr([2, 0, 0, 0, 0, last]),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            attach: Attach::Port {
                ifname: port.into(),
            },
        }
    }

    async fn local_type2(c: &mut Core, vni: u32) -> usize {
        match c
            .handle(Request::ShowRoutes(crate::control::RouteFilter {
                vni: Some(vni),
                route_type: Some(2),
                mac: None,
            }))
            .await
            .unwrap()
        {
            Response::Routes(r) => r.len(),
            other => panic!("{other:?}"),
        }
    }

    async fn endpoint_state(c: &mut Core, key: EndpointKey) -> EndpointState {
        match c.handle(Request::EndpointGet(key)).await.unwrap() {
            Response::Endpoint(e) => e.state,
            other => panic!("{other:?}"),
        }
    }

    /// Polls `f` every 20 ms until it holds, for up to 20 s.
    async fn eventually<F: std::future::Future<Output = bool>>(
        what: &str,
        mut f: impl FnMut() -> F,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !f().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn free_port(ip: &str) -> u16 {
        std::net::TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap()
    }

    /// The sequence number of the MAC-only VNI 10 type-2 route that `b`
    /// has from next hop `from`.
    async fn seq_from(b: &SpeakerHandle, from: IpAddr) -> Option<u32> {
        b.routes(RouteFilter {
            route_type: Some(2),
            vni: Some(10),
            best_only: false,
        })
        .await
        .unwrap()
        .iter()
        .find(|r| r.ip.is_none() && r.nexthop == Some(from))
        .map(|r| r.seq)
    }

    /// With `max_moves = 2`: endpoint `a` added on the core, its MAC taken
    /// by B (move 1, the endpoint is moved), `a` added again (move 2, back
    /// at sequence 2): the endpoint is duplicate.
    async fn duplicate_after_two_moves(c: &mut Core, b: &SpeakerHandle, a: &EndpointSpec) {
        let ours: IpAddr = "10.0.0.1".parse().unwrap();
        c.handle(Request::EndpointAdd(a.clone())).await.unwrap();
        eventually("B has our MAC at 0", || async {
            seq_from(b, ours).await == Some(0)
        })
        .await;
        assert_eq!(b.originate_mac_ip(10, a.mac, None).await.unwrap(), 1);
        eventually("our route withdrawn from B", || async {
            seq_from(b, ours).await.is_none()
        })
        .await;
        assert_eq!(endpoint_state(c, a.key()).await, EndpointState::Moved);
        c.handle(Request::EndpointAdd(a.clone())).await.unwrap();
        eventually("our route back on B at 2", || async {
            seq_from(b, ours).await == Some(2)
        })
        .await;
        assert_eq!(endpoint_state(c, a.key()).await, EndpointState::Duplicate);
    }

    /// A core (VTEP 10.0.0.1, BGP on 127.0.0.1, VNI 10, `extra` config
    /// before the VNI) over a recording dataplane, and a bare speaker B
    /// (127.0.0.2, VTEP 127.0.0.2, no duplicate detection) as its iBGP
    /// neighbour. The last value keeps alive what the test does not use
    /// (the directory with the config and state file, event streams).
    async fn core_and_peer(
        extra: &str,
    ) -> (Core, speaker::SpeakerHandle, Vec<Box<dyn std::any::Any>>) {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
        let toml = format!(
            r#"
[bgp]
asn = 65000
router_id = "10.0.0.1"
listen = "127.0.0.1:{pa}"
connect_retry = 1
[[bgp.neighbor]]
address = "127.0.0.2"
remote_asn = 65000
port = {pb}
[underlay]
local_ip = "10.0.0.1"
{extra}[[vni]]
id = 10
"#
        );
        let config = Config::parse(&toml, "t.toml").unwrap();
        // On disk too, for SIGHUP tests to rewrite.
        std::fs::write(dir.path().join("t.toml"), &toml).unwrap();
        let (sp, events, _task) = speaker::start(convert::speaker(&config, false))
            .await
            .unwrap();
        let (dp, dp_events, ops) = Dataplane::recording().await;
        let opts = DaemonOptions {
            config_path: dir.path().join("t.toml"),
            state_file: dir.path().join("endpoints.json"),
            log: super::super::LogFilter::default(),
            socket_overridden: false,
        };
        let mut c = Core::new(config, opts, sp, dp);
        c.start(Vec::new()).await;

        let b_ip: IpAddr = "127.0.0.2".parse().unwrap();
        let mut bc = speaker::SpeakerConfig::new(
            65000,
            "127.0.0.2".parse().unwrap(),
            vec![std::net::SocketAddr::new(b_ip, pb)],
            b_ip,
        );
        bc.connect_retry = Duration::from_secs(1);
        bc.vnis = vec![plane_bgp::rib::VniImport::auto(10, 65000)];
        bc.duplicate_mac = None;
        let mut n = speaker::NeighborConfig::new("127.0.0.1".parse().unwrap(), 65000);
        n.port = pa;
        n.local_address = Some(b_ip);
        bc.neighbors = vec![n];
        let (b, b_events, _b_task) = speaker::start(bc).await.unwrap();
        let keep: Vec<Box<dyn std::any::Any>> = vec![
            Box::new(dir),
            Box::new(events),
            Box::new(dp_events),
            Box::new(ops),
            Box::new(b_events),
        ];
        (c, b, keep)
    }

    /// RFC 7432 section 15 through the core, over a real session: the core's
    /// endpoint (VTEP 10.0.0.1, on 127.0.0.1) moves to a bare speaker
    /// (VTEP 127.0.0.2) that originates the same MAC, so the core withdraws
    /// its routes and reports the endpoint moved; adding the endpoint
    /// again takes the MAC back, above the other side's sequence.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_moved_endpoint_is_withdrawn_reported_and_taken_back_when_added_again() {
        let (mut c, b, _keep) = core_and_peer("").await;
        let b_ip: IpAddr = "127.0.0.2".parse().unwrap();

        let a = spec(10, 1, &["192.168.0.1/24"], "lo");
        let key = a.key();
        c.handle(Request::EndpointAdd(a.clone())).await.unwrap();
        assert_eq!(endpoint_state(&mut c, key).await, EndpointState::Active);
        // B hears our MAC, then originates it itself: above our 0.
        let ours: IpAddr = "10.0.0.1".parse().unwrap();
        eventually("B has our MAC", || async {
            seq_from(&b, ours).await == Some(0)
        })
        .await;
        assert_eq!(b.originate_mac_ip(10, a.mac, None).await.unwrap(), 1);

        // We withdraw ours: B no longer has it, the endpoint is moved but
        // still registered.
        eventually("our route withdrawn from B", || async {
            seq_from(&b, ours).await.is_none()
        })
        .await;
        assert_eq!(local_type2(&mut c, 10).await, 1, "only B's route");
        assert_eq!(endpoint_state(&mut c, key).await, EndpointState::Moved);
        match c
            .handle(Request::ShowEndpoints(VniFilter { vni: None }))
            .await
            .unwrap()
        {
            Response::Endpoints(v) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].state, EndpointState::Moved);
            }
            other => panic!("{other:?}"),
        }

        // Added again: the MAC is back here, at B's 1 + 1.
        match c.handle(Request::EndpointAdd(a)).await.unwrap() {
            Response::Endpoint(e) => assert_eq!(e.state, EndpointState::Active),
            other => panic!("{other:?}"),
        }
        eventually("our route back on B at seq 2", || async {
            seq_from(&b, ours).await == Some(2)
        })
        .await;
        // And B, by the same rule, withdrew its own.
        let bs: IpAddr = b_ip;
        eventually("B's route withdrawn", || async {
            seq_from(&b, bs).await.is_none()
        })
        .await;
        b.shutdown("test over").await.unwrap();
    }

    /// RFC 7432 section 15.1 through the core: with `max_moves = 2`, our
    /// endpoint's MAC taken by a bare speaker B and taken back by adding the
    /// endpoint again is duplicate; when B takes it again, adding the
    /// endpoint again no longer takes it back, and the endpoint is reported
    /// duplicate until it is deleted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mac_moving_back_and_forth_is_reported_duplicate_and_not_taken_back() {
        let (mut c, b, _keep) =
            core_and_peer("[evpn.duplicate_mac]\nmax_moves = 2\nwindow = 600\n").await;

        let a = spec(10, 1, &[], "lo");
        let key = a.key();
        let ours: IpAddr = "10.0.0.1".parse().unwrap();
        duplicate_after_two_moves(&mut c, &b, &a).await;
        // B takes it again (B does not detect): ours goes, and adding the
        // endpoint again does not take it back.
        assert_eq!(b.originate_mac_ip(10, a.mac, None).await.unwrap(), 3);
        eventually("our route withdrawn from B", || async {
            seq_from(&b, ours).await.is_none()
        })
        .await;
        match c.handle(Request::EndpointAdd(a.clone())).await.unwrap() {
            Response::Endpoint(e) => assert_eq!(e.state, EndpointState::Duplicate),
            other => panic!("{other:?}"),
        }
        assert_eq!(local_type2(&mut c, 10).await, 1, "only B's route");
        let dups = c.speaker.duplicate_macs().await.unwrap();
        assert_eq!(dups.len(), 1);
        assert!(dups[0].moved && dups[0].moves >= 2, "{dups:?}");
        // Deleted: the duplicate state goes with it.
        c.handle(Request::EndpointDel(key)).await.unwrap();
        assert!(c.speaker.duplicate_macs().await.unwrap().is_empty());
        b.shutdown("test over").await.unwrap();
    }

    /// SIGHUP turning duplicate MAC detection off (RFC 7432 section 15.1)
    /// releases a duplicate MAC at once: it is reported active, and when
    /// the other side takes it again, adding the endpoint takes it back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sighup_turning_duplicate_mac_detection_off_releases_the_mac() {
        let detection = "[evpn.duplicate_mac]\nmax_moves = 2\nwindow = 600\n";
        let (mut c, b, _keep) = core_and_peer(detection).await;
        let a = spec(10, 1, &[], "lo");
        let key = a.key();
        let ours: IpAddr = "10.0.0.1".parse().unwrap();
        duplicate_after_two_moves(&mut c, &b, &a).await;

        let path = c.opts.config_path.clone();
        let toml = std::fs::read_to_string(&path).unwrap();
        let off = toml.replace(detection, "[evpn.duplicate_mac]\nenabled = false\n");
        std::fs::write(&path, off).unwrap();
        c.reload().await;
        assert_eq!(c.config.evpn.duplicate_mac, None);
        assert!(c.speaker.duplicate_macs().await.unwrap().is_empty());
        assert_eq!(endpoint_state(&mut c, key).await, EndpointState::Active);
        // No detection any more: B takes it, adding the endpoint takes it back.
        assert_eq!(b.originate_mac_ip(10, a.mac, None).await.unwrap(), 3);
        eventually("our route withdrawn from B", || async {
            seq_from(&b, ours).await.is_none()
        })
        .await;
        match c.handle(Request::EndpointAdd(a.clone())).await.unwrap() {
            Response::Endpoint(e) => assert_eq!(e.state, EndpointState::Active),
            other => panic!("{other:?}"),
        }
        eventually("our route back on B at 4", || async {
            seq_from(&b, ours).await == Some(4)
        })
        .await;

        // And on again: the settings reach the RIB (moves counted anew).
        std::fs::write(&path, &toml).unwrap();
        c.reload().await;
        assert_eq!(
            c.config.evpn.duplicate_mac.map(|d| d.max_moves),
            Some(2),
            "detection back on"
        );
        b.shutdown("test over").await.unwrap();
    }

    /// The hold time of the next OPEN the core's speaker sends on a
    /// connection accepted by `l` (the neighbour's side, 127.0.0.2), and
    /// the connection (kept open: the session waits in OpenSent).
    async fn next_open_hold_time(l: &tokio::net::TcpListener) -> (u16, tokio::net::TcpStream) {
        use plane_bgp::wire::{decode_message, frame, Message, SessionParams};
        use tokio::io::AsyncReadExt;
        let deadline = Duration::from_secs(20);
        let (mut io, _) = tokio::time::timeout(deadline, l.accept())
            .await
            .expect("the speaker connects within 20 s")
            .unwrap();
        let mut buf = Vec::new();
        loop {
            if let Some(n) = frame(&buf, 4096).unwrap() {
                match decode_message(&buf[..n], &SessionParams::default()).unwrap() {
                    Message::Open(o) => return (o.hold_time, io),
                    other => panic!("expected an OPEN, got {other:?}"),
                }
            }
            let read = tokio::time::timeout(deadline, io.read_buf(&mut buf))
                .await
                .expect("an OPEN within 20 s")
                .unwrap();
            assert!(read > 0, "closed before the OPEN");
        }
    }

    /// SIGHUP with new `[bgp]` timers and a neighbour's hold time: no
    /// session is reset, the next OPEN proposes the new hold time; a
    /// changed `asn` or `listen` is not taken (it needs a restart).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sighup_applies_timers_to_the_next_open_without_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
        let toml = |bgp: &str, neighbor: &str| {
            format!(
                "[bgp]\nrouter_id = \"10.0.0.1\"\nlisten = \"127.0.0.1:{pa}\"\n\
                 connect_retry = 1\n{bgp}[[bgp.neighbor]]\naddress = \"127.0.0.2\"\n\
                 remote_asn = 65000\nport = {pb}\n{neighbor}[underlay]\nlocal_ip = \"10.0.0.1\"\n"
            )
        };
        let path = dir.path().join("t.toml");
        let config = Config::parse(&toml("asn = 65000\n", ""), "t.toml").unwrap();
        let (sp, _events, _task) = speaker::start(convert::speaker(&config, false))
            .await
            .unwrap();
        let (dp, _dp_events, _ops) = Dataplane::recording().await;
        let opts = DaemonOptions {
            config_path: path.clone(),
            state_file: dir.path().join("endpoints.json"),
            log: LogFilter::default(),
            socket_overridden: false,
        };
        let l = tokio::net::TcpListener::bind(("127.0.0.2", pb))
            .await
            .unwrap();
        let mut c = Core::new(config, opts, sp, dp);
        c.start(Vec::new()).await;
        let (hold, first) = next_open_hold_time(&l).await;
        assert_eq!(hold, 90, "the default");

        std::fs::write(&path, toml("hold_time = 30\nasn = 65001\n", "")).unwrap();
        c.reload().await;
        assert_eq!(c.config.bgp.hold_time, Duration::from_secs(30));
        assert_eq!(c.config.bgp.asn, 65000, "asn needs a restart");
        // The next session proposes the new [bgp] hold time.
        drop(first);
        let (hold, second) = next_open_hold_time(&l).await;
        assert_eq!(hold, 30);

        std::fs::write(
            &path,
            toml(
                "asn = 65000\nhold_time = 30\n",
                "hold_time = 15\ndescription = \"rack 2\"\n",
            ),
        )
        .unwrap();
        c.reload().await;
        assert_eq!(
            c.config.neighbors[0].hold_time,
            Some(Duration::from_secs(15))
        );
        // Not reset: the session still waits in OpenSent on the second
        // connection (a reset would close it and connect anew).
        let ns = c.speaker.neighbors().await.unwrap();
        assert_eq!(ns[0].state, plane_bgp::fsm::State::OpenSent, "{ns:?}");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), l.accept())
                .await
                .is_err(),
            "no new connection: the session was not reset"
        );
        // The next session proposes the neighbour's hold time.
        drop(second);
        let (hold, _third) = next_open_hold_time(&l).await;
        assert_eq!(hold, 15);
        c.speaker.shutdown("test over").await.unwrap();
    }

    /// What SIGHUP cannot take is named key by key; the timers are not.
    #[test]
    fn needs_restart_names_the_keys_a_reload_cannot_take() {
        let old = Config::parse(TOML, "t.toml").unwrap();
        let text = TOML
            .replace(
                "asn = 65000",
                "asn = 65001\nhold_time = 30\nconnect_retry = 2",
            )
            .replace("[underlay]\n", "[underlay]\nmtu = 9000\n");
        let text = format!("{text}[control]\nsocket = \"/run/other.sock\"\n");
        let new = Config::parse(&text, "t.toml").unwrap();
        assert_eq!(
            needs_restart(&ConfigDiff::between(&old, &new)),
            ["bgp.asn", "underlay.mtu", "control.socket"]
        );
    }

    /// A reload with another `[control] socket` keeps the running one.
    #[tokio::test]
    async fn sighup_keeps_the_running_control_socket() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = core(dir.path()).await;
        let running = c.config.control.socket.clone();
        write_config(dir.path(), "[control]\nsocket = \"/run/other.sock\"\n");
        c.reload().await;
        assert_eq!(c.config.control.socket, running);
    }

    async fn code(c: &mut Core, s: EndpointSpec) -> ErrorCode {
        c.handle(Request::EndpointAdd(s)).await.unwrap_err().code
    }

    #[tokio::test]
    async fn endpoint_add_originates_checks_persists_and_del_withdraws() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = core(dir.path()).await;
        // "lo" exists in every namespace: a port that is there.
        let a = spec(10, 1, &["192.168.0.1/24", "fd00::1/64"], "lo");
        let r = c.handle(Request::EndpointAdd(a.clone())).await.unwrap();
        assert!(matches!(r, Response::Endpoint(ref e) if e.port == "lo" && e.bridge == "br10"));
        // MAC-only + one per IP.
        assert_eq!(local_type2(&mut c, 10).await, 3);
        // Idempotent.
        assert!(c.handle(Request::EndpointAdd(a.clone())).await.is_ok());
        // Same MAC and IP in VNI 20: another tenant, accepted by the table
        // (the e2e tests attach such endpoints; here "lo" is on br10 already).
        let b = spec(20, 1, &["192.168.0.1/24"], "lo");
        assert!(c.endpoints.check_add(&b).unwrap().is_none());
        let b = spec(20, 5, &["192.168.0.5/24"], "lo");
        let e = c.handle(Request::EndpointAdd(b)).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal, "a port on two bridges: {e}");
        assert_eq!(local_type2(&mut c, 20).await, 0, "nothing originated");
        // Typed refusals.
        assert_eq!(
            code(&mut c, spec(30, 2, &[], "lo")).await,
            ErrorCode::NotFound
        );
        assert_eq!(
            code(&mut c, spec(10, 1, &["192.168.0.7/24"], "lo")).await,
            ErrorCode::AlreadyExists
        );
        assert_eq!(
            code(&mut c, spec(10, 2, &["192.168.0.1/24"], "lo")).await,
            ErrorCode::AlreadyExists
        );
        assert_eq!(
            code(&mut c, spec(10, 3, &[], "no-such-port")).await,
            ErrorCode::NotFound
        );
        // Persisted: both endpoints, reloadable.
        let saved = endpoints::load(&dir.path().join("endpoints.json"))
            .unwrap()
            .unwrap();
        assert_eq!(saved.len(), 1);
        // Delete withdraws; deleting again is success.
        let key = a.key();
        assert!(matches!(
            c.handle(Request::EndpointDel(key)).await,
            Ok(Response::Done)
        ));
        assert!(c.handle(Request::EndpointDel(key)).await.is_ok());
        assert_eq!(local_type2(&mut c, 10).await, 0);
        let eps = c
            .handle(Request::ShowEndpoints(VniFilter { vni: None }))
            .await
            .unwrap();
        assert!(matches!(eps, Response::Endpoints(ref v) if v.is_empty()));
    }

    /// A core whose log filter is a reload layer starting at `start`,
    /// installed for this thread; the guard keeps it installed.
    async fn core_with_log_filter(
        dir: &std::path::Path,
        start: &str,
        env: Option<&str>,
    ) -> (Core, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        let (layer, handle) =
            tracing_subscriber::reload::Layer::new(LogFilter::parse(start).unwrap());
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        let mut c = core(dir).await;
        c.opts.log = LogFilter {
            env: env.map(str::to_string),
            ..LogFilter::from_handle(handle)
        };
        (c, guard)
    }

    fn write_config(dir: &std::path::Path, extra: &str) {
        std::fs::write(dir.join("t.toml"), format!("{TOML}{extra}")).unwrap();
    }

    /// SIGHUP with a changed `[log] level` swaps the running filter, in
    /// both directions, without a restart.
    #[tokio::test]
    async fn sighup_applies_a_changed_log_level() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, _guard) = core_with_log_filter(dir.path(), "warn", None).await;
        c.config.log.level = "warn".into();
        assert!(!tracing::enabled!(tracing::Level::DEBUG));

        write_config(dir.path(), "[log]\nlevel = \"debug,plane_bgp=trace\"\n");
        c.reload().await;
        let want = LogFilter::parse("debug,plane_bgp=trace")
            .unwrap()
            .to_string();
        assert_eq!(c.opts.log.current().as_deref(), Some(want.as_str()));
        assert_eq!(c.config.log.level, "debug,plane_bgp=trace");
        assert!(tracing::enabled!(tracing::Level::DEBUG));

        write_config(dir.path(), "[log]\nlevel = \"error\"\n");
        c.reload().await;
        assert_eq!(c.opts.log.current().as_deref(), Some("error"));
        assert!(!tracing::enabled!(tracing::Level::WARN));
        // The rest of the config did not move.
        assert_eq!(c.config.vnis.len(), 2);
    }

    /// `PLANE_LOG` at start wins over the file on SIGHUP too.
    #[tokio::test]
    async fn sighup_leaves_the_log_filter_to_plane_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, _guard) = core_with_log_filter(dir.path(), "warn", Some("warn")).await;
        write_config(dir.path(), "[log]\nlevel = \"debug\"\n");
        c.reload().await;
        assert_eq!(c.opts.log.current().as_deref(), Some("warn"));
        assert!(!tracing::enabled!(tracing::Level::DEBUG));
        // The file's value is the config's: the state says what the file says.
        assert_eq!(c.config.log.level, "debug");
    }
}
