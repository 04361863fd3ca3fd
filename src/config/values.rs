//! Text forms of the values that plane.toml, the control protocol and the CLIs
//! share: route distinguishers (`A.B.C.D:N`, `ASN:N`), route targets (the
//! same, plus the import wildcard `*:N`), IP prefixes (`A/LEN`), MACs, and the
//! serde helpers that write these values as the strings of design.md.
//!
//! What it never does: accept a value that does not fit its wire field. An
//! `ASN:N` with a 4-octet ASN leaves 2 octets for N (RFC 4364 type 2 RD,
//! RFC 5668 type 0x02 RT); a larger N is an error, not a silent truncation.
//!
//! Parse errors are plain strings that say what was expected and what was
//! given; the caller adds where (file:line:col or the CLI flag).

use ipnetwork::IpNetwork;
use plane_bgp::wire::{MacAddr, RouteDistinguisher, RouteTarget};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// Splits `left:right` at the last colon (an IPv4 left side has no colon).
fn split_admin(s: &str) -> Option<(&str, &str)> {
    let (left, right) = s.rsplit_once(':')?;
    if left.is_empty() || right.is_empty() {
        return None;
    }
    Some((left, right))
}

/// Parses a route distinguisher: `A.B.C.D:N` (type 1, N < 2^16), `ASN:N` with
/// ASN < 2^16 (type 0, N < 2^32) or ASN >= 2^16 (type 2, N < 2^16).
pub fn parse_rd(s: &str) -> Result<RouteDistinguisher, String> {
    let expected = || format!("route distinguisher A.B.C.D:N or ASN:N expected, got {s:?}");
    let (left, right) = split_admin(s).ok_or_else(expected)?;
    if let Ok(addr) = left.parse::<Ipv4Addr>() {
        let number = right
            .parse::<u16>()
            .map_err(|_| format!("{s:?}: the number after an IPv4 address must be 0..=65535"))?;
        return Ok(RouteDistinguisher::Ipv4 { addr, number });
    }
    let asn = left.parse::<u32>().map_err(|_| expected())?;
    if let Ok(asn) = u16::try_from(asn) {
        let number = right
            .parse::<u32>()
            .map_err(|_| format!("{s:?}: the number after a 2-octet ASN must be 0..=4294967295"))?;
        return Ok(RouteDistinguisher::As2 { asn, number });
    }
    let number = right
        .parse::<u16>()
        .map_err(|_| format!("{s:?}: the number after a 4-octet ASN must be 0..=65535"))?;
    Ok(RouteDistinguisher::As4 { asn, number })
}

/// Parses a route target: `ASN:N` or `A.B.C.D:N`, with the same field sizes as
/// [`parse_rd`] (RFC 4360 section 4, RFC 5668).
pub fn parse_rt(s: &str) -> Result<RouteTarget, String> {
    let expected = || format!("route target ASN:N or A.B.C.D:N expected, got {s:?}");
    let (left, right) = split_admin(s).ok_or_else(expected)?;
    if let Ok(addr) = left.parse::<Ipv4Addr>() {
        let value = right
            .parse::<u16>()
            .map_err(|_| format!("{s:?}: the number after an IPv4 address must be 0..=65535"))?;
        return Ok(RouteTarget::Ipv4 { addr, value });
    }
    let asn = left.parse::<u32>().map_err(|_| expected())?;
    if let Ok(asn) = u16::try_from(asn) {
        let value = right
            .parse::<u32>()
            .map_err(|_| format!("{s:?}: the number after a 2-octet ASN must be 0..=4294967295"))?;
        return Ok(RouteTarget::As2 { asn, value });
    }
    let value = right
        .parse::<u16>()
        .map_err(|_| format!("{s:?}: the number after a 4-octet ASN must be 0..=65535"))?;
    Ok(RouteTarget::As4 { asn, value })
}

/// The RIB's import rule type, so that config, control protocol and RIB
/// share one definition and one matching rule (no conversion in between).
pub use plane_bgp::rib::RtMatch;

