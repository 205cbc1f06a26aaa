//! The resolved fleet: every default applied and every name derived, once.
//!
//! Renderers read names and values from here and never recompute them, so two artifacts that
//! must agree (the federated credential's subject and the job pods' service account, the
//! Secret the ExternalSecret fills and the one the chart mounts) agree by construction.
//!
//! Architecture invariant: the model is built only from a spec that passed `spec::load`; it
//! knows nothing of output formats.

use crate::facts;
use crate::spec::check::expand;
use crate::spec::yaml::SourceMap;
use crate::spec::{self, Diagnostic, types as t};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
pub struct Fleet {
    pub organization: String,
    pub gitlab_url: String,
    pub chart: Chart,
    pub gitops: Gitops,
    pub token: TokenSource,
    /// Sorted by key.
    pub environments: Vec<Environment>,
}

#[derive(Clone, Debug)]
pub struct Chart {
    pub version: String,
    pub repository: String,
    /// `oci://` repositories are installed differently by Flux and Argo CD.
    pub is_oci: bool,
    pub image: Option<Image>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

#[derive(Clone, Debug)]
pub struct Gitops {
    pub engine: t::GitopsEngine,
    pub argocd_namespace: String,
    pub argocd_project: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    ExternalSecret {
        store_kind: t::StoreKind,
        store_name: String,
        refresh_interval: String,
    },
    ExistingSecret,
}

#[derive(Clone, Debug)]
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
    pub oidc_issuer_url: String,
    pub key_vault: Option<String>,
    /// Sorted by key.
    pub runners: Vec<Runner>,
}

impl Environment {
    /// Runners whose client ID is known: they get Kubernetes files.
    pub fn ready_runners(&self) -> impl Iterator<Item = &Runner> {
        self.runners.iter().filter(|r| r.client_id.is_some())
    }
}

#[derive(Clone, Debug)]
pub struct Runner {
    pub key: String,
    /// A Bicep/ARM identifier for this runner (`-` becomes `_`).
    pub symbol: String,
    pub environment: String,
    pub runner_type: t::RunnerType,
    pub path: String,
    pub purpose: String,
    /// The GitLab description (seed: `<service account>-<region>-aks`).
    pub description: String,
    /// Region code, runner key, then the spec's tags; no duplicates (seed: `flatten([[region], [name], tags])`).
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub locked: bool,
    pub access_level: t::AccessLevel,
    pub maximum_timeout: Option<u32>,
    pub privileged: bool,
    pub concurrent: u32,
    pub check_interval: u32,
    pub termination_grace_period_seconds: u32,
    pub job_image: String,
    pub requests: ResourceList,
    pub limits: ResourceList,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<t::Toleration>,
    pub cache: Option<Cache>,

    pub namespace: String,
    pub manager_service_account: String,
    pub job_service_account: String,
    /// True when manager and job pods share one account (seed behaviour).
    pub shared_service_account: bool,
    pub token_secret: String,
    pub key_vault_secret: String,
    /// Role and RoleBinding that give the manager the Kubernetes executor's permissions.
    pub manager_role: String,
    /// RoleBinding (`namespace` access) or ClusterRoleBinding (`cluster-admin`) of the job pods.
    pub job_binding: String,
    /// Flux HelmRepository in the runner's namespace.
    pub helm_repository: String,
    /// Labels on every Kubernetes object of this runner.
    pub labels: BTreeMap<String, String>,
    /// The GitLab path as a valid label value (the seed's `deployment_repository`; `/` is not
    /// allowed in label values, so it becomes `.`).
    pub repository_label: String,
    pub helm_release: String,
    pub runner_name: String,

