//! Config tests: plane.toml parsing, resolution (defaults, auto RD/RT),
//! error reporting (file:line:col, key, why; every error at once), the reload
//! diff, and `planed --check-config` run as a process. The control socket,
//! its client and planectl are tested in `control.rs` (a module of this test).

mod control;

use plane::config::{BumMode, Config, ConfigDiff, RtMatch};
use plane_bgp::wire::{RouteDistinguisher, RouteTarget};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

const FULL: &str = r#"# A host of a two-host fabric with a route reflector.
[bgp]
asn = 65000
router_id = "10.0.0.1"
listen = "0.0.0.0:1790"
hold_time = 30
connect_retry = 2
cluster_id = "10.0.0.1"

[bgp.graceful_restart]
restart_time = 60

[[bgp.neighbor]]
address = "10.0.0.2"
remote_asn = 65000
password = "s3cret"
route_reflector_client = true
description = "host b"

[[bgp.neighbor]]
address = "fd00::3"
remote_asn = 65003
passive = true
port = 1791
hold_time = 9

[underlay]
local_ip = "10.0.0.1"
mtu = 1400

[[vni]]
id = 10

[[vni]]
id = 20
bridge = "tenant-b"
rd = "65000:20"
import_rt = ["auto", "*:20"]
export_rt = ["65000:20", "10.0.0.1:7"]
bum = "flood"

[control]
socket = "/tmp/plane.sock"
group = "plane"

[log]
level = "plane=debug,info"
"#;

fn parse(text: &str) -> Config {
    match Config::parse(text, "plane.toml") {
        Ok(c) => c,
        Err(e) => panic!("config should parse, got:\n{e}"),
    }
}

