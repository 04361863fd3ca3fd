//! The CNI specification's data (version 1.1, SPEC.md of
//! containernetworking/cni): versions, error codes, the network
//! configuration plane reads, and the result it prints.
//!
//! What it never does: I/O. Invariant: every error printed carries a code
//! of the spec (1-99) or one of plane's (100 and above), listed in
//! docs/containers.md.

use crate::config::IpCidr;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// The version plane speaks natively and answers VERSION with.
pub const CNI_VERSION: &str = "1.1.0";

/// Versions plane accepts in a network configuration. Results of versions
/// before 1.0.0 carry `"version"` in each IP (SPEC 0.4.0).
pub const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// Error codes of the spec (SPEC.md, "Error"), and plane's own (>= 100).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Code {
    /// 1: the configuration's cniVersion is not supported.
    IncompatibleVersion,
    /// 2: a field plane does not know.
    UnsupportedField,
    /// 3: the container (its namespace) does not exist.
    UnknownContainer,
    /// 4: a required `CNI_*` variable is missing or malformed.
    InvalidEnv,
    /// 5: reading, writing or executing failed.
    Io,
    /// 6: stdin is not the JSON expected.
    Decode,
    /// 7: valid JSON but the configuration is wrong (type, VNI...).
    InvalidConfig,
    /// 11: a transient condition (planed not running): the runtime may retry.
    TryAgainLater,
    /// 50: STATUS: the plugin cannot serve ADD.
    NotAvailable,
    /// 51: STATUS: the plugin cannot serve ADD and existing containers have
    /// limited connectivity.
    NotAvailableDegraded,
    /// 100: the kernel refused the veth plumbing.
    Plumbing,
    /// 101: planed refused the endpoint (address or MAC taken in the VNI).
    Refused,
    /// 102: CHECK found the attachment different from its result.
    CheckFailed,
    /// Any other code, as a delegated IPAM plugin returned it.
    Other(u32),
}

impl Code {
    pub fn number(self) -> u32 {
        match self {
            Code::IncompatibleVersion => 1,
            Code::UnsupportedField => 2,
            Code::UnknownContainer => 3,
            Code::InvalidEnv => 4,
            Code::Io => 5,
            Code::Decode => 6,
            Code::InvalidConfig => 7,
            Code::TryAgainLater => 11,
            Code::NotAvailable => 50,
            Code::NotAvailableDegraded => 51,
            Code::Plumbing => 100,
            Code::Refused => 101,
            Code::CheckFailed => 102,
            Code::Other(n) => n,
        }
    }
}

/// A CNI error: printed on stdout as `{"cniVersion","code","msg","details"}`
/// with a non-zero exit status.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CniError {
    pub code: Code,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: Code, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    /// The JSON object of the spec.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let mut m = Map::new();
        m.insert("cniVersion".into(), cni_version.into());
        m.insert("code".into(), self.code.number().into());
        m.insert("msg".into(), self.msg.clone().into());
        if !self.details.is_empty() {
            m.insert("details".into(), self.details.clone().into());
        }
        Value::Object(m)
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {}: {}", self.code.number(), self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

/// Orders dotted versions numerically (`0.10.0` > `0.4.0`); `None` when a
/// part is not a number.
pub fn version_key(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    let major = it.next()??;
    let minor = it.next().flatten().unwrap_or(0);
    let patch = it.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// One interface of a result (`interfaces`).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The namespace path for a container interface; absent on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    /// Other fields (`socketPath`, `pciID`...) of a previous plugin, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One address of a result (`ips`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct IpConfig {
    /// Address with prefix length.
    #[serde(with = "cidr_text")]
    pub address: IpCidr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// One route of a result or configuration (`routes`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Route {
    #[serde(with = "cidr_text")]
    pub dst: IpCidr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// `mtu`, `advmss`, `priority`, `table`, `scope` (1.1): passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `dns` of a configuration or result.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self == &Dns::default()
    }

    /// Fills what `self` lacks from `other`.
    pub fn merge(&mut self, other: &Dns) {
        if self.nameservers.is_empty() {
            self.nameservers = other.nameservers.clone();
        }
        if self.domain.is_empty() {
            self.domain = other.domain.clone();
        }
        if self.search.is_empty() {
            self.search = other.search.clone();
        }
        if self.options.is_empty() {
            self.options = other.options.clone();
        }
    }
}

