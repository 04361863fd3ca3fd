//! The pure reconciler: `reconcile(desired, observed) -> Plan`.
//!
//! Given what plane wants and what the kernel has, it yields the operations
//! that make the kernel match, and nothing else: an entry that already
//! matches yields no operation, so a restart over unchanged state issues no
//! change. It never touches what plane does not own: a neighbour without
//! plane's protocol mark, an FDB entry without `extern_learn`, a device
//! without plane's alias is never deleted (it is only overwritten when its key
//! is one plane wants). Never does I/O.
//!
//! Operation order in a plan: device deletions, creations, device settings,
//! entry deletions, then entry additions (FDB before neighbours, so that the
//! bridge entry that ARP suppression needs exists when the neighbour does).

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::state::{owner_alias, Desired, FdbObs, LinkKind, LinkObs, NeighObs, Observed, VniState};
use crate::types::{Mac, PortFlags, Vni, VniConfig};

/// A change to one link's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    Mtu(u32),
    Master(String),
    Up,
    Alias(String),
    Mac(Mac),
    AddrGenNone,
}

/// One kernel operation. Devices are named; the netlink layer resolves
/// indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    DeleteLink {
        name: String,
    },
    /// A bridge: given MAC, MTU, no STP, `addrgenmode none`, owner alias.
    CreateBridge {
        vni: Vni,
        name: String,
        mac: Mac,
        mtu: u32,
    },
    /// A VXLAN device: id, local VTEP, port, learning off, MTU, owner alias.
    CreateVxlan(VniConfig),
    SetLink {
        name: String,
        change: LinkChange,
    },
    SetPortFlags {
        name: String,
        flags: PortFlags,
    },
    /// `bridge fdb replace MAC dev DEV dst VTEP self master static extern_learn`.
    AddFdb {
        vni: Vni,
        dev: String,
        mac: Mac,
        vtep: IpAddr,
    },
    /// Deletes both halves (self and master).
    DelFdb {
        vni: Vni,
        dev: String,
        mac: Mac,
    },
    /// `ip neigh replace IP lladdr MAC dev BRIDGE nud noarp extern_learn proto plane`.
    AddNeigh {
        vni: Vni,
        bridge: String,
        ip: IpAddr,
        mac: Mac,
    },
    DelNeigh {
        vni: Vni,
        bridge: String,
        ip: IpAddr,
    },
    /// `bridge fdb append 00:00:00:00:00:00 dev DEV dst VTEP self static extern_learn`.
    AddFlood {
        vni: Vni,
        dev: String,
        vtep: IpAddr,
    },
    DelFlood {
        vni: Vni,
        dev: String,
        vtep: IpAddr,
    },
}

impl Op {
    /// Device operations run one by one, before entry operations (which are
    /// batched and need the devices' indexes).
    pub fn is_link_op(&self) -> bool {
        matches!(
            self,
            Op::DeleteLink { .. }
                | Op::CreateBridge { .. }
                | Op::CreateVxlan(_)
                | Op::SetLink { .. }
                | Op::SetPortFlags { .. }
        )
    }

    fn rank(&self) -> u8 {
        match self {
            Op::DeleteLink { .. } => 0,
            Op::CreateBridge { .. } => 1,
            Op::CreateVxlan(_) => 2,
            Op::SetLink {
                change: LinkChange::Master(_),
                ..
            } => 3,
            Op::SetLink { .. } => 4,
            Op::SetPortFlags { .. } => 5,
            Op::DelNeigh { .. } => 6,
            Op::DelFdb { .. } => 7,
            Op::DelFlood { .. } => 8,
            Op::AddFdb { .. } => 9,
            Op::AddNeigh { .. } => 10,
            Op::AddFlood { .. } => 11,
        }
    }
}

/// Output of the reconciler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub ops: Vec<Op>,
    /// Desired state that cannot be programmed without destroying something
    /// plane does not own (e.g. a non-bridge device named like the bridge).
    pub conflicts: Vec<String>,
}

