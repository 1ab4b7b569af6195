//! The `tierguard` binary run as a user runs it, each run with its own
//! TMPDIR, so "nothing left behind" is checked exactly: the folder is empty
//! afterwards and no process runs from it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::{repo, validate_against_contract};

pub struct Run {
    pub tmp: tempfile::TempDir,
    pub reports: PathBuf,
}

impl Run {
    pub fn new() -> Run {
        let tmp = tempfile::tempdir().expect("tmp");
        // The server runs as `postgres` and must reach its folder inside.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let reports = tmp.path().join("reports");
        Run { tmp, reports }
    }

    /// TMPDIR for tierguard itself: kept apart from the report folder.
    pub fn scratch(&self) -> PathBuf {
        let dir = self.tmp.path().join("scratch");
        std::fs::create_dir_all(&dir).expect("scratch");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tierguard"));
        cmd.current_dir(repo())
            .arg("run")
            .args(args)
            .arg("--report-dir")
            .arg(&self.reports)
            .env("TMPDIR", self.scratch())
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("tierguard runs");
        self.assert_nothing_left();
        output
    }

    /// No temp folder and no server process survive the run.
    pub fn assert_nothing_left(&self) {
        let scratch = self.scratch();
        let left: Vec<_> = std::fs::read_dir(&scratch).expect("scratch").flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
        let marker = scratch.to_string_lossy().to_string();
        let running: Vec<String> = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(&marker))
            .collect();
        assert!(running.is_empty(), "still running: {running:?}");
    }

    pub fn report(&self) -> Value {
        let text = std::fs::read_to_string(self.reports.join("report.json")).expect("report.json written");
        let report: Value = serde_json::from_str(&text).expect("report.json is JSON");
        validate_against_contract(&report);
        report
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// Exit 2 with one error line that names everything in `must_mention`
/// (the lines after it may say the way out), and no panic.
pub fn assert_one_clear_error(output: &Output, must_mention: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    for needle in must_mention {
        assert!(errors[0].contains(needle), "error should mention `{needle}`: {}", errors[0]);
    }
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}
