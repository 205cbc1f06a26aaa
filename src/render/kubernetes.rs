//! Kubernetes objects of one runner, built from `k8s-openapi` types (ExternalSecret, a CRD,
//! from a small typed struct): Namespace, ServiceAccounts, RBAC and the token ExternalSecret.

use super::{Cx, EnvCx, RenderError, Rendered, value, yaml_file};
use crate::facts;
use crate::layout::RunnerFile;
use crate::model::{Runner, TokenSource};
use crate::spec::{KubernetesAccess, StoreKind};
use crate::tree::Tree;
use crate::vocab::{self, Account, JOB_ACCESS_JOBS, JOB_ACCESS_LABEL};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use std::collections::BTreeMap;

fn meta(name: &str, namespace: Option<&str>, r: &Runner) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(r.labels.clone()),
        ..Default::default()
    }
}

/// A service account's Azure Workload Identity annotations: client and tenant ID
/// (azure-workload-identity pkg/webhook/consts.go).
fn workload_identity(client_id: &str, tenant_id: &str) -> BTreeMap<String, String> {
    [
        (facts::WI_CLIENT_ID_ANNOTATION, client_id),
        (facts::WI_TENANT_ID_ANNOTATION, tenant_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn sa_subject(name: &str, namespace: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: name.into(),
        namespace: Some(namespace.into()),
        ..Default::default()
    }
}

/// ExternalSecret `external-secrets.io/v1` (External Secrets Operator; schema in
/// schema/vendor/crds/external-secrets.io/externalsecret_v1.json).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecret {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: serde_json::Value,
}

/// What the invariants read of the files [`render`] writes: the service accounts, and the
/// ExternalSecret's target Secret.
pub struct Facts {
    pub accounts: Vec<Account>,
    pub token_target: Option<String>,
}

/// A runner's Namespaces, ServiceAccounts, RBAC and ExternalSecret.
pub fn render(cx: Cx) -> Result<Rendered<Facts>, RenderError> {
    let source = cx.source;
    let mut tree = Tree::new();
    let namespaces: Vec<serde_json::Value> = namespaces(cx.runner).iter().map(value).collect();
    tree.insert(
        cx.path(RunnerFile::Namespace),
        yaml_file(source, &namespaces),
    )?;
    let accounts: Vec<serde_json::Value> = service_accounts(cx.runner).iter().map(value).collect();
    tree.insert(
        cx.path(RunnerFile::ServiceAccounts),
        yaml_file(source, &accounts),
    )?;
    let mut facts = Facts {
        accounts: accounts.iter().map(Account::of).collect(),
        token_target: None,
    };
    tree.insert(
        cx.path(RunnerFile::Rbac),
        yaml_file(source, &rbac(cx.runner)),
    )?;
    if let Some(es) = external_secret(cx) {
        facts.token_target = es.spec["target"]["name"].as_str().map(str::to_owned);
        tree.insert(
            cx.path(RunnerFile::ExternalSecret),
            yaml_file(source, [&value(&es)]),
        )?;
    }
    Ok(Rendered { files: tree, facts })
}

/// The runner's namespaces: the manager's, and the job pods' unless they share it.
fn namespaces(r: &Runner) -> Vec<Namespace> {
    let n = &r.names;
    let (ns, jobs) = (n.namespace.as_str(), n.job_namespace.as_str());
    // Pod Security Admission (kubernetes.io/docs/concepts/security/pod-security-admission):
    // Docker-in-Docker needs privileged pods, in the job namespace only; the manager's
    // namespace runs under the baseline profile unless jobs share it.
    let namespace = |name: &str, level: &str| {
        let mut m = meta(name, None, r);
        m.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(vocab::POD_SECURITY_LABEL.into(), level.into());
        Namespace {
            metadata: m,
            ..Default::default()
        }
    };
    if jobs == ns {
        vec![namespace(ns, r.pod_security)]
    } else {
        vec![
            namespace(ns, vocab::POD_SECURITY_BASELINE),
            namespace(jobs, r.pod_security),
        ]
    }
}

/// The job pods' service account and, unless they share it, the manager's.
fn service_accounts(r: &Runner) -> Vec<ServiceAccount> {
    let n = &r.names;
    // The job pods' account carries the managed identity (Azure Workload Identity:
    // client-id and tenant-id annotations, and the use label, pkg/webhook/consts.go); a runner
    // without an identity gets a plain account.
    let mut job_meta = meta(&n.job_service_account, Some(&n.job_namespace), r);
    if r.has_identity() {
        let client_id = r
            .client_id()
            .expect("Kubernetes files are rendered only for runners with a client ID");
        job_meta.annotations = Some(workload_identity(client_id, &r.tenant_id));
        job_meta
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(facts::WI_USE_LABEL.into(), "true".into());
    }
    let job_sa = ServiceAccount {
        metadata: job_meta,
        // Jobs without Kubernetes access get no API token; the workload-identity token is
        // projected separately by the webhook.
        automount_service_account_token: (r.kubernetes_access == KubernetesAccess::None
            && !r.shared_service_account)
            .then_some(false),
        ..Default::default()
    };
    if r.shared_service_account {
        return vec![job_sa];
    }
    let mut manager_meta = meta(&n.manager_service_account, Some(&n.namespace), r);
    // The manager signs the cache's SAS as its own identity (gitlab-runner
    // cache/azure/adapter.go), never as the jobs'.
    if let Some(cache) = &r.cache_identity {
        let id = cache
            .client_id
            .as_deref()
            .expect("Kubernetes files are rendered only for ready runners");
        manager_meta.annotations = Some(workload_identity(id, &r.tenant_id));
    }
    let manager = ServiceAccount {
        metadata: manager_meta,
        ..Default::default()
    };
    vec![manager, job_sa]
}

/// rbac.yaml: the manager's Role and RoleBinding in the job namespace, then what gives the job
/// pods their Kubernetes access.
fn rbac(r: &Runner) -> Vec<serde_json::Value> {
    let n = &r.names;
    let (ns, jobs) = (n.namespace.as_str(), n.job_namespace.as_str());
    let role = Role {
        metadata: meta(&n.manager_role, Some(jobs), r),
        rules: Some(vocab::manager_rules()),
    };
    let binding = RoleBinding {
        metadata: meta(&n.manager_role, Some(jobs), r),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: n.manager_role.clone(),
        },
        subjects: Some(vec![sa_subject(&n.manager_service_account, ns)]),
    };
    let mut rbac: Vec<serde_json::Value> = vec![value(&role), value(&binding)];
    match r.kubernetes_access {
        KubernetesAccess::None => {}
        KubernetesAccess::Namespace => {
            let mut access = meta(&n.job_binding, Some(jobs), r);
            access
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(JOB_ACCESS_LABEL.into(), JOB_ACCESS_JOBS.into());
            rbac.push(value(&Role {
                metadata: access.clone(),
                rules: Some(vocab::job_namespace_rules()),
            }));
            rbac.push(value(&RoleBinding {
                metadata: access,
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: n.job_binding.clone(),
                },
                subjects: Some(vec![sa_subject(&n.job_service_account, jobs)]),
            }));
        }
        // The seed's ClusterRoleBinding, to the job pods' account only.
        KubernetesAccess::ClusterAdmin => rbac.push(value(&ClusterRoleBinding {
            metadata: meta(&n.job_binding, None, r),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
            subjects: Some(vec![sa_subject(&n.job_service_account, jobs)]),
        })),
    }
    rbac
}