/// The messages of every error, as `planed --check-config` prints them.
fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, "plane.toml") {
        Ok(c) => panic!("config should be refused, got {c:?}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn assert_one_error(text: &str, expected: &str) {
    let errs = errors(text);
    assert_eq!(errs, vec![expected.to_string()], "for config:\n{text}");
}

const MINIMAL: &str = r#"[bgp]
asn = 65000
router_id = "10.0.0.1"
[underlay]
local_ip = "10.0.0.1"
"#;

#[test]
fn full_example_resolves_every_value() {
    let c = parse(FULL);
    assert_eq!(c.bgp.asn, 65000);
    assert_eq!(c.bgp.router_id, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(c.bgp.listen.to_string(), "0.0.0.0:1790");
    assert_eq!(c.bgp.hold_time, Duration::from_secs(30));
    // keepalive defaults to a third of the hold time.
    assert_eq!(c.bgp.keepalive, Duration::from_secs(10));
    assert_eq!(c.bgp.connect_retry, Duration::from_secs(2));
    assert_eq!(c.bgp.cluster_id, Some(Ipv4Addr::new(10, 0, 0, 1)));
    let gr = c
        .bgp
        .graceful_restart
        .expect("graceful restart on by default");
    assert_eq!(gr.restart_time, Duration::from_secs(60));
    assert_eq!(gr.stale_time, Duration::from_secs(360));

    assert_eq!(c.neighbors.len(), 2);
    let a = &c.neighbors[0];
    assert_eq!(a.address, "10.0.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(a.password.as_deref(), Some("s3cret"));
    assert!(a.route_reflector_client && !a.passive);
    assert_eq!((a.port, a.hold_time), (179, None));
    assert_eq!(a.description.as_deref(), Some("host b"));
    let b = &c.neighbors[1];
    assert_eq!(b.address, "fd00::3".parse::<IpAddr>().unwrap());
    assert!(b.passive && !b.route_reflector_client);
    assert_eq!((b.port, b.hold_time), (1791, Some(Duration::from_secs(9))));

    assert_eq!(c.underlay.local_ip, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!((c.underlay.vxlan_port, c.underlay.mtu), (4789, 1400));

    let v10 = &c.vnis[0];
    assert_eq!(
        (v10.id, v10.bridge.as_str(), v10.vxlan.as_str()),
        (10, "br10", "vxlan10")
    );
    assert_eq!(
        v10.rd,
        RouteDistinguisher::Ipv4 {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            number: 1
        }
    );
    assert!(v10.rd_auto);
    let rt10 = RouteTarget::As2 {
        asn: 65000,
        value: 10,
    };
    assert_eq!(v10.import_rt, vec![RtMatch::Exact(rt10)]);
    assert_eq!(v10.export_rt, vec![rt10]);
    assert_eq!(v10.bum, BumMode::Suppress);

    let v20 = &c.vnis[1];
    assert_eq!(
        (v20.bridge.as_str(), v20.vxlan.as_str()),
        ("tenant-b", "vxlan20")
    );
    assert_eq!(
        v20.rd,
        RouteDistinguisher::As2 {
            asn: 65000,
            number: 20
        }
    );
    assert!(!v20.rd_auto);
    let rt20 = RouteTarget::As2 {
        asn: 65000,
        value: 20,
    };
    assert_eq!(
        v20.import_rt,
        vec![RtMatch::Exact(rt20), RtMatch::AnyAsn(20)]
    );
    assert_eq!(
        v20.export_rt,
        vec![
            rt20,
            RouteTarget::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                value: 7
            }
        ]
    );
    assert_eq!(v20.bum, BumMode::Flood);

    assert_eq!(c.control.socket.to_str(), Some("/tmp/plane.sock"));
    assert_eq!(c.control.group.as_deref(), Some("plane"));
    assert_eq!(c.log.level, "plane=debug,info");
}

#[test]
fn two_line_vni_section_gets_every_default() {
    let c = parse(&format!(
        "{MINIMAL}[[vni]]\nid = 10\n[[vni]]\nid = 16777215\n[[vni]]\nid = 30\nbum = \"proxy\"\n"
    ));
    assert_eq!(c.vnis[2].bum, BumMode::Proxy);
    assert_eq!(c.bgp.listen.to_string(), "0.0.0.0:179");
    assert_eq!(c.bgp.hold_time, Duration::from_secs(90));
    assert_eq!(c.bgp.keepalive, Duration::from_secs(30));
    assert_eq!(c.bgp.connect_retry, Duration::from_secs(5));
    assert_eq!(c.bgp.cluster_id, None);
    assert_eq!((c.underlay.vxlan_port, c.underlay.mtu), (4789, 1450));
    assert_eq!(c.control.socket.to_str(), Some("/run/plane/planed.sock"));
    assert_eq!(c.control.group, None);
    assert_eq!(c.log.level, "info");
    let v = &c.vnis[1];
    assert_eq!(
        (v.bridge.as_str(), v.vxlan.as_str()),
        ("br16777215", "vxlan16777215")
    );
    // Auto RD index is the 1-based position in the file.
    assert_eq!(v.rd.to_string(), "10.0.0.1:2");
    assert_eq!(v.export_rt[0].to_string(), "65000:16777215");
    assert_eq!(v.bum, BumMode::Suppress);
}

#[test]
fn four_octet_asn_auto_rt_uses_the_low_16_bits() {
    let c = parse(
        "[bgp]\nasn = 4200000001\nrouter_id = \"10.0.0.1\"\n[underlay]\nlocal_ip = \"fd00::1\"\n[[vni]]\nid = 100000\n",
    );
    // 4200000001 = 0xfa56_ea01; the low 16 bits are 0xea01 = 59905, as FRR derives it.
    assert_eq!(
        c.vnis[0].export_rt[0],
        RouteTarget::As2 {
            asn: 59905,
            value: 100000
        }
    );
    assert_eq!(c.underlay.local_ip, "fd00::1".parse::<IpAddr>().unwrap());
}

#[test]
fn vni_over_24_bits() {
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\n    id = 20000000\n"),
        "plane.toml:7:10: vni.id: 24-bit VNI expected, got 20000000",
    );
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 0\n"),
        "plane.toml:7:6: vni.id: 24-bit VNI expected, got 0",
    );
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = \"10\"\n"),
        "plane.toml:7:6: vni.id: 24-bit VNI expected, got string",
    );
}

