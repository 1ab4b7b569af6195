//! One run, in the order the folders show it: provision → load → catalog →
//! checks → report. Servers live in this future; dropping it (error, Ctrl-C)
//! stops and removes them.

use std::path::PathBuf;
use std::time::Instant;

use futures::future::try_join_all;
use indexmap::IndexMap;
use sqlx::PgPool;

use crate::catalog::Catalog;
use crate::truth::SeedTruth;
use crate::tenancy::{acting::Actor, Tenancy};
use crate::checks::{self, Family, Finding, TierContext};
use crate::error::{HarnessError, Result};
use crate::provision::{self, BackendKind, Server};
use crate::report::{self, stats, Report, Summary, TierReport};
use crate::scenario::{Scenario, Unit};
use crate::seed;

/// Test hook: `panic-after-provision` makes the run panic once servers are up.
pub const FAULT_ENV: &str = "TIERGUARD_FAULT";

#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub dir: PathBuf,
    /// At least one finding fails the gate (`--fail-on`).
    pub failed: bool,
    /// The servers, still up (`--keep-servers`).
    pub kept: Option<provision::Kept>,
}

/// A tier that is up and loaded.
pub struct Tier {
    pub server: Server,
    pub pool: PgPool,
    /// Schema statements that failed to load (`--keep-going`).
    pub failed: Vec<crate::load::Failure>,
    /// Where each object of the schema was created.
    pub origins: crate::load::Origins,
}

