//! Names that belong to someone else: namespaces of the cluster and of the tools runnergen's
//! output relies on, which a runner must not render (Flux would adopt them and prune them with
//! the runner), and Key Vault secrets another environment's runner writes to the same vault.

use super::{Environment, Runner};
use crate::spec::{Code, Problem, types as t};
use std::collections::BTreeMap;

/// Namespaces AKS and Kubernetes create and manage (Kubernetes: `default`, `kube-*`; AKS docs,
/// "Namespaces created by AKS" and its add-ons: Azure Policy's `gatekeeper-system`, the run
/// command's `aks-command`, application routing, Calico).
const CLUSTER_NAMESPACES: &[&str] = &[
    "default",
    "gatekeeper-system",
    "aks-command",
    "app-routing-system",
    "calico-system",
    "tigera-operator",
];

/// Whether `ns` belongs to the cluster or to one of `tools` (the GitOps engine's and External
/// Secrets Operator's namespaces, the store's).
fn reserved<'a>(ns: &str, tools: &'a [String]) -> Option<&'a str> {
    if ns.starts_with("kube-") || CLUSTER_NAMESPACES.contains(&ns) {
        return Some("the cluster");
    }
    tools
        .iter()
        .find(|t| *t == ns)
        .map(|_| "a tool runnergen's output relies on (Flux, Argo CD, External Secrets Operator)")
}

/// E020 for each runner namespace (its manager's or its jobs') that is reserved; `tools` are
/// the namespaces of the GitOps engine, External Secrets Operator and the store.
pub(super) fn namespaces(envs: &[Environment], tools: &[String], diags: &mut Vec<Problem>) {
    for r in envs.iter().flat_map(|e| &e.runners) {
        let n = &r.names;
        for (what, ns) in [
            ("namespace", &n.namespace),
            ("job namespace", &n.job_namespace),
        ] {
            if let Some(owner) = reserved(ns, tools) {
                diags.push(refusal(r, what, ns, owner));
            }
        }
    }
}

fn refusal(r: &Runner, what: &str, ns: &str, owner: &str) -> Problem {
    Problem::error_key(
        Code::E020,
        r.at.clone(),
        format!(
            "runner `{}`'s {what} would be `{ns}`, which belongs to {owner}: rendering it would let Flux or Argo CD adopt it, and prune it with the runner",
            r.key
        ),
    )
    .hint("keep `{runner}` with a prefix in `naming.namespace` and `naming.jobNamespace` (the defaults are `gitlab-{runner}` and `gitlab-{runner}-jobs`), or rename the runner")
}

/// E021 for two runners, in any environments, whose tokens go to one Key Vault secret of one
/// vault (vault names are global, compared case-insensitively).
pub(super) fn vault_secrets(envs: &[Environment], diags: &mut Vec<Problem>) {
    let mut seen: BTreeMap<(String, &str), (&str, &str)> = BTreeMap::new();
    for env in envs {
        let Some(vault) = &env.key_vault else {
            continue;
        };
        for r in &env.runners {
            let key = (vault.to_lowercase(), r.names.key_vault_secret.as_str());
            match seen.get(&key) {
                Some((first_env, first)) if *first_env != env.key => diags.push(
                    Problem::error_key(
                        Code::E021,
                        r.at.clone(),
                        format!(
                            "runner `{}` of `{}` and runner `{first}` of `{first_env}` both keep their token in Key Vault secret `{}` of vault `{vault}`: one manager would run with the other's token",
                            r.key, env.key, r.names.key_vault_secret
                        ),
                    )
                    .hint("include `{env}` in `naming.keyVaultSecret` (the default `gitlab-runner-{env}-{runner}-token` does)"),
                ),
                Some(_) => {}
                None => {
                    seen.insert(key, (&env.key, &r.key));
                }
            }
        }
    }
}

/// E021 for a runner whose tags include another runner's own tag (`<env>-<key>`): jobs meant
/// for that runner alone could land on it too.
pub(super) fn own_tags(envs: &[Environment], diags: &mut Vec<Problem>) {
    let owners: BTreeMap<String, (&str, &str)> = envs
        .iter()
        .flat_map(|e| {
            e.runners.iter().map(move |r| {
                (
                    crate::names::own_tag(&e.key, &r.key),
                    (e.key.as_str(), r.key.as_str()),
                )
            })
        })
        .collect();
    for env in envs {
        for r in &env.runners {
            for tag in &r.tags {
                let Some((oe, ok)) = owners.get(tag) else {
                    continue;
                };
                if (*oe, *ok) == (env.key.as_str(), r.key.as_str()) {
                    continue;
                }
                diags.push(
                    Problem::error_key(
                        Code::E021,
                        r.at.clone(),
                        format!(
                            "runner `{}` of `{}` carries tag `{tag}`, runner `{ok}` of `{oe}`'s own: jobs meant for that runner alone could run here",
                            r.key, env.key
                        ),
                    )
                    .hint("remove the tag; every runner gets its own tag `<env>-<runner>` and its ci-template.yml asks for it"),
                );
            }
        }
    }
}

/// The namespaces of the tools runnergen's output relies on: the GitOps engine's (Argo CD's,
/// as the spec names it) and External Secrets Operator's. The store account's namespace is
/// checked against the runners' by `store::resolve`.
pub(super) fn tool_namespaces(s: &t::Spec) -> Vec<String> {
    // Flux's, whichever engine renders: the AKS GitOps extension installs it there too.
    let mut out = vec!["flux-system".to_owned(), "external-secrets".to_owned()];
    // The AKS extension's Flux configuration namespace(s), where the Flux objects go.
    let flux = |p: &t::Platform| p.flux_namespace.clone();
    out.push(flux(&s.platform).unwrap_or_else(|| super::platform::FLUX_NAMESPACE.into()));
    out.extend(
        s.environments
            .values()
            .filter_map(|e| e.platform.as_ref().and_then(flux)),
    );
    if s.gitops.engine == t::GitopsEngine::Argocd {
        out.push(
            s.gitops
                .argocd_namespace
                .clone()
                .unwrap_or_else(|| super::defaults::ARGOCD_NAMESPACE.into()),
        );
    }
    out
}
