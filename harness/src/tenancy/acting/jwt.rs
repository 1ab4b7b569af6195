//! The JWT claims a probe sets for a tenant or user, as PostgREST sets
//! them (`request.jwt.claims`), where the tenancy model reads claims.

use serde::{Deserialize, Serialize};

/// What goes into the JWT claims for a tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Jwt {
    /// The claim that carries the tenant id (`app_metadata.tenant_id`);
    /// empty when the claims carry a user only (membership).
    pub path: Vec<String>,
}

impl Jwt {
    /// The claims of `sub`, with `value` at the tenant claim.
    pub(super) fn claims(&self, role: &str, sub: &str, value: Option<&str>) -> serde_json::Value {
        let mut claims = serde_json::json!({ "role": role, "sub": sub, "aud": role });
        if let Some(value) = value {
            insert_at(&mut claims, &self.path, value);
        }
        claims
    }

    /// A user id standing for `tenant` where no member is known: stable per tenant.
    pub(super) fn stand_in_user(tenant: &str) -> String {
        // FNV-1a: the same id for the same tenant on every run.
        let hash = tenant.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        format!("{:08x}-0000-4000-8000-{:012x}", hash >> 32, hash & 0xffff_ffff_ffff)
    }
}

/// Sets `value` at `path` of a JSON object, making the objects on the way
/// (nothing for an empty path).
pub(super) fn insert_at(json: &mut serde_json::Value, path: &[String], value: &str) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut at = json;
    for key in parents {
        at = at.as_object_mut().expect("an object").entry(key.clone()).or_insert_with(|| serde_json::json!({}));
        if !at.is_object() {
            *at = serde_json::json!({});
        }
    }
    at.as_object_mut().expect("an object").insert(last.clone(), serde_json::Value::String(value.to_string()));
}

