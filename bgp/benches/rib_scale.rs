//! RIB scale benchmark: stream N type-2 MAC/IP routes (default 1,000,000)
//! from one iBGP peer (a route reflector) in UPDATE-sized batches, as 1000
//! remote VTEPs x 10 VNIs would send them, then
//! 1. report ns/route and RIB bytes/route (live heap, counted by a global
//!    allocator wrapper, and process RSS growth),
//! 2. bring up an eBGP peer and drain its whole Adj-RIB-Out in batches,
//! 3. drop the source session (withdraw everything).
//!
//! Run: `cargo bench -p plane-bgp --bench rib_scale`. Knobs: `RIB_ROUTES=N`
//! (count), `RIB_MAC_ONLY=1` (MAC-only routes, as FRR sends for bridge FDB
//! entries), `RIB_NO_VNIS=1` (no VNI configured: global table only, no
//! import, as a pure route reflector or FRR without the VNI). Output is one
//! `key: value` per line.

use plane_bgp::rib::*;
use plane_bgp::wire::*;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ASN: u32 = 65000;
/// NLRI per UPDATE: a 4096-byte UPDATE holds about 100 type-2 MAC/IPv4 routes.
const BATCH: usize = 100;
const VNIS: u32 = 10;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// User + system CPU seconds of this process (/proc/self/stat fields 14
/// and 15, in clock ticks of 1/100 s): the machine is shared, so wall time
/// overstates the cost when other jobs run.
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may contain spaces: count after ')'.
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    ticks as f64 / 100.0
}

fn live(region: &Region<System>) -> i64 {
    // stats_alloc counts a realloc's growth in bytes_allocated and its
    // shrinking in bytes_deallocated already.
    let c = region.change();
    c.bytes_allocated as i64 - c.bytes_deallocated as i64
}

