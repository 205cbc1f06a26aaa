//! The shape of `src/`: the module graph drawn from the code's own paths (`use crate::…`,
//! `crate::…`, `super::…` in code that is not a test) has no circle, and no source file grows
//! past what a reader can hold. ARCHITECTURE.md promises that data flows one way; these tests
//! keep it so when a new import would close a circle.

use crate::common::root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A non-test source file longer than this is to be split (ARCHITECTURE.md, "Code map").
const MAX_LINES: usize = 600;
/// A function a reader must hold whole stays within this many lines.
const MAX_FN_LINES: usize = 80;

/// Every `.rs` file under `src/` that is not test code, as (module path, code without tests).
fn sources() -> BTreeMap<Vec<String>, String> {
    let src = root().join("src");
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let Some(module) = module_of(rel) else {
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap();
        out.insert(module, code_of(&text));
    }
    out
}

/// The module path a file defines (`render/azure/mod.rs` → `[render, azure]`), or None for the
/// crate roots and test-only files.
fn module_of(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    let root = parts.is_empty() && matches!(stem, "lib" | "main");
    if root || matches!(stem, "tests" | "testing") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    Some(parts)
}

/// The text without comments, string literals and the `#[cfg(test)]` items that follow the
/// code (a file's own `mod tests`).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && c == '\\' { ' ' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_str = true;
                prev = ' ';
                continue;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// Every path the code names from `crate`, `super` or `self`, with `use` groups expanded:
/// `use crate::{a::B, c};` gives `crate::a::B` and `crate::c`.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|p| matches_at(&bytes, i, p));
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let Some(prefix) = starts.filter(|_| boundary) else {
            i += 1;
            continue;
        };
        let head = prefix.trim_end_matches("::").to_owned();
        let (tails, end) = path_tail(&bytes, i + prefix.len());
        for t in tails {
            let mut p = vec![head.clone()];
            p.extend(t);
            out.push(p);
        }
        i = end.max(i + 1);
    }
    out
}

fn matches_at(text: &[char], at: usize, pat: &str) -> bool {
    pat.chars()
        .enumerate()
        .all(|(k, c)| text.get(at + k) == Some(&c))
}

/// The segments after `crate::` at `at`, expanding one `{…}` group (nested groups too); returns
/// the paths and where the path ends.
fn path_tail(text: &[char], mut at: usize) -> (Vec<Vec<String>>, usize) {
    let mut segs = Vec::new();
    loop {
        while text.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        if text.get(at) == Some(&'{') {
            let mut all = Vec::new();
            at += 1;
            loop {
                let (tails, end) = path_tail(text, at);
                for t in tails {
                    let mut p = segs.clone();
                    p.extend(t);
                    all.push(p);
                }
                at = end;
                while text.get(at).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    at += 1;
                }
                match text.get(at) {
                    Some('}') => return (all, at + 1),
                    None => return (all, at),
                    _ => {}
                }
            }
        }
        let start = at;
        while text
            .get(at)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        {
            at += 1;
        }
        if at == start {
            return (vec![segs], at);
        }
        segs.push(text[start..at].iter().collect());
        if matches_at(text, at, "::") {
            at += 2;
        } else {
            return (vec![segs], at);
        }
    }
}

/// The module a path names: the longest prefix that is a module of the crate, resolving
/// `super` and `self` against the module the path is written in.
fn target(
    from: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut base: Vec<String> = match path.first()?.as_str() {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        "super" => from[..from.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    let mut best = None;
    let mut cur = base.clone();
    if modules.contains(&cur) {
        best = Some(cur.clone());
    }
    for seg in rest {
        cur.push(seg.clone());
        if modules.contains(&cur) {
            best = Some(cur.clone());
        }
    }
    best
}

/// The arrows between modules; a module and its own ancestors (a folder's `mod.rs` declares
/// its files, and they use what it defines) are one place and draw none.
fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let sources = sources();
    let modules: BTreeSet<Vec<String>> = sources.keys().cloned().collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, code) in &sources {
        let set = edges.entry(from.clone()).or_default();
        for path in paths_in(code) {
            let Some(to) = target(from, &path, &modules) else {
                continue;
            };
            let related = from.starts_with(&to) || to.starts_with(from);
            if !related {
                set.insert(to);
            }
        }
    }
    edges
}

/// The first circle found, as the modules on it.
fn circle(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let at = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut ring: Vec<String> = stack[at..].iter().map(|n| n.join("::")).collect();
                ring.push(node.join("::"));
                return Some(ring);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, marks, stack) {
                return Some(found);
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if let Some(found) = visit(node, edges, &mut marks, &mut Vec::new()) {
            return Some(found);
        }
    }
    None
}

