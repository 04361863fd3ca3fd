//! A replay sender: a minimal BGP speaker that opens one EVPN session and
//! streams N pre-encoded type-2 (MAC+IPv4) routes as fast as the receiver
//! reads them, for benchmarks and load tests.
//!
//! Two encodings: [`Packing::Packed`] fills each 4096-octet UPDATE with as
//! many NLRI as fit, as FRR sends them (~35 octets per route);
//! [`Packing::OnePerUpdate`] sends one route per UPDATE, as GoBGP does
//! (~100 octets per route). The messages are encoded before the session
//! starts, so that encoding never limits the rate measured.
//!
//! It never originates anything else, answers KEEPALIVEs with KEEPALIVEs and
//! ignores what it receives otherwise.

use bytes::{Bytes, BytesMut};
use plane_bgp::fsm::{self, FsmConfig};
use plane_bgp::wire::{
    encode_evpn_reach, encode_message, end_of_rib, frame, AsPath, AsSegment, AsSegmentType,
    AttrValue, EncodeError, Esi, EvpnNlri, EvpnRoute, ExtendedCommunity, MacAddr,
    MacIpAdvertisement, Message, MpNextHop, Origin, PathAttribute, RouteDistinguisher, RouteTarget,
    SessionParams, TUNNEL_TYPE_VXLAN,
};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How routes are packed into UPDATEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// As many NLRI per UPDATE as fit (FRR).
    Packed,
    /// One NLRI per UPDATE (GoBGP).
    OnePerUpdate,
}

/// Who the sender is and what it announces.
#[derive(Clone, Debug)]
pub struct Replay {
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    pub peer_asn: u32,
    /// The VTEP in the routes' MP_REACH next hop.
    pub next_hop: Ipv4Addr,
    pub vni: u32,
}

impl Replay {
    /// RD `router-id:vni`, RT `AS:VNI`.
    fn rd(&self) -> RouteDistinguisher {
        RouteDistinguisher::Ipv4 {
            addr: self.router_id,
            number: u16::try_from(self.vni).unwrap_or(u16::MAX),
        }
    }

    /// The path attributes of every route (eBGP: ORIGIN, AS_PATH, extended
    /// communities: route target and VXLAN encapsulation).
    fn attributes(&self) -> Vec<PathAttribute> {
        let asn16 = u16::try_from(self.local_asn & 0xffff).unwrap_or(0);
        vec![
            AttrValue::Origin(Origin::Igp).into(),
            AttrValue::AsPath(AsPath {
                segments: vec![AsSegment {
                    kind: AsSegmentType::AsSequence,
                    asns: vec![self.local_asn].into(),
                }]
                .into(),
            })
            .into(),
            AttrValue::ExtendedCommunities(
                vec![
                    ExtendedCommunity::RouteTarget(RouteTarget::As2 {
                        asn: asn16,
                        value: self.vni,
                    }),
                    ExtendedCommunity::Encapsulation {
                        tunnel_type: TUNNEL_TYPE_VXLAN,
                    },
                ]
                .into(),
            )
            .into(),
        ]
    }

    /// Route `i` of the stream: MAC 02:00:ii:ii:ii:ii, IP 10.x.y.z from `i`.
    pub fn route(&self, i: u32) -> EvpnNlri {
        let [a, b, c, d] = i.to_be_bytes();
        let ip = Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i + 1));
        EvpnNlri {
            path_id: None,
            route: EvpnRoute::MacIpAdvertisement(MacIpAdvertisement {
                rd: self.rd(),
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: MacAddr([0x02, 0x00, a, b, c, d]),
                ip: Some(IpAddr::V4(ip)),
                label1: self.vni,
                label2: None,
            }),
        }
    }

    /// The UPDATEs announcing routes 0..n, then the EVPN End-of-RIB.
    pub fn encode(&self, n: u32, packing: Packing) -> Result<Vec<Bytes>, EncodeError> {
        let params = SessionParams::default();
        let attrs = self.attributes();
        let nh = MpNextHop::V4(self.next_hop);
        let mut out = Vec::new();
        match packing {
            Packing::Packed => {
                // Chunks well above one message's worth; the encoder splits.
                let mut i = 0;
                while i < n {
                    let end = n.min(i.saturating_add(10_000));
                    let nlri: Vec<EvpnNlri> = (i..end).map(|k| self.route(k)).collect();
                    out.extend(encode_evpn_reach(&attrs, &nh, &nlri, &params)?);
                    i = end;
                }
            }
            Packing::OnePerUpdate => {
                for k in 0..n {
                    out.extend(encode_evpn_reach(&attrs, &nh, &[self.route(k)], &params)?);
                }
            }
        }
        out.push(end_of_rib(25, 70));
        Ok(out)
    }
}

/// What a replay run did.
#[derive(Clone, Debug)]
pub struct SendStats {
    /// When the first UPDATE octet was handed to the socket.
    pub first_update: Instant,
    /// When the last octet was handed to the socket.
    pub last_update: Instant,
    pub messages: usize,
    pub bytes: usize,
}

