//! Argo CD (and any apply-based reconciler) shows an object OutOfSync forever when the API server
//! fills in a default the rendered file lacks. This applies the defaults declared in the
//! vendored CRD schemas of the versions each fleet declares (`platform:`, the oldest supported
//! where it declares none; schema/vendor/crd-versions: ExternalSecret, HelmRelease,
//! HelmRepository, Application, the secret stores) to every custom resource of every golden tree, the way the
//! API server's structural defaulting does (a `default` applies to an absent field of an object
//! that is present), and asserts that nothing changes.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// Fills in, recursively, every `default` the schema declares for a field `v` lacks.
fn apply_defaults(schema: &Value, v: &mut Value) {
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        v.as_object_mut(),
    ) {
        for (key, sub) in props {
            match (obj.get_mut(key), sub.get("default")) {
                (Some(child), _) => apply_defaults(sub, child),
                (None, Some(default)) => {
                    let mut d = default.clone();
                    apply_defaults(sub, &mut d);
                    obj.insert(key.clone(), d);
                }
                (None, None) => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array_mut()) {
        for item in arr {
            apply_defaults(items, item);
        }
    }
}

/// Asserts that the API server, applying `schema`'s defaults, would add nothing to `doc`
/// (`status` aside: it belongs to the controller; a status subresource ignores it on create).
pub(crate) fn assert_fixed_point(schema: &Value, doc: &Value, at: &str) {
    let mut defaulted = doc.clone();
    apply_defaults(schema, &mut defaulted);
    if let Some(o) = defaulted.as_object_mut() {
        o.remove("status");
    }
    let changes = runnergen::diff::field_changes(doc, &defaulted);
    assert!(
        changes.is_empty(),
        "{at}: the API server would add {:?}",
        changes
            .iter()
            .map(|c| format!("{} = {}", c.path, c.new.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    );
}

/// The `platform` a golden tree was rendered for: its spec's (`out/` is the seed's).
fn declared_platform(tree: &Path) -> Value {
    let spec = if tree.ends_with("out") {
        root().join("fixtures/ascode/runners.yaml")
    } else {
        tree.parent().unwrap().join("runners.yaml")
    };
    let spec: Value = serde_saphyr::from_str(&std::fs::read_to_string(spec).unwrap()).unwrap();
    spec.get("platform").cloned().unwrap_or(Value::Null)
}

#[test]
fn no_custom_resource_is_changed_by_its_crd_defaults() {
    assert!(
        root().join("schema/vendor/crd-versions").is_dir(),
        "schema/vendor/crd-versions is missing: the CRD schemas this test reads"
    );
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for tree in golden_trees() {
        let platform = declared_platform(&tree);
        for entry in walkdir::WalkDir::new(&tree).into_iter().map(|e| e.unwrap()) {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            for doc in runnergen::readback::yaml_values(&text).unwrap() {
                let Some(schema) = crate::platforms::schema_for(&doc, &platform) else {
                    continue;
                };
                let rel = path.strip_prefix(root()).unwrap_or(Path::new("")).display();
                assert_fixed_point(&schema, &doc, &rel.to_string());
                *checked
                    .entry(doc["kind"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    for kind in [
        "ExternalSecret",
        "HelmRelease",
        "HelmRepository",
        "Application",
        "ClusterSecretStore",
        "SecretStore",
    ] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} checked: {checked:?}"
        );
    }
}
