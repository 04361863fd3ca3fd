//! plane-cni tests: the plugin binary run exactly as a container runtime
//! runs it (CNI_* variables, network configuration on stdin, result or error
//! JSON on stdout), inside a "host" network namespace the test creates,
//! against a container namespace the test creates, with the reference
//! host-local IPAM plugin from /usr/lib/cni (its dataDir in a tempdir).
//!
//! planed is played by a fake control server (the generic server of
//! `plane::control` with an owner task as handler) that keeps an endpoint
//! table, refuses an address already held in the VNI, and reports every
//! change request to the test. The two-host tests with a real planed are in
//! `cni_e2e` below them (they need the daemon).

use plane::config::{BumMode, IpCidr, RtMatch};
use plane::control::*;
use plane_bgp::wire::{MacAddr, RouteDistinguisher, RouteTarget};
use plane_test::Netns;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
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
    let mut cmd = host.command(env!("CARGO_BIN_EXE_plane-cni"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container_id)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", CNI_PATH)
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
