//! What a runner may do and who can make it do it: its Azure roles and Graph permissions, its
//! job pods' Kubernetes access and accounts, privileged pods, who can run jobs on it, where its
//! token comes from, what its manager may do. One [`Access`] per runner, computed once from the
//! model: [`Access::of`] (what the rendered files grant; `diff`'s spec side in both modes) is
//! [`Access::planned`] (what PERMISSIONS.md and `runnergen explain` show) without the
//! Kubernetes side of a runner that is not ready. `readback::access` reads the same facts back
//! from a rendered directory, independently, for the side that has no model (a committed
//! tree); `tests/it/access.rs` keeps the two equal on every golden tree.

use crate::facts;
use crate::model::{Environment, Fleet, RoleAssignment, Runner, TokenSource};
use crate::spec::{AccessLevel, KubernetesAccess, RunnerType};
use crate::vocab;
use k8s_openapi::api::rbac::v1::PolicyRule;
use std::collections::{BTreeMap, BTreeSet};

/// A runner's managed identity, as far as revoking it needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub resource_group: String,
    pub subscription_id: String,
    /// Once Azure created it and the spec or the outputs file carry it.
    pub client_id: Option<String>,
}

impl Identity {
    /// Who a role assignment names, as a shell word for `az role assignment delete
    /// --assignee`: the client ID, or a lookup of the principal by name.
    pub fn assignee(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| self.principal_lookup())
    }

    /// `$(az identity show … --query principalId -o tsv)`.
    pub fn principal_lookup(&self) -> String {
        format!(
            "$(az identity show --name {} --resource-group {} --subscription {} --query principalId -o tsv)",
            self.name, self.resource_group, self.subscription_id
        )
    }
}

/// Who can make a runner run a job, besides `run_untagged` and `protected`: registration.json.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub runner_type: RunnerType,
    /// The GitLab group or project.
    pub path: String,
    /// Locked to that group or project.
    pub locked: bool,
    pub tags: Vec<String>,
}

/// Where External Secrets Operator reads the runner's token: the ExternalSecret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenStore {
    /// The Key Vault secret.
    pub key_vault_secret: String,
    /// The (Cluster)SecretStore it reads through.
    pub store: String,
}

/// A runner's workload in the cluster: the accounts its manager and its jobs run as, what binds
/// them, and the Secret its token is in. From its Kubernetes files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    /// The manager's namespace and service account (the subject of its RoleBinding).
    pub namespace: String,
    pub manager_service_account: String,
    /// The job pods' namespace and service account (config.toml).
    pub job_namespace: String,
    pub job_service_account: String,
    /// Manager and jobs run as one account (`serviceAccounts: shared`).
    pub shared_service_account: bool,
    /// The Role (namespace access) or ClusterRoleBinding (cluster-admin) that gives the job
    /// pods their Kubernetes access; none without access.
    pub job_binding: Option<String>,
    /// The rules of the job pods' Role; none without namespace access.
    pub job_rules: Vec<PolicyRule>,
    /// The rules of the manager's Role in the job namespace.
    pub manager_rules: Vec<PolicyRule>,
    /// The Secret in the manager's namespace the manager reads its token from.
    pub token_secret: String,
    /// Where External Secrets Operator fills that Secret from; none for an existing Secret.
    pub token_store: Option<TokenStore>,
    /// The storage account of the Azure blob cache, by name (config.toml).
    pub cache_account: Option<String>,
}

/// The job pods' settings beyond runnergen's own, from config.toml's `[runners.kubernetes]`:
/// what bears on what a pod may do and where it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSettings {
    /// `kubernetes.extra`: every `[runners.kubernetes]` key runnergen does not write itself
    /// (`vocab::RUNNER_KUBERNETES_KEYS`), with its TOML value. Capabilities, security
    /// contexts, `pod_spec` patches, volumes, the runtime class, the helper image: each can
    /// change what a job pod may do, so `diff` takes any change of one as a widening.
    pub extra: BTreeMap<String, String>,
    pub node_selector: BTreeMap<String, String>,
    /// The pod labels a job may set (`pod_labels_overwrite_allowed`); none when it may set none.
    pub labels_overwrite: Option<String>,
    /// `key[=value]` → effect, as config.toml's `node_tolerations` writes them.
    pub tolerations: BTreeMap<String, String>,
}

