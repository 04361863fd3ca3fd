//! plane-cni tests: the plugin binary run exactly as a container runtime
//! runs it (CNI_* variables, network configuration on stdin, result or error
//! JSON on stdout), inside a "host" network namespace the test creates,
//! against container namespaces the test creates, with the reference
//! host-local IPAM plugin from /usr/lib/cni (its dataDir in a tempdir).
//!
//! The first tests play planed with a fake control server (the generic
//! server of `plane::control` with an owner task as handler) that keeps an
//! endpoint table, refuses an address already held in the VNI, and reports
//! every change request to the test. The `two_hosts_*` tests run a real
//! planed on each of two hosts (iBGP over an underlay veth): containers
//! attached with plane-cni, or with `planectl endpoint add --netns`, ping
//! each other across the overlay, and DEL withdraws the remote routes.

use plane::config::{BumMode, IpCidr, RtMatch};
use plane::control::*;
use plane_bgp::wire::{MacAddr, RouteDistinguisher, RouteTarget};
use plane_test::{poll_until, Netns};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

const CNI_PATH: &str = "/usr/lib/cni";

fn vni_info(vni: u32, bridge: &str) -> VniInfo {
    VniInfo {
        vni,
        bridge: bridge.into(),
        vxlan: format!("vxlan{vni}"),
        rd: RouteDistinguisher::Ipv4 {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            number: 1,
        },
        import_rt: vec![RtMatch::AnyAsn(vni)],
        export_rt: vec![RouteTarget::As2 {
            asn: 65000,
            value: vni,
        }],
        bum: BumMode::Suppress,
        local_macs: 0,
        remote_macs: 0,
        remote_vteps: vec![],
    }
}

/// The fake planed: serves VNI 10 on `br10`, keeps endpoints, refuses an
/// address that another MAC holds in the VNI (as planed must), and sends
/// every change request to the test.
async fn fake_planed(
    mut calls: tokio::sync::mpsc::Receiver<ControlCall>,
    log: std::sync::mpsc::Sender<Request>,
) {
    let mut endpoints: BTreeMap<(u32, MacAddr), Endpoint> = BTreeMap::new();
    while let Some(call) = calls.recv().await {
        if call.request.is_change() {
            let _ = log.send(call.request.clone());
        }
        let answer = match call.request {
            Request::ShowVnis => Ok(Response::Vnis(vec![vni_info(10, "br10")])),
            Request::ShowEndpoints(f) => Ok(Response::Endpoints(
                endpoints
                    .values()
                    .filter(|e| f.vni.is_none_or(|v| v == e.vni))
                    .cloned()
                    .collect(),
            )),
            Request::EndpointAdd(spec) if spec.vni != 10 => Err(ControlError::not_found(format!(
                "VNI {} is not configured",
                spec.vni
            ))),
            Request::EndpointAdd(spec) => {
                let taken = endpoints.values().find_map(|e| {
                    (e.vni == spec.vni && e.mac != spec.mac)
                        .then(|| {
                            spec.ips
                                .iter()
                                .find(|a| e.ips.iter().any(|b| b.addr == a.addr))
                        })
                        .flatten()
                        .map(|a| (a.addr, e.mac))
                });
                match taken {
                    Some((addr, owner)) => Err(ControlError::new(
                        ErrorCode::AlreadyExists,
                        format!(
                            "address {addr} is held by endpoint {owner} in VNI {}",
                            spec.vni
                        ),
                    )),
                    None => {
                        let port = match &spec.attach {
                            Attach::Port { ifname } => ifname.clone(),
                            Attach::Netns { .. } => "unused".into(),
                        };
                        let ep = Endpoint {
                            vni: spec.vni,
                            mac: spec.mac,
                            ips: spec.ips,
                            attach: spec.attach,
                            port,
                            bridge: "br10".into(),
                            state: Default::default(),
                        };
                        endpoints.insert((ep.vni, ep.mac), ep.clone());
                        Ok(Response::Endpoint(ep))
                    }
                }
            }
            Request::EndpointDel(k) => {
                endpoints.remove(&(k.vni, k.mac));
                Ok(Response::Done)
            }
            Request::EndpointGet(k) => endpoints
                .get(&(k.vni, k.mac))
                .cloned()
                .map(Response::Endpoint)
                .ok_or_else(|| ControlError::not_found(format!("no endpoint {}", k.mac))),
            _ => Err(ControlError::internal("not faked")),
        };
        let _ = call.reply.send(answer);
    }
}

/// The fake planed on a socket in a tempdir, on its own runtime.
struct FakePlaned {
    socket: PathBuf,
    log: std::sync::mpsc::Receiver<Request>,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakePlaned {
    fn start(dir: &Path) -> FakePlaned {
        let socket = dir.join("planed.sock");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (handler, calls) = channel(16);
        let (log_tx, log) = std::sync::mpsc::channel();
        runtime.spawn(fake_planed(calls, log_tx));
        let server = runtime
            .block_on(async { ControlServer::bind(ServerOptions::new(&socket)) })
            .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        runtime.spawn(server.serve(Arc::new(handler), async {
            let _ = rx.await;
        }));
        FakePlaned {
            socket,
            log,
            shutdown: Some(tx),
            runtime: Some(runtime),
        }
    }

    /// The change requests received so far.
    fn changes(&self) -> Vec<Request> {
        self.log.try_iter().collect()
    }

    fn client(&self) -> Client {
        Client::connect(&self.socket).unwrap()
    }
}

impl Drop for FakePlaned {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// One test's world: a host namespace with `br10` (MTU 1450, as planed
/// makes it), a fake planed and a host-local data dir.
struct World {
    dir: tempfile::TempDir,
    host: Netns,
    planed: FakePlaned,
}

impl World {
    fn new(tag: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let host = Netns::new(tag).unwrap();
        host.ip(&["link", "add", "br10", "type", "bridge"]).unwrap();
        host.ip(&[
            "link",
            "set",
            "br10",
            "mtu",
            "1450",
            "addrgenmode",
            "none",
            "up",
        ])
        .unwrap();
        let planed = FakePlaned::start(dir.path());
        World { dir, host, planed }
    }

