//! Plain value types of the dataplane: what the control plane hands over.
//!
//! Nothing here knows about netlink or BGP: a VNI is a 24-bit number, a MAC is
//! six bytes, a VTEP is an IP address. The wiring layer converts from the BGP
//! types. Invariants: a [`Vni`] always fits in 24 bits; device names built by
//! [`VniConfig::new`] fit `IFNAMSIZ` (15 bytes) for every 24-bit VNI.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors building a value from user or peer input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("VNI {0} does not fit in 24 bits (RFC 7348 §5: VNI is 24 bits)")]
    VniRange(u32),
    #[error("MAC address {0:?}: expected six hex octets separated by ':' (aa:bb:cc:dd:ee:ff)")]
    Mac(String),
    #[error(
        "interface name {0:?}: must be 1 to 15 bytes without '/', ':' or whitespace (IFNAMSIZ)"
    )]
    IfName(String),
}

/// A VXLAN network identifier (24 bits, RFC 7348 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Vni(u32);

impl Vni {
    /// Largest VNI: 2^24 - 1.
    pub const MAX: u32 = 0x00ff_ffff;

    pub fn new(v: u32) -> Result<Vni, ValueError> {
        if v > Self::MAX {
            return Err(ValueError::VniRange(v));
        }
        Ok(Vni(v))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Vni {
    type Error = ValueError;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Vni::new(v)
    }
}

impl From<Vni> for u32 {
    fn from(v: Vni) -> u32 {
        v.0
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const ZERO: Mac = Mac([0; 6]);
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Group (multicast or broadcast) bit: the I/G bit of the first octet.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// A MAC taken from kernel or wire bytes; `None` unless exactly six bytes.
    pub fn from_slice(b: &[u8]) -> Option<Mac> {
        <[u8; 6]>::try_from(b).ok().map(Mac)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Mac {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Mac, ValueError> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(|| ValueError::Mac(s.to_string()))?;
            if p.is_empty() || p.len() > 2 {
                return Err(ValueError::Mac(s.to_string()));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| ValueError::Mac(s.to_string()))?;
        }
        if parts.next().is_some() {
            return Err(ValueError::Mac(s.to_string()));
        }
        Ok(Mac(out))
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Longest interface name the kernel accepts (`IFNAMSIZ` - 1).
pub const MAX_IFNAME: usize = 15;

/// Checks an interface name against the kernel's rules (`dev_valid_name`),
/// and refuses NUL, which cannot reach the kernel inside a name. The one
/// copy of the rule: plane's veth plumbing uses it too.
pub fn check_ifname(name: &str) -> Result<(), ValueError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(ValueError::IfName(name.to_string()))
    }
}

/// What happens to broadcast, unknown-unicast and multicast frames of a VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BumPolicy {
    /// The kernel bridge answers ARP/ND from the neighbour entries
    /// (`neigh_suppress`); every other BUM frame stays on the host: the VXLAN
    /// port has flood, mcast_flood and bcast_flood off and no flood list.
    #[default]
    Suppress,
    /// Like `Suppress`, but ARP/ND is answered by plane's userspace responder
    /// (for kernels or setups without `neigh_suppress`); BUM still stays local.
    UserspaceResponder,
    /// Classic ingress replication: BUM is sent to every VTEP of the flood
    /// list (RFC 8365 §9, type-3 routes). ARP/ND suppression stays on.
    Replicate,
}

impl BumPolicy {
    /// Whether the VXLAN port floods (the flood list is programmed).
    pub fn floods(self) -> bool {
        matches!(self, BumPolicy::Replicate)
    }

    /// Whether the kernel answers ARP/ND (`neigh_suppress` on the VXLAN port).
    pub fn kernel_suppression(self) -> bool {
        !matches!(self, BumPolicy::UserspaceResponder)
    }
}

/// Default VXLAN UDP port (IANA, RFC 7348 §5).
pub const VXLAN_PORT: u16 = 4789;
/// Default MTU of the VXLAN device and bridge: 1500 minus the 50-byte
/// VXLAN-over-IPv4 overhead.
pub const DEFAULT_MTU: u32 = 1450;

/// Configuration of one VNI: its two devices and how they behave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VniConfig {
    pub vni: Vni,
    /// Bridge device name (`br<VNI>` by default).
    pub bridge: String,
    /// VXLAN device name (`vxlan<VNI>` by default).
    pub vxlan: String,
    /// Local VTEP address: source of the encapsulated packets.
    pub local_vtep: IpAddr,
    /// UDP destination port.
    pub port: u16,
    pub mtu: u32,
    pub bum: BumPolicy,
    /// MAC of the bridge, fixed at creation so that the bridge never changes
    /// its MAC when a port joins (which flushes its neighbour table).
    pub bridge_mac: Mac,
}

