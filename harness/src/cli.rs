//! The command line (design.md fixes it). Parsing only: turning flags into
//! a scenario is `scenario::Overrides`' job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::checks::{Family, Severity};
use crate::provision::BackendChoice;
use crate::scenario::{Format, LayoutChoice, Overrides, Reference, Shard};

#[derive(Debug, Parser)]
#[command(name = "tierguard", version, about = "Integrity and tenant-isolation audit for multi-tenant PostgreSQL split over several databases")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Start a server per tier, load the schema, audit it, write reports.
    Run(Box<RunArgs>),
    /// Re-run one saved failure from its repro file in a fresh environment.
    Replay(ReplayArgs),
    /// List every check: id, severity and what fails it (Markdown, or JSON).
    Checks(ChecksArgs),
    /// What a migration changes in what tenants can do: the scenario run on a base and a head schema.
    Diff(Box<DiffArgs>),
    /// Join the report folders of `run --shard K/N` into one, as one unsharded run reports.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' report folders, one per shard.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Where the joined reports go.
    #[arg(long, value_name = "OUT", required = true)]
    pub report_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Scenario file (TOML) both runs start from; --base and --head replace its tiers' schemas.
    pub scenario: Option<PathBuf>,

    /// A tier's schema before the change (e.g. the migrations folder on the main branch).
    #[arg(long = "base", value_name = "NAME=PATH[,PATH...]", value_parser = named_paths, required = true)]
    pub base: Vec<(String, Vec<PathBuf>)>,

    /// The same tier's schema after the change (e.g. in the pull request).
    #[arg(long = "head", value_name = "NAME=PATH[,PATH...]", value_parser = named_paths, required = true)]
    pub head: Vec<(String, Vec<PathBuf>)>,

    /// Where the servers come from.
    #[arg(long, value_name = "auto|local|containers")]
    pub backend: Option<BackendChoice>,

    /// The seed both runs use (default: the scenario's, else drawn once).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Report folder: base/ and head/ reports, diff.json and diff.md (default: reports/<timestamp>-<pid>/).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ChecksArgs {
    /// Print JSON (one object per check) instead of a Markdown table.
    #[arg(long)]
    pub json: bool,

    /// Bring the checks' pages in DIR (docs/checks) up to date with the registry.
    #[arg(long, value_name = "DIR")]
    pub docs: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A `repro/*.json` file from a report folder.
    pub file: PathBuf,

    /// Where the servers come from.
    #[arg(long, value_name = "auto|local|containers")]
    pub backend: Option<BackendChoice>,

    /// Report folder of the replay run (default: reports/<timestamp>-<pid>/).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML); flags override what it says.
    pub scenario: Option<PathBuf>,

    /// A tier and its schema: .sql files, or a folder of migrations (plain, Supabase, Prisma, Flyway, golang-migrate, dbmate; detected).
    #[arg(long = "tier", value_name = "NAME=PATH[,PATH...]", value_parser = named_paths)]
    pub tiers: Vec<(String, Vec<PathBuf>)>,

    /// SQL run after the schema (fixed rows).
    #[arg(long = "data", value_name = "NAME=PATH[,PATH...]", value_parser = named_paths)]
    pub data: Vec<(String, Vec<PathBuf>)>,

    /// A logical reference across tiers; composite: TIER.SCHEMA.TABLE.(C1,C2)=TIER.SCHEMA.TABLE.(C1,C2).
    #[arg(long = "reference", value_name = "TIER.SCHEMA.TABLE.COLUMN=TIER.SCHEMA.TABLE.COLUMN")]
    pub references: Vec<Reference>,

    /// Tenant column (default: inferred: tenant_id, organization_id, ...).
    #[arg(long, value_name = "NAME")]
    pub tenant_column: Option<String>,

    /// Setting that carries the tenant (default: inferred from policies' current_setting()).
    #[arg(long, value_name = "NAME")]
    pub tenant_guc: Option<String>,

    /// Role the application connects as (default: inferred from grants).
    #[arg(long, value_name = "NAME")]
    pub app_role: Option<String>,

    /// Tenants to seed.
    #[arg(long, value_name = "N")]
    pub tenants: Option<u32>,

    /// Rows per table to seed (spread over the tenants); 0 seeds nothing.
    #[arg(long, value_name = "N")]
    pub rows: Option<u64>,

    /// A `[profiles.NAME]` of the scenario: seeded volume and latency effort (e.g. ci, certification).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Reproduce a run exactly (every run prints its seed).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Where the servers come from.
    #[arg(long, value_name = "auto|local|containers|external")]
    pub backend: Option<BackendChoice>,

    /// Container image for --backend containers (default: $TIERGUARD_IMAGE, else postgres:15).
    #[arg(long, value_name = "NAME:TAG")]
    pub image: Option<String>,

    /// Local backend: the PostgreSQL major version to use (default: $TIERGUARD_PG_VERSION, else the newest installed).
    #[arg(long, value_name = "N")]
    pub pg_version: Option<u32>,

    /// With --backend external: the tier's server (read-only unless told otherwise).
    #[arg(long = "dsn", value_name = "NAME=URL", value_parser = named_value)]
    pub dsns: Vec<(String, String)>,

    /// Only these check families.
    #[arg(long, value_name = "FAMILY[,FAMILY]", value_delimiter = ',')]
    pub only: Option<Vec<Family>>,

    /// Report folder (default: reports/<timestamp>-<pid>/).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// Lowest severity that fails the run.
    #[arg(long, value_name = "error|warning|info")]
    pub fail_on: Option<Severity>,

    /// Skipped checks fail the run too (a gate that must prove every check).
    #[arg(long)]
    pub strict: bool,

    /// How a folder's migrations are ordered (auto: detected from the folder).
    #[arg(long, value_name = "auto|plain|supabase|prisma|flyway|golang-migrate|dbmate")]
    pub layout: Option<LayoutChoice>,

    /// A schema statement that fails becomes a load.statement finding and the rest still loads.
    #[arg(long)]
    pub keep_going: bool,

    /// Stand in for an extension the server lacks (known: vector), for an audit that does not depend on it.
    #[arg(long = "stub-extension", value_name = "NAME")]
    pub stub_extensions: Vec<String>,

    /// Report files to write: junit, json, sarif, md, html, gitlab (default: all but gitlab).
    #[arg(long = "format", value_name = "LIST", value_delimiter = ',')]
    pub formats: Option<Vec<Format>>,

    /// No progress output (the summary and errors still print).
    #[arg(long)]
    pub quiet: bool,

    /// Failures recorded in FILE (by --write-baseline) are accepted; only new ones fail the gate.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Record today's failures in FILE, accepted from now on (with --baseline FILE).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,

    /// Run the K-th of N deterministic parts of the checks (join them with `tierguard merge`).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,

    /// A table with more rows is probed on a seeded random sample of about this many (default 100000; 0: never).
    #[arg(long, value_name = "N")]
    pub sample_rows: Option<u64>,

    /// External tiers: cancel any statement of tierguard's after SECONDS (default 300; 0: the server's setting).
    #[arg(long, value_name = "SECONDS")]
    pub statement_timeout: Option<u64>,

    /// After the reports, keep the servers up (a psql command per tier is printed) until Ctrl-C.
    #[arg(long)]
    pub keep_servers: bool,
}

