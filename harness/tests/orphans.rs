//! The orphan family on a two-tier shop (fixtures/defects/orphan/): each
//! case under `cases/` adds or deletes rows, on one tier or both, so that a
//! known number of rows are orphans or name another tenant's row. The audit
//! must report exactly those findings, with exact counts and the first rows,
//! working through read-only sessions of a role that may only read (as on
//! an external server); and the SQL each failing finding shows must list
//! exactly `count` rows when a person runs it with psql.
//!
//! One lab (two servers, schema and fixed rows in template databases)
//! serves the binary; each case runs on clones of both tiers.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rstest::rstest;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tierguard::catalog::Catalog;
use tierguard::checks::{Finding, Status};
use tierguard::{load, run};

use common::lab::Lab;
use common::{failing, rt, Defect};

const SHOP: &str = "fixtures/defects/orphan/shop.toml";
/// A login that can read every table and write nothing.
const READER: &str = "orphan_reader";

struct Audit {
    findings: Vec<Finding>,
    /// Read-only DSN of each tier's clone, by tier.
    dsns: BTreeMap<String, String>,
}

/// Clones both tiers as `<name>_<tier>`, applies the case's sections as
/// the superuser, then audits as the reader in read-only sessions.
fn audit(name: &str, case: Option<&Defect>) -> Audit {
    let lab = Lab::get(SHOP);
    for (tier, _) in case.iter().flat_map(|c| &c.sections) {
        lab.tier_index(tier); // a section for a tier the shop does not have is a typo
    }
    rt().block_on(async {
        let mut tiers = Vec::new();
        let mut dsns = BTreeMap::new();
        for tier in &lab.scenario.tiers {
            let database = format!("{name}_{}", tier.name);
            let admin = lab.clone_tier(&tier.name, &database).await;
            let mut conn = admin.acquire().await.expect("connection");
            sqlx::raw_sql(&format!(
                "DO $$ BEGIN CREATE ROLE {READER} LOGIN PASSWORD '{READER}' IN ROLE pg_read_all_data;
                 EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            ))
            .execute(&mut *conn)
            .await
            .expect("reader role");
            if let Some(case) = case {
                for (_, sql) in case.sections.iter().filter(|(section, _)| section == &tier.name) {
                    load::apply_script(&mut conn, &tier.name, &case.path, sql)
                        .await
                        .unwrap_or_else(|e| panic!("{} does not apply: {e}", case.path.display()));
                }
            }
            drop(conn);
            admin.close().await;
            let server = &lab.servers[lab.tier_index(&tier.name)].options;
            let (host, port) = (server.get_host(), server.get_port());
            let reader = PgConnectOptions::new()
                .host(host)
                .port(port)
                .username(READER)
                .password(READER)
                .database(&database)
                .options([("default_transaction_read_only", "on")]);
            let pool = PgPoolOptions::new().max_connections(4).connect_with(reader).await.expect("reader pool");
            let catalog = Catalog::read(&tier.name, &pool).await.expect("catalog");
            dsns.insert(tier.name.clone(), format!("postgresql://{READER}:{READER}@{host}:{port}/{database}"));
            tiers.push((catalog, pool));
        }
        let catalogs: Vec<Catalog> = tiers.iter().map(|(c, _)| c.clone()).collect();
        let tenancy = lab.tenancy(&catalogs);
        let audited: Vec<_> = tiers.iter().map(|(c, p)| (c, p)).collect();
        let audit = run::Audit {
            scenario: &lab.scenario,
            tenancy: &tenancy,
            seeded: lab.seeded.as_ref(),
            read_only: true,
        };
        let findings = run::audit(&audit, &audited).await;
        Audit { findings, dsns }
    })
}

/// Runs a finding's SQL with psql, as a person would (the cross-tier ones
/// `\connect` to both tiers), and counts the rows it lists.
fn rows_listed(audit: &Audit, finding: &Finding) -> usize {
    let sql = finding.details["sql"].as_str().expect("sql is text");
    let mut psql = Command::new("psql");
    psql.arg(&audit.dsns[&finding.tier]).args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]);
    for (tier, dsn) in &audit.dsns {
        psql.arg("-v").arg(format!("{tier}={dsn}"));
    }
    let mut child = psql
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs (postgresql-client)");
    child.stdin.take().expect("stdin").write_all(sql.as_bytes()).expect("script to psql");
    let output = child.wait_with_output().expect("psql output");
    assert!(
        output.status.success(),
        "{} {}: psql failed on\n{sql}\n{}",
        finding.check,
        finding.object,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).lines().filter(|l| !l.is_empty()).count()
}

