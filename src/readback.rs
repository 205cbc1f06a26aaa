//! Reading rendered files back: YAML documents, config.toml's `[runners.kubernetes]`, the
//! registration request and main.json's access summary. Used by the render invariants, by
//! `diff` for a directory's side, and by tests; the only code that parses what runnergen wrote.

use crate::access::{self, Access};
use crate::layout::{Location, RunnerFile};
use crate::spec::KubernetesAccess;
use crate::vocab;
use serde_json::Value;
use std::collections::BTreeMap;

/// The documents of a multi-document YAML text, as `render::yaml_file` separates them.
pub fn yaml_documents(text: &str) -> impl Iterator<Item = &str> {
    text.split(vocab::DOCUMENT_SEPARATOR)
}

/// Every document of a YAML file, as JSON values.
pub fn yaml_values(text: &str) -> Result<Vec<Value>, String> {
    yaml_documents(text)
        .map(|doc| serde_saphyr::from_str::<Value>(doc).map_err(|e| e.to_string()))
        .collect()
}

/// The documents of a YAML file that parse; a file that is not UTF-8 has none.
fn yaml_values_lossy(bytes: &[u8]) -> Vec<Value> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    yaml_documents(text)
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .collect()
}

/// `[runners.kubernetes]` of the one `[[runners]]` entry of a config.toml.
pub fn runner_kubernetes(config: &toml::Table) -> Option<&toml::Value> {
    config
        .get("runners")?
        .as_array()?
        .first()?
        .get("kubernetes")
}

/// The job pods' Kubernetes access that an rbac.yaml grants.
fn kubernetes_access(rbac: &[Value]) -> KubernetesAccess {
    if rbac
        .iter()
        .any(|d| d["kind"] == "ClusterRoleBinding" && d["roleRef"]["name"] == "cluster-admin")
    {
        KubernetesAccess::ClusterAdmin
    } else if rbac.iter().any(|d| {
        d["kind"] == "RoleBinding"
            && (d["metadata"]["labels"][vocab::JOB_ACCESS_LABEL] == vocab::JOB_ACCESS_JOBS
                // Before job namespaces: the `edit` ClusterRole bound in the runner's namespace.
                || d["roleRef"]["kind"] == "ClusterRole")
    }) {
        KubernetesAccess::Namespace
    } else {
        KubernetesAccess::None
    }
}

/// Where a registration.json sends the runner's token, in the words of [`Access::of`].
fn token_source(registration: &Value) -> String {
    match registration.get("token_destination") {
        Some(d) if d.get("key_vault").is_some() => access::key_vault_source(
            d["key_vault"].as_str().unwrap_or("?"),
            d["secret"].as_str().unwrap_or("?"),
        ),
        Some(d) => {
            access::existing_secret_source(d["kubernetes_secret"]["name"].as_str().unwrap_or("?"))
        }
        None => "unknown".into(),
    }
}

/// An identity of main.json's access summary.
fn identity(id: &Value) -> Option<crate::access::Identity> {
    let s = |k: &str| id[k].as_str().unwrap_or_default().to_owned();
    Some(crate::access::Identity {
        name: id["name"].as_str()?.to_owned(),
        resource_group: s("resourceGroup"),
        subscription_id: s("subscriptionId"),
        client_id: id["clientId"].as_str().map(str::to_owned),
    })
}

/// `metadata.runnergen` of a main template (`render/azure/arm.rs` writes it), read without
/// building the rest of the template: the templates of a large fleet are megabytes.
pub fn main_metadata(bytes: &[u8]) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Main {
        metadata: Option<Metadata>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        runnergen: Option<Value>,
    }
    serde_json::from_slice::<Main>(bytes)
        .ok()?
        .metadata?
        .runnergen
}

