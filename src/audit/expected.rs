//! What a rendered output directory grants each runner, read back from its files alone:
//! `readback::access` (identities, client IDs, roles, registration), the federated
//! credentials of the main templates, and the Kubernetes objects of the runner's files.

use crate::access::Access;
use crate::layout::{AzureFile, Location, RunnerFile};
use crate::readback;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A managed identity a runner's files deploy, with what it is granted.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub name: String,
    pub resource_group: String,
    pub client_id: Option<String>,
    /// (role, scope) pairs.
    pub roles: Vec<(String, String)>,
    /// (issuer, subject) of each federated credential on it.
    pub credentials: BTreeSet<(String, String)>,
}

/// A RoleBinding or ClusterRoleBinding, by what identifies it and what it binds to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Binding {
    pub kind: String,
    /// Empty for a ClusterRoleBinding.
    pub namespace: String,
    pub name: String,
    /// `ClusterRole admin`, `Role gitlab-runner-tf`.
    pub role: String,
}

impl Binding {
    /// `RoleBinding gitlab-tf-jobs/gitlab-runner-tf`, `ClusterRoleBinding x`.
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The binding a Kubernetes object is, if it is one.
    pub fn of(d: &Value) -> Option<Binding> {
        let kind = d["kind"].as_str()?;
        if kind != "RoleBinding" && kind != "ClusterRoleBinding" {
            return None;
        }
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Some(Binding {
            kind: kind.to_owned(),
            namespace: s(&d["metadata"]["namespace"]),
            name: s(&d["metadata"]["name"]),
            role: format!("{} {}", s(&d["roleRef"]["kind"]), s(&d["roleRef"]["name"])),
        })
    }
}

/// One rendered runner: everything the audit compares live state with.
#[derive(Clone, Debug, Default)]
pub struct Runner {
    pub env: String,
    pub key: String,
    pub access: Access,
    /// Its job pods' identity, then its manager's cache identity when it has one.
    pub identities: Vec<Identity>,
    pub namespaces: BTreeSet<String>,
    /// (namespace, name) of its service accounts.
    pub accounts: BTreeSet<(String, String)>,
    pub bindings: BTreeSet<Binding>,
    /// (namespace, name) of its ExternalSecrets.
    pub external_secrets: BTreeSet<(String, String)>,
    /// registration.json's `maintenance_note`.
    pub note: Option<String>,
}

/// The Kubernetes objects and the note of one runner, from its files.
#[derive(Default)]
struct Objects {
    namespaces: BTreeSet<String>,
    accounts: BTreeSet<(String, String)>,
    bindings: BTreeSet<Binding>,
    external_secrets: BTreeSet<(String, String)>,
    note: Option<String>,
}

fn objects_of(file: RunnerFile, bytes: &[u8], o: &mut Objects) {
    if file == RunnerFile::Registration {
        o.note = serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|v| v["maintenance_note"].as_str().map(str::to_owned));
        return;
    }
    let kubernetes = [
        RunnerFile::Namespace,
        RunnerFile::ServiceAccounts,
        RunnerFile::Rbac,
        RunnerFile::ExternalSecret,
    ];
    if !kubernetes.contains(&file) {
        return;
    }
    let Some(docs) = std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| readback::yaml_values(t).ok())
    else {
        return;
    };
    for d in docs {
        let s = |k: &str| d["metadata"][k].as_str().unwrap_or_default().to_owned();
        match d["kind"].as_str() {
            Some("Namespace") => {
                o.namespaces.insert(s("name"));
            }
            Some("ServiceAccount") => {
                o.accounts.insert((s("namespace"), s("name")));
            }
            Some("ExternalSecret") => {
                o.external_secrets.insert((s("namespace"), s("name")));
            }
            _ => o.bindings.extend(Binding::of(&d)),
        }
    }
}

/// `<env>/<runner>` and `maintenance_note` of every registration.json the output renders, in
/// every environment, audited or not: with `--env`, a runner of another environment is still
/// runnergen's, not a hand-registered one (the GitLab export lists a group's runners of every
/// environment that registers in it).
pub fn notes(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, bytes) in files {
        if let Location::Runner {
            env,
            runner,
            file: Some(RunnerFile::Registration),
        } = Location::of(path)
        {
            let mut o = Objects::default();
            objects_of(RunnerFile::Registration, bytes, &mut o);
            if let Some(note) = o.note {
                out.insert(format!("{env}/{runner}"), note);
            }
        }
    }
    out
}

/// Every rendered runner of the environments `envs` (all when empty), in (environment, key)
/// order. An environment asked for that the output does not render is an error.
pub fn read(files: &BTreeMap<String, Vec<u8>>, envs: &[String]) -> Result<Vec<Runner>, String> {
    let wanted = |env: &str| envs.is_empty() || envs.iter().any(|e| e == env);
    let mut objects: BTreeMap<(String, String), Objects> = BTreeMap::new();
    let mut credentials = Vec::new();
    for (path, bytes) in files {
        match Location::of(path) {
            Location::Azure { env, file } if AzureFile::is_main_json(file) && wanted(env) => {
                credentials.extend(readback::federated_credentials(bytes));
            }
            Location::Runner {
                env,
                runner,
                file: Some(file),
            } if wanted(env) => {
                let entry = objects.entry((env.to_owned(), runner.to_owned()));
                objects_of(file, bytes, entry.or_default());
            }
            _ => {}
        }
    }
    let access = readback::access(files);
    for env in envs {
        if !access.keys().any(|(e, _)| e == env) {
            return Err(format!("the output renders no environment `{env}`"));
        }
    }
    let identity = |i: &crate::access::Identity, roles: &[(String, String)]| Identity {
        name: i.name.clone(),
        resource_group: i.resource_group.clone(),
        client_id: i.client_id.clone(),
        roles: roles.to_vec(),
        credentials: credentials
            .iter()
            .filter(|c| c.identity.eq_ignore_ascii_case(&i.name))
            .map(|c| (c.issuer.clone(), c.subject.clone()))
            .collect(),
    };
    let mut out = Vec::new();
    for ((env, key), a) in access.into_iter().filter(|((e, _), _)| wanted(e)) {
        let o = objects
            .remove(&(env.clone(), key.clone()))
            .unwrap_or_default();
        let identities = a
            .identity
            .iter()
            .map(|i| identity(i, &a.roles))
            .chain(
                a.manager_identity
                    .iter()
                    .map(|i| identity(i, &a.manager_roles)),
            )
            .collect();
        out.push(Runner {
            env,
            key,
            access: a,
            identities,
            namespaces: o.namespaces,
            accounts: o.accounts,
            bindings: o.bindings,
            external_secrets: o.external_secrets,
            note: o.note,
        });
    }
    Ok(out)
}