    pub identity_name: String,
    pub federated_credential_name: String,
    /// `system:serviceaccount:<namespace>:<job service account>`.
    pub federated_subject: String,
    pub oidc_issuer_url: String,
    pub tenant_id: String,
    pub client_id: Option<String>,
    pub roles: Vec<RoleAssignment>,
    pub graph_permissions: Vec<String>,
    pub kubernetes_access: t::KubernetesAccess,
    /// Deployment outputs that carry this runner's IDs back into the spec.
    pub client_id_output: String,
    pub principal_id_output: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceList {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub ephemeral_storage: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Cache {
    pub account_name: String,
    pub account_id: String,
    pub container: String,
    pub shared: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Subscription {
        subscription_id: String,
    },
    ResourceGroup {
        subscription_id: String,
        resource_group: String,
    },
    Resource {
        subscription_id: String,
        resource_group: String,
        resource_type: String,
        id: String,
    },
}

impl Scope {
    /// The full ARM ID of the scope.
    pub fn id(&self) -> String {
        match self {
            Scope::Subscription { subscription_id } => format!("/subscriptions/{subscription_id}"),
            Scope::ResourceGroup {
                subscription_id,
                resource_group,
            } => {
                format!("/subscriptions/{subscription_id}/resourceGroups/{resource_group}")
            }
            Scope::Resource { id, .. } => id.clone(),
        }
    }
    pub fn subscription_id(&self) -> &str {
        match self {
            Scope::Subscription { subscription_id }
            | Scope::ResourceGroup {
                subscription_id, ..
            }
            | Scope::Resource {
                subscription_id, ..
            } => subscription_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleAssignment {
    /// Built-in role name, when known.
    pub role_name: Option<String>,
    pub role_definition_id: String,
    pub scope: Scope,
}

impl RoleAssignment {
    pub fn display_name(&self) -> String {
        self.role_name
            .clone()
            .unwrap_or_else(|| self.role_definition_id.clone())
    }
}

/// Default naming templates: the seed's names, with its `random_id` suffixes replaced by the runner key.
pub mod defaults {
    pub const NAMESPACE: &str = "gitlab-{runner}";
    pub const MANAGER_SERVICE_ACCOUNT: &str = "gitlab-runner-{runner}";
    pub const JOB_SERVICE_ACCOUNT: &str = "gitlab-runner-{runner}-jobs";
    pub const TOKEN_SECRET: &str = "gitlab-runner-{runner}-token";
    pub const KEY_VAULT_SECRET: &str = "gitlab-runner-{env}-{runner}-token";
    pub const IDENTITY: &str = "{region}-{env}-msi-gitlab-{runner}";
    pub const FEDERATED_CREDENTIAL: &str = "{org}-{envLong}-msi-gitlab-{runner}-cred";
    pub const HELM_RELEASE: &str = "{org}-{env}-{runner}";
    pub const RUNNER_NAME: &str = "{env}-k8-{runner}";
    pub const JOB_IMAGE: &str = "alpine:3.22";
    pub const STORE_NAME: &str = "azure-key-vault";
    pub const REFRESH_INTERVAL: &str = "1h";
    pub const CONCURRENT: u32 = 10;
    pub const CHECK_INTERVAL: u32 = 30;
    pub const TERMINATION_GRACE_PERIOD_SECONDS: u32 = 3600;
}

/// A Kubernetes label value: at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends
/// (apimachinery `validation.IsValidLabelValue`).
fn label_value(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '.'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

fn split_image(s: &str) -> Option<Image> {
    let (registry, rest) = s.split_once('/')?;
    let (repository, tag) = rest.rsplit_once(':')?;
    Some(Image {
        registry: registry.into(),
        repository: repository.into(),
        tag: tag.into(),
    })
}

fn resource_list(r: Option<&t::ResourceList>) -> ResourceList {
    r.map(|r| ResourceList {
        cpu: r.cpu.clone(),
        memory: r.memory.clone(),
        ephemeral_storage: r.ephemeral_storage.clone(),
    })
    .unwrap_or_default()
}

/// What a name is used for, its validity rule and its naming field; for derived-name checks.
struct NameRule {
    field: &'static str,
    what: &'static str,
    valid: fn(&str) -> bool,
    rule: &'static str,
}

const NAME_RULES: &[NameRule] = &[
    NameRule {
        field: "namespace",
        what: "Kubernetes namespace",
        valid: facts::is_dns1123_label,
        rule: "a DNS-1123 label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends",
    },
    NameRule {
        field: "managerServiceAccount",
        what: "manager service account",
        valid: facts::is_dns1123_label,
        rule: "a DNS-1123 label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends",
    },
    NameRule {
        field: "jobServiceAccount",
        what: "job service account",
        valid: facts::is_dns1123_label,
        rule: "a DNS-1123 label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends",
    },
    NameRule {
        field: "tokenSecret",
        what: "token Secret",
        valid: facts::is_dns1123_label,
        rule: "a DNS-1123 label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends",
    },
    NameRule {
        field: "keyVaultSecret",
        what: "Key Vault secret",
        valid: facts::is_key_vault_secret,
        rule: "1–127 letters, digits or '-'",
    },
    NameRule {
        field: "identity",
        what: "managed identity",
        valid: facts::is_identity_name,
        rule: "3–128 of [A-Za-z0-9_-], starting alphanumeric",
    },
    NameRule {
        field: "federatedCredential",
        what: "federated credential",
        valid: facts::is_fic_name,
        rule: "3–120 of [A-Za-z0-9_-], starting alphanumeric",
    },
    NameRule {
        field: "helmRelease",
        what: "Helm release",
        valid: facts::is_helm_release,
        rule: "a DNS-1123 label of at most 53 characters",
    },
    NameRule {
        field: "runnerName",
        what: "GitLab runner name",
        valid: |s| !s.is_empty() && s.len() <= 255,
        rule: "1–255 characters",
    },
];

/// Builds the model. Derived names that are invalid where they go, or that collide, are
/// reported at the runner they come from.
pub fn build(checked: &spec::Checked) -> Result<Fleet, Vec<Diagnostic>> {
    let s = &checked.spec;
    let map = &checked.map;
    let mut diags = Vec::new();

    let chart = Chart {
        version: s
            .chart
            .version
            .clone()
            .unwrap_or_else(|| facts::CHART_VERSION.into()),
        repository: s
            .chart
            .repository
            .clone()
            .unwrap_or_else(|| facts::CHART_REPOSITORY.into()),
        is_oci: s
            .chart
            .repository
            .as_deref()
            .is_some_and(|r| r.starts_with("oci://")),
        image: s.chart.image.as_deref().and_then(split_image),
    };
    let gitops = Gitops {
        engine: s.gitops.engine,
        argocd_namespace: s
            .gitops
            .argocd_namespace
            .clone()
            .unwrap_or_else(|| "argocd".into()),
        argocd_project: s
            .gitops
            .argocd_project
            .clone()
            .unwrap_or_else(|| "default".into()),
    };
    let token = match (
        &s.token_source.existing_secret,
        &s.token_source.external_secret,
    ) {
        (Some(_), _) => TokenSource::ExistingSecret,
        (None, es) => TokenSource::ExternalSecret {
            store_kind: es
                .as_ref()
                .and_then(|e| e.store_kind)
                .unwrap_or(t::StoreKind::ClusterSecretStore),
            store_name: es
                .as_ref()
                .and_then(|e| e.store_name.clone())
                .unwrap_or_else(|| defaults::STORE_NAME.into()),
            refresh_interval: es
                .as_ref()
                .and_then(|e| e.refresh_interval.clone())
                .unwrap_or_else(|| defaults::REFRESH_INTERVAL.into()),
        },
    };

    let n = &s.naming;
    let template = |v: &Option<String>, d: &'static str| v.clone().unwrap_or_else(|| d.to_owned());
    let templates: BTreeMap<&str, String> = [
        ("namespace", template(&n.namespace, defaults::NAMESPACE)),
        (
            "managerServiceAccount",
            template(
                &n.manager_service_account,
                defaults::MANAGER_SERVICE_ACCOUNT,
            ),
        ),
        (
            "jobServiceAccount",
            template(&n.job_service_account, defaults::JOB_SERVICE_ACCOUNT),
        ),
        (
            "tokenSecret",
            template(&n.token_secret, defaults::TOKEN_SECRET),
        ),
        (
            "keyVaultSecret",
            template(&n.key_vault_secret, defaults::KEY_VAULT_SECRET),
        ),
        ("identity", template(&n.identity, defaults::IDENTITY)),
        (
            "federatedCredential",
            template(&n.federated_credential, defaults::FEDERATED_CREDENTIAL),
        ),
        (
            "helmRelease",
            template(&n.helm_release, defaults::HELM_RELEASE),
        ),
        (
            "runnerName",
            template(&n.runner_name, defaults::RUNNER_NAME),
        ),
    ]
    .into_iter()
    .collect();

    let mut environments = Vec::new();
    for (ek, e) in &s.environments {
        let mut runners = Vec::new();
        for (rk, r) in s.runners.iter().filter(|(_, r)| &r.environment == ek) {
            let rp = format!("/runners/{}", spec::ptr_key(rk));
            let lookup = |k: &str| match k {
                "org" => Some(s.organization.clone()),
                "env" => Some(ek.clone()),
                "envLong" => Some(e.long_name.clone()),
                "region" => Some(e.region_code.clone()),
                "runner" => Some(rk.clone()),
                _ => None,
            };
            let mut names = BTreeMap::new();
            for rule in NAME_RULES {
                let tpl = &templates[rule.field];
                let name = expand(tpl, lookup).expect("templates were checked by spec::check");
                if !(rule.valid)(&name) {
                    diags.push(
                        Diagnostic::error(
                            "E020",
                            spec::key_pos(map, &rp),
                            rp.clone(),
                            format!("runner `{rk}`: {} name `{name}` is invalid: it must be {}", rule.what, rule.rule),
                        )
                        .hint(format!("it comes from naming.{} `{tpl}`; shorten the runner key or override the template", rule.field)),
                    );
                }
                names.insert(rule.field, name);
            }
            let shared = r.service_accounts == Some(t::ServiceAccountMode::Shared);
            let manager_sa = names["managerServiceAccount"].clone();
            let job_sa = if shared {
                manager_sa.clone()
            } else {
                names["jobServiceAccount"].clone()
            };
            let namespace = names["namespace"].clone();

            let mut tags = Vec::new();
            for tag in [e.region_code.clone(), rk.clone()]
                .into_iter()
                .chain(r.tags.iter().cloned())
            {
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }

            let mut roles = BTreeSet::new();
            for ra in &r.identity.roles {
                let (role_name, role_definition_id) = if facts::is_guid(&ra.role) {
                    let id = ra.role.to_lowercase();
                    (facts::role_name(&id).map(str::to_owned), id)
                } else {
                    (
                        Some(ra.role.clone()),
                        facts::role_id(&ra.role)
                            .expect("checked by spec::check")
                            .to_owned(),
                    )
                };
                let sc = &ra.scope;
                let scopes: Vec<Scope> = match (&sc.subscription, &sc.resource_group, &sc.resource)
                {
                    (Some(sub), None, None) if sub == "*" => e
                        .subscriptions
                        .values()
                        .map(|id| Scope::Subscription {
                            subscription_id: id.to_lowercase(),
                        })
                        .collect(),
                    (Some(sub), None, None) => vec![Scope::Subscription {
                        subscription_id: e.subscriptions[sub].to_lowercase(),
                    }],
                    (Some(sub), Some(rg), None) => vec![Scope::ResourceGroup {
                        subscription_id: e.subscriptions[sub].to_lowercase(),
                        resource_group: rg.clone(),
                    }],
                    (None, None, Some(res)) => {
                        let id = facts::parse_resource_id(res).expect("checked by spec::check");
                        vec![Scope::Resource {
                            subscription_id: id.subscription_id,
                            resource_group: id.resource_group,
                            resource_type: id.resource_type,
                            id: id.id,
                        }]
                    }
                    _ => unreachable!("scope shape checked by spec::check"),
                };
                for scope in scopes {
                    roles.insert(RoleAssignment {
                        role_name: role_name.clone(),
                        role_definition_id: role_definition_id.clone(),
                        scope,
                    });
                }
            }
            let cache = r.cache.as_ref().map(|c| {
                let id = facts::parse_resource_id(&c.storage_account_id)
                    .expect("checked by spec::check");
                roles.insert(RoleAssignment {
                    role_name: Some(facts::CACHE_ROLE.into()),
                    role_definition_id: facts::role_id(facts::CACHE_ROLE)
                        .expect("in the table")
                        .into(),
                    scope: Scope::Resource {
                        subscription_id: id.subscription_id.clone(),
                        resource_group: id.resource_group.clone(),
                        resource_type: id.resource_type.clone(),
                        id: id.id.clone(),
                    },
                });
                Cache {
                    account_name: id.name,
                    account_id: id.id,
                    container: c.container.clone(),
                    shared: c.shared.unwrap_or(false),
                }
            });
            let mut graph_permissions = r.identity.graph_permissions.clone();
            graph_permissions.sort();

            let symbol = rk.replace('-', "_");
            // A ClusterRoleBinding is cluster-wide, so its name carries the namespace.
            let job_binding = match r.identity.kubernetes_access.unwrap_or_default() {
                t::KubernetesAccess::ClusterAdmin => format!("{namespace}-{job_sa}-cluster-admin"),
                _ => format!("{job_sa}-edit"),
            };
            runners.push(Runner {
                key: rk.clone(),
                environment: ek.clone(),
                runner_type: r.runner_type,
                path: r.path.clone(),
                purpose: r.purpose.clone(),
                description: format!("{manager_sa}-{}-aks", e.region_code),
                tags,
                run_untagged: r.run_untagged.unwrap_or(false),
                locked: r.locked.unwrap_or(false),
                access_level: r.access_level.unwrap_or_default(),
                maximum_timeout: r.maximum_timeout,
                privileged: r.privileged.unwrap_or(false),
                concurrent: r.concurrent.unwrap_or(defaults::CONCURRENT),
                check_interval: r.check_interval.unwrap_or(defaults::CHECK_INTERVAL),
                termination_grace_period_seconds: r
                    .termination_grace_period_seconds
                    .unwrap_or(defaults::TERMINATION_GRACE_PERIOD_SECONDS),
                job_image: r
                    .job_image
                    .clone()
                    .unwrap_or_else(|| defaults::JOB_IMAGE.into()),
                requests: resource_list(r.resources.as_ref().and_then(|x| x.requests.as_ref())),
                limits: resource_list(r.resources.as_ref().and_then(|x| x.limits.as_ref())),
                node_selector: r.node_selector.clone(),
                tolerations: r.tolerations.clone(),
                cache,
                federated_subject: format!("system:serviceaccount:{namespace}:{job_sa}"),
                manager_service_account: manager_sa.clone(),
                job_service_account: job_sa,
                shared_service_account: shared,
                manager_role: manager_sa.clone(),
                namespace,
                job_binding,
                helm_repository: "gitlab".into(),
                labels: [
                    ("app.kubernetes.io/managed-by", "runnergen".to_owned()),
                    ("app.kubernetes.io/part-of", "gitlab-runner".to_owned()),
                    ("runnergen.dev/environment", ek.clone()),
                    ("runnergen.dev/runner", rk.clone()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                repository_label: label_value(&r.path),
                token_secret: names["tokenSecret"].clone(),
                key_vault_secret: names["keyVaultSecret"].clone(),
                helm_release: names["helmRelease"].clone(),
                runner_name: names["runnerName"].clone(),
                identity_name: names["identity"].clone(),
                federated_credential_name: names["federatedCredential"].clone(),
                oidc_issuer_url: e.cluster.oidc_issuer_url.clone(),
                tenant_id: e.tenant_id.to_lowercase(),
                client_id: r.identity.client_id.as_ref().map(|c| c.to_lowercase()),
                roles: roles.into_iter().collect(),
                graph_permissions,
                kubernetes_access: r.identity.kubernetes_access.unwrap_or_default(),
                client_id_output: format!("{symbol}ClientId"),
                principal_id_output: format!("{symbol}PrincipalId"),
                symbol,
            });
        }
        environments.push(Environment {
            key: ek.clone(),
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
            oidc_issuer_url: e.cluster.oidc_issuer_url.clone(),
            key_vault: e.key_vault.as_ref().map(|k| k.name.clone()),
            runners,
        });
    }

    check_collisions(&environments, map, &mut diags);
    if diags.is_empty() {
        Ok(Fleet {
            organization: s.organization.clone(),
            gitlab_url: s.gitlab.url.clone(),
            chart,
            gitops,
            token,
            environments,
        })
    } else {
        spec::diag::sort(&mut diags);
        diags.dedup();
        Err(diags)
    }
}

/// Names that must be unique: per cluster (environment) for Kubernetes objects, per resource
/// group for identities, per vault for Key Vault secrets.
fn check_collisions(envs: &[Environment], map: &SourceMap, diags: &mut Vec<Diagnostic>) {
    type Getter = fn(&Runner) -> &str;
    let unique: &[(&str, Getter)] = &[
        ("Kubernetes namespace", |r| &r.namespace),
        ("Helm release", |r| &r.helm_release),
        ("managed identity", |r| &r.identity_name),
        ("federated credential", |r| &r.federated_credential_name),
        ("Key Vault secret", |r| &r.key_vault_secret),
        ("GitLab runner name", |r| &r.runner_name),
    ];
    for env in envs {
        for (what, get) in unique {
            let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
            for r in &env.runners {
                if let Some(first) = seen.insert(get(r), &r.key) {
                    let rp = format!("/runners/{}", spec::ptr_key(&r.key));
                    diags.push(
                        Diagnostic::error(
                            "E021",
                            spec::key_pos(map, &rp),
                            rp,
                            format!(
                                "runners `{first}` and `{}` both derive the {what} `{}`",
                                r.key,
                                get(r)
                            ),
                        )
                        .hint("include `{runner}` in the naming template, or rename one runner"),
                    );
                }
            }
        }
    }
    // Identities live in a resource group that several environments may share: one identity
    // per runner keeps each identity at exactly one federated credential, far below Azure's
    // limit of 20 (facts::MAX_FICS_PER_IDENTITY), and keeps runners' Azure rights apart.
    let mut identities: BTreeMap<(&str, &str, &str), &Runner> = BTreeMap::new();
    for env in envs {
        for r in &env.runners {
            let key = (
                env.identity_subscription_id.as_str(),
                env.identity_resource_group.as_str(),
                r.identity_name.as_str(),
            );
            if let Some(first) = identities.insert(key, r)
                && first.environment != r.environment
            {
                let rp = format!("/runners/{}", spec::ptr_key(&r.key));
                diags.push(
                    Diagnostic::error(
                        "E021",
                        spec::key_pos(map, &rp),
                        rp,
                        format!(
                            "runners `{}` ({}) and `{}` ({}) both derive the managed identity `{}` in resource group `{}`",
                            first.key, first.environment, r.key, r.environment, r.identity_name, env.identity_resource_group
                        ),
                    )
                    .hint("include `{env}` or `{region}` in naming.identity, or place the environments' identities in different resource groups"),
                );
            }
        }
    }
}

/// Phase-1 guidance: one note per runner whose client ID is not known yet.
/// The rollout is two-phase because Azure assigns the client ID when it creates the identity;
/// until the spec carries it, no Kubernetes file that would need it is rendered.
pub fn rollout_notes(fleet: &Fleet, map: &SourceMap, out_dir: &str) -> Vec<Diagnostic> {
    let mut notes = Vec::new();
    for env in &fleet.environments {
        for r in env.runners.iter().filter(|r| r.client_id.is_none()) {
            let ip = format!("/runners/{}/identity", spec::ptr_key(&r.key));
            let at = if map.contains_key(&ip) {
                ip.clone()
            } else {
                format!("/runners/{}", spec::ptr_key(&r.key))
            };
            notes.push(
                Diagnostic::note(
                    "N001",
                    spec::key_pos(map, &at),
                    at,
                    format!("runner `{}` waits for its managed identity's client ID: its Kubernetes files are held back", r.key),
                )
                .hint(format!(
                    "phase 1: `az deployment sub create --name {name} --subscription {sub} --location {loc} --template-file {out_dir}/{env}/azure/main.json`; \
                     phase 2: set runners.{key}.identity.clientId to `az deployment sub show --name {name} --subscription {sub} --query properties.outputs.{output}.value -o tsv` and render again",
                    name = deployment_name(env),
                    sub = env.identity_subscription_id,
                    loc = env.location,
                    out_dir = out_dir.trim_end_matches('/'),
                    env = env.key,
                    key = r.key,
                    output = r.client_id_output,
                )),
            );
        }
    }
    spec::diag::sort(&mut notes);
    notes
}

/// The name of an environment's Azure deployment, so its outputs can be read back.
pub fn deployment_name(env: &Environment) -> String {
    format!("runnergen-{}", env.key)
}
