//! Writes judged by marker: tables outside tierguard's tenancy (no tenant
//! column, no path to one) that nevertheless hold tenants' markers after
//! seeding are copies of tenant data — a search index, an audit trail, a
//! denormalised cache filled by a trigger. The write probes and the
//! definer probe observe them beside the tenant tables, each row counted
//! as the tenant whose markers it holds: a write as A that changes or
//! removes a row holding only B's markers changed B's data, wherever it
//! lives (`rls.write_leak`, `rls.definer_bypass`).

use crate::checks::rls::effect::Observed;
use crate::checks::TierContext;
use crate::sql::quote_literal;

/// The tables outside the tenancy whose committed rows hold markers of
/// this run's tenants, observed by marker. None on external servers (no
/// write probe runs there) or without seeded rows.
pub async fn copies(ctx: &TierContext<'_>) -> Result<Vec<Observed>, sqlx::Error> {
    let Some(seeded) = ctx.seeded.filter(|_| !ctx.read_only) else { return Ok(Vec::new()) };
    let (tenants, tags) = (seeded.tenants(ctx.tier()), seeded.canary_tags());
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let owner = tenant_of_row(&tenants, &tags);
    let mut copies = Vec::new();
    let outside = ctx
        .catalog
        .tables
        .iter()
        .filter(|t| t.partition_of.is_none() && ctx.tenancy.scope(ctx.tier(), &t.name).is_none());
    for table in outside {
        let holds = format!("SELECT EXISTS (SELECT 1 FROM {} t WHERE ({owner}) IS NOT NULL)", table.name.sql());
        if sqlx::query_scalar::<_, bool>(&holds).fetch_one(ctx.pool).await? {
            copies.push(Observed::by_content(table, owner.clone()));
        }
    }
    Ok(copies)
}

/// SQL over a row `t`: the tenant whose markers it holds, when they are
/// all of that one tenant (a row mixing tenants is no one tenant's).
fn tenant_of_row(tenants: &[String], tags: &[String]) -> String {
    let cases: Vec<String> = tenants
        .iter()
        .zip(tags)
        .map(|(tenant, tag)| {
            format!(
                "WHEN t::text ~ {} AND t::text !~ {} THEN {}",
                quote_literal(&format!("tgc{tag}t")),
                quote_literal(&format!("tgc(?!{tag})[0-9a-f]{{8}}t")),
                quote_literal(tenant)
            )
        })
        .collect();
    format!("CASE {} END", cases.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_the_tenants_whose_markers_are_all_it_holds() {
        let sql = tenant_of_row(&["a".into(), "b".into()], &["0000000a".into(), "0000000b".into()]);
        assert_eq!(
            sql,
            "CASE WHEN t::text ~ 'tgc0000000at' AND t::text !~ 'tgc(?!0000000a)[0-9a-f]{8}t' THEN 'a' \
             WHEN t::text ~ 'tgc0000000bt' AND t::text !~ 'tgc(?!0000000b)[0-9a-f]{8}t' THEN 'b' END"
        );
    }
}