/// Keys whose state changed: the scope of an incremental reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// VNIs whose devices (config, local ports) must be checked.
    pub vnis: BTreeSet<Vni>,
    /// VNIs to forget (devices deleted when plane owns them).
    pub removed: BTreeSet<(Vni, String, String)>,
    pub macs: BTreeSet<(Vni, Mac)>,
    pub ips: BTreeSet<(Vni, IpAddr)>,
    pub flood: BTreeSet<(Vni, IpAddr)>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.vnis.is_empty()
            && self.removed.is_empty()
            && self.macs.is_empty()
            && self.ips.is_empty()
            && self.flood.is_empty()
    }
}

/// Full reconcile: every VNI, every entry, and stale owned state.
pub fn reconcile(desired: &Desired, observed: &Observed) -> Plan {
    let mut plan = Plan::default();
    let mut recreated: BTreeSet<String> = BTreeSet::new();
    for st in desired.vnis.values() {
        link_ops(st, observed, &mut plan, &mut recreated);
    }
    // Devices plane owns that no desired VNI names: delete.
    for (name, link) in &observed.links {
        let owned = link
            .alias
            .as_deref()
            .is_some_and(|a| a.starts_with(crate::state::OWNER_ALIAS_PREFIX));
        if owned && desired.vni_of_device(name).is_none() {
            plan.ops.push(Op::DeleteLink { name: name.clone() });
        }
    }
    for (vni, st) in &desired.vnis {
        let vx = &st.config.vxlan;
        let br = &st.config.bridge;
        let fresh_vx = recreated.contains(vx);
        let fresh_br = recreated.contains(br);
        for (mac, vtep) in &st.macs {
            let obs = if fresh_vx {
                None
            } else {
                observed.fdb.get(&(vx.clone(), *mac))
            };
            fdb_op(*vni, vx, *mac, Some(*vtep), obs, &mut plan.ops);
        }
        if !fresh_vx {
            let range = observed
                .fdb
                .range((vx.clone(), Mac::ZERO)..=(vx.clone(), Mac::BROADCAST));
            for ((_, mac), obs) in range {
                if !st.macs.contains_key(mac) {
                    fdb_op(*vni, vx, *mac, None, Some(obs), &mut plan.ops);
                }
            }
        }
        for (ip, mac) in &st.ips {
            let obs = if fresh_br {
                None
            } else {
                observed.neigh.get(&(br.clone(), *ip))
            };
            neigh_op(*vni, br, *ip, Some(*mac), obs, &mut plan.ops);
        }
        if !fresh_br {
            let lo = (br.clone(), IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            let hi = (br.clone(), IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX)));
            for ((_, ip), obs) in observed.neigh.range(lo..=hi) {
                if !st.ips.contains_key(ip) {
                    neigh_op(*vni, br, *ip, None, Some(obs), &mut plan.ops);
                }
            }
        }
        let floods = st.config.bum.floods();
        for vtep in &st.flood {
            let obs = if fresh_vx {
                None
            } else {
                observed.flood.get(&(vx.clone(), *vtep)).copied()
            };
            flood_op(*vni, vx, *vtep, floods, obs, &mut plan.ops);
        }
        if !fresh_vx {
            let lo = (vx.clone(), IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            let hi = (vx.clone(), IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX)));
            for ((_, vtep), owned) in observed.flood.range(lo..=hi) {
                if !st.flood.contains(vtep) {
                    flood_op(*vni, vx, *vtep, false, Some(*owned), &mut plan.ops);
                }
            }
        }
    }
    plan.ops.sort_by_key(Op::rank);
    plan
}

