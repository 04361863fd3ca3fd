//! What changed between two configs, for SIGHUP reload: neighbours and VNIs
//! added, removed or changed, whether a global section changed, and which
//! keys of `[bgp]`, `[underlay]` and `[control]` did.
//!
//! What it never does: decide how to apply a change. A changed neighbour is
//! reported with both versions; the daemon decides whether that means a
//! session reset (address family, ASN, password) or just new timers.
//!
//! Identity: a neighbour is its address, a VNI its id. Both lists keep the
//! order of the new file (added, changed) and of the old file (removed).

use super::{BgpConfig, Config, ControlConfig, NeighborConfig, UnderlayConfig, VniConfig};

/// Old and new version of something that kept its identity.
#[derive(Clone, PartialEq, Debug)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

/// The difference `old → new`.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct ConfigDiff {
    pub neighbors_added: Vec<NeighborConfig>,
    pub neighbors_removed: Vec<NeighborConfig>,
    pub neighbors_changed: Vec<Change<NeighborConfig>>,
    pub vnis_added: Vec<VniConfig>,
    pub vnis_removed: Vec<VniConfig>,
    /// Includes VNIs whose auto RD moved because another VNI was added or
    /// removed before them: their routes must be re-advertised.
    pub vnis_changed: Vec<Change<VniConfig>>,
    /// `[bgp]` itself (ASN, router-id, listen, timers...) changed; which
    /// keys in [`ConfigDiff::bgp_keys`].
    pub bgp_changed: bool,
    /// The `[bgp]` keys that changed, as the file names them
    /// (`graceful_restart` for any key of `[bgp.graceful_restart]`).
    pub bgp_keys: Vec<&'static str>,
    /// `[underlay]` changed: every VXLAN device is affected.
    pub underlay_changed: bool,
    /// The `[underlay]` keys that changed.
    pub underlay_keys: Vec<&'static str>,
    /// `[control]` changed (socket path or group).
    pub control_changed: bool,
    /// The `[control]` keys that changed.
    pub control_keys: Vec<&'static str>,
    /// `[log]` changed.
    pub log_changed: bool,
    /// `[evpn]` changed (duplicate MAC detection).
    pub evpn_changed: bool,
}

impl ConfigDiff {
    /// Compares two configs.
    pub fn between(old: &Config, new: &Config) -> ConfigDiff {
        let mut d = ConfigDiff {
            bgp_changed: old.bgp != new.bgp,
            underlay_changed: old.underlay != new.underlay,
            control_changed: old.control != new.control,
            log_changed: old.log != new.log,
            evpn_changed: old.evpn != new.evpn,
            bgp_keys: bgp_keys(&old.bgp, &new.bgp),
            underlay_keys: underlay_keys(&old.underlay, &new.underlay),
            control_keys: control_keys(&old.control, &new.control),
            ..ConfigDiff::default()
        };
        for n in &new.neighbors {
            match old.neighbor(n.address) {
                None => d.neighbors_added.push(n.clone()),
                Some(o) if o != n => d.neighbors_changed.push(Change {
                    old: o.clone(),
                    new: n.clone(),
                }),
                Some(_) => {}
            }
        }
        d.neighbors_removed = old
            .neighbors
            .iter()
            .filter(|o| new.neighbor(o.address).is_none())
            .cloned()
            .collect();
        for v in &new.vnis {
            match old.vni(v.id) {
                None => d.vnis_added.push(v.clone()),
                Some(o) if o != v => d.vnis_changed.push(Change {
                    old: o.clone(),
                    new: v.clone(),
                }),
                Some(_) => {}
            }
        }
        d.vnis_removed = old
            .vnis
            .iter()
            .filter(|o| new.vni(o.id).is_none())
            .cloned()
            .collect();
        d
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == ConfigDiff::default()
    }
}

/// The names of the `(name, changed)` pairs that changed, in order.
fn changed(keys: &[(&'static str, bool)]) -> Vec<&'static str> {
    keys.iter().filter(|(_, c)| *c).map(|(k, _)| *k).collect()
}

/// The `[bgp]` keys (not the neighbours: they have their own lists) that
/// differ. `select_defer_time`, written in `[bgp.graceful_restart]`, is
/// named on its own. Destructured so that a new field cannot be forgotten.
fn bgp_keys(old: &BgpConfig, new: &BgpConfig) -> Vec<&'static str> {
    let BgpConfig {
        asn,
        router_id,
        listen,
        hold_time,
        keepalive,
        connect_retry,
        graceful_restart,
        select_defer_time,
        cluster_id,
    } = old;
    changed(&[
        ("asn", *asn != new.asn),
        ("router_id", *router_id != new.router_id),
        ("listen", *listen != new.listen),
        ("hold_time", *hold_time != new.hold_time),
        ("keepalive", *keepalive != new.keepalive),
        ("connect_retry", *connect_retry != new.connect_retry),
        (
            "graceful_restart",
            *graceful_restart != new.graceful_restart,
        ),
        (
            "select_defer_time",
            *select_defer_time != new.select_defer_time,
        ),
        ("cluster_id", *cluster_id != new.cluster_id),
    ])
}

/// The `[underlay]` keys that differ.
fn underlay_keys(old: &UnderlayConfig, new: &UnderlayConfig) -> Vec<&'static str> {
    let UnderlayConfig {
        local_ip,
        vxlan_port,
        mtu,
    } = old;
    changed(&[
        ("local_ip", *local_ip != new.local_ip),
        ("vxlan_port", *vxlan_port != new.vxlan_port),
        ("mtu", *mtu != new.mtu),
    ])
}

/// The `[control]` keys that differ.
fn control_keys(old: &ControlConfig, new: &ControlConfig) -> Vec<&'static str> {
    let ControlConfig { socket, group } = old;
    changed(&[
        ("socket", *socket != new.socket),
        ("group", *group != new.group),
    ])
}
