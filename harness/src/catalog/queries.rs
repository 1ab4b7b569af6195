//! The catalog queries. Each returns one JSON array shaped like the model,
//! so the mapping lives in SQL aliases instead of hand-written row code.

use sqlx::types::Json;
use sqlx::PgPool;

use super::{Function, Role, Table, View};

/// Schemas that belong to PostgreSQL, not to the user.
const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
                            AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'";

/// Grants on an object as `[{grantee, privileges}]`, PUBLIC as `public`.
const GRANTS: &str = "COALESCE((
    SELECT json_agg(json_build_object('grantee', g.grantee, 'privileges', g.privileges) ORDER BY g.grantee)
    FROM (SELECT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END AS grantee,
                 json_agg(DISTINCT a.privilege_type) AS privileges
          FROM aclexplode(c.relacl) a GROUP BY a.grantee) g), '[]'::json)";

fn tables_sql() -> String {
    format!(
        "SELECT COALESCE(json_agg(t ORDER BY t.sort), '[]'::json) FROM (
         SELECT n.nspname || '.' || c.relname AS sort,
           json_build_object('schema', n.nspname, 'name', c.relname) AS name,
           CASE c.relkind WHEN 'p' THEN 'partitioned' ELSE 'ordinary' END AS kind,
           pg_get_userbyid(c.relowner) AS owner,
           c.relrowsecurity AS rls_enabled,
           c.relforcerowsecurity AS rls_forced,
           (SELECT json_build_object('schema', pn.nspname, 'name', p.relname)
              FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
              JOIN pg_namespace pn ON pn.oid = p.relnamespace
             WHERE i.inhrelid = c.oid AND c.relispartition) AS partition_of,
           CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
           -- the whole constraint a row must meet to land here, all levels ANDed
           CASE WHEN c.relispartition THEN pg_get_partition_constraintdef(c.oid) END AS partition_constraint,
           CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
           (SELECT COALESCE(json_agg(json_build_object(
                'name', a.attname,
                'data_type', format_type(a.atttypid, a.atttypmod),
                'not_null', a.attnotnull,
                'default', pg_get_expr(d.adbin, d.adrelid),
                'identity', a.attidentity <> '',
                'identity_always', a.attidentity = 'a',
                'generated', a.attgenerated <> '',
                'sequence', pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname),
                -- what values look like: domains resolved to their base type
                'base_type', format_type(COALESCE(NULLIF(ty.typbasetype, 0), ty.oid),
                                         CASE WHEN ty.typbasetype <> 0 THEN ty.typtypmod ELSE a.atttypmod END),
                'domain_checks', (SELECT COALESCE(json_agg(pg_get_constraintdef(dc.oid) ORDER BY dc.conname), '[]'::json)
                                    FROM pg_constraint dc WHERE dc.contypid = ty.oid AND dc.contype = 'c'),
                'enum_labels', (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                                 WHERE e.enumtypid = COALESCE(NULLIF(ty.typbasetype, 0), ty.oid)))
                ORDER BY a.attnum), '[]'::json)
              FROM pg_attribute a
              JOIN pg_type ty ON ty.oid = a.atttypid
              LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
           (SELECT COALESCE(json_agg(json_build_object(
                'name', k.conname,
                'kind', CASE k.contype WHEN 'p' THEN 'primary_key' WHEN 'u' THEN 'unique'
                        WHEN 'f' THEN 'foreign_key' WHEN 'c' THEN 'check' ELSE 'exclusion' END,
                'columns', (SELECT COALESCE(json_agg(a.attname ORDER BY x.ord), '[]'::json)
                              FROM unnest(k.conkey) WITH ORDINALITY x(num, ord)
                              JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.num),
                'validated', k.convalidated,
                'definition', pg_get_constraintdef(k.oid),
                'foreign_key', CASE WHEN k.contype = 'f' THEN json_build_object(
                    'target', json_build_object('schema', fn.nspname, 'name', f.relname),
                    'target_columns', (SELECT json_agg(a.attname ORDER BY x.ord)
                              FROM unnest(k.confkey) WITH ORDINALITY x(num, ord)
                              JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.num),
                    'on_delete', CASE k.confdeltype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
                        WHEN 'n' THEN 'set_null' WHEN 'd' THEN 'set_default' ELSE 'no_action' END,
                    'on_update', CASE k.confupdtype WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade'
                        WHEN 'n' THEN 'set_null' WHEN 'd' THEN 'set_default' ELSE 'no_action' END,
                    'triggers_enabled', NOT EXISTS (SELECT 1 FROM pg_trigger tg
                        WHERE tg.tgconstraint = k.oid AND tg.tgenabled = 'D'))
                  END) ORDER BY k.conname), '[]'::json)
              FROM pg_constraint k
              LEFT JOIN pg_class f ON f.oid = k.confrelid
              LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace
             WHERE k.conrelid = c.oid
               -- NOT NULL is read from pg_attribute (PostgreSQL 18 also keeps it
               -- here, as 'n'); constraint triggers ('t') are triggers
               AND k.contype IN ('p', 'u', 'f', 'c', 'x')
               -- an FK on a partitioned table is cloned onto each partition; report it once
               AND (k.contype <> 'f' OR k.conparentid = 0)) AS constraints,
           (SELECT COALESCE(json_agg(json_build_object(
                'name', ic.relname,
                'columns', (SELECT json_agg(a.attname ORDER BY x.ord)
                              FROM unnest(ix.indkey[0:ix.indnkeyatts - 1]) WITH ORDINALITY x(num, ord)
                              LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = x.num AND x.num > 0),
                'unique', ix.indisunique,
                'primary', ix.indisprimary,
                'predicate', pg_get_expr(ix.indpred, ix.indrelid),
                'valid', ix.indisvalid) ORDER BY ic.relname), '[]'::json)
              FROM pg_index ix JOIN pg_class ic ON ic.oid = ix.indexrelid
             WHERE ix.indrelid = c.oid) AS indexes,
           (SELECT COALESCE(json_agg(json_build_object(
                'name', po.polname,
                'command', CASE po.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert'
                           WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END,
                'roles', (SELECT json_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END)
                            FROM unnest(po.polroles) r),
                'permissive', po.polpermissive,
                'using', pg_get_expr(po.polqual, po.polrelid),
                'with_check', pg_get_expr(po.polwithcheck, po.polrelid)) ORDER BY po.polname), '[]'::json)
              FROM pg_policy po WHERE po.polrelid = c.oid) AS policies,
           {GRANTS} AS grants
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS}) t"
    )
}

