use super::*;

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
