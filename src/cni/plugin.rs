//! The CNI verbs of `plane-cni`: ADD, DEL, CHECK, STATUS, GC and VERSION.
//!
//! ADD: the VNI is looked up in planed (which names its bridge), addresses
//! come from the delegated IPAM plugin (or the static `addresses`), the veth
//! is made with [`crate::endpoint::create`], and the endpoint is registered
//! with planed as an [`Attach::Port`] on the host end, which makes planed
//! advertise it (EVPN type-2 MAC/IP). Any failure after IPAM releases the
//! addresses and removes the veth again, so a failed ADD leaves nothing.
//!
//! DEL withdraws the endpoint from planed, deletes the veth and releases
//! the addresses; every step succeeds when its object is already gone.
//!
//! The MAC and the host-side name are derived from the VNI, the container
//! id and the interface name, so DEL and CHECK find them without state
//! (DEL prefers the MAC of `prevResult` when the runtime passes it).
//!
//! What it never does: leave a half-made attachment after a failed ADD, or
//! fail DEL because the container, its namespace or its veth is gone.

use super::ipam::Delegate;
use super::spec::{
    CniError, CniResult, Code, Interface, IpConfig, NetConf, CNI_VERSION, SUPPORTED_VERSIONS,
};
use crate::config::IpCidr;
use crate::control::{
    default_socket_path, Attach, Client, ClientError, EndpointKey, EndpointSpec, ErrorCode, VniInfo,
};
use crate::endpoint::{self, EndpointError, RouteSpec, VethSpec};
use plane_bgp::wire::MacAddr;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The `CNI_*` environment of one invocation.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub command: Option<String>,
    pub container_id: Option<String>,
    pub netns: Option<String>,
    pub ifname: Option<String>,
    /// `CNI_ARGS`: `K=V;K=V` (plane reads `MAC`).
    pub args: Option<String>,
    pub path: Option<String>,
}

impl Env {
    /// From the process environment.
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            command: get("CNI_COMMAND"),
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS"),
            ifname: get("CNI_IFNAME"),
            args: get("CNI_ARGS"),
            path: get("CNI_PATH"),
        }
    }

    fn require<'a>(&self, value: &'a Option<String>, name: &str) -> Result<&'a str, CniError> {
        value.as_deref().ok_or_else(|| {
            CniError::new(
                Code::InvalidEnv,
                format!(
                    "{name} is not set ({} needs it)",
                    self.command.as_deref().unwrap_or("?")
                ),
            )
        })
    }

    fn ifname(&self) -> Result<&str, CniError> {
        let name = self.require(&self.ifname, "CNI_IFNAME")?;
        endpoint::check_ifname(name)
            .map_err(|e| CniError::new(Code::InvalidEnv, format!("CNI_IFNAME: {e}")))?;
        Ok(name)
    }

    fn cni_arg(&self, key: &str) -> Option<&str> {
        self.args.as_deref()?.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then_some(v)
        })
    }
}

/// What the binary prints on stdout and whether it exits 0.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub stdout: String,
    pub success: bool,
}

/// Runs one invocation.
pub fn run(env: &Env, stdin: &[u8]) -> Outcome {
    let command = env.command.as_deref().unwrap_or("");
    if command == "VERSION" {
        return Outcome {
            stdout: version_answer(stdin).to_string(),
            success: true,
        };
    }
    let conf = match NetConf::parse(stdin) {
        Ok(c) => c,
        Err(e) => return failure(&e, CNI_VERSION),
    };
    let version = conf.cni_version.clone();
    let result = match command {
        "ADD" => add(env, &conf).map(Some),
        "DEL" => del(env, &conf).map(|()| None),
        "CHECK" => check(env, &conf).map(|()| None),
        "STATUS" => status(&conf).map(|()| None),
        "GC" => gc(env, &conf).map(|()| None),
        "" => Err(CniError::new(Code::InvalidEnv, "CNI_COMMAND is not set")),
        other => Err(CniError::new(
            Code::InvalidEnv,
            format!("CNI_COMMAND {other:?}: ADD, DEL, CHECK, STATUS, GC or VERSION expected"),
        )),
    };
    match result {
        Ok(Some(v)) => Outcome {
            stdout: v.to_string(),
            success: true,
        },
        Ok(None) => Outcome {
            stdout: String::new(),
            success: true,
        },
        Err(e) => failure(&e, &version),
    }
}

