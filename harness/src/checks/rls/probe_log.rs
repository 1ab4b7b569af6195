//! `TIERGUARD_PROBE_LOG=DIR`, for `ci/bench/probes`: every probe
//! transaction as tierguard sends it, appended to a psql script per tier
//! and kind of connection (`DIR/<tier>.reads.sql`, `DIR/<tier>.writes.sql`),
//! so the bench can replay the very same SQL from as many clients and
//! compare. Each transaction starts with a `-- probe` line; statements that
//! go in one message are joined with `\;`, psql's way of sending them so.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

pub const ENV: &str = "TIERGUARD_PROBE_LOG";

tokio::task_local! {
    /// The tier whose checks the current task runs (set around each tier's checks).
    pub static TIER: String;
}

#[derive(Debug, Clone, Copy)]
pub enum Connection {
    /// Read probes, on the reading connections.
    Reads,
    /// Writing probes, on the one writing connection.
    Writes,
}

/// Appends one transaction, when logging: `messages` gives its messages in
/// the order sent, each a list of statements sent together (built only
/// then: most runs log nothing).
pub fn record(connection: Connection, messages: impl FnOnce() -> Vec<Vec<String>>) {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    static WRITING: Mutex<()> = Mutex::new(());
    let Some(dir) = DIR.get_or_init(|| std::env::var_os(ENV).map(PathBuf::from)) else { return };
    let Ok(tier) = TIER.try_with(String::clone) else { return };
    let kind = match connection {
        Connection::Reads => "reads",
        Connection::Writes => "writes",
    };
    let mut text = String::from("-- probe\n");
    for message in messages() {
        let statements: Vec<&str> = message.iter().map(|s| s.trim().trim_end_matches(';')).collect();
        text.push_str(&statements.join(" \\;\n"));
        text.push_str(";\n");
    }
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{tier}.{kind}.sql")));
    // A log the bench cannot write is the bench's problem, not the audit's.
    let _ = file.and_then(|mut f| f.write_all(text.as_bytes()));
}
