//! Tenant canaries: a marker the seeder writes into the text it makes for
//! a tenant's rows, and that the canary probe looks for in everything the
//! application can read while acting as another tenant. The marker names
//! its tenant and the row it was written into, so a marker found anywhere
//! (a trigger's audit copy, a cache table, a notification, a function's
//! result) says whose data it is and where it came from, without any
//! model of the tenancy.
//!
//! `tgc` + 8 hex digits naming the tenant (a hash of the run seed and the
//! tenant's position: unguessable without the seed, the same for the same
//! seed) + `t` + the table's number in the seeding plan (hex) + `r` + the
//! row's number (hex): `tgc3fa9c01bt5r2a`. Only lower-case letters and
//! digits, so it fits text, JSON strings, array items, tsvector lexemes and
//! email local parts alike; hex digits never contain `t` or `r`, so the
//! parts read back unambiguously.

use crate::rng::stream;

const PREFIX: &str = "tgc";

/// The POSIX regular expression (PostgreSQL's `~`, `regexp_matches`)
/// that finds markers in text, also as bytea prints them (`\x746763...`,
/// the marker's bytes in hex).
pub const SQL_PATTERN: &str = "tgc[0-9a-f]{8}t[0-9a-f]+r[0-9a-f]+|746763(?:3[0-9]|6[1-6]){8}74(?:3[0-9]|6[1-6])+72(?:3[0-9]|6[1-6])+";

/// One marker: whose it is and which seeded row it was written into.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker {
    pub tag: String,
    /// The table's position in the seeding plan.
    pub table: usize,
    pub row: u64,
}

/// The marker of row `row` of table `table`, seeded for the tenant tagged `tag`.
pub fn marker(tag: &str, table: usize, row: u64) -> String {
    format!("{PREFIX}{tag}t{table:x}r{row:x}")
}

impl Marker {
    pub fn text(&self) -> String {
        marker(&self.tag, self.table, self.row)
    }

    /// A marker as [`SQL_PATTERN`] finds it: plain, or the hex of its bytes.
    pub fn parse(found: &str) -> Option<Marker> {
        let plain = match found.strip_prefix("746763") {
            Some(_) => String::from_utf8(hex_bytes(found)?).ok()?,
            None => found.to_string(),
        };
        let rest = plain.strip_prefix(PREFIX)?;
        let (tag, rest) = rest.split_at_checked(8)?;
        let (table, row) = rest.strip_prefix('t')?.split_once('r')?;
        Some(Marker {
            tag: tag.to_string(),
            table: usize::from_str_radix(table, 16).ok()?,
            row: u64::from_str_radix(row, 16).ok()?,
        })
    }
}

/// How the marker of a tenant tagged `tag` starts, plain and as bytea hex:
/// what a search for other tenants' markers leaves out.
pub fn own_prefixes(tag: &str) -> (String, String) {
    let plain = format!("{PREFIX}{tag}");
    let hex = plain.bytes().map(|b| format!("{b:02x}")).collect();
    (plain, hex)
}

/// The tag of tenant number `tenant` in a run seeded with `seed`.
pub fn tag(seed: u64, tenant: usize) -> String {
    format!("{:08x}", stream(seed, &["canary", &tenant.to_string()]) as u32)
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    (0..hex.len() / 2).map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_read_back_plain_and_as_bytea_hex() {
        let marker = Marker { tag: tag(7, 1), table: 26, row: 4242 };
        let text = marker.text();
        assert!(text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{text}");
        assert_eq!(Marker::parse(&text), Some(marker.clone()));
        let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(Marker::parse(&hex), Some(marker));
        let pattern = regex::Regex::new(&format!("^(?:{SQL_PATTERN})$")).expect("pattern");
        assert!(pattern.is_match(&text) && pattern.is_match(&hex));
        assert_ne!(tag(7, 0), tag(7, 1));
        assert_ne!(tag(7, 1), tag(8, 1));
        assert_eq!(tag(7, 1), tag(7, 1));
    }
}