/// Parses an import rule: a route target or `*:N`.
pub fn parse_rt_match(s: &str) -> Result<RtMatch, String> {
    if let Some(n) = s.strip_prefix("*:") {
        let n = n
            .parse::<u32>()
            .map_err(|_| format!("{s:?}: *:N expects a number 0..=4294967295 after \"*:\""))?;
        return Ok(RtMatch::AnyAsn(n));
    }
    parse_rt(s)
        .map(RtMatch::Exact)
        .map_err(|_| format!("route target ASN:N, A.B.C.D:N or *:N expected, got {s:?}"))
}

/// An interface address with its prefix length, written `A/LEN`
/// (`10.0.0.2/24`, `fd00::2/64`). The host bits are kept: this is an address
/// on an interface, not a route.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IpCidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl IpCidr {
    /// Checks the prefix length against the address family (32 or 128).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<IpCidr, String> {
        IpNetwork::new(addr, prefix_len)
            .map(IpCidr::from)
            .map_err(|_| {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                format!("prefix length {prefix_len} is longer than {max} for {addr}")
            })
    }

    /// The network this address is on (host bits cleared): the on-link route.
    pub fn network(&self) -> IpCidr {
        let net = IpNetwork::from(*self);
        IpCidr {
            addr: net.network(),
            prefix_len: self.prefix_len,
        }
    }
}

impl From<IpNetwork> for IpCidr {
    fn from(n: IpNetwork) -> Self {
        IpCidr {
            addr: n.ip(),
            prefix_len: n.prefix(),
        }
    }
}

impl From<IpCidr> for IpNetwork {
    fn from(c: IpCidr) -> Self {
        // An IpCidr is only made through `new`, `from_str` or `From<IpNetwork>`,
        // all of which check the prefix length; clamp for a hand-built one.
        let max = if c.addr.is_ipv4() { 32 } else { 128 };
        IpNetwork::new(c.addr, c.prefix_len.min(max)).unwrap_or_else(|_| IpNetwork::from(c.addr))
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpCidr {
    type Err = String;
    /// `A/LEN` with an explicit length: ipnetwork alone would read a bare
    /// address as a host route, which is never what an interface wants.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = || format!("address with prefix length A/LEN expected, got {s:?}");
        let (addr, len) = s.split_once('/').ok_or_else(expected)?;
        let addr = addr.parse::<IpAddr>().map_err(|_| expected())?;
        let len = len.parse::<u8>().map_err(|_| expected())?;
        IpCidr::new(addr, len)
    }
}

/// Parses a MAC `aa:bb:cc:dd:ee:ff` and refuses the all-zero and multicast
/// MACs, which can never be a container's unicast address.
pub fn parse_unicast_mac(s: &str) -> Result<MacAddr, String> {
    let mac = s.parse::<MacAddr>().map_err(|e| e.to_string())?;
    if mac == MacAddr::ZERO {
        return Err(format!("{s:?} is the all-zero MAC, a unicast MAC expected"));
    }
    if mac.is_multicast() {
        return Err(format!("{s:?} is a multicast MAC, a unicast MAC expected"));
    }
    Ok(mac)
}

/// Linux `dev_valid_name`: 1..=15 bytes, not `.`/`..`, no `/`, `:` or space.
pub fn check_ifname(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 15 {
        return Err(format!(
            "interface name of 1 to 15 bytes expected, got {s:?} ({} bytes)",
            s.len()
        ));
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!(
            "{s:?} is not a valid interface name (no '/', ':' or spaces)"
        ));
    }
    Ok(s.to_string())
}

