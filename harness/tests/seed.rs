//! Seeding: every tenant has rows in every tenant table, no row points at
//! another tenant's parent (checked by SQL, also across tiers), tricky
//! constraints seed, fixed rows and column overrides are respected, the same
//! seed gives the same bytes, and a table no row can be made for is a clear
//! error, or an empty table with a `skip` finding when the scenario allows it.
//! A repro's data script, loaded by psql, gives back exactly the seeded rows.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use sqlx::PgPool;
use tierguard::catalog::Catalog;
use tierguard::tenancy::TenantScope;
use tierguard::sql::quote_ident;
use tierguard::truth::SeedTruth;

use common::lab::Lab;
use common::{repo, rt, validate_against_contract};

/// Clones of every tier of a lab, with their catalogs.
async fn tiers(lab: &Lab, prefix: &str) -> Vec<(Catalog, PgPool)> {
    let mut out = Vec::new();
    for tier in &lab.scenario.tiers {
        let pool = lab.clone_tier(&tier.name, &format!("{prefix}_{}", tier.name)).await;
        out.push((Catalog::read(&tier.name, &pool).await.expect("catalog"), pool));
    }
    out
}

#[test]
fn every_tenant_has_rows_in_every_tenant_table() {
    let lab = Lab::get("scenarios/penguinmails.toml");
    let tenants = lab.scenario.seeding.tenants as i64;
    rt().block_on(async {
        let tiers = tiers(lab, "coverage").await;
        let catalogs: Vec<Catalog> = tiers.iter().map(|(c, _)| c.clone()).collect();
        let tenancy = lab.tenancy(&catalogs);
        let mut checked = 0;
        for (catalog, pool) in &tiers {
            for (table, scope) in tenancy.scoped_tables(catalog) {
                let sql = format!("SELECT count(DISTINCT {}) FROM {} t", scope.tenant_sql("t"), table.name.sql());
                let distinct: i64 = sqlx::query_scalar(&sql).fetch_one(pool).await.expect("count");
                assert_eq!(distinct, tenants, "{}.{}: tenants with rows", catalog.tier, table.name);
                checked += 1;
            }
        }
        assert!(checked > 30, "looked at {checked} tables");
    });
}

