//! The fleet spec as the user writes it: the single source of the JSON Schema.
//!
//! Everything here is the user's words, unresolved. Defaults are documented on the fields and
//! applied in `model`, never here, so that the schema and the spec reference (docs/spec-reference.md) say exactly what is
//! optional.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod platform;
mod runner;
pub use crate::names::Naming;
pub use platform::*;
pub use runner::*;

/// A fleet of self-hosted GitLab runners on AKS, with one Azure managed identity per runner.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "runnergen fleet spec")]
pub struct Spec {
    /// Spec format version. Only `1` exists.
    #[schemars(range(min = 1, max = 1), example = 1)]
    pub version: u32,
    /// Organisation prefix used in names (the Terraform article's `ascode`, a customer TLA).
    #[schemars(pattern(r"^[a-z][a-z0-9]{1,15}$"), example = &"ascode")]
    pub organization: String,
    /// The fleet's identity in GitLab: every runner's `maintenance_note` names it (`managed by
    /// runnergen: <fleet>/<env>/<runner>`), and `runnergen register` touches only runners whose
    /// note names this fleet. Default: `organization`. Give each spec its own when two specs of
    /// one organization register runners in the same GitLab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"), example = &"ascode-platform")]
    pub fleet: Option<String>,
    /// The GitLab instance the runners register with.
    pub gitlab: Gitlab,
    /// The gitlab-runner Helm chart to install.
    #[serde(default)]
    pub chart: Chart,
    /// How the Kubernetes side is applied.
    #[serde(default)]
    pub gitops: Gitops,
    /// The platform the files are applied on: how Flux is installed and the versions of the
    /// controllers that read the custom resources. Defaults: the oldest supported.
    #[serde(default)]
    pub platform: Platform,
    /// Where each runner's `glrt-` authentication token comes from. The spec never holds a token.
    #[serde(default)]
    pub token_source: TokenSource,
    /// Name templates. Placeholders: `{org}`, `{env}` (environment key), `{envLong}`,
    /// `{region}` (region code), `{runner}` (runner key). Defaults reproduce the Terraform article's names.
    #[serde(default)]
    pub naming: Naming,
    /// Environments, keyed by short name (the Terraform article's `ss`).
    #[schemars(length(min = 1))]
    pub environments: BTreeMap<String, Environment>,
    /// Runners, keyed by name (the Terraform article's `tf`, `packer`). A runner in several environments
    /// (`environments: [dev, prd]`) keeps its one key in each.
    #[schemars(length(min = 1))]
    pub runners: BTreeMap<String, Runner>,
    /// Each runner in each of its environments, its `overrides` merged in, sorted by key then
    /// environment: what every later stage reads. Filled by `spec::read`, which then empties
    /// `runners`: once checked, the runners as written are read no more, and the model's build
    /// should not carry them beside its own.
    #[serde(skip)]
    #[schemars(skip)]
    pub instances: Vec<Instance>,
    /// Intended differences between environments, for `runnergen diff --from-env A --to-env
    /// B`: what is declared here is reported as expected and does not fail the preview.
    #[serde(default)]
    pub promotion: Vec<Promotion>,
}

impl Spec {
    /// Runner `key` in environment `env`.
    pub fn instance(&self, key: &str, env: &str) -> Option<&Instance> {
        self.instances
            .binary_search_by(|i| (i.key.as_str(), i.env.as_str()).cmp(&(key, env)))
            .ok()
            .map(|i| &self.instances[i])
    }
}

/// A field of a runner the promotion preview compares; `expect:` lists them by [`name`]
/// (`existence`: the runner is in one of the two environments only). The spec holds the
/// names as written, so that an unknown one is a located diagnostic with "did you mean"
/// (`spec::promotion`), and the schema stays a list of strings; the model holds the fields.
///
/// [`name`]: PromotionField::name
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PromotionField {
    AccessLevel,
    Cache,
    ChartVersion,
    CheckInterval,
    Concurrent,
    Existence,
    GraphPermissions,
    JobImage,
    KubernetesAccess,
    Locked,
    MaximumTimeout,
    NodeSelector,
    Path,
    Privileged,
    Resources,
    Roles,
    RunUntagged,
    SharedServiceAccount,
    Tags,
    TerminationGracePeriodSeconds,
    Tolerations,
    Type,
}

