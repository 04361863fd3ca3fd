//! Remote routes to kernel state: the RIB's best remote paths per VNI
//! ([`RibEvent`]) become dataplane [`Change`]s.
//!
//! - A type-2 route gives the MAC an FDB entry towards its VTEP; with an IP
//!   it also gives a suppression neighbour entry IP -> MAC (ARP/ND answered
//!   on this host).
//! - A MAC may be carried by several routes (MAC-only and one per IP, as FRR
//!   sends them); its FDB entry lives while any of them does and points at
//!   the VTEP of the MAC-only route when there is one, else of any MAC+IP
//!   route. A MAC that moves (higher MAC Mobility sequence, new VTEP) is
//!   re-pointed by the replacement event. That holds for a local endpoint's
//!   MAC too: the RIB withdraws our routes for it (RFC 7432 section 15) and
//!   hands over the remote route, so the FDB entry points at the new VTEP
//!   while the endpoint's port stays on the bridge until it is deleted.
//! - An IP's neighbour entry is removed only by the withdrawal of the route
//!   that set it: when an IP moved to another MAC, the old MAC's late
//!   withdrawal does not remove the new binding.
//! - A type-3 route of another VTEP becomes a flood-list entry; the dataplane
//!   programs it only when the VNI's BUM policy replicates.
//!
//! Pure: events in, changes out; the task that drives it is in
//! `super::tasks`. Invariant: every key is per VNI, so VNIs never see each
//! other's entries.

use plane_bgp::rib::RibEvent;
use plane_bgp::wire::MacAddr;
use plane_dataplane::{Change, Mac, Vni};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use tracing::warn;

/// What the kernel should have for remote routes, as last handed over.
#[derive(Debug, Default)]
pub struct RemoteTable {
    /// Per (VNI, MAC): the routes that carry it (IP or none) and their VTEP.
    macs: HashMap<(u32, MacAddr), BTreeMap<Option<IpAddr>, IpAddr>>,
    /// The VTEP the MAC's FDB entry points at.
    fdb: HashMap<(u32, MacAddr), IpAddr>,
    /// Per (VNI, IP): the MAC of its neighbour entry.
    ips: HashMap<(u32, IpAddr), MacAddr>,
}

pub fn dp_mac(mac: MacAddr) -> Mac {
    Mac(mac.0)
}

impl RemoteTable {
    /// Remote MACs currently programmed in `vni`.
    pub fn macs_in(&self, vni: u32) -> usize {
        self.fdb.keys().filter(|(v, _)| *v == vni).count()
    }

    /// Translates one event, appending the changes to `out`.
    pub fn apply(&mut self, event: RibEvent, out: &mut Vec<Change>) {
        match event {
            RibEvent::MacIpBest {
                vni, mac, ip, vtep, ..
            } => {
                let Some(v) = checked(vni) else { return };
                self.macs.entry((vni, mac)).or_default().insert(ip, vtep);
                self.repoint(v, mac, out);
                if let Some(ip) = ip {
                    if self.ips.insert((vni, ip), mac) != Some(mac) {
                        out.push(Change::SetRemoteIp {
                            vni: v,
                            ip,
                            mac: dp_mac(mac),
                        });
                    }
                }
            }
            RibEvent::MacIpWithdrawn { vni, mac, ip } => {
                let Some(v) = checked(vni) else { return };
                if let Some(routes) = self.macs.get_mut(&(vni, mac)) {
                    routes.remove(&ip);
                    if routes.is_empty() {
                        self.macs.remove(&(vni, mac));
                    }
                }
                if let Some(ip) = ip {
                    if self.ips.get(&(vni, ip)) == Some(&mac) {
                        self.ips.remove(&(vni, ip));
                        out.push(Change::RemoveRemoteIp { vni: v, ip });
                    }
                }
                self.repoint(v, mac, out);
            }
            RibEvent::FloodAdd { vni, vtep } => {
                if let Some(vni) = checked(vni) {
                    out.push(Change::AddFloodVtep { vni, vtep });
                }
            }
            RibEvent::FloodRemove { vni, vtep } => {
                if let Some(vni) = checked(vni) {
                    out.push(Change::RemoveFloodVtep { vni, vtep });
                }
            }
        }
    }

    /// Brings the MAC's FDB entry in line with the routes that carry it.
    fn repoint(&mut self, vni: Vni, mac: MacAddr, out: &mut Vec<Change>) {
        let key = (vni.get(), mac);
        let want = self
            .macs
            .get(&key)
            .and_then(|r| r.get(&None).or_else(|| r.values().next()).copied());
        let have = self.fdb.get(&key).copied();
        match (have, want) {
            (_, Some(vtep)) if have != want => {
                self.fdb.insert(key, vtep);
                out.push(Change::SetRemoteMac {
                    vni,
                    mac: dp_mac(mac),
                    vtep,
                });
            }
            (Some(_), None) => {
                self.fdb.remove(&key);
                out.push(Change::RemoveRemoteMac {
                    vni,
                    mac: dp_mac(mac),
                });
            }
            _ => {}
        }
    }
}

