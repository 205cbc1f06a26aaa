//! Checks of the resolved fleet as a whole: derived names that collide, and the phase-1
//! guidance for runners whose identity is not created yet.

use super::{Environment, IdentityOwner, IdentityRef, Runner};
use crate::names::{RULES, Unique};
use crate::spec::{self, Code, Problem};
use std::collections::{BTreeMap, BTreeSet};

/// E021 at the runner's key.
fn collision(r: &Runner, message: String, hint: &str) -> Problem {
    Problem::error_key(Code::E021, r.at.clone(), message).hint(hint)
}

/// Names that must be unique: per cluster (environment) for Kubernetes objects, per resource
/// group for identities, per vault for Key Vault secrets (`names::Unique`); deployment names
/// and template symbols within an environment's Azure deployment; client IDs.
pub(super) fn collisions(envs: &[Environment], diags: &mut Vec<Problem>) {
    for env in envs {
        unique_names(env, diags);
        template_names(env, diags);
        job_namespaces(env, diags);
        role_deployments(env, diags);
    }
    client_ids(envs, diags);
    identities(envs, diags);
}

/// The names `names::RULES` holds unique within an environment.
fn unique_names(env: &Environment, diags: &mut Vec<Problem>) {
    for rule in RULES.iter().filter(|r| r.unique == Unique::InEnvironment) {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for r in &env.runners {
            let name = (rule.get)(&r.names);
            if let Some(first) = seen.insert(name, &r.key) {
                diags.push(collision(
                    r,
                    format!(
                        "runners `{first}` and `{}` both derive the {} `{name}`",
                        r.key, rule.what
                    ),
                    "include `{runner}` in the naming template, give each runner its own name in `runners.<key>.naming`, or rename one runner",
                ));
            }
        }
    }
}

/// Template symbols, outputs and deployment names of different runners.
fn template_names(env: &Environment, diags: &mut Vec<Problem>) {
    // Template symbols, outputs and deployment names of different runners must differ, and
    // ARM compares names case-insensitively: `node` with a cache identity
    // (`nodeCacheClientId`, `ra-node_cache-…`) against runners `nodecache` or `node-cache`.
    let mut symbols: BTreeMap<String, &str> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for r in &env.runners {
        let n = &r.names;
        let mut own: Vec<&str> = vec![
            &n.identity_symbol,
            &n.credential_symbol,
            &n.client_id_output,
            &n.principal_id_output,
        ];
        own.extend(
            r.identity
                .iter()
                .flat_map(|i| &i.role_groups)
                .flat_map(|g| [g.symbol.as_str(), g.deployment.as_str()]),
        );
        if let Some(c) = &r.cache_identity {
            own.extend([
                n.cache_identity_symbol.as_str(),
                n.cache_credential_symbol.as_str(),
                n.cache_client_id_output.as_str(),
                n.cache_principal_id_output.as_str(),
            ]);
            own.extend(
                c.role_groups
                    .iter()
                    .flat_map(|g| [g.symbol.as_str(), g.deployment.as_str()]),
            );
        }
        own.extend(r.graph.iter().map(|g| g.symbol.as_str()));
        for name in own {
            match symbols.insert(name.to_lowercase(), &r.key) {
                    Some(first) if first != r.key && reported.insert((first, r.key.as_str())) => diags.push(collision(
                        r,
                        format!(
                            "runners `{first}` and `{}` both derive the Azure template name `{name}` (ARM compares names case-insensitively)",
                            r.key
                        ),
                        "rename one of the two runners",
                    )),
                    _ => {}
                }
        }
    }
}

/// A runner's job namespace against every manager's namespace.
fn job_namespaces(env: &Environment, diags: &mut Vec<Problem>) {
    // Jobs never share a namespace with a runner manager's token: whoever can create a pod
    // in a namespace can mount any Secret there (kubernetes.io/docs/concepts/configuration/
    // secret, "Information security for Secrets"), whatever RBAC says about `secrets`.
    let managers: BTreeMap<&str, &str> = env
        .runners
        .iter()
        .map(|r| (r.names.namespace.as_str(), r.key.as_str()))
        .collect();
    for r in env.runners.iter().filter(|r| !r.shared_service_account) {
        if let Some(owner) = managers.get(r.names.job_namespace.as_str()) {
            let (whose, hint) = if *owner == r.key {
                (
                    "its own manager".to_owned(),
                    "give `naming.jobNamespace` and `naming.namespace` different templates (defaults `gitlab-{runner}-jobs` and `gitlab-{runner}`)",
                )
            } else {
                (
                    format!("runner `{owner}`'s manager"),
                    "rename one of the two runners (runner keys ending in `-jobs` meet the default job namespaces)",
                )
            };
            diags.push(collision(
                    r,
                    format!(
                        "runner `{}` would run its jobs in `{}`, the namespace of {whose} and its token Secret",
                        r.key, r.names.job_namespace
                    ),
                    hint,
                ));
        }
    }
}

