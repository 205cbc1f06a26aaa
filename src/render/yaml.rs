//! YAML text of a JSON value: the bytes serde-saphyr writes with runnergen's options (block
//! style, sorted keys as the value holds them, sequences not indented under their key, literal
//! blocks for multi-line strings, nothing folded), written straight into the file's text.
//!
//! serde-saphyr stays the reference and the writer of anything unusual: a string that is not
//! plainly safe is quoted by it (one scalar at a time), and a document with a shape this writer
//! does not take on (a float, a null, a sequence directly in a sequence, a key that needs
//! quoting, a multi-line string outside a mapping) is handed to it whole. What this writer does
//! itself is the common case of a render, where the general serializer costs a large share of
//! the CPU (BENCHMARKS.md has the figures). Debug builds compare every document with
//! serde-saphyr's, so every test render checks the two agree; `tests` below adds generated
//! values with hostile strings.

use serde_json::{Map, Value};
use std::fmt::Write;

/// serde-saphyr's options for every YAML file runnergen writes.
fn options() -> serde_saphyr::SerializerOptions {
    let mut opts = serde_saphyr::SerializerOptions::default();
    // Never fold long single-line strings (URLs, subjects): only multi-line text gets a block.
    opts.folded_wrap_chars = usize::MAX / 2;
    opts.min_fold_chars = usize::MAX / 2;
    opts
}

/// serde-saphyr's YAML for `v`, with a final newline: the reference.
pub fn reference(v: &Value) -> String {
    let mut s =
        serde_saphyr::to_string_with_options(v, options()).expect("plain data serializes to YAML");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Appends the YAML text of `v` to `out`, ending in a newline.
pub fn push(out: &mut String, v: &Value) {
    let start = out.len();
    if !emit_document(out, v) {
        out.truncate(start);
        out.push_str(&reference(v));
    }
    debug_assert_eq!(
        &out[start..],
        reference(v),
        "the YAML writer and serde-saphyr disagree"
    );
}

/// Writes a document this writer takes on; false (with `out` partly written) otherwise.
fn emit_document(out: &mut String, v: &Value) -> bool {
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(out, m, 0, false),
        _ => false,
    }
}

