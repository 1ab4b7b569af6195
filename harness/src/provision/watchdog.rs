//! Nothing left behind when tierguard dies without cleaning up: SIGKILL,
//! the OOM killer, an abort. Every local run folder holds an owner file
//! with the run's process id, and a watchdog process (in a session of its
//! own, so a signal to tierguard's process group spares it) waits for that
//! process to be gone, then stops each postmaster of the folder (immediate
//! shutdown) and removes the folder. A normal run stops its watchdog
//! before removing the folder itself.
//!
//! Containers get the same: a watchdog that removes the run's labelled
//! containers once the run's process is gone, and a sweep by the next
//! containers run of those whose owner (a process of this machine) is gone.
//!
//! Should the watchdog die too (a whole cgroup killed), the next local run
//! sweeps: run folders under the same temp folder whose owner is no longer
//! running lose their postmasters and are removed. Only folders with
//! tierguard's owner file are touched, and only postmasters whose command
//! line names the folder are signalled.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The owner file of a run folder: the process id of the run.
pub const OWNER_FILE: &str = "tierguard.owner";
/// Run folders are named with this prefix (tempfile adds a random tail).
pub const RUN_PREFIX: &str = "tierguard-";

/// What the watchdog runs: `$1` is the run's process id, `$2` its folder.
const WATCH: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
[ -f "$2/tierguard.owner" ] || exit 0
for pidfile in "$2"/tier-*/postmaster.pid; do
    [ -f "$pidfile" ] && kill -QUIT "$(head -n 1 "$pidfile")" 2>/dev/null
done
sleep 2
rm -rf "$2""#;

/// The running watchdog of a run folder; dropping it stops the watchdog.
pub struct Watchdog(Child);

impl Drop for Watchdog {
    fn drop(&mut self) {
        // The whole group (the watchdog leads its own session): a `sleep`
        // it has just forked would otherwise outlive it, still named as
        // the watchdog until it execs.
        // SAFETY: kill with the negated id of a process group we created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Marks `root` as this process's run folder and starts its watchdog.
pub fn watch(root: &Path) -> std::io::Result<Watchdog> {
    fs::write(root.join(OWNER_FILE), std::process::id().to_string())?;
    spawn(WATCH, &root.to_string_lossy())
}

/// What the containers' watchdog runs: `$1` is the run's process id, `$2`
/// the run's container label (`tierguard.run=<id>`).
/// A container whose create request was in flight appears a moment later:
/// look a few times.
const WATCH_CONTAINERS: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
for attempt in 1 2 3 4 5; do
    ids=$(docker ps -aq --filter "label=$2")
    [ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
    sleep 2
done
exit 0"#;

/// Starts the watchdog that removes the containers labelled `label` once
/// this process is gone.
pub fn watch_containers(label: &str) -> std::io::Result<Watchdog> {
    spawn(WATCH_CONTAINERS, label)
}

/// Runs `script` with this process's id and `target` as `$1` and `$2`, in
/// a session of its own.
fn spawn(script: &str, target: &str) -> std::io::Result<Watchdog> {
    let mut command = Command::new("sh");
    command
        .args(["-c", script, "tierguard-watchdog"])
        .arg(std::process::id().to_string())
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    command.spawn().map(Watchdog)
}

/// Removes the run folders under `base` whose owner is no longer running,
/// after stopping their postmasters. Returns how many were swept.
pub fn sweep(base: &Path) -> usize {
    let Ok(entries) = fs::read_dir(base) else { return 0 };
    let mut swept = 0;
    for entry in entries.flatten() {
        let folder = entry.path();
        let named = folder.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(RUN_PREFIX));
        let Some(owner) = fs::read_to_string(folder.join(OWNER_FILE)).ok().and_then(|p| p.trim().parse::<i32>().ok()) else {
            continue;
        };
        if !named || alive(owner) {
            continue;
        }
        stop_postmasters(&folder);
        if fs::remove_dir_all(&folder).is_ok() {
            swept += 1;
        }
    }
    swept
}

/// Whether process `pid` exists (on this machine).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

/// SIGQUIT to each postmaster of the folder's data folders that is still
/// running from that folder, then waits (up to 5 s) for them to go.
fn stop_postmasters(folder: &Path) {
    let Ok(entries) = fs::read_dir(folder) else { return };
    let mut stopped = Vec::new();
    for data in entries.flatten().map(|e| e.path()) {
        let Some(pid) = fs::read_to_string(data.join("postmaster.pid")).ok().and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&*data.to_string_lossy()) {
            // SAFETY: kill with a pid whose command line names our folder.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            stopped.push(pid);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while stopped.iter().any(|&pid| alive(pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