impl VniConfig {
    /// The defaults: `br<VNI>`, `vxlan<VNI>`, port 4789, MTU 1450, BUM
    /// suppressed, bridge MAC derived from VNI and VTEP (locally administered).
    pub fn new(vni: Vni, local_vtep: IpAddr) -> VniConfig {
        VniConfig {
            vni,
            bridge: format!("br{vni}"),
            vxlan: format!("vxlan{vni}"),
            local_vtep,
            port: VXLAN_PORT,
            mtu: DEFAULT_MTU,
            bum: BumPolicy::Suppress,
            bridge_mac: derived_bridge_mac(vni, local_vtep),
        }
    }

    /// Checks device names; the control plane calls this before handing over.
    pub fn validate(&self) -> Result<(), ValueError> {
        check_ifname(&self.bridge)?;
        check_ifname(&self.vxlan)
    }
}

/// `02:<vtep hash>:<vni>`: locally administered, unicast, stable across restarts.
fn derived_bridge_mac(vni: Vni, vtep: IpAddr) -> Mac {
    let h = match vtep {
        IpAddr::V4(a) => a.octets().iter().fold(0u8, |h, b| h.rotate_left(3) ^ b),
        IpAddr::V6(a) => a.octets().iter().fold(0u8, |h, b| h.rotate_left(3) ^ b),
    };
    let v = vni.get().to_be_bytes();
    Mac([0x02, 0x50, h, v[1], v[2], v[3]])
}

/// Flags of a bridge port as plane sets them (a subset of `IFLA_BRPORT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortFlags {
    pub learning: bool,
    pub neigh_suppress: bool,
    /// `IFLA_BRPORT_UNICAST_FLOOD`.
    pub flood: bool,
    pub mcast_flood: bool,
    pub bcast_flood: bool,
}

impl PortFlags {
    /// Every flag off: the starting point when reading flags from the
    /// kernel, which reports only the flags it knows.
    pub const NONE: PortFlags = PortFlags {
        learning: false,
        neigh_suppress: false,
        flood: false,
        mcast_flood: false,
        bcast_flood: false,
    };

    /// The VXLAN port of a VNI with the given BUM policy: never learns (remote
    /// MACs come from BGP), floods only when the policy replicates.
    pub fn vxlan_port(bum: BumPolicy) -> PortFlags {
        let flood = bum.floods();
        PortFlags {
            learning: false,
            neigh_suppress: bum.kernel_suppression(),
            flood,
            mcast_flood: flood,
            bcast_flood: flood,
        }
    }

    /// A local container port: learns (its MACs become local endpoints) and
    /// receives local floods, so that broadcasts reach local neighbours only.
    pub fn local_port() -> PortFlags {
        PortFlags {
            learning: true,
            neigh_suppress: false,
            flood: true,
            mcast_flood: true,
            bcast_flood: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_range() {
        assert_eq!(Vni::new(0xff_ffff).map(Vni::get), Ok(0xff_ffff));
        assert_eq!(Vni::new(0x100_0000), Err(ValueError::VniRange(0x100_0000)));
    }

    #[test]
    fn mac_parse_and_print() {
        let m: Mac = "02:00:0A:ff:1:0".parse().unwrap();
        assert_eq!(m, Mac([2, 0, 10, 255, 1, 0]));
        assert_eq!(m.to_string(), "02:00:0a:ff:01:00");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "02:00:00:00:00:0g",
            "020:0:0:0:0:0",
            "::::::",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }

    #[test]
    fn default_names_fit_ifnamsiz() {
        let c = VniConfig::new(Vni::new(Vni::MAX).unwrap(), "10.0.0.1".parse().unwrap());
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.vxlan, "vxlan16777215");
        assert!(!c.bridge_mac.is_multicast());
    }

    #[test]
    fn ifname_rules() {
        assert!(check_ifname("eth0").is_ok());
        for bad in ["", "a/b", "a b", "0123456789abcdef", ".", "a:b", "a\0b"] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }
}