/// A block mapping whose keys start at column `indent`. When `after_dash` is set its first
/// key follows a sequence's `- ` on the same line.
fn emit_map(out: &mut String, m: &Map<String, Value>, indent: usize, after_dash: bool) -> bool {
    for (i, (k, v)) in m.iter().enumerate() {
        if !plain_key(k) {
            return false;
        }
        if i > 0 || !after_dash {
            pad(out, indent);
        }
        out.push_str(k);
        out.push(':');
        let ok = match v {
            Value::Object(inner) if inner.is_empty() => {
                out.push_str(" {}\n");
                true
            }
            Value::Object(inner) => {
                out.push('\n');
                emit_map(out, inner, indent + 2, false)
            }
            Value::Array(items) if items.is_empty() => {
                out.push_str(" []\n");
                true
            }
            // A sequence under a key is not indented: `key:` then `- item` in the key's column.
            Value::Array(items) => {
                out.push('\n');
                emit_seq(out, items, indent)
            }
            scalar => {
                out.push(' ');
                emit_scalar(out, scalar, indent, true)
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A block sequence whose dashes are at column `indent`.
fn emit_seq(out: &mut String, items: &[Value], indent: usize) -> bool {
    for item in items {
        pad(out, indent);
        out.push_str("- ");
        let ok = match item {
            Value::Object(m) if m.is_empty() => {
                out.push_str("{}\n");
                true
            }
            Value::Object(m) => emit_map(out, m, indent + 2, true),
            Value::Array(a) if a.is_empty() => {
                out.push_str("[]\n");
                true
            }
            Value::Array(_) => false,
            scalar => emit_scalar(out, scalar, indent, false),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A scalar and its newline. `indent` is the column of the key (or dash) it belongs to: a
/// literal block's lines go two further in.
fn emit_scalar(out: &mut String, v: &Value, indent: usize, in_map: bool) -> bool {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                return false;
            }
        }
        Value::String(s) if plain_value(s) || guid(s) => out.push_str(s),
        Value::String(s) if s.contains('\n') => {
            return in_map && literal_block(out, s, indent) || quoted(out, s, indent, in_map);
        }
        Value::String(s) if double_quoted(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Value::String(s) => return quoted(out, s, indent, in_map),
        _ => return false,
    }
    out.push('\n');
    true
}

/// A multi-line string as the value of a key at column `indent`, as serde-saphyr writes the
/// common case (its `serialize_str`): `|`, then each line two columns past the key, an empty
/// line left empty. Only text of printable ASCII and tabs, ending in exactly one newline,
/// whose first line does not start with a space (that would need an indentation indicator);
/// false for anything else.
fn literal_block(out: &mut String, s: &str, indent: usize) -> bool {
    let Some(content) = s.strip_suffix('\n') else {
        return false;
    };
    let first = content.split('\n').find(|l| !l.is_empty());
    if content.is_empty()
        || content.ends_with('\n')
        || first.is_none_or(|l| l.starts_with(' '))
        || !s.bytes().all(|b| matches!(b, b'\n' | b'\t' | 0x20..=0x7e))
    {
        return false;
    }
    out.push_str("|\n");
    for line in content.split('\n') {
        if !line.is_empty() {
            pad(out, indent + 2);
            out.push_str(line);
        }
        out.push('\n');
    }
    true
}

/// A canonical GUID (8-4-4-4-12 hexadecimal digits): client, tenant and subscription IDs.
/// serde-saphyr writes one plain: a `-` at the ninth place is neither a number's (its
/// `is_numeric`: no digit run, exponent or radix takes it) nor a date's (four digits, then `-`).
fn guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A single-line string serde-saphyr is sure to double-quote, and whose quoted text is the
/// string itself between quotes: empty, a reserved word, or opening with an indicator
/// (`{{ .runnerToken }}`), of printable ASCII without `"` or `\\`. Not one character: it
/// single-quotes `.`, `#` and `-`.
fn double_quoted(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() != 1
        && (b.is_empty()
            || reserved_word(s)
            || matches!(
                b[0],
                b',' | b':'
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'#'
                    | b'&'
                    | b'*'
                    | b'!'
                    | b'|'
                    | b'>'
                    | b'\''
                    | b'"'
                    | b'%'
                    | b'@'
                    | b'`'
            ))
        && b.iter()
            .all(|c| matches!(c, 0x20..=0x7e) && !matches!(c, b'"' | b'\\'))
}

/// A string serde-saphyr quotes or writes as a literal block: its own text for the string as
/// the value of a one-key mapping, the key taken off, and a block's lines moved to `indent`.
/// A short single-line string's text is remembered (per thread, a few thousand at most): a
/// render writes the same versions and durations a thousand times.
fn quoted(out: &mut String, s: &str, indent: usize, in_map: bool) -> bool {
    const REMEMBERED: usize = 4096;
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, String>> =
            Default::default();
    }
    let short = s.len() <= 64 && !s.contains('\n');
    if short && SEEN.with_borrow(|seen| seen.get(s).map(|t| out.push_str(t)).is_some()) {
        return true;
    }
    let mut one = Map::new();
    one.insert("k".to_owned(), Value::String(s.to_owned()));
    let text = reference(&Value::Object(one));
    let Some(rest) = text.strip_prefix("k: ") else {
        return false;
    };
    let mut lines = rest.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    out.push_str(first);
    let mut single = true;
    for line in lines {
        // Only a value in a mapping is moved; a block elsewhere goes to serde-saphyr whole.
        if !in_map {
            return false;
        }
        single = false;
        if line != "\n" {
            pad(out, indent);
        }
        out.push_str(line);
    }
    if short && single {
        SEEN.with_borrow_mut(|seen| {
            if seen.len() < REMEMBERED {
                seen.insert(s.to_owned(), first.to_owned());
            }
        });
    }
    true
}

fn pad(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Words a YAML 1.1 or 1.2 reader takes for something other than a string (serde-saphyr's
/// `is_ambiguous`, and YAML 1.1's booleans): never written plain by this writer.
fn reserved_word(s: &str) -> bool {
    const WORDS: [&str; 11] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
    ];
    s.len() <= 5 && WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
}

/// A key serde-saphyr writes plain: a letter, then letters, digits and `_ . / -`.
fn plain_key(k: &str) -> bool {
    let b = k.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
        && !reserved_word(k)
}

/// A value serde-saphyr writes plain (a strict subset of its `is_plain_value_safe`): it
/// starts with a letter or `/`, holds only letters, digits, spaces and `_ . / - : @ = + , ( ) *`,
/// does not end in a space or `:`, has no `: ` and is not a reserved word. No number, date,
/// indicator, comment or control character can start or hide in such a string.
fn plain_value(s: &str) -> bool {
    let b = s.as_bytes();
    let Some((&first, _)) = b.split_first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'/')
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b' ' | b'_'
                        | b'.'
                        | b'/'
                        | b'-'
                        | b':'
                        | b'@'
                        | b'='
                        | b'+'
                        | b','
                        | b'('
                        | b')'
                        | b'*'
                )
        })
        && !matches!(b.last(), Some(b' ' | b':'))
        && !s.contains(": ")
        && !reserved_word(s)
}

#[cfg(test)]
mod tests;
