//! The one locator: problems (a pointer and an [`Anchor`]) become diagnostics with a line and a
//! column, against the spec's source map. `compile::resolve` calls [`report`] for what the spec's
//! rules and the model find; the lint's findings and the rollout notes are placed here too.

use super::diag::{self, Diagnostic};
use super::instances;
use super::problem::{Anchor, Problem};
use super::yaml::{Pos, SourceMap};

/// Where a JSON pointer points in the spec (value position, else the nearest ancestor).
pub fn pos(map: &SourceMap, ptr: &str) -> Pos {
    let mut p = ptr;
    loop {
        if let Some(s) = map.get(p) {
            return s.value;
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None => return Pos { line: 1, col: 1 },
        }
    }
}

/// Where the key of a JSON pointer is (for map entries), else the value position.
pub fn key_pos(map: &SourceMap, ptr: &str) -> Pos {
    map.get(ptr)
        .and_then(|s| s.key)
        .unwrap_or_else(|| pos(map, ptr))
}

/// The position a problem at `path` is shown at.
pub fn position(map: &SourceMap, path: &str, anchor: &Anchor) -> Pos {
    match anchor {
        Anchor::Value => pos(map, path),
        Anchor::Key => key_pos(map, path),
        Anchor::Written { owner } => {
            let nearest = pos(map, path);
            if map.contains_key(path) || nearest != pos(map, owner) {
                nearest
            } else {
                key_pos(map, owner)
            }
        }
    }
}

/// Places `path`: returns its position, and turns the pointer into the one its value is
/// written at (not an instance's, see `instances::source_path`).
pub fn place(map: &SourceMap, path: &mut String, anchor: &Anchor) -> Pos {
    let at = position(map, path, anchor);
    if let Some(p) = instances::source_path(map, path) {
        *path = p;
    }
    at
}

/// One problem as a located diagnostic (its pointer as the problem names it).
pub fn locate(map: &SourceMap, p: Problem) -> Diagnostic {
    let at = position(map, &p.path, &p.anchor);
    let mut d = match p.severity {
        diag::Severity::Error => Diagnostic::error(p.code, at, p.path, p.message),
        diag::Severity::Warning => Diagnostic::warning(p.code, at, p.path, p.message),
        diag::Severity::Note => Diagnostic::note(p.code, at, p.path, p.message),
    };
    d.hint = p.hint;
    d
}

/// Every problem located, with the diagnostics found already located (the parser's, the
/// schema's, the secret scan's), finished: ready to print.
pub fn report(
    map: &SourceMap,
    problems: Vec<Problem>,
    located: Vec<Diagnostic>,
) -> Vec<Diagnostic> {
    let mut diags = located;
    diags.extend(problems.into_iter().map(|p| locate(map, p)));
    finish(map, &mut diags);
    diags
}

/// Diagnostics ready to print: each names the pointer its value is written at (not an
/// instance's, see `instances::source_path`), sorted by position, each once.
pub fn finish(map: &SourceMap, diags: &mut Vec<Diagnostic>) {
    for d in diags.iter_mut() {
        if let Some(p) = instances::source_path(map, &d.path) {
            d.path = p;
        }
    }
    diag::sort(diags);
    diags.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Code;

    fn map(text: &str) -> SourceMap {
        let mut map = SourceMap::new();
        crate::spec::yaml::parse(text)
            .expect("YAML")
            .to_json(&mut map);
        map
    }

    const TEXT: &str = "runners:\n  tf:\n    environment: ss\n    tags: [a]\n";

    /// A value, a key, and a value the spec leaves to its default (shown at its runner's key).
    #[test]
    fn anchors_place_values_keys_and_defaults() {
        let map = map(TEXT);
        let at = |path: &str, anchor: Anchor| position(&map, path, &anchor);
        let runner = || Anchor::Written {
            owner: "/runners/tf".into(),
        };
        assert_eq!(
            at("/runners/tf/tags/0", Anchor::Value),
            Pos { line: 4, col: 12 }
        );
        assert_eq!(at("/runners/tf", Anchor::Key), Pos { line: 2, col: 3 });
        assert_eq!(at("/runners/tf", Anchor::Value), Pos { line: 3, col: 5 });
        assert_eq!(at("/runners/tf/tags/0", runner()), Pos { line: 4, col: 12 });
        assert_eq!(
            at("/runners/tf/privileged", runner()),
            Pos { line: 2, col: 3 }
        );
    }

    /// Problems come out located, sorted by position and each once, whatever order they came in.
    #[test]
    fn a_report_is_located_sorted_and_deduplicated() {
        let map = map(TEXT);
        let tag = || Problem::error(Code::E031, "/runners/tf/tags/0", "twice");
        let key = Problem::error_key(Code::E005, "/runners/tf", "bad key").hint("rename");
        let diags = report(&map, vec![tag(), key, tag()], Vec::new());
        let got: Vec<(&str, u32, u32)> = diags
            .iter()
            .map(|d| (d.code.as_str(), d.pos.line, d.pos.col))
            .collect();
        assert_eq!(got, [("E005", 2, 3), ("E031", 4, 12)]);
        assert_eq!(diags[0].hint.as_deref(), Some("rename"));
    }
}