    fn conf(&self, vni: u32) -> Value {
        json!({
            "cniVersion": "1.1.0",
            "name": "plane-test",
            "type": "plane",
            "vni": vni,
            "socket": self.planed.socket,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "10.1.0.0/24", "gateway": "10.1.0.1"}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": self.dir.path().join("ipam"),
            },
            "dns": {"nameservers": ["10.1.0.53"]},
        })
    }

    /// Runs plane-cni in the host namespace as a runtime does.
    fn cni(&self, command: &str, container_id: &str, netns: Option<&Path>, conf: &Value) -> Cni {
        self.cni_raw(
            command,
            container_id,
            netns,
            "eth0",
            conf.to_string().as_bytes(),
        )
    }

    fn cni_raw(
        &self,
        command: &str,
        container_id: &str,
        netns: Option<&Path>,
        ifname: &str,
        stdin: &[u8],
    ) -> Cni {
        run_cni(&self.host, command, container_id, netns, ifname, stdin)
    }
}

/// What one plane-cni run printed.
#[derive(Debug)]
struct Cni {
    ok: bool,
    out: Value,
    stderr: String,
}

impl Cni {
    fn expect_ok(self, what: &str) -> Value {
        assert!(self.ok, "{what}: {} / {}", self.out, self.stderr);
        self.out
    }

    /// Asserts a spec error with `code` and returns its message.
    fn expect_code(self, code: u64, what: &str) -> String {
        assert!(!self.ok, "{what}: succeeded: {}", self.out);
        assert_eq!(
            self.out["code"], code,
            "{what}: {} / {}",
            self.out, self.stderr
        );
        let msg = self.out["msg"].as_str().unwrap_or_default().to_string();
        assert!(!msg.is_empty(), "{what}: error without msg: {}", self.out);
        assert!(self.out["cniVersion"].is_string(), "{what}: {}", self.out);
        msg
    }
}

fn run_cni(
    host: &Netns,
    command: &str,
    container_id: &str,
    netns: Option<&Path>,
    ifname: &str,
    stdin: &[u8],
) -> Cni {
    run_cni_with_path(host, command, container_id, netns, ifname, stdin, CNI_PATH)
}

