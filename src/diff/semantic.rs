//! Semantic comparison of two versions of a file: per document (a Kubernetes object, a JSON or
//! TOML file), per key path, insensitive to key order and formatting; a unified text diff for
//! context; anything that looks like a secret masked in all of it.

use super::Status;
use crate::readback;
use crate::spec::secrets::hidden_secret;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// Declared in the spec as an intended difference between environments.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expected: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceChange {
    /// `Kind/namespace/name` for Kubernetes objects, the document's role otherwise.
    pub resource: String,
    pub status: Status,
    pub fields: Vec<FieldChange>,
}

// ---- masking ---------------------------------------------------------------------------------

/// What replaces a secret in every format `diff` prints.
pub const MASK: &str = "***masked***";

fn secret(s: &str) -> bool {
    hidden_secret(s).is_some()
}

/// `text` with every word that looks like a secret masked, as [`mask`] masks values.
pub fn mask_words(text: &str) -> String {
    match crate::spec::shapes::redact(text) {
        std::borrow::Cow::Borrowed(t) => t.to_owned(),
        std::borrow::Cow::Owned(t) => t.replace(crate::spec::shapes::REDACTED, MASK),
    }
}

/// Replaces anything that looks like a secret, in values and in keys.
pub fn mask(v: &Value) -> Value {
    match v {
        Value::String(s) if secret(s) => Value::String(MASK.into()),
        Value::Array(a) => Value::Array(a.iter().map(mask).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    let k = if secret(k) {
                        format!("{MASK}{i}")
                    } else {
                        k.clone()
                    };
                    (k, mask(v))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A file's text with every line that holds a secret replaced, before it is diffed: whole
/// PEM blocks, lines whose decoded or joined text looks like a secret, and pairs of lines that
/// only together spell one (a token split by a line continuation).
pub(super) fn mask_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut masked = vec![false; lines.len()];
    let mut in_pem = false;
    for (i, line) in lines.iter().enumerate() {
        if line.contains("-----BEGIN") {
            in_pem = true;
        }
        masked[i] = in_pem || secret(line);
        if line.contains("-----END") {
            in_pem = false;
        }
    }
    for i in 1..lines.len() {
        if masked[i - 1] || masked[i] {
            continue;
        }
        let tail = lines[i - 1].trim_end_matches(['\\', '"', '\'', ' ', '+']);
        let head = lines[i].trim_start_matches([' ', '\t', '"', '\'', '+', '\\']);
        if secret(&format!("{tail}{head}")) {
            masked[i - 1] = true;
            masked[i] = true;
        }
    }
    let mut out = String::with_capacity(text.len());
    for (line, m) in lines.iter().zip(masked) {
        if m {
            let indent = line.len() - line.trim_start().len();
            out.push_str(&line[..indent]);
            out.push_str(MASK);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

// ---- key paths -------------------------------------------------------------------------------

fn key_segment(k: &str) -> String {
    if secret(k) {
        format!("[{MASK}]")
    } else if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!(".{k}")
    } else {
        format!("[{}]", serde_json::to_string(k).unwrap_or_default())
    }
}

/// Flattens a document to leaf paths. Lists of objects that all carry a distinct `name` are
/// keyed by it, so inserting an element does not shift every later index.
pub fn flatten(v: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, c) in o {
                flatten(c, &format!("{prefix}{}", key_segment(k)), out);
            }
        }
        Value::Array(a)
            if !a.is_empty() && a.iter().all(Value::is_string) && {
                let set: BTreeSet<&str> = a.iter().filter_map(Value::as_str).collect();
                set.len() == a.len()
            } =>
        {
            // A list of distinct strings (tags, file lists) compares as a set: one entry per member.
            for s in a.iter().filter_map(Value::as_str) {
                out.insert(
                    format!("{prefix}[{}]", serde_json::to_string(s).unwrap_or_default()),
                    Value::Bool(true),
                );
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let names: Vec<Option<&str>> = a
                .iter()
                .map(|e| e.get("name").and_then(Value::as_str))
                .collect();
            let distinct: BTreeSet<&str> = names.iter().flatten().copied().collect();
            let keyed = names.iter().all(Option::is_some) && distinct.len() == a.len();
            for (i, c) in a.iter().enumerate() {
                let seg = match (keyed, names[i]) {
                    (true, Some(n)) => format!("[name={n}]"),
                    _ => format!("[{i}]"),
                };
                flatten(c, &format!("{prefix}{seg}"), out);
            }
        }
        leaf => {
            out.insert(
                if prefix.is_empty() {
                    ".".into()
                } else {
                    prefix.to_owned()
                },
                leaf.clone(),
            );
        }
    }
}

pub fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(old, "", &mut a);
    flatten(new, "", &mut b);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange {
            path: k.clone(),
            old: a.get(k).map(mask),
            new: b.get(k).map(mask),
            expected: false,
        })
        .collect()
}

// ---- documents -------------------------------------------------------------------------------

