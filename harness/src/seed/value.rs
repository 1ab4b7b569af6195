//! A seeded value, and its text forms: PostgreSQL's input syntax, and
//! COPY text format (escaped). Written by hand for speed: a bulk load
//! formats every value of every row. The generators are in `kind`.

use chrono::{Duration, NaiveDate, NaiveDateTime};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    /// Digits scaled by 10^scale.
    Decimal(i128, u32),
    Bool(bool),
    Text(String),
    Uuid(u128),
    Date(NaiveDate),
    Timestamp(NaiveDateTime, bool),
    /// Already in the type's text form (json, inet, arrays, enum labels...).
    Raw(String),
}

impl Value {
    /// The value in PostgreSQL's text input form (NULL → None).
    pub fn text(&self) -> Option<String> {
        let mut out = String::new();
        self.write_text(&mut out, false).then_some(out)
    }

    /// Appends the text form to `out`, escaped for COPY text format when
    /// `copy_escape` (only text can hold tabs, newlines or backslashes);
    /// false for NULL, which writes nothing. Written in place: a bulk load
    /// formats every value of every row.
    pub fn write_text(&self, out: &mut String, copy_escape: bool) -> bool {
        use std::fmt::Write;
        use chrono::{Datelike, Timelike};
        // Writing to a String cannot fail.
        let _ = match self {
            Value::Null => return false,
            Value::Int(i) => write!(out, "{i}"),
            Value::Float(f) => write!(out, "{f}"),
            Value::Decimal(digits, scale) => write_decimal(*digits, *scale, out),
            Value::Bool(b) => {
                out.push(if *b { 't' } else { 'f' });
                Ok(())
            }
            Value::Text(s) | Value::Raw(s) if copy_escape => {
                escape_copy(s, out);
                Ok(())
            }
            Value::Text(s) | Value::Raw(s) => {
                out.push_str(s);
                Ok(())
            }
            Value::Uuid(u) => write_uuid(*u, out),
            Value::Date(d) => write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
            Value::Timestamp(t, tz) => {
                let (d, time) = (t.date(), t.time());
                let zone = if *tz { "+00" } else { "" };
                write!(
                    out,
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{zone}",
                    d.year(),
                    d.month(),
                    d.day(),
                    time.hour(),
                    time.minute(),
                    time.second()
                )
            }
        };
        true
    }

    /// For the `a >= b` relations CHECKs declare between columns.
    fn order_key(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(d, s) => Some(*d as f64 / 10f64.powi(*s as i32)),
            Value::Date(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp() as f64),
            Value::Timestamp(t, _) => Some(t.and_utc().timestamp() as f64),
            _ => None,
        }
    }

    /// The smallest value of the same kind that is >= (or >) `other`.
    pub fn at_least(&self, other: &Value, strict: bool) -> Option<Value> {
        if self.order_key()? > other.order_key()? || (!strict && self.order_key()? == other.order_key()?) {
            return None;
        }
        Some(match other {
            Value::Int(i) => Value::Int(i + strict as i64),
            Value::Float(f) => Value::Float(f + strict as i64 as f64),
            Value::Decimal(d, s) => Value::Decimal(d + strict as i128, *s),
            Value::Date(d) => Value::Date(*d + Duration::days(strict as i64 + 1)),
            Value::Timestamp(t, tz) => Value::Timestamp(*t + Duration::hours(1 + strict as i64), *tz),
            other => other.clone(),
        })
    }
}

fn write_decimal(digits: i128, scale: u32, out: &mut String) -> std::fmt::Result {
    use std::fmt::Write;
    if scale == 0 {
        return write!(out, "{digits}");
    }
    let sign = if digits < 0 { "-" } else { "" };
    let abs = digits.unsigned_abs();
    let unit = 10u128.pow(scale);
    write!(out, "{sign}{}.{:0width$}", abs / unit, abs % unit, width = scale as usize)
}

fn write_uuid(u: u128, out: &mut String) -> std::fmt::Result {
    use std::fmt::Write;
    // Version 4 / variant bits set so it reads as a random UUID.
    let u = (u & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    write!(
        out,
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        u >> 96,
        (u >> 80) & 0xffff,
        (u >> 64) & 0xffff,
        (u >> 48) & 0xffff,
        u & 0xffff_ffff_ffff
    )
}

/// COPY text format: backslash, tab, newline and carriage return escaped.
fn escape_copy(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = rest.find(['\\', '\t', '\n', '\r']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            _ => "\\r",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text forms are written by hand for speed; pinned so seeded
    /// bytes (and report checksums) stay what they were.
    #[test]
    fn text_forms_are_postgres_input_and_copy_escapes_text() {
        let at = NaiveDate::from_ymd_opt(2025, 3, 7).unwrap().and_hms_opt(4, 5, 6).unwrap();
        assert_eq!(Value::Uuid(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef).text().unwrap(), "01234567-89ab-4def-8123-456789abcdef");
        assert_eq!(Value::Date(at.date()).text().unwrap(), "2025-03-07");
        assert_eq!(Value::Timestamp(at, true).text().unwrap(), "2025-03-07 04:05:06+00");
        assert_eq!(Value::Timestamp(at, false).text().unwrap(), "2025-03-07 04:05:06");
        assert_eq!(Value::Decimal(5, 3).text().unwrap(), "0.005");
        assert_eq!(Value::Null.text(), None);
        let mut out = String::new();
        assert!(Value::Text("a\\b\tc\nd\re".into()).write_text(&mut out, true));
        assert_eq!(out, "a\\\\b\\tc\\nd\\re");
    }
}