/// The ExternalSecret that fills the token Secret, when the token comes from one.
fn external_secret(cx: Cx) -> Option<ExternalSecret> {
    let n = &cx.runner.names;
    let (
        TokenSource::ExternalSecret {
            store_kind,
            refresh_interval,
        },
        Some(store_name),
    ) = (&cx.fleet.token, &cx.env.secret_store)
    else {
        return None;
    };
    Some(ExternalSecret {
        api_version: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: meta(&n.token_secret, Some(&n.namespace), cx.runner),
        spec: serde_json::json!({
            "refreshInterval": refresh_interval,
            "secretStoreRef": {
                "kind": match store_kind { StoreKind::SecretStore => "SecretStore", StoreKind::ClusterSecretStore => "ClusterSecretStore" },
                "name": store_name,
            },
            // Every field ESO's CRD defaults is written out (external-secrets CRD
            // `default:`s, v0.16 to v2.8), so an apply-based
            // reconciler (Argo CD) never sees the API server's defaults as drift.
            "target": {
                "name": n.token_secret,
                "creationPolicy": "Owner",
                "deletionPolicy": "Retain",
                // The chart mounts both keys; an empty registration token is expected with
                // glrt- tokens (chart values.yaml ExternalSecret example).
                "template": {
                    "engineVersion": "v2",
                    "mergePolicy": "Replace",
                    "type": "Opaque",
                    "data": {
                        "runner-token": "{{ .runnerToken }}",
                        "runner-registration-token": "",
                    },
                },
            },
            "data": [{
                "secretKey": "runnerToken",
                "remoteRef": remote_ref(&n.key_vault_secret, cx.env.platform.eso_defaults()),
            }],
        }),
    })
}

/// The ExternalSecret's `remoteRef`: the Key Vault secret and exactly the fields the declared
/// External Secrets Operator's CRD defaults (`model::EsoDefaults`), so neither an older
/// operator rejects an unknown field nor an apply-based reconciler sees its defaults as drift.
fn remote_ref(key: &str, defaults: crate::model::EsoDefaults) -> serde_json::Value {
    let mut r = serde_json::json!({ "key": key });
    if defaults.strategies {
        r["conversionStrategy"] = "Default".into();
        r["decodingStrategy"] = "None".into();
        r["metadataPolicy"] = "None".into();
    }
    if defaults.null_byte_policy {
        r["nullBytePolicy"] = "Ignore".into();
    }
    r
}