#[test]
fn no_seeded_row_references_another_tenants_parent() {
    let lab = Lab::get("scenarios/penguinmails.toml");
    rt().block_on(async {
        let tiers = tiers(lab, "crossref").await;
        let catalogs: Vec<Catalog> = tiers.iter().map(|(c, _)| c.clone()).collect();
        let tenancy = lab.tenancy(&catalogs);
        let mut references = 0;
        // Inside each tier: join child to parent along every FK.
        for (catalog, pool) in &tiers {
            for (table, scope) in tenancy.scoped_tables(catalog) {
                for (constraint, fk) in table.foreign_keys() {
                    let Some(parent_scope) = tenancy.scope(&catalog.tier, &fk.target) else { continue };
                    let sql = format!(
                        "SELECT count(*) FROM {} c JOIN {} p ON {} WHERE ({}) IS DISTINCT FROM ({})",
                        table.name.sql(),
                        fk.target.sql(),
                        fk.join_on(&constraint.columns, "c", "p"),
                        scope.tenant_sql("c"),
                        parent_scope.tenant_sql("p")
                    );
                    let crossing: i64 = sqlx::query_scalar(&sql).fetch_one(pool).await.expect("join");
                    assert_eq!(crossing, 0, "{}.{} {} crosses tenants", catalog.tier, table.name, constraint.name);
                    references += 1;
                }
            }
        }
        // Across tiers: compare (value → tenant) maps of both sides.
        let pool_of = |tier: &str| &tiers[lab.tier_index(tier)].1;
        for reference in &lab.scenario.references {
            let (from, to) = (&reference.from, &reference.to);
            let child_scope = tenancy.scope(&from.table.tier, &from.table.qual_name()).expect("child is tenant-scoped");
            let Some(parent_scope) = tenancy.scope(&to.table.tier, &to.table.qual_name()) else { continue };
            // ROW(...) IS NOT NULL: every column of a composite reference set.
            let owners = |columns: &[String], scope: &TenantScope, table: &tierguard::scenario::TierTable| {
                let row = format!("ROW({})", columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "));
                format!(
                    "SELECT {row}::text, ({})::text FROM {} t WHERE {row} IS NOT NULL",
                    scope.tenant_sql("t"),
                    table.qual_name().sql(),
                )
            };
            let parents: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(&owners(&to.columns, parent_scope, &to.table))
                .fetch_all(pool_of(&to.table.tier))
                .await
                .expect("parents")
                .into_iter()
                .collect();
            let children: Vec<(String, String)> = sqlx::query_as(&owners(&from.columns, child_scope, &from.table))
                .fetch_all(pool_of(&from.table.tier))
                .await
                .expect("children");
            assert!(!children.is_empty(), "{from}: no rows reference anything");
            for (value, tenant) in children {
                assert_eq!(parents.get(&value), Some(&tenant), "{from} = {value} of tenant {tenant}");
            }
            references += 1;
        }
        assert!(references > 60, "looked at {references} references");
    });
}


#[test]
fn tricky_constraints_all_seed() {
    // Composite FKs, an FK cycle, a self reference, partial unique, CHECKs
    // with regexes, ranges, IN lists and function calls, enums, domains,
    // identity and serial keys, partitions, arrays, jsonb, citext, inet, bytea.
    let lab = Lab::get("scenarios/tricky.toml");
    rt().block_on(async {
        let tiers = tiers(lab, "tricky").await;
        let (catalog, pool) = &tiers[0];
        for table in catalog.tables.iter().filter(|t| !t.is_partition()) {
            let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", table.name.sql()))
                .fetch_one(pool)
                .await
                .expect("count");
            assert!(rows > 0, "{} is empty", table.name);
        }
        // The cycle was closed after loading: team leads point at members.
        let leads: i64 = sqlx::query_scalar("SELECT count(lead_member_id) FROM teams").fetch_one(pool).await.expect("leads");
        assert!(leads > 0, "deferred references were filled");
        let tickets_in_partitions: i64 = sqlx::query_scalar("SELECT count(DISTINCT tableoid) FROM tickets")
            .fetch_one(pool)
            .await
            .expect("partitions");
        assert!(tickets_in_partitions > 1, "rows spread over partitions");
    });
}

#[test]
fn fixed_rows_define_tenants_and_overrides_shape_columns() {
    let lab = Lab::get("fixtures/seeding/fixed-rows.toml");
    rt().block_on(async {
        let tiers = tiers(lab, "fixed").await;
        let pool = &tiers[0].1;
        let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts").fetch_one(pool).await.expect("count");
        assert_eq!(accounts, 2, "fixed tenants are kept as they are");
        let owners: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_id::text FROM invoices ORDER BY 1")
            .fetch_all(pool)
            .await
            .expect("owners");
        assert_eq!(owners, ["00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"]);
        let (statuses, low, high): (Vec<String>, f64, f64) = sqlx::query_as(
            "SELECT array_agg(DISTINCT status), min(total)::float8, max(total)::float8 FROM invoices",
        )
        .fetch_one(pool)
        .await
        .expect("shape");
        assert_eq!(statuses, ["sent"]);
        assert!((10.0..=20.0).contains(&low) && (10.0..=20.0).contains(&high), "{low}..{high}");
    });
}

fn checksums(seed: &str) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("tmp");
    let output = Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .args(["run", "scenarios/penguinmails.toml", "--backend", "local", "--only", "partition", "--seed", seed])
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).expect("report")).expect("json");
    report["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .flat_map(|t| {
            let tier = t["name"].as_str().expect("name").to_string();
            t["tables"].as_array().expect("tables").iter().map(move |x| {
                (format!("{tier}.{}", x["name"].as_str().expect("name")), x["checksum"].as_str().expect("sum").to_string())
            })
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let first = checksums("42");
    let second = checksums("42");
    assert_eq!(first, second, "same seed, same checksums");
    let other = checksums("43");
    let differ: BTreeSet<&String> = first.keys().filter(|k| first[*k] != other[*k]).collect();
    assert!(differ.len() > 30, "another seed changes the seeded tables: {differ:?}");
}

