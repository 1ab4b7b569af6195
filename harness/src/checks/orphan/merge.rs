//! The cross-tier anti-join: the referencing rows and the target rows,
//! each streamed sorted by key from its own server, walked side by side.
//! Every referencing row whose key the target side skips past is an
//! orphan; one whose key is there under other tenants only is a tenant
//! mismatch. Memory holds one row per side and one target key's tenants,
//! whatever the tables' sizes.

use std::cmp::Ordering;
use std::ops::Range;

use anyhow::{bail, Result};
use sqlx::types::Uuid;

use super::copy::Rows;
use super::link::{KeyKind, SAMPLES};

/// Offending rows found by the merge: how many, and the first keys (in
/// stream order) to fetch sample rows for.
#[derive(Debug, Default)]
pub struct Tally {
    pub count: u64,
    pub first: Vec<Sample>,
}

/// An offending key, in text form (what the referencing side casts back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub key: Vec<String>,
    /// The referencing rows' tenant and the target's (tenant mismatches only).
    pub tenant: Option<String>,
    pub target_tenant: Option<String>,
}

impl Tally {
    /// Whether `first` holds all the samples it keeps: later offenders only count.
    fn is_full(&self) -> bool {
        self.first.len() >= SAMPLES
    }

    fn record(&mut self, count: u64, sample: impl FnOnce() -> Sample) {
        self.count += count;
        if self.first.len() < SAMPLES {
            let sample = sample();
            if self.first.last() != Some(&sample) {
                self.first.push(sample);
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Merged {
    pub orphans: Tally,
    pub mismatches: Tally,
}

/// Walks `from` (rows: key..., [tenant], count; grouped, sorted by key) and
/// `to` (rows: key..., [tenant]; sorted by key). `tenant_kind` says whether
/// both streams carry a tenant to compare, and how it was sent.
/// `first_known` is called once, as soon as the first offending keys of
/// every verdict can no longer change (each has its ten, or the walk is
/// over), so their sample rows can be fetched while the walk goes on.
pub async fn merge(
    kinds: &[KeyKind],
    tenant_kind: Option<KeyKind>,
    from: &mut impl Rows,
    to: &mut impl Rows,
    first_known: impl FnOnce(&Merged),
) -> Result<Merged> {
    let width = kinds.len();
    let tenants = tenant_kind.is_some();
    let count_field = width + usize::from(tenants);
    let mut merged = Merged::default();
    // The target key the walk stands on, and every tenant it has.
    let mut target = Fields::default();
    let mut target_tenants = Fields::default();
    // `to`'s current row, when it is not yet part of `target`.
    let mut to_pending = to.advance().await?;
    let mut previous = Fields::default();
    let mut first_known = Some(first_known);
    while from.advance().await? {
        let key = |i| from.field(i);
        if !previous.is_empty() && compare(kinds, |i| previous.get(i), key) == Ordering::Greater {
            bail!("the referencing server did not return its keys in order");
        }
        while to_pending && (target.is_empty() || compare(kinds, |i| target.get(i), key) == Ordering::Less) {
            target.set((0..width).map(|i| to.field(i)));
            target_tenants.set(tenants.then(|| to.field(width)));
            to_pending = to.advance().await?;
            while to_pending && compare(kinds, |i| to.field(i), |i| target.get(i)) == Ordering::Equal {
                target_tenants.push(to.field(width));
                to_pending = to.advance().await?;
            }
            if to_pending && compare(kinds, |i| to.field(i), |i| target.get(i)) == Ordering::Less {
                bail!("the target server did not return its keys in order");
            }
        }
        let count = from.field(count_field).map(integer).unwrap_or(0) as u64;
        let found = !target.is_empty() && compare(kinds, |i| target.get(i), key) == Ordering::Equal;
        if !found {
            merged.orphans.record(count, || Sample {
                key: texts(kinds, key),
                tenant: None,
                target_tenant: None,
            });
        } else if tenants && from.field(width).is_some() && !target_tenants.contains(from.field(width)) && !target_tenants.contains(None) {
            // A row of no tenant, or a target of none, is nobody's to cross
            // (orphan.tenantless says so).
            merged.mismatches.record(count, || Sample {
                key: texts(kinds, key),
                tenant: from.field(width).zip(tenant_kind).map(|(bytes, kind)| show(kind, bytes)),
                target_tenant: target_tenants.get(0).zip(tenant_kind).map(|(bytes, kind)| show(kind, bytes)),
            });
        }
        previous.set((0..width).map(key));
        if merged.orphans.is_full() && (!tenants || merged.mismatches.is_full()) {
            if let Some(known) = first_known.take() {
                known(&merged);
            }
        }
    }
    if let Some(known) = first_known {
        known(&merged);
    }
    Ok(merged)
}

/// Keys in the order the servers sorted them (see `KeyKind`). Keys are
/// never NULL: both streams leave such rows out.
fn compare<'a, 'b>(
    kinds: &[KeyKind],
    a: impl Fn(usize) -> Option<&'a [u8]>,
    b: impl Fn(usize) -> Option<&'b [u8]>,
) -> Ordering {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let (a, b) = (a(i).unwrap_or_default(), b(i).unwrap_or_default());
            match kind {
                KeyKind::Integer => integer(a).cmp(&integer(b)),
                KeyKind::Uuid | KeyKind::Text => a.cmp(b),
            }
        })
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// An int8 in network byte order.
fn integer(bytes: &[u8]) -> i64 {
    bytes.try_into().map(i64::from_be_bytes).unwrap_or_default()
}

/// A value as the server's `::text` gives it, which is what the sample
/// query casts back.
fn show(kind: KeyKind, bytes: &[u8]) -> String {
    match kind {
        KeyKind::Integer => integer(bytes).to_string(),
        KeyKind::Uuid => match Uuid::from_slice(bytes) {
            Ok(uuid) => uuid.hyphenated().to_string(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        },
        KeyKind::Text => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn texts<'a>(kinds: &[KeyKind], key: impl Fn(usize) -> Option<&'a [u8]>) -> Vec<String> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| show(*kind, key(i).unwrap_or_default()))
        .collect()
}

/// Owned copies of a few fields, in one reused buffer: no allocation per row.
#[derive(Default)]
struct Fields {
    bytes: Vec<u8>,
    spans: Vec<Option<Range<usize>>>,
}

impl Fields {
    fn set<'a>(&mut self, fields: impl IntoIterator<Item = Option<&'a [u8]>>) {
        self.bytes.clear();
        self.spans.clear();
        for field in fields {
            self.push(field);
        }
    }

    fn push(&mut self, field: Option<&[u8]>) {
        self.spans.push(field.map(|bytes| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(bytes);
            start..self.bytes.len()
        }));
    }

    fn get(&self, index: usize) -> Option<&[u8]> {
        self.spans.get(index)?.clone().map(|span| &self.bytes[span])
    }

    fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether some field equals `field` (NULL equals NULL: a row without
    /// a tenant matches a target without one).
    fn contains(&self, field: Option<&[u8]>) -> bool {
        (0..self.spans.len()).any(|i| self.get(i) == field)
    }
}
