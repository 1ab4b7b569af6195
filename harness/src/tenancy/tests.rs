use std::path::PathBuf;

use super::roles::login_role;
use super::*;
use crate::catalog::{Column, Constraint, ConstraintKind, ForeignKey, RefAction};
use crate::catalog::{Command, Policy};
use crate::scenario::{DeclaredPath, Overrides, Scenario, TierTenancyHints};

/// `name`: `schema.table`; `columns`: (name, NOT NULL); `fks`:
/// (constraint, columns, target table, target columns).
fn table(name: &str, columns: &[(&str, bool)], fks: &[(&str, &[&str], &str, &[&str])]) -> Table {
    let qual = |n: &str| {
        let (schema, name) = n.split_once('.').expect("schema.table");
        QualName {
            schema: schema.into(),
            name: name.into(),
        }
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (schema, table) = name.split_once('.').expect("schema.table");
    Table {
        columns: columns
            .iter()
            .map(|(c, not_null)| Column::plain(c, "uuid", *not_null))
            .collect(),
        constraints: fks
            .iter()
            .map(|(constraint, cols, target, target_cols)| Constraint {
                name: constraint.to_string(),
                kind: ConstraintKind::ForeignKey,
                columns: strings(cols),
                validated: true,
                definition: String::new(),
                foreign_key: Some(ForeignKey {
                    target: qual(target),
                    target_columns: strings(target_cols),
                    on_delete: RefAction::Cascade,
                    on_update: RefAction::NoAction,
                    triggers_enabled: true,
                }),
            })
            .collect(),
        ..Table::plain(schema, table)
    }
}

fn catalog(tables: Vec<Table>) -> Catalog {
    Catalog {
        tier: "events".into(),
        tables,
        views: Vec::new(),
        functions: Vec::new(),
        roles: Vec::new(),
    }
}

#[test]
fn a_role_that_cannot_log_in_is_acted_as_through_its_widest_login_member() {
    let role = |name: &str, can_login: bool, member_of: &[&str]| crate::catalog::Role {
        name: name.into(),
        superuser: false,
        bypass_rls: false,
        can_login,
        member_of: member_of.iter().map(|m| m.to_string()).collect(),
    };
    let mut tier = catalog(Vec::new());
    tier.roles = vec![
        role("app", false, &[]),
        role("web", true, &["app"]),
        role("web_reporting", true, &["app", "reporting"]),
        role("batch", true, &[]),
    ];
    let catalogs = [tier];
    assert_eq!(login_role(&catalogs, "app"), "web_reporting");
    assert_eq!(login_role(&catalogs, "web"), "web", "a login role is itself");
    assert_eq!(login_role(&catalogs, "unknown"), "unknown");
    let mut alone = catalogs[0].clone();
    alone.roles.retain(|r| r.name == "app");
    assert_eq!(login_role(&[alone], "app"), "app", "no login member: the role itself");
}

/// The seed's hierarchy, cut down: organizations > projects > workspaces
/// > tasks > comments, plus a global users table.
fn hierarchy() -> Vec<Table> {
    vec![
        table("public.organizations", &[("id", true)], &[]),
        table("auth.users", &[("id", true)], &[]),
        table(
            "public.projects",
            &[("id", true), ("organization_id", true), ("owner_id", true)],
            &[
                (
                    "projects_organization_fk",
                    &["organization_id"],
                    "public.organizations",
                    &["id"],
                ),
                ("projects_owner_fk", &["owner_id"], "auth.users", &["id"]),
            ],
        ),
        table(
            "public.workspaces",
            &[("id", true), ("project_id", true), ("owner_id", true)],
            &[
                ("workspaces_project_fk", &["project_id"], "public.projects", &["id"]),
                ("workspaces_owner_fk", &["owner_id"], "auth.users", &["id"]),
            ],
        ),
        table(
            "public.workspace_tasks",
            &[("id", true), ("workspace_id", true), ("assigned_to", false)],
            &[
                (
                    "workspace_tasks_workspace_fk",
                    &["workspace_id"],
                    "public.workspaces",
                    &["id"],
                ),
                (
                    "workspace_tasks_assigned_to_fk",
                    &["assigned_to"],
                    "auth.users",
                    &["id"],
                ),
            ],
        ),
        table(
            "public.task_comments",
            &[("id", true), ("task_id", true)],
            &[("task_comments_task_fk", &["task_id"], "public.workspace_tasks", &["id"])],
        ),
    ]
}

fn scenario(shared: &[&str], paths: &[(&str, &[&str])]) -> Scenario {
    let overrides = Overrides {
        tiers: vec![("events".into(), vec![PathBuf::from("schema.sql")])],
        ..Overrides::default()
    };
    let mut scenario = Scenario::resolve(None, overrides).expect("scenario");
    scenario.tenancy.column = Some("organization_id".into());
    scenario.tenancy.shared = shared.iter().map(|s| s.parse().expect("tier table")).collect();
    scenario.tenancy.paths = paths
        .iter()
        .map(|(table, hops)| DeclaredPath {
            table: table.parse().expect("tier table"),
            hops: hops.iter().map(|h| h.parse().expect("hop")).collect(),
        })
        .collect();
    scenario
}

fn scope<'t>(tenancy: &'t Tenancy, table: &str) -> Option<&'t TenantScope> {
    let (schema, name) = table.split_once('.').unwrap();
    tenancy.scope(
        "events",
        &QualName {
            schema: schema.into(),
            name: name.into(),
        },
    )
}