/// What a runner may do and who can make it do it: the security facts `diff` compares and
/// PERMISSIONS.md shows. Each field is `None` (or empty) where the files that hold it are not
/// rendered: the Kubernetes side (`kubernetes`, `privileged`, `runner_name`, `workload`) exists
/// only once every identity the runner's pods use has its client ID.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Access {
    /// (role display name, scope ID), in the model's order.
    pub roles: Vec<(String, String)>,
    pub graph: BTreeSet<String>,
    pub kubernetes: Option<KubernetesAccess>,
    pub privileged: Option<bool>,
    /// The Pod Security level the job pods run under (their namespace's label).
    pub pod_security: Option<String>,
    pub run_untagged: Option<bool>,
    pub protected: Option<bool>,
    pub trigger: Option<Trigger>,
    pub token_source: Option<String>,
    /// The name the chart registers the manager under (it reaches the chart's shell script).
    pub runner_name: Option<String>,
    pub identity: Option<Identity>,
    /// The deployment stack that deploys the runner's identities (the main deployment of the
    /// environment's shard that holds them: `runnergen-<env>` or `runnergen-<env>-NN`). An
    /// identity that changes stacks is deleted by the one it leaves and created anew.
    pub stack: Option<String>,
    /// The runner manager's own identity for the Azure cache, and its (role, scope) pairs.
    pub manager_roles: Vec<(String, String)>,
    pub manager_identity: Option<Identity>,
    /// The managed identity the environment's Key Vault store reads the vault as, when
    /// runnergen renders the store.
    pub store_identity: Option<String>,
    /// The stack that deploys the store's identity (its environment's first shard).
    pub store_stack: Option<String>,
    pub workload: Option<Workload>,
    /// The GitLab the manager registers with and sends its token to (registration.json).
    pub gitlab_url: Option<String>,
    /// The job pods' own settings and placement (config.toml).
    pub pods: Option<PodSettings>,
    /// Where the manager's chart comes from (its repository, without `oci://`: the Flux
    /// HelmRepository or the Argo CD Application; none with the `plain` engine) and the manager
    /// image when the spec overrides it (values.yaml): code that runs with the manager's token.
    pub chart_repository: Option<String>,
    pub chart_image: Option<String>,
    /// What the spec's chart values add to or change in runnergen's (`vocab::
    /// chart_values_beyond`): the manager pod's security context, host access, volumes,
    /// environment (a proxy), CA certificates: each can change what the manager may do.
    pub chart_values: Option<BTreeMap<String, String>>,
}

impl Access {
    /// What the rendered files of `r` grant: [`Access::planned`] without the Kubernetes side
    /// while it is not rendered.
    pub fn of(fleet: &Fleet, env: &Environment, r: &Runner) -> Access {
        let mut a = Access::planned(fleet, env, r);
        if !r.ready() {
            a.kubernetes = None;
            a.privileged = None;
            a.pod_security = None;
            a.runner_name = None;
            a.workload = None;
            a.pods = None;
            a.chart_repository = None;
            a.chart_image = None;
            a.chart_values = None;
        }
        a
    }

    /// Everything `r` is set up to do, its Kubernetes side included before its files are
    /// rendered: what PERMISSIONS.md shows.
    pub fn planned(fleet: &Fleet, env: &Environment, r: &Runner) -> Access {
        let identity = |name: &str, client_id: &Option<String>| Identity {
            name: name.to_owned(),
            resource_group: env.identity_resource_group.clone(),
            subscription_id: env.identity_subscription_id.clone(),
            client_id: client_id.clone(),
        };
        Access {
            roles: role_pairs(r.roles()),
            graph: r.graph_permissions().map(str::to_owned).collect(),
            kubernetes: Some(r.kubernetes_access),
            privileged: Some(r.privileged),
            pod_security: Some(r.pod_security.to_owned()),
            run_untagged: Some(r.run_untagged),
            protected: Some(r.access_level == AccessLevel::RefProtected),
            trigger: Some(Trigger {
                runner_type: r.runner_type,
                path: r.path.clone(),
                locked: r.locked,
                tags: r.tags.clone(),
            }),
            token_source: Some(token_source(fleet, env, r)),
            runner_name: Some(r.names.runner_name.clone()),
            identity: r
                .has_identity()
                .then(|| identity(&r.names.identity, &r.client_id().map(str::to_owned))),
            stack: r.has_identity().then(|| env.deployments_of(&r.key).main),
            manager_roles: r
                .cache_identity
                .as_ref()
                .map(|c| role_pairs(&c.roles))
                .unwrap_or_default(),
            manager_identity: r
                .cache_identity
                .as_ref()
                .map(|c| identity(&r.names.cache_identity, &c.client_id)),
            store_identity: env.store.as_ref().map(|s| s.identity.clone()),
            store_stack: env.store.as_ref().map(|_| env.store_deployments().main),
            workload: Some(workload(fleet, env, r)),
            gitlab_url: Some(fleet.gitlab_url.clone()),
            pods: Some(pods(r)),
            chart_repository: (fleet.gitops.engine != crate::spec::GitopsEngine::Plain)
                .then(|| chart_repository(&fleet.chart.repository)),
            chart_values: Some(chart_values(r)),
            chart_image: fleet
                .chart
                .image
                .as_ref()
                .map(|i| chart_image(&i.registry, &i.repository, &i.tag)),
        }
    }

    /// Who can make runner `key` of `env` run a job and what the job gets, as `overlap`
    /// compares runners; none where the registration is not known.
    pub fn reach(&self, env: &str, key: &str) -> Option<crate::overlap::Reach> {
        let trigger = self.trigger.as_ref()?;
        let own = crate::names::own_tag(env, key);
        Some(crate::overlap::Reach {
            env: env.to_owned(),
            key: key.to_owned(),
            runner_type: trigger.runner_type,
            path: trigger.path.clone(),
            asked: crate::overlap::Reach::asked(&trigger.tags, &own),
            tags: trigger.tags.clone(),
            run_untagged: self.run_untagged.unwrap_or(false),
            protected: self.protected.unwrap_or(false),
            grants: crate::overlap::Grants {
                roles: self.roles.iter().cloned().collect(),
                graph: self.graph.clone(),
                kubernetes: self.kubernetes,
                privileged: self.privileged,
            },
        })
    }