impl PromotionField {
    /// Every field, sorted by name.
    pub const ALL: [PromotionField; 22] = [
        PromotionField::AccessLevel,
        PromotionField::Cache,
        PromotionField::ChartVersion,
        PromotionField::CheckInterval,
        PromotionField::Concurrent,
        PromotionField::Existence,
        PromotionField::GraphPermissions,
        PromotionField::JobImage,
        PromotionField::KubernetesAccess,
        PromotionField::Locked,
        PromotionField::MaximumTimeout,
        PromotionField::NodeSelector,
        PromotionField::Path,
        PromotionField::Privileged,
        PromotionField::Resources,
        PromotionField::Roles,
        PromotionField::RunUntagged,
        PromotionField::SharedServiceAccount,
        PromotionField::Tags,
        PromotionField::TerminationGracePeriodSeconds,
        PromotionField::Tolerations,
        PromotionField::Type,
    ];

    /// The name `expect:` lists it by, and the key the preview compares it under.
    pub fn name(self) -> &'static str {
        match self {
            PromotionField::AccessLevel => "accessLevel",
            PromotionField::Cache => "cache",
            PromotionField::ChartVersion => "chartVersion",
            PromotionField::CheckInterval => "checkInterval",
            PromotionField::Concurrent => "concurrent",
            PromotionField::Existence => "existence",
            PromotionField::GraphPermissions => "graphPermissions",
            PromotionField::JobImage => "jobImage",
            PromotionField::KubernetesAccess => "kubernetesAccess",
            PromotionField::Locked => "locked",
            PromotionField::MaximumTimeout => "maximumTimeout",
            PromotionField::NodeSelector => "nodeSelector",
            PromotionField::Path => "path",
            PromotionField::Privileged => "privileged",
            PromotionField::Resources => "resources",
            PromotionField::Roles => "roles",
            PromotionField::RunUntagged => "runUntagged",
            PromotionField::SharedServiceAccount => "sharedServiceAccount",
            PromotionField::Tags => "tags",
            PromotionField::TerminationGracePeriodSeconds => "terminationGracePeriodSeconds",
            PromotionField::Tolerations => "tolerations",
            PromotionField::Type => "type",
        }
    }

    /// The field named `name`, if the preview compares one.
    pub fn parse(name: &str) -> Option<PromotionField> {
        PromotionField::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl Serialize for PromotionField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One intended difference of a promotion: a field's name (`concurrent`), or role assignments
/// as `{roles: [{role: Owner, scope: {subscription: apps}}]}`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Expect {
    /// A field the preview compares (`PromotionField::name`): any change of it is expected.
    Field(String),
    /// Role assignments that may be granted on one side and not the other.
    Roles(ExpectRoles),
}

impl Expect {
    /// The field named, if this names a field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Expect::Field(f) => Some(f),
            Expect::Roles(_) => None,
        }
    }

    /// The role assignments named, if this names some.
    pub fn roles(&self) -> &[RoleAssignment] {
        match self {
            Expect::Field(_) => &[],
            Expect::Roles(r) => &r.roles,
        }
    }
}

/// `{roles: [{role, scope}]}`: role assignments written as `identity.roles` writes them; in a
/// fleet-wide `promotion`, a subscription alias is read in whichever of the two environments
/// has it (both, when both do).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectRoles {
    /// The role assignments, each `{role, scope}` as in `identity.roles`.
    #[schemars(length(min = 1))]
    pub roles: Vec<RoleAssignment>,
}

