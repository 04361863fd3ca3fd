//! Reads plane.toml from the spanned TOML tree (`toml::de::DeTable`) by hand,
//! so that every problem is reported with its own position and none stops the
//! others from being found: an unknown key, a value of the wrong type or out
//! of range, a missing required key, a duplicate VNI, bridge or neighbour.
//!
//! What it never does: stop at the first error (serde's derive does, which is
//! why it is not used here), or guess a value for a key it could not read.
//!
//! Invariant: `parse` returns `Ok` only when `Ctx::errors` stayed empty, so
//! every `Option` left `None` by a failed read is behind an error.

use super::values::{check_ifname, parse_rd, parse_rt, parse_rt_match, RtMatch};
use super::*;
use std::collections::HashMap;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

type Span = Range<usize>;
type Value<'i> = Spanned<DeValue<'i>>;

/// Error collector and byte offset → line:col mapper.
struct Ctx<'s> {
    text: &'s str,
    file: &'s str,
    line_starts: Vec<usize>,
    errors: Vec<(usize, ConfigError)>,
}

impl<'s> Ctx<'s> {
    fn new(text: &'s str, file: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Ctx {
            text,
            file,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line.max(1), col)
    }

    fn error(&mut self, span: &Span, key: &str, message: impl Into<String>) {
        let (line, col) = self.position(span.start);
        self.errors.push((
            span.start,
            ConfigError {
                file: self.file.to_string(),
                line,
                col,
                key: key.to_string(),
                message: message.into(),
            },
        ));
    }

    fn line_of(&self, span: &Span) -> usize {
        self.position(span.start).0
    }
}

/// A table being read: its dotted path, the keys it allows.
struct Table<'a, 'i> {
    path: String,
    map: &'a DeTable<'i>,
    span: Span,
}

impl<'a, 'i> Table<'a, 'i> {
    fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value<'i>> {
        self.map.get(name)
    }

    /// Reports every key that is not in `known`.
    fn check_keys(&self, ctx: &mut Ctx<'_>, known: &[&str]) {
        for (k, _) in self.map.iter() {
            if !known.contains(&k.get_ref().as_ref()) {
                let what = if self.path.is_empty() {
                    "top-level key"
                } else {
                    "key"
                };
                let hint = match known.iter().find(|c| edit_distance(c, k.get_ref()) <= 2) {
                    Some(close) => format!(", did you mean {close:?}?"),
                    None => String::new(),
                };
                ctx.error(
                    &k.span(),
                    &self.key(k.get_ref()),
                    format!(
                        "unknown {what}{hint} (expected one of: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    /// A required key; reports it missing at the table's position.
    fn require(&self, ctx: &mut Ctx<'_>, name: &str, why: &str) -> Option<&'a Value<'i>> {
        let v = self.get(name);
        if v.is_none() {
            ctx.error(
                &self.span,
                &self.key(name),
                format!("required key missing: {why}"),
            );
        }
        v
    }
}

/// Levenshtein distance, for "did you mean" on unknown keys (short strings).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev
                .get(j)
                .map_or(usize::MAX, |p| p + usize::from(ca != *cb));
            let insert = cur.get(j).map_or(usize::MAX, |c| c + 1);
            let delete = prev.get(j + 1).map_or(usize::MAX, |p| p + 1);
            cur.push(substitute.min(insert).min(delete));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    v.type_str()
}

fn as_table<'a, 'i>(ctx: &mut Ctx<'_>, v: &'a Value<'i>, path: &str) -> Option<Table<'a, 'i>> {
    match v.get_ref() {
        DeValue::Table(map) => Some(Table {
            path: path.to_string(),
            map,
            span: v.span(),
        }),
        other => {
            ctx.error(
                &v.span(),
                path,
                format!("table expected, got {}", type_name(other)),
            );
            None
        }
    }
}

fn as_str<'a>(ctx: &mut Ctx<'_>, v: &'a Value<'_>, key: &str) -> Option<&'a str> {
    match v.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        other => {
            ctx.error(
                &v.span(),
                key,
                format!("string expected, got {}", type_name(other)),
            );
            None
        }
    }
}

fn as_bool(ctx: &mut Ctx<'_>, v: &Value<'_>, key: &str) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        other => {
            ctx.error(
                &v.span(),
                key,
                format!("true or false expected, got {}", type_name(other)),
            );
            None
        }
    }
}

