//! plane.toml: the resolved configuration of one `planed`, how it is read and
//! checked, and what changed between two of them (for SIGHUP reload).
//!
//! - [`Config::load`] / [`Config::parse`]: text in, a fully resolved
//!   [`Config`] out (every default applied, `auto` RD/RT derived), or
//!   [`ConfigErrors`]: EVERY problem found, each naming `file:line:col`, the
//!   key and why (`plane.toml:12:9: vni.id: 24-bit VNI expected, got 20000000`).
//! - [`ConfigDiff`]: neighbours and VNIs added, removed or changed.
//!
//! What it never does: touch the network, the kernel or the clock. A config
//! that loads is internally consistent (unique VNIs, bridge and VXLAN names,
//! RDs and neighbour addresses; router-id IPv4; hold time 0 or >= 3 s with
//! keepalive below it); whether its interfaces or groups exist is checked by
//! whoever uses them.
//!
//! Derivations (docs/config.md has the operator's view):
//! - auto RD = `router-id:index`, index = the VNI's 1-based position among the
//!   `[[vni]]` tables of the file, as FRR allocates RD indexes;
//! - auto RT = `ASN:VNI` (type 0x00); with a 4-octet ASN the low 16 bits of the
//!   ASN are used, as FRR and RFC 8365 section 5.1.2.1 do, so that the VNI keeps
//!   its 4 octets;
//! - auto import = the auto RT.

mod diff;
mod parse;
pub mod values;

pub use diff::{Change, ConfigDiff};
pub use values::{IpCidr, RtMatch};

use plane_bgp::wire::{RouteDistinguisher, RouteTarget};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where planed reads its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/plane/plane.toml";
/// Where the control socket lives when neither config, `--socket` nor
/// `PLANE_SOCKET` say otherwise.
pub const DEFAULT_SOCKET_PATH: &str = "/run/plane/planed.sock";
/// Largest VNI: the VXLAN Network Identifier is 24 bits (RFC 7348 section 5).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// The whole resolved configuration.
#[derive(Clone, PartialEq, Debug)]
pub struct Config {
    pub bgp: BgpConfig,
    /// `[[bgp.neighbor]]`, in file order.
    pub neighbors: Vec<NeighborConfig>,
    pub underlay: UnderlayConfig,
    /// `[[vni]]`, in file order.
    pub vnis: Vec<VniConfig>,
    pub control: ControlConfig,
    pub log: LogConfig,
    /// `[evpn]`.
    pub evpn: EvpnConfig,
}

/// `[bgp]`: the local speaker.
#[derive(Clone, PartialEq, Debug)]
pub struct BgpConfig {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Where the speaker accepts sessions (default `0.0.0.0:179`).
    pub listen: SocketAddr,
    /// Proposed hold time (RFC 4271 section 4.2), 0 or >= 3 s (default 90 s).
    pub hold_time: Duration,
    /// KEEPALIVE interval (default 30 s, a third of the hold time).
    pub keepalive: Duration,
    /// ConnectRetryTimer (RFC 4271 section 8): wait between connection attempts
    /// (default 5 s: hosts come and go, 120 s of RFC 4271's suggestion is too
    /// slow for a container fabric; GoBGP uses 5 s too).
    pub connect_retry: Duration,
    /// `[bgp.graceful_restart]` (RFC 4724); `None` when `enabled = false`.
    pub graceful_restart: Option<GracefulRestart>,
    /// `[bgp.graceful_restart] select_defer_time`: RFC 4724's
    /// Selection_Deferral_Timer, the longest a starting planed waits for its
    /// neighbours' End-of-RIB before sending its own routes (when
    /// restarting) and removing stale kernel state. Default: the restart
    /// time, or 60 s with graceful restart disabled. Applies with
    /// `enabled = false` too (End-of-RIB is still awaited).
    pub select_defer_time: Duration,
    /// Route reflector cluster id (RFC 4456); defaults to the router-id when a
    /// neighbour is a `route_reflector_client`.
    pub cluster_id: Option<Ipv4Addr>,
}

/// Graceful restart timers (RFC 4724).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GracefulRestart {
    /// Restart Time advertised in the capability (12 bits, default 120 s).
    pub restart_time: Duration,
    /// How long a restarting peer's routes are kept as stale (default 360 s).
    pub stale_time: Duration,
}

/// `[[bgp.neighbor]]`: one configured peer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NeighborConfig {
    pub address: IpAddr,
    pub remote_asn: u32,
    /// TCP-MD5 key (RFC 2385), at most 80 bytes (TCP_MD5SIG_MAXKEYLEN).
    pub password: Option<String>,
    pub route_reflector_client: bool,
    /// Never connect, only accept.
    pub passive: bool,
    /// Remote TCP port (default 179).
    pub port: u16,
    /// Overrides `bgp.hold_time` for this peer.
    pub hold_time: Option<Duration>,
    pub description: Option<String>,
}

impl NeighborConfig {
    /// iBGP when the peer is in our AS.
    pub fn is_ibgp(&self, local_asn: u32) -> bool {
        self.remote_asn == local_asn
    }
}