fn path<'t>(tenancy: &'t Tenancy, table: &str) -> &'t TenantPath {
    match scope(tenancy, table) {
        Some(TenantScope::Path(path)) => path,
        other => panic!("{table}: expected a path, got {other:?}"),
    }
}

fn targets(path: &TenantPath) -> Vec<String> {
    path.hops
        .iter()
        .map(|h| format!("{}:{}", h.columns.join("+"), h.target))
        .collect()
}

#[test]
fn tables_without_the_tenant_column_get_the_fk_path_up_to_one_that_has_it() {
    let tenancy = Tenancy::infer(&scenario(&["events.auth.users"], &[]), &[catalog(hierarchy())]).unwrap();
    assert_eq!(
        scope(&tenancy, "public.projects"),
        Some(&TenantScope::Column("organization_id".into()))
    );
    assert_eq!(
        scope(&tenancy, "public.organizations"),
        Some(&TenantScope::Root("id".into()))
    );
    let comments = path(&tenancy, "public.task_comments");
    assert_eq!(
        targets(comments),
        [
            "task_id:public.workspace_tasks",
            "workspace_id:public.workspaces",
            "project_id:public.projects"
        ]
    );
    assert_eq!(comments.tenant_column, "organization_id");
    assert_eq!(comments.end().name, "projects");
    assert!(!comments.declared);
    assert_eq!(comments.hops[0].constraint.as_deref(), Some("task_comments_task_fk"));
    assert_eq!(
        targets(path(&tenancy, "public.workspaces")),
        ["project_id:public.projects"]
    );
    // global tables are neither scoped nor crossed
    assert_eq!(scope(&tenancy, "auth.users"), None);
    assert_eq!(tenancy.paths().count(), 3);
}

#[test]
fn nullable_fks_are_followed_only_where_no_required_path_exists() {
    let mut tables = hierarchy();
    // a note whose workspace is optional: when it is NULL, no tenant
    tables.push(table(
        "public.loose_notes",
        &[("id", true), ("workspace_id", false)],
        &[("loose_notes_workspace_fk", &["workspace_id"], "public.workspaces", &["id"])],
    ));
    // a comment with a required task and an optional shortcut to the project
    tables.push(table(
        "public.task_notes",
        &[("id", true), ("task_id", true), ("project_id", false)],
        &[
            ("task_notes_task_fk", &["task_id"], "public.workspace_tasks", &["id"]),
            ("task_notes_project_fk", &["project_id"], "public.projects", &["id"]),
        ],
    ));
    let tenancy = Tenancy::infer(&scenario(&["events.auth.users"], &[]), &[catalog(tables)]).unwrap();
    let loose = path(&tenancy, "public.loose_notes");
    assert!(loose.nullable && !loose.declared, "{loose}");
    assert_eq!(loose.hops[0].columns, ["workspace_id"]);
    let required = path(&tenancy, "public.task_notes");
    assert!(!required.nullable, "the NOT NULL path wins over a shorter nullable one: {required}");
    assert_eq!(required.hops[0].columns, ["task_id"]);
}

