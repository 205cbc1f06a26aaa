//! Located diagnostics: what went wrong, where, and what to do.
//!
//! Rendered as `file:line:col: error[CODE]: message`, then the JSON path, the source line with a
//! caret and a hint, so a user can fix every problem from one run.

pub use super::code::{CODES, Code, RuleId};
use super::shapes::{REDACTED, redact};
use super::yaml::Pos;
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    /// A lint finding: the spec is valid, but grants more than it may need.
    Warning,
    Note,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub pos: Pos,
    /// JSON pointer of the offending value in the spec (`/runners/tf/identity`), `` for the root.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// The diagnostic is about a secret written into the spec: its rendering shows neither the
    /// source line from the caret on nor a pointer segment that holds the secret, so that the
    /// CI log meant to stop a pasted token does not print it.
    pub secret: bool,
}

impl Diagnostic {
    pub fn error(
        code: Code,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, code, pos, path.into(), message.into())
    }

    pub fn warning(
        code: Code,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, code, pos, path.into(), message.into())
    }

    pub fn note(code: Code, pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Note, code, pos, path.into(), message.into())
    }

    fn new(severity: Severity, code: Code, pos: Pos, path: String, message: String) -> Self {
        Diagnostic {
            severity,
            code,
            pos,
            path,
            message,
            hint: None,
            secret: false,
        }
    }

    /// Marks the diagnostic as one about a secret (see [`Diagnostic::secret`]).
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders one diagnostic against the spec's text.
    pub fn render(&self, file: &str, source: &str) -> String {
        self.render_styled(file, source, false)
    }

    /// [`render`](Self::render), coloured for a terminal when `color`: the severity and its
    /// code, the caret and the hint label (red for errors, cyan for notes).
    pub fn render_styled(&self, file: &str, source: &str, color: bool) -> String {
        let line = source
            .lines()
            .nth((self.pos.line as usize).saturating_sub(1))
            .filter(|_| self.pos.line > 0);
        self.render_at(file, line, color)
    }

    /// Renders with the source line already found (`render_all` finds each by index).
    fn render_at(&self, file: &str, line: Option<&str>, color: bool) -> String {
        let mut out = String::new();
        let (sev, tint) = match self.severity {
            Severity::Error => ("error", "31;1"),
            Severity::Warning => ("warning", "33;1"),
            Severity::Note => ("note", "36;1"),
        };
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_owned()
            }
        };
        let _ = writeln!(
            out,
            "{}: {} {}",
            paint("1", &format!("{file}:{}:{}", self.pos.line, self.pos.col)),
            paint(tint, &format!("{sev}[{}]:", self.code)),
            one_line(&redact(&self.message))
        );
        let path = if self.path.is_empty() {
            "/".to_owned()
        } else {
            redact_pointer(&self.path)
        };
        let _ = writeln!(out, "  at {path}");
        if let Some(line) = line {
            // Control characters would garble the terminal; show them as U+FFFD.
            let shown: String = line
                .chars()
                .take(160)
                .map(|c| {
                    if c.is_control() && c != '\t' {
                        '\u{fffd}'
                    } else {
                        c
                    }
                })
                .collect();
            let caret_col = (self.pos.col as usize)
                .saturating_sub(1)
                .min(shown.chars().count());
            let shown = if self.secret {
                // From the caret on: the secret's own words, or the whole rest of the line when
                // no word shows it (escaped, or split over lines).
                let kept: String = shown.chars().take(caret_col).collect();
                let tail: String = shown.chars().skip(caret_col).collect();
                match redact(&tail) {
                    std::borrow::Cow::Owned(t) => format!("{kept}{t}"),
                    std::borrow::Cow::Borrowed(_) => format!("{kept}{REDACTED}"),
                }
            } else {
                redact(&shown).into_owned()
            };
            let gutter = self.pos.line.to_string();
            let pad = " ".repeat(gutter.len());
            let _ = writeln!(out, "  {pad} |");
            let _ = writeln!(out, "  {gutter} | {shown}");
            let lead: String = shown
                .chars()
                .take(caret_col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "  {pad} | {lead}{}", paint(tint, "^"));
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "  {} {}", paint("36", "= hint:"), redact(h));
        }
        out
    }
}

/// A JSON pointer as printed: every segment that looks like a secret (a key pasted as one)
/// replaced, and control characters (a key with a line break) written as escapes, so the `at`
/// line stays one line.
fn redact_pointer(ptr: &str) -> String {
    let shown = if super::shapes::hidden_secret(ptr).is_none() {
        ptr.to_owned()
    } else {
        ptr.split('/')
            .map(|seg| redact(seg).into_owned())
            .collect::<Vec<_>>()
            .join("/")
    };
    if !shown.chars().any(char::is_control) {
        return shown;
    }
    shown
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Renders every diagnostic against the spec's text, finding each source line through an index
/// built once (looking each up from the start made thousands of findings quadratic).
pub fn render_all<'a>(
    diags: impl IntoIterator<Item = &'a Diagnostic>,
    file: &str,
    source: &str,
    color: bool,
) -> String {
    let lines: Vec<&str> = source.lines().collect();
    diags
        .into_iter()
        .map(|d| {
            let line = (d.pos.line as usize)
                .checked_sub(1)
                .and_then(|i| lines.get(i).copied());
            d.render_at(file, line, color)
        })
        .collect()
}

/// A message on one line: a value quoted from the spec may hold a line break or another control
/// character, shown escaped (`\n`) so the report keeps its shape.
fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// Sorts diagnostics by position, then code, so output is stable whatever order checks ran in.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.severity, a.pos, a.code, &a.path, &a.message)
            .cmp(&(b.severity, b.pos, b.code, &b.path, &b.message))
    });
}