/// `[underlay]`: the VTEP.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UnderlayConfig {
    /// VTEP source address, the next hop of our routes (IPv4 or IPv6).
    pub local_ip: IpAddr,
    /// VXLAN UDP destination port (default 4789, RFC 7348).
    pub vxlan_port: u16,
    /// MTU of the VXLAN devices and bridges (default 1450: 1500 minus the
    /// 50 bytes of VXLAN over IPv4).
    pub mtu: u32,
}

/// How broadcast, unknown unicast and multicast frames of a VNI are handled.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BumMode {
    /// ARP/ND answered on the host from the neighbour entries; every other
    /// BUM frame is dropped, none crosses the underlay (default).
    Suppress,
    /// BUM frames are head-end replicated to every VTEP of the VNI (type-3
    /// routes), as FRR does by default.
    Flood,
    /// Like `Suppress`, but ARP/ND is answered by planed's userspace
    /// responder instead of the bridge's neighbour suppression (kernels or
    /// setups where `neigh_suppress` does not answer).
    Proxy,
}

impl fmt::Display for BumMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BumMode::Suppress => "suppress",
            BumMode::Flood => "flood",
            BumMode::Proxy => "proxy",
        })
    }
}

/// `[[vni]]`: one tenant segment, resolved.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VniConfig {
    /// 1..=2^24-1.
    pub id: u32,
    /// Bridge device (default `br<id>`).
    pub bridge: String,
    /// VXLAN device (default `vxlan<id>`).
    pub vxlan: String,
    /// The RD of our routes for this VNI (auto: `router-id:index`).
    pub rd: RouteDistinguisher,
    /// True when `rd` was derived (`rd = "auto"` or absent).
    pub rd_auto: bool,
    /// Routes carrying a route target matched by one of these are imported.
    pub import_rt: Vec<RtMatch>,
    /// Route targets attached to our routes.
    pub export_rt: Vec<RouteTarget>,
    pub bum: BumMode,
}

/// `[evpn]`: EVPN behaviour beyond the routes themselves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EvpnConfig {
    /// `[evpn.duplicate_mac]` (RFC 7432 section 15.1); `None` when
    /// `enabled = false`.
    pub duplicate_mac: Option<DuplicateMacDetection>,
}

impl Default for EvpnConfig {
    fn default() -> Self {
        EvpnConfig {
            duplicate_mac: Some(DuplicateMacDetection::default()),
        }
    }
}

/// Duplicate MAC detection (RFC 7432 section 15.1): a local MAC that moves
/// `max_moves` times within `window` is duplicate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DuplicateMacDetection {
    /// N of the RFC (default 5), 2..=1000 as FRR's `max-moves`.
    pub max_moves: u32,
    /// M of the RFC (default 180 s), 2..=1800 s as FRR's `time`; also how
    /// long a duplicate MAC must stay without moves to recover.
    pub window: Duration,
}

impl Default for DuplicateMacDetection {
    fn default() -> Self {
        DuplicateMacDetection {
            max_moves: 5,
            window: Duration::from_secs(180),
        }
    }
}

/// `[control]`: the control socket.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ControlConfig {
    /// Unix socket path (default `/run/plane/planed.sock`).
    pub socket: PathBuf,
    /// Group whose members may make changes (endpoint add/del) besides root.
    pub group: Option<String>,
}

/// `[log]`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LogConfig {
    /// A tracing filter (`info`, `plane_bgp=debug,info`); `PLANE_LOG` overrides it.
    pub level: String,
}

impl Config {
    /// Reads and checks a config file. `path` as given is the file name that
    /// error messages print.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string()).map_err(LoadError::Invalid)
    }

    /// Checks config text; `file` names it in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigErrors> {
        parse::parse(text, file)
    }

    /// The auto route target of a VNI: `ASN:VNI` (low 16 bits of a 4-octet
    /// ASN). The RIB's derivation, so that the config and the speaker's
    /// auto RTs can never differ.
    pub fn auto_rt(asn: u32, vni: u32) -> RouteTarget {
        plane_bgp::rib::auto_rt(asn, vni)
    }

    /// The VNI with this id.
    pub fn vni(&self, id: u32) -> Option<&VniConfig> {
        self.vnis.iter().find(|v| v.id == id)
    }

    /// The neighbour with this address.
    pub fn neighbor(&self, address: IpAddr) -> Option<&NeighborConfig> {
        self.neighbors.iter().find(|n| n.address == address)
    }

    /// One line for `planed --check-config`.
    pub fn summary(&self) -> String {
        format!(
            "AS {} router-id {}, {} neighbor(s), {} VNI(s), VTEP {}, control socket {}",
            self.bgp.asn,
            self.bgp.router_id,
            self.neighbors.len(),
            self.vnis.len(),
            self.underlay.local_ip,
            self.control.socket.display()
        )
    }
}

/// One problem in a config file: where, which key, why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConfigError {
    /// The file name as given to [`Config::load`] / [`Config::parse`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Dotted key path, e.g. `vni.id`, `bgp.neighbor.remote_asn`; `toml` for
    /// syntax errors.
    pub key: String,
    /// Why.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, self.key, self.message
        )
    }
}

/// Every problem found in a config file, in file order (never empty).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            e.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Why a config file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(ConfigErrors),
}