/// The top-level module of each arrow: `render::kubernetes` → `readback` is `render` → `readback`.
fn top_level(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut out: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, tos) in edges {
        let f = vec![from[0].clone()];
        let set = out.entry(f.clone()).or_default();
        for to in tos {
            let t = vec![to[0].clone()];
            if t != f {
                set.insert(t);
            }
        }
    }
    out
}

#[test]
fn the_module_graph_has_no_circle() {
    let edges = graph();
    assert!(
        edges.len() > 20,
        "the source walk found too few modules: {:?}",
        edges.keys().collect::<Vec<_>>()
    );
    if let Some(ring) = circle(&edges) {
        panic!(
            "modules import each other in a circle: {}. Move what both need into a module below both (ARCHITECTURE.md)",
            ring.join(" -> ")
        );
    }
}

#[test]
fn the_top_level_modules_form_layers() {
    let edges = top_level(&graph());
    if let Some(ring) = circle(&edges) {
        panic!(
            "top-level modules import each other in a circle: {}. Data flows one way (ARCHITECTURE.md)",
            ring.join(" -> ")
        );
    }
}

#[test]
fn the_graph_reader_sees_what_the_code_names() {
    let code = code_of(
        "use crate::{model::{Fleet, Runner}, spec::Diagnostic};\n// crate::lint\nlet x = \"crate::cli\";\nsuper::super::facts::X;\n#[cfg(test)]\nmod tests { use crate::cli; }\n",
    );
    let paths: Vec<String> = paths_in(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "crate::model::Fleet",
            "crate::model::Runner",
            "crate::spec::Diagnostic",
            "super::super::facts::X",
        ]
    );
    let modules: BTreeSet<Vec<String>> = [vec![], vec!["facts".into()], vec!["render".into()]]
        .into_iter()
        .collect();
    let from = ["render".to_owned(), "azure".to_owned()];
    let to = target(
        &from,
        &["super".into(), "super".into(), "facts".into(), "X".into()],
        &modules,
    );
    assert_eq!(to, Some(vec!["facts".to_owned()]));
    let ring = circle(
        &[
            (vec!["a".to_owned()], [vec!["b".to_owned()]].into()),
            (vec!["b".to_owned()], [vec!["a".to_owned()]].into()),
        ]
        .into(),
    );
    assert_eq!(ring, Some(vec!["a".into(), "b".into(), "a".into()]));
}

#[test]
fn no_source_file_is_longer_than_a_reader_can_hold() {
    let src = root().join("src");
    let mut long = Vec::new();
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path.strip_prefix(&src).unwrap();
        if path.extension().is_none_or(|e| e != "rs") || module_of(rel).is_none() {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let lines = text
            .lines()
            .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
            .count();
        if lines > MAX_LINES {
            long.push(format!("src/{} ({lines} lines)", rel.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these files (at most {MAX_LINES} lines of code before their tests): {long:?}"
    );
}

/// The functions of `code` longer than [`MAX_FN_LINES`], as (name, first line, lines): a
/// function runs from its `fn` line to the first line at its indentation that closes it.
fn long_functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "fn");
        let is_fn = at.is_some_and(|k| {
            words[..k].iter().all(|w| {
                matches!(*w, "pub" | "const" | "async" | "unsafe" | "extern")
                    || w.starts_with("pub(")
            })
        });
        if !is_fn {
            i += 1;
            continue;
        }
        let name = words[at.unwrap() + 1]
            .split(['(', '<'])
            .next()
            .unwrap_or_default()
            .to_owned();
        // A declaration without a body (a trait's) ends with `;` before any `{`.
        let Some(open) = (i..lines.len()).find(|&j| {
            let t = lines[j].trim_end();
            t.ends_with('{') || t.ends_with(';')
        }) else {
            break;
        };
        if lines[open].trim_end().ends_with(';') {
            i = open + 1;
            continue;
        }
        let close = (open + 1..lines.len())
            .find(|&j| {
                let l = lines[j];
                l.len() > indent && l[indent..].starts_with('}') && l[..indent].trim().is_empty()
            })
            .unwrap_or(lines.len() - 1);
        let length = close - i + 1;
        if length > MAX_FN_LINES {
            out.push((name, i + 1, length));
        }
        i = close + 1;
    }
    out
}

#[test]
fn no_function_is_longer_than_a_reader_can_hold() {
    let mut long = Vec::new();
    for (module, code) in sources() {
        for (name, line, length) in long_functions(&code) {
            long.push(format!(
                "{}::{name} (line {line}, {length} lines)",
                module.join("::")
            ));
        }
    }
    assert!(
        long.is_empty(),
        "split these functions (at most {MAX_FN_LINES} lines each): {long:?}"
    );
    let sample = format!(
        "pub fn short() {{\n}}\n\nfn long(x: u8) -> u8 {{\n{}}}\n",
        "    x;\n".repeat(MAX_FN_LINES)
    );
    assert_eq!(
        long_functions(&sample),
        [("long".to_owned(), 4, MAX_FN_LINES + 2)]
    );
}