/// Runs tierguard on one tier (`--tier` value) without a scenario, expecting
/// exit 2; returns what it printed on stderr.
fn refused_seeding(tier: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .args(["run", "--backend", "local", "--tier", tier])
        .arg("--report-dir")
        .arg(tempfile::tempdir().expect("tmp").path())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{err}");
    err
}

#[test]
fn an_impossible_check_stops_with_the_constraint_named() {
    let err = refused_seeding("core=fixtures/seeding/unsatisfiable.sql");
    assert!(err.contains("tier core: seeding public.widgets"), "{err}");
    assert!(err.contains("widgets_size_impossible ((size <> size))"), "{err}");
}

#[test]
fn a_type_without_generator_stops_with_the_column_named() {
    let err = refused_seeding("core=fixtures/seeding/unsatisfiable.sql,fixtures/seeding/skip.sql");
    assert!(err.contains("tier core: cannot seed public.shapes: column outline"), "{err}");
    assert!(err.contains("no generator for type `polygon`") && err.contains("on_unsatisfiable"), "{err}");
}

/// A tier where no table could be seeded, even with `on_unsatisfiable =
/// "skip"`, is not audited into a run of skips: exit 2, saying why.
#[test]
fn a_tier_left_entirely_empty_by_seeding_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let output = Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .args(["run", "fixtures/seeding/skip.toml", "--backend", "local", "--tier", "core=fixtures/seeding/unsatisfiable.sql"])
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("tier `core`: nothing to audit: seeding left every table empty") && err.contains("public.widgets"), "{err}");
    assert!(!dir.path().join("report.json").exists());
}

/// `on_unsatisfiable = "skip"`: the impossible table, the one that cannot
/// exist without it and the one of an unknown type stay empty with a
/// `skip` finding each; a nullable reference to them is left NULL; the
/// rest seeds and the run completes.
#[test]
fn unsatisfiable_tables_are_skipped_when_the_scenario_allows_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let output = Command::new(env!("CARGO_BIN_EXE_tierguard"))
        .current_dir(repo())
        .args(["run", "fixtures/seeding/skip.toml", "--backend", "local", "--only", "check"])
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).expect("report")).expect("json");
    validate_against_contract(&report);
    let rows: BTreeMap<&str, i64> = report["tiers"][0]["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| (t["name"].as_str().expect("name"), t["rows"].as_i64().expect("rows")))
        .collect();
    let expected = [
        ("public.gadgets", 30),
        ("public.shapes", 0),
        ("public.widget_notes", 30),
        ("public.widget_parts", 0),
        ("public.widgets", 0),
    ];
    assert_eq!(rows, BTreeMap::from(expected));
    let skips: BTreeMap<&str, &str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == "check.domain" && f["status"] == "skip")
        .map(|f| (f["object"].as_str().expect("object"), f["message"].as_str().expect("message")))
        .collect();
    let named = |object: &str, words: &[&str]| {
        let message = skips.get(object).unwrap_or_else(|| panic!("no skip finding for {object}: {skips:#?}"));
        assert!(words.iter().all(|w| message.contains(w)), "{object}: {message}");
    };
    named("public.widgets.size", &["tier core", "public.widgets", "CHECK widgets_size_impossible ((size <> size))"]);
    named("public.widget_parts.widget_id", &["FOREIGN KEY widget_parts_widget_id_fkey", "core.public.widgets is not seeded"]);
    named("public.shapes.outline", &["no generator for type `polygon`"]);
    assert_eq!(skips.len(), 3, "{skips:#?}");

    let lab = Lab::get("fixtures/seeding/skip.toml");
    rt().block_on(async {
        let pool = lab.clone_tier("core", "skip_core").await;
        let linked: i64 = sqlx::query_scalar("SELECT count(widget_id) FROM widget_notes").fetch_one(&pool).await.expect("count");
        assert_eq!(linked, 0, "notes of widgets that were not seeded have none");
    });
    let seeded = lab.seeded.as_ref().expect("seeded");
    let widgets = tierguard::catalog::QualName { schema: "public".into(), name: "widgets".into() };
    assert_eq!(seeded.rows("core", &widgets), 0);
    assert!(seeded.fresh_row("core", &widgets, 0).is_none(), "no valid row exists to write");
}