#[test]
fn clean_shop_passes_every_reference_and_unguarded_fk() {
    let audit = audit("clean", None);
    let verdicts: Vec<(&str, &str)> = audit.findings.iter().map(|f| (f.check, f.object.as_str())).collect();
    let expected = [
        ("orphan.cross_tier", "public.order_events.tenant_id"),
        ("orphan.cross_tier", "public.order_events.customer_id"),
        ("orphan.tenant_mismatch", "public.order_events.customer_id"),
        ("orphan.cross_tier", "public.order_events.customer_ref"),
        ("orphan.tenant_mismatch", "public.order_events.customer_ref"),
        ("orphan.cross_tier", "public.order_events.sku"),
        ("orphan.tenant_mismatch", "public.order_events.sku"),
        ("orphan.cross_tier", "public.order_events.warehouse_id"),
        ("orphan.tenant_mismatch", "public.order_events.warehouse_id"),
        // pairs the tenant columns itself: no mismatch is possible
        ("orphan.cross_tier", "public.order_events.(tenant_id,store_code)"),
        ("orphan.cross_tier", "public.order_events.order_id"),
        ("orphan.tenant_mismatch", "public.order_events.order_id"),
        // declared soft reference
        ("orphan.intra", "public.event_tags.event_ref"),
        ("orphan.tenant_mismatch", "public.event_tags.event_ref"),
        // tenants found through FK paths, on one side or both
        ("orphan.cross_tier", "public.event_comments.customer_id"),
        ("orphan.tenant_mismatch", "public.event_comments.customer_id"),
        ("orphan.cross_tier", "public.event_comments.address_id"),
        ("orphan.tenant_mismatch", "public.event_comments.address_id"),
        ("orphan.intra", "public.event_comments.reply_to"),
        ("orphan.tenant_mismatch", "public.event_comments.reply_to"),
        // the first hop of the comments' tenant path: same tenant by construction
        ("orphan.intra", "public.event_comments.order_event_id"),
        // FK with disabled triggers, NOT VALID FK, no FK (fk.missing)
        ("orphan.intra", "public.event_links.order_event_id"),
        ("orphan.tenant_mismatch", "public.event_links.order_event_id"),
        ("orphan.intra", "public.event_notes.order_event_id"),
        ("orphan.tenant_mismatch", "public.event_notes.order_event_id"),
        ("orphan.intra", "public.event_flags.order_event_id"),
        ("orphan.tenant_mismatch", "public.event_flags.order_event_id"),
    ];
    assert_eq!(verdicts, expected);
    for finding in &audit.findings {
        assert_eq!(finding.status, Status::Pass, "{finding:#?}");
        assert_eq!(finding.details["count"], 0, "{finding:#?}");
        assert_eq!(rows_listed(&audit, finding), 0, "{} {}", finding.check, finding.object);
    }
}

#[rstest]
fn case_is_reported_exactly(
    #[base_dir = "${CARGO_MANIFEST_DIR}/.."]
    #[files("fixtures/defects/orphan/cases/*.sql")]
    path: PathBuf,
) {
    let case = Defect::read(&path);
    let name = path.file_stem().expect("file name").to_string_lossy().into_owned();
    let audit = audit(&name, Some(&case));
    assert_eq!(failing(&audit.findings, &case.expect), case.expect, "{}: failing findings", path.display());
    let differences = case.detail_differences(&audit.findings);
    assert!(differences.is_empty(), "{}: {differences:#?}", path.display());
    for finding in audit.findings.iter().filter(|f| f.status == Status::Fail) {
        assert_eq!(
            rows_listed(&audit, finding) as u64,
            finding.details["count"].as_u64().expect("count"),
            "{}: the SQL of {} {} lists another number of rows",
            path.display(),
            finding.check,
            finding.object
        );
    }
}