/// Incremental reconcile over the keys of `scope` only: what a batch of
/// changes needs, in time proportional to the batch, not to the state.
pub fn reconcile_scope(desired: &Desired, observed: &Observed, scope: &Scope) -> Plan {
    let mut plan = Plan::default();
    let mut recreated = BTreeSet::new();
    for (vni, bridge, vxlan) in &scope.removed {
        if desired.vnis.contains_key(vni) {
            continue;
        }
        for name in [bridge, vxlan] {
            if observed.links.get(name).and_then(|l| l.alias.as_deref())
                == Some(owner_alias(*vni).as_str())
            {
                plan.ops.push(Op::DeleteLink { name: name.clone() });
            }
        }
    }
    for vni in &scope.vnis {
        if let Some(st) = desired.vnis.get(vni) {
            link_ops(st, observed, &mut plan, &mut recreated);
        }
    }
    for (vni, mac) in &scope.macs {
        let Some(st) = desired.vnis.get(vni) else {
            continue;
        };
        let vx = &st.config.vxlan;
        let obs = if recreated.contains(vx) {
            None
        } else {
            observed.fdb.get(&(vx.clone(), *mac))
        };
        fdb_op(
            *vni,
            vx,
            *mac,
            st.macs.get(mac).copied(),
            obs,
            &mut plan.ops,
        );
    }
    for (vni, ip) in &scope.ips {
        let Some(st) = desired.vnis.get(vni) else {
            continue;
        };
        let br = &st.config.bridge;
        let obs = if recreated.contains(br) {
            None
        } else {
            observed.neigh.get(&(br.clone(), *ip))
        };
        neigh_op(*vni, br, *ip, st.ips.get(ip).copied(), obs, &mut plan.ops);
    }
    for (vni, vtep) in &scope.flood {
        let Some(st) = desired.vnis.get(vni) else {
            continue;
        };
        let vx = &st.config.vxlan;
        let want = st.config.bum.floods() && st.flood.contains(vtep);
        let obs = if recreated.contains(vx) {
            None
        } else {
            observed.flood.get(&(vx.clone(), *vtep)).copied()
        };
        flood_op(*vni, vx, *vtep, want, obs, &mut plan.ops);
    }
    plan.ops.sort_by_key(Op::rank);
    plan
}

fn fdb_op(
    vni: Vni,
    dev: &str,
    mac: Mac,
    want: Option<IpAddr>,
    obs: Option<&FdbObs>,
    ops: &mut Vec<Op>,
) {
    match (want, obs) {
        (Some(vtep), Some(o)) if o.vtep == Some(vtep) && o.master && o.owned => {}
        (Some(vtep), _) => ops.push(Op::AddFdb {
            vni,
            dev: dev.to_string(),
            mac,
            vtep,
        }),
        (None, Some(o)) if o.owned => ops.push(Op::DelFdb {
            vni,
            dev: dev.to_string(),
            mac,
        }),
        (None, _) => {}
    }
}

fn neigh_op(
    vni: Vni,
    bridge: &str,
    ip: IpAddr,
    want: Option<Mac>,
    obs: Option<&NeighObs>,
    ops: &mut Vec<Op>,
) {
    match (want, obs) {
        (Some(mac), Some(o)) if o.mac == Some(mac) && o.owned && o.valid => {}
        (Some(mac), _) => ops.push(Op::AddNeigh {
            vni,
            bridge: bridge.to_string(),
            ip,
            mac,
        }),
        (None, Some(o)) if o.owned => ops.push(Op::DelNeigh {
            vni,
            bridge: bridge.to_string(),
            ip,
        }),
        (None, _) => {}
    }
}

fn flood_op(vni: Vni, dev: &str, vtep: IpAddr, want: bool, obs: Option<bool>, ops: &mut Vec<Op>) {
    match (want, obs) {
        (true, Some(true)) => {}
        // A flood entry someone else added is left as it is (append is not
        // a replace: adding ours would duplicate it).
        (true, Some(false)) => {}
        (true, None) => ops.push(Op::AddFlood {
            vni,
            dev: dev.to_string(),
            vtep,
        }),
        (false, Some(true)) => ops.push(Op::DelFlood {
            vni,
            dev: dev.to_string(),
            vtep,
        }),
        (false, _) => {}
    }
}

fn vxlan_matches(cfg: &VniConfig, kind: &LinkKind) -> bool {
    match kind {
        LinkKind::Vxlan {
            id,
            local,
            port,
            learning,
        } => {
            *id == cfg.vni.get()
                && *local == Some(cfg.local_vtep)
                && *port == cfg.port
                && !*learning
        }
        _ => false,
    }
}

