//! Every check, once: its id, severity and summary come from the `CheckId`
//! defined beside the check (each family lists its own in `CHECKS`). The
//! README's table of checks and `tierguard checks` are generated from
//! here, and tests hold design.md, the README and the defect corpus to it.

use super::{check, fk, latency, load, orphan, partition, rls, CheckId};

/// Every check, family by family.
pub fn all() -> impl Iterator<Item = &'static CheckId> {
    [rls::CHECKS, fk::CHECKS, check::CHECKS, orphan::CHECKS, partition::CHECKS, latency::CHECKS, load::CHECKS].into_iter().flatten()
}

/// Checks design.md's table of check ids does not list: tierguard has them,
/// the contract (owned outside this repository) has not taken them yet. Each
/// was proposed in the note of the issue that brought it (#18). The README
/// marks them so that scripts keyed on the contract know they are extra.
pub const BEYOND_THE_CONTRACT: &[&str] = &["rls.claim_escalation", "rls.membership"];

/// The table of checks as the README shows it: id (and severity when not
/// `error`), then what fails it.
pub fn markdown() -> String {
    let mut out = String::from("| check | fails when |\n|---|---|\n");
    for check in all() {
        let severity = match check.severity {
            super::Severity::Error => String::new(),
            other => format!(" ({})", serde_json::to_value(other).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
        };
        let extra = if BEYOND_THE_CONTRACT.contains(&check.id) { " ⁺" } else { "" };
        out.push_str(&format!("| `{}`{severity}{extra} | {} |\n", check.id, check.summary));
    }
    out.push_str("\n⁺ not yet in design.md's table of check ids (proposed in issue #18).\n");
    out
}

/// Whether `id` is a check id of the product contract, or one of ours the
/// contract has not taken yet. `design` is the text of design.md.
#[cfg(test)]
pub(crate) fn known_to_the_contract(design: &str, id: &str) -> bool {
    design.contains(&format!("| {id} |")) || BEYOND_THE_CONTRACT.contains(&id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn repo_file(path: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The text of every file ending in `.{extension}` below `dir` (relative to the repository).
    fn texts_under(dir: &str, extension: &str) -> Vec<String> {
        let mut texts = Vec::new();
        let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == extension) {
                    texts.push(std::fs::read_to_string(&path).expect("readable"));
                }
            }
        }
        texts
    }

    #[test]
    fn every_check_is_registered_once() {
        let ids: Vec<&str> = all().map(|c| c.id).collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "an id is registered twice: {ids:?}");
        // Every CheckId the sources define is in a family's CHECKS.
        let defined = regex::Regex::new(r#"CheckId::new\(\s*"([a-z_.]+)""#).expect("regex");
        let sources = texts_under("harness/src", "rs");
        for source in &sources {
            for id in defined.captures_iter(source).map(|c| c[1].to_string()) {
                assert!(unique.contains(id.as_str()), "{id} is defined but no family lists it in CHECKS");
            }
        }
    }

    #[test]
    fn the_contract_the_readme_and_the_defect_corpus_follow_the_registry() {
        let design = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/design.md")).expect("design.md");
        let readme = repo_file("README.md");
        let table = markdown();
        assert!(readme.contains(&table), "README.md's table of checks differs from the registry; it should read:\n{table}");
        let expected = regex::Regex::new(r"(?m)^-- (?:expect|follows): ([a-z_]+\.[a-z_]+)").expect("regex");
        let corpus: BTreeSet<String> =
            texts_under("fixtures/defects", "sql").iter().flat_map(|text| expected.captures_iter(text).map(|c| c[1].to_string()).collect::<Vec<_>>()).collect();
        for check in all() {
            assert!(known_to_the_contract(&design, check.id), "{} is neither in design.md's table of check ids nor in BEYOND_THE_CONTRACT", check.id);
            assert!(corpus.contains(check.id), "no defect under fixtures/defects/ expects {}", check.id);
        }
        for id in BEYOND_THE_CONTRACT {
            assert!(all().any(|check| check.id == *id), "{id} is listed beyond the contract but is no check");
        }
    }
}
