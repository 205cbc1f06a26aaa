//! Located diagnostics: what went wrong, where, and what to do.
//!
//! Rendered as `file:line:col: error[CODE]: message`, then the JSON path, the source line with a
//! caret and a hint, so a user can fix every problem from one run.

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
    pub code: &'static str,
    pub pos: Pos,
    /// JSON pointer of the offending value in the spec (`/runners/tf/identity`), `` for the root.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, code, pos, path.into(), message.into())
    }

    pub fn warning(
        code: &'static str,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, code, pos, path.into(), message.into())
    }

    pub fn note(
        code: &'static str,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Note, code, pos, path.into(), message.into())
    }

    fn new(
        severity: Severity,
        code: &'static str,
        pos: Pos,
        path: String,
        message: String,
    ) -> Self {
        Diagnostic {
            severity,
            code,
            pos,
            path,
            message,
            hint: None,
        }
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
            self.message
        );
        let path = if self.path.is_empty() {
            "/".to_owned()
        } else {
            self.path.clone()
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
            let _ = writeln!(out, "  {} {h}", paint("36", "= hint:"));
        }
        out
    }
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

/// Sorts diagnostics by position, then code, so output is stable whatever order checks ran in.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.severity, a.pos, a.code, &a.path, &a.message)
            .cmp(&(b.severity, b.pos, b.code, &b.path, &b.message))
    });
}

/// Every code runnergen can report, with what it means. The README's table is checked against it.
pub const CODES: &[(&str, &str)] = &[
    (
        "E001",
        "the spec is not valid YAML, or exceeds a reading budget (size, depth, aliases)",
    ),
    ("E002", "unknown field"),
    ("E003", "missing required field"),
    ("E004", "wrong type"),
    (
        "E005",
        "value not allowed (not one of the choices, out of range, or malformed)",
    ),
    (
        "E010",
        "reference to an unknown environment or subscription alias",
    ),
    ("E011", "exactly one of several alternatives must be given"),
    ("E012", "malformed GUID"),
    ("E013", "malformed OIDC issuer URL"),
    ("E014", "unknown Azure role"),
    ("E015", "unknown Microsoft Graph permission"),
    ("E016", "malformed Azure resource ID"),
    ("E017", "chart version too old"),
    (
        "E018",
        "an acknowledgement names no lint rule, or gives no reason",
    ),
    (
        "E019",
        "the Key Vault store would need more federated credentials than Azure allows",
    ),
    ("E020", "a derived name is invalid where it is used"),
    ("E021", "two runners derive the same name"),
    ("E022", "naming template uses an unknown placeholder"),
    (
        "E023",
        "a chart value or config.toml key runnergen sets itself",
    ),
    ("E030", "a literal secret in the spec"),
    ("E031", "duplicate entry"),
    (
        "E040",
        "an identityOutputs file cannot be read or is not a deployment's outputs",
    ),
    (
        "E041",
        "a client ID disagrees with the deployment outputs, or two runners share one",
    ),
    (
        "E042",
        "a client ID the committed output ties to another identity (a renamed identity)",
    ),
    (
        "N001",
        "a runner waits for its managed identity's client ID (phase 1 of the rollout)",
    ),
    (
        "N002",
        "an acknowledgement matches no lint finding on its runner",
    ),
    (
        "N003",
        "the Key Vault store waits for its managed identity's client ID (phase 1)",
    ),
];
