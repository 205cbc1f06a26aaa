//! The names a runner gets: the typed [`Names`] and one table of naming rules ([`RULES`]) for
//! the names a spec may override: default template, where the override lives, the rule the
//! name must satisfy, where it must be unique. `spec::check` checks the templates against it;
//! `model` expands it (and derives the remaining names) once per runner.
//!
//! Adding a derived name touches two places: a field of [`Names`] and either a row of [`RULES`]
//! (overridable through `naming.*`, which also needs its field in [`Naming`]) or a line of
//! `model::runner::names`.
//!
//! The spec's `naming` section ([`Naming`], part of the spec's schema through `spec::types`)
//! lives here, beside the rules that read it, so that the names sit below the spec: `spec`
//! checks templates with this table, and nothing here reads the rest of the spec.

use crate::facts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Name templates; docs/output.md ("Names") gives each default.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Naming {
    /// Kubernetes namespace of a runner. Default `gitlab-{runner}`.
    pub namespace: Option<String>,
    /// Kubernetes namespace of the runner's job pods, apart from the manager and its token.
    /// Default `gitlab-{runner}-jobs`; with `serviceAccounts: shared` the jobs run in the
    /// manager's namespace.
    pub job_namespace: Option<String>,
    /// Service account of the runner manager pod. Default `gitlab-runner-{runner}`.
    pub manager_service_account: Option<String>,
    /// Service account of the job pods (carries the Azure identity). Default `gitlab-runner-{runner}-jobs`.
    pub job_service_account: Option<String>,
    /// Secret holding the runner token. Default `gitlab-runner-{runner}-token`.
    pub token_secret: Option<String>,
    /// Key Vault secret holding the runner token. Default `gitlab-runner-{env}-{runner}-token`.
    pub key_vault_secret: Option<String>,
    /// Managed identity. Default `{region}-{env}-msi-gitlab-{runner}` (the Terraform article's).
    pub identity: Option<String>,
    /// Federated identity credential. Default `{org}-{envLong}-msi-gitlab-{runner}-cred` (the Terraform article's).
    pub federated_credential: Option<String>,
    /// Helm release. Default `{org}-{env}-{runner}` (the Terraform article's).
    pub helm_release: Option<String>,
    /// Runner name shown in GitLab. Default `{env}-k8-{runner}` (the Terraform article's).
    pub runner_name: Option<String>,
}

/// The names of one runner's objects, in Kubernetes, Azure, GitLab and the Azure templates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Names {
    /// The runner manager's namespace: its pod, its token Secret, its ExternalSecret.
    pub namespace: String,
    /// Where the job pods run, apart from the manager and its token (the manager's namespace
    /// when the two share one service account).
    pub job_namespace: String,
    pub manager_service_account: String,
    /// The manager's account when manager and jobs share one (`serviceAccounts: shared`).
    pub job_service_account: String,
    pub token_secret: String,
    pub key_vault_secret: String,
    pub identity: String,
    pub federated_credential: String,
    pub helm_release: String,
    /// The manager's Deployment, as the gitlab-runner chart names it (`<release>-gitlab-runner`,
    /// or the chart values' `fullnameOverride` / `nameOverride`; `register --rotate` prints its
    /// restart).
    pub manager_deployment: String,
    /// The runner's name in GitLab.
    pub runner_name: String,

    /// Role and RoleBinding that give the manager the Kubernetes executor's permissions.
    pub manager_role: String,
    /// RoleBinding (`namespace` access) or ClusterRoleBinding (`cluster-admin`) of the job pods.
    pub job_binding: String,
    /// Flux HelmRepository, in `flux_namespace`.
    pub helm_repository: String,
    /// Where the runner's Flux HelmRepository and HelmRelease live: the runner's namespace, or
    /// the AKS extension's Flux configuration namespace (`model::Platform`).
    pub flux_namespace: String,
    /// The GitLab description (the Terraform article: `<service account>-<region>-aks`).
    pub description: String,
    /// `system:serviceaccount:<namespace>:<job service account>`.
    pub federated_subject: String,
    /// A Bicep/ARM identifier for this runner (`-` becomes `_`; runner keys have no `_`, so
    /// symbols of two runners never collide).
    pub symbol: String,
    pub identity_symbol: String,
    pub credential_symbol: String,
    /// The GitLab runner's `maintenance_note`: how `runnergen register` finds the runners it
    /// manages (`managed by runnergen: <fleet>/<env>/<runner>`, [`gitlab_marker`]).
    pub gitlab_marker: String,
    /// The hidden job of the runner's GitLab CI template (`.runnergen-<env>-<runner>`).
    pub ci_job: String,
    /// Deployment outputs that carry this runner's IDs back.
    pub client_id_output: String,
    pub principal_id_output: String,

    /// The runner manager's cache identity (a runner with a cache and separate service
    /// accounts): `<identity>-cache`, its federated credential (same name, under it), its
    /// subject (the manager's account), symbols and outputs.
    pub cache_identity: String,
    pub cache_federated_subject: String,
    pub cache_identity_symbol: String,
    pub cache_credential_symbol: String,
    pub cache_client_id_output: String,
    pub cache_principal_id_output: String,
}