/// A result (`ADD` output, `prevResult`), in the 1.x shape.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

impl CniResult {
    /// The JSON printed for `cni_version`: before 1.0.0 each IP carries
    /// `"version": "4"|"6"` (SPEC 0.3.0-0.4.0).
    pub fn to_json(&self, cni_version: &str) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            if version_key(cni_version) < Some((1, 0, 0)) {
                if let Some(Value::Array(ips)) = m.get_mut("ips") {
                    for ip in ips.iter_mut() {
                        let family = ip.get("address").and_then(Value::as_str).map(|a| {
                            if a.contains(':') {
                                "6"
                            } else {
                                "4"
                            }
                        });
                        if let (Value::Object(o), Some(f)) = (ip, family) {
                            o.insert("version".into(), f.into());
                        }
                    }
                }
            }
            let mut out = Map::new();
            out.insert("cniVersion".into(), cni_version.into());
            out.extend(std::mem::take(m));
            return Value::Object(out);
        }
        v
    }
}

mod cidr_text {
    use crate::config::IpCidr;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &IpCidr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpCidr, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A statically configured address (`"addresses"` of the configuration).
#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticAddress {
    #[serde(with = "cidr_text")]
    pub address: IpCidr,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
}

/// `runtimeConfig` (capability arguments from the runtime).
#[derive(Clone, PartialEq, Eq, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// Capability `mac`.
    #[serde(default)]
    pub mac: Option<String>,
    /// Capability `ips` (passed on to IPAM; used as static addresses when
    /// there is no IPAM).
    #[serde(default)]
    pub ips: Vec<String>,
}

/// The network configuration of `"type": "plane"`, as read from stdin.
#[derive(Clone, PartialEq, Debug)]
pub struct NetConf {
    pub cni_version: String,
    pub name: String,
    pub vni: u32,
    /// planed's control socket (else `PLANE_SOCKET`, else the default).
    pub socket: Option<PathBuf>,
    pub mtu: Option<u32>,
    /// A fixed MAC (for a network with one container; normally derived).
    pub mac: Option<String>,
    /// The `ipam` object, handed to the delegated plugin as is.
    pub ipam: Option<Map<String, Value>>,
    pub dns: Dns,
    /// Static addresses when there is no `ipam`.
    pub addresses: Vec<StaticAddress>,
    /// Static routes added with static addresses.
    pub routes: Vec<Route>,
    pub runtime_config: RuntimeConfig,
    pub prev_result: Option<CniResult>,
    /// stdin as received, for delegation.
    pub raw: Map<String, Value>,
}

/// Top-level keys plane reads or tolerates; any other is
/// [`Code::UnsupportedField`] (a typo such as `"vin"` must not go unnoticed).
const KNOWN_KEYS: [&str; 16] = [
    "cniVersion",
    "name",
    "type",
    "vni",
    "socket",
    "mtu",
    "mac",
    "ipam",
    "dns",
    "addresses",
    "routes",
    "runtimeConfig",
    "prevResult",
    "capabilities",
    "args",
    "cni.dev/valid-attachments",
];

