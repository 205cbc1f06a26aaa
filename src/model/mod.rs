//! The resolved fleet: every default applied and every name derived, once.
//!
//! Renderers read names and values from here and never recompute them, so two artifacts that
//! must agree (the federated credential's subject and the job pods' service account, the
//! Secret the ExternalSecret fills and the one the chart mounts) agree by construction.
//!
//! Architecture invariant: the model is built only from a spec that passed `spec::read`; it
//! knows nothing of output formats, nor where in the spec's text anything is (its problems
//! name pointers, which `compile` locates).

mod azure;
mod checks;
mod cluster;
mod outputs;
mod owned;
mod platform;
mod promotion;
mod runner;
mod shard;
pub mod store;

pub use promotion::Promotion;

pub use platform::{EsoDefaults, Platform, Version};
pub use shard::{SHARD_SIZE, Shard, fitting_count, jump_hash, shard_of};
pub use store::Store;

pub use outputs::Files;

/// A role group's kind names its module file, so it is the layout's; the model reads it.
pub use crate::layout::ModuleKind;
pub use crate::names::Names;
pub use azure::{
    Deployments, GraphGrant, GroupRole, RoleAssignment, RoleGroup, Scope, fnv1a32, fnv1a64,
};

use crate::facts;
use crate::spec::{Problem, types as t};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Serialize)]
pub struct Fleet {
    pub organization: String,
    /// The fleet's identity in GitLab's maintenance notes (`fleet`, else `organization`).
    pub id: String,
    pub gitlab_url: String,
    pub chart: Chart,
    pub gitops: Gitops,
    pub token: TokenSource,
    pub restart_on_rotation: t::RestartOnRotation,
    /// Sorted by key.
    pub environments: Vec<Environment>,
    /// Declared intended differences between environments.
    pub promotions: Vec<Promotion>,
    /// The fleet's lint report: `build` leaves it empty; `compile::resolve` runs the lint on
    /// the built fleet and hands the placed report here, where PERMISSIONS.md, `runnergen
    /// lint`, `validate` and `render` read it.
    #[serde(skip)]
    pub lint: crate::findings::Report,
    /// Which runners' jobs can land on which others (`overlap`): lint rule L011 and
    /// PERMISSIONS.md read it.
    #[serde(skip)]
    pub overlaps: crate::overlap::Overlaps,
}

