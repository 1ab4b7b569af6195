//! One root cause, one failure. Some failures follow from another on the
//! same object: with row level security off on a table, its rows leak to
//! reads, writes and an unset context alike; with the application role a
//! superuser, every probe of the tier leaks. A person fixes the cause once,
//! so only the cause fails. The findings that follow from it stay in the
//! report (nothing is lost) as `skip`, naming their root in `caused_by`,
//! and the root lists them as its evidence (`details.follows`).
//!
//! A root takes the highest severity of the failures that follow from it.
//!
//! The rules are the table [`RULES`]: a failing `root` explains the
//! non-passing findings of the checks in `follows` that it reaches. A
//! finding explained by a finding that is itself explained is attributed
//! to the last root of the chain.

use serde_json::{json, Value};

use super::{Finding, Status};

/// Which findings a root reaches, besides being on its tier.
#[derive(Debug, Clone, Copy)]
enum Reach {
    /// Findings about the same object (a table; a table's column).
    SameObject,
    /// Findings about the tables the root lists in `details.tables`; when it
    /// lists none, every finding of the tier (an application role that is a
    /// superuser bypasses row level security on every table).
    ListedTables,
    /// Findings whose `details.constraint` is the root's object (the orphans
    /// of a foreign key that does not hold).
    Constraint,
}

struct Rule {
    root: &'static str,
    follows: &'static [&'static str],
    reach: Reach,
}

/// Probes whose verdict says nothing new once a table's policies do not
/// apply to the application at all.
const ISOLATION_PROBES: &[&str] = &[
    "rls.read_leak",
    "rls.write_leak",
    "rls.unset_context",
    "rls.existence_oracle",
    "rls.canary_leak",
    "rls.membership",
];

/// "X subsumes Y": a failing `root` explains the `follows` it reaches.
const RULES: &[Rule] = &[
    // The role bypasses RLS (superuser, BYPASSRLS) or owns the tables:
    // FORCE and every probe of those tables follow from it.
    Rule {
        root: "rls.privileged_role",
        follows: &[
            "rls.not_forced",
            "rls.read_leak",
            "rls.write_leak",
            "rls.unset_context",
            "rls.context_bleed",
            "rls.existence_oracle",
            "rls.canary_leak",
            "rls.own_rows_hidden",
            "rls.membership",
        ],
        reach: Reach::ListedTables,
    },
    // A tenant that reads others' rows, or misses its own: a user of
    // several tenants, acting through the same policy, does too; the
    // markers in those rows are the same leak.
    Rule {
        root: "rls.read_leak",
        follows: &["rls.membership", "rls.canary_leak"],
        reach: Reach::SameObject,
    },
    Rule {
        root: "rls.own_rows_hidden",
        follows: &["rls.membership"],
        reach: Reach::SameObject,
    },
    // A path the other probes already found open: the markers read
    // through it are the same leak.
    Rule {
        root: "rls.unset_context",
        follows: &["rls.canary_leak"],
        reach: Reach::SameObject,
    },
    Rule {
        root: "rls.membership",
        follows: &["rls.canary_leak"],
        reach: Reach::SameObject,
    },
    Rule {
        root: "rls.view_bypass",
        follows: &["rls.canary_leak"],
        reach: Reach::SameObject,
    },
    Rule {
        root: "rls.matview_exposed",
        follows: &["rls.canary_leak"],
        reach: Reach::SameObject,
    },
    Rule {
        root: "rls.partition_bypass",
        follows: &["rls.canary_leak"],
        reach: Reach::SameObject,
    },
    Rule {
        root: "rls.definer_bypass",
        follows: &["rls.canary_leak"],
        reach: Reach::SameObject,
    },
    // No policy is evaluated: every probe of the table sees all rows.
    Rule {
        root: "rls.disabled",
        follows: ISOLATION_PROBES,
        reach: Reach::SameObject,
    },
    Rule {
        root: "rls.not_forced",
        follows: ISOLATION_PROBES,
        reach: Reach::SameObject,
    },
    // No policy allows the command: the application's own rows are
    // refused too, so the write probes' controls cannot hold.
    Rule {
        root: "rls.no_policy",
        follows: &["rls.own_rows_hidden", "rls.write_leak"],
        reach: Reach::SameObject,
    },
    // Rows that break an FK nobody enforces, or that point at another
    // tenant's row through an FK that allows it.
    Rule {
        root: "fk.not_enforced",
        follows: &["orphan.intra"],
        reach: Reach::Constraint,
    },
    // An FK that checks nothing accepts another tenant's parent too.
    Rule {
        root: "fk.not_enforced",
        follows: &["fk.cross_tenant"],
        reach: Reach::SameObject,
    },
    Rule {
        root: "fk.cross_tenant",
        follows: &["orphan.tenant_mismatch"],
        reach: Reach::Constraint,
    },
    // No FK at all: its orphans are the evidence.
    Rule {
        root: "fk.missing",
        follows: &["orphan.intra"],
        reach: Reach::SameObject,
    },
];

