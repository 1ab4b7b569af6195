//! The `containers` backend: one PostgreSQL container per tier through
//! testcontainers. Containers carry a per-run label so that a start cut
//! short (error or Ctrl-C) can still be found and removed, and the run's
//! process id and machine, so that a watchdog removes them when the run is
//! killed outright and the next run sweeps those whose run is gone.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use testcontainers_modules::testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::watchdog::{self, Watchdog};
use super::{create_database, disposable_password, wait_until_accepting, BackendKind, Guard, Server};
use crate::error::{HarnessError, Result};

/// The official image's tag; `ci/postgres-image` builds a compatible one
/// where no registry is reachable.
pub const DEFAULT_IMAGE: &str = "postgres:15";
/// Environment variable naming the image when neither flag nor scenario does.
pub const IMAGE_ENV: &str = "TIERGUARD_IMAGE";

const LABEL: &str = "tierguard.run";
/// The process id of the run that started the container, and its machine.
const OWNER_LABEL: &str = "tierguard.owner";
const HOST_LABEL: &str = "tierguard.host";
/// Names the run's container label (`tierguard.run=<id>`), for CI systems
/// that clean up by label; default: process id and a random suffix.
pub const RUN_ID_ENV: &str = "TIERGUARD_RUN_ID";
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub type Container = ContainerAsync<GenericImage>;

/// `--image`/scenario first, then `$TIERGUARD_IMAGE`, then the default.
pub fn image_name(configured: Option<&str>) -> String {
    configured
        .map(str::to_string)
        .or_else(|| std::env::var(IMAGE_ENV).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string())
}

/// Whether a Docker engine answers (through the docker CLI).
pub async fn docker_answers() -> bool {
    docker_ok(&["info", "--format", "{{.ServerVersion}}"]).await
}

pub async fn image_present(image: &str) -> bool {
    docker_ok(&["image", "inspect", "--format", "{{.Id}}", image]).await
}

async fn docker_ok(args: &[&str]) -> bool {
    let status = tokio::process::Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status();
    matches!(
        tokio::time::timeout(Duration::from_secs(10), status).await,
        Ok(Ok(s)) if s.success()
    )
}

/// Labels this run's containers. While armed, dropping it removes every
/// container with the label: the safety net for starts that never returned.
pub struct RunLabel {
    id: String,
    armed: bool,
    /// Removes the labelled containers if this process dies without doing so;
    /// every container's server holds it until it is dropped.
    watchdog: Arc<Watchdog>,
}

impl RunLabel {
    /// Sweeps the containers of dead runs of this machine first.
    pub fn new() -> Result<RunLabel> {
        sweep_dead();
        let id = std::env::var(RUN_ID_ENV)
            .ok()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("{}-{}", std::process::id(), super::disposable_password()));
        let watchdog = watchdog::watch_containers(&format!("{LABEL}={id}"))
            .map_err(|e| HarnessError::Backend(format!("cannot start the cleanup watchdog: {e}")))?;
        Ok(RunLabel {
            id,
            armed: true,
            watchdog: Arc::new(watchdog),
        })
    }

    /// All containers came up and belong to their `Server`s now.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for RunLabel {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // A create request already sent completes after we stop waiting
        // for it: sweep until the label has stayed empty for a moment.
        let filter = format!("label={LABEL}={}", self.id);
        let mut quiet = 0;
        for _ in 0..20 {
            let Ok(listed) = Command::new("docker").args(["ps", "-aq", "--filter", &filter]).output() else {
                return;
            };
            let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if ids.is_empty() {
                quiet += 1;
                if quiet == 3 {
                    return;
                }
            } else {
                quiet = 0;
                let _ = Command::new("docker")
                    .args(["rm", "-f", "-v"])
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

pub async fn start(image: &str, run: &RunLabel, tier: &str) -> Result<Server> {
    let fail = |message: String| HarnessError::Provision {
        tier: tier.to_string(),
        message,
    };
    if !docker_answers().await {
        return Err(HarnessError::Backend(
            "--backend containers: no Docker engine answers (`docker info` failed); \
             start one (ci/docker-engine does) or use --backend local"
                .into(),
        ));
    }
    let (name, tag) = split_image(image);
    let password = disposable_password();
    let container = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr("database system is ready to accept connections"))
        .with_env_var("POSTGRES_PASSWORD", &password)
        .with_label(LABEL, &run.id)
        .with_label(OWNER_LABEL, std::process::id().to_string())
        .with_label(HOST_LABEL, hostname())
        .with_label("tierguard.tier", tier)
        .with_cmd(std::iter::once("postgres").chain(super::SERVER_SETTINGS.iter().flat_map(|setting| ["-c", *setting])))
        .with_startup_timeout(START_TIMEOUT)
        .start()
        .await
        .map_err(|e| {
            fail(format!(
                "container from image `{image}` did not start: {e}{}",
                if e.to_string().contains("pull") || e.to_string().contains("not found") {
                    " (no such local image? run ci/postgres-image, or set --image / TIERGUARD_IMAGE)"
                } else {
                    ""
                }
            ))
        })?;
    let host = container.get_host().await.map_err(|e| fail(e.to_string()))?;
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let admin = PgConnectOptions::new()
        .host(&host.to_string())
        .port(port)
        .username("postgres")
        .password(&password)
        .database("postgres");
    // The official entrypoint logs "ready" once for its private init server
    // too, so keep trying until the real server accepts TCP connections.
    let version = wait_until_accepting(&admin, Instant::now() + START_TIMEOUT, || Ok(()))
        .await
        .map_err(fail)?;
    let options = create_database(&admin, tier).await.map_err(fail)?;
    Ok(Server {
        tier: tier.to_string(),
        backend: BackendKind::Containers,
        options,
        version,
        password: Some(password),
        _guard: Guard::Container(Box::new(container), run.watchdog.clone()),
    })
}

/// Removes the containers tierguard started on this machine for runs whose
/// process is gone (killed outright, watchdog too). Never touches a
/// container without tierguard's owner label, or of another machine.
fn sweep_dead() -> usize {
    let format = format!("{{{{.ID}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}\t{{{{.Label \"{HOST_LABEL}\"}}}}");
    let Ok(listed) = Command::new("docker").args(["ps", "-a", "--filter", &format!("label={OWNER_LABEL}"), "--format", &format]).output() else {
        return 0;
    };
    let host = hostname();
    let dead: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (id, owner, machine) = (fields.next()?, fields.next()?.parse::<i32>().ok()?, fields.next()?);
            (machine == host && owner != std::process::id() as i32 && !watchdog::alive(owner)).then(|| id.to_string())
        })
        .collect();
    if !dead.is_empty() {
        let _ = Command::new("docker").args(["rm", "-f", "-v"]).args(&dead).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
    dead.len()
}

/// This machine's name, as the containers' host label holds it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// `registry/name:tag` → (`registry/name`, `tag`); no tag means `latest`.
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}
