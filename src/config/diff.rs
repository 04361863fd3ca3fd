//! What changed between two configs, for SIGHUP reload: neighbours and VNIs
//! added, removed or changed, and whether a global section changed.
//!
//! What it never does: decide how to apply a change. A changed neighbour is
//! reported with both versions; the daemon decides whether that means a
//! session reset (address family, ASN, password) or just new timers.
//!
//! Identity: a neighbour is its address, a VNI its id. Both lists keep the
//! order of the new file (added, changed) and of the old file (removed).

use super::{Config, NeighborConfig, VniConfig};

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
    /// `[bgp]` itself (ASN, router-id, listen, timers...) changed: every
    /// session has to be reset; planed may refuse such a reload.
    pub bgp_changed: bool,
    /// `[underlay]` changed: every VXLAN device is affected.
    pub underlay_changed: bool,
    /// `[control]` changed (socket path or group).
    pub control_changed: bool,
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
