//! Environments that share a cluster: the same OIDC issuer is the same AKS cluster (an issuer
//! URL names one cluster: `https://<region>.oic.prod-aks.azure.com/<tenant>/<cluster>/`).
//! Two environments there must not render one object (Flux or Argo CD would fight over it and
//! prune it with either environment), and no two identities of the fleet may trust one
//! (issuer, subject): Entra gives a token for an identity to any pod whose service account
//! token matches one of its federated credentials (azure-docs `workload-identity-federation`:
//! "the issuer and subject … must match"), so a shared subject lets the jobs of one environment
//! sign in as the other's identity.

use super::{Environment, Gitops, IdentityOwner, Runner};
use crate::spec::{self, Code, GitopsEngine, KubernetesAccess, Problem, StoreKind};
use std::collections::BTreeMap;

/// A Kubernetes object by what identifies it in a cluster.
type ObjectKey = (&'static str, Option<String>, String);

/// Who renders an object or holds a federated credential.
#[derive(Clone, Copy)]
enum Owner<'a> {
    Runner(&'a Runner),
    Store,
}

#[derive(Clone, Copy)]
struct Claim<'a> {
    env: &'a Environment,
    owner: Owner<'a>,
}

impl Claim<'_> {
    fn who(&self) -> String {
        match self.owner {
            Owner::Runner(r) => format!("runner `{}` of `{}`", r.key, self.env.key),
            Owner::Store => format!("the Key Vault store of `{}`", self.env.key),
        }
    }

    /// Where the problem is reported: the runner's key, or the environment's `keyVault`.
    fn at(&self) -> String {
        match self.owner {
            Owner::Runner(r) => r.at.clone(),
            Owner::Store => format!("/environments/{}/keyVault", spec::ptr_key(&self.env.key)),
        }
    }

    fn same(&self, other: &Claim) -> bool {
        std::ptr::eq(self.env, other.env)
    }
}

/// One object or trust two environments would share, and the naming setting that parts them.
struct Shared {
    what: String,
    /// A federated subject, not an object.
    trust: bool,
    fix: &'static str,
}

/// E021 for every runner or store that would render an object another environment of its
/// cluster renders too, or whose identity would trust a subject another identity of the fleet
/// trusts on the same issuer; one problem per pair of owners, naming both, every shared
/// object and the naming setting that fixes it.
pub(super) fn shared<'a>(envs: &'a [Environment], gitops: &Gitops, diags: &mut Vec<Problem>) {
    let mut found: BTreeMap<(String, String), (Claim<'a>, Claim<'a>, Vec<Shared>)> =
        BTreeMap::new();
    let mut record = |first: Claim<'a>, later: Claim<'a>, s: Shared| {
        let key = (later.at(), first.who());
        found
            .entry(key)
            .or_insert_with(|| (first, later, Vec::new()))
            .2
            .push(s);
    };
    // Objects, per cluster.
    let mut objects: BTreeMap<(String, ObjectKey), Claim> = BTreeMap::new();
    // Federated credentials, fleet-wide.
    let mut trusts: BTreeMap<(String, String), Claim> = BTreeMap::new();
    for env in envs {
        let issuer = issuer(&env.oidc_issuer_url);
        for (claim, key, fix) in env_objects(env, gitops) {
            match objects.get(&(issuer.clone(), key.clone())) {
                Some(first) if !first.same(&claim) => {
                    let what = object_name(&key);
                    let trust = false;
                    record(*first, claim, Shared { what, trust, fix });
                }
                Some(_) => {}
                None => {
                    objects.insert((issuer.clone(), key), claim);
                }
            }
        }
        for (claim, subject, fix) in env_trusts(env) {
            match trusts.get(&(issuer.clone(), subject.clone())) {
                Some(first) if !first.same(&claim) => {
                    let what = format!("`{subject}`");
                    let trust = true;
                    record(*first, claim, Shared { what, trust, fix });
                }
                Some(_) => {}
                None => {
                    trusts.insert((issuer.clone(), subject), claim);
                }
            }
        }
    }
    for (_, (first, later, items)) in found {
        diags.push(problem(first, later, &items));
    }
}

/// An issuer URL as Entra compares it, less a trailing slash a spec may or may not write.
fn issuer(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

fn object_name((kind, ns, name): &ObjectKey) -> String {
    match ns {
        Some(ns) => format!("{kind} `{ns}/{name}`"),
        None => format!("{kind} `{name}`"),
    }
}

/// The objects of an environment that two environments on one cluster could both render: the
/// runners' namespaces (everything else of a runner lives in them), their cluster-wide
/// bindings and Argo CD Applications, the store and its account.
fn env_objects<'a>(
    env: &'a Environment,
    gitops: &Gitops,
) -> Vec<(Claim<'a>, ObjectKey, &'static str)> {
    let mut out = Vec::new();
    for r in &env.runners {
        let claim = Claim {
            env,
            owner: Owner::Runner(r),
        };
        let n = &r.names;
        out.push((
            claim,
            ("Namespace", None, n.namespace.clone()),
            "naming.namespace",
        ));
        if n.job_namespace != n.namespace {
            out.push((
                claim,
                ("Namespace", None, n.job_namespace.clone()),
                "naming.jobNamespace",
            ));
        }
        if r.kubernetes_access == KubernetesAccess::ClusterAdmin {
            out.push((
                claim,
                ("ClusterRoleBinding", None, n.job_binding.clone()),
                "naming.jobNamespace",
            ));
        }
        // The AKS extension's layout: every runner's Flux objects in one namespace.
        if gitops.engine == GitopsEngine::Flux && n.flux_namespace != n.namespace {
            for kind in ["HelmRelease", "HelmRepository"] {
                let name = if kind == "HelmRelease" {
                    &n.helm_release
                } else {
                    &n.helm_repository
                };
                out.push((
                    claim,
                    (kind, Some(n.flux_namespace.clone()), name.clone()),
                    "naming.helmRelease",
                ));
            }
        }
        if gitops.engine == GitopsEngine::Argocd {
            out.push((
                claim,
                (
                    "Application",
                    Some(gitops.argocd_namespace.clone()),
                    n.helm_release.clone(),
                ),
                "naming.helmRelease",
            ));
        }
    }
    if let Some(store) = &env.store
        && store.kind == StoreKind::ClusterSecretStore
    {
        let claim = Claim {
            env,
            owner: Owner::Store,
        };
        const FIX: &str = "tokenSource.externalSecret.storeName";
        out.push((claim, ("ClusterSecretStore", None, store.name.clone()), FIX));
        for c in &store.credentials {
            let key = (
                "ServiceAccount",
                Some(c.namespace.clone()),
                c.service_account.clone(),
            );
            out.push((claim, key, FIX));
        }
    }
    out
}

