//! The folders people keep their migrations in, and the order each tool
//! applies them: `--tier app=PATH` takes a repository root, a tool's folder
//! or its migrations folder, detects the layout (or takes `--layout`), and
//! yields the files in the order the tool would run them, with the part of
//! each that is the "up" migration. Read before any server starts, so a
//! missing or malformed folder costs nothing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use crate::error::{HarnessError, Result};
use crate::scenario::{Layout, LayoutChoice};

/// One file to apply, as the tool would: `text` keeps the file's line
/// numbering (lines outside the applied part, such as a dbmate down
/// migration, are blank) so errors name the file's own lines.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// What a folder turned out to be, for the run to say.
#[derive(Debug, Clone)]
pub struct Folder {
    pub path: PathBuf,
    pub layout: Layout,
    pub detected: bool,
    pub applied: Vec<PathBuf>,
    /// Files the layout says never run (undo, down migrations, lock files).
    pub ignored: Vec<PathBuf>,
}

impl Folder {
    /// One line for the progress output: layout, folder, file order.
    pub fn describe(&self) -> String {
        let names = |paths: &[PathBuf]| paths.iter().map(|p| relative(p, &self.path)).collect::<Vec<_>>().join(", ");
        let mut line = format!(
            "layout {} ({}) in {}: applies {}",
            self.layout,
            if self.detected { "detected" } else { "--layout" },
            self.path.display(),
            names(&self.applied)
        );
        if !self.ignored.is_empty() {
            line.push_str(&format!("; ignores {}", names(&self.ignored)));
        }
        line
    }
}

/// A tier's schema or data files, in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct Files {
    pub sources: Vec<Source>,
    /// The folders among the paths, each with its layout.
    pub folders: Vec<Folder>,
}

/// Where migrations live below a repository root or a tool's folder, in
/// the order they are looked for.
const KNOWN_FOLDERS: &[&str] = &[
    "supabase/migrations",
    "prisma/migrations",
    "migrations",
    "db/migrations",
    "db/migration",
    "src/main/resources/db/migration",
    "sql",
];

/// The schema files of a tier: every path is a file (applied as it is) or
/// a folder whose migrations apply in its layout's order.
pub fn schema(tier: &str, paths: &[PathBuf], choice: LayoutChoice) -> Result<Files> {
    let mut files = Files::default();
    for path in paths {
        if !path.is_dir() {
            files.sources.push(read(tier, path)?);
            continue;
        }
        let (dir, layout, detected) = locate(tier, path, choice)?;
        let (applied, ignored) = order(tier, &dir, layout)?;
        if applied.is_empty() {
            return Err(unreadable(tier, &dir, format!("the {layout} layout finds no migration to apply here")));
        }
        for file in &applied {
            let mut source = read(tier, file)?;
            if layout == Layout::Dbmate {
                source.text = dbmate_up(tier, file, &source.text)?;
            }
            files.sources.push(source);
        }
        files.folders.push(Folder { path: dir, layout, detected, applied, ignored });
    }
    Ok(files)
}

/// The fixed-row files of a tier: a file as it is; a Supabase folder (or a
/// repository holding one) gives its `seed.sql`; another folder its `.sql`
/// files in name order.
pub fn data(tier: &str, paths: &[PathBuf]) -> Result<Files> {
    let mut files = Files::default();
    for path in paths {
        if !path.is_dir() {
            files.sources.push(read(tier, path)?);
            continue;
        }
        let seed = [path.join("supabase/seed.sql"), path.join("seed.sql")].into_iter().find(|p| p.is_file());
        let chosen = match seed {
            Some(seed) if path.join("supabase").is_dir() || path.join("migrations").is_dir() => vec![seed],
            _ => sql_files(tier, path)?,
        };
        if chosen.is_empty() {
            return Err(unreadable(tier, path, "folder holds no .sql file".to_string()));
        }
        for file in &chosen {
            files.sources.push(read(tier, file)?);
        }
    }
    Ok(files)
}

