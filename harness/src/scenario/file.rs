//! The scenario file's format, as serde reads it. Unknown keys are errors
//! so that a typo never silently turns a check off; `Scenario::from_file`
//! turns these shapes into a scenario.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;

use super::{expectations, workload, ColumnOverride, OnUnsatisfiable, TierColumns};

/// `[tenancy] context` as the file spells it; `function` takes its name
/// from `context_function`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ContextKind {
    #[default]
    Local,
    Session,
    Function,
}


#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    pub(super) name: Option<String>,
    #[allow(dead_code)] // shown to people reading the file; not used by the run
    pub(super) description: Option<String>,
    pub(super) seed: Option<u64>,
    pub(super) tenants: Option<u32>,
    pub(super) rows: Option<u64>,
    #[serde(default)]
    pub(super) seeding: SeedFile,
    pub(super) backend: Option<String>,
    pub(super) image: Option<String>,
    pub(super) pg_version: Option<u32>,
    pub(super) fail_on: Option<String>,
    pub(super) strict: Option<bool>,
    pub(super) only: Option<Vec<String>>,
    #[serde(default)]
    pub(super) load: LoadFile,
    #[serde(default)]
    pub(super) certification: CertificationFile,
    #[serde(default)]
    pub(super) accept: Vec<super::acceptance::AcceptFile>,
    #[serde(default)]
    pub(super) tenancy: TenancyFile,
    #[serde(default)]
    pub(super) tiers: IndexMap<String, TierFile>,
    #[serde(default)]
    pub(super) references: Vec<ReferenceFile>,
    #[serde(default)]
    pub(super) fk: FkFile,
    #[serde(default)]
    pub(super) partitions: PartitionsFile,
    #[serde(default)]
    pub(super) domains: IndexMap<String, expectations::DomainFile>,
    #[serde(default)]
    pub(super) cascade: Vec<expectations::CascadeFile>,
    #[serde(default)]
    pub(super) cascade_rules: expectations::CascadeRulesFile,
    #[serde(default)]
    pub(super) check: expectations::CheckFile,
    #[serde(default)]
    pub(super) latency: Vec<workload::LatencyFile>,
    /// The profile used when `--profile` does not name one.
    pub(super) profile: Option<String>,
    #[serde(default)]
    pub(super) profiles: IndexMap<String, ProfileFile>,
}

/// `[load]`: what `--layout`, `--keep-going` and `--stub-extension` say.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LoadFile {
    pub(super) layout: Option<String>,
    pub(super) keep_going: Option<bool>,
    #[serde(default)]
    pub(super) stub_extensions: Vec<String>,
}

/// `[certification]`: what `--sample-rows` and `--statement-timeout` say.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CertificationFile {
    pub(super) sample_rows: Option<u64>,
    /// Seconds; 0 leaves the server's setting.
    pub(super) statement_timeout: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileFile {
    pub(super) tenants: Option<u32>,
    pub(super) rows: Option<u64>,
    /// Rows per table, on top of `[seeding.tables]`: `"tier.schema.table" = N`.
    #[serde(default)]
    pub(super) tables: IndexMap<String, u64>,
    pub(super) warmup: Option<u32>,
    pub(super) iterations: Option<u32>,
    pub(super) concurrency: Option<u32>,
    pub(super) seq_scan_rows: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedFile {
    /// Rows per table: `"tier.schema.table" = N`.
    #[serde(default)]
    pub(super) tables: IndexMap<String, u64>,
    #[serde(default)]
    pub(super) columns: IndexMap<String, ColumnOverride>,
    pub(super) on_unsatisfiable: Option<OnUnsatisfiable>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TenancyFile {
    pub(super) column: Option<String>,
    pub(super) guc: Option<String>,
    pub(super) app_role: Option<String>,
    #[serde(default)]
    pub(super) shared: Vec<String>,
    #[serde(default)]
    pub(super) context: ContextKind,
    /// `SCHEMA.NAME` of the function that sets the tenant (context = "function").
    pub(super) context_function: Option<String>,
    pub(super) reset: Option<String>,
    /// `"TIER.SCHEMA.TABLE" = ["col -> schema.table.col", ...]`
    #[serde(default)]
    pub(super) paths: IndexMap<String, Vec<String>>,
    /// `"TIER.SCHEMA.TABLE" = "column"`: a table's own tenant column.
    #[serde(default)]
    pub(super) columns: IndexMap<String, String>,
    pub(super) model: Option<super::ModelKind>,
    /// Where the tenant id sits in the JWT claims (`model = "supabase"`).
    pub(super) claim: Option<String>,
    /// `TIER.SCHEMA.TABLE` whose rows make a user a member of a tenant.
    pub(super) membership: Option<String>,
    /// The membership table's user column.
    pub(super) membership_user: Option<String>,
    /// `"app.user_role" = ["platform_admin"]`: values of other settings (or
    /// `jwt.`-prefixed claims) meant to open other tenants' rows.
    #[serde(default)]
    pub(super) privileged: IndexMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TierTenancyFile {
    pub(super) column: Option<String>,
    pub(super) guc: Option<String>,
    /// `TIER.SCHEMA.TABLE.COLUMN` whose rows this tier's tenants are.
    pub(super) tenant_of: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TierFile {
    #[serde(default)]
    pub(super) schema: Vec<PathBuf>,
    #[serde(default)]
    pub(super) data: Vec<PathBuf>,
    pub(super) dsn: Option<String>,
    /// `[tiers.NAME.tenancy]`: the tier's own tenant column and setting.
    pub(super) tenancy: Option<TierTenancyFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReferenceFile {
    pub(super) from: ColumnsFile,
    pub(super) to: ColumnsFile,
}

/// One side of a reference: `"T.S.TABLE.COLUMN"`, `"T.S.TABLE.(C1,C2)"`, or
/// an array of `"T.S.TABLE.COLUMN"` (a composite reference).
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "\"TIER.SCHEMA.TABLE.COLUMN\" or an array of them")]
pub(super) enum ColumnsFile {
    One(String),
    Many(Vec<String>),
}

impl ColumnsFile {
    pub(super) fn parse(&self) -> std::result::Result<TierColumns, String> {
        match self {
            ColumnsFile::One(s) => s.parse(),
            ColumnsFile::Many(items) => TierColumns::of(items.iter().map(|s| s.parse()).collect::<std::result::Result<_, _>>()?),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FkFile {
    #[serde(default)]
    pub(super) allow_missing: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct PartitionsFile {
    pub(super) months_ahead: Option<u32>,
}