/// The tag only runner `rk` of environment `ek` carries (environment keys have no `-`, so
/// `<env>-<runner>` names one runner); its `ci-template.yml` asks for it.
pub fn own_tag(ek: &str, rk: &str) -> String {
    format!("{ek}-{rk}")
}

/// The Role and RoleBinding that give a runner's manager the Kubernetes executor's
/// permissions, in its namespace: named after the manager's service account.
pub fn manager_role(manager_service_account: &str) -> String {
    manager_service_account.to_owned()
}

/// The job pods' binding: a ClusterRoleBinding for `cluster-admin`, whose cluster-wide name
/// carries the namespace, else a RoleBinding in the job namespace.
pub fn job_binding(cluster_admin: bool, job_namespace: &str, job_service_account: &str) -> String {
    if cluster_admin {
        format!("{job_namespace}-{job_service_account}-cluster-admin")
    } else {
        format!("{job_service_account}-access")
    }
}

/// The start of the `maintenance_note` of every GitLab runner runnergen manages.
pub const GITLAB_MARKER: &str = "managed by runnergen: ";

/// The `maintenance_note` of runner `rk` of environment `ek` in fleet `fleet`:
/// `managed by runnergen: <fleet>/<env>/<runner>`. Fleet IDs, environment and runner keys have
/// no `/`, so the note names one runner of one fleet. (Notes written before fleets had IDs read
/// `managed by runnergen: <env>/<runner>`; `runnergen register --adopt` rewrites them.)
pub fn gitlab_marker(fleet: &str, ek: &str, rk: &str) -> String {
    format!("{GITLAB_MARKER}{fleet}/{ek}/{rk}")
}

/// What a derived name must satisfy where it goes.
pub struct Validity {
    pub valid: fn(&str) -> bool,
    pub rule: &'static str,
}

/// A user-assigned managed identity's name (also the cache identities', `<identity>-cache`).
pub const IDENTITY_NAME: Validity = Validity {
    valid: facts::is_identity_name,
    rule: "3–128 of [A-Za-z0-9_-], starting alphanumeric",
};

const DNS_LABEL: Validity = Validity {
    valid: facts::is_dns1123_label,
    rule: "a DNS-1123 label: at most 63 lowercase letters, digits or '-', alphanumeric at both ends",
};

/// Which names must differ between runners, and where.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// Only within the runner's own namespace, which is already unique.
    InNamespace,
    /// Across the runners of one environment (one cluster, one vault, one resource group).
    InEnvironment,
}

/// A name the spec may override through `naming.<field>`.
pub struct NameRule {
    /// The `naming` field of the spec.
    pub field: &'static str,
    /// What the name is, in messages.
    pub what: &'static str,
    /// The template used when the spec does not override it (the Terraform article's names, with its
    /// `random_id` suffixes replaced by the runner key).
    pub default: &'static str,
    /// Where the override lives in the spec.
    pub template: fn(&Naming) -> Option<&String>,
    pub validity: Validity,
    pub unique: Unique,
    /// False only where one name for all runners can make sense.
    pub needs_runner: bool,
    pub slot: fn(&mut Names) -> &mut String,
    pub get: fn(&Names) -> &str,
}

impl NameRule {
    /// The template in force: the spec's override or the default.
    pub fn template_in<'a>(&self, naming: &'a Naming) -> &'a str {
        (self.template)(naming).map_or(self.default, String::as_str)
    }

    /// The template in force for one runner: its own `naming` (`runners.<r>.naming`) over the
    /// fleet's, over the default; with where it is written (`runners.<r>.naming` or `naming`).
    pub fn template_for<'a>(
        &self,
        fleet: &'a Naming,
        runner: Option<&'a Naming>,
    ) -> (&'a str, &'static str) {
        match runner.and_then(|n| (self.template)(n)) {
            Some(own) => (own, "the runner's naming"),
            None => (self.template_in(fleet), "naming"),
        }
    }
}

