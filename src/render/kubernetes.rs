//! Kubernetes objects of one runner, built from `k8s-openapi` types (ExternalSecret, a CRD,
//! from a small typed struct): Namespace, ServiceAccounts, RBAC and the token ExternalSecret.

use super::{RenderError, yaml_file};
use crate::facts;
use crate::model::{Environment, Fleet, Runner, TokenSource};
use crate::spec::{KubernetesAccess, StoreKind};
use crate::tree::Tree;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{
    ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
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

/// The permissions the runner manager needs for the Kubernetes executor: GitLab's documented
/// list (runner docs/executors/kubernetes/_index.md §Configure runner API permissions), without
/// the rules for features runnergen does not enable (namespace per job, autoscaler, PDBs),
/// instead of the chart's `*` on `*` default.
pub fn manager_rules() -> Vec<PolicyRule> {
    let rule = |resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    };
    vec![
        rule(&["events"], &["list", "watch"]),
        rule(&["pods"], &["create", "delete", "get", "list", "watch"]),
        rule(&["pods/attach"], &["create", "delete", "get", "patch"]),
        rule(&["pods/exec"], &["create", "delete", "get", "patch"]),
        rule(&["pods/log"], &["get", "list"]),
        rule(&["secrets"], &["create", "delete", "get", "update"]),
        rule(&["serviceaccounts"], &["get"]),
        rule(&["services"], &["create", "get"]),
    ]
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
/// shared/schemas/crds/external-secrets.io/externalsecret_v1.json).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalSecret {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: serde_json::Value,
}

pub fn render(
    fleet: &Fleet,
    env: &Environment,
    r: &Runner,
    source: &str,
    tree: &mut Tree,
) -> Result<(), RenderError> {
    let dir = format!("{}/{}", env.key, r.key);
    let ns = r.namespace.as_str();
    let client_id = r.client_id.as_deref().ok_or_else(|| {
        RenderError::Invariant(format!(
            "runner `{}` has no client ID but its Kubernetes files were requested",
            r.key
        ))
    })?;

    // Pod Security Admission: Docker-in-Docker needs privileged pods; everything else runs
    // under the baseline profile (kubernetes.io/docs/concepts/security/pod-security-admission).
    let mut ns_meta = meta(ns, None, r);
    let level = if r.privileged {
        "privileged"
    } else {
        "baseline"
    };
    ns_meta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("pod-security.kubernetes.io/enforce".into(), level.into());
    let namespace = Namespace {
        metadata: ns_meta,
        ..Default::default()
    };
    tree.insert(
        format!("{dir}/namespace.yaml"),
        yaml_file(source, &[namespace]),
    )?;

    // The job pods' account carries the managed identity (Azure Workload Identity:
    // client-id and tenant-id annotations, and the use label, pkg/webhook/consts.go).
    let mut job_meta = meta(&r.job_service_account, Some(ns), r);
    job_meta.annotations = Some(
        [
            (
                facts::WI_CLIENT_ID_ANNOTATION.to_owned(),
                client_id.to_owned(),
            ),
            (
                facts::WI_TENANT_ID_ANNOTATION.to_owned(),
                r.tenant_id.clone(),
            ),
        ]
        .into_iter()
        .collect(),
    );
    job_meta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(facts::WI_USE_LABEL.into(), "true".into());
    let job_sa = ServiceAccount {
        metadata: job_meta,
        // Jobs without Kubernetes access get no API token; the workload-identity token is
        // projected separately by the webhook.
        automount_service_account_token: (r.kubernetes_access == KubernetesAccess::None
            && !r.shared_service_account)
            .then_some(false),
        ..Default::default()
    };
    let accounts = if r.shared_service_account {
        vec![job_sa]
    } else {
        let manager = ServiceAccount {
            metadata: meta(&r.manager_service_account, Some(ns), r),
            ..Default::default()
        };
        vec![manager, job_sa]
    };
    tree.insert(
        format!("{dir}/serviceaccounts.yaml"),
        yaml_file(source, &accounts),
    )?;

    let role = Role {
        metadata: meta(&r.manager_role, Some(ns), r),
        rules: Some(manager_rules()),
    };
    let binding = RoleBinding {
        metadata: meta(&r.manager_role, Some(ns), r),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: r.manager_role.clone(),
        },
        subjects: Some(vec![sa_subject(&r.manager_service_account, ns)]),
    };
    let mut rbac: Vec<serde_json::Value> = vec![to_value(&role), to_value(&binding)];
    match r.kubernetes_access {
        KubernetesAccess::None => {}
        // The built-in `edit` ClusterRole, bound in the runner's namespace only.
        KubernetesAccess::Namespace => rbac.push(to_value(&RoleBinding {
            metadata: meta(&r.job_binding, Some(ns), r),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "edit".into(),
            },
            subjects: Some(vec![sa_subject(&r.job_service_account, ns)]),
        })),
        // The seed's ClusterRoleBinding, to the job pods' account only.
        KubernetesAccess::ClusterAdmin => rbac.push(to_value(&ClusterRoleBinding {
            metadata: meta(&r.job_binding, None, r),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
            subjects: Some(vec![sa_subject(&r.job_service_account, ns)]),
        })),
    }
    tree.insert(format!("{dir}/rbac.yaml"), yaml_file(source, &rbac))?;

    if let TokenSource::ExternalSecret {
        store_kind,
        store_name,
        refresh_interval,
    } = &fleet.token
    {
        let es = ExternalSecret {
            api_version: "external-secrets.io/v1",
            kind: "ExternalSecret",
            metadata: meta(&r.token_secret, Some(ns), r),
            spec: serde_json::json!({
                "refreshInterval": refresh_interval,
                "secretStoreRef": {
                    "kind": match store_kind { StoreKind::SecretStore => "SecretStore", StoreKind::ClusterSecretStore => "ClusterSecretStore" },
                    "name": store_name,
                },
                "target": {
                    "name": r.token_secret,
                    "creationPolicy": "Owner",
                    // The chart mounts both keys; an empty registration token is expected with
                    // glrt- tokens (chart values.yaml ExternalSecret example).
                    "template": {
                        "type": "Opaque",
                        "data": {
                            "runner-token": "{{ .runnerToken }}",
                            "runner-registration-token": "",
                        },
                    },
                },
                "data": [{
                    "secretKey": "runnerToken",
                    "remoteRef": { "key": r.key_vault_secret },
                }],
            }),
        };
        tree.insert(
            format!("{dir}/externalsecret.yaml"),
            yaml_file(source, &[es]),
        )?;
    }
    Ok(())
}

fn to_value<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("Kubernetes objects serialize")
}
