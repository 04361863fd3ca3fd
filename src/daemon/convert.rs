//! Conversions between the config, the BGP speaker, the dataplane and the
//! control protocol's DTOs. Pure functions, no state.

use crate::config::{self, BumMode, Config};
use crate::control::{self, Neighbor, Route, RouteKind, SessionState};
use plane_bgp::fsm::{GracefulRestartConfig, State};
use plane_bgp::rib::{self, RouteView, VniImport};
use plane_bgp::speaker::{NeighborConfig, NeighborStatus, SpeakerConfig};
use plane_dataplane::{BumPolicy, Vni, VniConfig};
use std::time::Duration;

/// Seconds as the u16 the BGP OPEN carries, saturating.
fn secs_u16(d: Duration) -> u16 {
    u16::try_from(d.as_secs()).unwrap_or(u16::MAX)
}

/// The speaker's VNI import/export rules from `[[vni]]`.
pub fn vni_import(v: &config::VniConfig) -> VniImport {
    VniImport {
        vni: v.id,
        rd: Some(v.rd),
        import_rts: v.import_rt.clone(),
        export_rts: v.export_rt.clone(),
    }
}

pub fn neighbor(n: &config::NeighborConfig) -> NeighborConfig {
    NeighborConfig {
        address: n.address,
        remote_asn: n.remote_asn,
        port: n.port,
        passive: n.passive,
        password: n.password.clone(),
        route_reflector_client: n.route_reflector_client,
        hold_time: n.hold_time.map(secs_u16),
        local_address: None,
    }
}

/// The speaker's configuration, without neighbours: planed adds them once
/// the local routes are originated, so that the first End-of-RIB a peer
/// gets after a restart covers every local endpoint (RFC 4724 section 4.1).
/// `restarting` sets the R bit; the F bit is always set because planed
/// leaves the kernel's forwarding state in place when it stops.
pub fn speaker(c: &Config, restarting: bool) -> SpeakerConfig {
    let mut s = SpeakerConfig::new(
        c.bgp.asn,
        c.bgp.router_id,
        vec![c.bgp.listen],
        c.underlay.local_ip,
    );
    s.vnis = c.vnis.iter().map(vni_import).collect();
    s.cluster_id = c.bgp.cluster_id;
    s.hold_time = secs_u16(c.bgp.hold_time);
    s.keepalive = Some(c.bgp.keepalive);
    s.connect_retry = c.bgp.connect_retry;
    s.graceful_restart = c.bgp.graceful_restart.map(|gr| GracefulRestartConfig {
        // 12 bits on the wire (RFC 4724 section 3).
        restart_time: secs_u16(gr.restart_time).min(4095),
        restarting,
        forwarding_preserved: true,
    });
    if let Some(gr) = c.bgp.graceful_restart {
        s.stale_time = gr.stale_time;
    }
    s.selection_deferral = selection_deferral(c);
    s.duplicate_mac = c.evpn.duplicate_mac.map(|d| rib::DupMacDetection {
        max_moves: d.max_moves,
        window: d.window,
    });
    s
}

/// RFC 4724's Selection_Deferral_Timer: how long a (re)started planed waits
/// for its neighbours' End-of-RIB before sending its own routes (when
/// restarting) and removing stale kernel state: `select_defer_time`, whose
/// default the config resolved (the restart time; 60 s without GR).
pub fn selection_deferral(c: &Config) -> Duration {
    c.bgp.select_defer_time
}

/// The dataplane's view of a `[[vni]]`.
pub fn dataplane_vni(c: &Config, v: &config::VniConfig) -> Result<VniConfig, String> {
    let vni = Vni::new(v.id).map_err(|e| e.to_string())?;
    let mut d = VniConfig::new(vni, c.underlay.local_ip);
    d.bridge = v.bridge.clone();
    d.vxlan = v.vxlan.clone();
    d.port = c.underlay.vxlan_port;
    d.mtu = c.underlay.mtu;
    d.bum = match v.bum {
        BumMode::Suppress => BumPolicy::Suppress,
        BumMode::Flood => BumPolicy::Replicate,
        BumMode::Proxy => BumPolicy::UserspaceResponder,
    };
    d.validate().map_err(|e| e.to_string())?;
    Ok(d)
}

