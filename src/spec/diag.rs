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
    /// The [`Code`] as printed: text, so that what reads diagnostics (tests, the README's
    /// table) compares them as the user sees them.
    pub code: &'static str,
    pub pos: Pos,
    /// JSON pointer of the offending value in the spec (`/runners/tf/identity`), `` for the root.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: impl Into<&'static str>,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            Severity::Error,
            code.into(),
            pos,
            path.into(),
            message.into(),
        )
    }

    pub fn warning(
        code: impl Into<&'static str>,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            Severity::Warning,
            code.into(),
            pos,
            path.into(),
            message.into(),
        )
    }

    pub fn note(
        code: impl Into<&'static str>,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(
            Severity::Note,
            code.into(),
            pos,
            path.into(),
            message.into(),
        )
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

/// Every code runnergen reports: errors (E…), lint rules (L…, whose table is `findings::RULES`)
/// and notes (N…). Declared in the order of their text, so that sorting by code sorts as the
/// printed codes do; `as_str` is what every output prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    E001,
    E002,
    E003,
    E004,
    E005,
    E010,
    E011,
    E012,
    E013,
    E014,
    E015,
    E016,
    E017,
    E018,
    E019,
    E020,
    E021,
    E022,
    E023,
    E030,
    E031,
    E040,
    E041,
    E042,
    L001,
    L002,
    L003,
    L004,
    L005,
    L006,
    L007,
    L008,
    L009,
    L010,
    N001,
    N002,
    N003,
}

impl Code {
    /// The lint rules, in order: what an `acknowledge:` entry may name.
    pub const LINT: &[Code] = &[
        Code::L001,
        Code::L002,
        Code::L003,
        Code::L004,
        Code::L005,
        Code::L006,
        Code::L007,
        Code::L008,
        Code::L009,
        Code::L010,
    ];

    /// The code as printed (`E005`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::E001 => "E001",
            Code::E002 => "E002",
            Code::E003 => "E003",
            Code::E004 => "E004",
            Code::E005 => "E005",
            Code::E010 => "E010",
            Code::E011 => "E011",
            Code::E012 => "E012",
            Code::E013 => "E013",
            Code::E014 => "E014",
            Code::E015 => "E015",
            Code::E016 => "E016",
            Code::E017 => "E017",
            Code::E018 => "E018",
            Code::E019 => "E019",
            Code::E020 => "E020",
            Code::E021 => "E021",
            Code::E022 => "E022",
            Code::E023 => "E023",
            Code::E030 => "E030",
            Code::E031 => "E031",
            Code::E040 => "E040",
            Code::E041 => "E041",
            Code::E042 => "E042",
            Code::L001 => "L001",
            Code::L002 => "L002",
            Code::L003 => "L003",
            Code::L004 => "L004",
            Code::L005 => "L005",
            Code::L006 => "L006",
            Code::L007 => "L007",
            Code::L008 => "L008",
            Code::L009 => "L009",
            Code::L010 => "L010",
            Code::N001 => "N001",
            Code::N002 => "N002",
            Code::N003 => "N003",
        }
    }

    /// The lint rule with this ID, if it is one.
    pub fn lint_rule(id: &str) -> Option<Code> {
        Code::LINT.iter().copied().find(|c| c.as_str() == id)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Diagnostic`]'s constructors take: a `Code`, or (where a test writes one) its text.
impl From<Code> for &'static str {
    fn from(code: Code) -> Self {
        code.as_str()
    }
}

impl PartialEq<String> for Code {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Every error and note code runnergen can report, with what it means (lint rules have their
/// own table, `findings::RULES`). The README's table is checked against it.
pub const CODES: &[(&str, &str)] = &[
    (
        Code::E001.as_str(),
        "the spec is not valid YAML, or exceeds a reading budget (size, depth, aliases)",
    ),
    (Code::E002.as_str(), "unknown field"),
    (Code::E003.as_str(), "missing required field"),
    (Code::E004.as_str(), "wrong type"),
    (
        Code::E005.as_str(),
        "value not allowed (not one of the choices, out of range, or malformed)",
    ),
    (
        Code::E010.as_str(),
        "reference to an unknown environment or subscription alias",
    ),
    (
        Code::E011.as_str(),
        "exactly one of several alternatives must be given",
    ),
    (Code::E012.as_str(), "malformed GUID"),
    (Code::E013.as_str(), "malformed OIDC issuer URL"),
    (Code::E014.as_str(), "unknown Azure role"),
    (Code::E015.as_str(), "unknown Microsoft Graph permission"),
    (Code::E016.as_str(), "malformed Azure resource ID"),
    (Code::E017.as_str(), "chart version too old"),
    (
        Code::E018.as_str(),
        "an acknowledgement names no lint rule, or gives no reason",
    ),
    (
        Code::E019.as_str(),
        "the Key Vault store would need more federated credentials than Azure allows",
    ),
    (
        Code::E020.as_str(),
        "a derived name is invalid where it is used",
    ),
    (Code::E021.as_str(), "two runners derive the same name"),
    (
        Code::E022.as_str(),
        "naming template uses an unknown placeholder",
    ),
    (
        Code::E023.as_str(),
        "a chart value or config.toml key runnergen sets itself",
    ),
    (Code::E030.as_str(), "a literal secret in the spec"),
    (Code::E031.as_str(), "duplicate entry"),
    (
        Code::E040.as_str(),
        "an identityOutputs file cannot be read or is not a deployment's outputs",
    ),
    (
        Code::E041.as_str(),
        "a client ID disagrees with the deployment outputs, or two runners share one",
    ),
    (
        Code::E042.as_str(),
        "a client ID the committed output ties to another identity (a renamed identity)",
    ),
    (
        Code::N001.as_str(),
        "a runner waits for its managed identity's client ID (phase 1 of the rollout)",
    ),
    (
        Code::N002.as_str(),
        "an acknowledgement matches no lint finding on its runner",
    ),
    (
        Code::N003.as_str(),
        "the Key Vault store waits for its managed identity's client ID (phase 1)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting by `Code` sorts as the printed codes do, and each prints as its own name.
    #[test]
    fn codes_sort_and_print_as_their_text() {
        let all: Vec<Code> = CODES
            .iter()
            .map(|(c, _)| *c)
            .chain(Code::LINT.iter().map(|c| c.as_str()))
            .map(|c| {
                *Code::LINT
                    .iter()
                    .chain(ALL_CODES)
                    .find(|k| k.as_str() == c)
                    .expect("a code")
            })
            .collect();
        let mut by_code = all.clone();
        by_code.sort();
        let mut by_text = all.clone();
        by_text.sort_by_key(|c| c.as_str());
        assert_eq!(by_code, by_text);
        for c in &all {
            assert_eq!(format!("{c:?}"), c.as_str());
            assert_eq!(c.to_string(), c.as_str());
        }
    }

    const ALL_CODES: &[Code] = &[
        Code::E001,
        Code::E002,
        Code::E003,
        Code::E004,
        Code::E005,
        Code::E010,
        Code::E011,
        Code::E012,
        Code::E013,
        Code::E014,
        Code::E015,
        Code::E016,
        Code::E017,
        Code::E018,
        Code::E019,
        Code::E020,
        Code::E021,
        Code::E022,
        Code::E023,
        Code::E030,
        Code::E031,
        Code::E040,
        Code::E041,
        Code::E042,
        Code::N001,
        Code::N002,
        Code::N003,
    ];
}