fn failure(e: &CniError, version: &str) -> Outcome {
    tracing::error!(code = e.code.number(), msg = %e.msg, details = %e.details, "plane-cni failed");
    Outcome {
        stdout: e.to_json(version).to_string(),
        success: false,
    }
}

fn version_answer(stdin: &[u8]) -> Value {
    let asked = serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| CNI_VERSION.to_string());
    json!({ "cniVersion": asked, "supportedVersions": SUPPORTED_VERSIONS })
}

/// Seed of the derived MAC and host-side name of one attachment.
fn seed(container_id: &str, ifname: &str) -> String {
    format!("{container_id}/{ifname}")
}

fn socket(conf: &NetConf) -> PathBuf {
    conf.socket.clone().unwrap_or_else(default_socket_path)
}

fn connect(conf: &NetConf) -> Result<Client, CniError> {
    Client::connect(socket(conf)).map_err(client_error)
}

/// planed's errors in CNI terms: unreachable is transient (11), a refused
/// endpoint is plane's code 101.
fn client_error(e: ClientError) -> CniError {
    let text = e.to_string();
    match &e {
        ClientError::Connect { .. } | ClientError::Io { .. } => {
            CniError::new(Code::TryAgainLater, text)
        }
        ClientError::Protocol(_) => CniError::new(Code::Io, text),
        ClientError::Daemon(d) => match d.code {
            ErrorCode::AlreadyExists | ErrorCode::InvalidArgument => {
                CniError::new(Code::Refused, text)
            }
            ErrorCode::NotFound => CniError::new(Code::InvalidConfig, text),
            ErrorCode::Unavailable => CniError::new(Code::TryAgainLater, text),
            _ => CniError::new(Code::Io, text),
        },
    }
}

/// The VNI as planed serves it; unknown is [`Code::InvalidConfig`].
fn vni_info(client: &mut Client, conf: &NetConf) -> Result<VniInfo, CniError> {
    let vnis = client.show_vnis().map_err(client_error)?;
    vnis.into_iter().find(|v| v.vni == conf.vni).ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            format!(
                "VNI {} of network {:?} is not configured in planed ({})",
                conf.vni,
                conf.name,
                socket(conf).display()
            ),
        )
    })
}

/// runtimeConfig.mac, else CNI_ARGS MAC, else the configuration's, else
/// derived from VNI, container id and interface name.
fn choose_mac(
    env: &Env,
    conf: &NetConf,
    container_id: &str,
    ifname: &str,
) -> Result<MacAddr, CniError> {
    let given = conf
        .runtime_config
        .mac
        .as_deref()
        .map(|m| ("runtimeConfig.mac", m))
        .or_else(|| env.cni_arg("MAC").map(|m| ("CNI_ARGS MAC", m)))
        .or_else(|| conf.mac.as_deref().map(|m| ("mac", m)));
    match given {
        Some((what, text)) => crate::config::values::parse_unicast_mac(text)
            .map_err(|e| CniError::new(Code::InvalidConfig, format!("{what}: {e}"))),
        None => Ok(endpoint::stable_mac(conf.vni, &seed(container_id, ifname))),
    }
}

fn delegate(env: &Env, conf: &NetConf) -> Result<Option<Delegate>, CniError> {
    if conf.ipam.is_none() {
        return Ok(None);
    }
    let path = env.require(&env.path, "CNI_PATH")?;
    Delegate::find(conf, path)
}

/// Addresses and routes when there is no IPAM: `addresses` + `routes`, or
/// the `ips` capability.
fn static_result(conf: &NetConf) -> Result<CniResult, CniError> {
    let mut ips: Vec<IpConfig> = conf
        .addresses
        .iter()
        .map(|a| IpConfig {
            address: a.address,
            gateway: a.gateway,
            interface: None,
        })
        .collect();
    for text in &conf.runtime_config.ips {
        let address: IpCidr = text
            .parse()
            .map_err(|e| CniError::new(Code::InvalidConfig, format!("runtimeConfig.ips: {e}")))?;
        ips.push(IpConfig {
            address,
            gateway: None,
            interface: None,
        });
    }
    Ok(CniResult {
        ips,
        routes: conf.routes.clone(),
        ..CniResult::default()
    })
}