/// Promoting one environment's setup to another: the differences that are meant to be.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Promotion {
    /// The environment whose setup is promoted.
    pub from: String,
    /// The environment it is promoted to.
    pub to: String,
    /// What may differ between the two for every runner: a field the preview compares
    /// (listed in docs/review.md: `accessLevel`, `concurrent`, `roles`, `existence`, …), or
    /// `{roles: [{role, scope}]}`, role assignments that may be on one side only (a change of
    /// any other role still fails).
    #[serde(default)]
    pub expect: Vec<Expect>,
    /// Subscription aliases that mean the same across the two, `from`'s alias to `to`'s
    /// (`{apps-dev: apps-prd}`), so a role on one is compared with the role on the other.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gitlab {
    /// Base URL of the GitLab instance, https.
    #[schemars(pattern(r"^https://[^\s/]+(/[^\s]*)?$"), example = &"https://gitlab.com/")]
    pub url: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chart {
    /// gitlab-runner chart version. Default `0.86.0`; at least 0.66.0 (the `serviceAccount.*` keys).
    #[schemars(pattern(r"^[0-9]+\.[0-9]+\.[0-9]+$"), example = &"0.86.0")]
    pub version: Option<String>,
    /// Helm repository URL. Default `https://charts.gitlab.io`.
    #[schemars(pattern(r"^(https|oci)://[^\s]+$"), example = &"https://charts.gitlab.io")]
    pub repository: Option<String>,
    /// Override of the runner manager image, `registry/repository:tag`
    /// (for a mirror). Default: the chart's own image.
    #[schemars(pattern(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+$"),
        example = &"myacr.azurecr.io/gitlab-org/gitlab-runner:alpine-v18.9.0")]
    pub image: Option<String>,
    /// How Flux signs in to a private OCI chart registry: `azure` (source-controller's own
    /// Azure identity; the default for an `oci://…azurecr.io` repository) or `generic`.
    pub provider: Option<ChartProvider>,
    /// A Secret in each runner's namespace with the registry's credentials (Flux `secretRef`).
    #[schemars(pattern(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub secret_ref: Option<String>,
    /// Extra values for the gitlab-runner chart (affinity, proxies in `envVars`, a custom CA in
    /// `certsSecretName`, `podAnnotations`, …), merged into every runner's values: mappings
    /// key by key, lists and single values replaced. A runner's own `chart.values` merge over
    /// these. Values runnergen sets itself (`runners.config`, `runners.secret`,
    /// `serviceAccount`, `rbac`, `gitlabUrl`, …) are refused, naming the spec field to use, and
    /// so are the manager's environment variables runnergen's configuration sets (`CI_SERVER_*`,
    /// `KUBERNETES_*`, `RUNNER_*`, `REGISTER_*`, `REGISTRATION_TOKEN` in `envVars`, `extraEnv`
    /// or `extraEnvFrom`), `{{` anywhere (the chart passes labels, annotations and the image
    /// through Helm's `tpl`) and control characters in keys.
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChartProvider {
    /// Credentials from `secretRef`, or none.
    Generic,
    /// Azure Container Registry, with source-controller's Azure identity.
    Azure,
}

