//! What a run writes besides its exit status: the report formats
//! (`--format`) and whether it says what it is doing (`--quiet`).

use std::str::FromStr;

/// A file in the report folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// `junit.xml`
    Junit,
    /// `report.json` (and the repro files)
    Json,
    /// `tierguard.sarif`
    Sarif,
    /// `summary.md`, also appended to `$GITHUB_STEP_SUMMARY`
    Md,
    /// `report.html`
    Html,
    /// `gl-code-quality.json` (GitLab Code Quality)
    Gitlab,
}

impl Format {
    const NAMES: [(&'static str, Format); 6] = [
        ("junit", Format::Junit),
        ("json", Format::Json),
        ("sarif", Format::Sarif),
        ("md", Format::Md),
        ("html", Format::Html),
        ("gitlab", Format::Gitlab),
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        Format::NAMES.iter().find(|(_, f)| *f == self).map(|(name, _)| *name).expect("every format is named")
    }

    /// Every format but GitLab's, which only GitLab reads.
    pub fn defaults() -> Vec<Format> {
        vec![Format::Junit, Format::Json, Format::Sarif, Format::Md, Format::Html]
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::NAMES.iter().find(|(name, _)| *name == s).map(|(_, f)| *f).ok_or_else(|| {
            let names: Vec<&str> = Format::NAMES.iter().map(|(n, _)| *n).collect();
            format!("unknown format `{s}` ({})", names.join(", "))
        })
    }
}

/// `--format` and `--quiet`.
#[derive(Debug, Clone)]
pub struct Output {
    pub formats: Vec<Format>,
    pub quiet: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output { formats: Format::defaults(), quiet: false }
    }
}

impl Output {
    pub fn writes(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }
}
