//! plane's test harness: what kernel, interop and end-to-end tests share.
//!
//! - [`Netns`]: a network namespace that the test creates and that is always
//!   deleted on drop (also while a failing test unwinds). Names carry the test
//!   process's PID (`pt<PID>-<tag>`), so [`sweep_stale`] can remove what a
//!   killed test run left behind without touching anyone else's namespaces.
//! - [`Child`]: a process the test started, killed by PID on drop.
//! - [`poll_until`]: wait for a condition with a deadline; tests never sleep to
//!   synchronise.
//! - [`require_root!`]: a kernel test on a machine without root prints why it
//!   skips; under CI (`CI` set) a missing privilege is a failure, never a silent
//!   pass.
//!
//! It never touches the host namespace's links or routes, and never signals a
//! process it did not start.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod e2e;
pub mod peers;
pub mod replay;
pub mod topo;

/// Error type of the harness: a message saying what failed and why.
pub type Error = String;
pub type Result<T> = std::result::Result<T, Error>;

/// True when the process runs as root (kernel tests need CAP_NET_ADMIN).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Why kernel tests cannot run here, or `None` when they can.
pub fn kernel_skip_reason() -> Option<String> {
    if !is_root() {
        return Some("needs root (CAP_NET_ADMIN) to create network namespaces".into());
    }
    if which("ip").is_none() {
        return Some("needs iproute2 (`ip`) on PATH".into());
    }
    None
}