impl ChartProvider {
    pub fn name(self) -> &'static str {
        match self {
            ChartProvider::Generic => "generic",
            ChartProvider::Azure => "azure",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitopsEngine {
    /// Flux `HelmRepository` + `HelmRelease` (AKS's GitOps extension is Flux).
    #[default]
    Flux,
    /// An Argo CD `Application` with `helm.valuesObject`.
    Argocd,
    /// Helm values only; install the chart yourself.
    Plain,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gitops {
    /// `flux` (default), `argocd` or `plain`.
    #[serde(default)]
    pub engine: GitopsEngine,
    /// Namespace of the Argo CD Application objects. Default `argocd`.
    #[schemars(pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub argocd_namespace: Option<String>,
    /// Argo CD project. Default `default`.
    pub argocd_project: Option<String>,
}

/// The kind of External Secrets Operator store the ExternalSecrets name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum StoreKind {
    /// A store in each runner's manager namespace.
    SecretStore,
    /// One store for the cluster, open only to the runners' manager namespaces.
    ClusterSecretStore,
}

/// Exactly one of `externalSecret` or `existingSecret`. Default: an ExternalSecret through the
/// ClusterSecretStore `azure-key-vault`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSource {
    /// Fill each runner's token Secret from the environment's Key Vault with an External Secrets
    /// Operator `ExternalSecret`.
    pub external_secret: Option<ExternalSecretSource>,
    /// Use a Secret that already exists in each runner's namespace (keys `runner-token` and
    /// `runner-registration-token`); written `existingSecret: {}`. Its name is the
    /// `tokenSecret` naming template.
    pub existing_secret: Option<ExistingSecretSource>,
    /// What restarts the runner manager when its token Secret changes (after `runnergen
    /// register --rotate`): the manager reads the token once, at start, and the chart's checksum
    /// does not cover an existing Secret. `reloader`: stakater Reloader's
    /// `secret.reloader.stakater.com/reload` annotation on the Deployment (run Reloader with
    /// `--reload-strategy=annotations`). Default `none`: restart it yourself.
    pub restart_on_rotation: Option<RestartOnRotation>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RestartOnRotation {
    /// Nothing restarts the manager; `kubectl rollout restart` after a rotation.
    #[default]
    None,
    /// stakater Reloader restarts it when the Secret changes.
    Reloader,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalSecretSource {
    /// `SecretStore` or `ClusterSecretStore` (default).
    pub store_kind: Option<StoreKind>,
    /// Name of the store that reads the environment's Key Vault. Default `azure-key-vault`.
    /// May use the placeholders `{org}`, `{env}`, `{envLong}` and `{region}`: environments
    /// that share a cluster need ClusterSecretStores of their own (`azure-key-vault-{env}`).
    #[schemars(pattern(r"^([-a-z0-9.]|\{[A-Za-z]+\})+$"))]
    pub store_name: Option<String>,
    /// How often the operator refreshes the Secret. Default `1h`.
    #[schemars(pattern(r"^[0-9]+(s|m|h)$"))]
    pub refresh_interval: Option<String>,
    /// `rendered` (default): runnergen renders the store of each environment, with its own
    /// managed identity reading the environment's Key Vault, open only to the runners' manager
    /// namespaces. `existing`: the ExternalSecrets use a store the platform provides.
    pub store: Option<StoreSource>,
    /// Namespace of the ClusterSecretStore's service account (External Secrets Operator's own).
    /// Default `external-secrets`.
    #[schemars(pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub store_namespace: Option<String>,
}

/// Who provides the secret store the ExternalSecrets read through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreSource {
    /// runnergen renders it (default).
    #[default]
    Rendered,
    /// The platform provides it.
    Existing,
}

/// The token Secret exists already, created outside runnergen; written `{}`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingSecretSource {}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    /// Long name (the Terraform article's `environment_long`, e.g. `shared`).
    #[schemars(pattern(r"^[a-z][a-z0-9-]{0,23}$"), example = &"shared")]
    pub long_name: String,
    /// Short region code used in names (e.g. `weu`).
    #[schemars(pattern(r"^[a-z][a-z0-9]{1,5}$"), example = &"weu")]
    pub region_code: String,
    /// Azure location of the managed identities (e.g. `westeurope`).
    #[schemars(pattern(r"^[a-z][a-z0-9]+$"), example = &"westeurope")]
    pub location: String,
    /// Entra ID tenant ID (GUID).
    pub tenant_id: String,
    /// Subscription IDs by alias (the Terraform article's `local.subscription_id`).
    #[schemars(length(min = 1))]
    pub subscriptions: BTreeMap<String, String>,
    /// Where the managed identities live.
    pub identities: IdentityPlacement,
    /// The AKS cluster the runners run on.
    pub cluster: Cluster,
    /// The Key Vault holding the runner tokens (read by the ExternalSecret store).
    pub key_vault: Option<KeyVault>,
    /// Phase 2 without editing the spec: the JSON file (or files, where the environment's
    /// deployment is split) holding the outputs of its Azure deployment exactly as
    /// `az stack sub show --name runnergen-<env> --query outputs` (or `az deployment sub show …
    /// --query properties.outputs`) prints them. Runners take their client IDs from it. Paths
    /// are relative to the spec's folder and stay inside it, or inside the git repository
    /// holding it (`--allow-outside-paths` lifts this); each is a regular file of at most 4 MiB.
    #[schemars(example = &"ss.identity-outputs.json")]
    pub identity_outputs: Option<Paths>,
    /// The environment's platform, field by field over the fleet's `platform`.
    pub platform: Option<Platform>,
}

/// One path, or a list of paths.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    /// Each path with its JSON-pointer suffix (`""` for a single path, `/<i>` in a list).
    pub fn each(&self) -> Vec<(String, &str)> {
        match self {
            Paths::One(p) => vec![(String::new(), p.as_str())],
            Paths::Many(ps) => ps
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("/{i}"), p.as_str()))
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityPlacement {
    /// Alias (in `subscriptions`) of the subscription that holds the identities' resource group.
    pub subscription: String,
    /// Resource group for the identities. It must exist (`az group create`) unless
    /// `createResourceGroup` is set: the deployment refers to it and leaves its tags alone.
    #[schemars(pattern(r"^[-\w._()]{0,89}[-\w_()]$"), example = &"rg-weu-ss-gitlab")]
    pub resource_group: String,
    /// Declare the resource group in the Azure deployment (created if missing, tagged
    /// `managedBy: runnergen`, and, in a deployment stack, managed by it: deleting the stack
    /// with `deleteResources` deletes the group). Default `false`: the group is referred to as
    /// existing, so a group that holds other things, or has tags of its own, is left as it is.
    pub create_resource_group: Option<bool>,
    /// How many Azure deployments (stacks) the environment's identities are deployed in
    /// (1–99). Default 1: one deployment, `runnergen-<env>` (`azure/main.json`), which holds
    /// at most 30 identities (ARM's template limits). With 2 or more, shard NN is
    /// `runnergen-<env>-NN` (`azure/main-NN.json`, outputs `<env>-NN.identity-outputs.json`),
    /// every shard rendered even when empty; a runner's shard follows from its key and this
    /// count alone (jump consistent hash), so adding or removing runners moves no other, and
    /// raising the count moves only runners into the new shards. `validate` names the
    /// smallest count that fits (E024).
    #[schemars(range(min = 1, max = crate::layout::MAX_SHARDS), example = 4)]
    pub shards: Option<u32>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    /// The cluster's OIDC issuer URL (`az aks show -g <rg> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv`), https with
    /// its trailing slash: Entra ID compares it byte for byte.
    #[schemars(
        pattern(r"^https://[^\s/?#]+(/[^\s?#]*)?/$"),
        length(max = 600),
        example = &"https://westeurope.oic.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/11111111-1111-1111-1111-111111111111/"
    )]
    pub oidc_issuer_url: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyVault {
    /// Key Vault name (3–24 characters).
    #[schemars(pattern(r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"), example = &"kv-weu-ss-gitlab")]
    pub name: String,
    /// Subscription alias of the vault. Default: the identities' subscription.
    pub subscription: Option<String>,
    /// Resource group of the vault. Default: the identities' resource group.
    pub resource_group: Option<String>,
    /// Client ID of the rendered store's managed identity (output `_keyVaultStoreClientId` of the
    /// environment's Azure deployment; or through `identityOutputs`). Until it is known the store
    /// is not rendered.
    pub store_client_id: Option<String>,
}