/// Marks every finding that follows from a failing root: `skip`, with
/// `caused_by` and its message prefixed by the cause; the root lists them
/// in `details.follows`. Findings keep their order.
pub fn attribute(findings: &mut [Finding]) {
    let parents: Vec<Option<usize>> = (0..findings.len()).map(|i| explained_by(findings, i)).collect();
    let root_of = |mut i: usize| {
        // RULES has no cycle (tested), so a chain ends; the bound keeps a
        // future mistake from hanging a run.
        for _ in 0..findings.len() {
            match parents[i] {
                Some(parent) => i = parent,
                None => break,
            }
        }
        i
    };
    let roots: Vec<Option<usize>> = (0..findings.len()).map(|i| parents[i].map(|_| root_of(i))).collect();
    for (i, root) in roots.into_iter().enumerate() {
        let Some(root) = root else { continue };
        let (cause, follower) = (findings[root].key(), &findings[i]);
        let mut evidence = json!({"check": follower.check, "object": follower.object, "message": follower.message});
        for key in ["count", "samples"] {
            if let Some(value) = follower.details.get(key) {
                evidence[key] = value.clone();
            }
        }
        // A root weighs what follows from it: a missing FK (a warning)
        // whose orphans are already in the data fails as they would.
        if follower.status == Status::Fail {
            findings[root].severity = findings[root].severity.max(follower.severity);
        }
        let follows = findings[root].details.entry("follows").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = follows {
            list.push(evidence);
        }
        let follower = &mut findings[i];
        follower.message = format!("follows from {cause}: {}", follower.message);
        follower.status = Status::Skip;
        follower.caused_by = Some(cause);
    }
    for root in findings.iter_mut() {
        let Some(Value::Array(follows)) = root.details.get("follows") else { continue };
        let mut checks: Vec<&str> = follows.iter().filter_map(|f| f["check"].as_str()).collect();
        checks.dedup();
        root.message = format!("{} (what follows from it: {})", root.message, checks.join(", "));
    }
}

/// The failing finding that directly explains finding `i`, by the first
/// rule that applies.
fn explained_by(findings: &[Finding], i: usize) -> Option<usize> {
    let finding = &findings[i];
    if finding.status == Status::Pass {
        return None;
    }
    RULES.iter().filter(|rule| rule.follows.contains(&finding.check)).find_map(|rule| {
        findings.iter().position(|root| {
            root.check == rule.root && root.status == Status::Fail && root.tier == finding.tier && reaches(root, rule.reach, finding)
        })
    })
}

