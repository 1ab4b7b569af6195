//! What policy expressions say, as Postgres prints them: which settings
//! they read, and whether they compare a column directly with a setting.
//! Read by the column, model and input inference alike.

use std::sync::LazyLock;

use regex::Regex;

use crate::catalog::Table;

/// Whether a policy of `table` compares `column` directly with the setting
/// (any setting when `None`): `tenant_id = current_setting('app.tenant')`,
/// with the casts and NULLIF Postgres prints around it. A column only
/// named inside a subquery (`workspace_id IN (SELECT ...)`) does not count.
pub(super) fn compares_with(table: &Table, column: &str, setting: Option<&str>) -> bool {
    let comparison = comparison(column, setting, false);
    table.policies.iter().any(|p| p.using.iter().chain(&p.with_check).any(|e| comparison.is_match(e)))
}

/// `column` compared directly with the setting (any when `None`): the
/// table's own column, or with `aliased` also one qualified by an alias (a
/// subquery's `m.user_id`).
pub(super) fn comparison(column: &str, setting: Option<&str>, aliased: bool) -> Regex {
    let setting = setting.map_or_else(|| "[^']+".to_string(), regex::escape);
    let (before, alias) = if aliased { (r#"[^\w"]"#, r"(?:\w+\.)?") } else { (r#"[^\w."]"#, "") };
    let pattern = format!(
        r#"(?:^|{before}){alias}"?{}"?\s*=\s*[(\s]*(?:NULLIF\s*\(\s*)?[(\s]*current_setting\('{setting}'"#,
        regex::escape(column)
    );
    Regex::new(&pattern).expect("valid regex")
}

/// The settings `text` reads with `current_setting('...'`, in order.
pub(super) fn settings_in(text: &str) -> impl Iterator<Item = &str> {
    static READ: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"current_setting\('([^']+)'").expect("valid regex"));
    READ.captures_iter(text).map(|c| c.get(1).expect("a setting's name").as_str())
}