fn views_sql() -> String {
    format!(
        "SELECT COALESCE(json_agg(v ORDER BY v.sort), '[]'::json) FROM (
         SELECT n.nspname || '.' || c.relname AS sort,
           json_build_object('schema', n.nspname, 'name', c.relname) AS name,
           c.relkind = 'm' AS materialized,
           pg_get_userbyid(c.relowner) AS owner,
           COALESCE(c.reloptions @> ARRAY['security_invoker=true']
                 OR c.reloptions @> ARRAY['security_invoker=on'], false) AS security_invoker,
           COALESCE(c.reloptions @> ARRAY['security_barrier=true']
                 OR c.reloptions @> ARRAY['security_barrier=on'], false) AS security_barrier,
           {GRANTS} AS grants
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMAS}) v"
    )
}

fn functions_sql() -> String {
    format!(
        "SELECT COALESCE(json_agg(f ORDER BY f.sort), '[]'::json) FROM (
         SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS sort,
           json_build_object('schema', n.nspname, 'name', p.proname) AS name,
           pg_get_function_identity_arguments(p.oid) AS arguments,
           COALESCE(pg_get_function_result(p.oid), '') AS result,
           p.prosecdef AS security_definer,
           COALESCE(p.prosrc, '') AS source,
           p.prokind = 'p' AS procedure,
           COALESCE(to_json(p.proconfig), '[]'::json) AS config,
           pg_get_userbyid(p.proowner) AS owner,
           (SELECT COALESCE(json_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'public'
                                             ELSE pg_get_userbyid(a.grantee) END), '[]'::json)
              FROM aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
             WHERE a.privilege_type = 'EXECUTE') AS executable_by
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMAS}
           -- functions that come with an extension are not the user's code
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')) f"
    )
}

const ROLES_SQL: &str = "SELECT COALESCE(json_agg(json_build_object(
       'name', r.rolname,
       'superuser', r.rolsuper,
       'bypass_rls', r.rolbypassrls,
       'can_login', r.rolcanlogin,
       'member_of', (WITH RECURSIVE up(oid) AS (
                        SELECT m.roleid FROM pg_auth_members m WHERE m.member = r.oid
                        UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid)
                     SELECT COALESCE(json_agg(pg_get_userbyid(up.oid)), '[]'::json) FROM up))
       ORDER BY r.rolname), '[]'::json)
     FROM pg_roles r WHERE r.rolname NOT LIKE 'pg\\_%'";

pub async fn read(pool: &PgPool) -> Result<(Vec<Table>, Vec<View>, Vec<Function>, Vec<Role>), sqlx::Error> {
    let (tables_sql, views_sql, functions_sql) = (tables_sql(), views_sql(), functions_sql());
    let (Json(tables), Json(views), Json(functions), Json(roles)) = tokio::try_join!(
        sqlx::query_scalar::<_, Json<Vec<Table>>>(&tables_sql).fetch_one(pool),
        sqlx::query_scalar::<_, Json<Vec<View>>>(&views_sql).fetch_one(pool),
        sqlx::query_scalar::<_, Json<Vec<Function>>>(&functions_sql).fetch_one(pool),
        sqlx::query_scalar::<_, Json<Vec<Role>>>(ROLES_SQL).fetch_one(pool),
    )?;
    Ok((tables, views, functions, roles))
}