/// Row of [`RULES`].
macro_rules! rule {
    ($field:literal, $slot:ident, $what:literal, $default:literal, $validity:expr, $unique:ident, $needs_runner:literal) => {
        NameRule {
            field: $field,
            what: $what,
            default: $default,
            template: |n| n.$slot.as_ref(),
            validity: $validity,
            unique: Unique::$unique,
            needs_runner: $needs_runner,
            slot: |n| &mut n.$slot,
            get: |n| &n.$slot,
        }
    };
}

/// The names a spec may override, in the order the spec's `naming` documents them.
pub const RULES: &[NameRule] = &[
    rule!(
        "namespace",
        namespace,
        "Kubernetes namespace",
        "gitlab-{runner}",
        DNS_LABEL,
        InEnvironment,
        true
    ),
    rule!(
        "jobNamespace",
        job_namespace,
        "job pods' Kubernetes namespace",
        "gitlab-{runner}-jobs",
        DNS_LABEL,
        InEnvironment,
        true
    ),
    rule!(
        "managerServiceAccount",
        manager_service_account,
        "manager service account",
        "gitlab-runner-{runner}",
        DNS_LABEL,
        InNamespace,
        true
    ),
    rule!(
        "jobServiceAccount",
        job_service_account,
        "job service account",
        "gitlab-runner-{runner}-jobs",
        DNS_LABEL,
        InNamespace,
        true
    ),
    rule!(
        "tokenSecret",
        token_secret,
        "token Secret",
        "gitlab-runner-{runner}-token",
        DNS_LABEL,
        InNamespace,
        true
    ),
    // Key Vault secret names: 1–127 letters, digits or '-' (azure-docs key-vault about-keys-secrets-certificates.md).
    rule!(
        "keyVaultSecret",
        key_vault_secret,
        "Key Vault secret",
        "gitlab-runner-{env}-{runner}-token",
        Validity {
            valid: facts::is_key_vault_secret,
            rule: "1–127 letters, digits or '-'"
        },
        InEnvironment,
        true
    ),
    rule!(
        "identity",
        identity,
        "managed identity",
        "{region}-{env}-msi-gitlab-{runner}",
        IDENTITY_NAME,
        InEnvironment,
        true
    ),
    rule!(
        "federatedCredential",
        federated_credential,
        "federated credential",
        "{org}-{envLong}-msi-gitlab-{runner}-cred",
        Validity {
            valid: facts::is_fic_name,
            rule: "3–120 of [A-Za-z0-9_-], starting alphanumeric"
        },
        InEnvironment,
        true
    ),
    rule!(
        "helmRelease",
        helm_release,
        "Helm release",
        "{org}-{env}-{runner}",
        Validity {
            valid: facts::is_helm_release,
            rule: "a DNS-1123 label of at most 53 characters"
        },
        InEnvironment,
        true
    ),
    // GitLab: runner names up to 255 characters (gitlab-runner `common/config.go`); the chart
    // puts the name into a shell script (spec::values), so only shell-inert characters.
    rule!(
        "runnerName",
        runner_name,
        "GitLab runner name",
        "{env}-k8-{runner}",
        Validity {
            valid: |s| (1..=255).contains(&s.len())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            rule: "1–255 letters, digits, `.`, `_` or `-`"
        },
        InEnvironment,
        false
    ),
];

/// Placeholders a naming template may use.
pub const PLACEHOLDERS: &[&str] = &["org", "env", "envLong", "region", "runner"];

/// Placeholders of an environment's own names (its secret store's): all but `{runner}`.
pub const ENV_PLACEHOLDERS: &[&str] = &["org", "env", "envLong", "region"];

/// Expands a naming template; `lookup` gives each placeholder's value.
/// Errors name the first unknown or unclosed placeholder.
pub fn expand(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{template}`"))?;
        let name = &after[..close];
        let value = lookup(name).ok_or_else(|| format!("unknown placeholder `{{{name}}}`"))?;
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("unmatched `}}` in `{template}`"));
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_templates() {
        let f = |k: &str| match k {
            "env" => Some("ss".to_owned()),
            "runner" => Some("tf".to_owned()),
            _ => None,
        };
        assert_eq!(expand("{env}-k8-{runner}", f).unwrap(), "ss-k8-tf");
        assert!(
            expand("{nope}", f)
                .unwrap_err()
                .contains("unknown placeholder `{nope}`")
        );
        assert!(expand("{env", f).is_err());
        assert!(expand("env}", f).is_err());
    }

    #[test]
    fn every_default_template_names_each_runner() {
        for rule in RULES {
            assert!(rule.default.contains("{runner}"), "{}", rule.field);
            let mut names = Names::default();
            *(rule.slot)(&mut names) = rule.field.to_owned();
            assert_eq!(
                (rule.get)(&names),
                rule.field,
                "slot and get address one field"
            );
        }
    }
}