#[test]
fn the_shortest_path_wins_and_ties_break_the_same_way_whatever_the_catalog_order() {
    let mut tables = hierarchy();
    // two ways up: via the task (3 hops to projects) or straight to the
    // workspace (2 hops) and, equally short, via a second workspace FK
    tables.push(table(
        "public.task_links",
        &[
            ("id", true),
            ("task_id", true),
            ("workspace_id", true),
            ("mirror_workspace_id", true),
        ],
        &[
            ("task_links_task_fk", &["task_id"], "public.workspace_tasks", &["id"]),
            (
                "task_links_workspace_fk",
                &["workspace_id"],
                "public.workspaces",
                &["id"],
            ),
            (
                "task_links_mirror_fk",
                &["mirror_workspace_id"],
                "public.workspaces",
                &["id"],
            ),
        ],
    ));
    let shared = ["events.auth.users"];
    let forward = Tenancy::infer(&scenario(&shared, &[]), &[catalog(tables.clone())]).unwrap();
    tables.reverse();
    for t in &mut tables {
        t.constraints.reverse();
    }
    let backward = Tenancy::infer(&scenario(&shared, &[]), &[catalog(tables)]).unwrap();
    for tenancy in [&forward, &backward] {
        assert_eq!(
            targets(path(tenancy, "public.task_links")),
            ["mirror_workspace_id:public.workspaces", "project_id:public.projects"]
        );
    }
    assert_eq!(
        path(&forward, "public.task_comments"),
        path(&backward, "public.task_comments")
    );
}

#[test]
fn a_path_may_end_at_the_tenants_table() {
    let tables = vec![
        table("public.organizations", &[("id", true)], &[]),
        table(
            "public.projects",
            &[("id", true), ("organization_id", true)],
            &[(
                "projects_organization_fk",
                &["organization_id"],
                "public.organizations",
                &["id"],
            )],
        ),
        // references the tenant under another name
        table(
            "public.invitations",
            &[("id", true), ("inviting_org", true)],
            &[("invitations_org_fk", &["inviting_org"], "public.organizations", &["id"])],
        ),
    ];
    let tenancy = Tenancy::infer(&scenario(&[], &[]), &[catalog(tables)]).unwrap();
    let invitations = path(&tenancy, "public.invitations");
    assert_eq!(targets(invitations), ["inviting_org:public.organizations"]);
    assert_eq!(invitations.tenant_column, "id");
}

#[test]
fn fk_cycles_that_never_reach_a_tenant_end_the_search() {
    let tables = vec![
        table(
            "public.a",
            &[("id", true), ("b_id", true)],
            &[("a_b_fk", &["b_id"], "public.b", &["id"])],
        ),
        table(
            "public.b",
            &[("id", true), ("a_id", true)],
            &[("b_a_fk", &["a_id"], "public.a", &["id"])],
        ),
    ];
    let tenancy = Tenancy::infer(&scenario(&[], &[]), &[catalog(tables)]).unwrap();
    assert_eq!(tenancy.paths().count(), 0);
}

#[test]
fn a_declared_path_wins_over_inference_and_inferred_paths_continue_along_it() {
    let mut tables = hierarchy();
    // the shortcut a redundant column would add: inference would take it
    tables[5].columns.push(Column::plain("workspace_id", "uuid", true));
    tables[5].constraints.extend(
        table(
            "public.task_comments",
            &[],
            &[(
                "task_comments_workspace_fk",
                &["workspace_id"],
                "public.workspaces",
                &["id"],
            )],
        )
        .constraints,
    );
    tables.push(table(
        "public.comment_reactions",
        &[("id", true), ("comment_id", true)],
        &[(
            "comment_reactions_comment_fk",
            &["comment_id"],
            "public.task_comments",
            &["id"],
        )],
    ));
    let declared: &[&str] = &[
        "task_id -> public.workspace_tasks.id",
        "workspace_id -> public.workspaces.id",
        "project_id -> public.projects.id",
    ];
    let scenario = scenario(&["events.auth.users"], &[("events.public.task_comments", declared)]);
    let tenancy = Tenancy::infer(&scenario, &[catalog(tables)]).unwrap();
    let comments = path(&tenancy, "public.task_comments");
    assert!(comments.declared);
    assert_eq!(
        targets(comments),
        [
            "task_id:public.workspace_tasks",
            "workspace_id:public.workspaces",
            "project_id:public.projects"
        ]
    );
    assert_eq!(
        comments.hops[1].constraint.as_deref(),
        Some("workspace_tasks_workspace_fk")
    );
    let reactions = path(&tenancy, "public.comment_reactions");
    assert_eq!(targets(reactions)[0], "comment_id:public.task_comments");
    assert_eq!(reactions.hops[1..], comments.hops[..]);
    assert!(!reactions.declared);
}

