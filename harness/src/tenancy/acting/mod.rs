//! Acting as a principal: the one place that takes the application role
//! and sets the context the way the application does (`[tenancy]
//! context`: `set_config(..., true)`, a session `SET`, the schema's own
//! function, or JWT claims as PostgREST sets them) for a tenant, a user
//! with its memberships, no one, or a tenant with one more claim. The
//! isolation probes, the writing integrity probes (sandbox), the
//! pooled-connection probe and the latency queries all act through an
//! [`Actor`] (read once per tier), so every probe sees the tenant exactly as
//! the application sets it.

mod jwt;
mod refusal;

use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use std::collections::BTreeMap;

use crate::tenancy::inputs::claim_path;
use crate::tenancy::model::{Membership, Model, ANON};
use crate::tenancy::Tenancy;
use crate::sql::{quote_ident, quote_literal};
use crate::scenario::ContextMechanism;

use jwt::insert_at;
pub use jwt::Jwt;
pub use refusal::{settled, Refusal};

/// The tenant context a probe runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Context {
    Tenant(String),
    /// The setting set to the empty string.
    Empty,
    /// The setting never set in this session.
    Unset,
    /// A signed-in user with all of its memberships (membership model).
    User(String),
    /// No JWT at all: PostgREST's `anon` role (JWT models).
    Anonymous,
    /// The tenant's context, and one more setting (or `jwt.`-prefixed
    /// claim) the policies read, set to `value`.
    Elevated { tenant: String, input: String, value: String },
}

impl Context {
    pub fn describe(&self) -> String {
        match self {
            Context::Tenant(t) => format!("tenant {t}"),
            Context::Empty => "an empty tenant setting".into(),
            Context::Unset => "no tenant setting".into(),
            Context::User(u) => format!("user {u} (with its own memberships)"),
            Context::Anonymous => format!("role {ANON} without a JWT"),
            Context::Elevated { tenant, input, value } => format!("tenant {tenant} and {input} = '{value}'"),
        }
    }
}

/// Who the probes act as, and how the application sets its tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Actor {
    pub role: String,
    /// The setting the policies read.
    pub guc: String,
    #[serde(default)]
    pub mechanism: ContextMechanism,
    /// JWT claims as PostgREST sets them, instead of the plain setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<Jwt>,
    /// Membership model: the context carries a user, not the tenant; for
    /// each tenant id, the user that is a member of it alone acts for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<BTreeMap<String, String>>,
}

impl Actor {
    /// The application as the tier's tenancy and the scenario describe it;
    /// None when no app role or tenant setting is given or inferred. In
    /// the membership model, reads which user acts for each tenant.
    pub async fn of(tenancy: &Tenancy, tier: &str, mechanism: &ContextMechanism, pool: &PgPool) -> Option<Actor> {
        let mut actor = Actor {
            role: tenancy.app_role.clone()?,
            guc: tenancy.guc(tier)?.to_string(),
            mechanism: mechanism.clone(),
            jwt: None,
            members: None,
        };
        let model = tenancy.model(tier);
        if let Model::Membership(membership) = model {
            actor.members = Some(sole_members(pool, membership).await.unwrap_or_default());
        }
        actor.jwt = match model {
            Model::Claim { path } => Some(Jwt { path: path.clone() }),
            Model::Membership(m) if m.user_setting.is_none() => Some(Jwt::default()),
            _ => None,
        };
        Some(actor)
    }

    /// Whether the probes can act for `tenant`: always, except in the
    /// membership model, where a user must be a member of it alone.
    pub fn can_act_for(&self, tenant: &str) -> bool {
        self.members.as_ref().is_none_or(|m| m.contains_key(tenant))
    }

    /// The user that acts for `tenant` (membership: its sole member; else
    /// a stand-in id, stable per tenant, for the JWT's `sub`).
    pub fn user_for(&self, tenant: &str) -> String {
        self.members.as_ref().and_then(|m| m.get(tenant).cloned()).unwrap_or_else(|| Jwt::stand_in_user(tenant))
    }

    /// What the context carries for `tenant`: the tenant id, or in the
    /// membership model the user that acts for it.
    fn principal(&self, tenant: &str) -> String {
        match &self.members {
            Some(_) => self.user_for(tenant),
            None => tenant.to_string(),
        }
    }

