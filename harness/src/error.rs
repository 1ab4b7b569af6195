//! Errors that stop a run. Every variant is a cause a user can act on; the
//! binary prints it as one line and exits 2 (design.md: "the harness could
//! not do its job").

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Input(String),

    #[error("scenario {path}: {message}")]
    Scenario { path: PathBuf, message: String },

    #[error("tier {tier}: {file}{line}: {message}", line = .line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Sql {
        tier: String,
        file: String,
        line: Option<usize>,
        message: String,
    },

    #[error("tier {tier}: {message}")]
    Provision { tier: String, message: String },

    #[error("{0}")]
    Backend(String),

    #[error("tier {tier}: {message}")]
    Database { tier: String, message: String },

    #[error("interrupted by {0}; servers and temporary files removed")]
    Interrupted(&'static str),

    #[error("could not write reports to {path}: {message}")]
    Report { path: PathBuf, message: String },
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

impl HarnessError {
    pub fn input(message: impl Into<String>) -> Self {
        HarnessError::Input(message.into())
    }

    pub fn database(tier: &str, error: impl std::fmt::Display) -> Self {
        HarnessError::Database {
            tier: tier.to_string(),
            message: error.to_string(),
        }
    }
}

/// A regex error as one line: the cause and where, without the library's
/// caret drawing (`unclosed character class (at character 2)`).
pub fn regex_message(error: &regex::Error) -> String {
    let text = error.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let cause = lines.iter().rev().find_map(|l| l.trim().strip_prefix("error: ")).unwrap_or_else(|| lines.last().copied().unwrap_or_default().trim());
    // The drawing is the pattern indented four spaces, then a line of carets under it.
    let at = lines.iter().find_map(|l| l.trim_start().starts_with('^').then(|| l.find('^').unwrap_or(0))).filter(|&c| c >= 4).map(|c| c - 3);
    match at {
        Some(at) => format!("{cause} (at character {at})"),
        None => cause.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn regex_errors_are_one_line() {
        // Built at run time: the patterns are invalid on purpose.
        let broken = |pattern: &str| regex::Regex::new(pattern).unwrap_err();
        assert_eq!(super::regex_message(&broken("([a-z")), "unclosed character class (at character 2)");
        let error = broken("a{3");
        assert!(!super::regex_message(&error).contains('\n'));
    }
}
