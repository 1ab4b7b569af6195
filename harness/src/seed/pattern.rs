//! Values for a column a regex constrains (`CHECK (code ~ '^[A-Z]{3}-[0-9]+$')`,
//! or a `[seeding.columns]` regex): strings of the regex's language, drawn
//! from letters and digits, else printable ASCII, wherever the regex allows
//! (a `[^@]` gives `k`, not a random code point), and, for a unique column,
//! a string that writes the row's ordinal into one repetition of the regex
//! so that no two rows collide. A realistic value the column's name calls
//! for (an email) is used when it matches.

use rand::Rng;
use regex_syntax::hir::{Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Repetition};

use crate::rng::RowRng;
use super::realism::Realism;

/// Longest run drawn for `*`, `+` and `{n,}` in random strings.
const MAX_REPEAT: u32 = 6;

/// Characters an ordinal is written with, at most (of the repetition's class).
const MAX_RADIX: usize = 62;

#[derive(Debug, Clone)]
pub struct Pattern {
    random: rand_regex::Regex,
    /// The regex with its classes narrowed, walked to write ordinals.
    hir: Hir,
    whole: regex::Regex,
    realism: Option<Realism>,
}

impl Pattern {
    /// `pattern` is unanchored as CHECKs write it; the whole value must match.
    pub fn compile(pattern: &str, realism: Option<Realism>) -> Result<Pattern, String> {
        let body = pattern.strip_prefix('^').unwrap_or(pattern);
        let body = body.strip_suffix('$').unwrap_or(body);
        let hir = regex_syntax::ParserBuilder::new().build().parse(body).map_err(|e| e.to_string())?;
        let hir = narrowed(hir);
        let random = rand_regex::Regex::with_hir(hir.clone(), MAX_REPEAT).map_err(|e| e.to_string())?;
        let whole = regex::Regex::new(&format!("^(?:{body})$")).map_err(|e| crate::error::regex_message(&e))?;
        Ok(Pattern { random, hir, whole, realism })
    }

    /// A value for one row; with `ordinal`, distinct for distinct ordinals
    /// below [`Pattern::distinct_values`].
    pub fn sample(&self, rng: &mut RowRng, ordinal: Option<u64>) -> String {
        if let Some(realism) = self.realism {
            let mut text = realism.sample(rng);
            if let Some(o) = ordinal {
                text = realism.unique(text, o);
            }
            if self.whole.is_match(&text) {
                return text;
            }
        }
        match ordinal {
            None => rng.sample::<String, _>(&self.random),
            Some(o) => {
                let o = self.distinct_values().map_or(o, |d| o % d.max(1));
                let mut out = String::new();
                write(&self.hir, o, &mut false, &mut out);
                out
            }
        }
    }

    /// How many distinct values ordinals give: the first repetition of a
    /// class of two or more characters carries the ordinal in base (class
    /// size); None when that repetition has no upper bound. With no such
    /// repetition, every ordinal gives the same string.
    pub fn distinct_values(&self) -> Option<u64> {
        match carrier(&self.hir) {
            Some((radix, _, Some(max))) => Some((radix as u64).saturating_pow(max)),
            Some((_, _, None)) => None,
            None => Some(1),
        }
    }
}

/// The first repetition (outside alternatives after the first) whose
/// element is a class of two or more characters: (radix, min, max).
fn carrier(hir: &Hir) -> Option<(usize, u32, Option<u32>)> {
    match hir.kind() {
        HirKind::Repetition(rep) => match chars(&rep.sub) {
            Some(chars) if chars.len() >= 2 => Some((chars.len(), rep.min, rep.max)),
            _ => carrier(&rep.sub),
        },
        HirKind::Capture(capture) => carrier(&capture.sub),
        HirKind::Concat(subs) => subs.iter().find_map(carrier),
        HirKind::Alternation(subs) => subs.first().and_then(carrier),
        _ => None,
    }
}

/// The characters of a class, in order, at most [`MAX_RADIX`].
fn chars(hir: &Hir) -> Option<Vec<char>> {
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            Some(class.iter().flat_map(|r| r.start()..=r.end()).take(MAX_RADIX).collect())
        }
        HirKind::Class(Class::Bytes(class)) => {
            Some(class.iter().flat_map(|r| r.start()..=r.end()).filter(u8::is_ascii).map(char::from).take(MAX_RADIX).collect())
        }
        _ => None,
    }
}