/// An integer in `min..=max`; `what` names the expected value in the error.
fn as_int(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    key: &str,
    min: u64,
    max: u64,
    what: &str,
) -> Option<u64> {
    let DeValue::Integer(i) = v.get_ref() else {
        ctx.error(
            &v.span(),
            key,
            format!("{what} expected, got {}", type_name(v.get_ref())),
        );
        return None;
    };
    match i128::from_str_radix(i.as_str(), i.radix()) {
        Ok(n) if n >= i128::from(min) && n <= i128::from(max) => u64::try_from(n).ok(),
        _ => {
            ctx.error(&v.span(), key, format!("{what} expected, got {i}"));
            None
        }
    }
}

/// A string parsed by `parse`, whose error says what was expected.
fn as_parsed<T>(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    key: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let s = as_str(ctx, v, key)?;
    match parse(s) {
        Ok(t) => Some(t),
        Err(why) => {
            ctx.error(&v.span(), key, why);
            None
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn hold_time(ctx: &mut Ctx<'_>, v: &Value<'_>, key: &str) -> Option<Duration> {
    let n = as_int(
        ctx,
        v,
        key,
        0,
        65535,
        "hold time in seconds (0, or 3..=65535)",
    )?;
    if n == 1 || n == 2 {
        // RFC 4271 section 4.2: "MUST be either zero or at least three seconds".
        ctx.error(
            &v.span(),
            key,
            format!("hold time must be 0 or at least 3 seconds (RFC 4271 4.2), got {n}"),
        );
        return None;
    }
    Some(secs(n))
}

pub(super) fn parse(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let mut ctx = Ctx::new(text, file);
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            ctx.error(
                &span,
                "toml",
                format!("syntax error: {}", e.message().trim_end()),
            );
        }
        return Err(finish(ctx));
    }
    let root = Table {
        path: String::new(),
        map: root.get_ref(),
        span: 0..0,
    };
    root.check_keys(
        &mut ctx,
        &["bgp", "underlay", "vni", "control", "log", "evpn"],
    );

    let bgp = match root.require(&mut ctx, "bgp", "[bgp] with asn and router_id") {
        Some(v) => as_table(&mut ctx, v, "bgp").and_then(|t| read_bgp(&mut ctx, &t)),
        None => None,
    };
    let underlay = match root.require(
        &mut ctx,
        "underlay",
        "[underlay] with local_ip (the VTEP address)",
    ) {
        Some(v) => as_table(&mut ctx, v, "underlay").and_then(|t| read_underlay(&mut ctx, &t)),
        None => None,
    };
    let vnis = read_vnis(&mut ctx, root.get("vni"), bgp.as_ref().map(|(b, _)| b));
    let control = match root.get("control") {
        Some(v) => as_table(&mut ctx, v, "control").and_then(|t| read_control(&mut ctx, &t)),
        None => Some(ControlConfig {
            socket: PathBuf::from(DEFAULT_SOCKET_PATH),
            group: None,
        }),
    };
    let log = match root.get("log") {
        Some(v) => as_table(&mut ctx, v, "log").and_then(|t| read_log(&mut ctx, &t)),
        None => Some(LogConfig {
            level: "info".into(),
        }),
    };

    let evpn = match root.get("evpn") {
        Some(v) => as_table(&mut ctx, v, "evpn").and_then(|t| read_evpn(&mut ctx, &t)),
        None => Some(EvpnConfig::default()),
    };

    match (bgp, underlay, vnis, control, log, evpn) {
        (
            Some((bgp, neighbors)),
            Some(underlay),
            Some(vnis),
            Some(control),
            Some(log),
            Some(evpn),
        ) if ctx.errors.is_empty() => Ok(Config {
            bgp,
            neighbors,
            underlay,
            vnis,
            control,
            log,
            evpn,
        }),
        _ => Err(finish(ctx)),
    }
}

fn finish(mut ctx: Ctx<'_>) -> ConfigErrors {
    ctx.errors.sort_by_key(|(offset, _)| *offset);
    ConfigErrors(ctx.errors.into_iter().map(|(_, e)| e).collect())
}

fn read_bgp(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<(BgpConfig, Vec<NeighborConfig>)> {
    t.check_keys(
        ctx,
        &[
            "asn",
            "router_id",
            "listen",
            "hold_time",
            "keepalive",
            "connect_retry",
            "graceful_restart",
            "cluster_id",
            "neighbor",
        ],
    );
    let asn = t
        .require(ctx, "asn", "the local AS number")
        .and_then(|v| read_asn(ctx, v, &t.key("asn")));
    let router_id = t
        .require(ctx, "router_id", "the BGP Identifier, an IPv4 address")
        .and_then(|v| as_parsed(ctx, v, &t.key("router_id"), parse_router_id));
    let listen = match t.get("listen") {
        Some(v) => as_parsed(ctx, v, &t.key("listen"), |s| {
            s.parse::<SocketAddr>().map_err(|_| {
                format!("address:port expected (\"0.0.0.0:179\", \"[::]:179\"), got {s:?}")
            })
        }),
        None => Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 179))),
    };
    let hold = match t.get("hold_time") {
        Some(v) => hold_time(ctx, v, &t.key("hold_time")),
        None => Some(secs(90)),
    };
    let keepalive = match (t.get("keepalive"), hold) {
        (Some(v), hold) => {
            let key = t.key("keepalive");
            let k = as_int(ctx, v, &key, 0, 21845, "keepalive in seconds (0..=21845)").map(secs);
            if let (Some(k), Some(h)) = (k, hold) {
                if !h.is_zero() && k >= h {
                    ctx.error(
                        &v.span(),
                        &key,
                        format!(
                            "keepalive ({}s) must be less than hold_time ({}s)",
                            k.as_secs(),
                            h.as_secs()
                        ),
                    );
                }
            }
            k
        }
        // A third of the hold time (RFC 4271 section 10), at most 30 s.
        (None, Some(h)) => Some(secs((h.as_secs() / 3).min(30))),
        (None, None) => None,
    };
    let connect_retry = match t.get("connect_retry") {
        Some(v) => as_int(
            ctx,
            v,
            &t.key("connect_retry"),
            1,
            65535,
            "seconds (1..=65535)",
        )
        .map(secs),
        None => Some(secs(5)),
    };
    let (graceful_restart, select_defer_time) = match t.get("graceful_restart") {
        Some(v) => match as_table(ctx, v, &t.key("graceful_restart")).map(|gr| read_gr(ctx, &gr)) {
            Some((gr, defer)) => (Some(gr), defer),
            None => (None, None),
        },
        None => (
            Some(Some(GracefulRestart {
                restart_time: secs(120),
                stale_time: secs(360),
            })),
            Some(secs(120)),
        ),
    };
    let cluster_id = match t.get("cluster_id") {
        Some(v) => as_parsed(ctx, v, &t.key("cluster_id"), |s| {
            s.parse::<Ipv4Addr>()
                .map(Some)
                .map_err(|_| format!("cluster id must be an IPv4 address (RFC 4456), got {s:?}"))
        }),
        None => Some(None),
    };
    let neighbors = read_neighbors(ctx, t, asn);
    let bgp = BgpConfig {
        asn: asn?,
        router_id: router_id?,
        listen: listen?,
        hold_time: hold?,
        keepalive: keepalive?,
        connect_retry: connect_retry?,
        graceful_restart: graceful_restart?,
        select_defer_time: select_defer_time?,
        cluster_id: cluster_id?,
    };
    Some((bgp, neighbors?))
}