fn plumbing_error(e: EndpointError) -> CniError {
    match e {
        EndpointError::NetnsGone { .. } => CniError::new(Code::UnknownContainer, e.to_string()),
        EndpointError::NoBridge(_) => CniError::new(Code::TryAgainLater, e.to_string()),
        EndpointError::IfnameTaken { .. } => CniError::new(Code::InvalidConfig, e.to_string()),
        other => CniError::new(Code::Plumbing, other.to_string()),
    }
}

/// Routes for the kernel: a route without `gw` goes via the gateway of the
/// first address of its family (SPEC: "a default gateway is assumed"), or
/// on the link when there is none.
fn kernel_routes(result: &CniResult) -> Vec<RouteSpec> {
    result
        .routes
        .iter()
        .map(|r| RouteSpec {
            dst: r.dst,
            gw: r.gw.or_else(|| {
                result
                    .ips
                    .iter()
                    .filter(|ip| ip.address.addr.is_ipv4() == r.dst.addr.is_ipv4())
                    .find_map(|ip| ip.gateway)
            }),
        })
        .collect()
}

fn add(env: &Env, conf: &NetConf) -> Result<Value, CniError> {
    let container_id = env.require(&env.container_id, "CNI_CONTAINERID")?;
    let netns = env.require(&env.netns, "CNI_NETNS")?;
    let ifname = env.ifname()?;
    let netns_path = Path::new(netns);
    if !netns_path.exists() {
        return Err(CniError::new(
            Code::UnknownContainer,
            format!("CNI_NETNS {netns}: no such network namespace"),
        ));
    }
    let mut client = connect(conf)?;
    let vni = vni_info(&mut client, conf)?;
    let mac = choose_mac(env, conf, container_id, ifname)?;
    let delegate = delegate(env, conf)?;
    let mut addressing = match &delegate {
        Some(d) => d.exec("ADD", conf)?.unwrap_or_default(),
        None => static_result(conf)?,
    };
    let host_ifname = endpoint::host_ifname(&seed(container_id, ifname));
    let attached = attach(
        &mut client,
        conf,
        &vni,
        &addressing,
        mac,
        netns_path,
        ifname,
        &host_ifname,
    );
    let mtu = match attached {
        Ok(mtu) => mtu,
        Err(e) => {
            if let Some(d) = &delegate {
                if let Err(undo) = d.exec("DEL", conf) {
                    tracing::warn!(error = %undo, "cannot release the IPAM addresses of a failed ADD");
                }
            }
            return Err(e);
        }
    };

    let mut result = conf.prev_result.clone().unwrap_or_default();
    result.interfaces.push(Interface {
        name: host_ifname,
        ..Interface::default()
    });
    let index = result.interfaces.len();
    result.interfaces.push(Interface {
        name: ifname.to_string(),
        mac: mac.to_string(),
        mtu: Some(mtu),
        sandbox: netns.to_string(),
        ..Interface::default()
    });
    for ip in &mut addressing.ips {
        ip.interface = Some(index);
    }
    result.ips.append(&mut addressing.ips);
    result.routes.append(&mut addressing.routes);
    let mut dns = conf.dns.clone();
    dns.merge(&addressing.dns);
    dns.merge(&result.dns);
    result.dns = dns;
    Ok(result.to_json(&conf.cni_version))
}

