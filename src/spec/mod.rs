//! Reading and checking a fleet spec: YAML with locations, then the JSON Schema, then the
//! semantic rules. The output is a typed [`Spec`] the model can trust, or every problem at once.
//!
//! Architecture invariant: nothing here derives a name or applies a default; that is `model`'s.

pub mod check;
pub mod diag;
mod promotion;
pub mod reference;
pub mod schema;
pub mod secrets;
pub mod types;
pub mod values;
pub mod yaml;

pub use diag::Diagnostic;
use std::collections::{BTreeMap, BTreeSet};
pub use types::*;
use yaml::{Pos, SourceMap};

/// A spec that passed every check, with what is needed to point back into it.
#[derive(Debug)]
pub struct Checked {
    pub spec: Spec,
    pub map: SourceMap,
}

/// Parses and checks spec text. On failure, every diagnostic found, sorted by position.
pub fn load(text: &str) -> Result<Checked, Vec<Diagnostic>> {
    let tree = match yaml::parse(text) {
        Ok(t) => t,
        Err(e) => {
            let pos = e.pos.unwrap_or(Pos { line: 1, col: 1 });
            return Err(vec![Diagnostic::error("E001", pos, "", e.message).hint(
                "runnergen reads one YAML document of at most 8 MiB, without duplicate keys",
            )]);
        }
    };
    let mut map = SourceMap::new();
    let doc = tree.to_json(&mut map);
    let mut diags = secrets::scan(&tree);
    diags.extend(secrets::scan_comments(text));
    if doc.is_null() {
        diags.push(
            Diagnostic::error("E004", Pos { line: 1, col: 1 }, "", "the spec is empty")
                .hint("start from `runnergen schema` or the example in the README"),
        );
        diag::sort(&mut diags);
        return Err(diags);
    }
    diags.extend(schema::validate(&doc, &map));
    let env_keys: BTreeSet<String> = doc
        .get("environments")
        .and_then(|e| e.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    if !diags.is_empty() {
        // Semantic rules still run on every part that has the right shape, so that one run
        // reports every problem.
        let partial = partial_spec(&doc);
        diags.extend(check::check(&partial, &map, &env_keys));
        diag::sort(&mut diags);
        diags.dedup();
        return Err(diags);
    }
    let spec: Spec = match serde_path_to_error::deserialize(doc) {
        Ok(s) => s,
        Err(e) => {
            // What JSON Schema accepts but the types do not, such as `1.0` for an integer:
            // reported at the value, with the path serde took to it.
            let ptr: String = e
                .path()
                .iter()
                .filter_map(|seg| match seg {
                    serde_path_to_error::Segment::Map { key } => Some(format!("/{}", ptr_key(key))),
                    serde_path_to_error::Segment::Seq { index } => Some(format!("/{index}")),
                    _ => None,
                })
                .collect();
            return Err(vec![
                Diagnostic::error("E004", pos(&map, &ptr), ptr, e.inner().to_string())
                    .hint("write whole numbers without a decimal point"),
            ]);
        }
    };
    let mut diags = check::check(&spec, &map, &env_keys);
    if !diags.is_empty() {
        diag::sort(&mut diags);
        return Err(diags);
    }
    Ok(Checked { spec, map })
}

/// The parts of a schema-invalid document that deserialize on their own; the rest is left out
/// (sections) or blank (scalars the semantic rules do not read).
fn partial_spec(doc: &serde_json::Value) -> Spec {
    fn part<T: serde::de::DeserializeOwned + Default>(doc: &serde_json::Value, key: &str) -> T {
        doc.get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
    fn entries<T: serde::de::DeserializeOwned>(
        doc: &serde_json::Value,
        key: &str,
    ) -> BTreeMap<String, T> {
        doc.get(key)
            .and_then(|v| v.as_object())
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), serde_json::from_value(v.clone()).ok()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
    Spec {
        version: 1,
        organization: String::new(),
        gitlab: Gitlab { url: String::new() },
        chart: part(doc, "chart"),
        gitops: part(doc, "gitops"),
        token_source: part(doc, "tokenSource"),
        naming: part(doc, "naming"),
        environments: entries(doc, "environments"),
        runners: entries(doc, "runners"),
        promotion: part(doc, "promotion"),
    }
}

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

/// Escapes a map key for use in a JSON pointer.
pub fn ptr_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