#[test]
fn unknown_keys_anywhere() {
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 10\nbrige = \"br-x\"\n"),
        "plane.toml:8:1: vni.brige: unknown key, did you mean \"bridge\"? (expected one of: id, bridge, vxlan, rd, import_rt, export_rt, bum)",
    );
    let errs = errors(&format!("{MINIMAL}[bgpp]\nasn = 1\n"));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("plane.toml:6:2: bgpp: unknown top-level key, did you mean \"bgp\"?"),
        "{errs:?}"
    );
    let errs = errors(&MINIMAL.replace("asn = 65000", "asn = 65000\nhold = 3"));
    assert!(
        errs[0].starts_with("plane.toml:3:1: bgp.hold: unknown key"),
        "{errs:?}"
    );
}

#[test]
fn duplicate_vni_and_bridge_names() {
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 10\n[[vni]]\nid = 10\n"),
        "plane.toml:9:6: vni.id: duplicate VNI 10 (first defined on line 7)",
    );
    assert_one_error(
        &format!(
            "{MINIMAL}[[vni]]\nid = 10\nbridge = \"br0\"\n[[vni]]\nid = 20\nbridge = \"br0\"\n"
        ),
        "plane.toml:11:10: vni.bridge: interface br0 is already used on line 8",
    );
    // A bridge may not take the name of another VNI's default VXLAN device.
    let errs = errors(&format!(
        "{MINIMAL}[[vni]]\nid = 10\n[[vni]]\nid = 20\nbridge = \"vxlan10\"\n"
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("plane.toml:10:10: vni.bridge: interface vxlan10 is already used"),
        "{errs:?}"
    );
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 10\nbridge = \"a-very-long-bridge-name\"\n"),
        "plane.toml:8:10: vni.bridge: interface name of 1 to 15 bytes expected, got \"a-very-long-bridge-name\" (23 bytes)",
    );
}

#[test]
fn router_id_must_be_ipv4() {
    assert_one_error(
        &MINIMAL.replace("router_id = \"10.0.0.1\"", "router_id = \"fd00::1\""),
        "plane.toml:3:13: bgp.router_id: router-id must be an IPv4 address (the BGP Identifier), got \"fd00::1\"",
    );
}

#[test]
fn neighbor_without_remote_asn() {
    let text = format!("{MINIMAL}[[bgp.neighbor]]\naddress = \"10.0.0.2\"\n");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("plane.toml:6:")
            && errs[0].contains("bgp.neighbor.remote_asn: required key missing"),
        "{errs:?}"
    );
}

#[test]
fn bad_addresses() {
    assert_one_error(
        &format!("{MINIMAL}[[bgp.neighbor]]\naddress = \"10.0.0.2/24\"\nremote_asn = 65000\n"),
        "plane.toml:7:11: bgp.neighbor.address: IP address expected (no prefix length, no port), got \"10.0.0.2/24\"",
    );
    assert_one_error(
        &MINIMAL.replace("local_ip = \"10.0.0.1\"", "local_ip = \"10.0.0.256\""),
        "plane.toml:5:12: underlay.local_ip: IP address expected (no prefix length), got \"10.0.0.256\"",
    );
    assert_one_error(
        &MINIMAL.replace("asn = 65000", "asn = 65000\nlisten = \"0.0.0.0\""),
        "plane.toml:3:10: bgp.listen: address:port expected (\"0.0.0.0:179\", \"[::]:179\"), got \"0.0.0.0\"",
    );
}

