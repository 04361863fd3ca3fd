//! The system calls of planelab, as processes: iproute2 (`ip`), sysctl
//! files, daemons started in a namespace, signals to PIDs the lab started.
//!
//! What it never does: signal a process by name, or one that is not inside
//! a lab namespace or recorded in a lab's state dir (and then only after
//! checking its command line, against PID reuse).

use super::LabError;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a program, returning its stdout; a failure says the command line,
/// the exit status and stderr.
pub fn run<I, S>(prog: &str, args: I) -> Result<String, LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let line = || {
        std::iter::once(prog.to_string())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let out = Command::new(prog)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: line(),
            why: format!("cannot start: {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: line(),
            why: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// `ip ARGS...`.
pub fn ip(args: &[&str]) -> Result<String, LabError> {
    run("ip", args)
}

/// `ip -n NS ARGS...`.
pub fn ip_in(ns: &str, args: &[&str]) -> Result<String, LabError> {
    let mut a = vec!["-n", ns];
    a.extend_from_slice(args);
    run("ip", a)
}

/// Runs a program inside a namespace (`ip netns exec NS PROG ARGS`).
pub fn exec_in(ns: &str, prog: &str, args: &[&str]) -> Result<String, LabError> {
    let mut a = vec!["netns", "exec", ns, prog];
    a.extend_from_slice(args);
    run("ip", a)
}

/// Every network namespace name (`ip netns list`).
pub fn list_netns() -> Result<Vec<String>, LabError> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// PIDs of the processes in a namespace.
pub fn netns_pids(ns: &str) -> Vec<i32> {
    ip(&["netns", "pids", ns])
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// True while `pid` exists (and is not a zombie we could reap).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // state is the field after the ")" that closes the command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// The program name of a PID (`/proc/PID/comm`).
pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// SIGTERM to each PID, SIGKILL to those still alive after `grace`; reaps
/// our own children on the way (a zombie child counts as gone).
pub fn stop_pids(pids: &[i32], grace: Duration) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pids.iter().any(|&p| alive(p)) {
        reap_children();
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pid in pids {
        if alive(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    reap_children();
}

/// Reaps exited children without blocking (daemons `up` started in this
/// process, e.g. in tests).
pub fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if matches!(status, WaitStatus::StillAlive) {
            break;
        }
    }
}

/// Starts a long-running program inside `ns` in its own process group (so
/// that a Ctrl-C of planelab does not reach it), stdout and stderr to `log`.
/// Returns its PID (`ip netns exec` execs the program, so the PID is the
/// program's).
pub fn spawn_in(ns: &str, prog: &Path, args: &[&str], log: &Path) -> Result<i32, LabError> {
    use std::os::unix::process::CommandExt;
    let file = std::fs::File::create(log).map_err(|e| LabError::io(log, e))?;
    let err = file.try_clone().map_err(|e| LabError::io(log, e))?;
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .env("NO_COLOR", "1")
        .process_group(0)
        .spawn()
        .map_err(|e| LabError::Command {
            command: format!("ip netns exec {ns} {}", prog.display()),
            why: format!("cannot start: {e}"),
        })?;
    i32::try_from(child.id())
        .map_err(|_| LabError::Other(format!("pid {} out of range", child.id())))
}

/// Writes a sysctl of the namespace `ns` (`ip netns exec NS sysctl -qw`).
pub fn sysctls_in(ns: &str, settings: &[&str]) -> Result<(), LabError> {
    let mut a = vec!["-qw"];
    a.extend_from_slice(settings);
    exec_in(ns, "sysctl", &a).map(|_| ())
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Finds a program on PATH (and /usr/lib/frr, /usr/sbin, /sbin).
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/lib/frr", "/usr/sbin", "/sbin"]
                .iter()
                .map(std::path::PathBuf::from),
        )
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Runs `f` over `items` on up to `workers` threads; results in item order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut indexed: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return mine;
                        };
                        mine.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, r)| r).collect()
}

/// Runs `f` over `items` on up to `workers` threads; the first error (in
/// item order) is returned after all items ran.
pub fn parallel<T: Sync, E: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    parallel_map(items, workers, f).into_iter().collect()
}
