//! Decode and encode throughput of UPDATEs carrying EVPN type-2 routes, in
//! routes per second, beside netgauze-bgp-pkt decoding the same bytes in the
//! same run. Two packings: one route per UPDATE (as GoBGP sends) and as many
//! as fit in 4096 octets (as FRR sends).
//!
//! Run: `cargo bench -p plane-bgp --bench wire` (results in docs/BENCHMARKS.md).

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use plane_bgp::wire::*;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const ROUTES: usize = 1000;

/// Type-2 routes as GoBGP and FRR send them for VNI 100: RD router-id:100,
/// ESI 0, tag 0, MAC and IPv4.
fn routes() -> Vec<EvpnNlri> {
    (0..ROUTES)
        .map(|i| {
            let [_, _, hi, lo] = u32::try_from(i).unwrap_or(0).to_be_bytes();
            EvpnNlri {
                path_id: None,
                route: EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
                    rd: RouteDistinguisher::Ipv4 {
                        addr: Ipv4Addr::new(10, 0, 0, 1),
                        number: 100,
                    },
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    mac: MacAddr([2, 0, 0, 0, hi, lo]),
                    ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, hi, lo))),
                    label1: 100,
                    label2: None,
                }),
            }
        })
        .collect()
}

fn attrs() -> Vec<PathAttribute> {
    vec![
        PathAttribute::from(AttrValue::Origin(Origin::Incomplete)),
        PathAttribute::from(AttrValue::AsPath(AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentType::AsSequence,
                asns: vec![65000].into(),
            }]
            .into(),
        })),
        PathAttribute::from(AttrValue::ExtendedCommunities(
            vec![
                ExtendedCommunity::RouteTarget(RouteTarget::As2 {
                    asn: 65000,
                    value: 100,
                }),
                ExtendedCommunity::Encapsulation {
                    tunnel_type: TUNNEL_TYPE_VXLAN,
                },
            ]
            .into(),
        )),
    ]
}

fn next_hop() -> MpNextHop {
    MpNextHop::V4(Ipv4Addr::new(10, 0, 0, 1))
}

/// One UPDATE per route.
fn one_per_update(p: &SessionParams) -> Vec<Bytes> {
    let (a, nh) = (attrs(), next_hop());
    routes()
        .iter()
        .flat_map(|r| encode_evpn_reach(&a, &nh, std::slice::from_ref(r), p).unwrap_or_default())
        .collect()
}

fn packed(p: &SessionParams) -> Vec<Bytes> {
    encode_evpn_reach(&attrs(), &next_hop(), &routes(), p).unwrap_or_default()
}

fn plane_decode(msgs: &[Bytes], p: &SessionParams) -> usize {
    let mut n = 0;
    for m in msgs {
        if let Ok(Message::Update(u)) = decode_message(m, p) {
            n += u.attributes.len();
        }
    }
    n
}

fn netgauze_decode(msgs: &[Bytes]) -> usize {
    let mut ctx = BgpParsingContext::default();
    let mut n = 0;
    for m in msgs {
        let mut cur = SliceReader::new(m);
        if let Ok(BgpMessage::Update(u)) = BgpMessage::parse(&mut cur, &mut ctx) {
            n += u.path_attributes().len();
        }
    }
    n
}

/// Best time over many rounds that alternate the two decoders, so that
/// both see the same machine load (the benchmark machine is shared): the
/// minimum is the least disturbed run of each.
fn interleaved(name: &str, msgs: &[Bytes], p: &SessionParams) {
    let mut best = [Duration::MAX; 2];
    for _ in 0..300 {
        let t = Instant::now();
        black_box(plane_decode(black_box(msgs), p));
        best[0] = best[0].min(t.elapsed());
        let t = Instant::now();
        black_box(netgauze_decode(black_box(msgs)));
        best[1] = best[1].min(t.elapsed());
    }
    let rate = |d: Duration| ROUTES as f64 / d.as_secs_f64() / 1e6;
    println!(
        "interleaved best of 300, type2_{name}: plane {:.2} M routes/s, netgauze {:.2} M routes/s, ratio {:.2}",
        rate(best[0]),
        rate(best[1]),
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    let p = SessionParams::default();
    let (a, nh, r) = (attrs(), next_hop(), routes());
    for (name, msgs) in [
        ("1_per_update", one_per_update(&p)),
        ("packed_4096", packed(&p)),
    ] {
        assert_eq!(
            plane_decode(&msgs, &p),
            netgauze_decode(&msgs),
            "both decoders read every UPDATE"
        );
        interleaved(name, &msgs, &p);
        let mut g = c.benchmark_group(format!("type2_{name}"));
        g.throughput(Throughput::Elements(ROUTES as u64));
        g.measurement_time(Duration::from_secs(4));
        g.warm_up_time(Duration::from_secs(1));
        g.sample_size(30);
        g.bench_function("plane_decode", |b| {
            b.iter(|| plane_decode(black_box(&msgs), &p))
        });
        g.bench_function("netgauze_decode", |b| {
            b.iter(|| netgauze_decode(black_box(&msgs)))
        });
        if name == "1_per_update" {
            g.bench_function("plane_encode", |b| {
                b.iter(|| {
                    let mut n = 0;
                    for route in &r {
                        n += encode_evpn_reach(&a, &nh, std::slice::from_ref(black_box(route)), &p)
                            .map_or(0, |v| v.len());
                    }
                    n
                })
            });
        } else {
            g.bench_function("plane_encode", |b| {
                b.iter(|| encode_evpn_reach(&a, &nh, black_box(&r), &p).map_or(0, |v| v.len()))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
