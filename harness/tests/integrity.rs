//! The integrity checks on a small lead-management tier whose mistakes are
//! known (fixtures/integrity/crm.sql marks them WRONG): exactly those are
//! reported — a user reference without FK, a single-column FK across
//! tenants, a declared cascade without FK, an unconstrained priority, and
//! four CHECKs weaker than their declared domain, each with the minimal
//! value proptest shrinks to — and the audit leaves every row as it was.

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;
use tierguard::catalog::Catalog;
use tierguard::checks::{Finding, Status};
use tierguard::report::stats;
use tierguard::run;

use common::lab::Lab;
use common::{failing, rt};

const SCENARIO: &str = "fixtures/integrity/scenario.toml";

struct Audit {
    findings: Vec<Finding>,
    /// Every table's (name, rows, checksum) before and after the audit.
    before: Vec<(String, i64, String)>,
    after: Vec<(String, i64, String)>,
}

fn audit() -> &'static Audit {
    static AUDIT: OnceLock<Audit> = OnceLock::new();
    AUDIT.get_or_init(|| {
        let lab = Lab::get(SCENARIO);
        rt().block_on(async {
            let pool = lab.clone_tier("crm", "crm_audited").await;
            let catalog = Catalog::read("crm", &pool).await.expect("catalog");
            let tenancy = lab.tenancy(std::slice::from_ref(&catalog));
            let contents = || async {
                let tables = stats::tables(&catalog, &pool).await.expect("table stats");
                tables.into_iter().map(|t| (t.name, t.rows, t.checksum)).collect::<Vec<_>>()
            };
            let before = contents().await;
            let audit = run::Audit {
                scenario: &lab.scenario,
                tenancy: &tenancy,
                seeded: lab.seeded.as_ref(),
                read_only: false,
            };
            let findings = run::audit(&audit, &[(&catalog, &pool)]).await;
            let after = contents().await;
            Audit { findings, before, after }
        })
    })
}

fn finding(check: &str, object: &str) -> &'static Finding {
    in_findings(&audit().findings, check, object)
}

fn first_accepted_outside(object: &str) -> String {
    let details = &finding("check.domain", object).details;
    details["accepted_outside"][0].as_str().unwrap_or_else(|| panic!("{object}: {details:?}")).to_string()
}

#[test]
fn exactly_the_known_mistakes_fail() {
    let expected: BTreeSet<(String, String, String)> = [
        ("fk.missing", "public.leads.created_by"),
        ("fk.cross_tenant", "public.lead_scoring_rules.lead_scoring_rules_owner_fk"),
        ("fk.cascade", "public.leads.created_by"),
        ("check.missing", "public.leads.priority"),
        ("check.domain", "public.users.email"),
        ("check.domain", "public.leads.score"),
        ("check.domain", "public.lead_scoring_rules.points"),
        ("check.domain", "public.campaigns.budget"),
    ]
    .into_iter()
    .map(|(check, object)| (check.to_string(), "crm".to_string(), object.to_string()))
    .collect();
    let findings = &audit().findings;
    assert_eq!(failing(findings, &expected), expected);
    let unjudged: Vec<_> = findings.iter().filter(|f| matches!(f.status, Status::Skip | Status::Error)).collect();
    assert!(unjudged.is_empty(), "{unjudged:#?}");
}