/// The access of every runner of a rendered tree, read from its files and keyed by
/// (environment, runner): roles and Graph permissions from main.json's
/// `metadata.runnergen.runners`, the rest from each runner's files.
pub fn access(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<(String, String), Access> {
    let mut out: BTreeMap<(String, String), Access> = BTreeMap::new();
    for (path, bytes) in files {
        match Location::of(path) {
            Location::Azure { env, file } if crate::layout::AzureFile::is_main_json(file) => {
                let Some(v) = main_metadata(bytes) else {
                    continue;
                };
                let Some(runners) = v.get("runners").and_then(Value::as_object) else {
                    continue;
                };
                for (runner, facts) in runners {
                    let a = out.entry((env.to_owned(), runner.clone())).or_default();
                    let strings = |v: Option<&Value>| -> Vec<Value> {
                        v.and_then(Value::as_array).cloned().unwrap_or_default()
                    };
                    for r in strings(facts.get("roles")) {
                        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                        a.roles.insert((s("role"), s("scope")));
                    }
                    for p in strings(facts.get("graphPermissions")) {
                        a.graph.insert(p.as_str().unwrap_or_default().to_owned());
                    }
                    for r in strings(facts.get("managerRoles")) {
                        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                        a.manager_roles.insert((s("role"), s("scope")));
                    }
                    a.identity = identity(&facts["identity"]);
                    a.manager_identity = identity(&facts["managerIdentity"]);
                }
            }
            Location::Runner {
                env,
                runner,
                file: Some(file),
            } => {
                let key = (env.to_owned(), runner.to_owned());
                runner_access(file, bytes, || out.entry(key).or_default());
            }
            _ => {}
        }
    }
    out
}

/// What one runner file says about access, into the entry `entry` gives.
fn runner_access<'a>(file: RunnerFile, bytes: &[u8], entry: impl FnOnce() -> &'a mut Access) {
    match file {
        RunnerFile::Rbac => {
            entry().kubernetes = Some(kubernetes_access(&yaml_values_lossy(bytes)));
        }
        RunnerFile::Config => {
            let config: Option<toml::Table> =
                std::str::from_utf8(bytes).ok().and_then(|t| t.parse().ok());
            // A file that does not parse says nothing about privilege; one that parses and
            // does not set it runs unprivileged pods (gitlab-runner's default).
            if let Some(config) = config {
                let privileged = runner_kubernetes(&config)
                    .and_then(|k| k.get("privileged"))
                    .and_then(toml::Value::as_bool);
                entry().privileged = Some(privileged.unwrap_or(false));
            }
        }
        RunnerFile::Values => {
            if let Some(values) = yaml_values_lossy(bytes).first() {
                entry().runner_name = values["runners"]["name"].as_str().map(str::to_owned);
            }
        }
        RunnerFile::Registration => {
            let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
                return;
            };
            let a = entry();
            a.run_untagged = v["run_untagged"].as_bool();
            a.protected = v["access_level"].as_str().map(|l| l == "ref_protected");
            a.token_source = Some(token_source(&v));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The directory's side of a diff (read back from files) and the spec's side (the model)
    /// describe every runner of every example fleet alike, so a diff of a tree against itself
    /// finds no security change.
    #[test]
    fn access_read_back_is_the_models() {
        let mut fleets = 0;
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")).unwrap() {
            let spec = entry.unwrap().path().join("runners.yaml");
            if !spec.exists() {
                continue;
            }
            let folder = spec.parent().unwrap().to_owned();
            let text = std::fs::read_to_string(&spec).unwrap();
            let files = move |name: &str| std::fs::read_to_string(folder.join(name));
            let fleet = crate::compile::resolve(&text, &files).unwrap().fleet;
            let tree = crate::compile::render(&fleet, "runners.yaml").unwrap();
            let files: BTreeMap<String, Vec<u8>> = tree
                .iter()
                .map(|(p, b)| (p.to_owned(), b.to_vec()))
                .collect();
            let read_back = access(&files);
            let mut expected = BTreeMap::new();
            for env in &fleet.environments {
                for r in &env.runners {
                    expected.insert((env.key.clone(), r.key.clone()), Access::of(&fleet, env, r));
                }
            }
            assert_eq!(read_back, expected, "{}", spec.display());
            fleets += 1;
        }
        assert!(fleets >= 8, "{fleets} example fleets");
    }
}
