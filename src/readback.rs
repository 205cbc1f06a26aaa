//! Reading rendered files back: YAML documents, config.toml's `[runners.kubernetes]`, the
//! registration request, main.json's access summary and each runner's [`Access`] from its
//! files, independently of the model (`access::Access::of` is the model's side). Used by the
//! render invariants, by `diff` and `identities` for a committed tree, and by tests; the only
//! code that parses what runnergen wrote. The words it reads by are `vocab`'s, which the
//! renderers write with.

use crate::access::{self, Access, PodSettings, TokenStore, Trigger, Workload};
use crate::layout::{AzureFile, Location, RunnerFile};
use crate::model::Deployments;
use crate::spec::KubernetesAccess;
use crate::vocab::{self, summary};
use k8s_openapi::api::rbac::v1::PolicyRule;
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
        name: id[summary::NAME].as_str()?.to_owned(),
        resource_group: s(summary::RESOURCE_GROUP),
        subscription_id: s(summary::SUBSCRIPTION_ID),
        client_id: id[summary::CLIENT_ID].as_str().map(str::to_owned),
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
/// (environment, runner): roles, Graph permissions and identities from main.json's
/// `metadata.runnergen`, the rest from each runner's files.
pub fn access(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<(String, String), Access> {
    let mut out: BTreeMap<(String, String), Access> = BTreeMap::new();
    // The Key Vault store's identity is in the first shard's main.json only; every runner of
    // the environment reads its token through it.
    let mut stores: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (path, bytes) in files {
        match Location::of(path) {
            Location::Azure { env, file } if AzureFile::is_main_json(file) => {
                let Some(v) = main_metadata(bytes) else {
                    continue;
                };
                // The stack that deploys the identities this template lists, by its name.
                let shard = AzureFile::main_json_shard(file).expect("a main template");
                let stack = Deployments::new(env, shard).main;
                summary_access(env, &stack, &v, &mut out);
                if let Some(name) = v[summary::STORE][summary::IDENTITY][summary::NAME].as_str() {
                    stores.insert(env.to_owned(), (name.to_owned(), stack.clone()));
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
    for ((env, _), a) in &mut out {
        if let Some((name, stack)) = stores.get(env) {
            a.store_identity = Some(name.clone());
            a.store_stack = Some(stack.clone());
        }
    }
    out
}

/// What main.json's access summary (`metadata.runnergen.runners`) says of each runner; the
/// template is the main deployment of `stack`.
fn summary_access(
    env: &str,
    stack: &str,
    metadata: &Value,
    out: &mut BTreeMap<(String, String), Access>,
) {
    let Some(runners) = metadata.get(summary::RUNNERS).and_then(Value::as_object) else {
        return;
    };
    let list = |v: Option<&Value>| -> Vec<Value> {
        v.and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let roles = |v: Option<&Value>| -> Vec<(String, String)> {
        list(v)
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                (s(summary::ROLE), s(summary::SCOPE))
            })
            .collect()
    };
    for (runner, facts) in runners {
        let a = out.entry((env.to_owned(), runner.clone())).or_default();
        a.roles = roles(facts.get(summary::ROLES));
        a.graph = list(facts.get(summary::GRAPH_PERMISSIONS))
            .iter()
            .map(|p| p.as_str().unwrap_or_default().to_owned())
            .collect();
        a.manager_roles = roles(facts.get(summary::MANAGER_ROLES));
        a.identity = identity(&facts[summary::IDENTITY]);
        a.stack = Some(stack.to_owned());
        a.manager_identity = identity(&facts[summary::MANAGER_IDENTITY]);
    }
}

/// The job pods' Pod Security level from a runner's namespace.yaml: of its namespaces the
/// manager's is always baseline, so the most permissive one is the jobs'.
fn job_pod_security(bytes: &[u8]) -> Option<String> {
    yaml_values_lossy(bytes)
        .into_iter()
        .filter_map(|d| {
            d["metadata"]["labels"][vocab::POD_SECURITY_LABEL]
                .as_str()
                .map(str::to_owned)
        })
        .max_by_key(|l| l == "privileged")
}

/// What one runner file says about access, into the entry `entry` gives.
fn runner_access<'a>(file: RunnerFile, bytes: &[u8], entry: impl FnOnce() -> &'a mut Access) {
    match file {
        RunnerFile::Namespace => {
            if let Some(level) = job_pod_security(bytes) {
                entry().pod_security = Some(level);
            }
        }
        RunnerFile::Rbac => {
            let rbac = yaml_values_lossy(bytes);
            let a = entry();
            a.kubernetes = Some(kubernetes_access(&rbac));
            rbac_workload(&rbac, workload(a));
        }
        RunnerFile::Config => {
            let config: Option<toml::Table> =
                std::str::from_utf8(bytes).ok().and_then(|t| t.parse().ok());
            // A file that does not parse says nothing about privilege.
            if let Some(config) = config {
                config_access(&config, entry());
            }
        }
        RunnerFile::Values => {
            if let Some(values) = yaml_values_lossy(bytes).first() {
                let a = entry();
                a.runner_name = values["runners"]["name"].as_str().map(str::to_owned);
                a.chart_values = Some(vocab::chart_values_beyond(values));
                let image = &values["image"];
                a.chart_image = image["image"].as_str().map(|repository| {
                    access::chart_image(
                        &string(&image["registry"]),
                        repository,
                        &string(&image["tag"]),
                    )
                });
                workload(a).token_secret = string(&values["runners"]["secret"]);
            }
        }
        RunnerFile::HelmRelease | RunnerFile::Application => {
            for d in yaml_values_lossy(bytes) {
                let url = match d["kind"].as_str() {
                    Some("HelmRepository") => d["spec"]["url"].as_str(),
                    Some("Application") => d["spec"]["source"]["repoURL"].as_str(),
                    _ => None,
                };
                if let Some(url) = url {
                    entry().chart_repository = Some(access::chart_repository(url));
                    break;
                }
            }
        }
        RunnerFile::ServiceAccounts => {
            let accounts = yaml_values_lossy(bytes);
            // One account for manager and jobs is `serviceAccounts: shared`.
            let shared = accounts
                .iter()
                .filter(|d| d["kind"] == "ServiceAccount")
                .count()
                == 1;
            workload(entry()).shared_service_account = shared;
        }
        RunnerFile::ExternalSecret => {
            if let Some(es) = yaml_values_lossy(bytes).first() {
                workload(entry()).token_store = Some(TokenStore {
                    key_vault_secret: string(&es["spec"]["data"][0]["remoteRef"]["key"]),
                    store: string(&es["spec"]["secretStoreRef"]["name"]),
                });
            }
        }
        RunnerFile::Registration => {
            if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
                registration_access(&v, entry());
            }
        }
        _ => {}
    }
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The workload of `a`, begun when a first Kubernetes file of the runner is read.
fn workload(a: &mut Access) -> &mut Workload {
    a.workload.get_or_insert_with(Workload::default)
}

/// The job pods' own settings and placement: every `[runners.kubernetes]` key runnergen does
/// not write itself, and the node selector and tolerations.
fn pod_settings(k8s: &toml::Table, privileged: bool) -> PodSettings {
    let table = |key: &str| -> BTreeMap<String, String> {
        k8s.get(key)
            .and_then(toml::Value::as_table)
            .map(|t| {
                t.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let extra = k8s
        .iter()
        .filter(|(k, _)| !vocab::RUNNER_KUBERNETES_KEYS.contains(&k.as_str()))
        .filter(|(k, _)| !(privileged && k.as_str() == "volumes"))
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    PodSettings {
        extra,
        node_selector: table("node_selector"),
        labels_overwrite: k8s
            .get("pod_labels_overwrite_allowed")
            .and_then(toml::Value::as_str)
            .map(str::to_owned),
        tolerations: table("node_tolerations"),
    }
}

/// Privilege, the job pods' account and the cache's storage account, from a config.toml.
fn config_access(config: &toml::Table, a: &mut Access) {
    let k8s = runner_kubernetes(config);
    let get = |key: &str| k8s.and_then(|k| k.get(key));
    let text = |key: &str| {
        get(key)
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    // Not set is unprivileged pods (gitlab-runner's default).
    let privileged = get("privileged")
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    a.privileged = Some(privileged);
    a.pods = k8s
        .and_then(toml::Value::as_table)
        .map(|k| pod_settings(k, privileged));
    let (job_namespace, job_service_account) = (text("namespace"), text("service_account"));
    let cache = config
        .get("runners")
        .and_then(toml::Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("cache"));
    let cache_account = cache
        .filter(|c| c.get("Type").and_then(toml::Value::as_str) == Some("azure"))
        .and_then(|c| c.get("azure")?.get("AccountName")?.as_str())
        .map(str::to_owned);
    let w = workload(a);
    w.job_namespace = job_namespace;
    w.job_service_account = job_service_account;
    w.cache_account = cache_account;
}

/// The manager's account and Role, and the binding and Role of the job pods' access, from an
/// rbac.yaml's documents.
fn rbac_workload(rbac: &[Value], w: &mut Workload) {
    let rules = |d: &Value| -> Vec<PolicyRule> {
        serde_json::from_value(d["rules"].clone()).unwrap_or_default()
    };
    for d in rbac {
        let grants_jobs =
            d["metadata"]["labels"][vocab::JOB_ACCESS_LABEL] == vocab::JOB_ACCESS_JOBS;
        let name = string(&d["metadata"]["name"]);
        match d["kind"].as_str() {
            Some("Role") if grants_jobs => {
                w.job_rules = rules(d);
                w.job_binding = Some(name);
            }
            Some("Role") => w.manager_rules = rules(d),
            Some("RoleBinding") if !grants_jobs && d["roleRef"]["kind"] == "Role" => {
                w.namespace = string(&d["subjects"][0]["namespace"]);
                w.manager_service_account = string(&d["subjects"][0]["name"]);
            }
            Some("ClusterRoleBinding") => w.job_binding = Some(name),
            _ => {}
        }
    }
}

/// Who can trigger the runner and where its token goes, from a registration.json.
fn registration_access(v: &Value, a: &mut Access) {
    a.run_untagged = v["run_untagged"].as_bool();
    a.gitlab_url = v["gitlab_url"].as_str().map(str::to_owned);
    a.protected = v["access_level"]
        .as_str()
        .map(|l| l == vocab::registration_access_level(true));
    a.token_source = Some(token_source(v));
    a.trigger = v["runner_type"]
        .as_str()
        .and_then(vocab::registration_runner_type)
        .map(|runner_type| Trigger {
            runner_type,
            path: string(&v[vocab::registration_type(runner_type).1]),
            locked: v["locked"].as_bool().unwrap_or(false),
            tags: v["tag_list"]
                .as_array()
                .into_iter()
                .flatten()
                .map(string)
                .collect(),
        });
}

/// A federated identity credential a main template deploys: the identity it is on, by name,
/// and the (issuer, subject) it trusts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FederatedCredential {
    pub identity: String,
    pub name: String,
    pub issuer: String,
    pub subject: String,
}

/// Every federated credential of a main template, however deeply its deployments nest them.
/// The child's name is `[format('{0}/{1}', '<identity>', '<credential>')]` (`render/azure/
/// arm.rs`), or a plain `<identity>/<credential>`.
pub fn federated_credentials(bytes: &[u8]) -> Vec<FederatedCredential> {
    fn walk(v: &Value, out: &mut Vec<FederatedCredential>) {
        match v {
            Value::Object(o) => {
                if o.get("type").and_then(Value::as_str) == Some(vocab::FEDERATED_CREDENTIAL_TYPE)
                    && let Some((identity, name)) =
                        o.get("name").and_then(Value::as_str).and_then(child_name)
                {
                    let p = &o["properties"];
                    // A literal that looks like an expression is written with a second `[`.
                    let literal = |k: &str| {
                        let s = p[k].as_str().unwrap_or_default();
                        s.strip_prefix("[[")
                            .map_or_else(|| s.to_owned(), |r| format!("[{r}"))
                    };
                    out.push(FederatedCredential {
                        identity,
                        name,
                        issuer: literal("issuer"),
                        subject: literal("subject"),
                    });
                }
                o.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        walk(&v, &mut out);
    }
    out
}

/// (identity, credential) of a child resource's name.
fn child_name(name: &str) -> Option<(String, String)> {
    if let Some(args) = name
        .strip_prefix("[format(")
        .and_then(|r| r.strip_suffix(")]"))
    {
        // ARM string literals: single-quoted, a quote doubled.
        let mut literals = Vec::new();
        let mut chars = args.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\'' {
                continue;
            }
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    '\'' => break,
                    c => s.push(c),
                }
            }
            literals.push(s);
        }
        return match literals.as_slice() {
            [f, identity, credential] if f == "{0}/{1}" => {
                Some((identity.clone(), credential.clone()))
            }
            _ => None,
        };
    }
    let (identity, credential) = name.split_once('/')?;
    Some((identity.to_owned(), credential.to_owned()))
}
