use super::*;

/// A Supabase tier: `organizations`, `memberships (org_id, user_id -> auth.users)`,
/// `documents (org_id)`, and a policy on documents; `helper` is the body
/// of `private.user_org_ids()` when the policy calls it.
fn supabase(policy: &str, helper: Option<&str>) -> (Scenario, Vec<Catalog>) {
    let mut tier = catalog(vec![
        table("auth.users", &[("id", true)], &[]),
        table("public.organizations", &[("id", true)], &[]),
        table(
            "public.memberships",
            &[("id", true), ("org_id", true), ("user_id", true)],
            &[
                ("memberships_org_fk", &["org_id"], "public.organizations", &["id"]),
                ("memberships_user_fk", &["user_id"], "auth.users", &["id"]),
            ],
        ),
        with_policy(
            table("public.documents", &[("id", true), ("org_id", true)], &[("documents_org_fk", &["org_id"], "public.organizations", &["id"])]),
            policy,
        ),
    ]);
    if let Some(body) = helper {
        tier.functions.push(crate::catalog::Function {
            name: QualName { schema: "private".into(), name: "user_org_ids".into() },
            arguments: String::new(),
            result: "SETOF uuid".into(),
            security_definer: true,
            source: body.into(),
            procedure: false,
            config: Vec::new(),
            owner: "postgres".into(),
            executable_by: vec!["authenticated".into()],
        });
    }
    let overrides = Overrides {
        tiers: vec![("events".into(), vec![PathBuf::from("schema.sql")])],
        ..Overrides::default()
    };
    (Scenario::resolve(None, overrides).expect("scenario"), vec![tier])
}

#[test]
fn a_membership_table_read_with_auth_uid_makes_users_the_principals() {
    let through_helper = supabase(
        "(org_id IN ( SELECT private.user_org_ids() AS user_org_ids))",
        Some("SELECT m.org_id FROM public.memberships m WHERE m.user_id = auth.uid()"),
    );
    let inline = supabase("(EXISTS ( SELECT 1 FROM memberships m WHERE ((m.user_id = auth.uid()) AND (m.org_id = documents.org_id))))", None);
    for (scenario, catalogs) in [through_helper, inline] {
        let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
        let Model::Membership(m) = tenancy.model("events") else { panic!("{:?}", tenancy.model("events")) };
        assert_eq!((m.table.to_string(), m.user_column.as_str(), m.tenant_column.as_str()), ("public.memberships".into(), "user_id", "org_id"));
        assert_eq!(tenancy.guc("events"), Some("request.jwt.claims"));
        assert_eq!(tenancy.app_role.as_deref(), Some("authenticated"));
        assert!(tenancy.snippet().unwrap().contains("model = \"membership\"\nmembership = \"events.public.memberships\"\nmembership_user = \"user_id\""));
    }
}

#[test]
fn a_claim_compared_with_the_tenant_column_makes_the_jwt_carry_the_tenant() {
    let (scenario, catalogs) = supabase("(org_id = (((auth.jwt() -> 'app_metadata'::text) ->> 'org_id'::text))::uuid)", None);
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    assert_eq!(tenancy.model("events"), &Model::Claim { path: vec!["app_metadata".into(), "org_id".into()] });
    // Without auth.* or the JWT setting, a setting holds the tenant.
    let (scenario, catalogs) = supabase("(org_id = (current_setting('app.org'::text))::uuid)", None);
    assert_eq!(Tenancy::infer(&scenario, &catalogs).unwrap().model("events"), &Model::Setting);
    // Declared: the claim wins over what the policies say.
    let (mut scenario, catalogs) = supabase("(org_id = (((auth.jwt() -> 'app_metadata'::text) ->> 'org_id'::text))::uuid)", None);
    scenario.tenancy.claim = Some("tenant".into());
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    assert_eq!((tenancy.model("events"), tenancy.tier("events").unwrap().model_origin), (&Model::Claim { path: vec!["tenant".into()] }, Origin::Declared));
}