/// A RIB route as `show routes` prints it; `None` for a route without RD,
/// VNI or next hop (none of plane's EVPN types lacks them).
pub fn route(r: &RouteView) -> Option<Route> {
    let kind = match r.route_type {
        2 => RouteKind::MacIp {
            mac: r.mac?,
            ip: r.ip,
            seq: r.seq,
        },
        3 => RouteKind::Imet {
            originator: r.originator.or(r.nexthop)?,
        },
        _ => return None,
    };
    Some(Route {
        rd: r.rd?,
        vni: r.vni?,
        nexthop: r.nexthop?,
        source: match (r.source, r.peer_addr) {
            (rib::RouteSource::Peer(_), Some(a)) => control::RouteSource::Peer(a),
            _ => control::RouteSource::Local,
        },
        best: r.best,
        route_targets: r.rts.clone(),
        encap: r.encapsulation,
        pmsi: r.pmsi.map(|p| control::Pmsi {
            tunnel_type: p.tunnel_type,
            label: p.label,
            endpoint: p.endpoint,
        }),
        kind,
    })
}

pub fn session_state(s: State) -> SessionState {
    match s {
        State::Idle => SessionState::Idle,
        State::Connect => SessionState::Connect,
        State::Active => SessionState::Active,
        State::OpenSent => SessionState::OpenSent,
        State::OpenConfirm => SessionState::OpenConfirm,
        State::Established => SessionState::Established,
    }
}

pub fn neighbor_status(n: &NeighborStatus, c: &Config) -> Neighbor {
    Neighbor {
        address: n.address,
        remote_asn: n.remote_asn,
        state: session_state(n.state),
        received: n.received,
        sent: n.sent,
        end_of_rib: n.end_of_rib,
        uptime_secs: n.uptime.map(|d| d.as_secs()),
        last_error: n.last_error.clone(),
        description: c.neighbor(n.address).and_then(|n| n.description.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[bgp]
asn = 65000
router_id = "10.0.0.1"
hold_time = 9
[[bgp.neighbor]]
address = "10.0.0.2"
remote_asn = 65000
[underlay]
local_ip = "10.0.0.1"
[[vni]]
id = 10
[[vni]]
id = 20
bum = "flood"
bridge = "tenant20"
"#;

    #[test]
    fn config_maps_to_speaker_and_dataplane() {
        let c = Config::parse(TOML, "t.toml").unwrap();
        let s = speaker(&c, true);
        assert!(s.neighbors.is_empty());
        assert_eq!(s.hold_time, 9);
        assert_eq!(s.keepalive, Some(Duration::from_secs(3)));
        assert_eq!(s.vnis.len(), 2);
        assert_eq!(s.vnis[0].rd, Some(c.vnis[0].rd));
        let gr = s.graceful_restart.unwrap();
        assert!(gr.restarting && gr.forwarding_preserved);
        assert_eq!(s.selection_deferral, Duration::from_secs(120));
        assert_eq!(s.stale_time, Duration::from_secs(360));
        let deferred = TOML.replace(
            "hold_time = 9",
            "hold_time = 9\n[bgp.graceful_restart]\nselect_defer_time = 360\nstale_time = 30",
        );
        let c = Config::parse(&deferred, "t.toml").unwrap();
        assert_eq!(
            speaker(&c, true).selection_deferral,
            Duration::from_secs(360)
        );
        assert_eq!(selection_deferral(&c), Duration::from_secs(360));
        assert_eq!(speaker(&c, true).stale_time, Duration::from_secs(30));
        let d = dataplane_vni(&c, &c.vnis[1]).unwrap();
        assert_eq!(d.bridge, "tenant20");
        assert_eq!(d.bum, BumPolicy::Replicate);
        assert_eq!(
            dataplane_vni(&c, &c.vnis[0]).unwrap().bum,
            BumPolicy::Suppress
        );
    }
}
