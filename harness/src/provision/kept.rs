//! `--keep-servers`: the run's servers stay up after the reports, to look
//! at the seeded rows with psql, until Ctrl-C. Their passwords go to a
//! password file (mode 0600) in the report folder, never to the terminal;
//! the file goes when the servers do.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Server;

pub struct Kept {
    servers: Vec<Server>,
    passfile: PathBuf,
}

impl Kept {
    /// Keeps `servers`, writing `dir/servers.pgpass` for them.
    pub fn new(servers: Vec<Server>, dir: &Path) -> std::io::Result<Kept> {
        let passfile = dir.join("servers.pgpass");
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&passfile)?;
        for server in &servers {
            let o = &server.options;
            // In a password file `:` and `\` are escaped with `\`.
            let escape = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
            let password = server.password.as_deref().unwrap_or_default();
            // Any database: the superuser's password is the server's.
            writeln!(file, "{}:{}:*:{}:{}", escape(o.get_host()), o.get_port(), escape(o.get_username()), escape(password))?;
        }
        Ok(Kept { servers, passfile })
    }

    /// One line per tier: the tier and the psql command that reaches it.
    pub fn commands(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|server| {
                let o = &server.options;
                format!(
                    "tier {}: PGPASSFILE={} psql 'host={} port={} user={} dbname={}'",
                    server.tier,
                    self.passfile.display(),
                    o.get_host(),
                    o.get_port(),
                    o.get_username(),
                    o.get_database().unwrap_or("postgres")
                )
            })
            .collect()
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.passfile);
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.commands()).finish()
    }
}