/// Opens the session over `stream` (OPEN, KEEPALIVE), writes `messages`,
/// then keeps the session alive until `stop` fires or the peer closes.
/// `sent` gets the statistics as soon as everything is written.
pub async fn run_session(
    mut stream: TcpStream,
    replay: &Replay,
    messages: &[Bytes],
    sent: tokio::sync::oneshot::Sender<SendStats>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), String> {
    let params = SessionParams::default();
    let mut cfg = FsmConfig::evpn(replay.local_asn, replay.router_id, replay.peer_asn);
    cfg.extended_message = false;
    cfg.graceful_restart = None;
    cfg.hold_time = 180;
    let mut out = BytesMut::new();
    encode_message(&Message::Open(fsm::local_open(&cfg)), &params, &mut out)
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&out)
        .await
        .map_err(|e| format!("replay: send OPEN: {e}"))?;
    let mut buf = BytesMut::with_capacity(65536);
    // Wait for the peer's OPEN and KEEPALIVE.
    let mut got_open = false;
    loop {
        let msg = next_message(&mut stream, &mut buf).await?;
        match msg {
            Message::Open(_) => {
                got_open = true;
                let mut ka = BytesMut::new();
                encode_message(&Message::Keepalive, &params, &mut ka).map_err(|e| e.to_string())?;
                stream
                    .write_all(&ka)
                    .await
                    .map_err(|e| format!("replay: send KEEPALIVE: {e}"))?;
            }
            Message::Keepalive if got_open => break,
            Message::Notification(n) => {
                return Err(format!("replay: peer sent {}", fsm::describe(&n)))
            }
            _ => {}
        }
    }
    let (mut rd, mut wr) = stream.into_split();
    // Keep reading (keepalives, whatever the peer advertises) while writing.
    let reader = tokio::spawn(async move {
        let mut b = vec![0u8; 65536];
        loop {
            match rd.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    let first_update = Instant::now();
    let mut bytes = 0;
    let mut chunk = BytesMut::with_capacity(1 << 20);
    for m in messages {
        chunk.extend_from_slice(m);
        if chunk.len() >= 1 << 20 {
            bytes += chunk.len();
            wr.write_all(&chunk)
                .await
                .map_err(|e| format!("replay: write: {e}"))?;
            chunk.clear();
        }
    }
    bytes += chunk.len();
    wr.write_all(&chunk)
        .await
        .map_err(|e| format!("replay: write: {e}"))?;
    let _ = sent.send(SendStats {
        first_update,
        last_update: Instant::now(),
        messages: messages.len(),
        bytes,
    });
    let mut ka = BytesMut::new();
    encode_message(&Message::Keepalive, &params, &mut ka).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(Duration::from_secs(20)) => {
                if wr.write_all(&ka).await.is_err() {
                    break;
                }
            }
        }
    }
    reader.abort();
    Ok(())
}

async fn next_message(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Message, String> {
    loop {
        if let Some(n) = frame(buf, 65535).map_err(|e| format!("replay: framing: {e}"))? {
            let m = buf.split_to(n);
            return plane_bgp::wire::decode_message(&m, &SessionParams::default())
                .map_err(|e| format!("replay: decode: {e}"));
        }
        let n = stream
            .read_buf(buf)
            .await
            .map_err(|e| format!("replay: read: {e}"))?;
        if n == 0 {
            return Err("replay: peer closed the connection during the handshake".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plane_bgp::wire::{decode_message, AttrValue, MpNlri};

    fn replay() -> Replay {
        Replay {
            local_asn: 65002,
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            peer_asn: 65001,
            next_hop: Ipv4Addr::new(10, 0, 0, 2),
            vni: 100,
        }
    }

    fn count_routes(messages: &[Bytes]) -> usize {
        let mut n = 0;
        for m in messages {
            let Ok(Message::Update(u)) = decode_message(m, &SessionParams::default()) else {
                panic!("not an UPDATE");
            };
            for a in &u.attributes {
                if let AttrValue::MpReachNlri(r) = &a.value {
                    if let MpNlri::Evpn(v) = &r.nlri {
                        n += v.len();
                    }
                }
            }
        }
        n
    }

    #[test]
    fn packed_and_one_per_update_carry_every_route_once() {
        let r = replay();
        let packed = r.encode(1000, Packing::Packed).expect("encode");
        let single = r.encode(1000, Packing::OnePerUpdate).expect("encode");
        assert_eq!(count_routes(&packed), 1000);
        assert_eq!(count_routes(&single), 1000);
        assert_eq!(single.len(), 1001, "one UPDATE per route plus End-of-RIB");
        assert!(
            packed.len() < 20,
            "packed into few messages: {}",
            packed.len()
        );
        assert!(packed.iter().all(|m| m.len() <= 4096));
        let per_route = packed.iter().map(Bytes::len).sum::<usize>() / 1000;
        assert!(
            (30..=45).contains(&per_route),
            "packed size per route {per_route}"
        );
    }

    #[test]
    fn routes_are_distinct() {
        let r = replay();
        let set: std::collections::HashSet<EvpnNlri> = (0..5000).map(|i| r.route(i)).collect();
        assert_eq!(set.len(), 5000);
    }
}
