//! `latency.target`: the query's declared statistic (p95 unless it says
//! otherwise) exceeds its target. The finding carries every statistic, the
//! measuring effort, tierguard's own overhead and the slowest iteration's
//! plan, saved beside the report.

use serde_json::json;

use super::measure::Measured;
use crate::checks::{Attachment, CheckId, Finding, Severity, TierContext};
use crate::scenario::workload::LatencyQuery;

pub const ID: CheckId = CheckId::new(
    "latency.target",
    Severity::Error,
    r#"a named query's declared statistic (p95, mean or max over the iterations, run as the application under a tenant's context) exceeds its `target_ms`"#,
);

pub fn check(ctx: &TierContext<'_>, query: &LatencyQuery, measured: &Measured, plan_file: &str) -> Finding {
    let stats = &measured.stats;
    let value = stats.get(query.statistic);
    let statistic = query.statistic;
    let effort = format!(
        "{} iteration(s) on {} connection(s), as {} under RLS",
        stats.iterations,
        measured.concurrency,
        ctx.tenancy.app_role.as_deref().unwrap_or("the app role")
    );
    let finding = if value <= query.target_ms {
        ID.pass(
            ctx.tier(),
            &query.name,
            format!("{statistic} {} ms within the {} ms target ({effort})", round(value), query.target_ms),
        )
    } else {
        ID.fail(
            ctx.tier(),
            &query.name,
            format!(
                "{statistic} {} ms exceeds the {} ms target ({effort}); the slowest iteration's plan is in {plan_file}",
                round(value),
                query.target_ms
            ),
        )
    };
    let mut finding = finding
        .detail("statistic", statistic.to_string())
        .detail("target_ms", query.target_ms)
        .detail("p50", round(stats.p50))
        .detail("p95", round(stats.p95))
        .detail("p99", round(stats.p99))
        .detail("mean", round(stats.mean))
        .detail("max", round(stats.max))
        .detail("iterations", stats.iterations)
        .detail("warmup", measured.warmup)
        .detail("concurrency", measured.concurrency)
        .detail("overhead_ms", round(measured.overhead_ms))
        .detail("context_ms", round(measured.context_ms))
        .detail("slowest", json!({"tenant": measured.slowest.tenant, "params": measured.slowest.args}))
        .detail("plan", plan_file)
        .detail("sql", query.sql.as_str());
    finding.attachment = Some(Box::new(Attachment { file: plan_file.to_string(), content: measured.plan.clone() }));
    finding
}

/// Microseconds are the finest a client-side timer here honestly resolves.
fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}
