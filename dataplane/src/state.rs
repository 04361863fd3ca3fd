//! Desired and observed dataplane state, as plain values.
//!
//! [`Desired`] is what the control plane wants (per VNI: devices, remote MACs
//! with their VTEP, remote IP-to-MAC bindings, the flood list, local ports);
//! it changes only through [`Change`]s. [`Observed`] is what the kernel has,
//! as the netlink layer (or the recording backend) reports it, already reduced
//! to the devices and entries plane cares about and deduplicated by key (dumps
//! are not atomic: an entry may appear twice).
//!
//! Never does I/O. Invariants: every key in `Desired` belongs to a configured
//! VNI (a change for an unknown VNI is refused); at most one VTEP per
//! (VNI, MAC) and one MAC per (VNI, IP).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::types::{check_ifname, Mac, PortFlags, ValueError, Vni, VniConfig};

/// One desired-state change handed over by the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create or update a VNI (devices, MTU, BUM policy).
    SetVni(VniConfig),
    /// Forget a VNI: its devices are deleted (only those plane owns).
    RemoveVni(Vni),
    /// A remote MAC behind a VTEP (type-2 route): static FDB entry.
    SetRemoteMac {
        vni: Vni,
        mac: Mac,
        vtep: IpAddr,
    },
    RemoveRemoteMac {
        vni: Vni,
        mac: Mac,
    },
    /// A remote IP-to-MAC binding (type-2 with IP): suppression neighbour.
    SetRemoteIp {
        vni: Vni,
        ip: IpAddr,
        mac: Mac,
    },
    RemoveRemoteIp {
        vni: Vni,
        ip: IpAddr,
    },
    /// A VTEP in the flood list (type-3 IMET route); programmed only when the
    /// VNI's BUM policy replicates.
    AddFloodVtep {
        vni: Vni,
        vtep: IpAddr,
    },
    RemoveFloodVtep {
        vni: Vni,
        vtep: IpAddr,
    },
    /// A host-side interface to attach to the VNI's bridge.
    AddLocalPort {
        vni: Vni,
        ifname: String,
    },
    RemoveLocalPort {
        vni: Vni,
        ifname: String,
    },
}

impl Change {
    pub fn vni(&self) -> Vni {
        match self {
            Change::SetVni(c) => c.vni,
            Change::RemoveVni(v) => *v,
            Change::SetRemoteMac { vni, .. }
            | Change::RemoveRemoteMac { vni, .. }
            | Change::SetRemoteIp { vni, .. }
            | Change::RemoveRemoteIp { vni, .. }
            | Change::AddFloodVtep { vni, .. }
            | Change::RemoveFloodVtep { vni, .. }
            | Change::AddLocalPort { vni, .. }
            | Change::RemoveLocalPort { vni, .. } => *vni,
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("VNI {0}: not configured (send SetVni first)")]
    UnknownVni(Vni),
    #[error("VNI {vni}: {source}")]
    Value { vni: Vni, source: ValueError },
    #[error("VNI {vni}: device {name} is already used by VNI {other}")]
    NameInUse { vni: Vni, name: String, other: Vni },
}

/// Desired state of one VNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VniState {
    pub config: VniConfig,
    pub macs: BTreeMap<Mac, IpAddr>,
    pub ips: BTreeMap<IpAddr, Mac>,
    pub flood: BTreeSet<IpAddr>,
    pub ports: BTreeSet<String>,
}

impl VniState {
    pub fn new(config: VniConfig) -> VniState {
        VniState {
            config,
            macs: BTreeMap::new(),
            ips: BTreeMap::new(),
            flood: BTreeSet::new(),
            ports: BTreeSet::new(),
        }
    }
}

/// Everything plane wants in the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub vnis: BTreeMap<Vni, VniState>,
}