impl NetConf {
    /// Parses stdin. Not JSON, or a field of the wrong type, is
    /// [`Code::Decode`]; a wrong value is [`Code::InvalidConfig`]; an
    /// unknown field [`Code::UnsupportedField`]; a version plane does not
    /// speak [`Code::IncompatibleVersion`].
    pub fn parse(stdin: &[u8]) -> Result<NetConf, CniError> {
        let value: Value = serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(
                Code::Decode,
                "network configuration on stdin is not valid JSON",
            )
            .details(e.to_string())
        })?;
        let Value::Object(raw) = value else {
            return Err(CniError::new(
                Code::Decode,
                "network configuration on stdin must be a JSON object",
            ));
        };
        let cni_version = str_field(&raw, "cniVersion")?.ok_or_else(|| {
            CniError::new(
                Code::InvalidConfig,
                "network configuration: cniVersion is missing",
            )
        })?;
        if !SUPPORTED_VERSIONS.contains(&cni_version.as_str()) {
            return Err(CniError::new(
                Code::IncompatibleVersion,
                format!(
                    "cniVersion {cni_version:?} is not supported (supported: {})",
                    SUPPORTED_VERSIONS.join(", ")
                ),
            ));
        }
        if let Some(k) = raw.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(CniError::new(
                Code::UnsupportedField,
                format!("network configuration: unknown field {k:?}"),
            )
            .details(format!("known fields: {}", KNOWN_KEYS.join(", "))));
        }
        let name = str_field(&raw, "name")?.unwrap_or_default();
        match str_field(&raw, "type")?.as_deref() {
            Some("plane") => {}
            Some(other) => {
                return Err(CniError::new(
                    Code::InvalidConfig,
                    format!("network configuration: type {other:?}, \"plane\" expected"),
                ))
            }
            None => {
                return Err(CniError::new(
                    Code::InvalidConfig,
                    "network configuration: type is missing",
                ))
            }
        }
        let vni = match raw.get("vni") {
            None => {
                return Err(CniError::new(
                    Code::InvalidConfig,
                    "network configuration: vni is missing",
                ))
            }
            Some(v) => match v.as_u64() {
                Some(n) if (1..=0xff_ffff).contains(&n) => u32::try_from(n).unwrap_or(0),
                _ => {
                    return Err(CniError::new(
                        Code::InvalidConfig,
                        format!(
                            "network configuration: vni: 24-bit VNI (1-16777215) expected, got {v}"
                        ),
                    ))
                }
            },
        };
        let socket = str_field(&raw, "socket")?.map(PathBuf::from);
        let mtu = match raw.get("mtu") {
            None => None,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if (68..=65535).contains(&n) => Some(n),
                _ => {
                    return Err(CniError::new(
                        Code::InvalidConfig,
                        format!("network configuration: mtu: 68-65535 expected, got {v}"),
                    ))
                }
            },
        };
        let mac = str_field(&raw, "mac")?;
        let ipam = match raw.get("ipam") {
            None => None,
            Some(Value::Object(m)) if m.is_empty() => None,
            Some(Value::Object(m)) => {
                if !matches!(m.get("type"), Some(Value::String(t)) if !t.is_empty()) {
                    return Err(CniError::new(
                        Code::InvalidConfig,
                        "network configuration: ipam.type is missing",
                    ));
                }
                Some(m.clone())
            }
            Some(_) => return Err(decode_field("ipam", "an object")),
        };
        let dns: Dns = typed_field(&raw, "dns")?.unwrap_or_default();
        let addresses: Vec<StaticAddress> = typed_field(&raw, "addresses")?.unwrap_or_default();
        let routes: Vec<Route> = typed_field(&raw, "routes")?.unwrap_or_default();
        let runtime_config: RuntimeConfig = typed_field(&raw, "runtimeConfig")?.unwrap_or_default();
        let prev_result: Option<CniResult> = typed_field(&raw, "prevResult")?;
        Ok(NetConf {
            cni_version,
            name,
            vni,
            socket,
            mtu,
            mac,
            ipam,
            dns,
            addresses,
            routes,
            runtime_config,
            prev_result,
            raw,
        })
    }

    /// `ipam.type`, when IPAM is delegated.
    pub fn ipam_type(&self) -> Option<&str> {
        self.ipam.as_ref()?.get("type")?.as_str()
    }
}

