//! Why a probe's write was refused, and what to do about it: a policy's
//! refusal is a verdict; a constraint's is set aside inside the probe's
//! transaction and the write tried again; anything else is named.

use crate::catalog::QualName;
use crate::tenancy::acting::Refusal;
use crate::checks::TierContext;
use crate::sql::quote_ident;

use crate::sql::sqlstate::{self, CHECK_VIOLATION, EXCLUSION_VIOLATION, FEATURE_NOT_SUPPORTED, INSUFFICIENT_PRIVILEGE, NOT_NULL_VIOLATION, UNIQUE_VIOLATION};

/// Constraints one write may set aside before it is called inconclusive.
pub(super) const MAX_SET_ASIDE: usize = 6;

/// The statement that sets aside the constraint behind `refusal` inside
/// the probe's transaction (rows stay as they are, so the ground truth
/// still holds), or None when a policy, a privilege or a trigger refused.
pub(super) fn set_aside(ctx: &TierContext<'_>, refusal: &Refusal) -> Option<String> {
    let table = refusal.table.as_ref()?;
    if refusal.code == NOT_NULL_VIOLATION {
        // A column the fresh row leaves empty (one added after seeding).
        let column = refusal.column.as_ref()?;
        return Some(format!("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL", ctx.catalog.root_of(table).sql(), quote_ident(column)));
    }
    let constraint = refusal.constraint.as_ref()?;
    match refusal.code.as_str() {
        // A partition's CHECK or FK is inherited: it can only go on the root.
        code if code == CHECK_VIOLATION || sqlstate::by_reference(code) => Some(format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            ctx.catalog.root_of(table).sql(),
            quote_ident(constraint)
        )),
        // The server names the index; a partition's comes from its root's,
        // and a key other tables reference takes their FKs along.
        UNIQUE_VIOLATION | EXCLUSION_VIOLATION => {
            let index = crate::sql::quote_literal(&QualName { schema: table.schema.clone(), name: constraint.clone() }.sql());
            Some(format!(
                "DO $set_aside$ DECLARE i regclass := {index}::regclass; up regclass; c record; BEGIN \
                 LOOP SELECT inhparent INTO up FROM pg_inherits WHERE inhrelid = i; EXIT WHEN up IS NULL; i := up; END LOOP; \
                 SELECT conname, conrelid::regclass AS rel INTO c FROM pg_constraint WHERE conindid = i AND contype IN ('p', 'u', 'x') \
                   AND conrelid = (SELECT indrelid FROM pg_index WHERE indexrelid = i); \
                 IF FOUND THEN EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I CASCADE', c.rel, c.conname); \
                 ELSE EXECUTE format('DROP INDEX %s CASCADE', i); END IF; END $set_aside$"
            ))
        }
        _ => None,
    }
}

/// Refused by a row level security policy: what the probes are about. A
/// missing privilege shares the SQLSTATE (a sequence, a table a trigger
/// reads), but is no verdict on the policies.
pub(super) fn by_policy(refusal: &Refusal) -> bool {
    refusal.code == INSUFFICIENT_PRIVILEGE && refusal.message.contains("row-level security")
}

pub(super) fn refused_by(refusal: &Refusal) -> String {
    match (&refusal.constraint, &refusal.table) {
        (Some(constraint), Some(table)) => format!("refused by {table}.{constraint}"),
        (Some(constraint), None) => format!("refused by {constraint}"),
        _ if refusal.code == FEATURE_NOT_SUPPORTED => "refused by the server".to_string(),
        _ if refusal.context.is_some() => format!("refused in {}", refusal.context.as_deref().unwrap_or_default().replace('\n', "; ")),
        _ => format!("refused (SQLSTATE {})", refusal.code),
    }
}