#[test]
fn weak_checks_report_their_minimal_accepted_value() {
    // Boundaries: the first value past each declared bound.
    assert_eq!(first_accepted_outside("public.leads.score"), "101");
    assert_eq!(first_accepted_outside("public.campaigns.budget"), "0.00");
    assert_eq!(first_accepted_outside("public.users.email"), "@");
    // Not a boundary: -101 and 101 are refused, values above 1000 are not;
    // shrinking walks the accepted random value down to the first of them.
    assert_eq!(first_accepted_outside("public.lead_scoring_rules.points"), "1001");
    let statement = finding("check.domain", "public.lead_scoring_rules.points").details["statement"].as_str().expect("statement");
    assert!(statement.starts_with(r#"UPDATE "public"."lead_scoring_rules" SET "points" = CAST('1001' AS integer)"#), "{statement}");
}

#[test]
fn declared_domains_that_hold_pass_on_both_sides() {
    for object in [
        "public.leads.email",
        "public.leads.lead_value",
        "public.leads.annual_revenue",
        "public.leads.status",
        "public.lead_scoring_rules.rule_type",
    ] {
        let f = finding("check.domain", object);
        assert_eq!(f.status, Status::Pass, "{object}: {}", f.message);
        // Boundaries and random values on both sides were tried.
        assert!(f.message.split(' ').next().and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n > 40), "{}", f.message);
    }
}

#[test]
fn cross_tenant_reference_names_both_tenants_and_the_row() {
    let details = &finding("fk.cross_tenant", "public.lead_scoring_rules.lead_scoring_rules_owner_fk").details;
    assert_ne!(details["tenant_a"], details["tenant_b"]);
    assert_eq!(details["row"]["organization_id"].as_str(), details["tenant_a"].as_str());
    assert_eq!(details["row"]["owner_id"], details["reference"]["owner_id"]);
    // The composite FK of leads refuses the same move.
    assert_eq!(finding("fk.cross_tenant", "public.leads.leads_assigned_to_fk").status, Status::Pass);
}

#[test]
fn user_references_need_an_fk_unless_allowed() {
    assert_eq!(finding("fk.missing", "public.leads.assigned_to").status, Status::Pass);
    let names = |check: &str| audit().findings.iter().filter(|f| f.check == check).map(|f| f.object.as_str()).collect::<Vec<_>>();
    assert!(!names("fk.missing").contains(&"public.leads.updated_by"));
    assert!(!names("check.missing").contains(&"public.leads.source_type"));
}

#[test]
fn cascades_are_observed_by_deleting() {
    let f = finding("fk.cascade", "public.leads.leads_assigned_to_fk");
    assert_eq!(f.status, Status::Pass, "{}", f.message);
    assert!(f.message.contains("sets the children's reference to NULL"), "{}", f.message);
    assert!(matches!(f.details["evidence"]["parent"], Value::Object(_)));
}

#[test]
fn the_audit_writes_nothing() {
    let audit = audit();
    assert!(!audit.before.is_empty());
    assert_eq!(audit.before, audit.after);
}

/// Audits a clone of the tier with `sql` applied, as the superuser or (as
/// an external database is) read-only.
fn audit_changed(name: &str, sql: &str, external: bool) -> Vec<Finding> {
    let lab = Lab::get(SCENARIO);
    rt().block_on(async {
        let pool = lab.clone_tier("crm", name).await;
        sqlx::raw_sql(sql).execute(&pool).await.expect("the change applies");
        let pool = if external {
            let options = (*pool.connect_options()).clone().options([("default_transaction_read_only", "on")]);
            sqlx::PgPool::connect_with(options).await.expect("read-only pool")
        } else {
            pool
        };
        let catalog = Catalog::read("crm", &pool).await.expect("catalog");
        let tenancy = lab.tenancy(std::slice::from_ref(&catalog));
        let audit = run::Audit {
            scenario: &lab.scenario,
            tenancy: &tenancy,
            seeded: lab.seeded.as_ref(),
            read_only: external,
        };
        run::audit(&audit, &[(&catalog, &pool)]).await
    })
}

fn in_findings<'f>(findings: &'f [Finding], check: &str, object: &str) -> &'f Finding {
    findings.iter().find(|f| f.check == check && f.object == object).unwrap_or_else(|| panic!("no {check} finding for {object}"))
}

#[test]
fn a_not_valid_fk_counts_the_rows_that_break_it() {
    let findings = audit_changed(
        "crm_not_valid_fk",
        "ALTER TABLE public.leads DROP CONSTRAINT leads_assigned_to_fk;
         UPDATE public.leads SET assigned_to = gen_random_uuid() WHERE id IN (SELECT id FROM public.leads ORDER BY id LIMIT 2);
         ALTER TABLE public.leads ADD CONSTRAINT leads_assigned_to_fk FOREIGN KEY (organization_id, assigned_to)
             REFERENCES public.users (organization_id, id) ON DELETE SET NULL (assigned_to) NOT VALID;",
        false,
    );
    let f = in_findings(&findings, "fk.not_enforced", "public.leads.leads_assigned_to_fk");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.details["count"], 2);
    assert_eq!(f.details["samples"].as_array().map(Vec::len), Some(2));
    // New rows are still checked: no insert got through.
    assert!(f.details.get("accepted_row").is_none(), "{:?}", f.details);
}

/// External databases are audited read-only: the writing probes are skipped
/// (their writes would be refused for that reason alone and prove nothing),
/// while rows that violate a NOT VALID CHECK are still counted.
#[test]
fn external_audit_skips_writing_probes_and_still_counts_violations() {
    let findings = audit_changed(
        "crm_external",
        "ALTER TABLE public.campaigns DROP CONSTRAINT campaigns_budget_check;
         UPDATE public.campaigns SET budget = -1 WHERE id IN (SELECT id FROM public.campaigns ORDER BY id LIMIT 2);
         ALTER TABLE public.campaigns ADD CONSTRAINT campaigns_budget_check CHECK (budget >= 0) NOT VALID;",
        true,
    );
    let violations = in_findings(&findings, "check.violations", "public.campaigns.campaigns_budget_check");
    assert_eq!(violations.status, Status::Fail);
    assert_eq!(violations.details["count"], 2);
    assert_eq!(violations.details["samples"].as_array().map(Vec::len), Some(2));
    // (A cascade declared where no FK exists is a catalog fact: still reported.)
    let probed = findings.iter().filter(|f| f.object != "public.leads.created_by");
    for check in ["fk.not_enforced", "fk.cross_tenant", "fk.cascade", "check.domain"] {
        let statuses: BTreeSet<_> = probed.clone().filter(|f| f.check == check).map(|f| format!("{:?}", f.status)).collect();
        assert_eq!(statuses, BTreeSet::from(["Skip".to_string()]), "{check}");
    }
}