fn run_cni_with_path(
    host: &Netns,
    command: &str,
    container_id: &str,
    netns: Option<&Path>,
    ifname: &str,
    stdin: &[u8],
    cni_path: &str,
) -> Cni {
    let mut cmd = host.command(env!("CARGO_BIN_EXE_plane-cni"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container_id)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = netns {
        cmd.env("CNI_NETNS", p);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    Cni {
        ok: out.status.success(),
        out: if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout not JSON ({e}): {text}"))
        },
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mac_in(ns: &Netns, ifname: &str) -> String {
    let out = ns.ip(&["-j", "link", "show", ifname]).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0]["address"].as_str().unwrap().to_string()
}

fn link_json(ns: &Netns, ifname: &str) -> Option<Value> {
    let out = ns.ip(&["-j", "-d", "link", "show", ifname]).ok()?;
    let v: Value = serde_json::from_str(&out).ok()?;
    v.get(0).cloned()
}

fn ipam_files(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir.join("ipam/plane-test")) else {
        return vec![];
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("10."))
        .collect()
}

fn endpoint_adds(reqs: &[Request]) -> Vec<EndpointSpec> {
    reqs.iter()
        .filter_map(|r| match r {
            Request::EndpointAdd(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn add_gives_a_spec_result_and_a_working_interface_del_is_idempotent() {
    plane_test::require_root!();
    let w = World::new("ca");
    let c1 = Netns::new("c1").unwrap();
    let c2 = Netns::new("c2").unwrap();
    let conf = w.conf(10);

    let r1 = w
        .cni("ADD", "cont-1", Some(&c1.path()), &conf)
        .expect_ok("ADD c1");
    let r2 = w
        .cni("ADD", "cont-2", Some(&c2.path()), &conf)
        .expect_ok("ADD c2");

    // The result of SPEC 1.1: host end, container end with sandbox, the
    // address pointing at the container end, routes and DNS passed through.
    assert_eq!(r1["cniVersion"], "1.1.0");
    let ifaces = r1["interfaces"].as_array().unwrap();
    assert_eq!(ifaces.len(), 2, "{r1}");
    let host_end = ifaces[0]["name"].as_str().unwrap();
    assert!(host_end.starts_with("pl") && host_end.len() == 10, "{r1}");
    assert!(ifaces[0].get("sandbox").is_none(), "{r1}");
    assert_eq!(ifaces[1]["name"], "eth0");
    assert_eq!(ifaces[1]["sandbox"], c1.path().to_str().unwrap());
    assert_eq!(ifaces[1]["mtu"], 1450);
    let mac1 = ifaces[1]["mac"].as_str().unwrap().to_string();
    assert_eq!(r1["ips"][0]["interface"], 1, "{r1}");
    assert_eq!(r1["ips"][0]["gateway"], "10.1.0.1", "{r1}");
    let addr1 = r1["ips"][0]["address"].as_str().unwrap().to_string();
    let addr2 = r2["ips"][0]["address"].as_str().unwrap().to_string();
    assert!(
        addr1.starts_with("10.1.0.") && addr1.ends_with("/24"),
        "{r1}"
    );
    assert_ne!(addr1, addr2);
    assert!(
        r1["ips"][0].get("version").is_none(),
        "1.x results have no ip version"
    );
    assert_eq!(r1["routes"][0]["dst"], "0.0.0.0/0", "{r1}");
    assert_eq!(r1["dns"]["nameservers"][0], "10.1.0.53", "{r1}");

    // The interface as the result says: MAC, address, MTU, up, DAD off,
    // default route via the IPAM gateway.
    assert_eq!(mac_in(&c1, "eth0"), mac1);
    let mac_bytes: MacAddr = mac1.parse().unwrap();
    assert_eq!(mac_bytes.0[0] & 0x03, 0x02, "derived MAC is local unicast");
    let a = c1.ip(&["-o", "addr", "show", "dev", "eth0"]).unwrap();
    assert!(a.contains(&addr1), "{a}");
    let l = link_json(&c1, "eth0").unwrap();
    assert_eq!(l["mtu"], 1450);
    assert!(
        l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{l}"
    );
    assert_eq!(
        c1.exec("sysctl", ["-n", "net.ipv6.conf.eth0.accept_dad"])
            .unwrap()
            .trim(),
        "0"
    );
    let routes = c1.ip(&["route", "show", "default"]).unwrap();
    assert!(routes.contains("via 10.1.0.1 dev eth0"), "{routes}");

    // The host end is a port of br10 with the dataplane's local port flags.
    let hp = link_json(&w.host, host_end).unwrap();
    assert_eq!(hp["master"], "br10", "{hp}");
    let info = &hp["linkinfo"]["info_slave_data"];
    assert_eq!(info["learning"], true, "{hp}");
    assert_eq!(info["neigh_suppress"], false, "{hp}");
    assert!(
        hp["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{hp}"
    );

    // planed was told: an endpoint on the host end, with MAC and address.
    let adds = endpoint_adds(&w.planed.changes());
    assert_eq!(adds.len(), 2, "{adds:?}");
    assert_eq!(adds[0].vni, 10);
    assert_eq!(adds[0].mac, mac_bytes);
    assert_eq!(adds[0].ips, vec![addr1.parse::<IpCidr>().unwrap()]);
    assert_eq!(
        adds[0].attach,
        Attach::Port {
            ifname: host_end.to_string()
        }
    );

    // The two containers reach each other over br10.
    let ip2 = addr2.split('/').next().unwrap();
    c1.exec("ping", ["-c", "1", "-W", "2", ip2]).unwrap();

    // CHECK with the result as prevResult passes.
    let mut checked = conf.clone();
    checked["prevResult"] = r1.clone();
    w.cni("CHECK", "cont-1", Some(&c1.path()), &checked)
        .expect_ok("CHECK c1");

    // The same container id gives the same MAC again (after DEL), so its
    // EVPN routes keep their key.
    let mut del = conf.clone();
    del["prevResult"] = r1.clone();
    w.cni("DEL", "cont-1", Some(&c1.path()), &del)
        .expect_ok("DEL c1");
    assert!(
        link_json(&w.host, host_end).is_none(),
        "host end left behind"
    );
    assert!(
        link_json(&c1, "eth0").is_none(),
        "container end left behind"
    );
    let changes = w.planed.changes();
    assert!(
        changes.contains(&Request::EndpointDel(EndpointKey {
            vni: 10,
            mac: mac_bytes
        })),
        "{changes:?}"
    );
    assert!(w
        .planed
        .client()
        .endpoint_get(EndpointKey {
            vni: 10,
            mac: mac_bytes
        })
        .unwrap()
        .is_none());
    assert!(!ipam_files(w.dir.path()).contains(&addr1.split('/').next().unwrap().to_string()));

    // A second DEL, and a DEL without prevResult, succeed.
    w.cni("DEL", "cont-1", Some(&c1.path()), &del)
        .expect_ok("second DEL");
    w.cni("DEL", "cont-1", Some(&c1.path()), &conf)
        .expect_ok("DEL without prevResult");
    let r1b = w
        .cni("ADD", "cont-1", Some(&c1.path()), &conf)
        .expect_ok("ADD c1 again");
    assert_eq!(r1b["interfaces"][1]["mac"], mac1.as_str());

    // DEL succeeds when the namespace is already gone (the veth went with it).
    let c2_path = c2.path();
    drop(c2);
    w.cni("DEL", "cont-2", Some(&c2_path), &conf)
        .expect_ok("DEL after netns removal");
    w.cni("DEL", "cont-2", None, &conf)
        .expect_ok("DEL without CNI_NETNS");
    assert!(
        ipam_files(w.dir.path()).len() == 1,
        "{:?}",
        ipam_files(w.dir.path())
    );
}

#[test]
fn check_reports_a_missing_interface_a_wrong_address_and_an_unknown_endpoint() {
    plane_test::require_root!();
    let w = World::new("ck");
    let c = Netns::new("c").unwrap();
    let conf = w.conf(10);
    let r = w.cni("ADD", "chk", Some(&c.path()), &conf).expect_ok("ADD");
    let mut checked = conf.clone();
    checked["prevResult"] = r.clone();
    w.cni("CHECK", "chk", Some(&c.path()), &checked)
        .expect_ok("CHECK");

    // An address the interface does not have.
    let mut wrong = checked.clone();
    wrong["prevResult"]["ips"][0]["address"] = "10.1.0.250/24".into();
    let msg = w
        .cni("CHECK", "chk", Some(&c.path()), &wrong)
        .expect_code(102, "wrong address");
    assert!(msg.contains("10.1.0.250/24"), "{msg}");

    // planed forgot the endpoint.
    let mac: MacAddr = r["interfaces"][1]["mac"].as_str().unwrap().parse().unwrap();
    w.planed
        .client()
        .endpoint_del(EndpointKey { vni: 10, mac })
        .unwrap();
    let msg = w
        .cni("CHECK", "chk", Some(&c.path()), &checked)
        .expect_code(102, "unknown endpoint");
    assert!(msg.contains("planed does not know"), "{msg}");

    // The veth deleted behind plane's back.
    c.ip(&["link", "del", "eth0"]).unwrap();
    let msg = w
        .cni("CHECK", "chk", Some(&c.path()), &checked)
        .expect_code(102, "missing eth0");
    assert!(msg.contains("eth0") && msg.contains("missing"), "{msg}");

    // CHECK without prevResult is a configuration error.
    w.cni("CHECK", "chk", Some(&c.path()), &conf)
        .expect_code(7, "CHECK without prevResult");
    w.cni("DEL", "chk", Some(&c.path()), &checked)
        .expect_ok("DEL");
}

#[test]
fn version_lists_the_supported_versions() {
    plane_test::require_root!();
    let w = World::new("cv");
    let out = w
        .cni_raw("VERSION", "", None, "eth0", br#"{"cniVersion":"1.0.0"}"#)
        .expect_ok("VERSION");
    assert_eq!(out["cniVersion"], "1.0.0");
    let versions: Vec<&str> = out["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(versions, ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
}

#[test]
fn bad_input_and_refusals_give_spec_errors_and_leave_nothing_behind() {
    plane_test::require_root!();
    let w = World::new("ce");
    let c = Netns::new("c").unwrap();
    let conf = w.conf(10);
    let p = c.path();

    w.cni_raw("ADD", "e1", Some(&p), "eth0", b"{\"cniVersion\": ")
        .expect_code(6, "malformed stdin");
    w.cni_raw("ADD", "e1", Some(&p), "eth0", b"")
        .expect_code(6, "empty stdin");
    w.cni("ADD", "e1", None, &conf)
        .expect_code(4, "missing CNI_NETNS");
    w.cni_raw(
        "ADD",
        "e1",
        Some(&p),
        "much-too-long-ifname",
        conf.to_string().as_bytes(),
    )
    .expect_code(4, "bad CNI_IFNAME");
    let mut v = conf.clone();
    v["cniVersion"] = "2.0.0".into();
    w.cni("ADD", "e1", Some(&p), &v)
        .expect_code(1, "unsupported version");
    let mut v = conf.clone();
    v["vin"] = 10.into();
    w.cni("ADD", "e1", Some(&p), &v)
        .expect_code(2, "unknown field");
    let msg = w
        .cni("ADD", "e1", Some(&p), &w.conf(99))
        .expect_code(7, "unknown VNI");
    assert!(msg.contains("VNI 99"), "{msg}");
    w.cni(
        "ADD",
        "e1",
        Some(Path::new("/run/netns/plane-no-such-ns")),
        &conf,
    )
    .expect_code(3, "missing netns");
    let mut v = conf.clone();
    v["socket"] = w.dir.path().join("nobody.sock").to_str().unwrap().into();
    let msg = w
        .cni("ADD", "e1", Some(&p), &v)
        .expect_code(11, "planed not running");
    assert!(msg.contains("is planed running"), "{msg}");
    assert!(link_json(&c, "eth0").is_none(), "a failed ADD left eth0");
    assert!(
        ipam_files(w.dir.path()).is_empty(),
        "a failed ADD kept an address"
    );

    // An address conflict in the VNI: planed refuses, the veth and the
    // address are released again.
    let mut fixed = conf.clone();
    fixed.as_object_mut().unwrap().remove("ipam");
    fixed["addresses"] = json!([{"address": "10.1.0.7/24", "gateway": "10.1.0.1"}]);
    w.cni("ADD", "e1", Some(&p), &fixed).expect_ok("static ADD");
    let c2 = Netns::new("c2").unwrap();
    let msg = w
        .cni("ADD", "e2", Some(&c2.path()), &fixed)
        .expect_code(101, "address conflict");
    assert!(msg.contains("10.1.0.7"), "{msg}");
    assert!(link_json(&c2, "eth0").is_none(), "a refused ADD left eth0");
    let hosts = w
        .host
        .ip(&["-o", "link", "show", "master", "br10"])
        .unwrap();
    assert_eq!(hosts.lines().count(), 1, "{hosts}");

    // STATUS: ready, unknown VNI (50), planed down (51).
    w.cni("STATUS", "", None, &conf).expect_ok("STATUS");
    w.cni("STATUS", "", None, &w.conf(99))
        .expect_code(50, "STATUS unknown VNI");
    w.cni("STATUS", "", None, &v)
        .expect_code(51, "STATUS planed down");
    // DEL while planed is down is retried later by the runtime.
    w.cni("DEL", "e1", Some(&p), &v)
        .expect_code(11, "DEL planed down");
    w.cni("DEL", "e1", Some(&p), &fixed).expect_ok("DEL");
}

#[test]
fn chaining_keeps_prev_result_and_old_versions_get_their_format() {
    plane_test::require_root!();
    let w = World::new("cc");
    let c = Netns::new("c").unwrap();
    let mut conf = w.conf(10);
    conf["cniVersion"] = "0.4.0".into();
    conf["prevResult"] = json!({
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "lo0", "sandbox": c.path()}],
        "ips": [],
    });
    let r = w
        .cni("ADD", "chain", Some(&c.path()), &conf)
        .expect_ok("ADD 0.4.0");
    assert_eq!(r["cniVersion"], "0.4.0");
    assert_eq!(r["interfaces"][0]["name"], "lo0", "{r}");
    assert_eq!(r["interfaces"][2]["name"], "eth0", "{r}");
    assert_eq!(r["ips"][0]["interface"], 2, "{r}");
    assert_eq!(r["ips"][0]["version"], "4", "{r}");
    let mut checked = conf.clone();
    checked["prevResult"] = r;
    w.cni("CHECK", "chain", Some(&c.path()), &checked)
        .expect_ok("CHECK 0.4.0");
    w.cni("DEL", "chain", Some(&c.path()), &checked)
        .expect_ok("DEL");
}

/// An IPAM plugin that speaks 0.3.1 and 0.4.0 only, answers code 1 to
/// anything newer, and hands out 10.1.0.77/24 (a shell script: the test
/// does not depend on which versions the installed reference plugins know).
const OLD_IPAM: &str = r#"#!/bin/sh
input=$(cat)
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.1","0.4.0"]}'; exit 0;;
esac
case "$input" in
*'"cniVersion":"0.4.0"'*) ;;
*) echo '{"cniVersion":"0.4.0","code":1,"msg":"incompatible CNI versions"}'; exit 1;;
esac
echo "$CNI_COMMAND" >> "$(dirname "$0")/calls"
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.77/24","gateway":"10.1.0.1"}]}'
fi
"#;

#[test]
fn ipam_is_delegated_with_a_version_the_delegate_speaks() {
    plane_test::require_root!();
    let w = World::new("cd");
    let c = Netns::new("c").unwrap();
    let bin = w.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("old-ipam");
    std::fs::write(&script, OLD_IPAM).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cni_path = format!("{}:{CNI_PATH}", bin.display());
    for version in ["1.1.0", "1.0.0"] {
        let mut conf = w.conf(10);
        conf["cniVersion"] = version.into();
        conf["ipam"] = json!({"type": "old-ipam"});
        let stdin = conf.to_string();
        let id = format!("old-{version}");
        let r = run_cni_with_path(
            &w.host,
            "ADD",
            &id,
            Some(&c.path()),
            "eth0",
            stdin.as_bytes(),
            &cni_path,
        )
        .expect_ok(&format!("ADD {version} through a 0.4.0 IPAM"));
        assert_eq!(r["cniVersion"], version);
        assert_eq!(r["ips"][0]["address"], "10.1.0.77/24", "{r}");
        run_cni_with_path(
            &w.host,
            "DEL",
            &id,
            Some(&c.path()),
            "eth0",
            stdin.as_bytes(),
            &cni_path,
        )
        .expect_ok("DEL");
    }
    let calls = std::fs::read_to_string(bin.join("calls")).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["ADD", "DEL", "ADD", "DEL"]
    );
}

#[test]
fn gc_removes_only_stale_cni_endpoints() {
    plane_test::require_root!();
    let w = World::new("cg");
    let a = Netns::new("a").unwrap();
    let b = Netns::new("b").unwrap();
    let conf = w.conf(10);
    let ra = w
        .cni("ADD", "keep", Some(&a.path()), &conf)
        .expect_ok("ADD keep");
    let rb = w
        .cni("ADD", "stale", Some(&b.path()), &conf)
        .expect_ok("ADD stale");
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    w.cni("GC", "", None, &gc).expect_ok("GC");
    let left = w.planed.client().show_endpoints(Some(10)).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].port, ra["interfaces"][0]["name"].as_str().unwrap());
    assert!(link_json(&w.host, rb["interfaces"][0]["name"].as_str().unwrap()).is_none());
    assert!(link_json(&a, "eth0").is_some());
}

// ---------------------------------------------------------------------------
// Two hosts with a real planed each (BGP between them over an underlay veth).

/// One host: a namespace, its planed (socket and state file in `dir`).
struct Host {
    ns: Netns,
    socket: PathBuf,
    _planed: plane_test::Child,
}

impl Host {
    fn client(&self) -> Client {
        Client::connect(&self.socket).unwrap()
    }

    /// host-local hands out `first`..`last` of 10.1.0.0/24 on this host, so
    /// that the two hosts never give out the same address.
    fn conf(&self, dir: &Path, first: u8, last: u8) -> Value {
        json!({
            "cniVersion": "1.1.0",
            "name": "plane-test",
            "type": "plane",
            "vni": 10,
            "socket": self.socket,
            "ipam": {
                "type": "host-local",
                "ranges": [[{
                    "subnet": "10.1.0.0/24",
                    "rangeStart": format!("10.1.0.{first}"),
                    "rangeEnd": format!("10.1.0.{last}"),
                }]],
                "dataDir": dir.join(format!("ipam-{}", self.ns.name())),
            },
        })
    }
}

/// Two hosts, 10.0.0.1 and 10.0.0.2 on an underlay veth, iBGP between
/// their planeds, VNI 10 on both; returns once the session is Established.
struct Fabric {
    dir: tempfile::TempDir,
    h1: Host,
    h2: Host,
}

fn start_host(dir: &Path, tag: &str, me: u8, peer: u8) -> (Netns, PathBuf, PathBuf) {
    let ns = Netns::new(tag).unwrap();
    let config = dir.join(format!("{tag}.toml"));
    let socket = dir.join(format!("{tag}.sock"));
    std::fs::write(
        &config,
        format!(
            r#"
[bgp]
asn = 65000
router_id = "10.0.0.{me}"
listen = "10.0.0.{me}:179"
connect_retry = 1

[[bgp.neighbor]]
address = "10.0.0.{peer}"
remote_asn = 65000

[underlay]
local_ip = "10.0.0.{me}"

[[vni]]
id = 10

[control]
socket = "{}"
"#,
            socket.display()
        ),
    )
    .unwrap();
    (ns, config, socket)
}

impl Fabric {
    fn new(tag: &str) -> Fabric {
        let dir = tempfile::tempdir().unwrap();
        let (n1, cfg1, s1) = start_host(dir.path(), &format!("{tag}a"), 1, 2);
        let (n2, cfg2, s2) = start_host(dir.path(), &format!("{tag}b"), 2, 1);
        plane_test::veth(&n1, "u1", &n2, "u2").unwrap();
        n1.ip(&["addr", "add", "10.0.0.1/24", "dev", "u1"]).unwrap();
        n1.ip(&["link", "set", "u1", "up"]).unwrap();
        n2.ip(&["addr", "add", "10.0.0.2/24", "dev", "u2"]).unwrap();
        n2.ip(&["link", "set", "u2", "up"]).unwrap();
        // The underlay is not under test: pin its neighbours, so that a
        // full neighbour table (it is shared by all namespaces, see
        // `pin_neighbour`) cannot keep BGP from coming up.
        n1.ip(&[
            "neigh",
            "replace",
            "10.0.0.2",
            "lladdr",
            &mac_in(&n2, "u2"),
            "dev",
            "u1",
            "nud",
            "permanent",
        ])
        .unwrap();
        n2.ip(&[
            "neigh",
            "replace",
            "10.0.0.1",
            "lladdr",
            &mac_in(&n1, "u1"),
            "dev",
            "u2",
            "nud",
            "permanent",
        ])
        .unwrap();
        let spawn = |ns: &Netns, cfg: &Path, tag: &str| {
            let mut cmd = ns.command(env!("CARGO_BIN_EXE_planed"));
            cmd.arg("--config")
                .arg(cfg)
                .arg("--state-file")
                .arg(dir.path().join(format!("{tag}.state.json")))
                .env("PLANE_LOG", "warn")
                .stdin(Stdio::null());
            plane_test::Child::spawn(cmd, &format!("planed {tag}")).unwrap()
        };
        let p1 = spawn(&n1, &cfg1, "h1");
        let p2 = spawn(&n2, &cfg2, "h2");
        let h1 = Host {
            ns: n1,
            socket: s1,
            _planed: p1,
        };
        let h2 = Host {
            ns: n2,
            socket: s2,
            _planed: p2,
        };
        for h in [&h1, &h2] {
            let mut last = String::new();
            let up = poll_until("BGP session Established", Duration::from_secs(30), || {
                let n = Client::connect(&h.socket).and_then(|mut c| c.show_neighbors());
                last = format!("{n:?}");
                let n = n.ok()?;
                (!n.is_empty() && n.iter().all(|n| n.state == SessionState::Established))
                    .then_some(())
            });
            if let Err(e) = up {
                panic!(
                    "{e}: neighbours of {}: {last}; underlay ping: {:?}",
                    h.ns.name(),
                    h1.ns.exec("ping", ["-c1", "-W1", "10.0.0.2"]),
                );
            }
        }
        for h in [&h1, &h2] {
            poll_until("planed to make br10", Duration::from_secs(10), || {
                link_json(&h.ns, "br10").map(|_| ())
            })
            .unwrap();
        }
        Fabric { dir, h1, h2 }
    }
}

/// The kernel's IPv4 neighbour table counts entries of all namespaces
/// against one `gc_thresh3`; entries that cannot be collected (other test
/// runs with thousands of `noarp`/`extern_learn` entries) make every new
/// ARP entry fail with ENOBUFS machine-wide. Only then the container gets
/// a permanent entry for its peer (exempt from the limit), and the test says
/// so: the data path (FDB to the remote VTEP) is still what is tested; ARP
/// suppression has its own tests in the dataplane.
fn pin_neighbour(c: &Netns, ip: IpAddr, mac: MacAddr) {
    let stat = std::fs::read_to_string("/proc/net/stat/arp_cache").unwrap_or_default();
    let entries = stat
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    let limit: u64 = std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    if entries >= limit {
        eprintln!(
            "NOTE: the shared neighbour table holds {entries} entries (gc_thresh3 {limit}): \
             pinning {ip} -> {mac} in {}",
            c.name()
        );
        c.ip(&[
            "neigh",
            "replace",
            &ip.to_string(),
            "lladdr",
            &mac.to_string(),
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])
        .unwrap();
    }
}

fn pings(from: &Netns, to: IpAddr) -> bool {
    from.exec("ping", ["-c", "1", "-W", "1", &to.to_string()])
        .is_ok()
}

fn addr_of(result: &Value) -> IpAddr {
    let a = result["ips"][0]["address"].as_str().unwrap();
    a.split('/').next().unwrap().parse().unwrap()
}

fn mac_of(result: &Value) -> MacAddr {
    result["interfaces"][1]["mac"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Type-2 routes for `mac` in `host`'s RIB that came from the other host.
fn remote_routes(host: &Host, mac: MacAddr) -> usize {
    host.client()
        .show_routes(RouteFilter {
            vni: Some(10),
            route_type: Some(2),
            mac: Some(mac),
        })
        .map(|r| r.iter().filter(|r| r.source != RouteSource::Local).count())
        .unwrap_or(0)
}

#[test]
fn two_hosts_containers_ping_each_other_and_del_withdraws() {
    plane_test::require_root!();
    let f = Fabric::new("ce");
    let c1 = Netns::new("c1").unwrap();
    let c2 = Netns::new("c2").unwrap();
    let conf1 = f.h1.conf(f.dir.path(), 10, 19);
    let conf2 = f.h2.conf(f.dir.path(), 20, 29);

    let r1 = run_cni(
        &f.h1.ns,
        "ADD",
        "e2e-1",
        Some(&c1.path()),
        "eth0",
        conf1.to_string().as_bytes(),
    )
    .expect_ok("ADD c1 on h1");
    let r2 = run_cni(
        &f.h2.ns,
        "ADD",
        "e2e-2",
        Some(&c2.path()),
        "eth0",
        conf2.to_string().as_bytes(),
    )
    .expect_ok("ADD c2 on h2");
    let (a1, a2) = (addr_of(&r1), addr_of(&r2));
    pin_neighbour(&c1, a2, mac_of(&r2));
    pin_neighbour(&c2, a1, mac_of(&r1));

    // planed advertised each container; the other host learnt it.
    poll_until("h1 to learn c2", Duration::from_secs(10), || {
        (remote_routes(&f.h1, mac_of(&r2)) > 0).then_some(())
    })
    .unwrap();
    poll_until(
        "c1 to reach c2 through planed",
        Duration::from_secs(20),
        || pings(&c1, a2).then_some(()),
    )
    .unwrap();
    assert!(pings(&c2, a1), "c2 cannot reach c1");

    // CHECK against the real planed.
    let mut checked = conf2.clone();
    checked["prevResult"] = r2.clone();
    run_cni(
        &f.h2.ns,
        "CHECK",
        "e2e-2",
        Some(&c2.path()),
        "eth0",
        checked.to_string().as_bytes(),
    )
    .expect_ok("CHECK c2");

    // DEL withdraws the routes on the remote host, kernel state included.
    run_cni(
        &f.h2.ns,
        "DEL",
        "e2e-2",
        Some(&c2.path()),
        "eth0",
        checked.to_string().as_bytes(),
    )
    .expect_ok("DEL c2");
    poll_until("h1 to withdraw c2", Duration::from_secs(10), || {
        (remote_routes(&f.h1, mac_of(&r2)) == 0).then_some(())
    })
    .unwrap();
    let mac2 = mac_of(&r2).to_string();
    poll_until(
        "c2's FDB entry to leave h1's kernel",
        Duration::from_secs(10),
        || {
            let fdb =
                f.h1.ns
                    .exec("bridge", ["fdb", "show", "dev", "vxlan10"])
                    .ok()?;
            (!fdb.contains(&mac2)).then_some(())
        },
    )
    .unwrap();
    run_cni(
        &f.h2.ns,
        "DEL",
        "e2e-2",
        Some(&c2.path()),
        "eth0",
        checked.to_string().as_bytes(),
    )
    .expect_ok("second DEL c2");

    // CHECK with a real planed that no longer knows the endpoint.
    let msg = run_cni(
        &f.h2.ns,
        "CHECK",
        "e2e-2",
        Some(&c2.path()),
        "eth0",
        checked.to_string().as_bytes(),
    )
    .expect_code(102, "CHECK after DEL");
    assert!(msg.contains("missing"), "{msg}");

    // An unknown VNI and an address conflict, as the real planed reports them.
    let mut v99 = conf1.clone();
    v99["vni"] = 99.into();
    run_cni(
        &f.h1.ns,
        "ADD",
        "e2e-3",
        Some(&c2.path()),
        "eth0",
        v99.to_string().as_bytes(),
    )
    .expect_code(7, "unknown VNI");
    let mut taken = conf1.clone();
    taken.as_object_mut().unwrap().remove("ipam");
    taken["addresses"] = json!([{"address": format!("{a1}/24")}]);
    run_cni(
        &f.h1.ns,
        "ADD",
        "e2e-3",
        Some(&c2.path()),
        "eth0",
        taken.to_string().as_bytes(),
    )
    .expect_code(101, "address conflict");
    assert!(link_json(&c2, "eth0").is_none(), "a refused ADD left eth0");
}

#[test]
fn two_hosts_planectl_endpoint_add_netns() {
    plane_test::require_root!();
    let f = Fabric::new("cp");
    let c1 = Netns::new("c1").unwrap();
    let c3 = Netns::new("c3").unwrap();
    let conf1 = f.h1.conf(f.dir.path(), 10, 19);
    let r1 = run_cni(
        &f.h1.ns,
        "ADD",
        "ctl-1",
        Some(&c1.path()),
        "eth0",
        conf1.to_string().as_bytes(),
    )
    .expect_ok("ADD c1 on h1");

    // docker run --network none, then planectl endpoint add --netns.
    let planectl = |args: &[&str]| {
        let mut a = vec!["--socket", f.h2.socket.to_str().unwrap()];
        a.extend_from_slice(args);
        f.h2.ns.exec(env!("CARGO_BIN_EXE_planectl"), a)
    };
    let mac3 = "02:00:00:00:03:03";
    planectl(&[
        "endpoint",
        "add",
        "--vni",
        "10",
        "--mac",
        mac3,
        "--ip",
        "10.1.0.33/24",
        "--netns",
        c3.path().to_str().unwrap(),
        "--ifname",
        "eth0",
    ])
    .unwrap();
    assert_eq!(mac_in(&c3, "eth0"), mac3);
    let a1 = addr_of(&r1);
    pin_neighbour(&c3, a1, mac_of(&r1));
    pin_neighbour(&c1, "10.1.0.33".parse().unwrap(), mac3.parse().unwrap());
    poll_until("c3 to reach c1", Duration::from_secs(20), || {
        pings(&c3, a1).then_some(())
    })
    .unwrap();
    planectl(&["endpoint", "del", "--vni", "10", "--mac", mac3]).unwrap();
    poll_until("h1 to withdraw c3", Duration::from_secs(10), || {
        (remote_routes(&f.h1, mac3.parse().unwrap()) == 0).then_some(())
    })
    .unwrap();
    assert!(
        link_json(&c3, "eth0").is_none(),
        "endpoint del left the veth"
    );

    // Without --mac, the MAC is derived from VNI, namespace and ifname.
    let ns3 = c3.path().to_str().unwrap().to_string();
    let out = planectl(&[
        "--json",
        "endpoint",
        "add",
        "--vni",
        "10",
        "--ip",
        "10.1.0.34/24",
        "--netns",
        &ns3,
    ])
    .unwrap();
    let eps: Value = serde_json::from_str(&out).unwrap();
    let derived = plane::endpoint::stable_mac(10, &format!("{ns3}/eth0")).to_string();
    assert_eq!(eps[0]["mac"], derived.as_str(), "{out}");
    assert_eq!(mac_in(&c3, "eth0"), derived);
    pin_neighbour(&c3, a1, mac_of(&r1));
    pin_neighbour(&c1, "10.1.0.34".parse().unwrap(), derived.parse().unwrap());
    poll_until(
        "c3 (derived MAC) to reach c1",
        Duration::from_secs(20),
        || pings(&c3, a1).then_some(()),
    )
    .unwrap();
    planectl(&["endpoint", "del", "--vni", "10", "--mac", &derived]).unwrap();
}

// ---------------------------------------------------------------------------
// The plumbing library on its own (what planed uses for `--netns`).

#[test]
fn endpoint_plumbing_by_pid_routes_and_idempotent_delete() {
    plane_test::require_root!();
    let c = Netns::new("lp").unwrap();
    // A process inside the namespace: the PID form, /proc/PID/ns/net.
    let mut sleeper = c.command("sleep");
    sleeper.arg("600");
    let sleeper = plane_test::Child::spawn(sleeper, "sleep in the container").unwrap();
    let ns_file = poll_until(
        "sleep to enter the namespace",
        Duration::from_secs(5),
        || {
            let p = PathBuf::from(format!("/proc/{}/ns/net", sleeper.pid()));
            let target = std::fs::read_link(&p).ok()?;
            let want = std::fs::read_link("/proc/self/ns/net").ok()?;
            (target != want).then_some(p)
        },
    )
    .unwrap();

    // The "host" is a namespace of the test too: the library is called from
    // a thread that entered it (threads it starts inherit the namespace).
    let h = Netns::new("lh").unwrap();
    h.ip(&["link", "add", "br10", "type", "bridge"]).unwrap();
    h.ip(&["link", "set", "br10", "up"]).unwrap();
    let host_ns = std::fs::File::open(h.path()).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&host_ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        plumbing_checks(&ns_file, &c, sleeper);
    })
    .join()
    .unwrap();
    let port = h.ip(&["-o", "link", "show", "master", "br10"]).unwrap();
    assert!(port.trim().is_empty(), "veth left on the host: {port}");
}

fn plumbing_checks(ns_file: &Path, c: &Netns, sleeper: plane_test::Child) {
    use plane::endpoint::{self, EndpointError, RouteSpec, VethSpec};
    let ns_file = ns_file.to_path_buf();
    let host = endpoint::host_ifname("lib-test");
    let mac: MacAddr = "02:11:22:33:44:55".parse().unwrap();
    let spec = VethSpec {
        netns: ns_file.clone(),
        ifname: "eth7".into(),
        host_ifname: host.clone(),
        mac,
        mtu: Some(1400),
        addresses: vec![
            "10.9.0.5/24".parse().unwrap(),
            "fd09::5/64".parse().unwrap(),
        ],
        routes: vec![
            RouteSpec {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: Some("10.9.0.1".parse().unwrap()),
            },
            RouteSpec {
                dst: "10.77.1.9/16".parse().unwrap(),
                gw: None,
            },
        ],
        bridge: Some("br10".into()),
    };
    let veth = endpoint::create(&spec).unwrap();
    assert_eq!(veth.mtu, 1400);

    let inside = endpoint::inspect(&ns_file, "eth7").unwrap().unwrap();
    assert_eq!(inside.mac, Some(mac));
    assert_eq!(inside.mtu, Some(1400));
    assert_eq!(inside.kind.as_deref(), Some("veth"));
    assert!(inside.up);
    for a in &spec.addresses {
        assert!(
            inside.addresses.contains(a),
            "{a} missing: {:?}",
            inside.addresses
        );
    }
    let routes = c.ip(&["route", "show"]).unwrap();
    assert!(routes.contains("default via 10.9.0.1 dev eth7"), "{routes}");
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("10.77.0.0/16 dev eth7") && l.contains("scope link")),
        "{routes}"
    );
    let port = endpoint::inspect_host(&host).unwrap().unwrap();
    assert!(
        port.up && port.bridge.as_deref() == Some("br10"),
        "{port:?}"
    );

    // The name is taken inside: refused, and nothing is left on the host.
    let other = VethSpec {
        host_ifname: endpoint::host_ifname("lib-test-other"),
        ..spec.clone()
    };
    assert!(matches!(
        endpoint::create(&other),
        Err(EndpointError::IfnameTaken { .. })
    ));
    assert!(endpoint::inspect_host(&other.host_ifname)
        .unwrap()
        .is_none());
    // A bridge that does not exist.
    let nobridge = VethSpec {
        ifname: "eth8".into(),
        bridge: Some("plnobr0".into()),
        ..other
    };
    assert!(matches!(
        endpoint::create(&nobridge),
        Err(EndpointError::NoBridge(_))
    ));

    // Delete, then delete again, then with the namespace gone.
    endpoint::delete(&host, Some(&ns_file), "eth7").unwrap();
    assert!(endpoint::inspect(&ns_file, "eth7").unwrap().is_none());
    assert!(endpoint::inspect_host(&host).unwrap().is_none());
    endpoint::delete(&host, Some(&ns_file), "eth7").unwrap();
    // The PID's namespace is gone once the process is: still success.
    drop(sleeper);
    poll_until("the sleeper to be reaped", Duration::from_secs(5), || {
        (!ns_file.exists()).then_some(())
    })
    .unwrap();
    endpoint::delete(&host, Some(&ns_file), "eth7").unwrap();
    assert!(matches!(
        endpoint::inspect(&ns_file, "eth7"),
        Err(EndpointError::NetnsGone { .. })
    ));
    let _ = c;
}