/// The seeder switches foreign-key checks off while it loads: they must all
/// be back on afterwards, and the check that replaces them must catch a row
/// without its parent.
#[test]
fn foreign_key_checks_come_back_and_a_missing_parent_is_caught() {
    let lab = Lab::get("scenarios/penguinmails.toml");
    rt().block_on(async {
        let pool = lab.clone_tier("oltp", "fk_checks_oltp").await;
        let disabled: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_trigger WHERE tgisinternal AND tgenabled = 'D'")
            .fetch_one(&pool)
            .await
            .expect("triggers");
        assert_eq!(disabled, 0, "foreign-key triggers left disabled after seeding");

        let mut conn = pool.acquire().await.expect("connection");
        let paused = tierguard::seed::fk_checks::pause(&mut conn, "oltp").await.expect("pause");
        sqlx::raw_sql(
            "INSERT INTO public.leads (tenant_id, company_id, email) \
             SELECT id, 'c0ffee00-0000-4000-8000-000000000001', 'ghost@example.com' FROM public.tenants LIMIT 1",
        )
        .execute(&mut *conn)
        .await
        .expect("accepted while checks are off");
        let error = paused.resume(&mut conn).await.expect_err("a missing parent is caught").to_string();
        assert!(error.contains("seeding leads") && error.contains("leads_company_fk"), "{error}");
    });
}

/// Every index and constraint of a tier, as PostgreSQL prints them, with
/// whether it is valid and (indexes) which index it is attached to.
async fn schema_objects(pool: &PgPool) -> BTreeSet<String> {
    let sql = "SELECT format('index %s on %s: %s valid=%s attached_to=%s', c.relname, i.indrelid::regclass, \
                             pg_get_indexdef(i.indexrelid), i.indisvalid, \
                             (SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)) \
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
               UNION ALL \
               SELECT format('constraint %s on %s: %s validated=%s index=%s', k.conname, k.conrelid::regclass, \
                             pg_get_constraintdef(k.oid), k.convalidated, k.conindid::regclass) \
               FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')";
    sqlx::query_scalar(sql).fetch_all(pool).await.expect("schema objects").into_iter().collect()
}

/// The seeder drops indexes and constraints for the load and builds them
/// again: afterwards each tier must have exactly the indexes and
/// constraints (names, definitions, validity, partition attachments) the
/// same schema has without seeding.
#[test]
fn seeding_leaves_every_index_and_constraint_as_the_schema_made_it() {
    let lab = Lab::get("scenarios/penguinmails.toml");
    rt().block_on(async {
        for (spec, server) in lab.scenario.tiers.iter().zip(&lab.servers) {
            let seeded = lab.clone_tier(&spec.name, &format!("objects_{}", spec.name)).await;
            let unseeded_name = format!("unseeded_{}", spec.name);
            sqlx::raw_sql(&format!("CREATE DATABASE {}", quote_ident(&unseeded_name)))
                .execute(&seeded)
                .await
                .expect("create database");
            let unseeded = PgPool::connect_with(server.options_for(&unseeded_name)).await.expect("connect");
            let mut conn = unseeded.acquire().await.expect("connection");
            let schema = tierguard::load::schema(&spec.name, &spec.schema, Default::default()).expect("schema files");
            tierguard::load::apply(&mut conn, &spec.name, &schema).await.expect("schema loads");
            drop(conn);
            let (after, before) = (schema_objects(&seeded).await, schema_objects(&unseeded).await);
            assert!(before.len() > 20, "{}: {} indexes and constraints", spec.name, before.len());
            assert_eq!(
                after.symmetric_difference(&before).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "{}: indexes and constraints after seeding differ from the schema's",
                spec.name
            );
            unseeded.close().await;
        }
    });
}

