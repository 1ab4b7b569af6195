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
