//! Getting one PostgreSQL server per tier: disposable (local binaries or
//! containers) or existing (external DSN). A `Server` owns whatever it
//! started; dropping it stops and removes it, so every exit path (error,
//! panic unwinding, Ctrl-C dropping the run future) cleans up.

mod containers;
mod external;
mod kept;
mod local;
mod watchdog;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::error::{HarnessError, Result};
pub use crate::scenario::BackendChoice;
use crate::scenario::Scenario;
use crate::sql::quote_ident;

pub use kept::Kept;
pub use containers::{docker_answers, image_present, DEFAULT_IMAGE, IMAGE_ENV, RUN_ID_ENV};
pub use local::{find_bin_dir, BIN_DIR_ENV, VERSION_ENV};

/// The backend a server actually runs on (what report.json names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Local,
    Containers,
    External,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Local => "local",
            BackendKind::Containers => "containers",
            BackendKind::External => "external",
        })
    }
}

/// A running server for one tier, and the database on it that holds the tier.
pub struct Server {
    pub tier: String,
    pub backend: BackendKind,
    /// Superuser (or, for external, the given user) connection to the tier's database.
    pub options: PgConnectOptions,
    /// `SHOW server_version`
    pub version: String,
    /// The superuser's password on a disposable server (never printed;
    /// `--keep-servers` writes it to a password file).
    password: Option<String>,
    /// Keeps the server alive; dropping it stops and removes the server.
    _guard: Guard,
}

/// Held only for its `Drop`: that is what stops the server.
#[allow(dead_code)]
enum Guard {
    Local(local::LocalServer),
    /// The container, and the run's watchdog (kept until the last is dropped).
    Container(Box<containers::Container>, Arc<watchdog::Watchdog>),
    External,
}

impl Server {
    /// A pool on the tier's database as the admin user.
    pub async fn pool(&self, max: u32) -> Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(self.options.clone())
            .await
            .map_err(|e| HarnessError::database(&self.tier, e))
    }

    /// The same server, another database on it.
    pub fn options_for(&self, database: &str) -> PgConnectOptions {
        self.options.clone().database(database)
    }

    /// Where the server is, without the password.
    pub fn describe(&self) -> String {
        describe(&self.options)
    }

    /// How to get an extension this server lacks, for the backend in use.
    pub fn extension_advice(&self, extension: &str) -> String {
        let major = self.version.split(['.', ' ']).next().unwrap_or("15");
        let package = format!("postgresql-{major}-{}", debian_package(extension));
        match self.backend {
            BackendKind::Local => format!(
                "the local PostgreSQL {major} binaries lack it: install the Debian package {package} (apt-get install {package}), \
                 or use --backend containers with an image that has it"
            ),
            BackendKind::Containers => format!(
                "the container image lacks it: give --image an image that has it (for example one built with the Debian package {package})"
            ),
            BackendKind::External => "the server lacks it: install it there, or audit a server that has it".to_string(),
        }
    }
}

/// The name Debian's PostgreSQL packages give an extension
/// (`postgresql-<major>-<name>`), where it differs from the extension's.
fn debian_package(extension: &str) -> String {
    match extension {
        "vector" => "pgvector".to_string(),
        "postgis" | "postgis_topology" | "postgis_raster" => "postgis-3".to_string(),
        "pg_cron" => "cron".to_string(),
        "pg_partman" => "partman".to_string(),
        "pg_repack" => "repack".to_string(),
        "plpgsql_check" => "plpgsql-check".to_string(),
        other => other.replace('_', "-"),
    }
}

/// Settings of every disposable server (`-c NAME=VALUE`). Its data is
/// thrown away, so durability only costs time: no fsync, no full-page
/// images, and the least WAL (with `wal_level = minimal`, rows loaded into
/// a table emptied in the same transaction skip it, as seeding does).
/// The probes' pools need more than the default 100 connections.
pub(crate) const SERVER_SETTINGS: [&str; 6] = [
    "fsync=off",
    "full_page_writes=off",
    "synchronous_commit=off",
    "wal_level=minimal",
    "max_wal_senders=0",
    "max_connections=200",
];

