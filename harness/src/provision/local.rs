//! The `local` backend: PostgreSQL binaries from this machine. One `initdb`
//! makes a template data folder; each tier gets a copy of it and its own
//! postmaster on a free loopback port. Copying is much cheaper than a second
//! initdb, so four tiers cost little more than one.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use tempfile::TempDir;

use super::watchdog;
use super::{create_database, disposable_password, wait_until_accepting, BackendKind, Guard, Server};
use crate::error::{HarnessError, Result};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 5;
const SUPERUSER: &str = "postgres";
/// A memory file system used for the data folders only with this much room:
/// a certification-size run takes gigabytes, and a full one fails mid-load.
const MEMORY_FS_MIN_FREE: u64 = 8 << 30;
const MEMORY_FS: &str = "/dev/shm";

/// Names the folder of the server binaries to use, when several are installed.
pub const BIN_DIR_ENV: &str = "TIERGUARD_PG_BIN_DIR";
/// The major version to use when `--pg-version` does not say (the tests
/// run the suite on one version, then the reference and defects on another).
pub const VERSION_ENV: &str = "TIERGUARD_PG_VERSION";

/// Finds a folder holding `initdb` and `postgres`: `$TIERGUARD_PG_BIN_DIR`
/// alone when set; else, of the folders on PATH, from `pg_config
/// --bindir`, and the usual install places (Debian's
/// `/usr/lib/postgresql/N/bin`, `/usr/local/lib/postgresql/N/bin`,
/// `/usr/local/pgsql/bin`), the one of the major version asked for
/// (`--pg-version`, else `$TIERGUARD_PG_VERSION`), else the newest.
pub fn find_bin_dir(version: Option<u32>) -> Result<PathBuf> {
    let version = version.or_else(|| std::env::var(VERSION_ENV).ok().and_then(|v| v.parse().ok()));
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        if !has_both(&dir) {
            return Err(HarnessError::Backend(format!(
                "--backend local: {BIN_DIR_ENV}={} holds no initdb and postgres binaries",
                dir.display()
            )));
        }
        return match (version, major_version(&dir)) {
            (Some(wanted), Some(found)) if wanted != found => Err(HarnessError::Backend(format!(
                "--backend local: {BIN_DIR_ENV}={} holds PostgreSQL {found}, not the {wanted} asked for",
                dir.display()
            ))),
            _ => Ok(dir),
        };
    }
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let versioned = ["/usr/lib/postgresql", "/usr/local/lib/postgresql"]
        .into_iter()
        .flat_map(|root| fs::read_dir(root).into_iter().flatten().flatten().map(|e| e.path().join("bin")));
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for dir in from_path.chain(from_pg_config).chain(versioned).chain([PathBuf::from("/usr/local/pgsql/bin")]) {
        if !has_both(&dir) || found.iter().any(|(_, d)| same_file(&d.join("postgres"), &dir.join("postgres"))) {
            continue;
        }
        if let Some(major) = major_version(&dir) {
            found.push((major, dir));
        }
    }
    // The newest; among equals, the first found (PATH first).
    let chosen = match version {
        Some(wanted) => found.iter().find(|(major, _)| *major == wanted),
        None => found.iter().rev().max_by_key(|(major, _)| *major),
    };
    if let Some((_, dir)) = chosen {
        return Ok(dir.clone());
    }
    let installed: Vec<String> = found.iter().map(|(major, dir)| format!("{major} in {}", dir.display())).collect();
    Err(HarnessError::Backend(match (version, installed.is_empty()) {
        (Some(wanted), false) => format!(
            "--backend local: no PostgreSQL {wanted} server binaries (found {}); install them \
             (e.g. `apt-get install postgresql-{wanted}`), or point {BIN_DIR_ENV} at them",
            installed.join(", ")
        ),
        _ => "--backend local: no PostgreSQL server binaries (initdb, postgres) on PATH, \
              from pg_config, or under /usr/lib/postgresql/*/bin; install them \
              (e.g. `apt-get install postgresql`)"
            .to_string(),
    }))
}