/// The documents of a file, each with an identity, as JSON.
fn documents(path: &str, bytes: &[u8]) -> Option<Vec<(String, Value)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let file = path.rsplit('/').next().unwrap_or(path);
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        let mut docs = Vec::new();
        for (i, doc) in readback::yaml_documents(text).enumerate() {
            let v: Value = serde_saphyr::from_str(doc).ok()?;
            if v.is_null() {
                continue;
            }
            let kind = v.get("kind").and_then(Value::as_str);
            let meta = v.get("metadata");
            let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
            let ns = meta
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str);
            let id = match (kind, ns, name) {
                (Some(k), Some(ns), Some(n)) => format!("{k}/{ns}/{n}"),
                (Some(k), None, Some(n)) => format!("{k}/{n}"),
                (Some(k), _, None) => k.to_owned(),
                _ => format!("{file}#{i}"),
            };
            docs.push((id, v));
        }
        Some(docs)
    } else if path.ends_with(".json") {
        Some(vec![(file.to_owned(), serde_json::from_str(text).ok()?)])
    } else if path.ends_with(".toml") {
        let t: toml::Table = text.parse().ok()?;
        Some(vec![(file.to_owned(), serde_json::to_value(t).ok()?)])
    } else {
        None
    }
}

/// What changed in each document of a file; nothing when either side does not parse.
pub(super) fn resource_changes(
    path: &str,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Vec<ResourceChange> {
    let parse = |b: Option<&[u8]>| b.map(|b| documents(path, b));
    let (a, b) = match (parse(old), parse(new)) {
        (Some(None), _) | (_, Some(None)) => return Vec::new(),
        (a, b) => (
            a.flatten().unwrap_or_default(),
            b.flatten().unwrap_or_default(),
        ),
    };
    let a: BTreeMap<String, Value> = a.into_iter().collect();
    let b: BTreeMap<String, Value> = b.into_iter().collect();
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for id in ids {
        let (status, fields) = match (a.get(id), b.get(id)) {
            (Some(x), Some(y)) if x != y => (Status::Changed, field_changes(x, y)),
            (None, Some(_)) => (Status::Added, Vec::new()),
            (Some(_), None) => (Status::Removed, Vec::new()),
            _ => continue,
        };
        out.push(ResourceChange {
            resource: if secret(id) { MASK.into() } else { id.clone() },
            status,
            fields,
        });
    }
    out
}

/// A unified diff with three lines of context, secrets masked on both sides first.
pub(super) fn text_diff(old: &[u8], new: &[u8]) -> String {
    let a = mask_text(&String::from_utf8_lossy(old));
    let b = mask_text(&String::from_utf8_lossy(new));
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flatten_keys_named_lists() {
        let mut m = BTreeMap::new();
        flatten(
            &json!({"a": [{"name": "x", "v": 1}, {"name": "y", "v": 2}], "b": {"c.d": true}}),
            "",
            &mut m,
        );
        assert_eq!(m.get(".a[name=x].v"), Some(&json!(1)));
        assert_eq!(m.get(".b[\"c.d\"]"), Some(&json!(true)));
    }

    #[test]
    fn field_changes_ignore_key_order() {
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": {"a": 1, "b": 2}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y": {"b": 2, "a": 1}, "x": 1}"#).unwrap();
        assert!(field_changes(&a, &b).is_empty());
        let c: Value = serde_json::from_str(r#"{"y": {"b": 3, "a": 1}, "x": 1}"#).unwrap();
        assert_eq!(
            field_changes(&a, &c),
            vec![FieldChange {
                path: ".y.b".into(),
                old: Some(json!(2)),
                new: Some(json!(3)),
                expected: false,
            }]
        );
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask(&json!({"t": "glrt-AAAAAAAAAAAAAAAAAAAAAA"})),
            json!({"t": "***masked***"})
        );
        assert_eq!(
            mask_text("  token = \"glpat-AAAAAAAAAAAAAAAAAAAA\"\n"),
            "  ***masked***\n"
        );
        let pem = "key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEowIBAAKCAQEA\n  -----END RSA PRIVATE KEY-----\nnext: 1\n";
        assert_eq!(
            mask_text(pem),
            "key: |\n  ***masked***\n  ***masked***\n  ***masked***\nnext: 1\n"
        );
        let split = "t = \"glrt-AAAAAAAA\" \\\n    \"BBBBBBBBBB\"\nok = 1\n";
        assert_eq!(mask_text(split), "***masked***\n    ***masked***\nok = 1\n");
        assert_eq!(
            mask_text("x: glrt\\x2dAAAAAAAAAAAAAAAAAAAA\n"),
            "***masked***\n"
        );
        assert_eq!(
            mask(&json!({"glrt-AAAAAAAAAAAAAAAAAAAA": 1})),
            json!({"***masked***0": 1})
        );
    }

    #[test]
    fn documents_are_keyed_by_kind_namespace_and_name() {
        let yaml = b"# header\nkind: Role\nmetadata: {name: r, namespace: ns}\n---\nkind: ClusterRoleBinding\nmetadata: {name: c}\n";
        let old = b"kind: Role\nmetadata: {name: r, namespace: ns}\n";
        let changes = resource_changes("ss/tf/rbac.yaml", Some(old), Some(yaml));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].resource, "ClusterRoleBinding/c");
        assert_eq!(changes[0].status, Status::Added);
    }
}
