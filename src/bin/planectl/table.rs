//! planectl's tables for people, in the spirit of `vtysh show bgp l2vpn evpn`
//! and `gobgp global rib -a evpn`: one header line, one row per object,
//! columns padded with two spaces, `-` for an absent value. Scripts use
//! `--json`; the table layout is not a contract.

use plane::control::{
    Endpoint, FdbVni, Neighbor, Pmsi, Route, RouteKind, SessionState, Summary, VniInfo,
};
use plane_bgp::wire::{PMSI_INGRESS_REPLICATION, TUNNEL_TYPE_VXLAN};
use std::fmt::Display;

/// A left-aligned text table.
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (cell, w) in cells.iter().zip(&widths) {
                line.push_str(cell);
                let pad = w.saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn or_dash<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn join<T: Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "-".to_string();
    }
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `00:05:12` below a day, `3d04h05m` above, as FRR prints session uptime.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// The Encapsulation tunnel type as FRR and GoBGP name it: `vxlan` for 8.
fn encap(tunnel_type: Option<u16>) -> String {
    match tunnel_type {
        Some(TUNNEL_TYPE_VXLAN) => "vxlan".to_string(),
        other => or_dash(other),
    }
}

/// `IR 10.0.0.1` for ingress replication (RFC 6514 tunnel type 6, the only
/// one VXLAN EVPN uses), `type N` for another.
fn pmsi(p: Option<Pmsi>) -> String {
    let Some(p) = p else {
        return "-".to_string();
    };
    let kind = match p.tunnel_type {
        PMSI_INGRESS_REPLICATION => "IR".to_string(),
        t => format!("type {t}"),
    };
    match p.endpoint {
        Some(ep) => format!("{kind} {ep}"),
        None => kind,
    }
}

pub fn routes(routes: &[Route]) -> String {
    let mut t = Table::new(&[
        "", "VNI", "RD", "NETWORK", "NEXTHOP", "SEQ", "ENCAP", "PMSI", "SOURCE", "RT",
    ]);
    for r in routes {
        let (network, seq) = match &r.kind {
            RouteKind::MacIp {
                mac,
                ip: Some(ip),
                seq,
            } => (format!("[2]:[{mac}]:[{ip}]"), seq.to_string()),
            RouteKind::MacIp { mac, ip: None, seq } => (format!("[2]:[{mac}]"), seq.to_string()),
            RouteKind::Imet { originator } => (format!("[3]:[{originator}]"), "-".to_string()),
        };
        t.row(vec![
            if r.best { "*>" } else { "*" }.to_string(),
            r.vni.to_string(),
            r.rd.to_string(),
            network,
            r.nexthop.to_string(),
            seq,
            encap(r.encap),
            pmsi(r.pmsi),
            r.source.to_string(),
            join(&r.route_targets),
        ]);
    }
    let best = routes.iter().filter(|r| r.best).count();
    format!(
        "{}\nDisplayed {} route(s), {best} best\n",
        t.render(),
        routes.len()
    )
}

pub fn neighbors(neighbors: &[Neighbor]) -> String {
    let mut t = Table::new(&[
        "NEIGHBOR",
        "AS",
        "STATE",
        "UP/DOWN",
        "RCVD",
        "SENT",
        "EOR",
        "DESCRIPTION",
        "LAST ERROR",
    ]);
    for n in neighbors {
        // End-of-RIB only means something for a session that is up.
        let eor = match (n.state, n.end_of_rib) {
            (SessionState::Established, true) => "yes",
            (SessionState::Established, false) => "no",
            _ => "-",
        };
        t.row(vec![
            n.address.to_string(),
            n.remote_asn.to_string(),
            n.state.to_string(),
            or_dash(n.uptime_secs.map(duration)),
            n.received.to_string(),
            n.sent.to_string(),
            eor.to_string(),
            or_dash(n.description.as_deref()),
            or_dash(n.last_error.as_deref()),
        ]);
    }
    t.render()
}

pub fn vnis(vnis: &[VniInfo]) -> String {
    let mut t = Table::new(&[
        "VNI",
        "BRIDGE",
        "VXLAN",
        "RD",
        "IMPORT RT",
        "EXPORT RT",
        "BUM",
        "LOCAL",
        "REMOTE",
        "VTEPS",
    ]);
    for v in vnis {
        t.row(vec![
            v.vni.to_string(),
            v.bridge.clone(),
            v.vxlan.clone(),
            v.rd.to_string(),
            join(&v.import_rt),
            join(&v.export_rt),
            v.bum.to_string(),
            v.local_macs.to_string(),
            v.remote_macs.to_string(),
            join(&v.remote_vteps),
        ]);
    }
    t.render()
}

pub fn endpoints(endpoints: &[Endpoint]) -> String {
    let mut t = Table::new(&["VNI", "MAC", "IPS", "PORT", "BRIDGE", "STATE", "ATTACH"]);
    for e in endpoints {
        t.row(vec![
            e.vni.to_string(),
            e.mac.to_string(),
            join(&e.ips),
            e.port.clone(),
            e.bridge.clone(),
            e.state.to_string(),
            e.attach.to_string(),
        ]);
    }
    t.render()
}

pub fn fdb(vnis: &[FdbVni]) -> String {
    let mut t = Table::new(&["VNI", "DEVICE", "ENTRY", "MAC", "IP", "VTEP"]);
    for v in vnis {
        for m in &v.remote_macs {
            t.row(vec![
                v.vni.to_string(),
                v.vxlan.clone(),
                "remote".into(),
                m.mac.to_string(),
                "-".into(),
                m.vtep.to_string(),
            ]);
        }
        for n in &v.neighbors {
            t.row(vec![
                v.vni.to_string(),
                v.vxlan.clone(),
                "neigh".into(),
                n.mac.to_string(),
                n.ip.to_string(),
                "-".into(),
            ]);
        }
        for vtep in &v.flood {
            t.row(vec![
                v.vni.to_string(),
                v.vxlan.clone(),
                "flood".into(),
                "00:00:00:00:00:00".into(),
                "-".into(),
                vtep.to_string(),
            ]);
        }
    }
    t.render()
}

pub fn summary(summaries: &[Summary]) -> String {
    let mut out = String::new();
    for s in summaries {
        out.push_str(&format!(
            "planed {}, up {}\n\
             BGP router-id {}, local AS {}, VTEP {}\n\
             Neighbors: {} configured, {} established\n\
             VNIs: {}, local endpoints: {}, EVPN routes: {}\n",
            s.version,
            duration(s.uptime_secs),
            s.router_id,
            s.asn,
            s.local_vtep,
            s.neighbors,
            s.neighbors_established,
            s.vnis,
            s.endpoints,
            s.routes
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_trailing_space_trimmed() {
        let mut t = Table::new(&["A", "LONGER"]);
        t.row(vec!["wide cell".into(), "x".into()]);
        assert_eq!(t.render(), "A          LONGER\nwide cell  x\n");
    }

    #[test]
    fn durations_like_frr() {
        assert_eq!(duration(0), "00:00:00");
        assert_eq!(duration(3725), "01:02:05");
        assert_eq!(duration(2 * 86400 + 3 * 3600 + 4 * 60), "2d03h04m");
    }
}