pub async fn run(scenario: &Scenario) -> Result<Outcome> {
    let mut timings = IndexMap::new();
    let mut phase = Instant::now();
    let mut lap = |name: &str, timings: &mut IndexMap<String, u64>| {
        timings.insert(name.to_string(), phase.elapsed().as_millis() as u64);
        phase = Instant::now();
    };
    progress(scenario, &format!(
        "scenario {} · seed {} · {} tier(s){}",
        scenario.name,
        scenario.seed,
        scenario.tiers.len(),
        scenario.profile.as_ref().map(|p| format!(" · profile {p}")).unwrap_or_default()
    ));

    // The report folder and every file list are checked before anything
    // starts: a typo should not cost a server start, nor a whole run.
    let dir = scenario.report_dir.clone().unwrap_or_else(report::default_dir);
    report::check_writable(&dir)?;
    crate::load::check_stubs(&scenario.loading.stub_extensions)?;
    let baseline = scenario.baselines.read.as_deref().map(crate::accept::Baseline::read).transpose()?;
    if let (Some(shard), Some(_)) = (scenario.shard, &scenario.baselines.write) {
        return Err(HarnessError::input(format!(
            "--write-baseline with --shard {shard}: a shard sees only its part of the failures; record the baseline from a run without --shard"
        )));
    }
    if scenario.keep_servers && scenario.backend == crate::scenario::BackendChoice::External {
        return Err(HarnessError::input("--keep-servers keeps the servers tierguard starts; with --backend external they are yours and stay up anyway"));
    }
    let files = scenario
        .tiers
        .iter()
        .map(|t| Ok((crate::load::schema(&t.name, &t.schema, scenario.loading.layout)?, crate::load::data(&t.name, &t.data)?)))
        .collect::<Result<Vec<_>>>()?;
    for (tier, (schema, _)) in scenario.tiers.iter().zip(&files) {
        for folder in &schema.folders {
            progress(scenario, &format!("tier {}: {}", tier.name, folder.describe()));
        }
    }

    let servers = provision::provision(scenario).await?;
    lap("provision", &mut timings);
    // Lets the tests prove that a panic mid-run still removes every server.
    if std::env::var_os(FAULT_ENV).is_some_and(|v| v == "panic-after-provision") {
        panic!("fault injected by {FAULT_ENV}");
    }
    progress(scenario, &format!(
        "provisioned {} on {}",
        scenario.tier_names().join(", "),
        servers.first().map(|s| s.backend.to_string()).unwrap_or_default()
    ));

    // provision() returns servers in scenario order.
    let tiers = try_join_all(
        servers
            .into_iter()
            .zip(&files)
            .map(|(server, (schema, data))| load(server, schema, data, scenario)),
    )
    .await?;
    lap("load", &mut timings);
    let failed_statements: usize = tiers.iter().map(|t| t.failed.len()).sum();
    if failed_statements > 0 {
        progress(scenario, &format!(
            "{failed_statements} schema statement(s) failed to load (--keep-going): the audit runs on what loaded; each is a load.statement finding"
        ));
    }

    let catalogs = try_join_all(tiers.iter().map(|t| Catalog::read(&t.server.tier, &t.pool))).await?;
    for (tier, catalog) in tiers.iter().zip(&catalogs) {
        audits_something(tier, catalog).await?;
    }
    crate::names::check(scenario, &catalogs)?;
    let tenancy = Tenancy::infer(scenario, &catalogs)?;
    lap("catalog", &mut timings);
    for line in tenancy.describe() {
        progress(scenario, &line);
    }
    if let Some(snippet) = tenancy.snippet() {
        progress(scenario, &format!("to pin the tenancy down, add to the scenario:\n{}", indent(&snippet)));
    }
    let only_isolation = scenario.only.as_ref().is_some_and(|only| only.iter().all(|f| *f == Family::Rls));
    let has_tenant_tables = catalogs.iter().any(|c| tenancy.scoped_tables(c).next().is_some());
    if only_isolation && has_tenant_tables && (tenancy.app_role.is_none() || catalogs.iter().all(|c| tenancy.guc(&c.tier).is_none())) {
        // Nothing at all could be probed: that is not a verdict.
        return Err(HarnessError::input(checks::rls::NO_ACTOR.to_string()));
    }

    let audited: Vec<_> = catalogs.iter().zip(tiers.iter().map(|t| &t.pool)).collect();
    if scenario.runs(Family::Latency) {
        checks::latency::validate(scenario, &audited).await?;
    }
    // External servers are audited as they are: nothing is ever written there.
    let external = tiers.iter().any(|t| t.server.backend == BackendKind::External);
    let mut seeded = None;
    if scenario.seeding.rows > 0 && !external {
        let done = seed::seed(scenario, &audited, &tenancy).await?;
        lap("seed", &mut timings);
        let rows: u64 = {
            use crate::truth::SeedTruth;
            let done = &done;
            catalogs.iter().flat_map(|c| c.tables.iter().map(move |t| done.rows(&c.tier, &t.name) as u64)).sum()
        };
        let seconds = timings["seed"] as f64 / 1000.0;
        progress(
            scenario,
            &format!(
                "seeded {} tenant(s), {} row(s) per table: {rows} row(s) in {seconds:.1} s ({:.0} rows/s)",
                scenario.seeding.tenants,
                scenario.seeding.rows,
                rows as f64 / seconds.max(0.001)
            ),
        );
        seeded = Some(done);
    }
    if let Some(seeded) = &seeded {
        for broken in &seeded.broken_triggers {
            progress(scenario, &format!("tier {}: {}", broken.tier, broken.describe()));
        }
        for catalog in &catalogs {
            seeded_something(seeded, catalog)?;
        }
    }
    // Tables left empty by `on_unsatisfiable = "skip"` are reported whatever
    // families run: every check that reads them sees an empty table.
    let mut findings: Vec<Finding> = Vec::new();
    if scenario.reports_phases() {
        findings.extend(tiers.iter().flat_map(|t| checks::load::findings(&t.server.tier, &t.failed)));
        findings.extend(seeded.as_ref().map(|s| checks::check::domain::unseeded(s)).unwrap_or_default());
    }
    let phases = findings.len();
    let audit = Audit {
        scenario,
        tenancy: &tenancy,
        seeded: seeded.as_ref(),
        read_only: external,
    };
    findings.extend(checks_of(&audit, &audited).await);
    // A shard keeps its findings as the checks gave them for the merge:
    // what follows from what may depend on another shard's findings.
    let raw = scenario.shard.map(|_| findings.clone());
    checks::causes::attribute(&mut findings);
    lap("checks", &mut timings);
    progress(
        scenario,
        &format!(
            "checked: {} verdict(s) from {} probe transaction(s) in {:.1} s",
            findings.len(),
            crate::checks::rls::act::PROBES_RUN.load(std::sync::atomic::Ordering::Relaxed),
            timings["checks"] as f64 / 1000.0
        ),
    );

    // Counting and checksumming reads every row: tiers at once.
    let tier_reports = try_join_all(tiers.iter().zip(&catalogs).map(|(tier, catalog)| async move {
        Ok::<_, HarnessError>(TierReport {
            name: tier.server.tier.clone(),
            backend: tier.server.backend,
            server_version: tier.server.version.clone(),
            tables: stats::tables(catalog, &tier.pool)
                .await
                .map_err(|e| HarnessError::database(&tier.server.tier, format!("counting rows: {e}")))?,
        })
    }))
    .await?;
    lap("stats", &mut timings);

    // What the team accepted fails no gate; recording a baseline accepts
    // today's failures from this run on.
    let gate = checks::Gate::of(scenario);
    let today = chrono::Local::now().date_naive();
    let mut notes = crate::accept::apply(&mut findings, &scenario.accepts, baseline.as_ref(), gate, today);
    if let Some(path) = &scenario.baselines.write {
        let recorded = crate::accept::Baseline::of(&findings, gate, path);
        recorded.write()?;
        notes.push(format!("baseline: recorded {} failure(s) in {}; pass --baseline {} from now on", recorded.len(), path.display(), path.display()));
        crate::accept::apply(&mut findings, &[], Some(&recorded), gate, today);
    }
    for note in notes {
        progress(scenario, &note);
    }
    report::repro::assign(&mut findings, &dir);
    let mut repro_data = std::collections::BTreeMap::new();
    for ((tier, catalog), stats) in tiers.iter().zip(&catalogs).zip(&tier_reports) {
        if tier.server.backend == BackendKind::External {
            continue; // the user's rows stay in the user's database
        }
        let rows = stats.tables.iter().map(|t| t.rows as u64).sum();
        let written = report::repro::write_data(&findings, catalog, &tier.pool, rows, &dir).await;
        if let Some(file) = written.map_err(|e| HarnessError::Report { path: dir.clone(), message: e.to_string() })? {
            repro_data.insert(tier.server.tier.clone(), file);
        }
    }
    report::repro::write(&findings, scenario, &repro_data, &dir).map_err(|e| HarnessError::Report {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let failed = findings.iter().any(|f| gate.fails(f));
    let report = Report {
        tool: "tierguard",
        version: env!("CARGO_PKG_VERSION"),
        seed: scenario.seed,
        scenario: Some(scenario.name.clone()),
        tiers: tier_reports,
        summary: Summary::of(&findings),
        findings,
        timings,
        probes: crate::checks::rls::act::PROBES_RUN.load(std::sync::atomic::Ordering::Relaxed),
        unscoped: tenancy.unscoped().to_vec(),
        origins: tiers.iter().map(|t| (t.server.tier.clone(), t.origins.clone())).collect(),
    };
    report::write(&report, &dir, &scenario.output, gate)?;
    if let (Some(shard), Some(raw)) = (scenario.shard, raw) {
        report::shard::ShardFile {
            shard,
            scenario: report.scenario.clone(),
            seed: scenario.seed,
            fail_on: gate.fail_on,
            strict: gate.strict,
            formats: scenario.output.formats.iter().map(|f| f.name().to_string()).collect(),
            accepts: scenario.accepts.iter().map(report::shard::Accepted::of).collect(),
            baseline: scenario.baselines.read.clone(),
            findings: raw
                .into_iter()
                .enumerate()
                .map(|(i, finding)| report::shard::Placed {
                    unit: if i < phases { Unit::PHASES } else { unit_of(scenario, &finding) },
                    elapsed_us: finding.elapsed.map(|e| e.as_micros() as u64),
                    finding,
                })
                .collect(),
            tiers: report.tiers.clone(),
            unscoped: report.unscoped.clone(),
            origins: report.origins.clone(),
            timings: report.timings.clone(),
            probes: report.probes,
        }
        .write(&dir)?;
    }
    report::publish(&report, gate).map_err(|e| HarnessError::Report { path: dir.clone(), message: format!("GitHub Actions summary: {e}") })?;
    let kept = match scenario.keep_servers {
        true => Some(provision::Kept::new(tiers.into_iter().map(|t| t.server).collect(), &dir).map_err(|e| HarnessError::Report {
            path: dir.clone(),
            message: format!("password file for --keep-servers: {e}"),
        })?),
        false => None,
    };
    Ok(Outcome { report, dir, failed, kept })
}

/// Applies schema then fixed rows, and says what it took beyond the
/// schema's own statements. External tiers are audited as they are:
/// nothing is written to a user's database.
async fn load(server: Server, schema: &crate::load::Files, data: &crate::load::Files, scenario: &Scenario) -> Result<Tier> {
    let pool = server.pool(8).await?;
    let tier = server.tier.clone();
    if server.backend == BackendKind::External {
        if !data.sources.is_empty() {
            return Err(HarnessError::input(format!(
                "tier `{tier}`: --data would write to an external database; tierguard never writes there"
            )));
        }
        return Ok(Tier { server, pool, failed: Vec::new(), origins: Default::default() });
    }
    let mut conn = pool.acquire().await.map_err(|e| HarnessError::database(&tier, e))?;
    let advice = |extension: &str| server.extension_advice(extension);
    let loaded = crate::load::apply_schema(&mut conn, &tier, schema, &scenario.loading, &advice).await?;
    if loaded.auth_stub {
        progress(scenario, &format!(
            "tier {tier}: the schema uses Supabase's auth.* but creates no auth schema: installed a stand-in first (roles anon, authenticated, service_role; auth.users; auth.uid(), auth.jwt(), auth.role())"
        ));
    }
    if !loaded.created_roles.is_empty() {
        progress(scenario, &format!(
            "tier {tier}: the schema grants to roles it never creates; created them NOLOGIN: {}",
            loaded.created_roles.join(", ")
        ));
    }
    for extension in &loaded.stubbed {
        progress(scenario, &format!("tier {tier}: extension {extension} is not installed: loaded tierguard's stand-in for it (--stub-extension)"));
    }
    for skipped in &loaded.skipped {
        progress(scenario, &format!("tier {tier}: left out {}:{} `{}`: it {}", skipped.file, skipped.line, skipped.statement, skipped.message));
    }
    crate::load::apply(&mut conn, &tier, data).await?;
    drop(conn);
    Ok(Tier { server, pool, failed: loaded.failed, origins: loaded.origins })
}

/// A tier that holds no table, or whose tables' rows the login role cannot
/// see (an external server's row level security hiding them from the
/// auditor), would be audited vacuously: that is no pass, but exit 2.
async fn audits_something(tier: &Tier, catalog: &Catalog) -> Result<()> {
    let name = &tier.server.tier;
    if catalog.tables.is_empty() {
        let what = match tier.server.backend {
            BackendKind::External => "the database has no table in a user schema that the login role can see",
            _ => "its schema created no table (is --tier pointing at the right files or folder?)",
        };
        return Err(HarnessError::input(format!("tier `{name}`: nothing to audit: {what}")));
    }
    if tier.server.backend != BackendKind::External {
        return Ok(()); // tierguard's own superuser sees every row
    }
    // Statistics count rows whoever reads them; a SELECT sees what policies let through.
    let mut hidden = Vec::new();
    for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
        let sql = format!(
            "SELECT GREATEST(c.reltuples::bigint, COALESCE(s.n_live_tup, 0)), EXISTS (SELECT 1 FROM {} LIMIT 1) \
             FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = $1::regclass",
            table.name.sql()
        );
        let row: Option<(i64, bool)> = sqlx::query_as(&sql).bind(table.name.sql()).fetch_optional(&tier.pool).await.unwrap_or(None);
        if let Some((rows, false)) = row.filter(|(rows, _)| *rows > 0) {
            hidden.push(format!("{} (~{rows} rows)", table.name));
        }
    }
    if hidden.is_empty() {
        return Ok(());
    }
    Err(HarnessError::input(format!(
        "tier `{name}`: the login role sees none of the rows of {} (row level security hides them), so tierguard has no ground truth: \
         audit with a role that has BYPASSRLS (or a superuser); every probe still runs read-only",
        hidden.join(", ")
    )))
}

/// Seeding that left every table of a tier empty (no table could be
/// seeded, and `on_unsatisfiable = "skip"` let it go on) leaves the probes
/// nothing to act on: every one would skip, and a run of skips is no pass.
fn seeded_something(seeded: &seed::Seeded, catalog: &Catalog) -> Result<()> {
    use crate::truth::SeedTruth;
    if catalog.tables.iter().filter(|t| !t.is_partition()).any(|t| seeded.rows(&catalog.tier, &t.name) > 0) {
        return Ok(());
    }
    let why: Vec<String> = seeded.unseeded().into_iter().filter(|u| u.tier == catalog.tier).take(3).map(|u| u.message).collect();
    Err(HarnessError::input(format!(
        "tier `{}`: nothing to audit: seeding left every table empty ({}); give the columns generators ([seeding.columns]) or fix the constraints",
        catalog.tier,
        if why.is_empty() { "no table could be seeded".to_string() } else { why.join("; ") }
    )))
}

/// What every tier's checks share.
pub struct Audit<'a> {
    pub scenario: &'a Scenario,
    pub tenancy: &'a Tenancy,
    pub seeded: Option<&'a seed::Seeded>,
    pub read_only: bool,
}