/// Skip a kernel test with a message when it cannot run here; under CI
/// (`CI` set in the environment) the missing privilege fails the test instead.
#[macro_export]
macro_rules! require_root {
    () => {
        if let Some(why) = $crate::kernel_skip_reason() {
            if std::env::var_os("CI").is_some() {
                panic!("kernel test cannot run under CI: {why}");
            }
            eprintln!("SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// Skip a test that needs an external program (gobgpd, bgpd, tcpdump...);
/// under CI a missing program is a failure.
#[macro_export]
macro_rules! require_program {
    ($prog:expr) => {
        if $crate::which($prog).is_none() {
            let why = format!("needs `{}` on PATH (see .ci/run for the packages)", $prog);
            if std::env::var_os("CI").is_some() {
                panic!("test cannot run under CI: {why}");
            }
            eprintln!("SKIPPED {}: {}", module_path!(), why);
            return;
        }
    };
}

/// Finds a program on PATH (and in /usr/lib/frr, /usr/sbin, /sbin).
pub fn which(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return p.exists().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/lib/frr", "/usr/sbin", "/sbin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Polls `f` until it returns `Some`, or fails after `timeout` with the last
/// description `what` of what was awaited.
pub fn poll_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Runs a command, returning stdout on success and a descriptive error
/// (command line, status, stderr) otherwise.
pub fn run<I, S>(prog: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = Command::new(prog)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{prog}: cannot start: {e}"))?;
    check_output(prog, &args, out)
}

fn check_output(prog: &str, args: &[std::ffi::OsString], out: Output) -> Result<String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{} {}` failed ({}): {}{}",
            prog,
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// Runs a shell line with `sh -c` (for iproute2 one-liners in tests).
pub fn sh(line: &str) -> Result<String> {
    run("sh", ["-c", line])
}

static NS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Prefix of every namespace this harness creates.
pub const NS_PREFIX: &str = "pt";

/// A network namespace owned by the test; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `pt<PID>-<tag><n>` with loopback up. `tag` should be short:
    /// the name is also used to derive interface names in some tests.
    pub fn new(tag: &str) -> Result<Netns> {
        sweep_stale();
        let n = NS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NS_PREFIX}{}-{tag}{n}", std::process::id());
        run("ip", ["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`: the path that `setns` and `--netns PATH` take.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Runs `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut a = vec!["-n", &self.name];
        a.extend_from_slice(args);
        run("ip", a)
    }

    /// Runs a program inside the namespace and waits for it.
    pub fn exec<I, S>(&self, prog: &str, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut a: Vec<std::ffi::OsString> = vec![
            "netns".into(),
            "exec".into(),
            self.name.clone().into(),
            prog.into(),
        ];
        a.extend(args.into_iter().map(|s| s.as_ref().to_owned()));
        run("ip", a)
    }

    /// Runs a shell line inside the namespace.
    pub fn sh(&self, line: &str) -> Result<String> {
        self.exec("sh", ["-c", line])
    }

    /// A `Command` that will run `prog` inside the namespace; spawn it with
    /// [`Child::spawn`] so that it is killed when the test ends.
    pub fn command(&self, prog: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog);
        c
    }

    /// PIDs of every process whose network namespace is this one.
    pub fn pids(&self) -> Vec<u32> {
        run("ip", ["netns", "pids", &self.name])
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_netns(&self.name);
    }
}

fn delete_netns(name: &str) {
    // Only processes this test process started can live in a namespace it
    // created (the name carries our PID); their guards have normally killed
    // them already. Anything left is a child of ours that escaped a guard.
    let pids = run("ip", ["netns", "pids", name]).unwrap_or_default();
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = run("ip", ["netns", "del", name]);
}

/// Removes `pt<PID>-*` namespaces whose test process is gone (a killed run).
pub fn sweep_stale() {
    let Ok(list) = run("ip", ["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            delete_netns(name);
        }
    }
}

/// Creates a veth pair between two namespaces, names `a_if` in `a`, `b_if` in `b`.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
    run(
        "ip",
        [
            "link",
            "add",
            a_if,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name(),
        ],
    )?;
    Ok(())
}

/// A process started by the test: SIGTERM on drop, SIGKILL if it has not
/// exited within a second, then reaped. Only this PID is ever signalled.
#[derive(Debug)]
pub struct Child {
    inner: Option<std::process::Child>,
    what: String,
}

impl Child {
    pub fn spawn(mut cmd: Command, what: &str) -> Result<Child> {
        let inner = cmd
            .spawn()
            .map_err(|e| format!("{what}: cannot start: {e}"))?;
        Ok(Child {
            inner: Some(inner),
            what: what.to_string(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.inner.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends a signal to this process only.
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig)
            .map_err(|e| format!("{}: kill {sig}: {e}", self.what))
    }

    /// Kills with SIGKILL and reaps.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.inner.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        match self.inner.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits for exit up to `timeout`; returns the exit status.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let what = self.what.clone();
        let c = self
            .inner
            .as_mut()
            .ok_or_else(|| format!("{what}: already reaped"))?;
        poll_until(&format!("{what} to exit"), timeout, || {
            c.try_wait().ok().flatten()
        })
    }

    /// Gracefully stops: SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut c) = self.inner.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

/// Path of a binary built by this workspace (planed, planectl, plane-cni,
/// planelab), next to the test executable's `deps/` directory.
pub fn workspace_bin(name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// A free TCP port on loopback, for listeners in tests that run in the host
/// namespace (unit-level driver tests). Kernel tests use namespaces instead.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_until_returns_value_and_times_out() {
        let mut n = 0;
        let v = poll_until("n to reach 3", Duration::from_secs(1), || {
            n += 1;
            (n >= 3).then_some(n)
        });
        assert_eq!(v, Ok(3));
        let e = poll_until::<()>("never", Duration::from_millis(20), || None).unwrap_err();
        assert!(e.contains("never"), "{e}");
    }

    #[test]
    fn netns_is_created_and_removed() {
        require_root!();
        let name;
        {
            let ns = Netns::new("h").expect("netns");
            name = ns.name().to_string();
            assert!(ns.path().exists());
            let out = ns.ip(&["-o", "link", "show", "lo"]).expect("ip link");
            assert!(out.contains("UP") || out.contains("UNKNOWN"), "{out}");
        }
        assert!(
            !Path::new("/run/netns").join(&name).exists(),
            "namespace {name} left behind"
        );
    }
}