#[test]
fn a_declared_hop_without_fk_is_kept_as_a_logical_reference() {
    let mut tables = hierarchy();
    tables[5].constraints.clear(); // comments lost their FK to tasks
    let declared: &[&str] = &[
        "task_id -> public.workspace_tasks.id",
        "workspace_id -> public.workspaces.id",
        "project_id -> public.projects.id",
    ];
    let scenario = scenario(&["events.auth.users"], &[("events.public.task_comments", declared)]);
    let tenancy = Tenancy::infer(&scenario, &[catalog(tables)]).unwrap();
    assert_eq!(path(&tenancy, "public.task_comments").hops[0].constraint, None);
}

#[test]
fn declared_paths_the_catalog_contradicts_are_refused_with_the_reason() {
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "events.public.nope",
            &["task_id -> public.workspace_tasks.id"],
            "tier events has no table public.nope",
        ),
        (
            "events.public.task_comments",
            &["task_ref -> public.workspace_tasks.id"],
            "public.task_comments has no column task_ref",
        ),
        (
            "events.public.task_comments",
            &["task_id -> public.tasks.id"],
            "tier events has no table public.tasks",
        ),
        (
            "events.public.task_comments",
            &["task_id -> public.workspace_tasks.uuid"],
            "public.workspace_tasks has no column uuid",
        ),
        (
            "events.public.task_comments",
            &["task_id -> public.workspace_tasks.id"],
            "the last hop ends at public.workspace_tasks, which neither carries organization_id",
        ),
        (
            "events.public.projects",
            &["owner_id -> auth.users.id"],
            "holds the tenant itself (organization_id)",
        ),
    ];
    for (table, hops, message) in cases {
        let error = Tenancy::infer(&scenario(&[], &[(table, hops)]), &[catalog(hierarchy())]).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with(&format!("tenancy.paths \"{table}\": ")), "{text}");
        assert!(text.contains(message), "{text} does not say: {message}");
    }
}

#[test]
fn tenant_sql_joins_up_the_path() {
    let tenancy = Tenancy::infer(&scenario(&["events.auth.users"], &[]), &[catalog(hierarchy())]).unwrap();
    assert_eq!(
        path(&tenancy, "public.workspace_tasks").tenant_sql("t"),
        r#"(SELECT hop2."organization_id" FROM "public"."workspaces" hop1 JOIN "public"."projects" hop2 ON hop2."id" = hop1."project_id" WHERE hop1."id" = t."workspace_id")"#
    );
    assert_eq!(
        scope(&tenancy, "public.projects").unwrap().tenant_sql("p"),
        r#"p."organization_id""#
    );
    assert_eq!(
        path(&tenancy, "public.workspace_tasks").to_string(),
        "workspace_id -> public.workspaces.id, project_id -> public.projects.id => public.projects.organization_id"
    );
}

/// A policy on `table` whose USING is `expression`, as Postgres prints it.
fn with_policy(mut table: Table, expression: &str) -> Table {
    table.policies.push(Policy {
        name: format!("{}_policy", table.name.name),
        command: Command::All,
        roles: vec!["public".into()],
        permissive: true,
        using: Some(expression.into()),
        with_check: None,
    });
    table
}

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
    scenario.tenancy.tiers.insert("olap".into(), TierTenancyHints { column: Some("account_id".into()), guc: Some("warehouse.account".into()) });
    scenario.tenancy.columns.push(("olap.public.workspace_rollups".parse().unwrap(), "workspace_id".into()));
    let tenancy = Tenancy::infer(&scenario, &catalogs).unwrap();
    assert_eq!(tenancy.tier("olap").unwrap().guc_origin, Origin::Declared);
    assert_eq!(scope_in(&tenancy, "olap", "public.workspace_rollups"), Some(&TenantScope::Column("workspace_id".into())));
    let snippet = tenancy.snippet().unwrap_or_default();
    assert!(!snippet.contains("[tiers.olap.tenancy]"), "{snippet}");
    assert!(!snippet.contains("workspace_rollups"), "declared: {snippet}");
}

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
