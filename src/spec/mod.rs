//! Reading and checking a fleet spec: YAML with locations, then the JSON Schema, then the
//! semantic rules. The output is a typed [`Spec`] the model can trust, or every problem at once.
//!
//! Architecture invariant: nothing here derives a name or applies a default; that is `model`'s.

mod acknowledge;
pub mod check;
pub mod code;
pub mod diag;
pub mod escape;
mod identity;
pub mod instances;
pub mod locate;
pub mod problem;
mod promotion;
pub mod reference;
pub mod schema;
pub mod secrets;
pub mod shapes;
pub mod subject;
pub mod types;
pub mod values;
pub mod yaml;

pub use diag::{Code, Diagnostic, RuleId};
pub use locate::{finish, key_pos, pos};
pub use problem::{Anchor, Problem};
use std::collections::{BTreeMap, BTreeSet};
pub use types::*;
use yaml::{Pos, SourceMap};

/// A spec that passed every check, with what is needed to point back into it. Reads as its
/// [`Spec`], which is all the model takes.
#[derive(Debug)]
pub struct Checked {
    pub spec: Spec,
    pub map: SourceMap,
}

impl std::ops::Deref for Checked {
    type Target = Spec;
    fn deref(&self) -> &Spec {
        &self.spec
    }
}

/// A spec that failed its checks: what the parser and the secret scans found (located as they
/// read, from the text and the located tree), the problems of the schema and the semantic
/// rules (by pointer), and the map to locate those against ([`locate::report`]).
#[derive(Debug)]
pub struct Rejected {
    pub map: SourceMap,
    pub located: Vec<Diagnostic>,
    pub problems: Vec<Problem>,
}

impl Rejected {
    fn located(located: Vec<Diagnostic>) -> Self {
        Rejected {
            map: SourceMap::new(),
            located,
            problems: Vec::new(),
        }
    }

    /// Every problem located and finished, sorted by position ([`locate::report`]).
    pub fn report(self) -> Vec<Diagnostic> {
        locate::report(&self.map, self.problems, self.located)
    }
}

/// Parses and checks spec text. On failure, every diagnostic found, sorted by position.
pub fn load(text: &str) -> Result<Checked, Vec<Diagnostic>> {
    read(text).map_err(Rejected::report)
}