    /// The statements that take the role and set `context`. Run in a
    /// transaction (or savepoint), all of it ends with it — except what a
    /// session-scoped mechanism leaves behind when that transaction commits.
    pub fn statements(&self, context: &Context) -> Vec<String> {
        let role = format!("SET LOCAL ROLE {}", quote_ident(&self.role));
        let set_guc = |value: &str, local: bool| set_config(&self.guc, value, local);
        if let Some(jwt) = &self.jwt {
            return self.jwt_statements(jwt, role, context);
        }
        let context = match (context, &self.mechanism) {
            (Context::Tenant(t), ContextMechanism::Local) => set_guc(&self.principal(t), true),
            (Context::Tenant(t), ContextMechanism::Session) => set_guc(&self.principal(t), false),
            // An untyped literal: it takes the argument type the function declares.
            (Context::Tenant(t), ContextMechanism::Function(function)) => {
                format!("SELECT {}({})", function.sql(), quote_literal(&self.principal(t)))
            }
            // An empty setting is a state of the connection, however the
            // application usually fills it.
            (Context::Empty, _) => set_guc("", true),
            (Context::Unset | Context::Anonymous, _) => return vec![role],
            (Context::User(u), _) => set_guc(u, true),
            (Context::Elevated { tenant, input, value }, _) => {
                let mut statements = self.statements(&Context::Tenant(tenant.clone()));
                statements.push(set_config(input, value, true));
                return statements;
            }
        };
        vec![role, context]
    }

    /// As PostgREST does: the role, and the claims in `request.jwt.claims`
    /// for the transaction.
    fn jwt_statements(&self, jwt: &Jwt, role: String, context: &Context) -> Vec<String> {
        let claims = |claims: &serde_json::Value| set_config(&self.guc, &claims.to_string(), true);
        match context {
            Context::Tenant(t) => vec![role, claims(&jwt.claims(&self.role, &self.user_for(t), Some(t)))],
            Context::User(u) => vec![role, claims(&jwt.claims(&self.role, u, None))],
            Context::Empty => vec![role, set_config(&self.guc, "", true)],
            Context::Unset => vec![role],
            Context::Anonymous => vec![format!("SET LOCAL ROLE {}", quote_ident(ANON)), set_config(&self.guc, &format!("{{\"role\": \"{ANON}\"}}"), true)],
            Context::Elevated { tenant, input, value } => {
                let mut tenant_claims = jwt.claims(&self.role, &self.user_for(tenant), Some(tenant));
                match claim_path(input) {
                    Some(path) => {
                        insert_at(&mut tenant_claims, &path, value);
                        vec![role, claims(&tenant_claims)]
                    }
                    None => vec![role, claims(&tenant_claims), set_config(input, value, true)],
                }
            }
        }
    }

    /// Takes the role and sets the context in the open transaction (or
    /// savepoint) on `conn`, in one round trip. The server refusing (a
    /// context function that rejects an unknown tenant) is a refusal, not
    /// an error.
    pub async fn enter(
        &self,
        conn: &mut PgConnection,
        context: &Context,
    ) -> Result<Result<(), Refusal>, sqlx::Error> {
        match sqlx::raw_sql(&self.statements(context).join("; "))
            .execute(conn)
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(error) => Refusal::from_error(error).map(Err),
        }
    }

    /// Opens a transaction on a pooled connection and enters `context` in
    /// it: BEGIN, the role and the context in one round trip.
    pub async fn begin(
        &self,
        pool: &PgPool,
        context: &Context,
    ) -> Result<Result<Transaction<'static, Postgres>, Refusal>, sqlx::Error> {
        match pool.begin_with(self.opening(context)).await {
            Ok(tx) => Ok(Ok(tx)),
            Err(error) => Refusal::from_error(error).map(Err),
        }
    }

    /// [`Actor::begin`] on a connection the caller holds (to use it again).
    pub async fn begin_on<'c>(
        &self,
        conn: &'c mut PgConnection,
        context: &Context,
    ) -> Result<Result<Transaction<'c, Postgres>, Refusal>, sqlx::Error> {
        match conn.begin_with(self.opening(context)).await {
            Ok(tx) => Ok(Ok(tx)),
            Err(error) => Refusal::from_error(error).map(Err),
        }
    }

    fn opening(&self, context: &Context) -> String {
        self.opening_statements(context).join("; ")
    }

    /// What [`Actor::begin`] sends, statement by statement: BEGIN, the role
    /// and the context.
    pub fn opening_statements(&self, context: &Context) -> Vec<String> {
        [vec!["BEGIN".to_string()], self.statements(context)].concat()
    }
}

/// `SELECT set_config('name', 'value', local)`.
fn set_config(name: &str, value: &str, local: bool) -> String {
    format!("SELECT set_config({}, {}, {local})", quote_literal(name), quote_literal(value))
}