#[test]
fn bad_rd_and_rt_syntax() {
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 10\nrd = \"10.0.0.1\"\n"),
        "plane.toml:8:6: vni.rd: route distinguisher A.B.C.D:N or ASN:N expected, got \"10.0.0.1\" (or \"auto\")",
    );
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 10\nimport_rt = [\"auto\", \"65000:x\"]\n"),
        "plane.toml:8:22: vni.import_rt: route target ASN:N, A.B.C.D:N or *:N expected, got \"65000:x\" (or \"auto\")",
    );
    // The wildcard is for import only.
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 10\nexport_rt = [\"*:10\"]\n"),
        "plane.toml:8:14: vni.export_rt: route target ASN:N or A.B.C.D:N expected, got \"*:10\" (or \"auto\")",
    );
    assert_one_error(
        &format!("{MINIMAL}[[vni]]\nid = 10\nrd = \"4200000000:70000\"\n"),
        "plane.toml:8:6: vni.rd: \"4200000000:70000\": the number after a 4-octet ASN must be 0..=65535 (or \"auto\")",
    );
    // Two VNIs with the same explicit RD.
    let errs = errors(&format!(
        "{MINIMAL}[[vni]]\nid = 10\nrd = \"1:1\"\n[[vni]]\nid = 20\nrd = \"1:1\"\n"
    ));
    assert_eq!(
        errs,
        vec!["plane.toml:11:6: vni.rd: duplicate route distinguisher 1:1 (also used on line 8)"]
    );
}

#[test]
fn timers_and_peers_are_checked() {
    assert_one_error(
        &MINIMAL.replace("asn = 65000", "asn = 65000\nhold_time = 2"),
        "plane.toml:3:13: bgp.hold_time: hold time must be 0 or at least 3 seconds (RFC 4271 4.2), got 2",
    );
    assert_one_error(
        &MINIMAL.replace("asn = 65000", "asn = 65000\nhold_time = 9\nkeepalive = 9"),
        "plane.toml:4:13: bgp.keepalive: keepalive (9s) must be less than hold_time (9s)",
    );
    assert_one_error(
        &format!("{MINIMAL}[[bgp.neighbor]]\naddress = \"10.0.0.2\"\nremote_asn = 65001\nroute_reflector_client = true\n"),
        "plane.toml:9:26: bgp.neighbor.route_reflector_client: route reflection is iBGP only (RFC 4456): remote_asn 65001 is not the local AS 65000",
    );
    assert_one_error(
        &format!(
            "{MINIMAL}[[bgp.neighbor]]\naddress = \"10.0.0.2\"\nremote_asn = 1\n[[bgp.neighbor]]\naddress = \"10.0.0.2\"\nremote_asn = 2\n"
        ),
        "plane.toml:10:11: bgp.neighbor.address: duplicate neighbor 10.0.0.2 (first defined on line 7)",
    );
}

#[test]
fn select_defer_time_defaults_to_the_restart_time_and_is_checked() {
    let secs = Duration::from_secs;
    let gr = |body: &str| format!("{MINIMAL}[bgp.graceful_restart]\n{body}\n");
    // Without the key: the bound planed always used, the restart time
    // (default 120 s, FULL sets 60), or 60 s with graceful restart off.
    assert_eq!(parse(MINIMAL).bgp.select_defer_time, secs(120));
    assert_eq!(parse(FULL).bgp.select_defer_time, secs(60));
    assert_eq!(
        parse(&gr("enabled = false")).bgp.select_defer_time,
        secs(60)
    );
    let c = parse(&gr("restart_time = 90\nselect_defer_time = 360"));
    let restart = c.bgp.graceful_restart.map(|g| g.restart_time);
    assert_eq!(
        (c.bgp.select_defer_time, restart),
        (secs(360), Some(secs(90)))
    );
    // End-of-RIB is awaited with the capability off too: the key applies.
    let c = parse(&gr("enabled = false\nselect_defer_time = 30"));
    assert_eq!(
        (c.bgp.graceful_restart, c.bgp.select_defer_time),
        (None, secs(30))
    );
    assert_eq!(
        parse(&gr("select_defer_time = 3600")).bgp.select_defer_time,
        secs(3600)
    );

    let key = "bgp.graceful_restart.select_defer_time";
    // 0: no deferral at all, as FRR allows.
    assert_eq!(
        parse(&gr("select_defer_time = 0")).bgp.select_defer_time,
        secs(0)
    );
    assert_one_error(
        &gr("select_defer_time = -1"),
        &format!("plane.toml:7:21: {key}: seconds (0..=3600) expected, got -1"),
    );
    assert_one_error(
        &gr("restart_time = 60\n  select_defer_time = 3601"),
        &format!("plane.toml:8:23: {key}: seconds (0..=3600) expected, got 3601"),
    );
    assert_one_error(
        &gr("select_defer_time = \"360s\""),
        &format!("plane.toml:7:21: {key}: seconds (0..=3600) expected, got string"),
    );
    let errs = errors(&gr("select_defer_tme = 360"));
    assert!(
        errs.len() == 1
            && errs[0].starts_with(
                "plane.toml:7:1: bgp.graceful_restart.select_defer_tme: unknown key, \
                 did you mean \"select_defer_time\"?"
            ),
        "{errs:?}"
    );
    // A bad restart_time is reported once, not again through the default.
    assert_one_error(
        &gr("restart_time = 5000"),
        "plane.toml:7:16: bgp.graceful_restart.restart_time: seconds (0..=4095, a 12-bit field) expected, got 5000",
    );
}

