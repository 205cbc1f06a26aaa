//! Who can read what in the rendered RBAC: in every golden tree, no job pods' service account
//! can get Secrets or ExternalSecrets in its runner manager's namespace, where the runner's
//! `glrt-` token and its ExternalSecret live. Kubernetes RBAC is additive
//! (kubernetes.io/docs/reference/access-authn-authz/rbac): a subject can do what any binding
//! that names it grants, a RoleBinding only in its own namespace, a ClusterRoleBinding
//! everywhere.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

fn docs(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => runnergen::readback::yaml_values(&text).unwrap(),
        Err(_) => Vec::new(),
    }
}

fn has(list: &Value, want: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|v| v == want || v == "*"))
}

/// Whether the RBAC objects `rbac` let the service account `sa`@`sa_ns` `get` `resource` of
/// API group `group` in namespace `ns`. A ClusterRole runnergen does not render (`edit`,
/// `admin`, `cluster-admin`) counts as granting it: `edit` and `admin` both read Secrets, and
/// External Secrets Operator aggregates its resources into them.
fn can_get(rbac: &[Value], sa: &str, sa_ns: &str, group: &str, resource: &str, ns: &str) -> bool {
    let names_sa = |b: &Value| {
        b["subjects"].as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == sa_ns
            })
        })
    };
    let rules_grant = |rules: &Value| {
        rules.as_array().is_some_and(|rules| {
            rules.iter().any(|r| {
                has(&r["apiGroups"], group)
                    && has(&r["resources"], resource)
                    && has(&r["verbs"], "get")
            })
        })
    };
    rbac.iter().any(|b| {
        let in_scope = match b["kind"].as_str() {
            Some("RoleBinding") => b["metadata"]["namespace"] == ns,
            Some("ClusterRoleBinding") => true,
            _ => false,
        };
        if !in_scope || !names_sa(b) {
            return false;
        }
        let role = &b["roleRef"];
        match role["kind"].as_str() {
            Some("Role") => rbac.iter().any(|r| {
                r["kind"] == "Role"
                    && r["metadata"]["name"] == role["name"]
                    && r["metadata"]["namespace"] == b["metadata"]["namespace"]
                    && rules_grant(&r["rules"])
            }),
            _ => true,
        }
    })
}

const GUARDED: [(&str, &str); 2] = [("", "secrets"), ("external-secrets.io", "externalsecrets")];

#[test]
fn no_job_account_reads_the_managers_secrets() {
    let (mut checked, mut shared, mut cluster_admin) = (0, 0, 0);
    for tree in golden_trees() {
        for entry in walkdir::WalkDir::new(&tree).into_iter().map(|e| e.unwrap()) {
            if entry.file_name() != "rbac.yaml" {
                continue;
            }
            let dir = entry.path().parent().unwrap();
            let rel = dir.strip_prefix(root()).unwrap().display().to_string();
            let rbac = docs(entry.path());
            let accounts = docs(&dir.join("serviceaccounts.yaml"));
            // The job pods' account is the one config.toml names (with or without an identity).
            let config: toml::Table = std::fs::read_to_string(dir.join("config.toml"))
                .unwrap()
                .parse()
                .unwrap();
            let job_sa =
                runnergen::readback::runner_kubernetes(&config).unwrap()["service_account"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            let is_job = |a: &&Value| a["metadata"]["name"] == job_sa.as_str();
            let job = accounts
                .iter()
                .find(is_job)
                .unwrap_or_else(|| panic!("{rel}: job account"));
            let Some(manager) = accounts.iter().find(|a| !is_job(a)) else {
                // serviceAccounts: shared is the seed's layout, one account for manager and
                // jobs: the manager must read its token, so its jobs can. Lint names it.
                shared += 1;
                continue;
            };
            if rbac.iter().any(|b| {
                b["kind"] == "ClusterRoleBinding" && b["roleRef"]["name"] == "cluster-admin"
            }) {
                // kubernetesAccess: cluster-admin asks for everything, explicitly.
                cluster_admin += 1;
                continue;
            }
            let (sa, sa_ns) = (
                job["metadata"]["name"].as_str().unwrap(),
                job["metadata"]["namespace"].as_str().unwrap(),
            );
            let manager_ns = manager["metadata"]["namespace"].as_str().unwrap();
            assert_ne!(sa_ns, manager_ns, "{rel}: jobs in the manager's namespace");
            // Creating a pod is enough to mount any Secret of its namespace: no binding at all
            // may name the job account in the manager's namespace.
            assert!(
                !rbac.iter().any(|b| b["kind"] == "RoleBinding"
                    && b["metadata"]["namespace"] == manager_ns
                    && b["subjects"].as_array().is_some_and(|s| s
                        .iter()
                        .any(|s| s["name"] == sa && s["namespace"] == sa_ns))),
                "{rel}: a RoleBinding in {manager_ns} names {sa}"
            );
            for (group, resource) in GUARDED {
                assert!(
                    !can_get(&rbac, sa, sa_ns, group, resource, manager_ns),
                    "{rel}: {sa} can get {resource} in {manager_ns}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "runners checked: {checked}");
    assert!(
        shared >= 1 && cluster_admin >= 1,
        "{shared} shared, {cluster_admin} cluster-admin"
    );
}

/// The check above fails on the layout it replaced: jobs in the manager's namespace with the
/// `edit` ClusterRole (which reads Secrets), and a Role that names `secrets`.
#[test]
fn the_check_catches_the_old_layout() {
    let binding = |role_kind: &str, role: &str| {
        serde_json::json!({
            "kind": "RoleBinding",
            "metadata": { "name": "b", "namespace": "gitlab-tf" },
            "roleRef": { "kind": role_kind, "name": role },
            "subjects": [{ "kind": "ServiceAccount", "name": "jobs", "namespace": "gitlab-tf" }],
        })
    };
    let edit = [binding("ClusterRole", "edit")];
    assert!(can_get(
        &edit,
        "jobs",
        "gitlab-tf",
        "",
        "secrets",
        "gitlab-tf"
    ));
    assert!(!can_get(&edit, "jobs", "gitlab-tf", "", "secrets", "other"));
    let role = serde_json::json!({
        "kind": "Role",
        "metadata": { "name": "r", "namespace": "gitlab-tf" },
        "rules": [{ "apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get"] }],
    });
    let narrow = [binding("Role", "r"), role];
    assert!(can_get(
        &narrow,
        "jobs",
        "gitlab-tf",
        "",
        "secrets",
        "gitlab-tf"
    ));
    assert!(!can_get(
        &narrow,
        "jobs",
        "gitlab-tf",
        "external-secrets.io",
        "externalsecrets",
        "gitlab-tf"
    ));
}