/// Tenant id → the first user (by id) that is a member of that tenant
/// alone, read from the membership table as it is now.
async fn sole_members(pool: &PgPool, membership: &Membership) -> Result<BTreeMap<String, String>, sqlx::Error> {
    let (user, tenant) = (quote_ident(&membership.user_column), quote_ident(&membership.tenant_column));
    // Of a tenant's sole members, one whose membership grants the most
    // (owner, then admin), when the table says so in a `role` column: the
    // write probes need a member whose own writes go through.
    let rank = match membership.role_column.as_deref() {
        Some(role) => format!("min(CASE lower({}::text) WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END)", quote_ident(role)),
        None => "0".to_string(),
    };
    let sql = format!(
        "SELECT DISTINCT ON (tenant) tenant, member FROM (
           SELECT {user}::text AS member, min({tenant}::text) AS tenant, {rank} AS rank FROM {} WHERE {user} IS NOT NULL AND {tenant} IS NOT NULL
           GROUP BY {user} HAVING count(DISTINCT {tenant}) = 1) sole
         ORDER BY tenant, rank, member",
        membership.table.sql()
    );
    let rows: Vec<(String, String)> = sqlx::query_as(&sql).fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::QualName;

    fn actor(mechanism: ContextMechanism) -> Actor {
        Actor {
            role: "app".into(),
            guc: "app.tenant".into(),
            mechanism,
            jwt: None,
            members: None,
        }
    }

    #[test]
    fn each_mechanism_enters_a_tenant_its_own_way() {
        let tenant = Context::Tenant("o'brien".into());
        let function = ContextMechanism::Function(QualName {
            schema: "app".into(),
            name: "set_tenant".into(),
        });
        assert_eq!(
            actor(ContextMechanism::Local).statements(&tenant),
            [
                "SET LOCAL ROLE \"app\"",
                "SELECT set_config('app.tenant', 'o''brien', true)"
            ]
        );
        assert_eq!(
            actor(ContextMechanism::Session).statements(&tenant)[1],
            "SELECT set_config('app.tenant', 'o''brien', false)"
        );
        assert_eq!(
            actor(function.clone()).statements(&tenant)[1],
            "SELECT \"app\".\"set_tenant\"('o''brien')"
        );
        // No tenant and an empty one are states of the setting, whatever the mechanism.
        assert_eq!(
            actor(function.clone()).statements(&Context::Unset),
            ["SET LOCAL ROLE \"app\""]
        );
        assert_eq!(
            actor(function).statements(&Context::Empty)[1],
            "SELECT set_config('app.tenant', '', true)"
        );
    }

    #[test]
    fn under_jwt_claims_a_tenant_is_entered_as_postgrest_does() {
        let jwt = |path: &[&str], members: &[(&str, &str)]| Actor {
            role: "authenticated".into(),
            guc: "request.jwt.claims".into(),
            mechanism: ContextMechanism::Local,
            jwt: Some(Jwt { path: path.iter().map(|p| p.to_string()).collect() }),
            members: (!members.is_empty()).then(|| members.iter().map(|(t, u)| (t.to_string(), u.to_string())).collect()),
        };
        let tenant = Context::Tenant("t1".into());
        let claim = jwt(&["app_metadata", "tenant_id"], &[]).statements(&tenant);
        assert_eq!(claim[0], "SET LOCAL ROLE \"authenticated\"");
        let claims: serde_json::Value = serde_json::from_str(
            claim[1].trim_start_matches("SELECT set_config('request.jwt.claims', '").trim_end_matches("', true)"),
        )
        .expect("claims are JSON");
        assert_eq!(claims["app_metadata"]["tenant_id"], "t1");
        assert_eq!(claims["role"], "authenticated");
        assert!(claims["sub"].as_str().is_some_and(|s| s.len() == 36), "a stand-in user id: {claims}");
        // membership: the tenant's sole member signs in
        let member = jwt(&[], &[("t1", "u1")]).statements(&tenant);
        assert!(member[1].contains("\"sub\":\"u1\""), "{}", member[1]);
        assert!(!member[1].contains("t1"), "the tenant id is not a claim: {}", member[1]);
        let anon = jwt(&[], &[]).statements(&Context::Anonymous);
        assert_eq!(anon, ["SET LOCAL ROLE \"anon\"", "SELECT set_config('request.jwt.claims', '{\"role\": \"anon\"}', true)"]);
        assert_eq!(jwt(&[], &[]).statements(&Context::Empty)[1], "SELECT set_config('request.jwt.claims', '', true)");
    }
}
