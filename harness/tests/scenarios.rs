//! The seed systems besides the reference (scenarios/cpa.toml, leads.toml,
//! events.toml), the analytics system (a tenancy per tier) and the agency
//! system (a tenant reached through another tier) are certified: the tierguard binary audits each, in its
//! corrected form, with no failing finding on local binaries and on
//! containers. (The reference has its own tests in cli.rs and containers.rs;
//! each scenario's defects are in defects.rs.)

mod common;

use std::process::{Command, Stdio};

use rstest::rstest;
use serde_json::Value;

use common::repo;

#[rstest]
fn seed_scenario_passes_clean(
    #[values("cpa", "leads", "events", "analytics", "agency", "teamspace", "invoicely", "supportdesk", "projecthub", "docsafe")] scenario: &str,
    #[values("local", "containers")] backend: &str,
) {
    let mut args = vec![
        "run".to_string(),
        format!("scenarios/{scenario}.toml"),
        "--backend".into(),
        backend.into(),
    ];
    if backend == "containers" {
        let image = std::env::var(tierguard::provision::IMAGE_ENV)
            .unwrap_or_else(|_| tierguard::provision::DEFAULT_IMAGE.into());
        // Fails (not skips) without an engine or image: CI must exercise this path.
        assert!(
            common::rt().block_on(tierguard::provision::docker_answers()),
            "no Docker engine answers: run ci/docker-engine"
        );
        assert!(
            common::rt().block_on(tierguard::provision::image_present(&image)),
            "image {image} is missing: run ci/postgres-image"
        );
        args.extend(["--image".into(), image]);
    }
    let reports = tempfile::tempdir().expect("tmp");
    let output = Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .args(&args)
        .arg("--report-dir")
        .arg(reports.path())
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{scenario} on {backend}: {err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["scenario"], scenario);
    assert_eq!(report["summary"]["fail"], 0, "{scenario} on {backend}");
    assert_eq!(report["summary"]["error"], 0, "{scenario} on {backend}");
    for tier in report["tiers"].as_array().expect("tiers") {
        assert_eq!(tier["backend"], backend);
    }
    if scenario == "analytics" {
        // The warehouse is probed as its own tenancy: account_id under
        // warehouse.account_id, and two tables under their own names.
        assert!(
            err.contains("tenancy olap: column account_id (inferred from this tier's policies) · setting warehouse.account_id (inferred from this tier's policies)"),
            "{err}"
        );
        assert!(err.contains("tenant column (declared) olap.public.billing_lines: payer_account"), "{err}");
        assert!(err.contains("[tenancy.columns]\n  \"olap.public.legacy_exports\" = \"org_id\""), "{err}");
        // project_rollups names no account: its rows are read as their OLTP project's
        assert!(err.contains("tenant reference (from [[references]]) olap.public.project_rollups: project_id -> oltp.public.projects.id => tenant_id"), "{err}");
        for table in ["public.project_daily_stats", "public.usage_events", "public.legacy_exports", "public.billing_lines"] {
            let read_probed = report["findings"].as_array().expect("findings").iter().any(|f| {
                f["check"] == "rls.read_leak" && f["tier"] == "olap" && f["object"] == table && f["status"] == "pass"
            });
            assert!(read_probed, "rls.read_leak did not pass on olap {table}");
        }
    }
    if scenario == "agency" {
        // The reporting tier's tenants are OLTP companies: its rows are
        // seeded with companies that exist, of the agency owning the row,
        // and a reference to the OLTP tier is judged by agency.
        assert!(err.contains("tenancy olap: its tenants are rows of oltp.public.companies (by id), each of the oltp tenant in its tenant_id (inferred)"), "{err}");
        assert!(err.contains("tenant_of = \"oltp.public.companies.id\""), "{err}");
        let findings = report["findings"].as_array().expect("findings");
        let status = |check: &str, object: &str| {
            findings.iter().find(|f| f["check"] == check && f["tier"] == "olap" && f["object"] == object).map(|f| f["status"].as_str().unwrap_or_default().to_string())
        };
        for table in ["public.campaign_analytics", "public.company_monthly_usage"] {
            assert_eq!(status("rls.read_leak", table).as_deref(), Some("pass"), "{table}");
            assert_eq!(status("orphan.cross_tier", &format!("{table}.company_id")).as_deref(), Some("pass"), "{table}");
            // the reference that is the mapping is no mismatch to check
            assert_eq!(status("orphan.tenant_mismatch", &format!("{table}.company_id")), None, "{table}");
        }
        assert_eq!(status("orphan.tenant_mismatch", "public.campaign_analytics.campaign_id").as_deref(), Some("pass"));
    }
    if scenario == "teamspace" {
        // A Supabase migration: the auth schema is stood in for, and users
        // act through JWT claims and their memberships.
        assert!(err.contains("tier teamspace: the schema uses Supabase's auth.* but creates no auth schema: installed a stand-in first"), "{err}");
        assert!(
            err.contains("tenancy teamspace: JWT claims (role authenticated) hold a user in `sub`, a member of the tenants of public.memberships (user_id -> org_id) (inferred)"),
            "{err}"
        );
        let membership_passes = report["findings"].as_array().expect("findings").iter().filter(|f| f["check"] == "rls.membership" && f["status"] == "pass").count();
        assert_eq!(membership_passes, 4, "rls.membership on every tenant table");
    }
    if scenario == "invoicely" {
        assert!(err.contains("tenancy invoicely: JWT claims (role authenticated) hold the tenant at `app_metadata.tenant_id` (inferred)"), "{err}");
        let service_role = report["findings"].as_array().expect("findings").iter().any(|f| {
            f["check"] == "rls.privileged_role" && f["object"] == "service_role" && f["status"] == "pass"
        });
        assert!(service_role, "service_role is reported as an expected bypass");
    }
    if scenario == "supportdesk" {
        // The declared platform admin is listed with what it opens, as info.
        let admin = report["findings"].as_array().expect("findings").iter().find(|f| f["check"] == "rls.claim_escalation" && f["object"] == "app.user_role=platform_admin");
        let admin = admin.expect("the declared privileged role is reported");
        assert_eq!((admin["status"].as_str(), admin["severity"].as_str()), (Some("pass"), Some("info")), "{admin}");
        assert_eq!(admin["details"]["tables"], serde_json::json!(["public.ticket_notes", "public.tickets"]));
    }
    if scenario == "projecthub" {
        assert!(
            err.contains("tenancy projecthub: the setting app.user_id holds a user, a member of the tenants of public.org_members (user_id -> org_id) (inferred)"),
            "{err}"
        );
    }
    if scenario == "events" {
        // Tables reached only through FK paths are audited like any other.
        assert!(
            err.contains("tenant path (declared) events.public.task_comments: task_id -> public.workspace_tasks.id"),
            "{err}"
        );
        assert!(
            err.contains("tenant path (inferred) events.public.workspace_notes: workspace_id -> public.workspaces.id"),
            "{err}"
        );
        let notes_checked =
            report["findings"].as_array().expect("findings").iter().any(|f| {
                f["check"] == "rls.disabled" && f["object"] == "public.workspace_notes" && f["status"] == "pass"
            });
        assert!(notes_checked, "rls.disabled did not look at public.workspace_notes");
    }
}
