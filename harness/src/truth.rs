//! What the seeder knows that the checks need, behind one small interface:
//! the tenants, how many rows each table got and which tenant owns each,
//! a row's key values, new valid rows for the write probes, and what could
//! not be seeded. The seeder implements it (`seed::Seeded`); the checks
//! read it and never see how rows were made. Verdicts themselves compare
//! with what the database holds (the probes' `Truth`); this only says what
//! to try.

use crate::sql::QualName;

/// Rows tierguard seeded, as the checks may ask about them.
pub trait SeedTruth: Sync {
    /// Tenant ids as text, as tier `tier` names them (most tiers by the
    /// tenant's id; see `tenancy::TenantOf`), in seeding order: positions
    /// are the tenant indexes [`SeedTruth::owner`] and
    /// [`SeedTruth::fresh_row`] use.
    fn tenants(&self, tier: &str) -> Vec<String>;

    /// Whether every row of the table was written by tierguard (none was
    /// there before seeding): its references hold by construction.
    fn generated(&self, tier: &str, table: &QualName) -> bool;

    /// Rows in the table after seeding (fixed rows included).
    fn rows(&self, tier: &str, table: &QualName) -> u64;

    /// The tenant (index into [`SeedTruth::tenants`]) that owns row `row`.
    fn owner(&self, tier: &str, table: &QualName, row: u64) -> Option<usize>;

    /// The value row `row` holds in `column`, as text (keys, to look rows up).
    fn value(&self, tier: &str, table: &QualName, row: u64, column: &str) -> Option<String>;

    /// A new row for `table` owned by tenant `tenant`, valid in every
    /// respect: (column, type, text or NULL).
    fn fresh_row(&self, tier: &str, table: &QualName, tenant: usize) -> Option<Vec<(String, String, Option<String>)>>;

    /// What could not be seeded.
    fn unseeded(&self) -> Vec<Unseeded>;

    /// Each tenant's canary tag (see `crate::canary`), by tenant index.
    fn canary_tags(&self) -> Vec<String>;

    /// Where a marker was seeded: `tier schema.table row #j (key=value)`.
    fn canary_origin(&self, marker: &crate::canary::Marker) -> Option<String>;

    /// Keys standing in for markers where a tenant's rows carry none (a
    /// random uuid) of tenant `tenant`'s rows: (key, where it was seeded).
    fn key_canaries(&self, tenant: usize) -> Vec<(String, String)>;
}

/// A table, or some of its rows, that seeding could not make.
#[derive(Debug, Clone)]
pub struct Unseeded {
    pub tier: String,
    /// `schema.table.column` of an empty table, `schema.table` of rows left out.
    pub object: String,
    pub message: String,
    /// The rows left out (none: the whole table).
    pub rows: Vec<u64>,
}

impl Unseeded {
    /// The first rows left out, as a finding shows them (`#17`).
    pub fn samples(&self) -> Vec<String> {
        shown_rows(&self.rows)
    }
}

/// Row numbers as messages show them: the first ten, `#17`.
pub fn shown_rows(rows: &[u64]) -> Vec<String> {
    rows.iter().take(10).map(|r| format!("#{r}")).collect()
}
