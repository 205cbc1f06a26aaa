//! A runner as the user writes it: where it registers, what its job pods may do, and the Azure
//! identity its jobs use.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunnerType {
    /// A group runner (`group_type`).
    Group,
    /// A project runner (`project_type`).
    Project,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    /// Jobs from any branch (default).
    #[default]
    NotProtected,
    /// Only jobs from protected branches and tags.
    RefProtected,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceAccountMode {
    /// The manager and the job pods get separate service accounts (default): only the job
    /// pods carry the Azure identity.
    #[default]
    Separate,
    /// One account for both, as the Terraform article does.
    Shared,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Runner {
    /// Key of the environment this runner runs in (or `environments`).
    pub environment: Option<String>,
    /// The environments this runner runs in, instead of one `environment`: the same runner,
    /// under the same key, in each. Names derive from each environment as usual
    /// (`weu-dev-msi-gitlab-deploy`, `weu-prd-msi-gitlab-deploy`), files go to
    /// `<env>/<runner>/`, and the promotion preview pairs them by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1), example = &["dev", "prd"])]
    pub environments: Vec<String>,
    /// What differs in one environment, by environment key: any runner field but `environment`,
    /// `environments` and `overrides`, merged into the runner (mappings key by key; lists and
    /// single values replace, except `acknowledge`, whose entries are added to the runner's).
    /// `{prd: {concurrent: 20, tags: [prod]}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// `group` or `project` runner.
    #[serde(rename = "type")]
    pub runner_type: RunnerType,
    /// Full path of the GitLab group or project (`ascodenl/infra`).
    #[schemars(pattern(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$"), example = &"ascodenl/infra")]
    pub path: String,
    /// What the runner is for; becomes the identity's `purpose` tag.
    #[schemars(length(min = 1, max = 256))]
    pub purpose: String,
    /// Job tags, after the region code and the runner name (as the Terraform article does) and the runner's
    /// own tag `<env>-<runner>`, which are always added.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Pick up jobs without tags. Default `false`.
    pub run_untagged: Option<bool>,
    /// Lock the runner to its current projects. Default `false`.
    pub locked: Option<bool>,
    /// `not_protected` (default) or `ref_protected`.
    pub access_level: Option<AccessLevel>,
    /// Maximum job timeout in seconds (at least 600). Default: none.
    #[schemars(range(min = 600, max = 2_592_000))]
    pub maximum_timeout: Option<u32>,
    /// Run job pods privileged (Docker-in-Docker with TLS certs in memory). Default `false`.
    pub privileged: Option<bool>,
    /// Maximum concurrent jobs. Default `10` (the Terraform article's).
    #[schemars(range(min = 1, max = 1000))]
    pub concurrent: Option<u32>,
    /// Seconds between job polls. Default `30` (the Terraform article's).
    #[schemars(range(min = 1, max = 3600))]
    pub check_interval: Option<u32>,
    /// Seconds the manager pod gets to finish running jobs on shutdown. Default `3600` (the Terraform article's).
    #[schemars(range(min = 0, max = 86400))]
    pub termination_grace_period_seconds: Option<u32>,
    /// Default image for jobs that name none. Default `alpine:3.22`.
    #[schemars(length(min = 1))]
    pub job_image: Option<String>,
    /// Requests and limits of the job (build) container.
    pub resources: Option<Resources>,
    /// Node selector for job pods.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations for job pods.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Azure blob cache without an account key: the manager signs each job's SAS as its own identity.
    pub cache: Option<Cache>,
    /// `separate` (default) or `shared` service accounts for manager and job pods.
    pub service_accounts: Option<ServiceAccountMode>,
    /// This runner's own names, over the fleet's `naming` (same fields): each field given is a
    /// template or a literal name for this runner only (`{namespace: gitlab-3f9a1c}`, as
    /// `runnergen import` writes to keep a Terraform fleet's random-suffixed names). The names
    /// must still differ from every other runner's where they must be unique.
    pub naming: Option<crate::names::Naming>,
    /// Environment variables of every job (config.toml `environment`), by name
    /// (`{HTTPS_PROXY: "http://proxy:3128", NO_PROXY: ".svc,.cluster.local"}`). Never a
    /// secret: use GitLab CI/CD variables for those.
    #[serde(default)]
    pub job_variables: BTreeMap<String, String>,
    /// `[runners.kubernetes]` settings with no field of their own.
    pub kubernetes: Option<KubernetesSettings>,
    /// Extra chart values for this runner.
    pub chart: Option<RunnerChart>,
    /// The runner's Azure managed identity and what it may do. Without it the runner has no
    /// Azure side at all: no managed identity, no federated credential, nothing in the
    /// environment's Azure deployment, no wait for a client ID; its job pods run as a plain
    /// service account. `identity: {}` is an identity with no roles.
    pub identity: Option<Identity>,
    /// Differences of this runner between environments that are meant to be.
    pub promotion: Option<RunnerPromotion>,
    /// Lint findings on this runner that are accepted, each with what it is about and why
    /// (`runnergen lint`). Acknowledged findings still print, marked, and do not fail `lint
    /// --strict`. Written here, an entry applies in every environment of the runner; written in
    /// `overrides.<env>`, it is added to these in that environment only.
    #[serde(default)]
    pub acknowledge: Vec<Acknowledgement>,
}

impl Runner {
    /// The identity's roles, permissions and access; nothing for a runner without one.
    pub fn access(&self) -> &Identity {
        static NONE: Identity = Identity {
            client_id: None,
            roles: Vec::new(),
            graph_permissions: Vec::new(),
            kubernetes_access: None,
            subscription: None,
        };
        self.identity.as_ref().unwrap_or(&NONE)
    }
}

/// One runner in one of its environments: its entry with that environment's `overrides`
/// merged in (`environment` set, `environments` and `overrides` empty).
#[derive(Clone, Debug)]
pub struct Instance {
    pub key: String,
    pub env: String,
    /// JSON pointer of the instance's fields in the spec: `/runners/<key>`, or
    /// `/runners/<key>/overrides/<env>` when it has an override (the fields it inherits are
    /// mapped there too, see `spec::instances`).
    pub at: String,
    pub runner: Runner,
    /// Where each of `runner.acknowledge` is written, by JSON pointer: the runner's own
    /// (`/runners/<key>/acknowledge/<i>`), then its override's (`…/overrides/<env>/acknowledge/<j>`).
    pub acknowledge_at: Vec<String>,
}

/// One lint finding accepted on purpose: its rule, what the finding is about (docs/lint-rules.md,
/// "acknowledged by": nothing more for a rule that finds the runner as a whole, `role` and `scope` for a
/// role assignment, `permission` for a Graph permission), and why. A new finding of the same
/// rule about something else is not covered.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Acknowledgement {
    /// The rule's ID (`L001`…, docs/lint-rules.md).
    #[schemars(pattern(r"^L[0-9]{3}$"), example = &"L002")]
    pub rule: String,
    /// For L001, L007 and L008: the role of the assignment found, as `identity.roles` writes it
    /// (a built-in role's name or its GUID).
    #[schemars(length(min = 1), example = &"Owner")]
    pub role: Option<String>,
    /// For L001, L007 and L008: the scope of the assignment found, as `identity.roles` writes it
    /// (`{subscription: "*"}`).
    pub scope: Option<Scope>,
    /// For L006: the Microsoft Graph permission found (`Directory.Read.All`).
    #[schemars(length(min = 1), example = &"Directory.Read.All")]
    pub permission: Option<String>,
    /// Why the finding is accepted, for the reviewer (not empty).
    #[schemars(length(max = 500))]
    pub reason: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// What the scheduler reserves for the build container.
    pub requests: Option<ResourceList>,
    /// The most the build container may use.
    pub limits: Option<ResourceList>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceList {
    /// Kubernetes CPU quantity (`500m`, `2`).
    #[schemars(pattern(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"))]
    pub cpu: Option<String>,
    /// Kubernetes memory quantity (`512Mi`, `4Gi`).
    #[schemars(pattern(r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$"))]
    pub memory: Option<String>,
    /// Kubernetes ephemeral-storage quantity (`10Gi`).
    #[schemars(pattern(r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$"))]
    pub ephemeral_storage: Option<String>,
}

/// What a taint does to pods that do not tolerate it (Kubernetes `TaintEffect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum TolerationEffect {
    /// New pods are not scheduled on the node.
    NoSchedule,
    /// The scheduler avoids the node.
    PreferNoSchedule,
    /// Running pods are evicted too.
    NoExecute,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toleration {
    /// Taint key.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
    /// Taint value; omit to tolerate any value of the key.
    pub value: Option<String>,
    /// Taint effect.
    pub effect: TolerationEffect,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cache {
    /// Resource ID of the storage account
    /// (`/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>`).
    /// The identity that signs the cache's SAS (the manager's own, or the shared account's) gets
    /// Storage Blob Data Contributor on it (blob data and the user-delegation key the SAS is
    /// signed with).
    pub storage_account_id: String,
    /// Blob container for the cache.
    #[schemars(pattern(r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$"), example = &"runner-cache")]
    pub container: String,
    /// Share the cache between runners. Default `false`.
    pub shared: Option<bool>,
    /// Client ID of the runner manager's cache identity (output `<runner>CacheClientId` of the
    /// environment's Azure deployment), with separate service accounts: the manager signs the
    /// cache's SAS. Until it is set (or read from `identityOutputs`) the runner waits.
    pub manager_client_id: Option<String>,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum KubernetesAccess {
    /// Job pods get no Kubernetes API rights (default).
    #[default]
    None,
    /// Job pods may manage workloads, services, config maps and volume claims in their own
    /// namespace (a Role without Secrets or External Secrets resources, not ClusterRole `edit`).
    Namespace,
    /// Job pods are cluster-admin (the Terraform article's ClusterRoleBinding). Use with care.
    ClusterAdmin,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    /// Client ID of the managed identity, known once Azure has created it (output
    /// `<runner>ClientId` of the environment's Azure deployment). Until it is set the runner
    /// gets its Azure files only.
    pub client_id: Option<String>,
    /// Azure role assignments.
    #[serde(default)]
    pub roles: Vec<RoleAssignment>,
    /// Microsoft Graph application permissions (`Group.Read.All`, …).
    #[serde(default)]
    pub graph_permissions: Vec<String>,
    /// Kubernetes API access of the job pods: `none` (default), `namespace`, `cluster-admin`.
    pub kubernetes_access: Option<KubernetesAccess>,
    /// Subscription alias the jobs work in by default: `ARM_SUBSCRIPTION_ID` of the runner's
    /// `ci-template.yml`. Default: the environment's `identities.subscription` (it stays put
    /// when roles are added or reordered).
    pub subscription: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignment {
    /// A built-in role name (`Owner`, `AcrPush`, …) or a role-definition GUID.
    #[schemars(example = &"AcrPush")]
    pub role: String,
    /// Where the role applies.
    pub scope: Scope,
}

/// Exactly one of `subscription` (alone or with `resourceGroup`) or `resource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Subscription alias; `"*"` means every subscription of the environment (the Terraform article's Owner loop).
    pub subscription: Option<String>,
    /// A resource group in that subscription.
    pub resource_group: Option<String>,
    /// Full resource ID, e.g. one container registry.
    pub resource: Option<String>,
}

/// A runner's own intended differences between environments.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunnerPromotion {
    /// What of this runner may differ in every promotion it is part of: fields, or `{roles:
    /// [{role, scope}]}` (as in the fleet's `promotion`; the scope is read in the runner's
    /// environment).
    #[serde(default)]
    pub expect: Vec<super::Expect>,
}

/// A runner's own chart settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunnerChart {
    /// Extra chart values for this runner, merged over the fleet's `chart.values` (same rules).
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Settings of the job pods that have no field of their own.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Extra `[runners.kubernetes]` keys of config.toml, as gitlab-runner names them
    /// (`pull_policy`, `helper_image`, `pod_annotations`, `affinity`, `dns_config`, …). A key
    /// gitlab-runner does not know (its `KubernetesConfig` of the runner version the chart
    /// ships) is refused, with the nearest known key; keys runnergen writes itself
    /// (`namespace`, `image`, `service_account`, …) are refused, naming the spec field to use.
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
    /// The pod labels a job may set or overwrite through `KUBERNETES_POD_LABELS_*` variables
    /// (config.toml `pod_labels_overwrite_allowed`), a regular expression. Default `.*` (the
    /// the Terraform article's); `""` lets no job set a label.
    pub pod_labels_overwrite_allowed: Option<String>,
}