fn read_evpn(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<EvpnConfig> {
    t.check_keys(ctx, &["duplicate_mac"]);
    let duplicate_mac = match t.get("duplicate_mac") {
        Some(v) => as_table(ctx, v, &t.key("duplicate_mac")).map(|d| read_duplicate_mac(ctx, &d)),
        None => Some(Some(DuplicateMacDetection::default())),
    };
    Some(EvpnConfig {
        duplicate_mac: duplicate_mac?,
    })
}

/// `[evpn.duplicate_mac]`: the bounds are FRR's (`dup-addr-detection
/// max-moves 2-1000 time 2-1800`), so a setting copied from FRR means the same.
fn read_duplicate_mac(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<DuplicateMacDetection> {
    t.check_keys(ctx, &["enabled", "max_moves", "window"]);
    let enabled = match t.get("enabled") {
        Some(v) => as_bool(ctx, v, &t.key("enabled")),
        None => Some(true),
    };
    let max_moves = match t.get("max_moves") {
        Some(v) => as_int(ctx, v, &t.key("max_moves"), 2, 1000, "moves (2..=1000)")
            .and_then(|n| u32::try_from(n).ok()),
        None => Some(5),
    };
    let window = match t.get("window") {
        Some(v) => as_int(ctx, v, &t.key("window"), 2, 1800, "seconds (2..=1800)").map(secs),
        None => Some(secs(180)),
    };
    let d = DuplicateMacDetection {
        max_moves: max_moves?,
        window: window?,
    };
    enabled?.then_some(d)
}

fn read_asn(ctx: &mut Ctx<'_>, v: &Value<'_>, key: &str) -> Option<u32> {
    let n = as_int(
        ctx,
        v,
        key,
        1,
        u64::from(u32::MAX),
        "AS number 1..=4294967295",
    )?;
    if n == 23456 {
        ctx.error(
            &v.span(),
            key,
            "23456 is AS_TRANS (RFC 6793), not a real AS number",
        );
        return None;
    }
    u32::try_from(n).ok()
}

fn parse_router_id(s: &str) -> Result<Ipv4Addr, String> {
    match s.parse::<Ipv4Addr>() {
        Ok(id) if id.is_unspecified() => Err("router-id must not be 0.0.0.0 (RFC 6286)".into()),
        Ok(id) => Ok(id),
        Err(_) => Err(format!(
            "router-id must be an IPv4 address (the BGP Identifier), got {s:?}"
        )),
    }
}

/// `[bgp.graceful_restart]`: the capability (`None` when disabled), and
/// the selection deferral bound resolved (`None` when a key was wrong).
fn read_gr(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> (Option<GracefulRestart>, Option<Duration>) {
    t.check_keys(
        ctx,
        &["enabled", "restart_time", "stale_time", "select_defer_time"],
    );
    let enabled = match t.get("enabled") {
        Some(v) => as_bool(ctx, v, &t.key("enabled")),
        None => Some(true),
    };
    // The Restart Time field of the capability is 12 bits (RFC 4724 section 3).
    let restart_time = match t.get("restart_time") {
        Some(v) => as_int(
            ctx,
            v,
            &t.key("restart_time"),
            0,
            4095,
            "seconds (0..=4095, a 12-bit field)",
        )
        .map(secs),
        None => Some(secs(120)),
    };
    let stale_time = match t.get("stale_time") {
        Some(v) => as_int(
            ctx,
            v,
            &t.key("stale_time"),
            1,
            65535,
            "seconds (1..=65535)",
        )
        .map(secs),
        None => Some(secs(360)),
    };
    // The range of FRR's `bgp graceful-restart select-defer-time`; 0 ends
    // the start-up window at once, as `restart_time = 0` does by default.
    let select_defer_time = match t.get("select_defer_time") {
        Some(v) => as_int(
            ctx,
            v,
            &t.key("select_defer_time"),
            0,
            3600,
            "seconds (0..=3600)",
        )
        .map(secs),
        // The restart time: what the peers give us to come back is what we
        // give them; 60 s when no restart time is advertised.
        None => match (enabled, restart_time) {
            (Some(true), Some(r)) => Some(r),
            (Some(false), _) => Some(secs(60)),
            _ => None,
        },
    };
    let gr = match (enabled, restart_time, stale_time) {
        (Some(enabled), Some(restart_time), Some(stale_time)) => {
            enabled.then_some(GracefulRestart {
                restart_time,
                stale_time,
            })
        }
        _ => None,
    };
    (gr, select_defer_time)
}

fn read_neighbors(
    ctx: &mut Ctx<'_>,
    bgp: &Table<'_, '_>,
    local_asn: Option<u32>,
) -> Option<Vec<NeighborConfig>> {
    let Some(v) = bgp.get("neighbor") else {
        return Some(Vec::new());
    };
    let key = bgp.key("neighbor");
    let DeValue::Array(items) = v.get_ref() else {
        ctx.error(
            &v.span(),
            &key,
            "array of tables expected ([[bgp.neighbor]])",
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    let mut seen: HashMap<IpAddr, Span> = HashMap::new();
    for item in items.iter() {
        let Some(t) = as_table(ctx, item, &key) else {
            ok = false;
            continue;
        };
        match read_neighbor(ctx, &t, local_asn, &mut seen) {
            Some(n) => out.push(n),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn read_neighbor(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    local_asn: Option<u32>,
    seen: &mut HashMap<IpAddr, Span>,
) -> Option<NeighborConfig> {
    t.check_keys(
        ctx,
        &[
            "address",
            "remote_asn",
            "password",
            "route_reflector_client",
            "passive",
            "port",
            "hold_time",
            "description",
        ],
    );
    let address = t
        .require(ctx, "address", "the peer's IP address")
        .and_then(|v| {
            let a = as_parsed(ctx, v, &t.key("address"), |s| {
                s.parse::<IpAddr>().map_err(|_| {
                    format!("IP address expected (no prefix length, no port), got {s:?}")
                })
            })?;
            if let Some(first) = seen.get(&a) {
                let line = ctx.line_of(first);
                ctx.error(
                    &v.span(),
                    &t.key("address"),
                    format!("duplicate neighbor {a} (first defined on line {line})"),
                );
                return None;
            }
            seen.insert(a, v.span());
            Some(a)
        });
    let remote_asn = t
        .require(ctx, "remote_asn", "the peer's AS number")
        .and_then(|v| read_asn(ctx, v, &t.key("remote_asn")));
    let password = match t.get("password") {
        Some(v) => as_parsed(ctx, v, &t.key("password"), |s| {
            // TCP_MD5SIG_MAXKEYLEN in linux/tcp.h.
            if s.is_empty() || s.len() > 80 {
                Err(format!(
                    "TCP-MD5 password of 1 to 80 bytes expected, got {} bytes",
                    s.len()
                ))
            } else {
                Ok(Some(s.to_string()))
            }
        }),
        None => Some(None),
    };
    let rr_client = match t.get("route_reflector_client") {
        Some(v) => {
            let b = as_bool(ctx, v, &t.key("route_reflector_client"));
            if let (Some(true), Some(local), Some(remote)) = (b, local_asn, remote_asn) {
                if local != remote {
                    ctx.error(
                        &v.span(),
                        &t.key("route_reflector_client"),
                        format!("route reflection is iBGP only (RFC 4456): remote_asn {remote} is not the local AS {local}"),
                    );
                    return None;
                }
            }
            b
        }
        None => Some(false),
    };
    let passive = match t.get("passive") {
        Some(v) => as_bool(ctx, v, &t.key("passive")),
        None => Some(false),
    };
    let port = match t.get("port") {
        Some(v) => as_int(ctx, v, &t.key("port"), 1, 65535, "TCP port 1..=65535")
            .and_then(|p| u16::try_from(p).ok()),
        None => Some(179),
    };
    let hold = match t.get("hold_time") {
        Some(v) => hold_time(ctx, v, &t.key("hold_time")).map(Some),
        None => Some(None),
    };
    let description = match t.get("description") {
        Some(v) => as_str(ctx, v, &t.key("description")).map(|s| Some(s.to_string())),
        None => Some(None),
    };
    Some(NeighborConfig {
        address: address?,
        remote_asn: remote_asn?,
        password: password?,
        route_reflector_client: rr_client?,
        passive: passive?,
        port: port?,
        hold_time: hold?,
        description: description?,
    })
}

fn read_underlay(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<UnderlayConfig> {
    t.check_keys(ctx, &["local_ip", "vxlan_port", "mtu"]);
    let local_ip = t
        .require(ctx, "local_ip", "the VTEP source address (IPv4 or IPv6)")
        .and_then(|v| {
            as_parsed(ctx, v, &t.key("local_ip"), |s| match s.parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                    Err(format!("a unicast VTEP address expected, got {s:?}"))
                }
                Ok(ip) => Ok(ip),
                Err(_) => Err(format!("IP address expected (no prefix length), got {s:?}")),
            })
        });
    let vxlan_port = match t.get("vxlan_port") {
        Some(v) => as_int(ctx, v, &t.key("vxlan_port"), 1, 65535, "UDP port 1..=65535")
            .and_then(|p| u16::try_from(p).ok()),
        None => Some(4789),
    };
    let mtu = match t.get("mtu") {
        Some(v) => as_int(ctx, v, &t.key("mtu"), 68, 65535, "MTU 68..=65535")
            .and_then(|m| u32::try_from(m).ok()),
        None => Some(1450),
    };
    Some(UnderlayConfig {
        local_ip: local_ip?,
        vxlan_port: vxlan_port?,
        mtu: mtu?,
    })
}

/// What `read_vni` could read before the RD is derived.
struct VniDraft {
    id: u32,
    bridge: String,
    vxlan: String,
    rd: Option<(RouteDistinguisher, Span)>,
    import: Vec<Option<RtMatch>>,
    export: Vec<Option<RouteTarget>>,
    bum: BumMode,
}

fn read_vnis(
    ctx: &mut Ctx<'_>,
    v: Option<&Value<'_>>,
    bgp: Option<&BgpConfig>,
) -> Option<Vec<VniConfig>> {
    let Some(v) = v else {
        return Some(Vec::new());
    };
    let DeValue::Array(items) = v.get_ref() else {
        ctx.error(&v.span(), "vni", "array of tables expected ([[vni]])");
        return None;
    };
    let mut ok = true;
    let mut ids: HashMap<u32, Span> = HashMap::new();
    let mut names: HashMap<String, Span> = HashMap::new();
    let mut rds: HashMap<RouteDistinguisher, Span> = HashMap::new();
    let mut out = Vec::new();
    for (pos, item) in items.iter().enumerate() {
        let Some(t) = as_table(ctx, item, "vni") else {
            ok = false;
            continue;
        };
        let Some(draft) = read_vni(ctx, &t, &mut ids, &mut names) else {
            ok = false;
            continue;
        };
        let Some(bgp) = bgp else {
            // Without [bgp] nothing auto can be derived; that error is reported.
            ok = false;
            continue;
        };
        let rd = match draft.rd.clone() {
            Some((rd, span)) => Some((rd, false, span)),
            None => match u16::try_from(pos + 1) {
                Ok(number) => Some((
                    RouteDistinguisher::Ipv4 {
                        addr: bgp.router_id,
                        number,
                    },
                    true,
                    t.span.clone(),
                )),
                Err(_) => {
                    ctx.error(&t.span, "vni.rd", "more than 65535 VNIs: set rd explicitly");
                    None
                }
            },
        };
        let Some((rd, rd_auto, rd_span)) = rd else {
            ok = false;
            continue;
        };
        if let Some(first) = rds.get(&rd) {
            let line = ctx.line_of(first);
            ctx.error(
                &rd_span,
                "vni.rd",
                format!("duplicate route distinguisher {rd} (also used on line {line})"),
            );
            ok = false;
        } else {
            rds.insert(rd, rd_span);
        }
        let auto = Config::auto_rt(bgp.asn, draft.id);
        let import_rt = draft
            .import
            .iter()
            .map(|m| m.unwrap_or(RtMatch::Exact(auto)))
            .collect();
        let export_rt = draft.export.iter().map(|rt| rt.unwrap_or(auto)).collect();
        out.push(VniConfig {
            id: draft.id,
            bridge: draft.bridge,
            vxlan: draft.vxlan,
            rd,
            rd_auto,
            import_rt,
            export_rt,
            bum: draft.bum,
        });
    }
    ok.then_some(out)
}

/// Reads one `[[vni]]`; `None` in the RT lists stands for `"auto"`.
fn read_vni(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    ids: &mut HashMap<u32, Span>,
    names: &mut HashMap<String, Span>,
) -> Option<VniDraft> {
    t.check_keys(
        ctx,
        &[
            "id",
            "bridge",
            "vxlan",
            "rd",
            "import_rt",
            "export_rt",
            "bum",
        ],
    );
    let id = t.require(ctx, "id", "the VNI, 1..=16777215").and_then(|v| {
        let n = as_int(ctx, v, "vni.id", 1, u64::from(MAX_VNI), "24-bit VNI")?;
        let id = u32::try_from(n).ok()?;
        if let Some(first) = ids.get(&id) {
            let line = ctx.line_of(first);
            ctx.error(
                &v.span(),
                "vni.id",
                format!("duplicate VNI {id} (first defined on line {line})"),
            );
            return None;
        }
        ids.insert(id, v.span());
        Some(id)
    });
    let mut name = |key: &str, default: Option<String>| -> Option<String> {
        let (value, span) = match t.get(key) {
            Some(v) => (as_parsed(ctx, v, &t.key(key), check_ifname)?, v.span()),
            None => (default?, t.span.clone()),
        };
        if let Some(first) = names.get(&value) {
            let line = ctx.line_of(first);
            ctx.error(
                &span,
                &t.key(key),
                format!("interface {value} is already used on line {line}"),
            );
            return None;
        }
        names.insert(value.clone(), span);
        Some(value)
    };
    let bridge = name("bridge", id.map(|id| format!("br{id}")));
    let vxlan = name("vxlan", id.map(|id| format!("vxlan{id}")));
    let rd = match t.get("rd") {
        Some(v) => match as_str(ctx, v, "vni.rd") {
            Some("auto") => Some(None),
            Some(s) => match parse_rd(s) {
                Ok(rd) => Some(Some((rd, v.span()))),
                Err(why) => {
                    ctx.error(&v.span(), "vni.rd", format!("{why} (or \"auto\")"));
                    None
                }
            },
            None => None,
        },
        None => Some(None),
    };
    let import = rt_list(ctx, t, "import_rt", parse_rt_match);
    let export = rt_list(ctx, t, "export_rt", parse_rt);
    let bum = match t.get("bum") {
        Some(v) => as_parsed(ctx, v, "vni.bum", |s| match s {
            "suppress" => Ok(BumMode::Suppress),
            "flood" => Ok(BumMode::Flood),
            "proxy" => Ok(BumMode::Proxy),
            _ => Err(format!(
                "\"suppress\", \"flood\" or \"proxy\" expected, got {s:?}"
            )),
        }),
        None => Some(BumMode::Suppress),
    };
    Some(VniDraft {
        id: id?,
        bridge: bridge?,
        vxlan: vxlan?,
        rd: rd?,
        import: import?,
        export: export?,
        bum: bum?,
    })
}

/// A route target list: a string or an array of strings, each `"auto"`
/// (returned as `None`) or parsed by `parse`. Absent means `["auto"]`.
fn rt_list<T>(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    key: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Option<Vec<Option<T>>> {
    let full = t.key(key);
    let Some(v) = t.get(key) else {
        return Some(vec![None]);
    };
    let items: Vec<&Value<'_>> = match v.get_ref() {
        DeValue::String(_) => vec![v],
        DeValue::Array(a) => a.iter().collect(),
        other => {
            ctx.error(
                &v.span(),
                &full,
                format!("array of route targets expected, got {}", type_name(other)),
            );
            return None;
        }
    };
    if items.is_empty() {
        ctx.error(
            &v.span(),
            &full,
            "at least one route target expected (or [\"auto\"])",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match as_str(ctx, item, &full) {
            Some("auto") => out.push(None),
            Some(s) => match parse(s) {
                Ok(rt) => out.push(Some(rt)),
                Err(why) => {
                    ctx.error(&item.span(), &full, format!("{why} (or \"auto\")"));
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn read_control(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<ControlConfig> {
    t.check_keys(ctx, &["socket", "group"]);
    let socket = match t.get("socket") {
        Some(v) => as_parsed(ctx, v, &t.key("socket"), |s| {
            if s.starts_with('/') {
                Ok(PathBuf::from(s))
            } else {
                Err(format!("absolute path expected, got {s:?}"))
            }
        }),
        None => Some(PathBuf::from(DEFAULT_SOCKET_PATH)),
    };
    let group = match t.get("group") {
        Some(v) => as_parsed(ctx, v, &t.key("group"), |s| {
            if s.is_empty() {
                Err("group name expected, got an empty string".to_string())
            } else {
                Ok(Some(s.to_string()))
            }
        }),
        None => Some(None),
    };
    Some(ControlConfig {
        socket: socket?,
        group: group?,
    })
}

fn read_log(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<LogConfig> {
    t.check_keys(ctx, &["level"]);
    let level = match t.get("level") {
        Some(v) => {
            as_parsed(ctx, v, &t.key("level"), |s| {
                tracing_subscriber::EnvFilter::builder()
                .parse(s)
                .map(|_| s.to_string())
                .map_err(|e| format!("a level (error, warn, info, debug, trace) or tracing filter expected: {e}"))
            })
        }
        None => Some("info".to_string()),
    };
    Some(LogConfig { level: level? })
}