fn main() {
    let n: usize = std::env::var("RIB_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let flag = |k: &str| std::env::var(k).is_ok_and(|v| v == "1");
    let (mac_only, no_vnis) = (flag("RIB_MAC_ONLY"), flag("RIB_NO_VNIS"));
    let router_id = Ipv4Addr::new(10, 0, 0, 1);
    let cfg = RibConfig {
        local_asn: ASN,
        router_id,
        cluster_id: None,
        vtep: IpAddr::V4(router_id),
        vnis: if no_vnis {
            Vec::new()
        } else {
            (0..VNIS).map(|i| VniImport::auto(10 + i, ASN)).collect()
        },
    };
    let hosts = (n / (BATCH * VNIS as usize)).max(1);
    // Build the UPDATEs first so that only the RIB is measured.
    let mut updates = Vec::with_capacity(n / BATCH + 1);
    let mut made = 0usize;
    'outer: for h in 0..hosts {
        let hb = u16::try_from(h).unwrap_or(u16::MAX).to_be_bytes();
        let vtep = Ipv4Addr::new(10, 1, hb[0], hb[1]);
        let rd = RouteDistinguisher::Ipv4 {
            addr: vtep,
            number: 1,
        };
        for v in 0..VNIS {
            let vni = 10 + v;
            let attrs: Vec<PathAttribute> = vec![
                AttrValue::Origin(Origin::Igp).into(),
                AttrValue::AsPath(AsPath::default()).into(),
                AttrValue::LocalPref(100).into(),
                AttrValue::OriginatorId(vtep).into(),
                AttrValue::ClusterList(vec![Ipv4Addr::new(10, 0, 0, 254)]).into(),
                AttrValue::ExtendedCommunities(
                    vec![
                        ExtendedCommunity::RouteTarget(RouteTarget::As2 {
                            asn: 65000,
                            value: vni,
                        }),
                        ExtendedCommunity::Encapsulation {
                            tunnel_type: TUNNEL_TYPE_VXLAN,
                        },
                    ]
                    .into(),
                )
                .into(),
            ];
            let nlri: Vec<EvpnNlri> = (0..BATCH)
                .map(|i| {
                    let id = u32::try_from(made + i).unwrap_or(u32::MAX).to_be_bytes();
                    EvpnNlri {
                        path_id: None,
                        route: EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
                            rd,
                            esi: Esi::ZERO,
                            ethernet_tag: 0,
                            mac: MacAddr([0x02, 0x42, id[0], id[1], id[2], id[3]]),
                            ip: (!mac_only)
                                .then_some(IpAddr::V4(Ipv4Addr::new(100, id[1], id[2], id[3]))),
                            label1: vni,
                            label2: None,
                        }),
                    }
                })
                .collect();
            let mut attributes = vec![PathAttribute::from(AttrValue::MpReachNlri(MpReach {
                afi: afi::L2VPN,
                safi: safi::EVPN,
                next_hop: MpNextHop::V4(vtep),
                nlri: MpNlri::Evpn(nlri),
            }))];
            attributes.extend(attrs);
            updates.push(Update {
                attributes,
                ..Update::default()
            });
            made += BATCH;
            if made >= n {
                break 'outer;
            }
        }
    }
    let n = made;
    let rr = PeerId(1);
    let rr_info = PeerInfo {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254)),
        asn: ASN,
        router_id: Ipv4Addr::new(10, 0, 0, 254),
        ibgp: true,
        rr_client: false,
        gr_helper: true,
    };

    let rss0 = rss_bytes();
    let region = Region::new(GLOBAL);
    let mut rib = Rib::new(cfg);
    rib.peer_up(rr, rr_info);
    let _ = rib.take_outgoing(rr, usize::MAX);
    let t = Instant::now();
    let c = cpu_secs();
    let mut events = 0usize;
    for u in &updates {
        if let Err(e) = rib.apply_update(rr, u) {
            eprintln!("apply_update: {e}");
        }
        // The speaker hands events to the dataplane after each UPDATE.
        events += rib.take_events().len();
        // The RR is iBGP and a non-client: nothing goes back; drain its queue
        // as the session would.
        let _ = rib.take_outgoing(rr, usize::MAX);
    }
    let insert = t.elapsed();
    let insert_cpu = cpu_secs() - c;
    let heap = live(&region);
    let rss = rss_bytes().saturating_sub(rss0);
    let stats = rib.stats();
    println!("routes: {n}");
    println!("mac_only: {mac_only}");
    println!("vnis_configured: {}", !no_vnis);
    println!("updates: {}", updates.len());
    println!("dataplane_events: {events}");
    println!("attr_sets: {}", stats.attr_sets);
    println!(
        "insert_ns_per_route: {:.0}",
        insert.as_nanos() as f64 / n as f64
    );
    println!(
        "insert_cpu_ns_per_route: {:.0}",
        insert_cpu * 1e9 / n as f64
    );
    println!(
        "insert_routes_per_sec: {:.0}",
        n as f64 / insert.as_secs_f64()
    );
    println!("rib_heap_bytes_per_route: {:.1}", heap as f64 / n as f64);
    println!("rss_growth_bytes_per_route: {:.1}", rss as f64 / n as f64);

    // An eBGP peer comes up: full table to it, 1000 NLRI per call.
    let obs = PeerId(2);
    let before = live(&region);
    let t = Instant::now();
    let c = cpu_secs();
    rib.peer_up(
        obs,
        PeerInfo {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            asn: 65002,
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            ibgp: false,
            rr_client: false,
            gr_helper: false,
        },
    );
    let (mut sent, mut groups) = (0usize, 0usize);
    loop {
        let out = rib.take_outgoing(obs, 1000);
        if out.is_empty() {
            break;
        }
        sent += out.nlri_count();
        groups += out.reach.len();
    }
    let drain = t.elapsed();
    let drain_cpu = cpu_secs() - c;
    println!("adj_rib_out_sent: {sent}");
    println!(
        "adj_rib_out_nlri_per_group: {:.1}",
        sent as f64 / groups.max(1) as f64
    );
    println!(
        "adj_rib_out_ns_per_route: {:.0}",
        drain.as_nanos() as f64 / sent.max(1) as f64
    );
    println!(
        "adj_rib_out_cpu_ns_per_route: {:.0}",
        drain_cpu * 1e9 / sent.max(1) as f64
    );
    println!(
        "adj_rib_out_heap_bytes_per_route: {:.1}",
        (live(&region) - before) as f64 / sent.max(1) as f64
    );

    // The source session drops without GR: every route withdrawn.
    let t = Instant::now();
    let c = cpu_secs();
    rib.peer_down(rr, false);
    let withdrawn_events = rib.take_events().len();
    let down = t.elapsed();
    let down_cpu = cpu_secs() - c;
    let mut unreach = 0usize;
    loop {
        let out = rib.take_outgoing(obs, 10_000);
        if out.is_empty() {
            break;
        }
        unreach += out.unreach.len();
    }
    println!("peer_down_ms: {}", down.as_millis());
    println!("peer_down_cpu_ms: {:.0}", down_cpu * 1000.0);
    println!("peer_down_dataplane_events: {withdrawn_events}");
    println!("peer_down_withdrawals_sent: {unreach}");
    println!("after_down_destinations: {}", rib.stats().destinations);
    println!("heap_after_down_bytes: {}", live(&region));
}
