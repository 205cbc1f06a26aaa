//! The cluster side: each runner's namespaces, service accounts and ExternalSecrets exist, its
//! rendered bindings exist, and no RoleBinding or ClusterRoleBinding binds one of its service
//! accounts (or its namespace's `system:serviceaccounts:<ns>` group) beyond those.

use super::expected::{Binding, Runner};
use super::live::Live;
use super::{Class, Report, found, not_run};
use serde_json::Value;
use std::collections::BTreeSet;

pub fn check(runners: &[Runner], live: &Live, report: &mut Report) {
    let Some(items) = &live.kubernetes else {
        not_run(
            report,
            "Kubernetes",
            "no --kubernetes (`kubectl get … -A -o json`)",
        );
        return;
    };
    let objects = |kind: &str| -> BTreeSet<(String, String)> {
        items
            .iter()
            .filter(|d| d["kind"] == kind)
            .map(|d| {
                let s = |k: &str| d["metadata"][k].as_str().unwrap_or_default().to_owned();
                (s("namespace"), s("name"))
            })
            .collect()
    };
    let namespaces: BTreeSet<String> = objects("Namespace").into_iter().map(|(_, n)| n).collect();
    let accounts = objects("ServiceAccount");
    let secrets = objects("ExternalSecret");
    for r in runners {
        for ns in r.namespaces.iter().filter(|n| !namespaces.contains(*n)) {
            found(
                report,
                r,
                Class::Missing,
                "namespace",
                format!("Namespace {ns}"),
            );
        }
        for (ns, name) in r.accounts.difference(&accounts) {
            let what = format!("ServiceAccount {ns}/{name}");
            found(report, r, Class::Missing, "service-account", what);
        }
        for (ns, name) in r.external_secrets.difference(&secrets) {
            let what = format!("ExternalSecret {ns}/{name}");
            found(report, r, Class::Missing, "external-secret", what);
        }
        bindings(r, items, report);
    }
}

/// The service accounts of `r` a binding's subjects name: each by name, or all of a
/// namespace through its `system:serviceaccounts:<ns>` group.
fn binds(r: &Runner, binding: &Value) -> Vec<String> {
    let own_ns = binding["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let mut out = Vec::new();
    for s in binding["subjects"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or_default();
        match s["kind"].as_str() {
            Some("ServiceAccount") => {
                // A RoleBinding's subject may leave its namespace to the binding's.
                let ns = s["namespace"].as_str().unwrap_or(own_ns);
                if r.accounts.contains(&(ns.to_owned(), name.to_owned())) {
                    out.push(format!("ServiceAccount {ns}/{name}"));
                }
            }
            Some("Group") => {
                let ns = name.strip_prefix("system:serviceaccounts:");
                if ns.is_some_and(|ns| r.accounts.iter().any(|(n, _)| n == ns)) {
                    out.push(format!("Group {name}"));
                }
            }
            _ => {}
        }
    }
    out
}

fn bindings(r: &Runner, items: &[Value], report: &mut Report) {
    let mut live: BTreeSet<Binding> = BTreeSet::new();
    for d in items {
        let Some(b) = Binding::of(d) else {
            continue;
        };
        let subjects = binds(r, d);
        if !subjects.is_empty() && !r.bindings.contains(&b) {
            let what = format!(
                "{} binds {} to {}, which the output does not render",
                b.label(),
                subjects.join(", "),
                b.role
            );
            found(report, r, Class::Beyond, "binding", what);
        }
        live.insert(b);
    }
    for b in r.bindings.difference(&live) {
        let what = format!("{} to {}", b.label(), b.role);
        found(report, r, Class::Missing, "binding", what);
    }
}