/// Writes the least string of `hir`'s language, except that the carrier
/// (see [`carrier`]) spells `ordinal` in its class's characters, at least
/// as long as its minimum: every other part is fixed, so distinct
/// ordinals give distinct strings.
fn write(hir: &Hir, ordinal: u64, written: &mut bool, out: &mut String) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.push_str(&String::from_utf8_lossy(&literal.0)),
        HirKind::Class(_) => out.extend(chars(hir).and_then(|c| c.first().copied())),
        HirKind::Repetition(rep) => match chars(&rep.sub).filter(|c| c.len() >= 2 && !*written) {
            Some(chars) => {
                *written = true;
                let radix = chars.len() as u64;
                let mut digits = Vec::new();
                let mut rest = ordinal;
                while rest > 0 {
                    digits.push(chars[(rest % radix) as usize]);
                    rest /= radix;
                }
                while digits.len() < rep.min as usize {
                    digits.push(chars[0]);
                }
                out.extend(digits.into_iter().rev());
            }
            None => (0..rep.min).for_each(|_| write(&rep.sub, ordinal, written, out)),
        },
        HirKind::Capture(capture) => write(&capture.sub, ordinal, written, out),
        HirKind::Concat(subs) => subs.iter().for_each(|sub| write(sub, ordinal, written, out)),
        HirKind::Alternation(subs) => {
            if let Some(first) = subs.first() {
                write(first, ordinal, written, out);
            }
        }
    }
}

/// The regex with every class narrowed to letters and digits, else to
/// printable ASCII, where it holds any: values look like data, and a
/// negated class (`[^@]`) does not draw from all of Unicode.
fn narrowed(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Class(Class::Unicode(class)) => {
            let narrow = |ranges: &[(char, char)]| {
                let mut allowed = ClassUnicode::new(ranges.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b)));
                allowed.intersect(&class);
                allowed
            };
            let alnum = narrow(&[('0', '9'), ('A', 'Z'), ('a', 'z')]);
            let printable = narrow(&[(' ', '~')]);
            let chosen = [alnum, printable].into_iter().find(|c| c.iter().next().is_some()).unwrap_or(class);
            Hir::class(Class::Unicode(chosen))
        }
        HirKind::Class(Class::Bytes(class)) => {
            let narrow = |ranges: &[(u8, u8)]| {
                let mut allowed = ClassBytes::new(ranges.iter().map(|&(a, b)| ClassBytesRange::new(a, b)));
                allowed.intersect(&class);
                allowed
            };
            let alnum = narrow(&[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')]);
            let printable = narrow(&[(b' ', b'~')]);
            let chosen = [alnum, printable].into_iter().find(|c| c.iter().next().is_some()).unwrap_or(class);
            Hir::class(Class::Bytes(chosen))
        }
        HirKind::Repetition(rep) => Hir::repetition(Repetition { sub: Box::new(narrowed(*rep.sub)), ..rep }),
        HirKind::Capture(capture) => Hir::capture(Capture { sub: Box::new(narrowed(*capture.sub)), ..capture }),
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(narrowed).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.into_iter().map(narrowed).collect()),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(literal) => Hir::literal(literal.0),
        HirKind::Look(look) => Hir::look(look),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn rng(row: u64) -> RowRng {
        RowRng::new(7, row)
    }

    #[test]
    fn ordinals_give_distinct_values_of_the_language() {
        for regex in ["^[a-z]+$", "^[A-Z]{3}-[0-9]{2,}$", "^(inv|bill)_[0-9a-f]{1,8}$", "^[^@]+@[^@]+\\.[a-z]{2,}$"] {
            let pattern = Pattern::compile(regex, None).unwrap();
            let whole = regex::Regex::new(regex).unwrap();
            let values: BTreeSet<String> = (0..5_000).map(|o| pattern.sample(&mut rng(o), Some(o))).collect();
            assert_eq!(values.len(), 5_000, "{regex}");
            assert!(values.iter().all(|v| whole.is_match(v)), "{regex}: {:?}", values.iter().find(|v| !whole.is_match(v)));
        }
    }

    #[test]
    fn a_bounded_carrier_says_how_many_values_it_can_tell_apart() {
        assert_eq!(Pattern::compile("^[A-Z]{3}$", None).unwrap().distinct_values(), Some(26u64.pow(3)));
        assert_eq!(Pattern::compile("^[a-z]+$", None).unwrap().distinct_values(), None);
        assert_eq!(Pattern::compile("^(draft|sent)$", None).unwrap().distinct_values(), Some(1));
    }

    #[test]
    fn negated_classes_draw_letters_and_digits() {
        let pattern = Pattern::compile("^[^@\\s]+@[^@\\s]+$", None).unwrap();
        for row in 0..200 {
            let value = pattern.sample(&mut rng(row), None);
            assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || c == '@'), "{value}");
        }
    }

    #[test]
    fn a_realistic_value_is_used_when_it_matches() {
        let pattern = Pattern::compile("^[^@]+@[^@]+$", Some(Realism::Email)).unwrap();
        let value = pattern.sample(&mut rng(1), Some(3));
        assert!(value.contains('@') && value.contains(".3@"), "{value}");
        // One the regex refuses falls back to the language.
        let strict = Pattern::compile("^[A-Z]{4}$", Some(Realism::Email)).unwrap();
        assert_eq!(strict.sample(&mut rng(1), Some(0)), "AAAA");
    }
}