#[test]
fn missing_sections_and_syntax_errors() {
    let errs = errors("[underlay]\nlocal_ip = \"10.0.0.1\"\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("plane.toml:1:1: bgp: required key missing"),
        "{errs:?}"
    );
    let errs = errors("[bgp]\nasn = 65000\nrouter_id = \"10.0.0.1\n");
    assert!(
        errs[0].starts_with("plane.toml:3:") && errs[0].contains(": toml: syntax error"),
        "{errs:?}"
    );
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let text = r#"[bgp]
asn = 0
router_id = "fd00::1"
color = "blue"

[[bgp.neighbor]]
address = "10.0.0.2"

[underlay]
local_ip = "10.0.0.1"
vxlan_port = 70000

[[vni]]
id = 20000000

[[vni]]
id = 30
rd = "x"
bum = "broadcast"
"#;
    let errs = errors(text);
    let expected_prefixes = [
        "plane.toml:2:7: bgp.asn: AS number 1..=4294967295 expected, got 0",
        "plane.toml:3:13: bgp.router_id: router-id must be an IPv4 address",
        "plane.toml:4:1: bgp.color: unknown key",
        "plane.toml:6:",
        "plane.toml:11:14: underlay.vxlan_port: UDP port 1..=65535 expected, got 70000",
        "plane.toml:14:6: vni.id: 24-bit VNI expected, got 20000000",
        "plane.toml:18:6: vni.rd: route distinguisher",
        "plane.toml:19:7: vni.bum: \"suppress\", \"flood\" or \"proxy\" expected, got \"broadcast\"",
    ];
    assert_eq!(errs.len(), expected_prefixes.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(expected_prefixes) {
        assert!(got.starts_with(want), "expected {want:?}..., got {got:?}");
    }
    assert!(
        errs[3].contains("bgp.neighbor.remote_asn: required key missing"),
        "{errs:?}"
    );
}

#[test]
fn diff_reports_neighbors_and_vnis() {
    let old = parse(FULL);
    let text = FULL
        .replace("password = \"s3cret\"\n", "")
        .replace("address = \"fd00::3\"", "address = \"fd00::4\"")
        .replace("[[vni]]\nid = 10\n", "[[vni]]\nid = 30\n");
    let new = parse(&text);
    let d = ConfigDiff::between(&old, &new);
    assert_eq!(d.neighbors_changed.len(), 1);
    assert_eq!(
        d.neighbors_changed[0].old.password.as_deref(),
        Some("s3cret")
    );
    assert_eq!(d.neighbors_changed[0].new.password, None);
    assert_eq!(
        d.neighbors_added
            .iter()
            .map(|n| n.address.to_string())
            .collect::<Vec<_>>(),
        ["fd00::4"]
    );
    assert_eq!(
        d.neighbors_removed
            .iter()
            .map(|n| n.address.to_string())
            .collect::<Vec<_>>(),
        ["fd00::3"]
    );
    assert_eq!(d.vnis_added.iter().map(|v| v.id).collect::<Vec<_>>(), [30]);
    assert_eq!(
        d.vnis_removed.iter().map(|v| v.id).collect::<Vec<_>>(),
        [10]
    );
    assert!(d.vnis_changed.is_empty(), "{:?}", d.vnis_changed);
    assert!(!d.bgp_changed && !d.underlay_changed && !d.control_changed && !d.log_changed);
    assert!(ConfigDiff::between(&old, &old).is_empty());

    // Removing the first VNI moves the auto RD index of the next one.
    let a = parse(&format!("{MINIMAL}[[vni]]\nid = 10\n[[vni]]\nid = 20\n"));
    let b = parse(&format!("{MINIMAL}[[vni]]\nid = 20\n"));
    let d = ConfigDiff::between(&a, &b);
    assert_eq!(d.vnis_removed.len(), 1);
    assert_eq!(d.vnis_changed.len(), 1);
    assert_eq!(d.vnis_changed[0].old.rd.to_string(), "10.0.0.1:2");
    assert_eq!(d.vnis_changed[0].new.rd.to_string(), "10.0.0.1:1");
}

fn planed() -> Command {
    Command::new(env!("CARGO_BIN_EXE_planed"))
}

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plane.toml");
    std::fs::write(&path, FULL).unwrap();
    let out = planed()
        .arg("--check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("AS 65000 router-id 10.0.0.1, 2 neighbor(s), 2 VNI(s)"),
        "{stdout}"
    );
}

