//! IPAM delegation the standard way (SPEC.md, "Delegated plugins"): the
//! plugin named by `ipam.type` is looked up in the `CNI_PATH` directories
//! and executed with the same environment (CNI_COMMAND set to the verb) and
//! the network configuration on stdin.
//!
//! Debian's reference IPAM plugins speak CNI up to 1.0.0 only, so a 1.1.0
//! configuration is handed over with the highest version both sides support
//! (asked with the delegate's VERSION first); the result is read in that
//! version. A configuration of 1.0.0 or older is handed over as is (every
//! maintained IPAM plugin speaks it), saving an exec per ADD; should the
//! delegate answer "incompatible version" (code 1), the version is then
//! negotiated and the call repeated once. `prevResult` is not handed on: it belongs to the
//! chain, not to IPAM.
//!
//! What it never does: run a program outside `CNI_PATH`, or retry.

use super::spec::{version_key, CniError, CniResult, Code, NetConf, SUPPORTED_VERSIONS};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An IPAM plugin found on `CNI_PATH`, with the version to talk to it.
#[derive(Clone, Debug)]
pub struct Delegate {
    pub plugin: PathBuf,
    /// The version the configuration is handed over with.
    pub version: String,
    /// True when `version` came from the delegate's VERSION answer.
    negotiated: bool,
}

impl Delegate {
    /// Finds `ipam.type` on `cni_path` and negotiates the version.
    pub fn find(conf: &NetConf, cni_path: &str) -> Result<Option<Delegate>, CniError> {
        let Some(name) = conf.ipam_type() else {
            return Ok(None);
        };
        if name.contains('/') || name == "." || name == ".." {
            return Err(CniError::new(
                Code::InvalidConfig,
                format!("ipam.type {name:?}: a plugin name expected, not a path"),
            ));
        }
        let plugin = cni_path
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                CniError::new(
                    Code::InvalidConfig,
                    format!("IPAM plugin {name:?} not found in CNI_PATH {cni_path:?}"),
                )
            })?;
        let (version, negotiated) = if version_key(&conf.cni_version) <= Some((1, 0, 0)) {
            (conf.cni_version.clone(), false)
        } else {
            (negotiate(&plugin, &conf.cni_version)?, true)
        };
        Ok(Some(Delegate {
            plugin,
            version,
            negotiated,
        }))
    }

    /// Runs `command` (ADD, DEL, CHECK) with `conf`; ADD returns the result.
    pub fn exec(&self, command: &str, conf: &NetConf) -> Result<Option<CniResult>, CniError> {
        match self.exec_as(&self.version, command, conf) {
            Err(e) if e.code == Code::Other(1) && !self.negotiated => {
                let version = negotiate(&self.plugin, &conf.cni_version)?;
                self.exec_as(&version, command, conf)
            }
            r => r,
        }
    }

    fn exec_as(
        &self,
        version: &str,
        command: &str,
        conf: &NetConf,
    ) -> Result<Option<CniResult>, CniError> {
        let mut raw = conf.raw.clone();
        raw.insert("cniVersion".into(), version.into());
        raw.remove("prevResult");
        let stdin = serde_json::to_vec(&Value::Object(raw))
            .map_err(|e| CniError::new(Code::Io, format!("cannot encode IPAM input: {e}")))?;
        let out = run(&self.plugin, command, &stdin)?;
        if command != "ADD" || out.trim().is_empty() {
            return Ok(None);
        }
        let value: Value = serde_json::from_str(&out).map_err(|e| {
            CniError::new(
                Code::Decode,
                format!(
                    "IPAM plugin {} returned malformed JSON",
                    self.plugin.display()
                ),
            )
            .details(e.to_string())
        })?;
        serde_json::from_value(value).map(Some).map_err(|e| {
            CniError::new(
                Code::Decode,
                format!(
                    "IPAM plugin {} returned an unreadable result",
                    self.plugin.display()
                ),
            )
            .details(e.to_string())
        })
    }
}

/// The highest version that the delegate supports, plane supports, and that
/// is not newer than the configuration's.
fn negotiate(plugin: &Path, conf_version: &str) -> Result<String, CniError> {
    let input = serde_json::json!({ "cniVersion": conf_version }).to_string();
    let out = run(plugin, "VERSION", input.as_bytes())?;
    let value: Value = serde_json::from_str(&out).map_err(|e| {
        CniError::new(
            Code::Decode,
            format!("IPAM plugin {}: malformed VERSION answer", plugin.display()),
        )
        .details(e.to_string())
    })?;
    let theirs: Vec<&str> = value
        .get("supportedVersions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ceiling = version_key(conf_version);
    SUPPORTED_VERSIONS
        .iter()
        .filter(|v| theirs.contains(v) && version_key(v) <= ceiling)
        .max_by_key(|v| version_key(v))
        .map(|v| v.to_string())
        .ok_or_else(|| {
            CniError::new(
                Code::IncompatibleVersion,
                format!(
                    "IPAM plugin {} supports none of the versions up to {conf_version} that plane speaks",
                    plugin.display()
                ),
            )
            .details(format!("it supports {}", theirs.join(", ")))
        })
}

/// Executes a plugin; a non-zero exit becomes its own error (code, msg,
/// details passed through, as the reference plugins do).
fn run(plugin: &Path, command: &str, stdin: &[u8]) -> Result<String, CniError> {
    let what = || format!("IPAM plugin {} {command}", plugin.display());
    let mut child = Command::new(plugin)
        .env("CNI_COMMAND", command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CniError::new(Code::Io, format!("{}: cannot execute: {e}", what())))?;
    if let Some(mut input) = child.stdin.take() {
        // A plugin may exit without reading stdin (host-local answers
        // VERSION early): a broken pipe is not an error, its exit status
        // and output say how it went.
        match input.write_all(stdin) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CniError::new(
                    Code::Io,
                    format!("{}: cannot write stdin: {e}", what()),
                ));
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CniError::new(Code::Io, format!("{}: {e}", what())))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let err: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let code = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .map(Code::Other)
        .unwrap_or(Code::Io);
    let msg = err
        .get("msg")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("failed ({})", out.status));
    let details = err
        .get("details")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(
        CniError::new(code, format!("{}: {msg}", what())).details(if details.is_empty() {
            stderr.trim().to_string()
        } else {
            details.to_string()
        }),
    )
}