/// The folder that holds the migrations, its layout, and whether it was detected.
fn locate(tier: &str, root: &Path, choice: LayoutChoice) -> Result<(PathBuf, Layout, bool)> {
    let mut found: Vec<(PathBuf, Layout)> = Vec::new();
    if let Some(layout) = classify(root) {
        found.push((root.to_path_buf(), layout));
    } else {
        for sub in KNOWN_FOLDERS {
            let dir = root.join(sub);
            if let Some(layout) = dir.is_dir().then(|| classify(&dir)).flatten() {
                if !found.iter().any(|(d, _)| dir.starts_with(d)) {
                    found.push((dir, layout));
                }
            }
        }
    }
    match (choice, found.as_slice()) {
        (_, []) => Err(unreadable(
            tier,
            root,
            format!("folder holds no .sql file, nor a migrations folder tierguard knows ({})", KNOWN_FOLDERS.join(", ")),
        )),
        (LayoutChoice::Auto, [(dir, layout)]) => Ok((dir.clone(), *layout, true)),
        (LayoutChoice::Auto, several) => Err(unreadable(
            tier,
            root,
            format!(
                "holds migrations in more than one place ({}); point --tier at one of them, or choose with --layout",
                several.iter().map(|(d, l)| format!("{} ({l})", d.display())).collect::<Vec<_>>().join(", ")
            ),
        )),
        (LayoutChoice::Forced(layout), several) => {
            let dir = several.iter().find(|(_, l)| *l == layout).unwrap_or(&several[0]).0.clone();
            Ok((dir, layout, false))
        }
    }
}

/// The layout a folder's own contents show, if it holds migrations.
fn classify(dir: &Path) -> Option<Layout> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    if entries.iter().any(|p| p.join("migration.sql").is_file()) {
        return Some(Layout::Prisma);
    }
    let names: Vec<String> = entries.iter().filter(|p| is_sql(p)).map(|p| file_name(p)).collect();
    if names.is_empty() {
        return None;
    }
    if names.iter().any(|n| flyway_version(n).is_some()) {
        return Some(Layout::Flyway);
    }
    if names.iter().any(|n| golang_up(n).is_some()) {
        return Some(Layout::GolangMigrate);
    }
    let dbmate = entries.iter().filter(|p| is_sql(p)).any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| is_marker(l, "up"))));
    if dbmate {
        return Some(Layout::Dbmate);
    }
    let in_supabase = dir.file_name().is_some_and(|n| n == "migrations") && dir.parent().and_then(Path::file_name).is_some_and(|n| n == "supabase");
    Some(if in_supabase { Layout::Supabase } else { Layout::Plain })
}

/// The files to apply in order, and the files the layout ignores.
fn order(tier: &str, dir: &Path, layout: Layout) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let entries = sorted_entries(tier, dir)?;
    let sql: Vec<PathBuf> = entries.iter().filter(|p| is_sql(p)).cloned().collect();
    let others = |applied: &[PathBuf]| -> Vec<PathBuf> { sql.iter().filter(|p| !applied.contains(p)).cloned().collect() };
    Ok(match layout {
        Layout::Plain | Layout::Supabase => (sql.clone(), Vec::new()),
        Layout::Prisma => {
            let applied: Vec<PathBuf> = entries.iter().map(|d| d.join("migration.sql")).filter(|p| p.is_file()).collect();
            let ignored = entries.iter().filter(|p| p.is_file()).cloned().collect();
            (applied, ignored)
        }
        Layout::Flyway => {
            let mut versioned: Vec<(Vec<u64>, PathBuf)> = sql.iter().filter_map(|p| Some((flyway_version(&file_name(p))?, p.clone()))).collect();
            versioned.sort_by(|a, b| a.0.cmp(&b.0));
            if let Some(pair) = versioned.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(unreadable(
                    tier,
                    dir,
                    format!("two Flyway migrations have the same version: {} and {}", file_name(&pair[0].1), file_name(&pair[1].1)),
                ));
            }
            let mut applied: Vec<PathBuf> = versioned.into_iter().map(|(_, p)| p).collect();
            applied.extend(sql.iter().filter(|p| file_name(p).starts_with("R__")).cloned());
            let ignored = others(&applied);
            (applied, ignored)
        }
        Layout::GolangMigrate | Layout::Dbmate => {
            let version = |p: &PathBuf| -> Option<u64> {
                let name = file_name(p);
                match layout {
                    Layout::GolangMigrate => golang_up(&name),
                    _ => leading_number(&name),
                }
            };
            let mut versioned: Vec<(u64, PathBuf)> = sql.iter().filter_map(|p| Some((version(p)?, p.clone()))).collect();
            // A stable sort: equal versions keep their name order.
            versioned.sort_by_key(|(version, _)| *version);
            let applied: Vec<PathBuf> = versioned.into_iter().map(|(_, p)| p).collect();
            let ignored = others(&applied);
            (applied, ignored)
        }
    })
}

