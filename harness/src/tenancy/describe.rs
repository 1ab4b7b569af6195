//! The tenancy model a run found, in words: per tier, the tenant column and
//! setting and where each came from, tables naming the tenant otherwise,
//! paths, tables outside the tenancy; and the scenario lines that would pin
//! down whatever was inferred, so a wrong guess is seen and corrected
//! rather than silently trusted.

use super::{Class, Model, Origin, Tenancy, TenantScope};

impl Tenancy {
    /// What a run prints about the tenancy, one line each.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let found = |value: Option<&str>, origin: Origin| match value {
            Some(v) => format!("{v} ({origin})"),
            None => "(none found)".to_string(),
        };
        for (tier, model) in &self.tiers {
            let count = |wanted: fn(&TenantScope) -> bool| self.scoped.get(tier).into_iter().flatten().filter(|(_, s)| wanted(s)).count();
            let unscoped = |class: Class| self.unscoped.iter().filter(|u| &u.tier == tier && u.class == class).count();
            if model.model != Model::Setting || model.model_origin == Origin::Declared {
                lines.push(format!("tenancy {tier}: {} ({})", model.model, model.model_origin));
            }
            lines.push(format!(
                "tenancy {tier}: column {} · setting {} · {} table(s) by column, {} tenants table(s), {} by path, {} by reference to another tier, {} shared, {} unknown",
                found(model.column.as_deref(), model.column_origin),
                found(model.guc.as_deref(), model.guc_origin),
                count(|s| matches!(s, TenantScope::Column(_))),
                count(|s| matches!(s, TenantScope::Root(_))),
                count(|s| matches!(s, TenantScope::Path(_))),
                count(|s| matches!(s, TenantScope::Remote(_))),
                unscoped(Class::Shared),
                unscoped(Class::Unknown),
            ));
            if let Some(of) = &model.tenant_of {
                lines.push(format!(
                    "tenancy {tier}: its tenants are rows of {}.{} (by {}), each of the {} tenant in its {} ({}): seeding and cross-tier tenant checks follow it",
                    of.keys.tier, of.keys.table, of.keys.key, of.keys.tier, of.keys.tenant_column, of.origin
                ));
            }
            for (table, column, origin) in self.own_columns(tier) {
                lines.push(format!("tenant column ({origin}) {tier}.{table}: {column}, not the tier's"));
            }
        }
        lines.push(format!(
            "app role {}{}",
            self.app_role.as_deref().map_or("(none found)".to_string(), |r| format!("{r} ({})", self.app_role_origin.unwrap_or(Origin::Inferred))),
            match (&self.login_for, &self.login) {
                (Some(r), _) => format!(", logs in for {r}, which cannot log in"),
                (None, Some(login)) => format!(", taken after logging in as {login}, as PostgREST does"),
                (None, None) => String::new(),
            }
        ));
        for (tier, table, path) in self.paths() {
            let how = if path.declared { "declared" } else { "inferred" };
            let nullable = if path.nullable { "; a hop may be NULL: such rows belong to no tenant" } else { "" };
            lines.push(format!("tenant path ({how}) {tier}.{table}: {path}{nullable}"));
        }
        for (tier, table, remote) in self.remotes() {
            lines.push(format!("tenant reference (from [[references]]) {tier}.{table}: {remote}; each key's tenant is read from tier {} once per run", remote.of.tier));
        }
        for table in self.unscoped.iter().filter(|u| self.column(&u.tier).is_some()) {
            let class = match table.class {
                Class::Shared => "shared",
                Class::Unknown => "tenancy unknown, not probed",
            };
            lines.push(format!("{class}: {}.{}: {}", table.tier, table.table, table.why));
        }
        lines
    }

    /// Scenario lines that declare what was inferred (tier columns and
    /// settings, tables' own columns, paths, the app role); `None` when
    /// everything was declared.
    pub fn snippet(&self) -> Option<String> {
        let quoted = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = Vec::new();
        let mut general = Vec::new();
        if let (Some(role), Some(Origin::Inferred)) = (&self.login_for.as_ref().or(self.app_role.as_ref()), self.app_role_origin) {
            general.push(format!("app_role = {}", quoted(role)));
        }
        for (tier, model) in self.tiers.iter().filter(|(_, t)| t.model_origin == Origin::Inferred) {
            match &model.model {
                Model::Setting => {}
                Model::Claim { path } => general.extend(["model = \"supabase\"".to_string(), format!("claim = {}", quoted(&path.join(".")))]),
                Model::Membership(m) => general.extend([
                    "model = \"membership\"".to_string(),
                    format!("membership = {}", quoted(&format!("{tier}.{}", m.table))),
                    format!("membership_user = {}", quoted(&m.user_column)),
                ]),
            }
        }
        general.dedup();
        if !general.is_empty() {
            out.push(format!("[tenancy]\n{}", general.join("\n")));
        }
        for (tier, model) in &self.tiers {
            let mut keys = Vec::new();
            if let (Some(column), false) = (&model.column, model.column_origin == Origin::Declared) {
                keys.push(format!("column = {}", quoted(column)));
            }
            if let (Some(guc), false) = (&model.guc, model.guc_origin == Origin::Declared || model.model.jwt()) {
                keys.push(format!("guc = {}", quoted(guc)));
            }
            if let Some(of) = model.tenant_of.as_ref().filter(|o| o.origin != Origin::Declared) {
                keys.push(format!("tenant_of = {}", quoted(&of.keys.to_string())));
            }
            if !keys.is_empty() && self.scoped.get(tier).is_some_and(|t| !t.is_empty()) {
                out.push(format!("[tiers.{tier}.tenancy]\n{}", keys.join("\n")));
            }
        }
        let own: Vec<String> = self
            .tiers
            .keys()
            .flat_map(|tier| {
                self.own_columns(tier)
                    .filter(|(_, _, origin)| *origin != Origin::Declared)
                    .map(move |(table, column, _)| format!("{} = {}", quoted(&format!("{tier}.{table}")), quoted(column)))
            })
            .collect();
        if !own.is_empty() {
            out.push(format!("[tenancy.columns]\n{}", own.join("\n")));
        }
        let paths: Vec<String> = self
            .paths()
            .filter(|(_, _, path)| !path.declared)
            .map(|(tier, table, path)| {
                let hops: Vec<String> = path.hops.iter().map(|h| quoted(&h.to_string())).collect();
                format!("{} = [{}]", quoted(&format!("{tier}.{table}")), hops.join(", "))
            })
            .collect();
        if !paths.is_empty() {
            out.push(format!("[tenancy.paths]\n{}", paths.join("\n")));
        }
        (!out.is_empty()).then(|| out.join("\n\n"))
    }
}
