//! How a tier's files load: the migration layout of its folders
//! (`--layout`), whether a statement that fails stops the run
//! (`--keep-going`), and which missing extensions get a stand-in
//! (`--stub-extension`).

use std::fmt;
use std::str::FromStr;

/// How a folder's migrations are named and ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `.sql` files in name order.
    Plain,
    /// `supabase/migrations/<timestamp>_name.sql`; `supabase/seed.sql` is data.
    Supabase,
    /// `prisma/migrations/<timestamp>_name/migration.sql`.
    Prisma,
    /// `V<version>__desc.sql` by version, then `R__desc.sql` by name; `U` (undo) ignored.
    Flyway,
    /// `<version>_name.up.sql` by version; `.down.sql` ignored.
    GolangMigrate,
    /// `<version>_name.sql` holding `-- migrate:up` and `-- migrate:down`: the up part.
    Dbmate,
}

impl Layout {
    pub const ALL: [Layout; 6] = [Layout::Plain, Layout::Supabase, Layout::Prisma, Layout::Flyway, Layout::GolangMigrate, Layout::Dbmate];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Plain => "plain",
            Layout::Supabase => "supabase",
            Layout::Prisma => "prisma",
            Layout::Flyway => "flyway",
            Layout::GolangMigrate => "golang-migrate",
            Layout::Dbmate => "dbmate",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--layout`: `auto` (detected from the folder) or one layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayoutChoice {
    #[default]
    Auto,
    Forced(Layout),
}

impl FromStr for LayoutChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(LayoutChoice::Auto);
        }
        Layout::ALL.into_iter().find(|l| l.name() == s).map(LayoutChoice::Forced).ok_or_else(|| {
            let names: Vec<&str> = Layout::ALL.iter().map(|l| l.name()).collect();
            format!("unknown layout `{s}` (auto, {})", names.join(", "))
        })
    }
}

/// Everything about loading that the scenario (or its flags) says.
#[derive(Debug, Clone, Default)]
pub struct Loading {
    pub layout: LayoutChoice,
    /// A schema statement that fails becomes a `load.statement` finding.
    pub keep_going: bool,
    /// Extensions to replace with a stand-in when the server lacks them.
    pub stub_extensions: Vec<String>,
}