#[test]
fn a_repro_data_script_rebuilds_every_row_and_sequence_of_its_tier() {
    use tierguard::tenancy::acting::{Actor, Context};
    use tierguard::checks::rls::act::Case;
    use tierguard::report::{repro, stats};

    // Arrays, jsonb, citext, inet, bytea, domains, enums, identity columns
    // and partitions: every kind of value a data script must carry.
    let lab = Lab::get("scenarios/tricky.toml");
    let spec = &lab.scenario.tiers[0];
    rt().block_on(async {
        let seeded = lab.clone_tier(&spec.name, "repro_source").await;
        let catalog = Catalog::read(&spec.name, &seeded).await.expect("catalog");
        let mut finding = tierguard::checks::registry::all().find(|c| c.id == "rls.read_leak").expect("registered").fail(&spec.name, "public.x", "a leak");
        finding.case = Some(Box::new(Case {
            actor: Actor { role: "app".into(), guc: "app.tenant".into(), mechanism: Default::default(), jwt: None, members: None },
            context: Context::Unset,
            statement: "SELECT 1".into(),
            write: false,
            setup: Vec::new(),
            observe: None,
        }));
        let dir = tempfile::tempdir().expect("report folder");
        let file = repro::write_data(&[finding], &catalog, &seeded, 1000, dir.path())
            .await
            .expect("data script")
            .expect("written for a tier with a repro");

        // psql loads it into a database that holds only the schema.
        let server = &lab.servers[0];
        let url = common::psql_database(server, "repro_target").await;
        let target = PgPool::connect_with(server.options_for("repro_target")).await.expect("connect");
        let mut conn = target.acquire().await.expect("connection");
        let schema = tierguard::load::schema(&spec.name, &spec.schema, Default::default()).expect("schema files");
        tierguard::load::apply(&mut conn, &spec.name, &schema).await.expect("schema loads");
        drop(conn);
        common::psql_files(&url, &[dir.path().join("repro").join(&file)]);

        let (expected, loaded) = (
            stats::tables(&catalog, &seeded).await.expect("stats"),
            stats::tables(&catalog, &target).await.expect("stats"),
        );
        assert!(expected.iter().all(|t| t.rows > 0), "every table was seeded");
        let as_tuples = |stats: &[tierguard::report::TableStat]| -> Vec<(String, i64, String)> {
            stats.iter().map(|t| (t.name.clone(), t.rows, t.checksum.clone())).collect()
        };
        assert_eq!(as_tuples(&loaded), as_tuples(&expected), "rows and checksums after loading the data script");
        for sequence in catalog.tables.iter().flat_map(|t| &t.columns).filter_map(|c| c.sequence.as_ref()) {
            let sql = format!("SELECT last_value, is_called FROM {sequence}");
            let (a, b): ((i64, bool), (i64, bool)) = (
                sqlx::query_as(&sql).fetch_one(&seeded).await.expect("sequence"),
                sqlx::query_as(&sql).fetch_one(&target).await.expect("sequence"),
            );
            assert_eq!(b, a, "{sequence}");
        }
        target.close().await;
    });
}