fn checked(vni: u32) -> Option<Vni> {
    match Vni::new(vni) {
        Ok(v) => Some(v),
        Err(e) => {
            warn!("RIB event ignored: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plane_bgp::rib::PeerId;
    use plane_bgp::wire::RouteDistinguisher;

    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn best(vni: u32, ip_: Option<&str>, vtep: &str) -> RibEvent {
        RibEvent::MacIpBest {
            vni,
            mac: M,
            ip: ip_.map(ip),
            vtep: ip(vtep),
            seq: 0,
            sticky: false,
            rd: RouteDistinguisher::As2 { asn: 1, number: 1 },
            peer: PeerId(1),
        }
    }

    fn withdrawn(vni: u32, ip_: Option<&str>) -> RibEvent {
        RibEvent::MacIpWithdrawn {
            vni,
            mac: M,
            ip: ip_.map(ip),
        }
    }

    fn run(t: &mut RemoteTable, evs: Vec<RibEvent>) -> Vec<Change> {
        let mut out = Vec::new();
        for e in evs {
            t.apply(e, &mut out);
        }
        out
    }

    fn v(n: u32) -> Vni {
        Vni::new(n).unwrap()
    }

    #[test]
    fn mac_and_ip_routes_program_fdb_once_and_neighbour_per_ip() {
        let mut t = RemoteTable::default();
        let out = run(
            &mut t,
            vec![
                best(10, None, "10.0.0.2"),
                best(10, Some("192.168.0.2"), "10.0.0.2"),
                best(10, Some("fd00::2"), "10.0.0.2"),
            ],
        );
        assert_eq!(
            out,
            vec![
                Change::SetRemoteMac {
                    vni: v(10),
                    mac: dp_mac(M),
                    vtep: ip("10.0.0.2")
                },
                Change::SetRemoteIp {
                    vni: v(10),
                    ip: ip("192.168.0.2"),
                    mac: dp_mac(M)
                },
                Change::SetRemoteIp {
                    vni: v(10),
                    ip: ip("fd00::2"),
                    mac: dp_mac(M)
                },
            ]
        );
        // Withdrawing one IP keeps the MAC; the last route removes it.
        let out = run(&mut t, vec![withdrawn(10, Some("192.168.0.2"))]);
        assert_eq!(
            out,
            vec![Change::RemoveRemoteIp {
                vni: v(10),
                ip: ip("192.168.0.2")
            }]
        );
        let out = run(
            &mut t,
            vec![withdrawn(10, None), withdrawn(10, Some("fd00::2"))],
        );
        assert_eq!(
            out,
            vec![
                Change::RemoveRemoteIp {
                    vni: v(10),
                    ip: ip("fd00::2")
                },
                Change::RemoveRemoteMac {
                    vni: v(10),
                    mac: dp_mac(M)
                },
            ]
        );
        assert_eq!(t.macs_in(10), 0);
    }

    #[test]
    fn a_moved_mac_is_repointed() {
        let mut t = RemoteTable::default();
        run(
            &mut t,
            vec![
                best(10, None, "10.0.0.2"),
                best(10, Some("192.168.0.2"), "10.0.0.2"),
            ],
        );
        let out = run(
            &mut t,
            vec![
                best(10, None, "10.0.0.3"),
                best(10, Some("192.168.0.2"), "10.0.0.3"),
            ],
        );
        assert_eq!(
            out,
            vec![Change::SetRemoteMac {
                vni: v(10),
                mac: dp_mac(M),
                vtep: ip("10.0.0.3")
            }]
        );
    }

    #[test]
    fn vnis_are_separate() {
        let mut t = RemoteTable::default();
        run(
            &mut t,
            vec![
                best(10, Some("192.168.0.2"), "10.0.0.2"),
                best(20, Some("192.168.0.2"), "10.0.0.3"),
            ],
        );
        let out = run(&mut t, vec![withdrawn(10, Some("192.168.0.2"))]);
        assert_eq!(
            out,
            vec![
                Change::RemoveRemoteIp {
                    vni: v(10),
                    ip: ip("192.168.0.2")
                },
                Change::RemoveRemoteMac {
                    vni: v(10),
                    mac: dp_mac(M)
                },
            ]
        );
        assert_eq!(t.macs_in(20), 1);
    }

    #[test]
    fn a_stale_withdrawal_does_not_remove_a_moved_ip() {
        let mut t = RemoteTable::default();
        let other = MacAddr([2, 0, 0, 0, 0, 9]);
        run(&mut t, vec![best(10, Some("192.168.0.2"), "10.0.0.2")]);
        let mut out = Vec::new();
        t.apply(
            RibEvent::MacIpBest {
                vni: 10,
                mac: other,
                ip: Some(ip("192.168.0.2")),
                vtep: ip("10.0.0.3"),
                seq: 0,
                sticky: false,
                rd: RouteDistinguisher::As2 { asn: 1, number: 1 },
                peer: PeerId(2),
            },
            &mut out,
        );
        let out = run(&mut t, vec![withdrawn(10, Some("192.168.0.2"))]);
        assert_eq!(
            out,
            vec![Change::RemoveRemoteMac {
                vni: v(10),
                mac: dp_mac(M)
            }]
        );
    }
}