/// Serde as the display string for values parsed with a function (foreign
/// types such as [`RouteDistinguisher`] cannot implement `FromStr` here).
macro_rules! serde_text {
    ($name:ident, $ty:ty, $parse:expr) => {
        #[doc = concat!("Serde helper: `", stringify!($ty), "` as its text form.")]
        pub mod $name {
            use super::*;
            use serde::{Deserialize, Deserializer, Serializer};

            pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(v)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(d)?;
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_text!(serde_mac, MacAddr, |s| s
    .parse::<MacAddr>()
    .map_err(|e| e.to_string()));
serde_text!(serde_rd, RouteDistinguisher, parse_rd);
serde_text!(serde_rt, RouteTarget, parse_rt);
serde_text!(serde_rt_match, RtMatch, parse_rt_match);

/// Serde helper: a list of route targets as strings.
pub mod serde_rt_vec {
    use super::*;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[RouteTarget], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for rt in v {
            seq.serialize_element(&rt.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RouteTarget>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| parse_rt(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Serde helper: a list of import rules as strings.
pub mod serde_rt_match_vec {
    use super::*;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[RtMatch], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for rt in v {
            seq.serialize_element(&rt.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RtMatch>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| parse_rt_match(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Serde helper: an optional MAC as `aa:bb:cc:dd:ee:ff` or null.
pub mod serde_opt_mac {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<MacAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(mac) => s.collect_str(mac),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MacAddr>, D::Error> {
        match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
            Some(text) => text
                .parse::<MacAddr>()
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

impl serde::Serialize for IpCidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpCidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rd_forms_and_field_sizes() {
        assert_eq!(
            parse_rd("10.0.0.1:3"),
            Ok(RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                number: 3
            })
        );
        assert_eq!(
            parse_rd("65000:100000"),
            Ok(RouteDistinguisher::As2 {
                asn: 65000,
                number: 100000
            })
        );
        assert_eq!(
            parse_rd("4200000000:7"),
            Ok(RouteDistinguisher::As4 {
                asn: 4200000000,
                number: 7
            })
        );
        assert!(parse_rd("4200000000:70000")
            .unwrap_err()
            .contains("4-octet ASN"));
        assert!(parse_rd("10.0.0.1:70000")
            .unwrap_err()
            .contains("0..=65535"));
        assert!(parse_rd("10.0.0.1").is_err());
        assert!(parse_rd(":5").is_err());
        assert!(parse_rd("x:5").is_err());
        for rd in ["10.0.0.1:3", "65000:100000", "4200000000:7"] {
            assert_eq!(parse_rd(rd).map(|r| r.to_string()), Ok(rd.to_string()));
        }
    }

    #[test]
    fn rt_and_wildcard_match() {
        let any = parse_rt_match("*:10").unwrap();
        assert!(any.matches(&RouteTarget::As2 {
            asn: 65001,
            value: 10
        }));
        assert!(any.matches(&RouteTarget::As4 {
            asn: 4200000000,
            value: 10
        }));
        assert!(!any.matches(&RouteTarget::As2 {
            asn: 65001,
            value: 11
        }));
        assert!(!any.matches(&RouteTarget::Ipv4 {
            addr: Ipv4Addr::LOCALHOST,
            value: 10
        }));
        let exact = parse_rt_match("65000:10").unwrap();
        assert!(exact.matches(&RouteTarget::As2 {
            asn: 65000,
            value: 10
        }));
        assert!(!exact.matches(&RouteTarget::As2 {
            asn: 65001,
            value: 10
        }));
        assert!(parse_rt_match("*:x").is_err());
        assert!(parse_rt("*:10").is_err());
        assert_eq!(any.to_string(), "*:10");
    }

    #[test]
    fn cidr_and_mac() {
        assert_eq!(
            "10.0.0.2/24".parse::<IpCidr>().map(|c| c.to_string()),
            Ok("10.0.0.2/24".into())
        );
        assert!("10.0.0.2/33".parse::<IpCidr>().is_err());
        assert!("fd00::2/129".parse::<IpCidr>().is_err());
        assert!("fd00::2/64".parse::<IpCidr>().is_ok());
        assert!("10.0.0.2".parse::<IpCidr>().is_err());
        assert!(parse_unicast_mac("02:00:00:00:00:01").is_ok());
        assert!(parse_unicast_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_unicast_mac("00:00:00:00:00:00").is_err());
        assert!(parse_unicast_mac("02:00:00:00:00").is_err());
    }
}
