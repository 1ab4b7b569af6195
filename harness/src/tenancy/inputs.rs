//! What else the policies read from the context besides the tenant: other
//! settings (`app.user_role`, `app.is_admin`) and JWT claims
//! (`user_metadata.is_admin`, `app_metadata.role`), each with the values
//! the policies compare it with. A policy that opens other tenants' rows
//! for one of those values opens them to whoever can set it; the probes
//! try each (`rls.claim_escalation`).

use std::sync::LazyLock;

use regex::Regex;

use super::model::{self, JWT_CLAIMS};
use super::policies::settings_in;
use super::TierTenancy;
use crate::catalog::Catalog;

/// The prefix naming a claim rather than a setting (`jwt.app_metadata.role`).
pub const CLAIM_PREFIX: &str = "jwt.";

/// Claims the auth server sets for every token: identity and the role
/// PostgREST takes, not inputs a policy branches on for privilege.
const STANDARD_CLAIMS: [&str; 6] = ["sub", "role", "aud", "exp", "iat", "iss"];

/// One input of the context other than the tenant, and the values tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextInput {
    /// A setting's name, or `jwt.` and a claim path.
    pub name: String,
    /// Literals the policies compare it with, and `true` (flags).
    pub values: Vec<String>,
}

/// The claim path an input names (`jwt.app_metadata.role` →
/// `app_metadata`, `role`); None for a setting.
pub fn claim_path(input: &str) -> Option<Vec<String>> {
    input.strip_prefix(CLAIM_PREFIX).map(|p| p.split('.').map(str::to_string).collect())
}

/// Values tried per input, at most: the policies rarely compare one input
/// with more.
const MAX_VALUES: usize = 8;

/// The other inputs the tier's policies (and the functions they call) read.
pub fn context_inputs(catalog: &Catalog, tier: &TierTenancy) -> Vec<ContextInput> {
    let texts = model::policy_texts(catalog);
    let tenant_claim = match &tier.model {
        model::Model::Claim { path } => Some(path.clone()),
        _ => None,
    };
    let mut inputs: Vec<ContextInput> = Vec::new();
    for text in &texts {
        let settings = settings_in(text)
            .filter(|name| Some(*name) != tier.guc.as_deref() && *name != JWT_CLAIMS && !name.starts_with("request.jwt.claim"))
            .map(str::to_string);
        let claims = model::claim_paths(text)
            .into_iter()
            .filter(|path| Some(path) != tenant_claim.as_ref() && !(path.len() == 1 && STANDARD_CLAIMS.contains(&path[0].as_str())))
            .map(|path| format!("{CLAIM_PREFIX}{}", path.join(".")));
        for name in settings.chain(claims) {
            let values = compared_literals(text);
            match inputs.iter_mut().find(|i| i.name == name) {
                Some(input) => input.values.extend(values),
                None => inputs.push(ContextInput { name, values }),
            }
        }
    }
    for input in &mut inputs {
        input.values.push("true".into());
        let mut seen = std::collections::BTreeSet::new();
        input.values.retain(|v| seen.insert(v.clone()));
        input.values.truncate(MAX_VALUES);
    }
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    inputs
}

/// String literals of `text` that are values, not names: not a setting's
/// name (`current_setting('x'`), a claim key (`-> 'x'`) or empty.
fn compared_literals(text: &str) -> Vec<String> {
    static LITERAL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(current_setting\(|->>?\s*)?'((?:[^']|'')*)'").expect("valid regex"));
    LITERAL
        .captures_iter(text)
        .filter(|c| c.get(1).is_none())
        .map(|c| c[2].replace("''", "'"))
        .filter(|v| !v.is_empty())
        .collect()
}
