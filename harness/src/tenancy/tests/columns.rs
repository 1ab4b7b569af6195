use super::*;

/// An OLTP tier keyed on tenant_id under app.tenant, and a warehouse tier
/// keyed on account_id under warehouse.account, with a legacy table keyed
/// on org_id and one whose policy only names workspace_id in a subquery.
fn two_tiers() -> (Scenario, Vec<Catalog>) {
    let setting = |column: &str, guc: &str| format!("({column} = (NULLIF(current_setting('{guc}'::text, true), ''::text))::uuid)");
    let mut oltp = catalog(vec![
        with_policy(table("public.tenants", &[("id", true)], &[]), &setting("id", "app.tenant")),
        with_policy(
            table("public.campaigns", &[("id", true), ("tenant_id", true)], &[("campaigns_tenant_fk", &["tenant_id"], "public.tenants", &["id"])]),
            &setting("tenant_id", "app.tenant"),
        ),
        with_policy(table("public.leads", &[("id", true), ("tenant_id", true)], &[]), &setting("tenant_id", "app.tenant")),
    ]);
    oltp.tier = "oltp".into();
    let mut olap = catalog(vec![
        with_policy(table("public.campaign_stats", &[("id", true), ("account_id", true)], &[]), &setting("account_id", "warehouse.account")),
        with_policy(table("public.usage_daily", &[("id", true), ("account_id", true)], &[]), &setting("account_id", "warehouse.account")),
        with_policy(table("public.legacy_exports", &[("id", true), ("org_id", true)], &[]), &setting("org_id", "warehouse.account")),
        with_policy(
            table("public.workspace_rollups", &[("id", true), ("workspace_id", true)], &[]),
            "(workspace_id IN ( SELECT w.id FROM workspaces w WHERE (w.account_id = (current_setting('warehouse.account'::text))::uuid)))",
        ),
    ]);
    olap.tier = "olap".into();
    let overrides = Overrides {
        tiers: vec![("oltp".into(), vec![PathBuf::from("a.sql")]), ("olap".into(), vec![PathBuf::from("b.sql")])],
        ..Overrides::default()
    };
    (Scenario::resolve(None, overrides).expect("scenario"), vec![oltp, olap])
}

fn scope_in<'t>(tenancy: &'t Tenancy, tier: &str, table: &str) -> Option<&'t TenantScope> {
    let (schema, name) = table.split_once('.').unwrap();
    tenancy.scope(tier, &QualName { schema: schema.into(), name: name.into() })
}

#[test]
fn each_tier_takes_the_tenant_column_and_setting_its_own_policies_use() {
    let (scenario, catalogs) = two_tiers();
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    assert_eq!((tenancy.column("oltp"), tenancy.guc("oltp")), (Some("tenant_id"), Some("app.tenant")));
    assert_eq!((tenancy.column("olap"), tenancy.guc("olap")), (Some("account_id"), Some("warehouse.account")));
    // tenant_id and account_id are each carried by two tables: the likelier name wins overall
    assert_eq!(tenancy.tier("oltp").unwrap().column_origin, Origin::Inferred);
    assert_eq!(tenancy.tier("olap").unwrap().column_origin, Origin::TierPolicies);
    assert_eq!(scope_in(&tenancy, "olap", "public.usage_daily"), Some(&TenantScope::Column("account_id".into())));
    // a table whose policy compares another candidate with the tier's setting
    assert_eq!(scope_in(&tenancy, "olap", "public.legacy_exports"), Some(&TenantScope::Column("org_id".into())));
    // naming a column inside a subquery does not make it the tenant
    assert_eq!(scope_in(&tenancy, "olap", "public.workspace_rollups"), None);
    let unknown = tenancy.unscoped().iter().find(|u| u.table == "public.workspace_rollups").unwrap();
    assert_eq!(unknown.class, Class::Unknown);
    let snippet = tenancy.snippet().unwrap();
    assert!(snippet.contains("[tiers.olap.tenancy]\ncolumn = \"account_id\"\nguc = \"warehouse.account\""), "{snippet}");
    assert!(snippet.contains("[tenancy.columns]\n\"olap.public.legacy_exports\" = \"org_id\""), "{snippet}");
    let described = tenancy.describe().join("\n");
    assert!(described.contains("tenancy olap: column account_id (inferred from this tier's policies) · setting warehouse.account (inferred from this tier's policies) · 3 table(s) by column"), "{described}");
    assert!(described.contains("tenant column (inferred) olap.public.legacy_exports: org_id, not the tier's"), "{described}");
}

#[test]
fn declared_tier_and_table_columns_win_over_inference() {
    let (mut scenario, catalogs) = two_tiers();
    scenario.tenancy.tiers.insert("olap".into(), TierTenancyHints { column: Some("account_id".into()), guc: Some("warehouse.account".into()), tenant_of: None });
    scenario.tenancy.columns.push(("olap.public.workspace_rollups".parse().unwrap(), "workspace_id".into()));
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    assert_eq!(tenancy.tier("olap").unwrap().guc_origin, Origin::Declared);
    assert_eq!(scope_in(&tenancy, "olap", "public.workspace_rollups"), Some(&TenantScope::Column("workspace_id".into())));
    let snippet = tenancy.snippet().unwrap_or_default();
    assert!(!snippet.contains("[tiers.olap.tenancy]"), "{snippet}");
    assert!(!snippet.contains("workspace_rollups"), "declared: {snippet}");
}

