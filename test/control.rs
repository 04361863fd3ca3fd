//! Control socket tests: a server with a fake daemon (an owner task behind a
//! [`ChannelHandler`]) on a socket in a tempdir; the library client and
//! planectl (run as a process) against it; malformed, oversize and unknown
//! requests; authorization of changes; socket file life cycle.

use plane::config::{BumMode, IpCidr, RtMatch};
use plane::control::*;
use plane_bgp::wire::{MacAddr, RouteDistinguisher, RouteTarget};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn rt(asn: u16, value: u32) -> RouteTarget {
    RouteTarget::As2 { asn, value }
}

fn rd1(n: u16) -> RouteDistinguisher {
    RouteDistinguisher::Ipv4 {
        addr: Ipv4Addr::new(10, 0, 0, 1),
        number: n,
    }
}

/// The routes the fake daemon holds.
fn fake_routes() -> Vec<Route> {
    vec![
        Route {
            rd: rd1(1),
            vni: 10,
            nexthop: ip("10.0.0.1"),
            source: RouteSource::Local,
            best: true,
            route_targets: vec![rt(65000, 10)],
            encap: Some(8),
            pmsi: None,
            kind: RouteKind::MacIp {
                mac: mac("02:00:00:00:00:01"),
                ip: Some(ip("10.1.0.2")),
                seq: 0,
            },
        },
        Route {
            rd: RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 2),
                number: 1,
            },
            vni: 10,
            nexthop: ip("10.0.0.2"),
            source: RouteSource::Peer(ip("10.0.0.2")),
            best: true,
            route_targets: vec![rt(65000, 10)],
            encap: None,
            pmsi: None,
            kind: RouteKind::MacIp {
                mac: mac("02:00:00:00:00:02"),
                ip: None,
                seq: 3,
            },
        },
        Route {
            rd: RouteDistinguisher::As2 {
                asn: 65000,
                number: 20,
            },
            vni: 20,
            nexthop: ip("fd00::2"),
            source: RouteSource::Peer(ip("fd00::2")),
            best: false,
            route_targets: vec![rt(65000, 20)],
            encap: Some(12),
            pmsi: Some(Pmsi {
                tunnel_type: 6,
                label: 20,
                endpoint: Some(ip("fd00::2")),
            }),
            kind: RouteKind::Imet {
                originator: ip("fd00::2"),
            },
        },
    ]
}

fn fake_neighbors() -> Vec<Neighbor> {
    vec![
        Neighbor {
            address: ip("10.0.0.2"),
            remote_asn: 65000,
            state: SessionState::Established,
            received: 2,
            sent: 1,
            end_of_rib: true,
            uptime_secs: Some(3725),
            last_error: None,
            description: Some("host b".into()),
        },
        Neighbor {
            address: ip("fd00::3"),
            remote_asn: 65003,
            state: SessionState::Active,
            received: 0,
            sent: 0,
            end_of_rib: false,
            uptime_secs: None,
            last_error: Some("connection refused".into()),
            description: None,
        },
    ]
}

fn fake_vnis() -> Vec<VniInfo> {
    vec![VniInfo {
        vni: 10,
        bridge: "br10".into(),
        vxlan: "vxlan10".into(),
        rd: rd1(1),
        import_rt: vec![RtMatch::Exact(rt(65000, 10)), RtMatch::AnyAsn(10)],
        export_rt: vec![rt(65000, 10)],
        bum: BumMode::Suppress,
        local_macs: 1,
        remote_macs: 1,
        remote_vteps: vec![ip("10.0.0.2")],
    }]
}

fn fake_fdb() -> Vec<FdbVni> {
    vec![FdbVni {
        vni: 10,
        vxlan: "vxlan10".into(),
        remote_macs: vec![FdbMac {
            mac: mac("02:00:00:00:00:02"),
            vtep: ip("10.0.0.2"),
        }],
        neighbors: vec![FdbNeighbor {
            ip: ip("10.1.0.3"),
            mac: mac("02:00:00:00:00:03"),
        }],
        flood: vec![],
    }]
}

fn fake_summary() -> Summary {
    Summary {
        version: "0.1.0".into(),
        asn: 65000,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        local_vtep: ip("10.0.0.1"),
        uptime_secs: 90061,
        neighbors: 2,
        neighbors_established: 1,
        vnis: 1,
        endpoints: 1,
        routes: 3,
    }
}