fn decode_field(key: &str, expected: &str) -> CniError {
    CniError::new(
        Code::Decode,
        format!("network configuration: {key}: {expected} expected"),
    )
}

fn str_field(raw: &Map<String, Value>, key: &str) -> Result<Option<String>, CniError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(decode_field(key, "a string")),
    }
}

fn typed_field<T: serde::de::DeserializeOwned>(
    raw: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, CniError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| CniError::new(Code::Decode, format!("network configuration: {key}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(extra: &str) -> Result<NetConf, CniError> {
        let text = format!(r#"{{"cniVersion":"1.1.0","name":"n","type":"plane","vni":10{extra}}}"#);
        NetConf::parse(text.as_bytes())
    }

    #[test]
    fn parses_a_minimal_and_a_full_configuration() {
        let c = conf("").unwrap();
        assert_eq!(c.vni, 10);
        assert!(c.ipam.is_none());
        let c = conf(
            r#","mtu":1400,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24"}]]},
               "dns":{"nameservers":["10.1.0.1"]},"runtimeConfig":{"mac":"02:00:00:00:00:01"},
               "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],
               "ips":[{"address":"10.1.0.2/24","interface":0,"version":"4"}]}"#,
        )
        .unwrap();
        assert_eq!(c.ipam_type(), Some("host-local"));
        assert_eq!(c.mtu, Some(1400));
        assert_eq!(c.dns.nameservers, ["10.1.0.1"]);
        assert_eq!(c.runtime_config.mac.as_deref(), Some("02:00:00:00:00:01"));
        let prev = c.prev_result.unwrap();
        assert_eq!(prev.ips[0].address.to_string(), "10.1.0.2/24");
    }

    #[test]
    fn errors_carry_the_spec_codes() {
        let code = |r: Result<NetConf, CniError>| r.unwrap_err().code.number();
        assert_eq!(code(NetConf::parse(b"{not json")), 6);
        assert_eq!(code(NetConf::parse(b"[1]")), 6);
        assert_eq!(
            code(NetConf::parse(
                br#"{"cniVersion":"9.9.9","type":"plane","vni":1}"#
            )),
            1
        );
        assert_eq!(code(conf(r#","vin":3"#)), 2);
        assert_eq!(
            code(NetConf::parse(
                br#"{"cniVersion":"1.1.0","type":"bridge","vni":1}"#
            )),
            7
        );
        assert_eq!(
            code(NetConf::parse(br#"{"cniVersion":"1.1.0","type":"plane"}"#)),
            7
        );
        assert_eq!(
            code(NetConf::parse(
                br#"{"cniVersion":"1.1.0","type":"plane","vni":16777216}"#
            )),
            7
        );
        assert_eq!(code(conf(r#","mtu":"big""#)), 7);
        assert_eq!(code(conf(r#","ipam":{"subnet":"x"}"#)), 7);
        assert_eq!(code(conf(r#","addresses":[{"address":"10.0.0.1"}]"#)), 6);
    }

    #[test]
    fn results_before_1_0_carry_the_ip_version() {
        let r = CniResult {
            ips: vec![
                IpConfig {
                    address: "10.1.0.2/24".parse().unwrap(),
                    gateway: None,
                    interface: Some(1),
                },
                IpConfig {
                    address: "fd00::2/64".parse().unwrap(),
                    gateway: None,
                    interface: Some(1),
                },
            ],
            ..CniResult::default()
        };
        let old = r.to_json("0.4.0");
        assert_eq!(old["ips"][0]["version"], "4");
        assert_eq!(old["ips"][1]["version"], "6");
        let new = r.to_json("1.1.0");
        assert_eq!(new["cniVersion"], "1.1.0");
        assert!(new["ips"][0].get("version").is_none());
        assert!(version_key("0.10.0") > version_key("0.4.0"));
    }
}