/// The OLTP tier of `two_tiers` with a companies table (tenant_id), and a
/// reporting tier keyed on company_id, which a reference ties to it.
fn companies_across_tiers() -> (Scenario, Vec<Catalog>) {
    let setting = |column: &str, guc: &str| format!("({column} = (NULLIF(current_setting('{guc}'::text, true), ''::text))::uuid)");
    let (mut scenario, mut catalogs) = two_tiers();
    catalogs[0].tables.push(with_policy(
        table("public.companies", &[("id", true), ("tenant_id", true)], &[("companies_tenant_fk", &["tenant_id"], "public.tenants", &["id"])]),
        &setting("tenant_id", "app.tenant"),
    ));
    catalogs[1].tables = vec![
        with_policy(table("public.campaign_analytics", &[("id", true), ("company_id", true)], &[]), &setting("company_id", "reporting.company")),
        with_policy(table("public.monthly_usage", &[("id", true), ("company_id", true)], &[]), &setting("company_id", "reporting.company")),
    ];
    scenario.references.push(crate::scenario::Reference {
        from: "olap.public.campaign_analytics.company_id".parse().unwrap(),
        to: "oltp.public.companies.id".parse().unwrap(),
    });
    (scenario, catalogs)
}

#[test]
fn a_tier_keyed_on_another_tiers_tenant_rows_is_tenant_of_them() {
    let (scenario, catalogs) = companies_across_tiers();
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    assert_eq!((tenancy.column("olap"), tenancy.guc("olap")), (Some("company_id"), Some("reporting.company")));
    let of = tenancy.tenant_of("olap").expect("inferred from the reference");
    assert_eq!((of.keys.tier.as_str(), of.keys.table.to_string(), of.keys.key.as_str(), of.keys.tenant_column.as_str()), ("oltp", "public.companies".to_string(), "id", "tenant_id"));
    assert_eq!(of.origin, Origin::Inferred);
    // companies carries a tenant of its own: it is no second tenants table
    assert_eq!(scope_in(&tenancy, "oltp", "public.companies"), Some(&TenantScope::Column("tenant_id".into())));
    assert!(tenancy.tenant_of("oltp").is_none());
    let snippet = tenancy.snippet().unwrap();
    assert!(snippet.contains("tenant_of = \"oltp.public.companies.id\""), "{snippet}");
    let described = tenancy.describe().join("\n");
    assert!(described.contains("tenancy olap: its tenants are rows of oltp.public.companies (by id), each of the oltp tenant in its tenant_id (inferred)"), "{described}");
}

#[test]
fn a_declared_tenant_of_must_name_a_table_that_carries_a_tenant() {
    let (mut scenario, catalogs) = companies_across_tiers();
    scenario.references.clear();
    let declare = |scenario: &mut Scenario, of: &str| {
        scenario.tenancy.tiers.insert("olap".into(), TierTenancyHints { tenant_of: Some(of.parse().unwrap()), ..TierTenancyHints::default() });
    };
    declare(&mut scenario, "oltp.public.companies.id");
    let of = Tenancy::infer(&scenario, &catalogs).unwrap().tenant_of("olap").cloned().expect("declared");
    assert_eq!(of.origin, Origin::Declared);
    declare(&mut scenario, "oltp.public.tenants.id");
    let error = Tenancy::infer(&scenario, &catalogs).unwrap_err().to_string();
    assert!(error.contains("public.tenants carries no tenant column in tier oltp"), "{error}");
    declare(&mut scenario, "oltp.public.companies.uuid");
    let error = Tenancy::infer(&scenario, &catalogs).unwrap_err().to_string();
    assert!(error.contains("tier oltp has no such table and column"), "{error}");
}

#[test]
fn a_table_without_a_tenant_takes_the_tenant_of_the_row_it_references_in_another_tier() {
    let (mut scenario, mut catalogs) = two_tiers();
    catalogs[1].tables.push(table("public.campaign_rollups", &[("id", true), ("campaign_id", true)], &[]));
    let reference = |from: &str, to: &str| crate::scenario::Reference { from: from.parse().unwrap(), to: to.parse().unwrap() };
    scenario.references.push(reference("olap.public.campaign_rollups.campaign_id", "oltp.public.campaigns.id"));
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    let Some(TenantScope::Remote(remote)) = scope_in(&tenancy, "olap", "public.campaign_rollups") else {
        panic!("not read through the reference: {:?}", scope_in(&tenancy, "olap", "public.campaign_rollups"));
    };
    assert_eq!(remote.to_string(), "campaign_id -> oltp.public.campaigns.id => tenant_id");
    assert_eq!(remote.of.mapping, None, "read at audit time");
    let read = KeyTenants { mapping: Some(Ok(r#"{"c1": "t1"}"#.into())), ..remote.of.clone() };
    let sql = TenantScope::Remote(RemoteTenant { of: read, ..remote.clone() }).tenant_sql("r");
    assert_eq!(sql, r#"('{"c1": "t1"}'::jsonb ->> r."campaign_id"::text)::uuid"#);
    let described = tenancy.describe().join("\n");
    assert!(described.contains("tenant reference (from [[references]]) olap.public.campaign_rollups: campaign_id -> oltp.public.campaigns.id => tenant_id"), "{described}");
    // declared shared, it stays shared
    scenario.tenancy.shared.push("olap.public.campaign_rollups".parse().unwrap());
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    assert_eq!(scope_in(&tenancy, "olap", "public.campaign_rollups"), None);
}
