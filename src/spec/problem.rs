//! Problems: what a check found, named by where in the spec it is (a JSON pointer, and whether
//! its key or its value is meant) rather than by line and column. The semantic rules of the
//! spec, the model's checks, the lint's stale acknowledgements and the rollout notes return
//! problems; `spec::locate` places them against the source map, all in one place, so no check
//! needs the map and the model never sees it.

use super::diag::{Code, Severity};

/// Which position of a pointer a problem is shown at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The value (or, when the spec does not write it, its nearest written ancestor's value).
    Value,
    /// The key of the mapping entry (the value when the pointer has no key).
    Key,
    /// The value when the spec writes it; a value left to its default is shown at the key of
    /// `owner` (a runner's pointer) when its nearest written ancestor is `owner` itself, so a
    /// missing field of a runner points at the runner, not at its first field.
    Written { owner: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub code: Code,
    /// JSON pointer into the spec (an instance's, see `spec::instances::source_path`).
    pub path: String,
    pub anchor: Anchor,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    /// An error at the value of `path`.
    pub fn error(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            Severity::Error,
            code,
            path.into(),
            Anchor::Value,
            message.into(),
        )
    }

    /// An error at the key of `path`.
    pub fn error_key(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            Severity::Error,
            code,
            path.into(),
            Anchor::Key,
            message.into(),
        )
    }

    /// A note at the value of `path`.
    pub fn note(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            Severity::Note,
            code,
            path.into(),
            Anchor::Value,
            message.into(),
        )
    }

    /// A note at the key of `path`.
    pub fn note_key(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            Severity::Note,
            code,
            path.into(),
            Anchor::Key,
            message.into(),
        )
    }

    fn new(severity: Severity, code: Code, path: String, anchor: Anchor, message: String) -> Self {
        Problem {
            severity,
            code,
            path,
            anchor,
            message,
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// What the semantic rules found so far; `spec::check` runs them, each in its own module.
#[derive(Default)]
pub(super) struct Ctx {
    out: Vec<Problem>,
}

impl Ctx {
    /// An error at the value of `ptr`.
    pub(super) fn err(&mut self, code: Code, ptr: &str, message: String, hint: String) {
        self.out.push(Problem::error(code, ptr, message).hint(hint));
    }
    /// An error at the key of `ptr`.
    pub(super) fn err_key(&mut self, code: Code, ptr: &str, message: String, hint: String) {
        self.out
            .push(Problem::error_key(code, ptr, message).hint(hint));
    }
    pub(super) fn into_problems(self) -> Vec<Problem> {
        self.out
    }
}
