//! `fk.missing` (warning): a column that looks like a reference to another
//! table's key (`catalog::references`: `<x>_id`, `created_by`, ...) with no
//! FK covering it. Seeded rows always point at a row that exists, so this
//! is the only verdict on them; rows tierguard did not write (fixed data,
//! external servers) are audited for orphans by `orphan.intra`.

use crate::catalog::references::{inferred, Inferred};
use crate::checks::{CheckId, Finding, Severity, TierContext};

pub const ID: CheckId = CheckId::new(
    "fk.missing",
    Severity::Warning,
    r#"a `<x>_id` column matches the key of table `<x>`/`<x>s` in the same tier, or a `created_by`/`assigned_to`/`owner_id`-style column the key of a `users` table, without an FK (an error when rows tierguard did not write already point at nothing)"#,
);

pub fn check(ctx: &TierContext<'_>) -> Vec<Finding> {
    let tier = ctx.tier();
    inferred(ctx.catalog, ctx.scenario)
        .into_iter()
        .map(|Inferred { table, column, target, key, covered }| {
            let object = format!("{}.{}", table.name, column.name);
            if covered {
                ID.pass(tier, object, format!("covered by a foreign key to {}", target.name))
            } else {
                ID.fail(
                    tier,
                    object,
                    format!(
                        "{}.{} looks like a reference to {}.{} but no foreign key enforces it: rows may point at nothing",
                        table.name, column.name, target.name, key
                    ),
                )
                .detail("target", format!("{}.{}", target.name, key))
                .detail(
                    "fix",
                    format!(
                        "ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {} ({});",
                        table.name.sql(),
                        column.name,
                        target.name.sql(),
                        key
                    ),
                )
            }
        })
        .collect()
}