impl Desired {
    /// Applies one change. Setting what is already set and removing what is
    /// absent are successes (idempotent), so replays are harmless.
    pub fn apply(&mut self, change: Change) -> Result<(), ChangeError> {
        let vni = change.vni();
        if let Change::SetVni(cfg) = change {
            cfg.validate()
                .map_err(|source| ChangeError::Value { vni, source })?;
            for (other, st) in &self.vnis {
                if *other == vni {
                    continue;
                }
                for name in [&cfg.bridge, &cfg.vxlan] {
                    if *name == st.config.bridge
                        || *name == st.config.vxlan
                        || st.ports.contains(name)
                    {
                        return Err(ChangeError::NameInUse {
                            vni,
                            name: name.clone(),
                            other: *other,
                        });
                    }
                }
            }
            match self.vnis.get_mut(&vni) {
                Some(st) => st.config = cfg,
                None => {
                    self.vnis.insert(vni, VniState::new(cfg));
                }
            }
            return Ok(());
        }
        if let Change::RemoveVni(v) = change {
            self.vnis.remove(&v);
            return Ok(());
        }
        if let Change::AddLocalPort { ifname, .. } = &change {
            check_ifname(ifname).map_err(|source| ChangeError::Value { vni, source })?;
            if let Some((other, _)) = self.vnis.iter().find(|(o, st)| {
                **o != vni
                    && (st.ports.contains(ifname)
                        || st.config.bridge == *ifname
                        || st.config.vxlan == *ifname)
            }) {
                return Err(ChangeError::NameInUse {
                    vni,
                    name: ifname.clone(),
                    other: *other,
                });
            }
        }
        let st = self
            .vnis
            .get_mut(&vni)
            .ok_or(ChangeError::UnknownVni(vni))?;
        match change {
            Change::SetVni(_) | Change::RemoveVni(_) => {}
            Change::SetRemoteMac { mac, vtep, .. } => {
                st.macs.insert(mac, vtep);
            }
            Change::RemoveRemoteMac { mac, .. } => {
                st.macs.remove(&mac);
            }
            Change::SetRemoteIp { ip, mac, .. } => {
                st.ips.insert(ip, mac);
            }
            Change::RemoveRemoteIp { ip, .. } => {
                st.ips.remove(&ip);
            }
            Change::AddFloodVtep { vtep, .. } => {
                st.flood.insert(vtep);
            }
            Change::RemoveFloodVtep { vtep, .. } => {
                st.flood.remove(&vtep);
            }
            Change::AddLocalPort { ifname, .. } => {
                st.ports.insert(ifname);
            }
            Change::RemoveLocalPort { ifname, .. } => {
                st.ports.remove(&ifname);
            }
        }
        Ok(())
    }

    /// The VNI whose bridge, VXLAN device or local port is `name`.
    pub fn vni_of_device(&self, name: &str) -> Option<(Vni, DeviceRole)> {
        self.vnis.iter().find_map(|(v, st)| {
            if st.config.bridge == name {
                Some((*v, DeviceRole::Bridge))
            } else if st.config.vxlan == name {
                Some((*v, DeviceRole::Vxlan))
            } else if st.ports.contains(name) {
                Some((*v, DeviceRole::LocalPort))
            } else {
                None
            }
        })
    }
}

/// What a device is to plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRole {
    Bridge,
    Vxlan,
    LocalPort,
}

/// Prefix of `IFLA_IFALIAS` on devices plane owns (created or adopted):
/// `plane:vni=<VNI>`. A device without it is never deleted by plane.
pub const OWNER_ALIAS_PREFIX: &str = "plane:vni=";

/// The alias plane writes on the devices of `vni`.
pub fn owner_alias(vni: Vni) -> String {
    format!("{OWNER_ALIAS_PREFIX}{vni}")
}

/// Kind-specific attributes of an observed link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LinkKind {
    Vxlan {
        id: u32,
        local: Option<IpAddr>,
        port: u16,
        learning: bool,
    },
    Bridge,
    Other(String),
}

/// An observed link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkObs {
    pub ifindex: u32,
    pub kind: LinkKind,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Name of the master device, when enslaved.
    pub master: Option<String>,
    pub alias: Option<String>,
    pub mac: Option<Mac>,
    /// Bridge port flags, when the link is a bridge port.
    pub port_flags: Option<PortFlags>,
    /// IPv6 `addrgenmode none` (no link-local address, no RS/MLD).
    pub addrgen_none: bool,
}

/// An observed FDB entry on a VXLAN device: the `self` half (with its
/// destination VTEP) and whether the bridge (`master`) half exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FdbObs {
    pub vtep: Option<IpAddr>,
    pub master: bool,
    /// Carries plane's mark (`NTF_EXT_LEARNED` on a device plane owns).
    pub owned: bool,
}

/// An observed neighbour entry on a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NeighObs {
    pub mac: Option<Mac>,
    /// Carries plane's mark (`NDA_PROTOCOL` = [`crate::netlink::PLANE_PROTOCOL`]).
    pub owned: bool,
    /// NUD state usable for suppression (NOARP, PERMANENT or REACHABLE).
    pub valid: bool,
}

/// What the kernel has, reduced to what plane looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub links: BTreeMap<String, LinkObs>,
    /// Unicast FDB entries on VXLAN devices, by (device, MAC).
    pub fdb: BTreeMap<(String, Mac), FdbObs>,
    /// Flood-list entries (`00:00:00:00:00:00 dst VTEP`) by (device, VTEP),
    /// with their ownership mark.
    pub flood: BTreeMap<(String, IpAddr), bool>,
    /// Neighbour entries on bridges, by (bridge, IP).
    pub neigh: BTreeMap<(String, IpAddr), NeighObs>,
}