/// The federated subjects an environment's identities trust, each with its owner.
fn env_trusts(env: &Environment) -> Vec<(Claim<'_>, String, &'static str)> {
    let mut out = Vec::new();
    for i in env.identities() {
        let (r, subject, fix) = match i.owner {
            IdentityOwner::Runner(r) => (r, &r.names.federated_subject, "naming.jobNamespace"),
            IdentityOwner::Cache(r) => (r, &r.names.cache_federated_subject, "naming.namespace"),
            IdentityOwner::Store(_) => continue,
        };
        let owner = Owner::Runner(r);
        out.push((Claim { env, owner }, subject.clone(), fix));
    }
    if let Some(store) = &env.store {
        let claim = Claim {
            env,
            owner: Owner::Store,
        };
        for c in &store.credentials {
            out.push((
                claim,
                c.subject.clone(),
                "tokenSource.externalSecret.storeName",
            ));
        }
    }
    out
}

/// The problem for one pair of owners: what they would share, and how to part them.
fn problem(first: Claim, later: Claim, items: &[Shared]) -> Problem {
    let list = |trust: bool| -> Vec<&str> {
        items
            .iter()
            .filter(|s| s.trust == trust)
            .map(|s| s.what.as_str())
            .collect()
    };
    let (objects, subjects) = (list(false), list(true));
    let mut shares = Vec::new();
    if !objects.is_empty() {
        shares.push(format!("render {}", objects.join(", ")));
    }
    if !subjects.is_empty() {
        shares.push(format!(
            "have an identity that trusts the federated subject {}",
            subjects.join(", ")
        ));
    }
    let clusters = format!(
        "environments `{}` and `{}` share a cluster (OIDC issuer `{}`)",
        first.env.key, later.env.key, later.env.oidc_issuer_url
    );
    let consequence = if subjects.is_empty() {
        "Flux or Argo CD would fight over them, and prune them with either environment"
    } else {
        "a pod of either could sign in to Azure as the other's identity"
    };
    let mut fixes: Vec<&str> = items.iter().map(|s| s.fix).collect();
    fixes.sort_unstable();
    fixes.dedup();
    let message = format!(
        "{clusters}: {} and {} would both {}: {consequence}",
        later.who(),
        first.who(),
        shares.join(" and ")
    );
    Problem::error_key(Code::E021, later.at(), message).hint(hint(&fixes))
}

/// How to give each environment names of its own, for the settings involved.
fn hint(fixes: &[&str]) -> String {
    let example = |fix: &str| match fix {
        "naming.namespace" => "`naming.namespace: gitlab-{env}-{runner}`",
        "naming.jobNamespace" => "`naming.jobNamespace: gitlab-{env}-{runner}-jobs`",
        "naming.helmRelease" => "`naming.helmRelease: {org}-{env}-{runner}` (the default)",
        _ => "`tokenSource.externalSecret.storeName: azure-key-vault-{env}`",
    };
    format!(
        "include `{{env}}` in the names of environments that share a cluster: {}",
        fixes
            .iter()
            .map(|f| example(f))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// E020 for a runner whose namespace is where another environment on its cluster keeps its
/// Key Vault store's account: its manager or jobs could run as the store's identity and read
/// every token of that environment (`store::resolve` checks the store's own environment).
pub(super) fn store_namespaces(envs: &[Environment], diags: &mut Vec<Problem>) {
    for env in envs {
        let Some(store) = &env.store else { continue };
        if store.kind != StoreKind::ClusterSecretStore {
            continue;
        }
        let on_cluster = envs.iter().filter(|o| {
            !std::ptr::eq(*o, env) && issuer(&o.oidc_issuer_url) == issuer(&env.oidc_issuer_url)
        });
        for other in on_cluster {
            for r in &other.runners {
                let n = &r.names;
                let Some(c) = store
                    .credentials
                    .iter()
                    .find(|c| c.namespace == n.namespace || c.namespace == n.job_namespace)
                else {
                    continue;
                };
                diags.push(
                    Problem::error_key(
                        Code::E020,
                        r.at.clone(),
                        format!(
                            "runner `{}` of `{}` would use namespace `{}`, where environment `{}` (same cluster) keeps its Key Vault store's account: its manager or jobs could read every runner token of `{}`",
                            r.key, other.key, c.namespace, env.key, env.key
                        ),
                    )
                    .hint("keep `storeNamespace` for External Secrets Operator (default `external-secrets`) and the runners' namespaces apart from it"),
                );
            }
        }
    }
}
