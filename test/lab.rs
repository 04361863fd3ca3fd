//! planelab end to end: `up`, `check` and `down` of every topology in
//! topologies/ through the planelab binary (as a user runs it), with
//! planed, planectl and the third-party daemons for real, in namespaces.
//!
//! Each test asserts that `down` leaves no namespace, process or state dir
//! behind; that `up` after a killed `up` recovers; and that faults (a killed
//! planed, a cut underlay link, a stopped container) make `check` fail while
//! they last and pass again after recovery.
//!
//! Labs are run one at a time (a lock): they share the machine's neighbour
//! table and its 2 cores. The scale topology runs here at a reduced size
//! (3 hosts x 20 containers); the full size is a bench (test/bench/lab/).

use plane_test::{poll_until, require_program, require_root, workspace_bin};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

fn topology(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(format!("{name}.toml"))
}

fn planelab(args: &[&str]) -> Output {
    Command::new(workspace_bin("planelab"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("planelab {args:?}: cannot start: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Namespaces whose name carries the lab's prefix.
fn lab_namespaces(lab: &str) -> Vec<String> {
    let list = plane_test::run("ip", ["netns", "list"]).unwrap_or_default();
    let prefix = format!("plab.{lab}.");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// PIDs of processes whose command line names the lab's state dir (every
/// daemon of a lab gets its config from there).
fn lab_processes(lab: &str) -> Vec<String> {
    let needle = format!("/run/planelab/{lab}/");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// Removes the lab (also when a test failed half-way) and asserts that
/// nothing is left.
struct LabGuard {
    lab: String,
    file: PathBuf,
}

impl LabGuard {
    fn new(lab: &str, file: &Path) -> LabGuard {
        LabGuard {
            lab: lab.to_string(),
            file: file.to_path_buf(),
        }
    }

    fn down_and_assert_clean(&self) {
        let f = self.file.to_string_lossy().to_string();
        let o = planelab(&["down", &f]);
        assert!(o.status.success(), "down failed: {}", text(&o));
        assert_nothing_left(&self.lab);
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = planelab(&["down", "--lab", &self.lab]);
    }
}

fn assert_nothing_left(lab: &str) {
    let ns = lab_namespaces(lab);
    assert!(ns.is_empty(), "down left namespaces: {ns:?}");
    let procs = lab_processes(lab);
    assert!(procs.is_empty(), "down left processes: {procs:?}");
    let dir = Path::new("/run/planelab").join(lab);
    assert!(!dir.exists(), "down left {}", dir.display());
}

fn up(file: &Path) {
    let f = file.to_string_lossy().to_string();
    let o = planelab(&["up", &f]);
    assert!(o.status.success(), "up failed: {}", text(&o));
    // One progress line per step.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("[1/9] leftovers") && err.contains("[9/9] bgp sessions"),
        "{err}"
    );
}

/// `check --json`: (exit code 0, report).
fn check(file: &Path) -> (bool, serde_json::Value) {
    let f = file.to_string_lossy().to_string();
    let o = planelab(&["check", "--json", &f]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("check --json is not JSON ({e}): {}", text(&o)));
    let ok = report.get("ok").and_then(|v| v.as_bool());
    assert_eq!(
        Some(o.status.success()),
        ok,
        "exit code and report disagree: {}",
        text(&o)
    );
    (o.status.success(), report)
}

/// Polls `check` until it passes (recovery after a fault).
fn check_passes_within(file: &Path, timeout: Duration) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let r = poll_until("check to pass", timeout, || {
        let (ok, report) = check(file);
        last = report.clone();
        ok.then_some(report)
    });
    r.unwrap_or_else(|e| panic!("{e}; last report: {last:#}"))
}

/// Every claim of a passing report, asserted one by one (the exit code
/// alone would hide an empty report).
fn assert_report_proves_claims(report: &serde_json::Value, want_cross_vni: bool) {
    let probes = report["probes"].as_array().cloned().unwrap_or_default();
    let same = probes.iter().filter(|p| p["kind"] == "same-vni").count();
    assert!(same > 0, "no same-VNI pair tested: {report:#}");
    let cross = probes.iter().filter(|p| p["kind"] != "same-vni").count();
    assert_eq!(cross > 0, want_cross_vni, "cross-VNI pairs: {report:#}");
    assert!(probes.iter().all(|p| p["passed"] == true), "{report:#}");
    let caps = report["captures"].as_array().cloned().unwrap_or_default();
    assert!(!caps.is_empty(), "no underlay capture: {report:#}");
    for c in &caps {
        assert_eq!(c["counts"]["bum"], 0, "BUM on {}: {report:#}", c["link"]);
    }
    // A capture that saw nothing proves nothing (a route reflector's link
    // carries no VXLAN, so the sum is asserted).
    let frames: u64 = caps
        .iter()
        .filter_map(|c| c["counts"]["frames"].as_u64())
        .sum();
    assert!(frames > 0, "the captures saw no VXLAN frame: {report:#}");
    let sessions = report["sessions"].as_array().cloned().unwrap_or_default();
    assert!(
        !sessions.is_empty() && sessions.iter().all(|s| s["passed"] == true),
        "{report:#}"
    );
}

fn up_check_down(name: &str, lab: &str, want_cross_vni: bool) {
    require_root!();
    require_program!("tcpdump");
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let file = topology(name);
    let guard = LabGuard::new(lab, &file);
    up(&file);
    // BGP may still be exchanging routes right after `up`.
    let report = check_passes_within(&file, Duration::from_secs(60));
    assert_report_proves_claims(&report, want_cross_vni);
    guard.down_and_assert_clean();
}

#[test]
fn goplane_demo_up_check_down() {
    up_check_down("goplane-demo", "demo", true);
}

#[test]
fn two_hosts_up_check_down() {
    up_check_down("two-hosts", "two-hosts", false);
}

#[test]
fn route_reflector_up_check_down() {
    require_program!("bgpd");
    up_check_down("route-reflector", "rr", true);
}

#[test]
fn route_reflector_gobgp_up_check_down() {
    require_program!("gobgpd");
    up_check_down("route-reflector-gobgp", "rr-gobgp", false);
}

#[test]
fn mixed_frr_up_check_down() {
    require_program!("bgpd");
    up_check_down("mixed-frr", "mixed", false);
}

#[test]
fn frr_reference_up_check_down() {
    require_program!("bgpd");
    up_check_down("frr-reference", "frr-ref", true);
}

/// A reduced copy of topologies/scale.toml (same shape, CI-sized).
fn small_scale(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(topology("scale")).expect("scale.toml");
    let text = text
        .replace("name = \"scale\"", "name = \"scale-ci\"")
        .replace("hosts = 4", "hosts = 3")
        .replace("containers_per_host = 100", "containers_per_host = 20");
    let f = dir.join("scale-ci.toml");
    std::fs::write(&f, text).expect("write");
    f
}

#[test]
fn scale_small_up_check_down() {
    require_root!();
    require_program!("tcpdump");
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = small_scale(dir.path());
    let guard = LabGuard::new("scale-ci", &file);
    up(&file);
    let report = check_passes_within(&file, Duration::from_secs(60));
    assert_report_proves_claims(&report, true);
    assert_eq!(
        report["kernel"].as_array().map(Vec::len),
        Some(3),
        "{report:#}"
    );
    guard.down_and_assert_clean();
}

/// Containers attached by plane-cni, invoked as a container runtime does
/// (ADD on up, DEL on stop), instead of planectl.
#[test]
fn two_hosts_through_cni_up_check_down() {
    require_root!();
    require_program!("tcpdump");
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let topo = std::fs::read_to_string(topology("two-hosts")).expect("two-hosts.toml");
    let topo = topo.replace("name = \"two-hosts\"", "name = \"cni\"\nattach = \"cni\"");
    let file = dir.path().join("cni.toml");
    std::fs::write(&file, topo).expect("write");
    let guard = LabGuard::new("cni", &file);
    up(&file);
    let report = check_passes_within(&file, Duration::from_secs(60));
    assert_report_proves_claims(&report, false);
    let f = file.to_string_lossy().to_string();
    let o = planelab(&["fault", &f, "restart", "c1"]);
    assert!(o.status.success(), "CNI DEL + ADD: {}", text(&o));
    check_passes_within(&file, Duration::from_secs(60));
    guard.down_and_assert_clean();
}

#[test]
fn up_after_a_killed_up_recovers() {
    require_root!();
    require_program!("tcpdump");
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = small_scale(dir.path());
    let guard = LabGuard::new("scale-ci", &file);
    let f = file.to_string_lossy().to_string();
    let mut cmd = Command::new(workspace_bin("planelab"));
    cmd.args(["up", &f]);
    let mut child = plane_test::Child::spawn(cmd, "planelab up").expect("spawn");
    // Kill it half-way: daemons running, some containers made.
    poll_until("half of the containers", Duration::from_secs(60), || {
        (lab_namespaces("scale-ci").len() >= 30).then_some(())
    })
    .expect("up makes containers");
    child.kill();
    assert!(
        !lab_namespaces("scale-ci").is_empty(),
        "nothing left to recover from"
    );
    up(&file);
    check_passes_within(&file, Duration::from_secs(60));
    guard.down_and_assert_clean();
}

#[test]
fn down_without_state_dir_removes_everything() {
    require_root!();
    require_program!("tcpdump");
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let file = topology("two-hosts");
    let _guard = LabGuard::new("two-hosts", &file);
    up(&file);
    // The state is lost (a reboot of /run, a manual rm): down works from
    // the prefix and still stops the daemons (found in the namespaces).
    std::fs::remove_dir_all("/run/planelab/two-hosts").expect("rm state");
    let o = planelab(&["down", "--lab", "two-hosts"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_nothing_left("two-hosts");
}

/// A fault test: the goplane demo up and passing, then `run` injects a
/// fault and repairs it; the lab must pass again and go down clean.
fn with_demo(run: impl FnOnce(&Path, &dyn Fn(&[&str]))) {
    require_root!();
    require_program!("tcpdump");
    let _one = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let file = topology("goplane-demo");
    let f = file.to_string_lossy().to_string();
    let guard = LabGuard::new("demo", &file);
    up(&file);
    check_passes_within(&file, Duration::from_secs(60));
    let fault = |args: &[&str]| {
        let mut a = vec!["fault", f.as_str()];
        a.extend_from_slice(args);
        let o = planelab(&a);
        assert!(o.status.success(), "fault {args:?}: {}", text(&o));
    };
    run(&file, &fault);
    check_passes_within(&file, Duration::from_secs(60));
    guard.down_and_assert_clean();
}

/// planed on h2 killed: its sessions are down, its socket is gone; revived,
/// it restores its endpoints and the lab passes again.
#[test]
fn fault_killed_planed_is_reported_and_recovered() {
    with_demo(|file, fault| {
        fault(&["kill", "h2"]);
        let (ok, report) = check(file);
        assert!(!ok, "check passed with planed on h2 dead: {report:#}");
        let sessions = report["sessions"].as_array().cloned().unwrap_or_default();
        assert!(
            sessions
                .iter()
                .any(|s| s["passed"] == false && (s["a"] == "h2" || s["b"] == "h2")),
            "{report:#}"
        );
        fault(&["revive", "h2"]);
    });
}

/// h3's underlay link cut: exactly the pairs with h3's containers fail.
#[test]
fn fault_cut_underlay_link_is_reported_and_recovered() {
    with_demo(|file, fault| {
        fault(&["cut", "h3"]);
        let (ok, report) = check(file);
        assert!(!ok, "check passed with h3 cut off: {report:#}");
        let probes = report["probes"].as_array().cloned().unwrap_or_default();
        let failed: Vec<_> = probes.iter().filter(|p| p["passed"] == false).collect();
        assert!(!failed.is_empty(), "{report:#}");
        let on_h3 = |v: &serde_json::Value| v.as_str().is_some_and(|n| n.ends_with('3'));
        assert!(
            failed.iter().all(|p| on_h3(&p["src"]) || on_h3(&p["dst"])),
            "only pairs with h3's containers may fail: {failed:#?}"
        );
        fault(&["restore", "h3"]);
    });
}

/// Container a1 stopped (endpoint del, namespace gone): pairs with it fail;
/// started again with the same MAC and IPs (as a runtime restarts a
/// container): the lab passes again. Then a restart in one go.
#[test]
fn fault_restarted_container_is_reported_and_recovered() {
    with_demo(|file, fault| {
        fault(&["stop", "a1"]);
        let (ok, report) = check(file);
        assert!(!ok, "check passed with a1 stopped: {report:#}");
        let probes = report["probes"].as_array().cloned().unwrap_or_default();
        assert!(
            probes
                .iter()
                .filter(|p| p["passed"] == false)
                .all(|p| p["src"] == "a1" || p["dst"] == "a1"),
            "{report:#}"
        );
        fault(&["start", "a1"]);
        check_passes_within(file, Duration::from_secs(60));
        fault(&["restart", "a2"]);
    });
}

#[test]
fn topology_errors_name_file_and_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[[host]]\nname = \"h1\"\nunderlay = \"10.0.0.1\"\n[[container]]\nname = \"c\"\nhost = \"h2\"\nvni = 5\nip = \"10.0.0.1/24\"\n",
    )
    .expect("write");
    let o = planelab(&["up", &f.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml: container c: host \"h2\" is not a [[host]]"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml: container c: vni 5 is not a [[vni]]"),
        "{err}"
    );
}