/// The environment's Key Vault secret store (`model::Store`), once its identity's client ID is
/// known: the service account(s) ESO signs in with (annotated with the store identity's client
/// ID, Azure Workload Identity), and the store; its facts are the accounts, for the
/// invariants.
pub fn render_store(cx: EnvCx) -> Result<Rendered<Vec<Account>>, RenderError> {
    let (env, source) = (cx.env, cx.source);
    let none = || {
        Ok(Rendered {
            files: Tree::new(),
            facts: Vec::new(),
        })
    };
    let Some(store) = &env.store else {
        return none();
    };
    let Some(client_id) = &store.azure.client_id else {
        return none();
    };
    let labels: BTreeMap<String, String> = [
        ("app.kubernetes.io/managed-by", "runnergen"),
        ("app.kubernetes.io/part-of", "gitlab-runner"),
        ("runnergen.dev/environment", env.key.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let ready: std::collections::BTreeSet<&str> = env
        .ready_runners()
        .map(|r| r.names.namespace.as_str())
        .collect();
    // A SecretStore's account is in a runner's namespace, which exists once the runner is ready.
    let credentials: Vec<_> = store
        .credentials
        .iter()
        .filter(|c| {
            store.kind == StoreKind::ClusterSecretStore || ready.contains(c.namespace.as_str())
        })
        .collect();
    let mut docs: Vec<serde_json::Value> = Vec::new();
    for c in &credentials {
        docs.push(value(&ServiceAccount {
            metadata: ObjectMeta {
                name: Some(c.service_account.clone()),
                namespace: Some(c.namespace.clone()),
                labels: Some(labels.clone()),
                // The tenant ID is given here and not in the store: ESO refuses one given in
                // both places (external-secrets `provider/azure-key-vault.md`).
                annotations: Some(workload_identity(client_id, &env.tenant_id)),
                ..Default::default()
            },
            ..Default::default()
        }));
    }
    let use_azure_sdk = env.platform.use_azure_sdk();
    docs.extend(stores(store, &credentials, &labels, use_azure_sdk));
    if docs.is_empty() {
        return none();
    }
    let accounts = docs
        .iter()
        .filter(|d| d["kind"] == "ServiceAccount")
        .map(Account::of)
        .collect();
    let mut files = Tree::new();
    files.insert(
        crate::layout::secret_store(&env.key),
        yaml_file(source, &docs),
    )?;
    Ok(Rendered {
        files,
        facts: accounts,
    })
}

/// The store objects: one ClusterSecretStore, or a SecretStore in each manager namespace
/// (`credentials`: the ones whose account exists).
fn stores(
    store: &crate::model::Store,
    credentials: &[&crate::model::store::Credential],
    labels: &BTreeMap<String, String>,
    use_azure_sdk: bool,
) -> Vec<serde_json::Value> {
    // external-secrets.io/v1 azurekv with authType WorkloadIdentity and a referenced account;
    // every field the CRD defaults is written (environmentType, useAzureSDK).
    let provider = |c: &crate::model::store::Credential, namespaced: bool| {
        let mut sa = serde_json::json!({ "name": c.service_account });
        if namespaced {
            sa["namespace"] = serde_json::json!(c.namespace);
        }
        let mut azurekv = serde_json::json!({
            "authType": "WorkloadIdentity",
            "vaultUrl": store.vault_url,
            "serviceAccountRef": sa,
            "environmentType": "PublicCloud",
        });
        // `useAzureSDK` exists from ESO v0.20.0 (CRD `default: false`); older CRDs reject it.
        if use_azure_sdk {
            azurekv["useAzureSDK"] = false.into();
        }
        serde_json::json!({ "azurekv": azurekv })
    };
    let mut docs = Vec::new();
    match store.kind {
        StoreKind::ClusterSecretStore => {
            let c = credentials[0];
            docs.push(serde_json::json!({
                "apiVersion": "external-secrets.io/v1",
                "kind": "ClusterSecretStore",
                "metadata": { "name": store.name, "labels": labels },
                "spec": {
                    "provider": provider(c, true),
                    // Only the runners' manager namespaces may read through it: never a job
                    // namespace, never another workload (ESO client_manager.go: an ExternalSecret
                    // elsewhere is refused).
                    "conditions": [{ "namespaces": store.namespaces }],
                },
            }));
        }
        StoreKind::SecretStore => {
            for c in credentials {
                docs.push(serde_json::json!({
                    "apiVersion": "external-secrets.io/v1",
                    "kind": "SecretStore",
                    "metadata": { "name": store.name, "namespace": c.namespace, "labels": labels },
                    "spec": { "provider": provider(c, false) },
                }));
            }
        }
    }
    docs
}

#[cfg(test)]
mod tests;