/// Parses and checks spec text. On failure, what was found, the problems not yet located.
pub fn read(text: &str) -> Result<Checked, Rejected> {
    let tree = match yaml::parse(text) {
        Ok(t) => t,
        Err(e) => {
            let pos = e.pos.unwrap_or(Pos { line: 1, col: 1 });
            return Err(Rejected::located(vec![
                Diagnostic::error(Code::E001, pos, "", e.message).hint(e.hint.unwrap_or(
                    "runnergen reads one YAML document of at most 8 MiB, without duplicate keys",
                )),
            ]));
        }
    };
    let mut map = SourceMap::new();
    let doc = tree.to_json(&mut map);
    // The secret scans and the schema are independent reads of the document: on two cores.
    // The scans read positions from the located tree; the schema names pointers.
    let (mut diags, refused) = rayon::join(
        || {
            let mut d = secrets::scan(&tree);
            d.extend(secrets::scan_comments(text));
            d
        },
        || schema::validate(&doc),
    );
    // The located tree has served the scans; the document and the map hold the rest.
    drop(tree);
    if doc.is_null() {
        diags.push(
            Diagnostic::error(Code::E004, Pos { line: 1, col: 1 }, "", "the spec is empty")
                .hint("start from `runnergen schema` or `runnergen init`'s starter spec"),
        );
        return Err(Rejected::located(diags));
    }
    let env_keys: BTreeSet<String> = doc
        .get("environments")
        .and_then(|e| e.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    if !diags.is_empty() || !refused.is_empty() {
        return Err(partly(&doc, map, diags, refused, &env_keys));
    }
    // Read from the document, which stays for the runner entries (no copy of them).
    let mut spec: Spec = match serde_path_to_error::deserialize(&doc) {
        Ok(s) => s,
        Err(e) => {
            // What JSON Schema accepts but the types do not, such as `1.0` for an integer:
            // reported at the value, with the path serde took to it.
            let problem = Problem::error(Code::E004, error_path(&e), e.inner().to_string())
                .hint("write whole numbers without a decimal point");
            return Err(Rejected {
                map,
                located: Vec::new(),
                problems: vec![problem],
            });
        }
    };
    let mut problems = Vec::new();
    spec.instances = instances::expand(doc.get("runners"), &mut map, true, &mut problems);
    drop(doc);
    problems.extend(check::check(&spec, &env_keys));
    if !problems.is_empty() {
        return Err(Rejected {
            map,
            located: Vec::new(),
            problems,
        });
    }
    // Every later stage reads the instances (see `Spec::instances`).
    spec.runners = BTreeMap::new();
    Ok(Checked { spec, map })
}

/// A spec the schema refused in part, or that holds a secret: the semantic rules still run on
/// every part that has the right shape, so that one run reports every problem (the values the
/// schema refused are left out, the rest is read).
fn partly(
    doc: &serde_json::Value,
    mut map: SourceMap,
    diags: Vec<Diagnostic>,
    refused: Vec<Problem>,
    env_keys: &BTreeSet<String>,
) -> Rejected {
    let pruned = prune(doc, &refused);
    let mut partial = partial_spec(&pruned);
    // Not strict: an instance that does not read is left out, the schema having said why.
    partial.instances = instances::expand(pruned.get("runners"), &mut map, false, &mut Vec::new());
    let semantic = check::check(&partial, env_keys);
    // One report per value: where a semantic rule speaks about a value the schema also
    // refused (a role, a Graph permission, a GUID, the issuer), its code and hint win.
    let spoken: BTreeSet<String> = semantic
        .iter()
        .map(|d| instances::source_path(&map, &d.path).unwrap_or_else(|| d.path.clone()))
        .collect();
    let mut problems: Vec<Problem> = refused
        .into_iter()
        .filter(|p| p.code != Code::E005 || !spoken.contains(&p.path))
        .collect();
    problems.extend(semantic);
    Rejected {
        map,
        located: diags,
        problems,
    }
}

/// The JSON pointer serde took to a value it refused.
fn error_path<E>(e: &serde_path_to_error::Error<E>) -> String {
    e.path()
        .iter()
        .filter_map(|seg| match seg {
            serde_path_to_error::Segment::Map { key } => Some(format!("/{}", ptr_key(key))),
            serde_path_to_error::Segment::Seq { index } => Some(format!("/{index}")),
            _ => None,
        })
        .collect()
}

/// The document without the values the schema refused that could not be read, so that what is
/// left deserializes: an unknown or ill-typed field of a mapping, or a choice not among its
/// values, is dropped; a bad list entry drops its list (the entries after it would otherwise
/// move).
fn prune(doc: &serde_json::Value, refused: &[Problem]) -> serde_json::Value {
    let mut doc = doc.clone();
    for d in refused {
        // A missing field has nothing to drop; a string the schema refuses by its form stays,
        // for the semantic rules to say what is wrong with it.
        let keep = d.code == Code::E005 && !schema::is_choice(&d.path);
        if d.code == Code::E003 || d.path.is_empty() || keep {
            continue;
        }
        let mut path = d.path.as_str();
        // The nearest ancestor that is a mapping's field.
        while let Some((parent, last)) = path.rsplit_once('/') {
            let in_list = doc.pointer(parent).is_some_and(|v| v.is_array());
            if !in_list {
                if let Some(obj) = doc.pointer_mut(parent).and_then(|v| v.as_object_mut()) {
                    obj.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                break;
            }
            path = parent;
        }
    }
    doc
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
        fleet: None,
        gitlab: Gitlab { url: String::new() },
        chart: part(doc, "chart"),
        gitops: part(doc, "gitops"),
        platform: part(doc, "platform"),
        token_source: part(doc, "tokenSource"),
        naming: part(doc, "naming"),
        environments: entries(doc, "environments"),
        runners: entries(doc, "runners"),
        instances: Vec::new(),
        promotion: part(doc, "promotion"),
    }
}

/// Escapes a map key for use in a JSON pointer.
pub fn ptr_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Appends `/<key>` to the pointer `ptr`, escaping the key only when it needs it.
pub fn push_ptr_key(ptr: &mut String, key: &str) {
    ptr.push('/');
    if key.contains(['~', '/']) {
        ptr.push_str(&ptr_key(key));
    } else {
        ptr.push_str(key);
    }
}
