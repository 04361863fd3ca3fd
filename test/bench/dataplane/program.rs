//! Benchmark: install and remove N remote MAC+IP entries (one FDB
//! self+master entry and one IPv4 suppression neighbour each) through the
//! dataplane, beside `bridge -batch` + `ip -batch` doing the same in the same
//! run and the same network namespace.
//!
//! Run as root: `cargo bench -p plane-dataplane --bench program -- [N...]`
//! (default N = 10000 100000, 3 rounds each, medians reported). It creates
//! one namespace `pbench<PID>` and deletes it at the end, also on error.
//!
//! Both sides program the same kind of entries with the same flags
//! (`self master static extern_learn` FDB, `nud noarp extern_learn`
//! neighbours with a protocol) into their own VNI's devices, created by the
//! dataplane beforehand; the iproute2 side runs while the dataplane task is
//! alive (its monitor sees those notifications too).

use std::io::Write;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use plane_dataplane::netlink::NetlinkOptions;
use plane_dataplane::task::Dataplane;
use plane_dataplane::{Change, Mac, Vni, VniConfig};

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if !out.status.success() {
        return Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn mac(i: u32) -> Mac {
    let b = i.to_be_bytes();
    Mac([0x02, 0x20, b[0], b[1], b[2], b[3]])
}

fn ip(i: u32) -> IpAddr {
    let b = (0x0a00_0000u32 | i).to_be_bytes();
    IpAddr::from(b)
}

fn batch_file(lines: impl Iterator<Item = String>) -> Result<tempfile::NamedTempFile, String> {
    let mut f = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    for l in lines {
        writeln!(f, "{l}").map_err(|e| e.to_string())?;
    }
    Ok(f)
}

/// iproute2: `bridge -batch` for FDB, then `ip -batch` for neighbours.
fn iproute2(ns: &str, n: u32, add: bool) -> Result<Duration, String> {
    let vtep = "192.0.2.2";
    let fdb = batch_file((0..n).map(|i| {
        if add {
            format!(
                "fdb add {} dev vxlan20 dst {vtep} self master static extern_learn",
                mac(i)
            )
        } else {
            format!("fdb del {} dev vxlan20 self master", mac(i))
        }
    }))?;
    let neigh = batch_file((0..n).map(|i| {
        if add {
            format!(
                "neigh add {} lladdr {} dev br20 nud noarp extern_learn protocol 178",
                ip(i),
                mac(i)
            )
        } else {
            format!("neigh del {} dev br20", ip(i))
        }
    }))?;
    let fdb_path = fdb.path().to_string_lossy().into_owned();
    let neigh_path = neigh.path().to_string_lossy().into_owned();
    let t = Instant::now();
    sh(&["ip", "netns", "exec", ns, "bridge", "-batch", &fdb_path])?;
    sh(&["ip", "-n", ns, "-batch", &neigh_path])?;
    Ok(t.elapsed())
}

/// One iproute2 round: install then remove, wall and CPU time of each.
fn iproute2_round(
    ns: &str,
    n: u32,
    add: (&mut Vec<Duration>, &mut Vec<f64>),
    del: (&mut Vec<Duration>, &mut Vec<f64>),
) -> Result<(), String> {
    let c = cpu(true);
    add.0.push(iproute2(ns, n, true)?);
    add.1.push(cpu(true) - c);
    let got = count(ns, &["ip", "neigh", "show", "dev", "br20"]);
    if got != n as usize {
        return Err(format!("iproute2 installed {got} neighbours of {n}"));
    }
    let c = cpu(true);
    del.0.push(iproute2(ns, n, false)?);
    del.1.push(cpu(true) - c);
    Ok(())
}

async fn plane(dp: &Dataplane, n: u32, add: bool) -> Result<Duration, String> {
    let vni = Vni::new(10).map_err(|e| e.to_string())?;
    let vtep: IpAddr = "192.0.2.2"
        .parse()
        .map_err(|e: std::net::AddrParseError| e.to_string())?;
    let mut changes = Vec::with_capacity(2 * n as usize);
    for i in 0..n {
        if add {
            changes.push(Change::SetRemoteMac {
                vni,
                mac: mac(i),
                vtep,
            });
            changes.push(Change::SetRemoteIp {
                vni,
                ip: ip(i),
                mac: mac(i),
            });
        } else {
            changes.push(Change::RemoveRemoteMac { vni, mac: mac(i) });
            changes.push(Change::RemoveRemoteIp { vni, ip: ip(i) });
        }
    }
    let t = Instant::now();
    let r = dp.apply(changes).await.map_err(|e| e.to_string())?;
    let el = t.elapsed();
    if !r.failed.is_empty() || r.ops != 2 * n as usize {
        return Err(format!(
            "plane: {} ops, {} failed, first {:?}",
            r.ops,
            r.failed.len(),
            r.failed.first()
        ));
    }
    Ok(el)
}

fn count(ns: &str, what: &[&str]) -> usize {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(what)
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

/// CPU seconds (user + system) of this process (`self`) or of its waited-for
/// children, from /proc/self/stat (USER_HZ = 100 on Linux). The machine is
/// shared: CPU time is the comparison that other sessions' load does not
/// distort; wall time is printed too.
fn cpu(children: bool) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<i64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // rest starts at field 3 (state, not numeric, filtered): utime is field
    // 14, i.e. index 10 among the numeric fields from field 4.
    let at = |i: usize| f.get(i).copied().unwrap_or(0) as f64 / 100.0;
    if children {
        at(12) + at(13)
    } else {
        at(10) + at(11)
    }
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), String> {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    // The dataplane's warnings (overruns, failed operations) on stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let name = format!("pbench{}", std::process::id());
    sh(&["ip", "netns", "add", &name])?;
    let ns = Ns(name);
    let f = std::fs::File::open(format!("/run/netns/{}", ns.0)).map_err(|e| e.to_string())?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
    // PLANE_BENCH_THREADS=1: a current-thread runtime (default: 2 workers).
    let threads = std::env::var("PLANE_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(2);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| e.to_string())?;
    rt.block_on(async {
        // Knobs for exploring (not for the recorded numbers):
        // PLANE_BENCH_BATCH, PLANE_BENCH_IN_FLIGHT, PLANE_BENCH_NO_MONITOR,
        // PLANE_BENCH_ONLY_PLANE, PLANE_BENCH_SPLIT.
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
        let mut opts = NetlinkOptions::default();
        opts.batch = env("PLANE_BENCH_BATCH").unwrap_or(opts.batch);
        opts.in_flight = env("PLANE_BENCH_IN_FLIGHT").unwrap_or(opts.in_flight);
        opts.split = std::env::var_os("PLANE_BENCH_SPLIT").is_some();
        let (dp, mut events) = if std::env::var_os("PLANE_BENCH_NO_MONITOR").is_some() {
            let backend =
                plane_dataplane::netlink::NetlinkBackend::new(opts).map_err(|e| e.to_string())?;
            Dataplane::start(backend, None)
                .await
                .map_err(|e| e.to_string())?
        } else {
            Dataplane::start_netlink(opts)
                .await
                .map_err(|e| e.to_string())?
        };
        for v in [10u32, 20] {
            let cfg = VniConfig::new(
                Vni::new(v).map_err(|e| e.to_string())?,
                "192.0.2.1".parse().map_err(|_| "ip")?,
            );
            let r = dp.set_vni(cfg).await.map_err(|e| e.to_string())?;
            if !r.failed.is_empty() {
                return Err(format!("set_vni {v}: {:?}", r.failed));
            }
        }
        println!("| N | side | install wall s | install CPU s | remove wall s | remove CPU s |");
        println!("|---:|---|---:|---:|---:|---:|");
        let rounds = 5;
        // PLANE_BENCH_ONLY_PLANE=1: skip iproute2 (for profiling plane alone).
        let plane_only = std::env::var_os("PLANE_BENCH_ONLY_PLANE").is_some();
        for &n in &sizes {
            let (mut pa, mut pr, mut ia, mut ir) = (vec![], vec![], vec![], vec![]);
            let (mut pac, mut prc, mut iac, mut irc) = (vec![], vec![], vec![], vec![]);
            for _ in 0..rounds {
                if plane_only {
                    // Profiling aid: keeps the iproute2 columns at zero.
                    ia.push(Duration::ZERO);
                    ir.push(Duration::ZERO);
                    iac.push(0.0);
                    irc.push(0.0);
                } else {
                    iproute2_round(&ns.0, n, (&mut ia, &mut iac), (&mut ir, &mut irc))?;
                }
                let c = cpu(false);
                pa.push(plane(&dp, n, true).await?);
                pac.push(cpu(false) - c);
                let got = count(&ns.0, &["ip", "neigh", "show", "dev", "br10"]);
                if got != n as usize {
                    return Err(format!("plane installed {got} neighbours of {n}"));
                }
                let c = cpu(false);
                pr.push(plane(&dp, n, false).await?);
                prc.push(cpu(false) - c);
            }
            let (pa, pr, ia, ir) = (median(pa), median(pr), median(ia), median(ir));
            let (pac, prc, iac, irc) = (median_f(pac), median_f(prc), median_f(iac), median_f(irc));
            println!(
                "| {n} | plane | {:.3} | {pac:.2} | {:.3} | {prc:.2} |",
                pa.as_secs_f64(),
                pr.as_secs_f64()
            );
            println!(
                "| {n} | iproute2 -batch | {:.3} | {iac:.2} | {:.3} | {irc:.2} |",
                ia.as_secs_f64(),
                ir.as_secs_f64()
            );
            println!(
                "| {n} | ratio iproute2/plane | {:.2}x | {:.2}x | {:.2}x | {:.2}x |",
                ia.as_secs_f64() / pa.as_secs_f64(),
                iac / pac.max(0.01),
                ir.as_secs_f64() / pr.as_secs_f64(),
                irc / prc.max(0.01)
            );
            println!(
                "| {n} | plane entries/s (wall) | {:.0} | | {:.0} | |",
                f64::from(n) / pa.as_secs_f64(),
                f64::from(n) / pr.as_secs_f64()
            );
        }
        let mut resyncs = 0;
        while let Ok(e) = events.try_recv() {
            if matches!(e, plane_dataplane::Event::Resynced { .. }) {
                resyncs += 1;
            }
        }
        eprintln!("notification overruns answered by a resync: {resyncs}");
        Ok(())
    })
}