impl RunArgs {
    pub fn overrides(self) -> Overrides {
        Overrides {
            tiers: self.tiers,
            data: self.data,
            dsns: self.dsns,
            references: self.references,
            tenant_column: self.tenant_column,
            tenant_guc: self.tenant_guc,
            app_role: self.app_role,
            seed: self.seed,
            backend: self.backend,
            image: self.image,
            pg_version: self.pg_version,
            only: self.only,
            report_dir: self.report_dir,
            fail_on: self.fail_on,
            strict: self.strict,
            shard: self.shard,
            keep_servers: self.keep_servers,
            sample_rows: self.sample_rows,
            statement_timeout: self.statement_timeout,
            layout: self.layout,
            keep_going: self.keep_going,
            stub_extensions: self.stub_extensions,
            formats: self.formats,
            quiet: self.quiet,
            baseline: self.baseline,
            write_baseline: self.write_baseline,
            tenants: self.tenants,
            rows: self.rows,
            profile: self.profile,
        }
    }
}

/// `NAME=VALUE`
fn named_value(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| "expected NAME=VALUE".to_string())?;
    Ok((name.to_string(), value.to_string()))
}

/// `NAME=PATH[,PATH...]`
fn named_paths(s: &str) -> Result<(String, Vec<PathBuf>), String> {
    let (name, paths) = named_value(s).map_err(|_| "expected NAME=PATH[,PATH...]".to_string())?;
    Ok((name, paths.split(',').filter(|p| !p.is_empty()).map(PathBuf::from).collect()))
}
