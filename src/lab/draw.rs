//! The picture of a lab: Graphviz DOT with one box per host (its VTEP
//! address and kind), the containers inside it coloured by VNI, the
//! underlay (a segment node, or the point-to-point links) and the BGP
//! sessions as dashed edges. With a check report, failed containers,
//! sessions and links are drawn red with the reason in their label.
//!
//! What it never does: run Graphviz itself ([`render`] does, when asked).

use super::check::CheckReport;
use super::topology::{HostKind, Lab, UnderlayMode};
use super::LabError;
use std::fmt::Write as _;
use std::path::Path;

/// Fill colours per VNI, in order of the lab's `[[vni]]` tables.
const VNI_COLOURS: [&str; 8] = [
    "#8ecae6", "#ffb703", "#90be6d", "#f28482", "#cdb4db", "#f4a261", "#a8dadc", "#e9c46a",
];

fn id(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// DOT text of the lab, coloured by VNI and (with `report`) by check result.
pub fn dot(lab: &Lab, report: Option<&CheckReport>) -> String {
    let mut t = String::new();
    let colour = |vni: u32| {
        let i = lab.vnis.iter().position(|v| v.id == vni).unwrap_or(0);
        VNI_COLOURS
            .get(i % VNI_COLOURS.len())
            .copied()
            .unwrap_or("#dddddd")
    };
    let title = match report {
        Some(r) => format!(
            "lab {}: check {}",
            lab.name,
            if r.ok { "PASS" } else { "FAIL" }
        ),
        None => format!("lab {}", lab.name),
    };
    let _ = writeln!(t, "graph \"{}\" {{", lab.name);
    let _ = writeln!(
        t,
        "  graph [label=\"{title}\", labelloc=t, fontsize=20, fontname=\"Helvetica\", compound=true, nodesep=0.3, ranksep=0.9];"
    );
    let _ = writeln!(t, "  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];");
    // The segment is declared before the hosts: dot then keeps the hosts
    // in file order, left to right.
    if lab.underlay == UnderlayMode::Segment {
        let _ = writeln!(
                t,
                "  underlay [label=\"underlay segment\\n(bridge in the lab's underlay namespace)\", shape=box, style=filled, fillcolor=\"#333333\", fontcolor=white, width=6];"
            );
    }
    // Many containers: show a count per VNI instead of one node each.
    let compact = lab.containers.len() > 48;
    for h in &lab.hosts {
        let hid = id(&h.name);
        let _ = writeln!(t, "  subgraph cluster_{hid} {{");
        let _ = writeln!(
            t,
            "    label=\"{} ({})\"; style=\"rounded,filled\"; fillcolor=\"#f5f5f5\"; color=\"#888888\";",
            h.name, h.kind
        );
        let shape = if h.kind.is_rr() {
            "hexagon"
        } else {
            "cylinder"
        };
        let role = if h.kind.is_rr() {
            "route reflector"
        } else {
            "VTEP"
        };
        let _ = writeln!(
            t,
            "    v_{hid} [label=\"{role}\\n{}\", shape={shape}, style=filled, fillcolor=white];",
            h.underlay
        );
        if compact {
            for v in &lab.vnis {
                let n = lab.containers_on(&h.name).filter(|c| c.vni == v.id).count();
                if n == 0 {
                    continue;
                }
                let failed = report.map_or(0, |r| {
                    lab.containers_on(&h.name)
                        .filter(|c| c.vni == v.id && !r.container_ok(&c.name))
                        .count()
                });
                let pen = if failed > 0 {
                    "color=red, penwidth=3"
                } else {
                    "color=\"#444444\""
                };
                let extra = if failed > 0 {
                    format!("\\n{failed} failing")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    t,
                    "    g_{hid}_{} [label=\"{n} containers\\nVNI {}{extra}\", shape=box3d, style=filled, fillcolor=\"{}\", {pen}];",
                    v.id,
                    v.id,
                    colour(v.id)
                );
                let _ = writeln!(
                    t,
                    "    g_{hid}_{} -- v_{hid} [color=\"{}\", penwidth=2];",
                    v.id,
                    colour(v.id)
                );
            }
        } else {
            for c in lab.containers_on(&h.name) {
                let ok = report.map(|r| r.container_ok(&c.name));
                let pen = match ok {
                    Some(false) => "color=red, penwidth=3",
                    _ => "color=\"#444444\"",
                };
                let addrs = c
                    .ips()
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("\\n");
                let _ = writeln!(
                    t,
                    "    c_{} [label=\"{}\\nVNI {}\\n{}\\n{}\", shape=box, style=\"rounded,filled\", fillcolor=\"{}\", {pen}];",
                    id(&c.name),
                    c.name,
                    c.vni,
                    c.mac,
                    addrs,
                    colour(c.vni)
                );
                let _ = writeln!(
                    t,
                    "    c_{} -- v_{hid} [color=\"{}\", penwidth=2];",
                    id(&c.name),
                    colour(c.vni)
                );
            }
        }
        let _ = writeln!(t, "  }}");
    }
    // Underlay.
    let cap = |link: &str| report.and_then(|r| r.captures.iter().find(|c| c.link == link));
    let link_style = |link: &str| match cap(link) {
        Some(c) if c.error.is_some() || c.counts.bum > 0 => {
            format!("color=red, penwidth=3, label=\"BUM {}\"", c.counts.bum)
        }
        Some(c) => format!(
            "color=\"#555555\", penwidth=2, label=\"{} vxlan, BUM 0\"",
            c.counts.frames
        ),
        None => "color=\"#555555\", penwidth=2".to_string(),
    };
    match lab.underlay {
        UnderlayMode::Segment => {
            for h in &lab.hosts {
                let _ = writeln!(
                    t,
                    "  v_{} -- underlay [{}];",
                    id(&h.name),
                    link_style(&format!("{}-underlay", h.name))
                );
            }
        }
        UnderlayMode::Links => {
            for (a, b) in &lab.links {
                let _ = writeln!(
                    t,
                    "  v_{} -- v_{} [{}];",
                    id(a),
                    id(b),
                    link_style(&format!("{a}-{b}"))
                );
            }
        }
    }
    // BGP sessions.
    for (a, b) in &lab.sessions {
        let s = report.and_then(|r| r.sessions.iter().find(|s| &s.a == a && &s.b == b));
        let style = match s {
            Some(s) if !s.passed => format!(
                "color=red, penwidth=2.5, label=\"BGP {}/{}\"",
                s.state_at_a, s.state_at_b
            ),
            Some(_) => "color=\"#2a9d8f\", penwidth=1.5, label=\"BGP\"".to_string(),
            None => "color=\"#2a9d8f\", penwidth=1.5".to_string(),
        };
        let _ = writeln!(
            t,
            "  v_{} -- v_{} [style=dashed, constraint=false, {style}];",
            id(a),
            id(b)
        );
    }
    // Legend.
    let _ = writeln!(
        t,
        "  subgraph cluster_legend {{\n    label=\"legend\"; style=rounded; color=\"#bbbbbb\";"
    );
    for v in &lab.vnis {
        let _ = writeln!(
            t,
            "    legend_{} [label=\"VNI {}\", shape=box, style=\"rounded,filled\", fillcolor=\"{}\"];",
            v.id,
            v.id,
            colour(v.id)
        );
    }
    let _ = writeln!(t, "    legend_bgp [label=\"- - -  BGP EVPN session\", shape=plaintext, fontcolor=\"#2a9d8f\"];");
    if report.is_some() {
        let _ = writeln!(
            t,
            "    legend_fail [label=\"red = failed check\", shape=plaintext, fontcolor=red];"
        );
    }
    let _ = writeln!(t, "  }}\n}}");
    let _ = HostKind::Planed;
    t
}

/// Writes the picture to `out`: SVG (or PNG, by extension) through
/// Graphviz `dot` when it is installed, else the DOT text (returns false).
pub fn render(dot_text: &str, out: &Path) -> Result<bool, LabError> {
    let format = match out.extension().and_then(|e| e.to_str()) {
        Some("png") => "png",
        Some("dot") | Some("gv") => {
            super::write_file(out, dot_text)?;
            return Ok(false);
        }
        _ => "svg",
    };
    let Some(dot) = super::sys::which("dot") else {
        let dot_path = out.with_extension("dot");
        super::write_file(&dot_path, dot_text)?;
        return Ok(false);
    };
    use std::io::Write as _;
    let mut child = std::process::Command::new(dot)
        .arg(format!("-T{format}"))
        .arg("-o")
        .arg(out)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Command {
            command: "dot".into(),
            why: e.to_string(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot_text.as_bytes())
            .map_err(|e| LabError::io(out, e))?;
    }
    let res = child.wait_with_output().map_err(|e| LabError::io(out, e))?;
    if !res.status.success() {
        return Err(LabError::Command {
            command: format!("dot -T{format} -o {}", out.display()),
            why: String::from_utf8_lossy(&res.stderr).trim().to_string(),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_has_every_host_container_and_session() {
        let text = "[[host]]\nname = \"h1\"\nunderlay = \"10.0.0.1\"\n[[host]]\nname = \"h2\"\nunderlay = \"10.0.0.2\"\n[[vni]]\nid = 10\nsubnet = \"10.1.0.0/24\"\n[[container]]\nname = \"c1\"\nhost = \"h1\"\nvni = 10\n";
        let lab = Lab::parse(text, "t.toml", "t").expect("valid");
        let d = dot(&lab, None);
        assert!(d.contains("cluster_h1") && d.contains("cluster_h2"), "{d}");
        assert!(d.contains("c_c1 [label=\"c1\\nVNI 10"), "{d}");
        assert!(d.contains("v_h1 -- v_h2 [style=dashed"), "{d}");
        if super::super::sys::which("dot").is_some() {
            let dir = tempfile::tempdir().expect("tempdir");
            let out = dir.path().join("lab.svg");
            assert!(render(&d, &out).expect("render"));
            let svg = std::fs::read_to_string(&out).expect("svg");
            assert!(svg.contains("<svg") && svg.contains("c1"), "not an SVG");
        }
    }
}