/// Makes the veth and registers the endpoint; undoes the veth when planed
/// refuses. Returns the MTU of the pair.
#[allow(clippy::too_many_arguments)]
fn attach(
    client: &mut Client,
    conf: &NetConf,
    vni: &VniInfo,
    addressing: &CniResult,
    mac: MacAddr,
    netns: &Path,
    ifname: &str,
    host_ifname: &str,
) -> Result<u32, CniError> {
    let spec = VethSpec {
        netns: netns.to_path_buf(),
        ifname: ifname.to_string(),
        host_ifname: host_ifname.to_string(),
        mac,
        mtu: conf.mtu,
        addresses: addressing.ips.iter().map(|ip| ip.address).collect(),
        routes: kernel_routes(addressing),
        bridge: Some(vni.bridge.clone()),
    };
    let veth = endpoint::create(&spec).map_err(plumbing_error)?;
    let registered = client.endpoint_add(EndpointSpec {
        vni: conf.vni,
        mac,
        ips: spec.addresses.clone(),
        attach: Attach::Port {
            ifname: host_ifname.to_string(),
        },
    });
    match registered {
        Ok(_) => Ok(veth.mtu),
        Err(e) => {
            if let Err(undo) = endpoint::delete(host_ifname, Some(netns), ifname) {
                tracing::warn!(error = %undo, "cannot remove the veth of a refused endpoint");
            }
            Err(client_error(e))
        }
    }
}

/// The MAC the attachment got: from `prevResult` when the runtime passes
/// it, else as ADD chose it.
fn attached_mac(
    env: &Env,
    conf: &NetConf,
    container_id: &str,
    ifname: &str,
) -> Result<MacAddr, CniError> {
    let from_prev = conf.prev_result.as_ref().and_then(|r| {
        r.interfaces
            .iter()
            .find(|i| i.name == ifname && !i.sandbox.is_empty() && !i.mac.is_empty())
            .and_then(|i| crate::config::values::parse_unicast_mac(&i.mac).ok())
    });
    match from_prev {
        Some(m) => Ok(m),
        None => choose_mac(env, conf, container_id, ifname),
    }
}

fn del(env: &Env, conf: &NetConf) -> Result<(), CniError> {
    let container_id = env.require(&env.container_id, "CNI_CONTAINERID")?;
    let ifname = env.ifname()?;
    let mac = attached_mac(env, conf, container_id, ifname)?;
    let mut client = connect(conf)?;
    match client.endpoint_del(EndpointKey { vni: conf.vni, mac }) {
        Ok(()) => {}
        Err(ClientError::Daemon(d)) if d.code == ErrorCode::NotFound => {}
        Err(e) => return Err(client_error(e)),
    }
    let host_ifname = endpoint::host_ifname(&seed(container_id, ifname));
    let netns = env.netns.as_deref().map(Path::new);
    endpoint::delete(&host_ifname, netns, ifname).map_err(plumbing_error)?;
    if let Some(d) = delegate(env, conf)? {
        d.exec("DEL", conf)?;
    }
    Ok(())
}

fn check_failed(msg: String) -> CniError {
    CniError::new(Code::CheckFailed, msg)
}

