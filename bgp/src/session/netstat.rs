//! The kernel's TCP-MD5 counters (`TcpExt: TCPMD5NotFound TCPMD5Unexpected
//! TCPMD5Failure`, what `nstat` shows) from `/proc/net/netstat` of the
//! calling thread's network namespace.
//!
//! A wrong or missing TCP-MD5 key makes the kernel drop segments silently;
//! these counters are the only trace, so the session driver logs them when a
//! session with a password does not come up. Read-only; a missing or odd
//! file yields no counters, never an error.

/// `(name, value)` of every `TcpExt` counter whose name starts with `TCPMD5`.
pub fn md5_counters() -> Vec<(String, u64)> {
    std::fs::read_to_string("/proc/net/netstat")
        .map(|text| parse_md5_counters(&text))
        .unwrap_or_default()
}

/// Parses the two `TcpExt:` lines (names, then values) of /proc/net/netstat.
pub fn parse_md5_counters(text: &str) -> Vec<(String, u64)> {
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
        .filter(|(n, _)| n.starts_with("TCPMD5"))
        .filter_map(|(n, v)| v.parse().ok().map(|v| (n.to_string(), v)))
        .collect()
}

/// The counters as one log-friendly string, e.g. `TCPMD5NotFound=3 TCPMD5Failure=0`.
pub fn md5_counters_line() -> String {
    let c = md5_counters();
    if c.is_empty() {
        return "no TcpExt TCPMD5* counters in /proc/net/netstat".into();
    }
    c.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcpext_md5_counters() {
        let text = "TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure\n\
                    TcpExt: 0 3 1 7\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(
            parse_md5_counters(text),
            vec![
                ("TCPMD5NotFound".into(), 3),
                ("TCPMD5Unexpected".into(), 1),
                ("TCPMD5Failure".into(), 7)
            ]
        );
        assert!(parse_md5_counters("garbage").is_empty());
    }
}