/// `V1__x.sql` → [1], `V1_1__x.sql` and `V1.1__x.sql` → [1, 1]: Flyway
/// compares versions part by part as numbers (1.10 after 1.2).
fn flyway_version(name: &str) -> Option<Vec<u64>> {
    let rest = name.strip_prefix('V')?;
    let (version, description) = rest.split_once("__")?;
    if !description.ends_with(".sql") || version.is_empty() {
        return None;
    }
    version.split(['.', '_']).map(|part| part.parse().ok()).collect()
}

/// `12_name.up.sql` → 12 (golang-migrate); down files are not up migrations.
fn golang_up(name: &str) -> Option<u64> {
    name.strip_suffix(".up.sql")?;
    leading_number(name)
}

/// The number a migration's name starts with, followed by `_`.
fn leading_number(name: &str) -> Option<u64> {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || !name[digits.len()..].starts_with('_') {
        return None;
    }
    digits.parse().ok()
}

/// `-- migrate:up` / `-- migrate:down` (dbmate's section lines; options may follow).
fn is_marker(line: &str, section: &str) -> bool {
    // Asked of every line of every file while detecting: compiled once.
    static MARKER: OnceLock<Regex> = OnceLock::new();
    let re = MARKER.get_or_init(|| Regex::new(r"^\s*--\s*migrate:(up|down)\b").expect("valid regex"));
    re.captures(line).is_some_and(|c| &c[1] == section)
}

/// The up part of a dbmate migration, with every other line left blank.
fn dbmate_up(tier: &str, path: &Path, text: &str) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let up = lines.iter().position(|l| is_marker(l, "up")).ok_or_else(|| unreadable(tier, path, "a dbmate migration without a `-- migrate:up` line".to_string()))?;
    let down = lines.iter().position(|l| is_marker(l, "down")).unwrap_or(lines.len());
    Ok(lines
        .iter()
        .enumerate()
        .map(|(i, line)| if i > up && i < down { *line } else { "" })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn sql_files(tier: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(tier, dir)?.into_iter().filter(|p| is_sql(p)).collect())
}

fn sorted_entries(tier: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(tier, dir, format!("cannot read: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn read(tier: &str, path: &Path) -> Result<Source> {
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(tier, path, format!("cannot read: {e}")))?;
    Ok(Source { path: path.to_path_buf(), text })
}

fn is_sql(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "sql")
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

fn unreadable(tier: &str, path: &Path, message: String) -> HarnessError {
    HarnessError::Sql { tier: tier.to_string(), file: path.display().to_string(), line: None, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flyway_versions_compare_as_numbers_part_by_part() {
        let mut names = vec!["V1_10__d.sql", "V2__e.sql", "V1_2__c.sql", "V1__a.sql", "V1.1__b.sql"];
        names.sort_by_key(|n| flyway_version(n).expect("versioned"));
        assert_eq!(names, ["V1__a.sql", "V1.1__b.sql", "V1_2__c.sql", "V1_10__d.sql", "V2__e.sql"]);
        assert_eq!(flyway_version("R__grants.sql"), None);
        assert_eq!(flyway_version("U2__undo.sql"), None);
        assert_eq!(flyway_version("Vx__nope.sql"), None);
    }

    #[test]
    fn golang_migrate_takes_up_files_by_number() {
        assert_eq!(golang_up("10_add.up.sql"), Some(10));
        assert_eq!(golang_up("10_add.down.sql"), None);
        assert_eq!(golang_up("000002_add.up.sql"), Some(2));
        assert_eq!(leading_number("20240101120000_init.sql"), Some(20240101120000));
        assert_eq!(leading_number("init.sql"), None);
    }

    #[test]
    fn dbmate_keeps_only_the_up_part_on_its_own_lines() {
        let text = "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n";
        let up = dbmate_up("t", Path::new("x.sql"), text).expect("has an up part");
        assert_eq!(up.lines().nth(1), Some("CREATE TABLE a (id int);"));
        assert!(!up.contains("DROP"), "{up}");
        assert!(dbmate_up("t", Path::new("x.sql"), "CREATE TABLE a (id int);").is_err());
    }
}