fn check(env: &Env, conf: &NetConf) -> Result<(), CniError> {
    if super::spec::version_key(&conf.cni_version) < Some((0, 4, 0)) {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!(
                "CHECK needs cniVersion 0.4.0 or later, got {}",
                conf.cni_version
            ),
        ));
    }
    let container_id = env.require(&env.container_id, "CNI_CONTAINERID")?;
    let netns = env.require(&env.netns, "CNI_NETNS")?;
    let ifname = env.ifname()?;
    let prev = conf.prev_result.as_ref().ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            "CHECK needs prevResult in the network configuration",
        )
    })?;
    let mac = attached_mac(env, conf, container_id, ifname)?;

    let iface = match endpoint::inspect(Path::new(netns), ifname) {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Err(check_failed(format!(
                "interface {ifname} is missing in {netns}"
            )))
        }
        Err(EndpointError::NetnsGone { .. }) => {
            return Err(CniError::new(
                Code::UnknownContainer,
                format!("CNI_NETNS {netns}: no such network namespace"),
            ))
        }
        Err(e) => return Err(plumbing_error(e)),
    };
    if iface.mac != Some(mac) {
        return Err(check_failed(format!(
            "interface {ifname} in {netns} has MAC {}, {mac} expected",
            iface
                .mac
                .map(|m| m.to_string())
                .unwrap_or_else(|| "none".into())
        )));
    }
    if !iface.up {
        return Err(check_failed(format!(
            "interface {ifname} in {netns} is down"
        )));
    }
    let ours = prev
        .interfaces
        .iter()
        .position(|i| i.name == ifname && i.sandbox == netns);
    let expected: Vec<IpCidr> = prev
        .ips
        .iter()
        .filter(|ip| ip.interface.is_none() || ip.interface == ours)
        .map(|ip| ip.address)
        .collect();
    for a in &expected {
        if !iface.addresses.contains(a) {
            return Err(check_failed(format!(
                "address {a} is missing on {ifname} in {netns}"
            )));
        }
    }

    let mut client = connect(conf)?;
    let vni = vni_info(&mut client, conf)?;
    let host_ifname = endpoint::host_ifname(&seed(container_id, ifname));
    match endpoint::inspect_host(&host_ifname).map_err(plumbing_error)? {
        None => {
            return Err(check_failed(format!(
                "host end {host_ifname} of {ifname} is missing"
            )))
        }
        Some(p) if p.bridge.as_deref() != Some(vni.bridge.as_str()) => {
            return Err(check_failed(format!(
                "host end {host_ifname} is on bridge {}, {} expected",
                p.bridge.as_deref().unwrap_or("none"),
                vni.bridge
            )))
        }
        Some(_) => {}
    }
    let key = EndpointKey { vni: conf.vni, mac };
    let known = client
        .endpoint_get(key)
        .map_err(client_error)?
        .ok_or_else(|| {
            check_failed(format!(
                "planed does not know endpoint {mac} in VNI {}",
                conf.vni
            ))
        })?;
    let mut have = known.ips.clone();
    let mut want = expected;
    have.sort();
    want.sort();
    if have != want {
        return Err(check_failed(format!(
            "planed holds addresses [{}] for {mac} in VNI {}, [{}] expected",
            join(&have),
            conf.vni,
            join(&want)
        )));
    }
    if let Some(d) = delegate(env, conf)? {
        d.exec("CHECK", conf)?;
    }
    Ok(())
}

fn join(v: &[IpCidr]) -> String {
    v.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// STATUS (SPEC 1.1): ready when planed answers and serves the VNI.
/// planed unreachable is 51: its BGP sessions are gone, so existing
/// containers lose their remote routes; an unknown VNI is 50.
fn status(conf: &NetConf) -> Result<(), CniError> {
    let mut client = Client::connect(socket(conf))
        .map_err(|e| CniError::new(Code::NotAvailableDegraded, e.to_string()))?;
    let vnis = client
        .show_vnis()
        .map_err(|e| CniError::new(Code::NotAvailableDegraded, e.to_string()))?;
    if vnis.iter().any(|v| v.vni == conf.vni) {
        Ok(())
    } else {
        Err(CniError::new(
            Code::NotAvailable,
            format!("VNI {} is not configured in planed", conf.vni),
        ))
    }
}

/// GC (SPEC 1.1): removes the endpoints of this VNI that plane-cni made
/// (an [`Attach::Port`] whose port has the derived `pl…` name) and whose
/// attachment is not in `cni.dev/valid-attachments`. Endpoints made with
/// `planectl endpoint add` are never touched. IPAM GC is not delegated: the
/// reference plugins (CNI 1.0.0) do not know the verb.
fn gc(_env: &Env, conf: &NetConf) -> Result<(), CniError> {
    let valid: HashSet<String> = conf
        .raw
        .get("cni.dev/valid-attachments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| {
                    let id = v.get("containerID")?.as_str()?;
                    let ifname = v.get("ifname")?.as_str()?;
                    Some(endpoint::host_ifname(&seed(id, ifname)))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut client = connect(conf)?;
    let endpoints = client
        .show_endpoints(Some(conf.vni))
        .map_err(client_error)?;
    for ep in endpoints {
        let Attach::Port { ifname } = &ep.attach else {
            continue;
        };
        let derived = ifname.len() == 10
            && ifname.starts_with("pl")
            && ifname.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
        if !derived || valid.contains(ifname) {
            continue;
        }
        tracing::info!(port = %ifname, mac = %ep.mac, vni = ep.vni, "GC: removing a stale endpoint");
        client
            .endpoint_del(EndpointKey {
                vni: ep.vni,
                mac: ep.mac,
            })
            .map_err(client_error)?;
        endpoint::delete(ifname, None, "").map_err(plumbing_error)?;
    }
    Ok(())
}