/// Device operations of one VNI. Devices are adopted when they match; a
/// VXLAN device whose immutable attributes differ is recreated only if plane
/// owns it, else reported as a conflict.
fn link_ops(st: &VniState, observed: &Observed, plan: &mut Plan, recreated: &mut BTreeSet<String>) {
    let cfg = &st.config;
    let alias = owner_alias(cfg.vni);
    let ops = &mut plan.ops;

    // Bridge.
    match observed.links.get(&cfg.bridge) {
        Some(l) if l.kind == LinkKind::Bridge => {
            common_link_ops(&cfg.bridge, l, cfg.mtu, None, &alias, ops);
            if l.mac != Some(cfg.bridge_mac) {
                ops.push(Op::SetLink {
                    name: cfg.bridge.clone(),
                    change: LinkChange::Mac(cfg.bridge_mac),
                });
            }
            if !l.addrgen_none {
                ops.push(Op::SetLink {
                    name: cfg.bridge.clone(),
                    change: LinkChange::AddrGenNone,
                });
            }
        }
        Some(l) if l.alias.as_deref() != Some(alias.as_str()) => {
            plan.conflicts.push(format!(
                "VNI {}: device {} exists and is a {:?}, not a bridge; plane does not own it",
                cfg.vni, cfg.bridge, l.kind
            ));
            return;
        }
        existing => {
            if existing.is_some() {
                ops.push(Op::DeleteLink {
                    name: cfg.bridge.clone(),
                });
            }
            recreated.insert(cfg.bridge.clone());
            ops.push(Op::CreateBridge {
                vni: cfg.vni,
                name: cfg.bridge.clone(),
                mac: cfg.bridge_mac,
                mtu: cfg.mtu,
            });
            // The kernel refuses IFLA_AF_SPEC in the RTM_NEWLINK that creates
            // a device (EAFNOSUPPORT): set the mode right after, before up.
            ops.push(Op::SetLink {
                name: cfg.bridge.clone(),
                change: LinkChange::AddrGenNone,
            });
            ops.push(Op::SetLink {
                name: cfg.bridge.clone(),
                change: LinkChange::Up,
            });
        }
    }

    // VXLAN device.
    let vx_flags = PortFlags::vxlan_port(cfg.bum);
    match observed.links.get(&cfg.vxlan) {
        Some(l) if vxlan_matches(cfg, &l.kind) => {
            common_link_ops(&cfg.vxlan, l, cfg.mtu, Some(&cfg.bridge), &alias, ops);
            if l.port_flags != Some(vx_flags) || recreated.contains(&cfg.bridge) {
                ops.push(Op::SetPortFlags {
                    name: cfg.vxlan.clone(),
                    flags: vx_flags,
                });
            }
        }
        Some(l) if l.alias.as_deref() != Some(alias.as_str()) => {
            plan.conflicts.push(format!(
                "VNI {}: device {} exists with other VXLAN attributes ({:?}); plane does not own it",
                cfg.vni, cfg.vxlan, l.kind
            ));
        }
        existing => {
            if existing.is_some() {
                ops.push(Op::DeleteLink {
                    name: cfg.vxlan.clone(),
                });
            }
            recreated.insert(cfg.vxlan.clone());
            ops.push(Op::CreateVxlan(cfg.clone()));
            ops.push(Op::SetLink {
                name: cfg.vxlan.clone(),
                change: LinkChange::Master(cfg.bridge.clone()),
            });
            ops.push(Op::SetPortFlags {
                name: cfg.vxlan.clone(),
                flags: vx_flags,
            });
            ops.push(Op::SetLink {
                name: cfg.vxlan.clone(),
                change: LinkChange::Up,
            });
        }
    }

    // Local ports: attach when present; a missing port is not an error (it
    // appears when the container starts, and a link notification resyncs).
    for port in &st.ports {
        let Some(l) = observed.links.get(port) else {
            continue;
        };
        if l.master.as_deref() != Some(cfg.bridge.as_str()) {
            ops.push(Op::SetLink {
                name: port.clone(),
                change: LinkChange::Master(cfg.bridge.clone()),
            });
        }
        if l.port_flags != Some(PortFlags::local_port())
            || l.master.as_deref() != Some(cfg.bridge.as_str())
        {
            ops.push(Op::SetPortFlags {
                name: port.clone(),
                flags: PortFlags::local_port(),
            });
        }
        if !l.up {
            ops.push(Op::SetLink {
                name: port.clone(),
                change: LinkChange::Up,
            });
        }
    }
}