#[test]
fn regex_keys_emails_and_nullable_tenant_paths_seed() {
    let lab = Lab::get("fixtures/seeding/real-schemas.toml");
    rt().block_on(async {
        let tiers = tiers(lab, "real").await;
        let (catalog, pool) = &tiers[0];
        // A regex-checked text key: as many distinct codes as rows asked for.
        let (labels, codes): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT code) FROM labels WHERE code ~ '^[a-z]+$'")
            .fetch_one(pool)
            .await
            .expect("labels");
        assert_eq!((labels, codes), (300, 300));
        // Emails under a loose regex look like emails: ASCII, a name, a domain.
        let odd: Vec<String> = sqlx::query_scalar("SELECT email FROM contacts WHERE email !~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[a-z]{2,}$' LIMIT 5")
            .fetch_all(pool)
            .await
            .expect("emails");
        assert!(odd.is_empty(), "emails that do not look real: {odd:?}");
        // The nullable FK is the tenant path, and every seeded row has a tenant.
        let catalogs = vec![catalog.clone()];
        let tenancy = lab.tenancy(&catalogs);
        let name = tierguard::catalog::QualName { schema: "public".into(), name: "attachments".into() };
        match tenancy.scope("core", &name) {
            Some(TenantScope::Path(path)) => assert!(path.nullable, "{path}"),
            other => panic!("attachments is not scoped through its nullable FK: {other:?}"),
        }
        let (rows, tenantless): (i64, i64) = sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE contact_id IS NULL) FROM attachments")
            .fetch_one(pool)
            .await
            .expect("attachments");
        assert_eq!((rows, tenantless), (300, 0));
        // Partners are other tenants, as the CHECK asks.
        let (rows, apart): (i64, i64) = sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE tenant_id <> partner_tenant_id) FROM partnerships")
            .fetch_one(pool)
            .await
            .expect("partnerships");
        assert_eq!((rows, apart), (300, 300));
        // Rows whose identity value the CHECK refuses are left out and named; the rest load.
        let marks: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_marks").fetch_one(pool).await.expect("marks");
        let refused = (1..=300).filter(|id| id % 7 == 3).count() as i64;
        assert_eq!(marks, 300 - refused);
        let skipped = tierguard::checks::check::domain::unseeded(lab.seeded.as_ref().expect("seeded"));
        let left_out: Vec<_> = skipped.iter().filter(|f| f.object == "public.audit_marks").collect();
        assert_eq!(left_out.len(), 1, "{skipped:#?}");
        assert_eq!(left_out[0].details["count"], refused);
        assert!(left_out[0].message.contains("audit_marks_skip_three"), "{}", left_out[0].message);
        // Replies reference marks: each points at a mark that loaded, of its own tenant.
        let (replies, own_marks): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(m.id) FILTER (WHERE m.tenant_id = r.tenant_id) FROM audit_replies r LEFT JOIN audit_marks m ON m.id = r.mark_id",
        )
        .fetch_one(pool)
        .await
        .expect("replies");
        assert_eq!((replies, own_marks), (300, 300));
        // A mark that follows another follows one that loaded (the FK holds), never a later one.
        let (following, later): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE follows_id > id) FROM audit_marks WHERE follows_id IS NOT NULL")
                .fetch_one(pool)
                .await
                .expect("follows");
        assert!(following > 0 && later == 0, "{following} marks follow another, {later} a later one");
    });
}

#[test]
fn tables_holding_one_tenants_example_rows_are_topped_up() {
    let lab = Lab::get("fixtures/seeding/examples.toml");
    rt().block_on(async {
        let tiers = tiers(lab, "examples").await;
        let pool = &tiers[0].1;
        let (tenants, demo): (i64, i64) = sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE slug = 'demo') FROM tenants")
            .fetch_one(pool)
            .await
            .expect("tenants");
        assert_eq!((tenants, demo), (4, 1), "the demo tenant and three seeded ones");
        let (projects, owners): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT tenant_id) FROM projects")
            .fetch_one(pool)
            .await
            .expect("projects");
        assert_eq!((projects, owners), (32, 4), "two example projects and thirty seeded ones");
    });
}