#[test]
fn check_config_prints_every_error_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plane.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}[[vni]]\nid = 20000000\nbum = \"x\"\n"),
    )
    .unwrap();
    let out = planed()
        .arg("--check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:7:6: vni.id: 24-bit VNI expected, got 20000000"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:8:7: vni.bum: ")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    let missing = dir.path().join("absent.toml");
    let out = planed()
        .arg("--check-config")
        .arg("--config")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read") && stderr.contains("absent.toml"),
        "{stderr}"
    );
}

#[test]
fn planed_usage_errors_exit_2() {
    let out = planed().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn planed_logs_to_stderr_and_plane_log_overrides_the_level() {
    // planed really runs here: inside a namespace of the test's own, on a
    // loopback port, with its state file in a tempdir, stopped by SIGTERM.
    plane_test::require_root!();
    let ns = plane_test::Netns::new("log").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plane.toml");
    let config = MINIMAL.replace("[underlay]", "listen = \"127.0.0.1:1790\"\n[underlay]");
    std::fs::write(&path, format!("{config}[log]\nlevel = \"info\"\n")).unwrap();
    let socket = dir.path().join("s.sock");
    let run = |plane_log: Option<&str>| -> (Option<i32>, String) {
        let _ = std::fs::remove_file(&socket);
        let log = dir.path().join("stderr.log");
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_planed"));
        cmd.arg("--config")
            .arg(&path)
            .arg("--socket")
            .arg(&socket)
            .arg("--state-file")
            .arg(dir.path().join("endpoints.json"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        match plane_log {
            Some(f) => cmd.env("PLANE_LOG", f),
            None => cmd.env_remove("PLANE_LOG"),
        };
        let mut child = plane_test::Child::spawn(cmd, "planed").unwrap();
        // Ready once the control socket exists, or done when it exits.
        plane_test::poll_until("planed to serve or exit", Duration::from_secs(20), || {
            (socket.exists() || !child.running()).then_some(())
        })
        .unwrap();
        if child.running() {
            child.signal(nix::sys::signal::Signal::SIGTERM).unwrap();
        }
        let status = child.wait_timeout(Duration::from_secs(20)).unwrap();
        (status.code(), std::fs::read_to_string(&log).unwrap())
    };
    let (code, stderr) = run(None);
    assert_eq!(code, Some(0), "SIGTERM is a clean stop: {stderr}");
    assert!(
        stderr.contains("INFO") && stderr.contains("planed starting"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("control socket {}", socket.display())),
        "--socket applied: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colours when stderr is not a terminal: {stderr:?}"
    );
    let (code, stderr) = run(Some("error"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains("INFO"),
        "PLANE_LOG=error hides info: {stderr}"
    );
    let (code, stderr) = run(Some("plane=notalevel"));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("PLANE_LOG: invalid tracing filter"),
        "{stderr}"
    );
}

#[test]
fn duplicate_mac_detection_defaults_to_the_rfc_values() {
    // RFC 7432 section 15.1: N = 5 moves within M = 180 seconds.
    let c = parse(MINIMAL);
    let d = c.evpn.duplicate_mac.expect("on by default");
    assert_eq!(d.max_moves, 5);
    assert_eq!(d.window, Duration::from_secs(180));
    let c = parse(&format!("{MINIMAL}[evpn]\n"));
    assert_eq!(c.evpn.duplicate_mac, parse(MINIMAL).evpn.duplicate_mac);
}

#[test]
fn duplicate_mac_detection_is_set_or_disabled_in_evpn() {
    let c = parse(&format!(
        "{MINIMAL}[evpn.duplicate_mac]\nmax_moves = 3\nwindow = 60\n"
    ));
    let d = c.evpn.duplicate_mac.expect("enabled");
    assert_eq!((d.max_moves, d.window), (3, Duration::from_secs(60)));
    let c = parse(&format!(
        "{MINIMAL}[evpn.duplicate_mac]\nenabled = false\nmax_moves = 3\n"
    ));
    assert_eq!(c.evpn.duplicate_mac, None);
}

#[test]
fn duplicate_mac_detection_errors_name_the_key_and_the_range() {
    assert_one_error(
        &format!("{MINIMAL}[evpn.duplicate_mac]\nmax_moves = 1\n"),
        "plane.toml:7:13: evpn.duplicate_mac.max_moves: moves (2..=1000) expected, got 1",
    );
    assert_one_error(
        &format!("{MINIMAL}[evpn.duplicate_mac]\nwindow = 3600\n"),
        "plane.toml:7:10: evpn.duplicate_mac.window: seconds (2..=1800) expected, got 3600",
    );
    assert_one_error(
        &format!("{MINIMAL}[evpn.duplicate_mac]\nenabled = \"no\"\n"),
        "plane.toml:7:11: evpn.duplicate_mac.enabled: true or false expected, got string",
    );
    let errs = errors(&format!("{MINIMAL}[evpn]\nduplicate_macs = 1\n"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "plane.toml:7:1: evpn.duplicate_macs: unknown key, did you mean \"duplicate_mac\"?"
        ),
        "{errs:?}"
    );
    // Every error at once, with the other sections'.
    let errs = errors(&format!(
        "{MINIMAL}[evpn.duplicate_mac]\nmax_moves = 0\nwindow = 0\n[[vni]]\nid = 0\n"
    ));
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn reload_diff_reports_an_evpn_change() {
    let old = parse(MINIMAL);
    let new = parse(&format!("{MINIMAL}[evpn.duplicate_mac]\nenabled = false\n"));
    let d = ConfigDiff::between(&old, &new);
    assert!(d.evpn_changed && !d.bgp_changed);
    assert!(ConfigDiff::between(&old, &old).is_empty());
}

#[test]
fn reload_diff_names_the_global_keys_that_changed() {
    let old = parse(MINIMAL);
    let new = parse(
        r#"[bgp]
asn = 65001
router_id = "10.0.0.1"
hold_time = 30
connect_retry = 2
[bgp.graceful_restart]
stale_time = 100
[underlay]
local_ip = "10.0.0.1"
mtu = 9000
[control]
group = "plane"
[log]
level = "debug"
"#,
    );
    let d = ConfigDiff::between(&old, &new);
    // keepalive follows hold_time when not written (a third of it).
    assert_eq!(
        d.bgp_keys,
        [
            "asn",
            "hold_time",
            "keepalive",
            "connect_retry",
            "graceful_restart"
        ]
    );
    assert_eq!(d.underlay_keys, ["mtu"]);
    assert_eq!(d.control_keys, ["group"]);
    assert!(d.bgp_changed && d.underlay_changed && d.control_changed && d.log_changed);
    assert!(!d.evpn_changed);
    let same = ConfigDiff::between(&old, &old);
    assert!(same.bgp_keys.is_empty() && same.underlay_keys.is_empty());
}