    /// True when role `role` on `scope` is one the blob cache's SAS needs, on the cache's own
    /// storage account: the manager signs the SAS with the identity that holds it.
    pub fn signs_cache_sas(&self, role: &str, scope: &str) -> bool {
        let Some(account) = self
            .workload
            .as_ref()
            .and_then(|w| w.cache_account.as_ref())
        else {
            return false;
        };
        facts::CACHE_MANAGER_ROLES.contains(&role)
            && facts::parse_resource_id(scope).is_some_and(|id| {
                id.resource_type
                    .eq_ignore_ascii_case("Microsoft.Storage/storageAccounts")
                    && id.name == *account
            })
    }
}

/// (role display name, scope ID) of each role assignment, in order.
fn role_pairs(roles: &[RoleAssignment]) -> Vec<(String, String)> {
    roles
        .iter()
        .map(|ra| (ra.display_name(), ra.scope.id()))
        .collect()
}

/// The spec's chart values over runnergen's defaults, as `vocab::chart_values_beyond` compares
/// them.
fn chart_values(r: &Runner) -> BTreeMap<String, String> {
    let mut values = vocab::chart_value_defaults();
    if let serde_json::Value::Object(ours) = &mut values {
        crate::spec::instances::deep_merge(ours, &r.chart_values);
    }
    vocab::chart_values_beyond(&values)
}

/// A chart repository as both sides compare it: Flux writes `oci://` URLs, Argo CD without it.
pub fn chart_repository(url: &str) -> String {
    url.trim_start_matches("oci://").to_owned()
}

/// The manager image as `registry/repository:tag`.
pub fn chart_image(registry: &str, repository: &str, tag: &str) -> String {
    format!("{registry}/{repository}:{tag}")
}

/// The job pods' own settings and placement, as config.toml writes them.
fn pods(r: &Runner) -> PodSettings {
    PodSettings {
        extra: r
            .kubernetes_extra
            .iter()
            .map(|(k, v)| {
                let text =
                    toml::Value::try_from(v).map_or_else(|_| v.to_string(), |t| t.to_string());
                (k.clone(), text)
            })
            .collect(),
        node_selector: r.node_selector.clone(),
        labels_overwrite: r.pod_labels_overwrite.clone(),
        tolerations: r
            .tolerations
            .iter()
            .map(|t| {
                (
                    vocab::toleration_key(t),
                    vocab::toleration_effect(t.effect).to_owned(),
                )
            })
            .collect(),
    }
}

/// The runner's workload as its Kubernetes files set it up.
fn workload(fleet: &Fleet, env: &Environment, r: &Runner) -> Workload {
    let n = &r.names;
    Workload {
        namespace: n.namespace.clone(),
        manager_service_account: n.manager_service_account.clone(),
        job_namespace: n.job_namespace.clone(),
        job_service_account: n.job_service_account.clone(),
        shared_service_account: r.shared_service_account,
        job_binding: (r.kubernetes_access != KubernetesAccess::None).then(|| n.job_binding.clone()),
        job_rules: match r.kubernetes_access {
            KubernetesAccess::Namespace => vocab::job_namespace_rules(),
            _ => Vec::new(),
        },
        manager_rules: vocab::manager_rules(),
        token_secret: n.token_secret.clone(),
        token_store: match (&fleet.token, &env.secret_store) {
            (TokenSource::ExternalSecret { .. }, Some(store)) => Some(TokenStore {
                key_vault_secret: n.key_vault_secret.clone(),
                store: store.clone(),
            }),
            _ => None,
        },
        cache_account: r.cache.as_ref().map(|c| c.account_name.clone()),
    }
}

/// The words for a level of job-pod Kubernetes access, as `diff` and PERMISSIONS.md write it.
pub fn kubernetes_access_name(a: KubernetesAccess) -> &'static str {
    match a {
        KubernetesAccess::None => "none",
        KubernetesAccess::Namespace => "namespace",
        KubernetesAccess::ClusterAdmin => "cluster-admin",
    }
}

/// Where a runner's token is kept, in words.
fn token_source(fleet: &Fleet, env: &Environment, r: &Runner) -> String {
    match fleet.token {
        TokenSource::ExternalSecret { .. } => key_vault_source(
            env.key_vault.as_deref().unwrap_or("?"),
            &r.names.key_vault_secret,
        ),
        TokenSource::ExistingSecret => existing_secret_source(&r.names.token_secret),
    }
}

pub fn key_vault_source(vault: &str, secret: &str) -> String {
    format!("Key Vault {vault}/{secret}")
}

pub fn existing_secret_source(name: &str) -> String {
    format!("existing Secret {name}")
}
