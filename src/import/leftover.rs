//! The article's RBAC objects that runnergen does not render under the same name. `terraform
//! state rm` makes Terraform forget them and nothing deletes them, so they would stay in the
//! cluster beside runnergen's own, granting again what runnergen's objects grant (its
//! `cluster-admin` ClusterRoleBinding above all). Import names each for deletion once
//! runnergen's objects are applied; one runnergen renders under the same name (its manager's
//! Role, named after the manager's account as the article names its Role) is taken over by
//! Flux or Argo CD instead, and not named.

use super::collect::Collected;
use super::state::Resource;
use crate::names;
use serde_json::Value;
use std::collections::BTreeSet;

/// `kubectl delete` commands for the article's Roles, RoleBindings and ClusterRoleBindings of
/// the runners imported, those whose address `removed` holds (what leaves Terraform's state).
pub fn commands(c: &Collected, removed: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for f in c.runners.values() {
        let (Some(ns), Some(sa)) = (name(f.namespace), name(f.service_account)) else {
            continue;
        };
        // What runnergen renders for a runner of one shared account (`serviceAccounts: shared`,
        // as import writes every runner): the manager's Role and RoleBinding, and the job
        // pods' binding either way its access goes.
        let ours: BTreeSet<(&str, Option<&str>, String)> = [
            ("role", Some(ns), names::manager_role(sa)),
            ("rolebinding", Some(ns), names::manager_role(sa)),
            ("rolebinding", Some(ns), names::job_binding(false, ns, sa)),
            ("clusterrolebinding", None, names::job_binding(true, ns, sa)),
        ]
        .into_iter()
        .collect();
        for r in f.rbac.iter().chain(&f.cluster_admin) {
            if !removed.contains(&r.address) {
                continue;
            }
            let (Some(kind), Some(obj)) = (kind(r), name(Some(r))) else {
                continue;
            };
            let at = (kind != "clusterrolebinding").then_some(ns);
            if ours.contains(&(kind, at, obj.to_owned())) {
                continue;
            }
            out.push(match at {
                Some(ns) => format!("kubectl delete {kind} {obj} --namespace {ns}"),
                None => format!("kubectl delete {kind} {obj}"),
            });
        }
    }
    out
}

/// The object's `metadata[0].name`.
fn name(r: Option<&Resource>) -> Option<&str> {
    r?.block("metadata")?.get("name").and_then(Value::as_str)
}

/// kubectl's resource name for a Terraform kubernetes provider type.
fn kind(r: &Resource) -> Option<&'static str> {
    Some(match r.kind.trim_end_matches("_v1") {
        "kubernetes_role" => "role",
        "kubernetes_role_binding" => "rolebinding",
        "kubernetes_cluster_role_binding" => "clusterrolebinding",
        _ => return None,
    })
}
