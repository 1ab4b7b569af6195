//! Splits an SQL script into statements the way psql does, so each can run
//! on its own (CREATE INDEX CONCURRENTLY refuses a multi-statement query) and
//! an error can name the line it happened on.

/// One statement and the 1-based line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    pub sql: &'a str,
    pub line: usize,
    /// For `COPY ... FROM stdin`: the rows that follow it in the file, up
    /// to the line `\.` (as psql and pg_dump write them).
    pub rows: Option<&'a str>,
}

/// Splits on `;` outside quotes, dollar-quoted bodies and comments. Empty
/// statements (only whitespace or comments) are dropped.
pub fn statements(script: &str) -> Vec<Statement<'_>> {
    let bytes = script.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // `BEGIN ATOMIC ... END` bodies contain semicolons; track their depth.
    let mut atomic_depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => i = skip_quoted(bytes, i, b'\'', backslash_escapes(bytes, i)),
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' => match dollar_tag(bytes, i) {
                Some(tag) => {
                    let body = i + tag.len();
                    i = find(bytes, body, tag).map_or(bytes.len(), |end| end + tag.len());
                }
                None => i += 1,
            },
            b';' if atomic_depth == 0 => {
                let pushed = push(&mut out, script, start, i);
                i += 1;
                if let Some(copy) = out.last_mut().filter(|s| pushed && copies_from_stdin(s.sql)) {
                    let (rows, next) = copy_rows(script, i);
                    copy.rows = Some(rows);
                    i = next;
                }
                start = i;
            }
            c if c.is_ascii_alphabetic() => {
                let word_end = bytes[i..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .map_or(bytes.len(), |p| i + p);
                let word = &script[i..word_end];
                if word.eq_ignore_ascii_case("atomic") && previous_word_is(script, i, "begin") {
                    atomic_depth += 1;
                } else if word.eq_ignore_ascii_case("case") && atomic_depth > 0 {
                    // CASE ... END inside an atomic body closes with END too.
                    atomic_depth += 1;
                } else if word.eq_ignore_ascii_case("end") && atomic_depth > 0 {
                    atomic_depth -= 1;
                }
                i = word_end;
            }
            _ => i += 1,
        }
    }
    push(&mut out, script, start, bytes.len());
    out
}

/// Whether a statement is `COPY ... FROM stdin`: its rows follow in the script.
fn copies_from_stdin(sql: &str) -> bool {
    let words: Vec<String> = sql.split_whitespace().map(|w| w.to_ascii_lowercase()).collect();
    words.first().is_some_and(|w| w == "copy") && words.windows(2).any(|w| w[0] == "from" && w[1] == "stdin")
}

/// The rows after a `COPY ... FROM stdin;` ending at byte `after`: from the
/// next line up to the line `\.`; and where the script goes on.
fn copy_rows(script: &str, after: usize) -> (&str, usize) {
    let first = script[after..].find('\n').map_or(script.len(), |p| after + p + 1);
    let mut line_start = first;
    while line_start < script.len() {
        let line_end = script[line_start..].find('\n').map_or(script.len(), |p| line_start + p);
        if script[line_start..line_end].trim_end_matches('\r') == "\\." {
            return (&script[first..line_start], (line_end + 1).min(script.len()));
        }
        line_start = line_end + 1;
    }
    (&script[first.min(script.len())..], script.len())
}

/// Adds the statement between `start` and `end` unless it is blank; says
/// whether it did.
fn push<'a>(out: &mut Vec<Statement<'a>>, script: &'a str, start: usize, end: usize) -> bool {
    let text = &script[start..end];
    if is_blank(text) {
        return false;
    }
    // Start the statement at its first meaningful line so error lines are exact.
    let begin = start + leading_blank(text);
    let line = script[..begin].matches('\n').count() + 1;
    out.push(Statement {
        sql: &script[begin..end],
        line,
        rows: None,
    });
    true
}

/// True when the text holds only whitespace and comments.
fn is_blank(text: &str) -> bool {
    leading_blank(text) == text.len()
}

/// Length of the whitespace and comments the text starts with.
fn leading_blank(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b if b.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            _ => return i,
        }
    }
    bytes.len()
}

/// `E'...'` strings treat backslash as an escape.
fn backslash_escapes(bytes: &[u8], quote: usize) -> bool {
    quote > 0
        && matches!(bytes[quote - 1], b'E' | b'e')
        && (quote == 1 || !(bytes[quote - 2].is_ascii_alphanumeric() || bytes[quote - 2] == b'_'))
}

fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            // A doubled quote is an escaped quote.
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    // Block comments nest in PostgreSQL.
    let mut depth = 0;
    let mut i = open;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// `$tag$` or `$$` starting at `i`, unless it is a parameter like `$1`.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<&[u8]> {
    if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
        return None; // part of an identifier such as a$b
    }
    let rest = &bytes[i + 1..];
    let len = rest.iter().position(|&b| b == b'$')?;
    let tag = &rest[..len];
    let valid = tag.first().is_none_or(|b| !b.is_ascii_digit())
        && tag.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    valid.then(|| &bytes[i..i + len + 2])
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn previous_word_is(script: &str, before: usize, word: &str) -> bool {
    script[..before]
        .trim_end()
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(script: &str) -> Vec<(&str, usize)> {
        statements(script).into_iter().map(|s| (s.sql, s.line)).collect()
    }

    #[test]
    fn splits_plain_statements_with_lines() {
        assert_eq!(
            sqls("create table a (x int);\n\n-- note\ninsert into a values (1);\n"),
            vec![("create table a (x int)", 1), ("insert into a values (1)", 4)]
        );
    }

    #[test]
    fn keeps_semicolons_inside_strings_identifiers_comments_and_bodies() {
        let script = "select 'a;b', \"c;d\" /* x; /* nested; */ y */;\n\
                      create function f() returns int as $body$ select 1; $body$ language sql;\n\
                      do $$ begin perform 1; end $$;\nselect E'it\\'s;';";
        let got = sqls(script);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[1].0.ends_with("language sql"));
        assert_eq!(got[2], ("do $$ begin perform 1; end $$", 3));
        assert_eq!(got[3], ("select E'it\\'s;'", 4));
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let script = "create function g() returns int language sql\nbegin atomic\n select 1;\n select 2;\nend;\nselect 3;";
        let got = sqls(script);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], ("select 3", 6));
    }

    #[test]
    fn copy_from_stdin_takes_its_rows_up_to_the_end_marker() {
        let script = "create table a (x int, y text);\nCOPY a (x, y) FROM stdin;\n1\tone; two\n2\t\\N\n\\.\ninsert into a values (3, 'three');\n";
        let got = statements(script);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[1].sql, "COPY a (x, y) FROM stdin");
        assert_eq!(got[1].rows, Some("1\tone; two\n2\t\\N\n"));
        assert_eq!((got[2].sql, got[2].line), ("insert into a values (3, 'three')", 6));
        assert_eq!(got[0].rows, None);
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(sqls("prepare p as select $1; select 2;").len(), 2);
    }

    #[test]
    fn drops_blank_and_comment_only_statements() {
        assert!(sqls(";;\n-- only a comment\n/* and this */;").is_empty());
    }
}
