//! Repro files: for each failing probe, `repro/<check>-<tier>-<object>.json`
//! (what `tierguard replay` reads) and a `.sql` beside it (the minimal case
//! as a psql script). The scripts of a seeded tier start by loading
//! `repro/<tier>.data.sql`, that tier's rows as seeded, so that psql alone
//! shows the failure on any database that holds the tier's schema.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::catalog::Catalog;
use crate::checks::rls::act::Case;
use crate::checks::Finding;
use crate::sql::{quote_ident, quote_literal};
use crate::scenario::Scenario;

/// Rows of a tier above which no data script is written: a repro should
/// stay a file a person opens, and `tierguard replay` rebuilds any volume.
pub const DATA_ROWS: u64 = 100_000;

/// The auth stand-in a JWT repro needs outside Supabase, beside the scripts.
const AUTH_STUB_FILE: &str = "auth_stub.sql";

#[derive(Debug, Serialize, Deserialize)]
pub struct ReproFile {
    pub check: String,
    pub tier: String,
    pub object: String,
    pub seed: u64,
    /// The scenario file the run used (absolute), when there was one.
    pub scenario: Option<PathBuf>,
    /// Each tier's schema files as the run loaded them (flags included).
    pub tiers: Vec<(String, Vec<PathBuf>)>,
    /// Each tier's fixed-row files.
    pub data: Vec<(String, Vec<PathBuf>)>,
    pub message: String,
    pub case: Case,
}

/// Names the repro files of failing probes and fills in `repro` on them.
pub fn assign(findings: &mut [Finding], dir: &Path) {
    for finding in findings.iter_mut().filter(|f| f.case.is_some()) {
        let stem = file_safe(&format!("{}-{}-{}", finding.check, finding.tier, finding.object));
        let file = format!("repro/{stem}.json");
        if let Some(repro) = &mut finding.repro {
            repro.command = format!("tierguard replay {}", dir.join(&file).display());
            repro.file = Some(file);
        }
    }
}

fn absolute(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect()
}

/// Writes `repro/<tier>.data.sql` for the catalog's tier when one of its
/// findings has a repro: every table's rows (COPY text, which psql reads
/// inline) and every sequence's position, replacing what the database
/// holds. Triggers and FK checks are off while it loads
/// (`session_replication_role`): the rows are already what the seeded tier
/// held. Returns the file's name, or None
/// when no script is wanted. The caller skips external tiers: their rows
/// belong to the user and stay in their database.
pub async fn write_data(
    findings: &[Finding],
    catalog: &Catalog,
    pool: &PgPool,
    rows: u64,
    dir: &Path,
) -> Result<Option<String>, Box<dyn std::error::Error + Send + Sync>> {
    let wanted = findings.iter().any(|f| f.tier == catalog.tier && f.case.is_some());
    if !wanted || rows > DATA_ROWS {
        return Ok(None);
    }
    let name = format!("{}.data.sql", file_safe(&catalog.tier));
    let path = dir.join("repro").join(&name);
    std::fs::create_dir_all(path.parent().expect("repro folder"))?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    // Partitions are filled through their roots.
    let tables: Vec<_> = catalog.tables.iter().filter(|t| !t.is_partition()).collect();
    writeln!(out, "-- tierguard: every row of tier {} as seeded, for the repro scripts beside this file.", catalog.tier)?;
    writeln!(out, "-- Replaces the rows of a database that holds the tier's schema; needs a superuser.")?;
    writeln!(out, "SET session_replication_role = replica;")?;
    let names: Vec<String> = tables.iter().map(|t| t.name.sql()).collect();
    if !names.is_empty() {
        writeln!(out, "TRUNCATE {};", names.join(", "))?;
    }
    let mut conn = pool.acquire().await?;
    for table in &tables {
        // Generated columns are computed again on the way in.
        let columns: Vec<String> = table.columns.iter().filter(|c| !c.generated).map(|c| quote_ident(&c.name)).collect();
        let columns = columns.join(", ");
        writeln!(out, "COPY {} ({columns}) FROM stdin;", table.name.sql())?;
        let mut copy = conn
            .copy_out_raw(&format!("COPY (SELECT {columns} FROM {}) TO STDOUT", table.name.sql()))
            .await?;
        while let Some(chunk) = copy.try_next().await? {
            out.write_all(&chunk)?;
        }
        drop(copy);
        writeln!(out, "\\.")?;
    }
    let sequences: BTreeSet<&String> = catalog.tables.iter().flat_map(|t| &t.columns).filter_map(|c| c.sequence.as_ref()).collect();
    for sequence in sequences {
        let (last, called): (i64, bool) = sqlx::query_as(&format!("SELECT last_value, is_called FROM {sequence}"))
            .fetch_one(&mut *conn)
            .await?;
        writeln!(out, "SELECT pg_catalog.setval({}, {last}, {called});", quote_literal(sequence))?;
    }
    writeln!(out, "RESET session_replication_role;")?;
    out.flush()?;
    Ok(Some(name))
}

fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

/// Writes the files `assign` named; `data` names each tier's data script
/// (see [`write_data`]), which the tier's scripts load first.
pub fn write(findings: &[Finding], scenario: &Scenario, data: &BTreeMap<String, String>, dir: &Path) -> std::io::Result<()> {
    for finding in findings {
        let (Some(case), Some(file)) = (&finding.case, finding.repro.as_ref().and_then(|r| r.file.as_ref())) else { continue };
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("repro folder"))?;
        let repro = ReproFile {
            check: finding.check.to_string(),
            tier: finding.tier.clone(),
            object: finding.object.clone(),
            seed: scenario.seed,
            scenario: scenario.path.as_ref().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            tiers: scenario.tiers.iter().map(|t| (t.name.clone(), absolute(&t.schema))).collect(),
            data: scenario.tiers.iter().map(|t| (t.name.clone(), absolute(&t.data))).collect(),
            message: finding.message.clone(),
            case: (**case).clone(),
        };
        std::fs::write(&path, serde_json::to_string_pretty(&repro).expect("serialises") + "\n")?;
        let (_, schema) = repro.tiers.iter().find(|(tier, _)| tier == &finding.tier).cloned().unwrap_or_default();
        let schema: Vec<String> = schema.iter().map(|p| p.display().to_string()).collect();
        let schema = schema.join(" ");
        let how = match data.get(&finding.tier) {
            Some(rows) => format!(
                "-- Run it with psql (as a superuser) on a database that holds the tier's schema\n\
                 -- ({schema}): it first loads the seeded rows from {rows}.\n\
                 -- `tierguard replay {}` rebuilds the tier and re-runs it.\n\\ir {rows}\n",
                path.display()
            ),
            None => format!(
                "-- Run it with psql against the tier's database as tierguard left it\n\
                 -- (seed {}); `tierguard replay {}` rebuilds that database and re-runs it.\n",
                scenario.seed,
                path.display()
            ),
        };
        // Acting through JWT claims needs auth.* (Supabase's, or the stand-in).
        let how = match case.actor.jwt {
            Some(_) => {
                std::fs::write(dir.join("repro").join(AUTH_STUB_FILE), crate::load::AUTH_STUB)?;
                format!(
                    "-- It signs in through PostgREST's JWT claims: outside Supabase, the database needs\n\
                     -- tierguard's stand-in for the auth schema ({AUTH_STUB_FILE} beside this file) loaded before the schema.\n{how}"
                )
            }
            None => how,
        };
        let sql = format!(
            "-- tierguard repro: {} on tier {}, {}\n-- {}\n{how}{}",
            finding.check,
            finding.tier,
            finding.object,
            finding.message.replace('\n', " "),
            case.sql()
        );
        std::fs::write(path.with_extension("sql"), sql)?;
    }
    Ok(())
}
