//! The latency family on the leads scenario's seeded lab: every named query
//! measured as the app role under RLS, with ordered statistics, the declared
//! number of iterations and the plan of its slowest iteration; and profiles
//! resolved from the scenario file and flags. No assertion depends on how
//! fast this machine is: targets are the defect corpus's business
//! (fixtures/defects/latency/).

mod common;

use tierguard::catalog::Catalog;
use tierguard::checks::{Family, Status};
use tierguard::provision::BackendChoice;
use tierguard::run;
use tierguard::scenario::{Overrides, Scenario, TierTable};

use common::lab::Lab;
use common::{repo, rt};

const LEADS: &str = "scenarios/leads.toml";

#[test]
fn every_query_is_measured_with_ordered_statistics_and_a_plan() {
    let lab = Lab::get(LEADS);
    let mut scenario = lab.scenario.clone();
    scenario.only = Some(vec![Family::Latency]);
    let findings = rt().block_on(async {
        let pool = lab.clone_tier("leads", "latency_measured").await;
        let catalog = Catalog::read("leads", &pool).await.expect("catalog");
        let tenancy = lab.tenancy(std::slice::from_ref(&catalog));
        let audit = run::Audit {
            scenario: &scenario,
            tenancy: &tenancy,
            seeded: lab.seeded.as_ref(),
            read_only: false,
        };
        run::audit(&audit, &[(&catalog, &pool)]).await
    });
    assert_eq!(findings.len(), 2 * scenario.latency.len(), "a target and a seq_scan verdict per query");
    for query in &scenario.latency {
        let of = |check: &str| {
            findings
                .iter()
                .find(|f| f.check == check && f.object == query.name)
                .unwrap_or_else(|| panic!("no {check} for {}", query.name))
        };
        let target = of("latency.target");
        assert_eq!(target.status, Status::Pass, "{}: {}", query.name, target.message);
        let stat = |key: &str| target.details[key].as_f64().unwrap_or_else(|| panic!("{}: no {key}", query.name));
        let (p50, p95, p99, mean, max) = (stat("p50"), stat("p95"), stat("p99"), stat("mean"), stat("max"));
        assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{}: {:?}", query.name, target.details);
        assert!(mean <= max, "{}: mean above max", query.name);
        let effort = scenario.measure(query);
        assert_eq!(target.details["iterations"], effort.iterations, "{}", query.name);
        assert_eq!(target.details["statistic"], query.statistic.to_string());
        // The slowest iteration acted as a seeded tenant, and its plan ran under RLS.
        let tenants: Vec<String> = tierguard::truth::SeedTruth::tenants(lab.seeded.as_ref().unwrap(), &query.tier);
        assert!(tenants.contains(&target.details["slowest"]["tenant"].as_str().unwrap().to_string()));
        let attachment = target.attachment.as_ref().expect("plan attached");
        assert_eq!(target.details["plan"], attachment.file.as_str());
        assert_eq!(attachment.file, format!("plans/leads-{}.json", query.name));
        assert!(attachment.content[0]["Plan"]["Node Type"].is_string(), "{}: not a plan", query.name);
        assert!(attachment.content[0]["Execution Time"].is_number(), "{}: plan was not ANALYZEd", query.name);

        let seq_scan = of("latency.seq_scan");
        assert_eq!(seq_scan.status, Status::Pass, "{}: {}", query.name, seq_scan.message);
        assert_eq!(seq_scan.details["seq_scan_rows"], effort.seq_scan_rows);
    }
}

#[test]
fn profiles_set_volume_and_effort_and_flags_still_win() {
    let path = repo().join(LEADS);
    let resolve = |profile: Option<&str>, rows: Option<u64>| {
        Scenario::resolve(
            Some(&path),
            Overrides {
                backend: Some(BackendChoice::Local),
                profile: profile.map(str::to_string),
                rows,
                ..Overrides::default()
            },
        )
    };
    let leads: TierTable = "leads.public.leads".parse().unwrap();
    // The file's own default profile: the CI gate.
    let ci = resolve(None, None).expect("ci");
    assert_eq!(ci.profile.as_deref(), Some("ci"));
    assert_eq!(ci.seeding.table_rows[&leads], 4000);
    assert_eq!(ci.measure(&ci.latency[0]).iterations, 30);

    let certification = resolve(Some("certification"), None).expect("certification");
    assert_eq!(certification.profile.as_deref(), Some("certification"));
    assert_eq!((certification.seeding.tenants, certification.seeding.rows), (20, 2000));
    assert!(certification.seeding.table_rows[&leads] >= 100_000, "indexes matter at this volume");
    let effort = certification.measure(&certification.latency[0]);
    assert_eq!((effort.warmup, effort.iterations, effort.seq_scan_rows), (20, 500, 10_000));

    let flagged = resolve(Some("certification"), Some(7)).expect("flags");
    assert_eq!(flagged.seeding.rows, 7, "--rows wins over the profile");

    let unknown = resolve(Some("nightly"), None).map(|_| ()).unwrap_err().to_string();
    assert!(unknown.contains("unknown profile `nightly`"), "{unknown}");
}