/// `postgresql://user@host:port/db`: never the password.
pub fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgresql://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

/// Starts (or reaches) every tier's server concurrently. On error, the
/// servers already started are dropped, which removes them.
pub async fn provision(scenario: &Scenario) -> Result<Vec<Server>> {
    let backend = resolve(scenario).await?;
    match backend {
        BackendKind::External => {
            try_join_all(scenario.tiers.iter().map(|t| external::connect(t, scenario.certification.statement_timeout))).await
        }
        BackendKind::Local => {
            let bin = find_bin_dir(scenario.pg_version)?;
            let cluster = local::Template::init(&bin).await?;
            try_join_all(scenario.tiers.iter().map(|t| cluster.start(&t.name))).await
        }
        BackendKind::Containers => {
            let image = containers::image_name(scenario.image.as_deref());
            // Armed until every tier is up: an error or Ctrl-C before then
            // drops it, which removes whatever this run started.
            let run = containers::RunLabel::new()?;
            let servers = try_join_all(
                scenario
                    .tiers
                    .iter()
                    .map(|t| containers::start(&image, &run, &t.name)),
            )
            .await?;
            run.disarm();
            Ok(servers)
        }
    }
}

/// `auto`: containers when an engine answers and the image is there, else
/// local binaries, else a message saying what to install.
async fn resolve(scenario: &Scenario) -> Result<BackendKind> {
    Ok(match scenario.backend {
        BackendChoice::Local => BackendKind::Local,
        BackendChoice::Containers => BackendKind::Containers,
        BackendChoice::External => BackendKind::External,
        BackendChoice::Auto => {
            let image = containers::image_name(scenario.image.as_deref());
            if docker_answers().await && image_present(&image).await {
                BackendKind::Containers
            } else if find_bin_dir(scenario.pg_version).is_ok() {
                BackendKind::Local
            } else {
                return Err(HarnessError::Backend(format!(
                    "no backend available: no Docker engine with image `{image}` and no PostgreSQL \
                     server binaries (initdb, postgres) on PATH or under /usr/lib/postgresql; \
                     install PostgreSQL (e.g. `apt-get install postgresql`) or Docker and run ci/postgres-image"
                )));
            }
        }
    })
}

/// Connects, retrying until `deadline`: servers accept connections a moment
/// after they say they are ready.
pub(crate) async fn wait_until_accepting(
    options: &PgConnectOptions,
    deadline: Instant,
    mut still_starting: impl FnMut() -> std::result::Result<(), String>,
) -> std::result::Result<String, String> {
    let mut last_error = String::from("no attempt made");
    while Instant::now() < deadline {
        still_starting()?;
        match PgConnection::connect_with(&options.clone().log_statements(tracing::log::LevelFilter::Off)).await {
            Ok(mut conn) => {
                let version: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                return Ok(version);
            }
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("server did not accept connections in time ({last_error})"))
}

/// Creates the tier's database on a fresh server (as the superuser).
pub(crate) async fn create_database(
    admin: &PgConnectOptions,
    tier: &str,
) -> std::result::Result<PgConnectOptions, String> {
    let mut conn = PgConnection::connect_with(admin).await.map_err(|e| e.to_string())?;
    sqlx::raw_sql(&format!("CREATE DATABASE {}", quote_ident(tier)))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(admin.clone().database(tier))
}

/// Copies a database on the same server (`CREATE DATABASE ... TEMPLATE`):
/// far cheaper than loading and seeding again. The template must have no
/// open connections.
pub async fn clone_database(server: &Server, template: &str, name: &str) -> Result<PgConnectOptions> {
    let admin = server.options_for("postgres");
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .map_err(|e| HarnessError::database(&server.tier, e))?;
    sqlx::raw_sql(&format!("CREATE DATABASE {} TEMPLATE {}", quote_ident(name), quote_ident(template)))
        .execute(&mut conn)
        .await
        .map_err(|e| HarnessError::database(&server.tier, format!("cloning {template} into {name}: {e}")))?;
    let _ = conn.close().await;
    Ok(server.options_for(name))
}

/// A password for a disposable server: random, never printed.
pub(crate) fn disposable_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}