/// The major version of the server binaries in `dir` (`postgres --version`).
fn major_version(dir: &Path) -> Option<u32> {
    let output = Command::new(dir.join("postgres")).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let number = text.split(") ").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?;
    number.parse().ok()
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

/// The OS user the server runs as: postgres refuses to run as root.
#[derive(Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn run_as() -> Result<Option<RunAs>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new(SUPERUSER).expect("static name");
    // SAFETY: getpwnam returns null or a pointer to static storage that we
    // read immediately, before any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(HarnessError::Backend(
            "--backend local runs as root, and PostgreSQL refuses to run as root: \
             create a `postgres` user (useradd -r postgres) or run tierguard as another user"
                .into(),
        ));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some(RunAs { uid, gid }))
}

/// A run's temp folder, watched so it goes even if tierguard is killed.
/// Fields drop in order: the watchdog stops before the folder goes.
struct RunFolder {
    _watchdog: watchdog::Watchdog,
    dir: TempDir,
}

/// The run's temp folder and a freshly initialised data folder to copy.
pub struct Template {
    bin: PathBuf,
    root: Arc<RunFolder>,
    data: PathBuf,
    password: String,
    run_as: Option<RunAs>,
}

impl Template {
    pub async fn init(bin: &Path) -> Result<Template> {
        let run_as = run_as()?;
        let base = scratch_base();
        // Folders of runs that died without cleaning up (SIGKILL, OOM).
        let swept = watchdog::sweep(&base);
        if swept > 0 {
            tracing::info!("removed {swept} folder(s) and their servers left by runs that were killed");
        }
        let dir = tempfile::Builder::new()
            .prefix(watchdog::RUN_PREFIX)
            .tempdir_in(&base)
            .map_err(|e| HarnessError::Backend(format!("cannot create a temporary folder: {e}")))?;
        let watchdog = watchdog::watch(dir.path()).map_err(|e| HarnessError::Backend(format!("cannot start the cleanup watchdog: {e}")))?;
        let template = Template {
            bin: bin.to_path_buf(),
            data: dir.path().join("template"),
            root: Arc::new(RunFolder { _watchdog: watchdog, dir }),
            password: disposable_password(),
            run_as,
        };
        template.give_to_server_user(template.root.dir.path())?;
        let pwfile = template.root.dir.path().join("pwfile");
        fs::write(&pwfile, &template.password)
            .and_then(|_| template.give_to_server_user(&pwfile).map_err(std::io::Error::other))
            .map_err(|e| HarnessError::Backend(format!("cannot write the password file: {e}")))?;

        let mut initdb = tokio::process::Command::from(template.command("initdb"));
        initdb
            .process_group(0)
            .arg("-D")
            .arg(&template.data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .args(["--auth-host=scram-sha-256", "--auth-local=peer"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = initdb
            .spawn()
            .map_err(|e| HarnessError::Backend(format!("cannot run initdb: {e}")))?;
        let group = KillGroupOnDrop::new(child.id());
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| HarnessError::Backend(format!("cannot run initdb: {e}")))?;
        group.disarm();
        let _ = fs::remove_file(&pwfile);
        if !output.status.success() {
            return Err(HarnessError::Backend(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(template)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(self.root.dir.path()).stdin(Stdio::null());
        if let Some(RunAs { uid, gid }) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn give_to_server_user(&self, path: &Path) -> Result<()> {
        if let Some(RunAs { uid, gid }) = self.run_as {
            chown(path, Some(uid), Some(gid)).map_err(|e| {
                HarnessError::Backend(format!("cannot hand {} to the postgres user: {e}", path.display()))
            })?;
        }
        Ok(())
    }

    /// Copies the template and starts a postmaster on it for `tier`.
    pub async fn start(&self, tier: &str) -> Result<Server> {
        let fail = |message: String| HarnessError::Provision {
            tier: tier.to_string(),
            message,
        };
        let data = self.root.dir.path().join(format!("tier-{tier}"));
        let copy = Command::new("cp")
            .arg("-a")
            .arg(&self.data)
            .arg(&data)
            .status()
            .map_err(|e| fail(format!("cannot copy the template data folder: {e}")))?;
        if !copy.success() {
            return Err(fail("cannot copy the template data folder".into()));
        }
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(format!("cannot set permissions on the data folder: {e}")))?;

        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port().map_err(|e| fail(format!("no free loopback port: {e}")))?;
            let server = LocalServer::spawn(self, &data, port).map_err(|e| fail(e.to_string()))?;
            let admin = PgConnectOptions::new()
                .host("127.0.0.1")
                .port(port)
                .username(SUPERUSER)
                .password(&self.password)
                .database("postgres");
            let deadline = Instant::now() + START_TIMEOUT;
            match wait_until_accepting(&admin, deadline, || server.still_running()).await {
                Ok(version) => {
                    let options = create_database(&admin, tier).await.map_err(fail)?;
                    return Ok(Server {
                        tier: tier.to_string(),
                        backend: BackendKind::Local,
                        options,
                        version,
                        password: Some(self.password.clone()),
                        _guard: Guard::Local(server),
                    });
                }
                Err(error) => {
                    let port_taken = error.contains("Address already in use");
                    last_error = error;
                    drop(server);
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(fail(format!("PostgreSQL did not start: {last_error}")))
    }
}

/// Where the run's folder (template and data folders) goes: `$TMPDIR` when
/// set; else a memory file system with room to spare, since disposable
/// servers need no durability and on a disk creating and deleting their
/// thousands of files is most of the start (and grows slower run after
/// run while the disk reclaims the last run's blocks); else the system's
/// temp folder.
fn scratch_base() -> PathBuf {
    if std::env::var_os("TMPDIR").is_none() && free_bytes(Path::new(MEMORY_FS)).is_some_and(|free| free >= MEMORY_FS_MIN_FREE) {
        return PathBuf::from(MEMORY_FS);
    }
    std::env::temp_dir()
}

fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: path is NUL-terminated and stat is a valid out-pointer.
    if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so it filled stat.
    let stat = unsafe { stat.assume_init() };
    Some(stat.f_bavail * stat.f_frsize)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A Ctrl-C during initdb drops its future: kill initdb and the bootstrap
/// postgres it runs (one process group), and wait until they are gone, so
/// nothing writes into the temp folder being removed or outlives the run.
struct KillGroupOnDrop(Option<libc::pid_t>);

impl KillGroupOnDrop {
    fn new(pid: Option<u32>) -> KillGroupOnDrop {
        KillGroupOnDrop(pid.map(|pid| pid as libc::pid_t))
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: signalling and reaping a process group we started.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// A postmaster we started. Dropping it stops the server (immediate
/// shutdown: the data is disposable) and removes its data folder.
pub struct LocalServer {
    child: Mutex<Child>,
    data: PathBuf,
    log: PathBuf,
    // Keeps the run's temp folder alive until the last server is gone.
    _root: Arc<RunFolder>,
}

impl LocalServer {
    fn spawn(template: &Template, data: &Path, port: u16) -> std::io::Result<LocalServer> {
        let log = data.with_extension("log");
        let log_file = fs::File::create(&log)?;
        let child = template
            .command("postgres")
            .arg("-D")
            .arg(data)
            .arg("-p")
            .arg(port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", data.display()))
            .args(super::SERVER_SETTINGS.iter().flat_map(|setting| ["-c", setting]))
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()?;
        Ok(LocalServer {
            child: Mutex::new(child),
            data: data.to_path_buf(),
            log,
            _root: template.root.clone(),
        })
    }

    /// Err with the server's log when the postmaster has exited.
    fn still_running(&self) -> std::result::Result<(), String> {
        let mut child = self.child.lock().expect("child lock");
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log = fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                Err(format!(
                    "postgres exited ({status}): {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(None) = child.try_wait() {
            // SIGQUIT: immediate shutdown; the postmaster reaps its children first.
            // SAFETY: kill with a pid we own and a valid signal number.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) };
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.data);
        let _ = fs::remove_file(&self.log);
    }
}