/// The role-assignment deployments of one runner.
fn role_deployments(env: &Environment, diags: &mut Vec<Problem>) {
    // Two scopes of one runner whose 32-bit hashes collide would share a deployment.
    for r in &env.runners {
        let mut deployments = BTreeSet::new();
        for g in r.identity.iter().flat_map(|i| &i.role_groups) {
            if !deployments.insert(&g.deployment) {
                diags.push(collision(
                    r,
                    format!(
                        "runner `{}`: two role-assignment scopes both derive the deployment `{}`",
                        r.key, g.deployment
                    ),
                    "assign the roles of one of the two scopes at a neighbouring scope",
                ));
            }
        }
    }
}

/// Client IDs across the fleet (E041).
fn client_ids(envs: &[Environment], diags: &mut Vec<Problem>) {
    // One client ID is one identity: two runners (or a runner's job and cache identities)
    // with the same one would share its rights; the Key Vault stores' are checked against
    // every runner's.
    let all: Vec<IdentityRef> = envs.iter().flat_map(Environment::identities).collect();
    let mut client_ids: BTreeMap<&str, &Runner> = BTreeMap::new();
    for i in &all {
        let (IdentityOwner::Runner(r) | IdentityOwner::Cache(r), Some(id)) =
            (i.owner, i.identity.client_id.as_deref())
        else {
            continue;
        };
        if let Some(first) = client_ids.insert(id, r) {
            let at = i
                .identity
                .client_id_at
                .clone()
                .unwrap_or_else(|| r.at.clone());
            diags.push(
                Problem::error(
                    Code::E041,
                    at,
                    format!(
                        "runners `{}` and `{}` both have the client ID `{id}`",
                        first.key, r.key
                    ),
                )
                .hint("each identity is its own: copy each runner's own `<runner>ClientId` (and `<runner>CacheClientId`) output"),
            );
        }
    }
    for i in &all {
        let (IdentityOwner::Store(env), Some(id)) = (i.owner, i.identity.client_id.as_deref())
        else {
            continue;
        };
        if let Some(first) = client_ids.get(id) {
            let at = i
                .identity
                .client_id_at
                .clone()
                .unwrap_or_else(|| format!("/environments/{}/keyVault", spec::ptr_key(env)));
            diags.push(
                Problem::error(
                    Code::E041,
                    at,
                    format!(
                        "environment `{env}`: the Key Vault store's client ID `{id}` is also runner `{}`'s",
                        first.key
                    ),
                )
                .hint("the store has its own identity: copy the `_keyVaultStoreClientId` output"),
            );
        }
    }
}

/// Managed identity names in a resource group, across environments, and against the Key
/// Vault store's.
fn identities(envs: &[Environment], diags: &mut Vec<Problem>) {
    // Identities live in a resource group that several environments may share: one identity
    // per runner keeps each identity at exactly one federated credential, far below Azure's
    // limit of 20 (facts::MAX_FICS_PER_IDENTITY), and keeps runners' Azure rights apart.
    let mut identities: BTreeMap<(&str, &str, &str), &Runner> = BTreeMap::new();
    for env in envs {
        for r in &env.runners {
            let key = (
                env.identity_subscription_id.as_str(),
                env.identity_resource_group.as_str(),
                r.names.identity.as_str(),
            );
            if let Some(store) = &env.store
                && (r.names.identity == store.identity
                    || (r.cache_identity.is_some() && r.names.cache_identity == store.identity))
            {
                diags.push(collision(
                    r,
                    format!(
                        "runner `{}` derives the managed identity `{}` of the Key Vault store",
                        r.key, store.identity
                    ),
                    "change naming.identity, or rename the runner",
                ));
            }
            if r.cache_identity.is_some()
                && let Some(first) =
                    identities.insert((key.0, key.1, r.names.cache_identity.as_str()), r)
            {
                diags.push(collision(
                    r,
                    format!(
                        "runner `{}`'s cache identity `{}` is also the managed identity of runner `{}` in resource group `{}`",
                        r.key, r.names.cache_identity, first.key, env.identity_resource_group
                    ),
                    "rename one of the two runners (the cache identity is the runner's identity name with `-cache`)",
                ));
            }
            if let Some(first) = identities.insert(key, r)
                && first.environment != r.environment
            {
                diags.push(collision(
                    r,
                    format!(
                        "runners `{}` ({}) and `{}` ({}) both derive the managed identity `{}` in resource group `{}`",
                        first.key, first.environment, r.key, r.environment, r.names.identity, env.identity_resource_group
                    ),
                    "include `{env}` or `{region}` in naming.identity, or place the environments' identities in different resource groups",
                ));
            }
        }
    }
}
