//! The containers backend for real: a Docker engine and a PostgreSQL image
//! (ci/test provides both, building the image locally with
//! ci/postgres-image). The reference scenario must pass on it, and no
//! container may outlive a run, also after Ctrl-C or a panic.
//!
//! Tests here run one at a time so "no tierguard container exists" is exact.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

use common::repo;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn image() -> String {
    std::env::var(tierguard::provision::IMAGE_ENV).unwrap_or_else(|_| tierguard::provision::DEFAULT_IMAGE.into())
}

/// Fails (not skips) without an engine: CI must exercise this path.
fn require_engine() {
    let answers = common::rt().block_on(tierguard::provision::docker_answers());
    assert!(answers, "no Docker engine answers: run ci/docker-engine (ci/test does)");
    let present = common::rt().block_on(tierguard::provision::image_present(&image()));
    assert!(present, "image {} is missing: run ci/postgres-image (ci/test does)", image());
}

/// A run id of this test's own, so containers of other runs on the
/// machine do not count.
fn run_id(test: &str) -> String {
    format!("test-{}-{test}", std::process::id())
}

fn tierguard_containers(run_id: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label=tierguard.run={run_id}"), "--format", "{{.ID}} {{.Labels}}"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

fn tierguard(report_dir: &std::path::Path, run_id: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tierguard"));
    cmd.env(tierguard::provision::RUN_ID_ENV, run_id)
        .current_dir(repo())
        .args(["run", "scenarios/penguinmails.toml", "--backend", "containers", "--image", &image()])
        .arg("--report-dir")
        .arg(report_dir)
        .stdin(Stdio::null());
    cmd
}

#[test]
fn reference_scenario_passes_on_containers_and_leaves_none() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_engine();
    let reports = tempfile::tempdir().expect("tmp");
    let id = run_id("reference");
    let output: Output = tierguard(reports.path(), &id).output().expect("runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("on containers"), "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).expect("report")).expect("json");
    for tier in report["tiers"].as_array().expect("tiers") {
        assert_eq!(tier["backend"], "containers");
        assert!(tier["server_version"].as_str().expect("version").starts_with("15"));
    }
    assert_eq!(report["summary"]["fail"], 0);
    assert!(tierguard_containers(&id).is_empty(), "left running: {:?}", tierguard_containers(&id));
}

#[test]
fn ctrl_c_while_containers_start_removes_them() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_engine();
    let reports = tempfile::tempdir().expect("tmp");
    let id = run_id("ctrl-c");
    let mut child = tierguard(reports.path(), &id).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // The seed line comes as provisioning begins; give docker a moment to create containers.
    lines.next();
    std::thread::sleep(std::time::Duration::from_millis(800));
    // SAFETY: signalling a child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(2), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted by SIGINT")), "{rest:?}");
    // A create request in flight when the run stopped completes later: the
    // run's watchdog removes such containers within seconds; look after that.
    let settled = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !watchdogs_of(&id).is_empty() && std::time::Instant::now() < settled {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(tierguard_containers(&id).is_empty(), "left running: {:?}", tierguard_containers(&id));
}

#[test]
fn panic_after_containers_start_removes_them() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_engine();
    let reports = tempfile::tempdir().expect("tmp");
    let id = run_id("panic");
    let output = tierguard(reports.path(), &id)
        .env(tierguard::run::FAULT_ENV, "panic-after-provision")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(tierguard_containers(&id).is_empty(), "left running: {:?}", tierguard_containers(&id));
}

/// The watchdogs of this test's runs (their command line names the run's label).
fn watchdogs_of(run_id: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<i32>().ok()?, std::fs::read(e.path().join("cmdline")).ok()?)))
        .filter(|(_, cmdline)| {
            let cmdline = String::from_utf8_lossy(cmdline);
            cmdline.contains("tierguard-watchdog") && cmdline.contains(&format!("tierguard.run={run_id}"))
        })
        .map(|(pid, _)| pid)
        .collect()
}

#[test]
fn sigkilled_runs_leave_no_container_once_the_next_run_is_done() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_engine();
    let reports = tempfile::tempdir().expect("tmp");
    let killed: Vec<String> = (0..4).map(|round| run_id(&format!("killed-{round}"))).collect();
    for (round, id) in killed.iter().enumerate() {
        let mut child = tierguard(reports.path(), id).args(["--only", "partition"]).stderr(Stdio::piped()).spawn().expect("spawn");
        for line in BufReader::new(child.stderr.take().expect("stderr")).lines().map_while(Result::ok) {
            if line.contains("provisioned") {
                break;
            }
        }
        if round % 2 == 1 {
            // The watchdog dies with it (a whole cgroup killed): only the
            // next run's sweep is left.
            for pid in watchdogs_of(id) {
                // SAFETY: the watchdog of a run this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        // SAFETY: signalling a child we spawned.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().expect("wait");
    }
    // The surviving watchdogs remove their runs' containers within seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while killed.iter().any(|id| !watchdogs_of(id).is_empty()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The next run sweeps the containers of runs whose watchdog died too.
    let next = run_id("after-kills");
    let output = tierguard(reports.path(), &next).args(["--only", "partition"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    for id in killed.iter().chain([&next]) {
        assert!(tierguard_containers(id).is_empty(), "{id} left running: {:?}", tierguard_containers(id));
    }
}

/// A Docker engine reached over TCP, as a remote one is: a listener on
/// 127.0.0.1 that hands each connection to the local engine's socket,
/// counting them.
fn engine_over_tcp() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let address = format!("tcp://{}", listener.local_addr().expect("address"));
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            counted.fetch_add(1, Ordering::SeqCst);
            let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else { continue };
            let (mut client_in, mut engine_out) = (client.try_clone().expect("clone"), engine.try_clone().expect("clone"));
            let (mut client_out, mut engine_in) = (client, engine);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut engine_out);
                let _ = engine_out.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut engine_in, &mut client_out);
                let _ = client_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (address, connections)
}

#[test]
fn a_remote_engine_named_by_docker_host_is_used() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_engine();
    let (docker_host, connections) = engine_over_tcp();
    let reports = tempfile::tempdir().expect("tmp");
    let id = run_id("docker-host");
    let output = tierguard(reports.path(), &id).env("DOCKER_HOST", &docker_host).args(["--only", "rls", "--quiet"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) > 0, "no request went to {docker_host}");
    let settled = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !tierguard_containers(&id).is_empty() && std::time::Instant::now() < settled {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(tierguard_containers(&id).is_empty(), "left running: {:?}", tierguard_containers(&id));
}