/// Every selected check family on every tier (its catalog and a pool on
/// its database), tiers concurrently; a failure that follows from another
/// is attributed to its root.
pub async fn audit(audit: &Audit<'_>, tiers: &[(&Catalog, &PgPool)]) -> Vec<Finding> {
    let mut findings = checks_of(audit, tiers).await;
    checks::causes::attribute(&mut findings);
    findings
}

/// Where `finding` stands in one unsharded run (after the phases).
fn unit_of(scenario: &Scenario, finding: &Finding) -> Unit {
    let family: Family = finding.family().parse().unwrap_or(Family::Rls);
    scenario.unit_of((family != Family::Orphan).then_some(finding.tier.as_str()), family)
}

/// [`audit`]'s findings as the checks give them, in the order of
/// `Scenario::unit_of`.
async fn checks_of(audit: &Audit<'_>, tiers: &[(&Catalog, &PgPool)]) -> Vec<Finding> {
    // Tables whose tenant is read through another tier need that tier's
    // rows as they are now, after seeding.
    let tenancy = audit.tenancy.with_remote_mappings(tiers).await;
    let audit = &Audit { tenancy: &tenancy, ..*audit };
    let acts = audit.scenario.runs(Family::Rls) || audit.scenario.runs(Family::Latency);
    let per_tier = futures::future::join_all(tiers.iter().map(|&(catalog, pool)| async move {
        let login = audit.tenancy.login.as_ref().or(audit.tenancy.app_role.as_ref());
        let app_pool = match (login, acts && !audit.read_only) {
            (Some(role), true) => checks::login::app_pool(pool, role).await,
            _ => None,
        };
        let actor = Actor::of(audit.tenancy, &catalog.tier, &audit.scenario.tenancy.context, pool).await;
        let ctx = TierContext {
            catalog,
            tenancy: audit.tenancy,
            scenario: audit.scenario,
            pool,
            app_pool: app_pool.as_ref(),
            seeded: audit.seeded.map(|s| s as &dyn SeedTruth),
            read_only: audit.read_only,
            actor: actor.as_ref(),
        };
        let findings = checks::rls::probe_log::TIER.scope(catalog.tier.clone(), checks::run_tier(&ctx)).await;
        if let Some(app_pool) = app_pool {
            app_pool.close().await;
        }
        findings
    }))
    .await;
    let mut findings: Vec<Finding> = per_tier.into_iter().flatten().collect();
    // References may cross tiers: this family looks at all of them at once.
    if audit.scenario.checks(None, Family::Orphan) {
        findings.extend(checks::timed(checks::orphan::run(audit.scenario, tiers, audit.tenancy, audit.seeded.map(|s| s as &dyn SeedTruth))).await);
    }
    findings
}

/// A line saying what the run is doing, unless `--quiet`.
fn progress(scenario: &Scenario, line: &str) {
    if !scenario.output.quiet {
        tell(line);
    }
}

/// A line on standard error, as `tierguard: ...`; a closed terminal is
/// no reason to fail mid-run (the servers are stopped all the same).
pub fn tell(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "tierguard: {line}");
}

/// `text` with every line indented two spaces, to set it off in the progress.
fn indent(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("  {l}") }).collect::<Vec<_>>().join("\n")
}
