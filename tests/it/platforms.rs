//! The platform matrix: every golden fleet rendered for each supported platform (the Flux
//! flavour, Argo CD, and the oldest and newest controller versions runnergen supports, plus
//! ESO's `nullBytePolicy` era), every custom resource validated strictly (an unknown field is
//! an error, as on a structural CRD without unknown-field preservation) against the CRD of
//! that version (`schema/vendor/crd-versions`, provenance in its README), and found to be a
//! fixed point of that version's defaults (an apply-based reconciler sees no drift).

use crate::common::*;
use crate::crd_defaults::assert_fixed_point;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// (name, gitops engine, platform).
fn platforms() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        // What a spec that says nothing renders for: the oldest of everything.
        ("default", "flux", json!({})),
        (
            "flux-upstream-newest",
            "flux",
            json!({"flux": "upstream", "helmController": "v1.6.3", "sourceController": "v1.9.1", "externalSecrets": "v2.9.0"}),
        ),
        (
            "aks-extension-eso-2.3",
            "flux",
            json!({"flux": "aks-extension", "helmController": "v1.6.3", "sourceController": "v1.9.1", "externalSecrets": "v2.3.0"}),
        ),
        ("argocd-oldest", "argocd", json!({})),
        (
            "argocd-newest",
            "argocd",
            json!({"argocd": "v3.5.1", "externalSecrets": "v2.9.0"}),
        ),
    ]
}

/// The vendored version of each controller a platform names (the oldest where it names none).
fn tag(platform: &Value, field: &str, oldest: &str) -> String {
    platform[field].as_str().unwrap_or(oldest).to_owned()
}

/// The schema of a custom resource at the platform's version, made strict: every object that
/// lists its properties allows no other, unless the CRD preserves unknown fields there.
pub(crate) fn schema_for(doc: &Value, platform: &Value) -> Option<Value> {
    let (api, kind) = (doc["apiVersion"].as_str()?, doc["kind"].as_str()?);
    let (group, version) = api.split_once('/')?;
    let tag = match kind {
        "HelmRelease" => tag(platform, "helmController", "v1.0.0"),
        "HelmRepository" => tag(platform, "sourceController", "v1.3.0"),
        "ExternalSecret" | "SecretStore" | "ClusterSecretStore" => {
            tag(platform, "externalSecrets", "v0.16.0")
        }
        "Application" => tag(platform, "argocd", "v2.8.0"),
        _ => return None,
    };
    let path = root()
        .join("schema/vendor/crd-versions")
        .join(group)
        .join(format!("{}_{version}@{tag}.json", kind.to_lowercase()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(serde_json::from_str(&text).unwrap())
}

fn strict(schema: &mut Value) {
    if let Some(o) = schema.as_object_mut() {
        let preserve = o.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
        if o.contains_key("properties") && !o.contains_key("additionalProperties") && !preserve {
            o.insert("additionalProperties".into(), json!(false));
        }
        for v in o.values_mut() {
            strict(v);
        }
    } else if let Some(a) = schema.as_array_mut() {
        a.iter_mut().for_each(strict);
    }
}

#[test]
fn every_golden_fleet_applies_on_every_supported_platform() {
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for tree in golden_trees() {
        let folder = tree.parent().unwrap().to_owned();
        let spec_path = if tree.ends_with("out") {
            root().join("fixtures/ascode/runners.yaml")
        } else {
            folder.join("runners.yaml")
        };
        let spec_folder = spec_path.parent().unwrap().to_owned();
        let text = std::fs::read_to_string(&spec_path).unwrap();
        let base: Value = serde_saphyr::from_str(&text).unwrap();
        for (name, engine, platform) in platforms() {
            let mut spec = base.clone();
            spec["platform"] = platform.clone();
            if base["gitops"]["engine"] != "plain" {
                spec["gitops"]["engine"] = json!(engine);
            }
            let text = serde_json::to_string(&spec).unwrap();
            let folder = spec_folder.clone();
            let files = move |n: &str| std::fs::read_to_string(folder.join(n));
            let rendered = runnergen::compile::compile_with("runners.yaml", &text, &files)
                .unwrap_or_else(|e| panic!("{} on {name}: {e}", spec_path.display()));
            for (path, bytes) in rendered.iter() {
                if !path.ends_with(".yaml") {
                    continue;
                }
                let docs = runnergen::readback::yaml_values(std::str::from_utf8(bytes).unwrap());
                for doc in docs.unwrap() {
                    let Some(mut schema) = schema_for(&doc, &platform) else {
                        continue;
                    };
                    let at = format!("{} {path} on {name}", spec_path.display());
                    assert_fixed_point(&schema, &doc, &at);
                    strict(&mut schema);
                    let validator = jsonschema::validator_for(&schema).unwrap();
                    let errors: Vec<String> = validator
                        .iter_errors(&doc)
                        .map(|e| format!("{} at {}", e, e.instance_path()))
                        .collect();
                    assert!(errors.is_empty(), "{at}: {errors:?}");
                    *checked
                        .entry(format!("{name} {}", doc["kind"].as_str().unwrap()))
                        .or_default() += 1;
                }
            }
        }
    }
    // Each platform's kinds were all seen.
    for (name, engine, _) in platforms() {
        let install = if engine == "flux" {
            vec!["HelmRelease", "HelmRepository"]
        } else {
            vec!["Application"]
        };
        for kind in
            install
                .into_iter()
                .chain(["ExternalSecret", "ClusterSecretStore", "SecretStore"])
        {
            assert!(
                checked.contains_key(&format!("{name} {kind}")),
                "{name}: no {kind} checked: {checked:?}"
            );
        }
    }
}