/// The fake daemon: one owner task answering from fixed data and an
/// endpoint table of its own.
async fn fake_daemon(mut calls: tokio::sync::mpsc::Receiver<ControlCall>) {
    let mut endpoints: BTreeMap<(u32, MacAddr), Endpoint> = BTreeMap::new();
    while let Some(call) = calls.recv().await {
        let answer = match call.request {
            Request::ShowRoutes(f) => Ok(Response::Routes(
                fake_routes().into_iter().filter(|r| f.matches(r)).collect(),
            )),
            Request::ShowNeighbors => Ok(Response::Neighbors(fake_neighbors())),
            Request::ShowVnis => Ok(Response::Vnis(fake_vnis())),
            Request::ShowEndpoints(f) => Ok(Response::Endpoints(
                endpoints
                    .values()
                    .filter(|e| f.vni.is_none_or(|v| v == e.vni))
                    .cloned()
                    .collect(),
            )),
            Request::ShowFdb(_) => Ok(Response::Fdb(fake_fdb())),
            Request::ShowSummary => Ok(Response::Summary(fake_summary())),
            Request::EndpointAdd(spec) if spec.vni != 10 => Err(ControlError::not_found(format!(
                "VNI {} is not configured",
                spec.vni
            ))),
            Request::EndpointAdd(spec) => {
                let port = match &spec.attach {
                    Attach::Port { ifname } => ifname.clone(),
                    Attach::Netns { .. } => "pl-0001".to_string(),
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
            Request::EndpointDel(k) => {
                endpoints.remove(&(k.vni, k.mac));
                Ok(Response::Done)
            }
            Request::EndpointGet(k) => endpoints
                .get(&(k.vni, k.mac))
                .cloned()
                .map(Response::Endpoint)
                .ok_or_else(|| {
                    ControlError::not_found(format!("no endpoint {} on VNI {}", k.mac, k.vni))
                }),
        };
        let _ = call.reply.send(answer);
    }
}

/// A server on a socket in a tempdir, served on its own runtime; shut down
/// (and the socket removal checked) on drop.
struct TestServer {
    dir: tempfile::TempDir,
    path: PathBuf,
    runtime: tokio::runtime::Runtime,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    fn start() -> TestServer {
        TestServer::start_with(
            |o| o,
            |rt| {
                let (handler, calls) = channel(16);
                rt.spawn(fake_daemon(calls));
                Arc::new(handler)
            },
        )
    }

    fn start_with<H: ControlHandler>(
        configure: impl FnOnce(ServerOptions) -> ServerOptions,
        handler: impl FnOnce(&tokio::runtime::Runtime) -> Arc<H>,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        // Other uids (the permission test) must reach the socket.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let path = dir.path().join("run/planed.sock");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handler = handler(&runtime);
        let opts = configure(ServerOptions::new(&path));
        let server = runtime
            .block_on(async { ControlServer::bind(opts) })
            .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let served = runtime.spawn(server.serve(handler, async {
            let _ = rx.await;
        }));
        TestServer {
            dir,
            path,
            runtime,
            shutdown: Some(tx),
            served: Some(served),
        }
    }

    fn client(&self) -> Client {
        Client::connect(&self.path).unwrap()
    }

    /// Sends raw bytes on a fresh connection and reads one reply line.
    fn raw(&self, bytes: &[u8]) -> (Value, BufReader<UnixStream>) {
        let mut s = UnixStream::connect(&self.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // A refused connection (busy) may be closed before the request is
        // written: the reply is still there to read, so EPIPE is no failure.
        let _ = s.write_all(bytes);
        let mut r = BufReader::new(s);
        let v = read_json_line(&mut r);
        (v, r)
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.served.take() {
            self.runtime.block_on(h).unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        let _ = &self.dir;
    }
}

fn read_json_line(r: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?} is not JSON: {e}"))
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error reply expected, got {v}"))
}

fn planectl(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_planectl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("PLANE_SOCKET")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs planectl with `--json` and parses its output: one top-level array.
fn planectl_json(socket: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = planectl(socket, &all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "planectl {args:?}: {}",
        stderr(&o)
    );
    match serde_json::from_str::<Value>(&stdout(&o)) {
        Ok(Value::Array(items)) => {
            assert!(items.iter().all(Value::is_object), "{items:?}");
            items
        }
        other => panic!("planectl {args:?} --json: one JSON array expected, got {other:?}"),
    }
}

#[test]
fn every_request_round_trips_through_the_client() {
    let server = TestServer::start();
    let mut c = server.client();
    assert_eq!(
        c.show_routes(RouteFilter::default()).unwrap(),
        fake_routes()
    );
    assert_eq!(c.show_neighbors().unwrap(), fake_neighbors());
    assert_eq!(c.show_vnis().unwrap(), fake_vnis());
    assert_eq!(c.show_fdb(Some(10)).unwrap(), fake_fdb());
    assert_eq!(c.show_summary().unwrap(), fake_summary());
    assert_eq!(c.show_endpoints(None).unwrap(), vec![]);

    let spec = EndpointSpec {
        vni: 10,
        mac: mac("02:00:00:00:00:0a"),
        ips: vec![
            "10.1.0.10/24".parse().unwrap(),
            "fd01::a/64".parse().unwrap(),
        ],
        attach: Attach::Netns {
            netns: "1234".into(),
            ifname: "eth0".into(),
        },
    };
    let ep = c.endpoint_add(spec.clone()).unwrap();
    assert_eq!(
        (ep.port.as_str(), &ep.ips, &ep.attach),
        ("pl-0001", &spec.ips, &spec.attach)
    );
    assert_eq!(
        spec.attach.netns_path(),
        Some(PathBuf::from("/proc/1234/ns/net"))
    );
    assert_eq!(c.endpoint_get(spec.key()).unwrap(), Some(ep.clone()));
    assert_eq!(c.show_endpoints(Some(10)).unwrap(), vec![ep]);
    assert_eq!(c.show_endpoints(Some(11)).unwrap(), vec![]);
    c.endpoint_del(spec.key()).unwrap();
    assert_eq!(c.endpoint_get(spec.key()).unwrap(), None);
    // Deleting what is gone is success.
    c.endpoint_del(spec.key()).unwrap();

    // A handler error reaches the client typed.
    let err = c
        .endpoint_add(EndpointSpec { vni: 99, ..spec })
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    assert_eq!(err.to_string(), "planed: VNI 99 is not configured");
}

#[test]
fn route_filters_reach_the_handler() {
    let server = TestServer::start();
    let mut c = server.client();
    let mut only = |f: RouteFilter| {
        c.show_routes(f)
            .unwrap()
            .iter()
            .map(|r| (r.vni, r.route_type()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        only(RouteFilter {
            vni: Some(20),
            ..Default::default()
        }),
        [(20, 3)]
    );
    assert_eq!(
        only(RouteFilter {
            route_type: Some(2),
            ..Default::default()
        }),
        [(10, 2), (10, 2)]
    );
    assert_eq!(
        only(RouteFilter {
            mac: Some(mac("02:00:00:00:00:02")),
            ..Default::default()
        }),
        [(10, 2)]
    );
}

#[test]
fn wire_format_is_ndjson_with_an_end_marker() {
    let server = TestServer::start();
    let (first, mut r) =
        server.raw(b"{\"request\":\"show_neighbors\"}\n{\"request\":\"show_summary\"}\n");
    assert_eq!(first["item"]["address"], "10.0.0.2");
    assert_eq!(read_json_line(&mut r)["item"]["address"], "fd00::3");
    assert_eq!(
        read_json_line(&mut r),
        serde_json::json!({"end": {"count": 2}})
    );
    // The second request on the same connection.
    assert_eq!(read_json_line(&mut r)["item"]["asn"], 65000);
    assert_eq!(
        read_json_line(&mut r),
        serde_json::json!({"end": {"count": 1}})
    );
}

#[test]
fn garbage_and_unknown_requests_get_typed_errors_and_the_connection_lives_on() {
    let server = TestServer::start();
    let (v, mut r) = server.raw(b"this is not json\n");
    assert_eq!(error_code(&v), "bad_request");
    // Same connection: an unknown verb, a missing field, then a good request.
    r.get_mut()
        .write_all(b"{\"request\":\"reboot\"}\n")
        .unwrap();
    let v = read_json_line(&mut r);
    assert_eq!(error_code(&v), "bad_request");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant `reboot`"),
        "{v}"
    );
    r.get_mut()
        .write_all(b"{\"request\":\"endpoint_del\",\"vni\":10}\n")
        .unwrap();
    let v = read_json_line(&mut r);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `mac`"),
        "{v}"
    );
    r.get_mut()
        .write_all(b"{\"request\":\"show_routes\",\"vni\":10,\"colour\":1}\n")
        .unwrap();
    let v = read_json_line(&mut r);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{v}"
    );
    r.get_mut()
        .write_all(b"\n{\"request\":\"show_vnis\"}\n")
        .unwrap();
    assert_eq!(read_json_line(&mut r)["item"]["vni"], 10);
}

#[test]
fn random_bytes_never_cost_more_than_an_error_line() {
    let server = TestServer::start();
    let mut s = UnixStream::connect(&server.path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    // xorshift: deterministic, so a failure replays.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300 {
        let len = usize::try_from(next() % 200).unwrap();
        let mut line: Vec<u8> = (0..len)
            .map(|_| next().to_le_bytes()[0])
            .filter(|&b| b != b'\n')
            .collect();
        // Every third line is JSON-ish, to get past the first byte.
        if i % 3 == 0 {
            line.splice(0..0, b"{\"request\":".iter().copied());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        line.push(b'\n');
        s.write_all(&line).unwrap();
        let v = read_json_line(&mut r);
        assert_eq!(error_code(&v), "bad_request", "line {i}: {line:?}");
    }
    s.write_all(b"{\"request\":\"show_summary\"}\n").unwrap();
    assert_eq!(read_json_line(&mut r)["item"]["asn"], 65000);
}

#[test]
fn oversize_request_is_refused_and_the_server_keeps_serving() {
    let server = TestServer::start();
    let mut big = vec![b'x'; MAX_REQUEST_BYTES + 10];
    big.push(b'\n');
    let mut s = UnixStream::connect(&server.path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may close before reading everything: ignore EPIPE.
    let _ = s.write_all(&big);
    let mut r = BufReader::new(s);
    let v = read_json_line(&mut r);
    assert_eq!(error_code(&v), "request_too_large");
    let mut rest = String::new();
    assert_eq!(
        r.read_line(&mut rest).unwrap(),
        0,
        "connection closed after an oversize request"
    );
    assert_eq!(server.client().show_summary().unwrap(), fake_summary());
}

#[test]
fn endpoint_arguments_are_checked_before_the_handler_sees_them() {
    let server = TestServer::start();
    let cases = [
        (
            r#"{"request":"endpoint_add","vni":16777216,"mac":"02:00:00:00:00:01","ips":[],"attach":{"kind":"port","ifname":"p"}}"#,
            "vni: 24-bit VNI expected, got 16777216",
        ),
        (
            r#"{"request":"endpoint_add","vni":10,"mac":"01:00:5e:00:00:01","ips":[],"attach":{"kind":"port","ifname":"p"}}"#,
            "mac: \"01:00:5e:00:00:01\" is a multicast MAC",
        ),
        (
            r#"{"request":"endpoint_add","vni":10,"mac":"02:00:00:00:00:01","ips":[],"attach":{"kind":"port","ifname":"a/b"}}"#,
            "attach.ifname: \"a/b\" is not a valid interface name",
        ),
        (
            r#"{"request":"endpoint_add","vni":10,"mac":"02:00:00:00:00:01","ips":[],"attach":{"kind":"netns","netns":"c1","ifname":"eth0"}}"#,
            "attach.netns: an absolute path or a PID expected",
        ),
        (
            r#"{"request":"endpoint_add","vni":10,"mac":"02:00:00:00:00:01","ips":["10.1.0.2/24","10.1.0.2/16"],"attach":{"kind":"port","ifname":"p"}}"#,
            "ips: 10.1.0.2 given twice",
        ),
        (
            r#"{"request":"endpoint_del","vni":0,"mac":"02:00:00:00:00:01"}"#,
            "vni: 24-bit VNI expected, got 0",
        ),
    ];
    for (request, why) in cases {
        let (v, _) = server.raw(format!("{request}\n").as_bytes());
        assert_eq!(error_code(&v), "invalid_argument", "{request}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(why),
            "{request}: {message:?} should start with {why:?}"
        );
    }
    // A prefix length too long for the family is refused while decoding.
    let (v, _) = server.raw(b"{\"request\":\"endpoint_add\",\"vni\":10,\"mac\":\"02:00:00:00:00:01\",\"ips\":[\"10.1.0.2/33\"],\"attach\":{\"kind\":\"port\",\"ifname\":\"p\"}}\n");
    assert_eq!(error_code(&v), "bad_request", "{v}");
    assert_eq!(server.client().show_endpoints(None).unwrap(), vec![]);
}

/// A handler that answers every request with the wrong kind of response.
struct Confused;

impl ControlHandler for Confused {
    async fn handle(&self, _: Request, _: Caller) -> Result<Response, ControlError> {
        Ok(Response::Done)
    }
}

#[test]
fn a_wrong_response_kind_becomes_an_internal_error() {
    let server = TestServer::start_with(|o| o, |_| Arc::new(Confused));
    let err = server
        .client()
        .show_routes(RouteFilter::default())
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Internal));
    assert!(err.to_string().contains("show_routes"), "{err}");
}

#[test]
fn connections_beyond_the_limit_are_told_to_retry() {
    let server = TestServer::start_with(
        |mut o| {
            o.max_connections = 1;
            o
        },
        |rt| {
            let (h, calls) = channel(4);
            rt.spawn(fake_daemon(calls));
            Arc::new(h)
        },
    );
    let mut held = server.client();
    assert_eq!(held.show_summary().unwrap(), fake_summary());
    let (v, _) = server.raw(b"{\"request\":\"show_summary\"}\n");
    assert_eq!(error_code(&v), "unavailable");
    drop(held);
    // The slot frees when the first connection ends.
    plane_test::poll_until(
        "the connection slot to free",
        Duration::from_secs(10),
        || {
            Client::connect(&server.path)
                .ok()
                .and_then(|mut c| c.show_summary().ok())
        },
    )
    .unwrap();
}

#[test]
fn idle_connections_are_closed() {
    let server = TestServer::start_with(
        |mut o| {
            o.idle_timeout = Duration::from_millis(100);
            o
        },
        |rt| {
            let (h, calls) = channel(4);
            rt.spawn(fake_daemon(calls));
            Arc::new(h)
        },
    );
    let s = UnixStream::connect(&server.path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let mut line = String::new();
    // EOF, not the 10 s read timeout: the server closed the idle connection.
    assert_eq!(BufReader::new(s).read_line(&mut line).unwrap(), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn socket_file_life_cycle() {
    let mut server = TestServer::start();
    let path = server.path.clone();
    // A live socket is never replaced.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(async { ControlServer::bind(ServerOptions::new(&path)) })
        .unwrap_err();
    assert!(matches!(err, ServerError::InUse(_)), "{err}");
    assert!(
        err.to_string().contains("another planed is listening"),
        "{err}"
    );
    // Shutdown removes the socket file.
    server.stop();
    assert!(!path.exists(), "socket removed on shutdown");

    // A stale socket (nobody listening) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);
    assert!(path.exists());
    let bound = rt
        .block_on(async { ControlServer::bind(ServerOptions::new(&path)) })
        .unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o666);
    let dir_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions(),
    );
    assert_eq!(dir_mode & 0o777, 0o755, "socket directory created 0755");
    // Dropping an unserved server removes its socket too.
    drop(bound);
    assert!(!path.exists());

    // Something that is not a socket is never deleted.
    std::fs::write(&path, b"precious").unwrap();
    let err = rt
        .block_on(async { ControlServer::bind(ServerOptions::new(&path)) })
        .unwrap_err();
    assert!(matches!(err, ServerError::NotASocket(_)), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn unknown_control_group_is_an_error() {
    let err = AccessPolicy::from_group_name(Some("no-such-group-plane-test")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "[control] group \"no-such-group-plane-test\" does not exist"
    );
    assert_eq!(
        AccessPolicy::from_group_name(None).unwrap(),
        AccessPolicy::default()
    );
}

#[test]
fn planectl_json_has_the_design_fields() {
    let server = TestServer::start();
    let routes = planectl_json(&server.path, &["show", "routes"]);
    assert_eq!(routes.len(), 3);
    let r = &routes[0];
    assert_eq!(
        (r["type"].as_u64(), r["rd"].as_str(), r["vni"].as_u64()),
        (Some(2), Some("10.0.0.1:1"), Some(10))
    );
    assert_eq!(
        (
            r["nexthop"].as_str(),
            r["source"].as_str(),
            r["best"].as_bool()
        ),
        (Some("10.0.0.1"), Some("local"), Some(true))
    );
    assert_eq!(
        (r["mac"].as_str(), r["ip"].as_str(), r["seq"].as_u64()),
        (Some("02:00:00:00:00:01"), Some("10.1.0.2"), Some(0))
    );
    assert!(r.get("originator").is_none());
    assert_eq!(r["encap"], "vxlan");
    assert!(r.get("pmsi").is_some_and(Value::is_null), "pmsi: null: {r}");
    let mac_only = &routes[1];
    assert!(
        mac_only.get("encap").is_some_and(Value::is_null),
        "encap: null: {mac_only}"
    );
    assert!(
        mac_only.get("ip").is_some_and(Value::is_null),
        "MAC-only route has ip: null: {mac_only}"
    );
    assert_eq!(
        (mac_only["source"].as_str(), mac_only["seq"].as_u64()),
        (Some("10.0.0.2"), Some(3))
    );
    let imet = &routes[2];
    assert_eq!(
        (imet["type"].as_u64(), imet["rd"].as_str()),
        (Some(3), Some("65000:20"))
    );
    assert_eq!(
        (imet["originator"].as_str(), imet["nexthop"].as_str()),
        (Some("fd00::2"), Some("fd00::2"))
    );
    assert!(imet.get("mac").is_none() && imet.get("ip").is_none());
    assert_eq!(imet["route_targets"], serde_json::json!(["65000:20"]));
    assert_eq!(imet["encap"], "12", "other tunnel types as numbers: {imet}");
    assert_eq!(
        imet["pmsi"],
        serde_json::json!({"tunnel_type": 6, "label": 20, "endpoint": "fd00::2"})
    );

    let filtered = planectl_json(
        &server.path,
        &[
            "show",
            "routes",
            "--vni",
            "10",
            "--type",
            "2",
            "--mac",
            "02:00:00:00:00:02",
        ],
    );
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["mac"], "02:00:00:00:00:02");

    let n = planectl_json(&server.path, &["show", "neighbors"]);
    assert_eq!(
        (n[0]["address"].as_str(), n[0]["remote_asn"].as_u64()),
        (Some("10.0.0.2"), Some(65000))
    );
    assert_eq!(
        (
            n[0]["state"].as_str(),
            n[0]["received"].as_u64(),
            n[0]["sent"].as_u64()
        ),
        (Some("Established"), Some(2), Some(1))
    );
    assert_eq!(n[1]["state"], "Active");
    assert_eq!(
        (n[0]["end_of_rib"].as_bool(), n[1]["end_of_rib"].as_bool()),
        (Some(true), Some(false)),
        "end_of_rib is always present, a bool"
    );

    let v = planectl_json(&server.path, &["show", "vnis"]);
    assert_eq!(v[0]["import_rt"], serde_json::json!(["65000:10", "*:10"]));
    assert_eq!(
        (v[0]["rd"].as_str(), v[0]["bum"].as_str()),
        (Some("10.0.0.1:1"), Some("suppress"))
    );

    let f = planectl_json(&server.path, &["show", "fdb", "--vni", "10"]);
    assert_eq!(
        f[0]["remote_macs"],
        serde_json::json!([{"mac": "02:00:00:00:00:02", "vtep": "10.0.0.2"}])
    );
    assert_eq!(
        f[0]["neighbors"],
        serde_json::json!([{"ip": "10.1.0.3", "mac": "02:00:00:00:00:03"}])
    );

    let s = planectl_json(&server.path, &["show", "summary"]);
    assert_eq!((s.len(), s[0]["router_id"].as_str()), (1, Some("10.0.0.1")));
    assert_eq!(
        planectl_json(&server.path, &["show", "endpoints"]),
        Vec::<Value>::new()
    );
}

#[test]
fn planectl_tables_for_people() {
    let server = TestServer::start();
    let o = planectl(&server.path, &["show", "routes"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .eq(["VNI", "RD", "NETWORK", "NEXTHOP", "SEQ", "ENCAP", "PMSI", "SOURCE", "RT"]),
        "{out}"
    );
    assert!(
        lines[1].split_whitespace().eq([
            "*>",
            "10",
            "10.0.0.1:1",
            "[2]:[02:00:00:00:00:01]:[10.1.0.2]",
            "10.0.0.1",
            "0",
            "vxlan",
            "-",
            "local",
            "65000:10"
        ]),
        "{out}"
    );
    assert!(lines[2].contains("[2]:[02:00:00:00:00:02] "), "{out}");
    assert!(
        lines[3].starts_with("*  ")
            && lines[3].contains("[3]:[fd00::2]")
            && lines[3].contains(" 12 ")
            && lines[3].contains(" IR fd00::2 "),
        "{out}"
    );
    assert!(out.contains("Displayed 3 route(s), 2 best"), "{out}");

    let out = stdout(&planectl(&server.path, &["show", "neighbors"]));
    assert!(
        out.lines().nth(1).unwrap().split_whitespace().eq([
            "10.0.0.2",
            "65000",
            "Established",
            "01:02:05",
            "2",
            "1",
            "yes",
            "host",
            "b",
            "-"
        ]),
        "{out}"
    );
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("  SENT  EOR  DESCRIPTION  "),
        "{out}"
    );
    // Not Established: End-of-RIB is not applicable, not "no".
    assert!(
        out.lines().nth(2).unwrap().split_whitespace().eq([
            "fd00::3",
            "65003",
            "Active",
            "-",
            "0",
            "0",
            "-",
            "-",
            "connection",
            "refused"
        ]),
        "{out}"
    );
    let out = stdout(&planectl(&server.path, &["show", "summary"]));
    assert!(
        out.contains("up 1d01h01m") && out.contains("Neighbors: 2 configured, 1 established"),
        "{out}"
    );
    let out = stdout(&planectl(&server.path, &["show", "fdb"]));
    assert!(
        out.contains("remote") && out.contains("neigh") && out.contains("10.1.0.3"),
        "{out}"
    );
    let out = stdout(&planectl(&server.path, &["show", "vnis"]));
    assert!(
        out.contains("65000:10,*:10") && out.contains("suppress"),
        "{out}"
    );
}

#[test]
fn planectl_endpoint_add_get_del() {
    let server = TestServer::start();
    let o = planectl(
        &server.path,
        &[
            "--json",
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:0b",
            "--ip",
            "10.1.0.11/24,fd01::b/64",
            "--netns",
            "/var/run/netns/c1",
            "--ifname",
            "eth1",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ep: Vec<Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        ep[0]["ips"],
        serde_json::json!(["10.1.0.11/24", "fd01::b/64"])
    );
    assert_eq!(
        ep[0]["attach"],
        serde_json::json!({"kind": "netns", "netns": "/var/run/netns/c1", "ifname": "eth1"})
    );

    let o = planectl(
        &server.path,
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:0c",
            "--port",
            "veth-c2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("port veth-c2"), "{}", stdout(&o));

    let eps = planectl_json(&server.path, &["show", "endpoints", "--vni", "10"]);
    assert_eq!(eps.len(), 2);
    let o = planectl(
        &server.path,
        &[
            "endpoint",
            "get",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:0c",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let o = planectl(
        &server.path,
        &[
            "endpoint",
            "del",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:0c",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = planectl(
        &server.path,
        &[
            "endpoint",
            "get",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:0c",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no endpoint 02:00:00:00:00:0c on VNI 10"),
        "{}",
        stderr(&o)
    );

    // The daemon's refusal: exit 1 with its message.
    let o = planectl(
        &server.path,
        &[
            "endpoint",
            "add",
            "--vni",
            "99",
            "--mac",
            "02:00:00:00:00:0d",
            "--port",
            "p",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "planectl: planed: VNI 99 is not configured\n");
}

#[test]
fn planectl_usage_errors_exit_2() {
    let server = TestServer::start();
    let cases: &[&[&str]] = &[
        &["bogus"],
        &["show"],
        &["show", "routes", "--vni", "16777216"],
        &["show", "routes", "--type", "4"],
        &["show", "routes", "--mac", "02:00:00:00:00"],
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:01",
        ],
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:01",
            "--port",
            "a",
            "--netns",
            "1",
        ],
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:01",
            "--port",
            "a",
            "--ifname",
            "eth0",
        ],
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "01:00:5e:00:00:01",
            "--port",
            "a",
        ],
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:01",
            "--ip",
            "10.1.0.2",
            "--port",
            "a",
        ],
        &["endpoint", "del", "--vni", "10"],
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:01",
            "--port",
            "way-too-long-ifname",
        ],
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:01",
            "--netns",
            "1",
            "--ifname",
            "a b",
        ],
    ];
    for args in cases {
        let o = planectl(&server.path, args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "planectl {args:?}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).is_empty());
    }
    // Nothing reached the daemon.
    assert_eq!(server.client().show_endpoints(None).unwrap(), vec![]);
    let o = planectl(&server.path, &["--help"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn planectl_without_daemon_exits_3_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planed.sock");
    let o = planectl(&path, &["show", "summary"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr(&o),
        format!(
            "planectl: cannot connect to {}: No such file or directory (is planed running?)\n",
            path.display()
        )
    );
    // PLANE_SOCKET is honoured when --socket is absent.
    let o = Command::new(env!("CARGO_BIN_EXE_planectl"))
        .args(["show", "summary"])
        .env("PLANE_SOCKET", &path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains(&path.display().to_string()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_caller_neither_root_nor_in_the_group_may_only_read() {
    plane_test::require_root!();
    let server = TestServer::start();
    let nobody = |args: &[&str]| {
        use std::os::unix::process::CommandExt;
        Command::new(env!("CARGO_BIN_EXE_planectl"))
            .arg("--socket")
            .arg(&server.path)
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let o = nobody(&["--json", "show", "routes"]);
    assert_eq!(o.status.code(), Some(0), "reads are open: {}", stderr(&o));
    let o = nobody(&[
        "endpoint",
        "add",
        "--vni",
        "10",
        "--mac",
        "02:00:00:00:00:0e",
        "--port",
        "p",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("permission denied: uid 65534"),
        "{}",
        stderr(&o)
    );
    let o = nobody(&[
        "endpoint",
        "del",
        "--vni",
        "10",
        "--mac",
        "02:00:00:00:00:0e",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Root (this process) may.
    let o = planectl(
        &server.path,
        &[
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:0e",
            "--port",
            "p",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_member_of_the_control_group_may_change() {
    plane_test::require_root!();
    // nogroup (65534) stands for the configured group; nobody's primary gid.
    let Ok(policy) = AccessPolicy::from_group_name(Some("nogroup")) else {
        eprintln!("SKIPPED: no group nogroup here");
        return;
    };
    let server = TestServer::start_with(
        move |mut o| {
            o.access = policy;
            o
        },
        |rt| {
            let (h, calls) = channel(4);
            rt.spawn(fake_daemon(calls));
            Arc::new(h)
        },
    );
    use std::os::unix::process::CommandExt;
    let o = Command::new(env!("CARGO_BIN_EXE_planectl"))
        .arg("--socket")
        .arg(&server.path)
        .args([
            "endpoint",
            "add",
            "--vni",
            "10",
            "--mac",
            "02:00:00:00:00:0f",
            "--port",
            "p",
        ])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let sock_gid = std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(&server.path).unwrap());
    assert_eq!(sock_gid, 65534, "socket owned by the control group");
}

#[test]
fn dto_json_rejects_inconsistent_routes() {
    let bad = serde_json::json!({"type": 3, "rd": "1:1", "vni": 1, "nexthop": "10.0.0.1", "source": "local", "best": true, "mac": "02:00:00:00:00:01"});
    assert!(serde_json::from_value::<Route>(bad).is_err());
    let bad = serde_json::json!({"type": 2, "rd": "1:1", "vni": 1, "nexthop": "10.0.0.1", "source": "nowhere", "best": true, "mac": "02:00:00:00:00:01", "ip": null, "seq": 0});
    assert!(serde_json::from_value::<Route>(bad)
        .unwrap_err()
        .to_string()
        .contains("\"local\" or a peer address"));
    let cidr: IpCidr = serde_json::from_value(serde_json::json!("10.0.0.1/8")).unwrap();
    assert_eq!(cidr.prefix_len, 8);
}

#[test]
fn config_values_become_dtos_and_server_options() {
    let text = "[bgp]\nasn = 65000\nrouter_id = \"10.0.0.1\"\n[[bgp.neighbor]]\naddress = \"10.0.0.2\"\nremote_asn = 65001\ndescription = \"b\"\n[underlay]\nlocal_ip = \"10.0.0.1\"\n[[vni]]\nid = 10\nimport_rt = [\"auto\", \"*:10\"]\n[control]\nsocket = \"/tmp/x.sock\"\n";
    let config = plane::config::Config::parse(text, "plane.toml").unwrap();
    let v = serde_json::to_value(VniInfo::configured(&config.vnis[0])).unwrap();
    assert_eq!(v["rd"], "10.0.0.1:1");
    assert_eq!(v["import_rt"], serde_json::json!(["65000:10", "*:10"]));
    assert_eq!(v["export_rt"], serde_json::json!(["65000:10"]));
    let n = Neighbor::configured(&config.neighbors[0]);
    assert_eq!(
        (n.state, n.remote_asn, n.description.as_deref()),
        (SessionState::Idle, 65001, Some("b"))
    );
    let opts = ServerOptions::from_config(&config.control).unwrap();
    assert_eq!(
        (opts.socket.to_str(), &opts.access),
        (Some("/tmp/x.sock"), &AccessPolicy::default())
    );
    let mut control = config.control.clone();
    control.group = Some("no-such-group-plane-test".into());
    assert!(matches!(
        ServerOptions::from_config(&control),
        Err(ServerError::UnknownGroup(_))
    ));
}

#[test]
fn route_json_encap_and_pmsi_parse_back() {
    let imet = |encap: Value| {
        serde_json::json!({
            "type": 3, "rd": "10.0.0.2:1", "vni": 100, "nexthop": "10.0.0.2",
            "source": "10.0.0.2", "best": true, "originator": "10.0.0.2",
            "route_targets": ["65000:100"], "encap": encap,
            "pmsi": {"tunnel_type": 6, "label": 100, "endpoint": "10.0.0.2"}
        })
    };
    let r: Route = serde_json::from_value(imet("vxlan".into())).unwrap();
    assert_eq!(r.encap, Some(8));
    assert_eq!(
        r.pmsi,
        Some(Pmsi {
            tunnel_type: 6,
            label: 100,
            endpoint: Some(ip("10.0.0.2")),
        })
    );
    assert_eq!(serde_json::to_value(&r).unwrap(), imet("vxlan".into()));
    let r: Route = serde_json::from_value(imet("13".into())).unwrap();
    assert_eq!(r.encap, Some(13));
    let err = serde_json::from_value::<Route>(imet("gre".into())).unwrap_err();
    assert!(err.to_string().contains("encap"), "{err}");
    // A reply without the fields (an older planed) still parses.
    let mut old = imet(Value::Null);
    let obj = old.as_object_mut().unwrap();
    obj.remove("encap");
    obj.remove("pmsi");
    let r: Route = serde_json::from_value(old).unwrap();
    assert_eq!((r.encap, r.pmsi), (None, None));
}

#[test]
fn neighbor_json_end_of_rib_round_trips_and_defaults_for_an_older_planed() {
    let json = serde_json::json!({
        "address": "10.0.0.2", "remote_asn": 65000, "state": "Established",
        "received": 2, "sent": 1, "end_of_rib": true
    });
    let n: Neighbor = serde_json::from_value(json.clone()).unwrap();
    assert!(n.end_of_rib);
    assert_eq!(serde_json::to_value(&n).unwrap(), json);
    // A reply without the field (a planed that predates it) still parses.
    let mut old = json;
    old.as_object_mut().unwrap().remove("end_of_rib");
    let n: Neighbor = serde_json::from_value(old).unwrap();
    assert!(!n.end_of_rib);
}