impl Fleet {
    /// What is declared for promoting `from` to `to` (nothing, when nothing is).
    pub fn promotion(&self, from: &str, to: &str) -> Promotion {
        self.promotions
            .iter()
            .find(|p| p.from == from && p.to == to)
            .cloned()
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Chart {
    pub version: String,
    pub repository: String,
    /// `oci://` repositories are installed differently by Flux and Argo CD.
    pub is_oci: bool,
    pub image: Option<Image>,
    pub provider: t::ChartProvider,
    pub secret_ref: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Image {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Gitops {
    pub engine: t::GitopsEngine,
    pub argocd_namespace: String,
    pub argocd_project: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TokenSource {
    /// The store each environment's ExternalSecrets read through is the environment's
    /// ([`Environment::secret_store`]).
    ExternalSecret {
        store_kind: t::StoreKind,
        refresh_interval: String,
    },
    ExistingSecret,
}

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub key: String,
    pub long_name: String,
    pub region_code: String,
    pub location: String,
    pub tenant_id: String,
    /// Alias to subscription ID, sorted by alias.
    pub subscriptions: BTreeMap<String, String>,
    pub identity_subscription_id: String,
    pub identity_resource_group: String,
    /// The Azure deployment declares the identities' resource group (`createResourceGroup`),
    /// rather than referring to it as existing.
    pub create_resource_group: bool,
    pub oidc_issuer_url: String,
    pub key_vault: Option<String>,
    /// What the environment's files are applied on: the Flux flavour, the controllers'
    /// versions.
    pub platform: Platform,
    /// The (Cluster)SecretStore the environment's ExternalSecrets read through (`storeName`
    /// expanded for the environment); none when the tokens come from existing Secrets.
    pub secret_store: Option<String>,
    /// Sorted by key.
    pub runners: Vec<Runner>,
    /// The Key Vault secret store runnergen renders for the environment (in its first shard).
    pub store: Option<Store>,
    /// How many deployments (stacks) its Azure identities are split over (`identities.shards`,
    /// default 1: one, unsharded); see `Environment::shards`.
    pub shard_count: u32,
}

impl Environment {
    /// Whether the environment has an Azure deployment at all: a runner with an identity, or the
    /// Key Vault store's.
    pub fn has_azure(&self) -> bool {
        self.store.is_some() || self.runners.iter().any(Runner::has_identity)
    }

    /// Runners whose client ID is known: they get Kubernetes files.
    pub fn ready_runners(&self) -> impl Iterator<Item = &Runner> {
        self.runners.iter().filter(|r| r.ready())
    }

    /// Every Azure identity of the environment, in order: each runner's and its manager's
    /// cache identity, then the Key Vault store's.
    pub fn identities(&self) -> impl Iterator<Item = IdentityRef<'_>> {
        let runners = self.runners.iter().flat_map(|r| {
            let cache = r.cache_identity.as_ref().map(|c| IdentityRef {
                owner: IdentityOwner::Cache(r),
                name: &r.names.cache_identity,
                identity: c,
            });
            let own = r.identity.as_ref().map(|i| IdentityRef {
                owner: IdentityOwner::Runner(r),
                name: &r.names.identity,
                identity: i,
            });
            own.into_iter().chain(cache)
        });
        let store = self.store.as_ref().map(|s| IdentityRef {
            owner: IdentityOwner::Store(&self.key),
            name: &s.identity,
            identity: &s.azure,
        });
        runners.chain(store)
    }
}

/// Whose an Azure identity is.
#[derive(Clone, Copy, Debug)]
pub enum IdentityOwner<'a> {
    Runner(&'a Runner),
    /// A runner manager's cache identity.
    Cache(&'a Runner),
    /// The Key Vault store of the environment with this key.
    Store(&'a str),
}

/// One Azure identity of an environment, with its client ID and where that came from.
#[derive(Clone, Copy, Debug)]
pub struct IdentityRef<'a> {
    pub owner: IdentityOwner<'a>,
    pub name: &'a str,
    pub identity: &'a AzureIdentity,
}

impl IdentityRef<'_> {
    /// The identity in messages: "runner `tf`", "runner `tf`'s cache identity", "the Key Vault
    /// store of `ss`".
    pub fn who(&self) -> String {
        match self.owner {
            IdentityOwner::Runner(r) => format!("runner `{}`", r.key),
            IdentityOwner::Cache(r) => format!("runner `{}`'s cache identity", r.key),
            IdentityOwner::Store(env) => format!("the Key Vault store of `{env}`"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Runner {
    pub key: String,
    pub environment: String,
    /// JSON pointer of the runner (in this environment) in the spec (`spec::Instance::at`).
    #[serde(skip)]
    pub at: String,
    pub runner_type: t::RunnerType,
    pub path: String,
    pub purpose: String,
    /// Every name of the runner's objects, derived once (`names::RULES`).
    pub names: Names,
    /// Region code, runner key, the runner's own tag `<env>-<key>`, then the spec's tags; no
    /// duplicates (seed: `flatten([[region], [name], tags])`, plus the own tag).
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub locked: bool,
    pub access_level: t::AccessLevel,
    pub maximum_timeout: Option<u32>,
    pub privileged: bool,
    /// The Pod Security level of the job pods' namespace (`vocab::pod_security_level`: from
    /// `privileged` and what `kubernetes.extra` gives the pods).
    pub pod_security: &'static str,
    pub concurrent: u32,
    pub check_interval: u32,
    pub termination_grace_period_seconds: u32,
    pub job_image: String,
    pub requests: ResourceList,
    pub limits: ResourceList,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<t::Toleration>,
    pub cache: Option<Cache>,
    /// True when manager and job pods share one account (seed behaviour).
    pub shared_service_account: bool,
    /// The runner manager's own identity for the Azure blob cache (a cache with separate
    /// accounts): gitlab-runner's manager signs a user-delegation SAS for every cache URL
    /// (`cache/azure/adapter.go`), the job pod only uses it.
    pub cache_identity: Option<AzureIdentity>,
    /// Labels on every Kubernetes object of this runner.
    pub labels: BTreeMap<String, String>,
    /// The GitLab path as a valid label value (the seed's `deployment_repository`; `/` is not
    /// allowed in label values, so it becomes `.`).
    pub repository_label: String,

    pub oidc_issuer_url: String,
    pub tenant_id: String,
    /// The spec gives the runner an `identity`: without one it has no Azure side (no identity,
    /// no federated credential, nothing in the Azure deployment) and its job pods run as a
    /// plain service account.
    /// Extra chart values: the fleet's `chart.values` with the runner's merged over them
    /// (checked by `spec::escape`: none of them is one runnergen sets).
    pub chart_values: serde_json::Map<String, serde_json::Value>,
    /// Extra `[runners.kubernetes]` keys of config.toml (`kubernetes.extra`).
    pub kubernetes_extra: BTreeMap<String, serde_json::Value>,
    /// The labels a job may set on its pod (config.toml `pod_labels_overwrite_allowed`); none
    /// when jobs may set none.
    pub pod_labels_overwrite: Option<String>,
    /// The subscription the runner's CI template works in (`ARM_SUBSCRIPTION_ID`): its
    /// identity's `subscription`, else the environment's identities subscription.
    pub ci_subscription_id: String,
    /// Job environment variables (config.toml `environment`), by name.
    pub job_variables: BTreeMap<String, String>,
    /// The job pods' Azure identity, when the spec gives the runner an `identity`: without one
    /// it has no Azure side (no identity, no federated credential, nothing in the Azure
    /// deployment) and its job pods run as a plain service account.
    pub identity: Option<AzureIdentity>,
    /// Sorted by permission.
    pub graph: Vec<GraphGrant>,
    pub kubernetes_access: t::KubernetesAccess,
    /// Fields of this runner that may differ between environments (`promotion.expect`).
    pub promotion_expect: BTreeSet<t::PromotionField>,
    /// Role assignments of this runner that may be on one side of a promotion only
    /// (`promotion.expect`'s `roles`), read in its environment.
    #[serde(skip)]
    pub promotion_expect_roles: Vec<RoleAssignment>,
}

/// What every Azure identity of the fleet carries, whoever's it is (a runner's job pods', its
/// manager's cache identity, an environment's Key Vault store): its client ID once known, and
/// its role assignments.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AzureIdentity {
    pub client_id: Option<String>,
    /// Where the client ID comes from: a JSON pointer into the spec (`identity.clientId`, or
    /// the environment's `identityOutputs` file).
    #[serde(skip)]
    pub client_id_at: Option<String>,
    #[serde(skip)]
    pub roles: Vec<RoleAssignment>,
    /// The roles grouped by target scope, one nested deployment each (their deployment names
    /// and symbols derive from the identity's template symbol).
    pub role_groups: Vec<RoleGroup>,
}

impl AzureIdentity {
    /// The identity whose template symbol is `symbol`, with its client ID (and where it was
    /// found) and roles.
    pub fn new(
        symbol: &str,
        (client_id, client_id_at): (Option<String>, Option<String>),
        roles: Vec<RoleAssignment>,
    ) -> Self {
        AzureIdentity {
            client_id,
            client_id_at,
            role_groups: azure::role_groups(symbol, &roles),
            roles,
        }
    }
}

impl Runner {
    /// Whether every identity the runner's pods use has its client ID: then it gets its
    /// Kubernetes files (two-phase rollout).
    pub fn ready(&self) -> bool {
        [&self.identity, &self.cache_identity]
            .into_iter()
            .flatten()
            .all(|i| i.client_id.is_some())
    }

    /// Whether the job pods have an Azure identity.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// The job pods' identity's client ID, once known.
    pub fn client_id(&self) -> Option<&str> {
        self.identity.as_ref().and_then(|i| i.client_id.as_deref())
    }

    /// The job pods' identity's role assignments (none without an identity).
    pub fn roles(&self) -> &[RoleAssignment] {
        self.identity.as_ref().map_or(&[], |i| &i.roles)
    }

    /// The Microsoft Graph permissions of the runner's identity, sorted.
    pub fn graph_permissions(&self) -> impl Iterator<Item = &str> {
        self.graph.iter().map(|g| g.permission.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResourceList {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub ephemeral_storage: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cache {
    pub account_name: String,
    pub account_id: String,
    pub container: String,
    pub shared: bool,
}

/// Defaults of values that are not names (names: `names::RULES`).
pub mod defaults {
    pub const JOB_IMAGE: &str = "alpine:3.22";
    pub const STORE_NAME: &str = "azure-key-vault";
    pub const REFRESH_INTERVAL: &str = "1h";
    pub const CONCURRENT: u32 = 10;
    pub const CHECK_INTERVAL: u32 = 30;
    pub const TERMINATION_GRACE_PERIOD_SECONDS: u32 = 3600;
    pub const ARGOCD_NAMESPACE: &str = "argocd";
    pub const ARGOCD_PROJECT: &str = "default";
}

/// Builds the model from a checked spec (`spec::Checked` reads as one). Derived names that
/// are invalid where they go, or that collide, are problems at the runner they come from,
/// located by the caller (`compile::resolve`). `files` reads the files the spec names
/// (`identityOutputs`).
pub fn build(s: &t::Spec, files: Files) -> Result<Fleet, Vec<Problem>> {
    use rayon::prelude::*;
    // Environment by environment, on every core; their problems in the spec's order.
    let built: Vec<(Environment, Vec<Problem>)> = s
        .environments
        .par_iter()
        .map(|(ek, e)| {
            let mut diags = Vec::new();
            let env = environment(s, ek, e, files, &mut diags);
            shard::check(&env, &mut diags);
            (env, diags)
        })
        .collect();
    let mut diags = Vec::new();
    let environments: Vec<Environment> = built
        .into_iter()
        .map(|(env, d)| {
            diags.extend(d);
            env
        })
        .collect();
    let gitops = gitops(&s.gitops);
    checks::collisions(&environments, &mut diags);
    cluster::shared(&environments, &gitops, &mut diags);
    cluster::store_namespaces(&environments, &mut diags);
    owned::namespaces(&environments, &owned::tool_namespaces(s), &mut diags);
    owned::vault_secrets(&environments, &mut diags);
    owned::own_tags(&environments, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let reaches: Vec<crate::overlap::Reach> = environments
        .iter()
        .flat_map(|e| e.runners.iter().map(|r| r.reach(&e.key)))
        .collect();
    Ok(Fleet {
        lint: Default::default(),
        overlaps: crate::overlap::Overlaps::compute(&reaches),
        organization: s.organization.clone(),
        id: fleet_id(s).to_owned(),
        // One spelling whatever the spec wrote: a trailing slash, once (gitlab-runner's own
        // examples write `https://gitlab.com/`).
        gitlab_url: format!("{}/", s.gitlab.url.trim_end_matches('/')),
        chart: chart(&s.chart),
        gitops,
        token: token_source(&s.token_source),
        restart_on_rotation: s.token_source.restart_on_rotation.unwrap_or_default(),
        environments,
        promotions: s.promotion.iter().map(|p| promotion::of(s, p)).collect(),
    })
}

/// The fleet's identity in GitLab: `fleet`, or else the organization (stable: it changes only
/// when the spec says so).
pub(crate) fn fleet_id(s: &t::Spec) -> &str {
    s.fleet.as_deref().unwrap_or(&s.organization)
}

fn chart(c: &t::Chart) -> Chart {
    Chart {
        version: c
            .version
            .clone()
            .unwrap_or_else(|| facts::CHART_VERSION.into()),
        // Flux and Argo CD compare repository URLs as strings: no trailing slash.
        repository: c
            .repository
            .as_deref()
            .unwrap_or(facts::CHART_REPOSITORY)
            .trim_end_matches('/')
            .to_owned(),
        is_oci: c
            .repository
            .as_deref()
            .is_some_and(|r| r.starts_with("oci://")),
        image: c.image.as_deref().and_then(split_image),
        // An OCI chart in Azure Container Registry signs in with Azure by default.
        provider: c.provider.unwrap_or(
            match c
                .repository
                .as_deref()
                .and_then(|r| r.strip_prefix("oci://"))
            {
                Some(r)
                    if r.split('/')
                        .next()
                        .is_some_and(|h| h.ends_with(".azurecr.io")) =>
                {
                    t::ChartProvider::Azure
                }
                _ => t::ChartProvider::Generic,
            },
        ),
        secret_ref: c.secret_ref.clone(),
    }
}

/// `registry/repository:tag` (the schema's pattern guarantees all three).
fn split_image(s: &str) -> Option<Image> {
    let (registry, rest) = s.split_once('/')?;
    let (repository, tag) = rest.rsplit_once(':')?;
    Some(Image {
        registry: registry.into(),
        repository: repository.into(),
        tag: tag.into(),
    })
}

fn gitops(g: &t::Gitops) -> Gitops {
    Gitops {
        engine: g.engine,
        argocd_namespace: g
            .argocd_namespace
            .clone()
            .unwrap_or_else(|| defaults::ARGOCD_NAMESPACE.into()),
        argocd_project: g
            .argocd_project
            .clone()
            .unwrap_or_else(|| defaults::ARGOCD_PROJECT.into()),
    }
}

fn token_source(ts: &t::TokenSource) -> TokenSource {
    if ts.existing_secret.is_some() {
        return TokenSource::ExistingSecret;
    }
    let es = ts.external_secret.as_ref();
    TokenSource::ExternalSecret {
        store_kind: es
            .and_then(|e| e.store_kind)
            .unwrap_or(t::StoreKind::ClusterSecretStore),
        refresh_interval: es
            .and_then(|e| e.refresh_interval.clone())
            .unwrap_or_else(|| defaults::REFRESH_INTERVAL.into()),
    }
}

fn environment(
    s: &t::Spec,
    ek: &str,
    e: &t::Environment,
    files: Files,
    diags: &mut Vec<Problem>,
) -> Environment {
    let outputs = outputs::load(ek, e, files, diags);
    let platform = platform::resolve(s, ek, e, diags);
    let runners = s
        .instances
        .iter()
        .filter(|i| i.env == ek)
        .map(|i| {
            let input = runner::Input {
                spec: s,
                env_key: ek,
                env: e,
                key: &i.key,
                at: &i.at,
                runner: &i.runner,
                outputs: &outputs,
                platform: &platform,
            };
            runner::resolve(input, diags)
        })
        .collect();
    let mut env = Environment {
        store: None,
        key: ek.to_owned(),
        long_name: e.long_name.clone(),
        region_code: e.region_code.clone(),
        location: e.location.clone(),
        tenant_id: e.tenant_id.to_lowercase(),
        subscriptions: e
            .subscriptions
            .iter()
            .map(|(k, v)| (k.clone(), v.to_lowercase()))
            .collect(),
        identity_subscription_id: e.subscriptions[&e.identities.subscription].to_lowercase(),
        identity_resource_group: e.identities.resource_group.clone(),
        create_resource_group: e.identities.create_resource_group.unwrap_or(false),
        oidc_issuer_url: e.cluster.oidc_issuer_url.clone(),
        key_vault: e.key_vault.as_ref().map(|k| k.name.clone()),
        secret_store: store::name(s, ek, e, diags),
        platform,
        runners,
        shard_count: e.identities.shards.unwrap_or(1),
    };
    env.store = store::resolve(s, ek, e, &env, &outputs, diags);
    env
}