fn reaches(root: &Finding, reach: Reach, finding: &Finding) -> bool {
    match reach {
        Reach::SameObject => root.object == finding.object,
        Reach::ListedTables => match root.details.get("tables").and_then(Value::as_array) {
            Some(tables) => tables.iter().any(|t| t.as_str() == Some(finding.object.as_str())),
            None => true,
        },
        Reach::Constraint => finding.details.get("constraint").and_then(Value::as_str) == Some(root.object.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Severity;

    fn finding(check: &'static str, object: &str, status: Status) -> Finding {
        Finding::new(check, "oltp", object, status, Severity::Error).message("said")
    }

    #[test]
    fn probes_of_a_table_without_rls_follow_from_it() {
        let mut findings = vec![
            finding("rls.disabled", "public.leads", Status::Fail),
            finding("rls.read_leak", "public.leads", Status::Fail).detail("count", 3),
            finding("rls.write_leak", "public.leads", Status::Fail),
            finding("rls.read_leak", "public.notes", Status::Fail),
            finding("rls.unset_context", "public.leads", Status::Pass),
        ];
        attribute(&mut findings);
        let statuses: Vec<_> = findings.iter().map(|f| (f.status, f.caused_by.as_deref())).collect();
        let cause = Some("rls.disabled oltp public.leads");
        assert_eq!(
            statuses,
            [(Status::Fail, None), (Status::Skip, cause), (Status::Skip, cause), (Status::Fail, None), (Status::Pass, None)]
        );
        assert_eq!(findings[1].message, "follows from rls.disabled oltp public.leads: said");
        assert_eq!(findings[0].message, "said (what follows from it: rls.read_leak, rls.write_leak)");
        let follows = findings[0].details["follows"].as_array().unwrap();
        assert_eq!(follows.len(), 2);
        assert_eq!(follows[0]["check"], "rls.read_leak");
        assert_eq!(follows[0]["count"], 3);
    }

    #[test]
    fn a_chain_is_attributed_to_its_last_root() {
        let mut findings = vec![
            finding("rls.read_leak", "public.leads", Status::Fail),
            finding("rls.not_forced", "public.leads", Status::Fail),
            finding("rls.privileged_role", "app", Status::Fail).detail("tables", json!(["public.leads"])),
            finding("rls.not_forced", "public.other", Status::Fail),
        ];
        attribute(&mut findings);
        let role = Some("rls.privileged_role oltp app");
        assert_eq!(findings[0].caused_by.as_deref(), role);
        assert_eq!(findings[1].caused_by.as_deref(), role);
        assert_eq!(findings[2].status, Status::Fail);
        // Not among the tables the role owns: its own root.
        assert_eq!((findings[3].status, findings[3].caused_by.as_deref()), (Status::Fail, None));
    }

    #[test]
    fn a_role_that_bypasses_rls_explains_the_whole_tier_and_only_it() {
        let mut findings = vec![
            finding("rls.privileged_role", "app", Status::Fail),
            finding("rls.read_leak", "public.a", Status::Fail),
            finding("rls.context_bleed", "*", Status::Fail),
            finding("rls.disabled", "public.b", Status::Fail),
            Finding::new("rls.read_leak", "content", "public.c", Status::Fail, Severity::Error),
        ];
        attribute(&mut findings);
        let caused: Vec<bool> = findings.iter().map(|f| f.caused_by.is_some()).collect();
        assert_eq!(caused, [false, true, true, false, false]);
    }

    #[test]
    fn orphans_follow_from_the_foreign_key_that_does_not_hold() {
        let mut findings = vec![
            finding("fk.not_enforced", "public.leads.leads_company_fkey", Status::Fail),
            finding("orphan.intra", "public.leads.company_id", Status::Fail).detail("constraint", "public.leads.leads_company_fkey"),
            finding("orphan.intra", "public.leads.owner_id", Status::Fail).detail("constraint", "public.leads.leads_owner_fkey"),
            finding("fk.missing", "public.notes.created_by", Status::Fail),
            finding("orphan.intra", "public.notes.created_by", Status::Fail),
        ];
        findings[3].severity = Severity::Warning;
        attribute(&mut findings);
        let caused: Vec<bool> = findings.iter().map(|f| f.caused_by.is_some()).collect();
        assert_eq!(caused, [false, true, false, false, true]);
        // The orphans an unenforced reference let in weigh as orphans do.
        assert_eq!(findings[3].severity, Severity::Error);
    }

    #[test]
    fn only_a_failure_is_a_root() {
        let mut findings = vec![finding("rls.disabled", "public.leads", Status::Error), finding("rls.read_leak", "public.leads", Status::Fail)];
        attribute(&mut findings);
        assert!(findings.iter().all(|f| f.caused_by.is_none()));
    }

    #[test]
    fn the_rules_name_known_checks_and_have_no_cycle() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/design.md");
        let design = std::fs::read_to_string(path).expect("../shared/design.md, the product contract");
        for rule in RULES {
            for id in std::iter::once(&rule.root).chain(rule.follows) {
                assert!(crate::checks::registry::known_to_the_contract(&design, id), "{id} is not a check id of design.md");
            }
        }
        // A root explains only checks that come later in a chain: following
        // "root → follows" never comes back to where it started.
        fn reaches(from: &str, to: &str, depth: usize) -> bool {
            depth < RULES.len()
                && RULES
                    .iter()
                    .filter(|r| r.root == from)
                    .flat_map(|r| r.follows)
                    .any(|next| *next == to || reaches(next, to, depth + 1))
        }
        for rule in RULES {
            assert!(!reaches(rule.root, rule.root, 0), "{} explains itself through a chain", rule.root);
        }
    }
}