fn common_link_ops(
    name: &str,
    l: &LinkObs,
    mtu: u32,
    master: Option<&str>,
    alias: &str,
    ops: &mut Vec<Op>,
) {
    if l.alias.as_deref() != Some(alias) {
        ops.push(Op::SetLink {
            name: name.to_string(),
            change: LinkChange::Alias(alias.to_string()),
        });
    }
    if l.mtu != mtu {
        ops.push(Op::SetLink {
            name: name.to_string(),
            change: LinkChange::Mtu(mtu),
        });
    }
    if let Some(m) = master {
        if l.master.as_deref() != Some(m) {
            ops.push(Op::SetLink {
                name: name.to_string(),
                change: LinkChange::Master(m.to_string()),
            });
        }
    }
    if !l.up {
        ops.push(Op::SetLink {
            name: name.to_string(),
            change: LinkChange::Up,
        });
    }
}

/// Applies a successful operation to a model of the kernel: what the kernel
/// has after it. Used by the recording backend and by the dataplane task to
/// keep its cached view current between dumps.
pub fn apply_to_observed(obs: &mut Observed, op: &Op) {
    match op {
        Op::DeleteLink { name } => {
            obs.links.remove(name);
            for l in obs.links.values_mut() {
                if l.master.as_deref() == Some(name.as_str()) {
                    l.master = None;
                    l.port_flags = None;
                }
            }
            obs.fdb.retain(|(d, _), _| d != name);
            obs.flood.retain(|(d, _), _| d != name);
            obs.neigh.retain(|(d, _), _| d != name);
        }
        Op::CreateBridge {
            vni,
            name,
            mac,
            mtu,
        } => {
            let ifindex = obs.links.values().map(|l| l.ifindex).max().unwrap_or(0) + 1;
            obs.links.insert(
                name.clone(),
                LinkObs {
                    ifindex,
                    kind: LinkKind::Bridge,
                    mtu: *mtu,
                    up: false,
                    master: None,
                    alias: Some(owner_alias(*vni)),
                    mac: Some(*mac),
                    port_flags: None,
                    addrgen_none: false,
                },
            );
        }
        Op::CreateVxlan(cfg) => {
            let ifindex = obs.links.values().map(|l| l.ifindex).max().unwrap_or(0) + 1;
            obs.links.insert(
                cfg.vxlan.clone(),
                LinkObs {
                    ifindex,
                    kind: LinkKind::Vxlan {
                        id: cfg.vni.get(),
                        local: Some(cfg.local_vtep),
                        port: cfg.port,
                        learning: false,
                    },
                    mtu: cfg.mtu,
                    up: false,
                    master: None,
                    alias: Some(owner_alias(cfg.vni)),
                    mac: None,
                    port_flags: None,
                    addrgen_none: false,
                },
            );
        }
        Op::SetLink { name, change } => {
            if let Some(l) = obs.links.get_mut(name) {
                match change {
                    LinkChange::Mtu(m) => l.mtu = *m,
                    LinkChange::Master(m) => l.master = Some(m.clone()),
                    LinkChange::Up => l.up = true,
                    LinkChange::Alias(a) => l.alias = Some(a.clone()),
                    LinkChange::Mac(m) => l.mac = Some(*m),
                    LinkChange::AddrGenNone => l.addrgen_none = true,
                }
            }
        }
        Op::SetPortFlags { name, flags } => {
            if let Some(l) = obs.links.get_mut(name) {
                l.port_flags = Some(*flags);
            }
        }
        Op::AddFdb { dev, mac, vtep, .. } => {
            obs.fdb.insert(
                (dev.clone(), *mac),
                FdbObs {
                    vtep: Some(*vtep),
                    master: true,
                    owned: true,
                },
            );
        }
        Op::DelFdb { dev, mac, .. } => {
            obs.fdb.remove(&(dev.clone(), *mac));
        }
        Op::AddNeigh {
            bridge, ip, mac, ..
        } => {
            obs.neigh.insert(
                (bridge.clone(), *ip),
                NeighObs {
                    mac: Some(*mac),
                    owned: true,
                    valid: true,
                },
            );
        }
        Op::DelNeigh { bridge, ip, .. } => {
            obs.neigh.remove(&(bridge.clone(), *ip));
        }
        Op::AddFlood { dev, vtep, .. } => {
            obs.flood.insert((dev.clone(), *vtep), true);
        }
        Op::DelFlood { dev, vtep, .. } => {
            obs.flood.remove(&(dev.clone(), *vtep));
        }
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
