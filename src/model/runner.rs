//! One runner resolved: its names, tags, defaults and Azure access.

use super::{AzureIdentity, Cache, ResourceList, Runner, azure, defaults};
use crate::facts;
use crate::names::{IDENTITY_NAME, Names, RULES, Validity, expand};
use crate::spec::{self, Code, Problem, types as t};

/// One runner of the spec, in its environment.
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    pub spec: &'a t::Spec,
    pub env_key: &'a str,
    pub env: &'a t::Environment,
    pub key: &'a str,
    /// Where the runner is in the spec (`spec::Instance::at`).
    pub at: &'a str,
    pub runner: &'a t::Runner,
    pub outputs: &'a super::outputs::Outputs,
    pub platform: &'a super::Platform,
}

pub(super) fn resolve(input: Input, diags: &mut Vec<Problem>) -> Runner {
    let Input {
        env_key: ek,
        env: e,
        key: rk,
        runner: r,
        ..
    } = input;
    let names = names(input, diags);
    let rp = input.at;
    let shared = r.service_accounts == Some(t::ServiceAccountMode::Shared);
    let (identity, cache_identity) = identities(input, &names, shared, diags);
    let resources = r.resources.as_ref();
    let (promotion_expect, promotion_expect_roles) = super::promotion::of_runner(e, r);
    Runner {
        key: rk.to_owned(),
        environment: ek.to_owned(),
        at: rp.to_owned(),
        runner_type: r.runner_type,
        path: r.path.clone(),
        purpose: r.purpose.clone(),
        tags: tags(&e.region_code, ek, rk, &r.tags),
        run_untagged: r.run_untagged.unwrap_or(false),
        locked: r.locked.unwrap_or(false),
        access_level: r.access_level.unwrap_or_default(),
        maximum_timeout: r.maximum_timeout,
        privileged: r.privileged.unwrap_or(false),
        pod_security: crate::vocab::pod_security_level(
            r.privileged.unwrap_or(false),
            &r.kubernetes
                .as_ref()
                .map(|k| k.extra.clone())
                .unwrap_or_default(),
        ),
        concurrent: r.concurrent.unwrap_or(defaults::CONCURRENT),
        check_interval: r.check_interval.unwrap_or(defaults::CHECK_INTERVAL),
        termination_grace_period_seconds: r
            .termination_grace_period_seconds
            .unwrap_or(defaults::TERMINATION_GRACE_PERIOD_SECONDS),
        job_image: r
            .job_image
            .clone()
            .unwrap_or_else(|| defaults::JOB_IMAGE.into()),
        requests: resource_list(resources.and_then(|x| x.requests.as_ref())),
        limits: resource_list(resources.and_then(|x| x.limits.as_ref())),
        node_selector: r.node_selector.clone(),
        tolerations: r.tolerations.clone(),
        cache: r.cache.as_ref().map(cache),
        shared_service_account: shared,
        cache_identity,
        labels: labels(ek, rk),
        repository_label: label_value(&r.path),
        oidc_issuer_url: e.cluster.oidc_issuer_url.clone(),
        tenant_id: e.tenant_id.to_lowercase(),
        chart_values: chart_values(input.spec, r),
        kubernetes_extra: r
            .kubernetes
            .as_ref()
            .map(|k| k.extra.clone())
            .unwrap_or_default(),
        job_variables: r.job_variables.clone(),
        ci_subscription_id: r
            .identity
            .as_ref()
            .and_then(|i| i.subscription.as_ref())
            .map_or(&e.subscriptions[&e.identities.subscription], |a| {
                &e.subscriptions[a]
            })
            .to_lowercase(),
        pod_labels_overwrite: pod_labels_overwrite(r),
        identity,
        graph: azure::graph_grants(&names.symbol, &r.access().graph_permissions),
        kubernetes_access: r.access().kubernetes_access.unwrap_or_default(),
        promotion_expect,
        promotion_expect_roles,
        names,
    }
}

/// The runner's Azure identities: its job pods' (when the spec gives it an `identity`) and,
/// with a cache and separate accounts, its manager's own, which signs the cache's SAS.
fn identities(
    input: Input,
    names: &Names,
    shared: bool,
    diags: &mut Vec<Problem>,
) -> (Option<AzureIdentity>, Option<AzureIdentity>) {
    let (r, rp) = (input.runner, input.at);
    let who = format!("runner `{}`", input.key);
    let identity = r.identity.as_ref().map(|id| {
        let client_id = input.outputs.client_id(
            &who,
            id.client_id.as_ref(),
            format!("{rp}/identity/clientId"),
            &names.client_id_output,
            diags,
        );
        let roles = azure::role_assignments(input.env, r, shared);
        AzureIdentity::new(&names.symbol, client_id, roles)
    });
    let cache = r.cache.as_ref().filter(|_| !shared).map(|c| {
        let client_id = input.outputs.client_id(
            &who,
            c.manager_client_id.as_ref(),
            format!("{rp}/cache/managerClientId"),
            &names.cache_client_id_output,
            diags,
        );
        let roles = azure::cache_manager_roles(&c.storage_account_id);
        AzureIdentity::new(&format!("{}_cache", names.symbol), client_id, roles)
    });
    (identity, cache)
}

/// Labels on every Kubernetes object of the runner.
fn labels(ek: &str, rk: &str) -> std::collections::BTreeMap<String, String> {
    [
        ("app.kubernetes.io/managed-by", "runnergen"),
        ("app.kubernetes.io/part-of", "gitlab-runner"),
        ("runnergen.dev/environment", ek),
        ("runnergen.dev/runner", rk),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The name the gitlab-runner chart gives its Deployment: `fullnameOverride`, else `<release>-`
/// and `nameOverride` or the chart's name, cut to 63 characters without a trailing `-` (chart
/// `templates/_helpers.tpl`, `gitlab-runner.fullname`).
fn chart_fullname(release: &str, values: &serde_json::Map<String, serde_json::Value>) -> String {
    let text = |k: &str| {
        values
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let full = match text("fullnameOverride") {
        Some(f) => f.to_owned(),
        None => format!(
            "{release}-{}",
            text("nameOverride").unwrap_or("gitlab-runner")
        ),
    };
    let cut: String = full.chars().take(63).collect();
    cut.trim_end_matches('-').to_owned()
}

/// The fleet's `chart.values` with the runner's merged over them.
fn chart_values(s: &t::Spec, r: &t::Runner) -> serde_json::Map<String, serde_json::Value> {
    let mut values = s.chart.values.clone().unwrap_or_default();
    if let Some(own) = r.chart.as_ref().and_then(|c| c.values.as_ref()) {
        spec::instances::deep_merge(&mut values, own);
    }
    values
}

/// `kubernetes.podLabelsOverwriteAllowed`: `.*` by default (the Terraform article's), none for `""`.
fn pod_labels_overwrite(r: &t::Runner) -> Option<String> {
    match r
        .kubernetes
        .as_ref()
        .and_then(|k| k.pod_labels_overwrite_allowed.as_deref())
    {
        None => Some(".*".to_owned()),
        Some("") => None,
        Some(regex) => Some(regex.to_owned()),
    }
}

/// Where the runner's Flux objects go: with the AKS extension every runner's share the
/// configuration's namespace, so the HelmRepository is named as its release; alone in the
/// runner's namespace it is `gitlab`.
fn flux_names(n: &mut Names, platform: &super::Platform) {
    if platform.flux_in_config_namespace() {
        n.flux_namespace = platform.flux_namespace.clone();
        n.helm_repository = n.helm_release.clone();
    } else {
        n.flux_namespace = n.namespace.clone();
        n.helm_repository = "gitlab".into();
    }
}

/// Expands every naming rule for this runner (reporting names invalid where they go), then
/// derives the names that follow from them.
fn names(input: Input, diags: &mut Vec<Problem>) -> Names {
    let Input {
        spec: s,
        env_key: ek,
        env: e,
        key: rk,
        runner: r,
        ..
    } = input;
    let lookup = |k: &str| match k {
        "runner" => Some(rk.to_owned()),
        _ => env_placeholder(s, ek, e, k),
    };
    let rp = input.at;
    let mut n = Names::default();
    for rule in RULES {
        let (template, whose) = rule.template_for(&s.naming, r.naming.as_ref());
        let name = expand(template, lookup).expect("templates were checked by spec::check");
        if !(rule.validity.valid)(&name) {
            diags.push(invalid_name(rp, rk, rule.what, &name, &rule.validity).hint(format!(
                "it comes from {whose}.{} `{template}`; shorten the runner key or override the template",
                rule.field
            )));
        }
        *(rule.slot)(&mut n) = name;
    }
    if r.service_accounts == Some(t::ServiceAccountMode::Shared) {
        // One account for manager and jobs (the seed's layout): it lives in one namespace.
        n.job_service_account = n.manager_service_account.clone();
        n.job_namespace = n.namespace.clone();
    }
    n.manager_role = crate::names::manager_role(&n.manager_service_account);
    n.job_binding = crate::names::job_binding(
        r.access().kubernetes_access.unwrap_or_default() == t::KubernetesAccess::ClusterAdmin,
        &n.job_namespace,
        &n.job_service_account,
    );
    flux_names(&mut n, input.platform);
    n.description = format!("{}-{}-aks", n.manager_service_account, e.region_code);
    n.federated_subject = format!(
        "system:serviceaccount:{}:{}",
        n.job_namespace, n.job_service_account
    );
    n.gitlab_marker = crate::names::gitlab_marker(super::fleet_id(s), ek, rk);
    n.ci_job = format!(".runnergen-{ek}-{rk}");
    n.manager_deployment = chart_fullname(&n.helm_release, &chart_values(s, r));
    n.symbol = rk.replace('-', "_");
    n.identity_symbol = format!("{}Identity", n.symbol);
    n.credential_symbol = format!("{}Credential", n.symbol);
    n.client_id_output = format!("{}ClientId", n.symbol);
    n.principal_id_output = format!("{}PrincipalId", n.symbol);
    // Runner keys are lowercase, so `<symbol>Cache…` never meets another runner's symbols.
    n.cache_identity = format!("{}-cache", n.identity);
    if r.cache.is_some() && !(IDENTITY_NAME.valid)(&n.cache_identity) {
        diags.push(
            invalid_name(rp, rk, "cache identity", &n.cache_identity, &IDENTITY_NAME)
                .hint("shorten the identity naming template: the cache identity adds `-cache`"),
        );
    }
    n.cache_federated_subject = format!(
        "system:serviceaccount:{}:{}",
        n.namespace, n.manager_service_account
    );
    n.cache_identity_symbol = format!("{}CacheIdentity", n.symbol);
    n.cache_credential_symbol = format!("{}CacheCredential", n.symbol);
    n.cache_client_id_output = format!("{}CacheClientId", n.symbol);
    n.cache_principal_id_output = format!("{}CachePrincipalId", n.symbol);
    n
}

/// E020: a name derived for runner `rk` is invalid where it is used.
fn invalid_name(rp: &str, rk: &str, what: &str, name: &str, validity: &Validity) -> Problem {
    Problem::error_key(
        Code::E020,
        rp,
        format!(
            "runner `{rk}`: {what} name `{name}` is invalid: it must be {}",
            validity.rule
        ),
    )
}

/// Region code, runner key, then the spec's tags, without duplicates.
/// The runner's tags: its region code and key (the Terraform article's), its own tag `<env>-<key>`, then the
/// spec's. GitLab gives a job to a runner only when every tag of the job is among the runner's
/// (`app/models/ci/matching/runner_matcher.rb`, `accepting_tags?`), so a job that asks for the
/// runner's own tag (its `ci-template.yml` does) runs on no other runner: not on the same key in
/// another environment of the same region.
fn tags(region: &str, ek: &str, rk: &str, extra: &[String]) -> Vec<String> {
    let own = crate::names::own_tag(ek, rk);
    let mut tags: Vec<String> = Vec::new();
    for tag in [region, rk, own.as_str()]
        .into_iter()
        .chain(extra.iter().map(String::as_str))
    {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    tags
}

fn cache(c: &t::Cache) -> Cache {
    let id = facts::parse_resource_id(&c.storage_account_id).expect("checked by spec");
    Cache {
        account_name: id.name,
        account_id: id.id,
        container: c.container.clone(),
        shared: c.shared.unwrap_or(false),
    }
}

fn resource_list(r: Option<&t::ResourceList>) -> ResourceList {
    r.map(|r| ResourceList {
        cpu: r.cpu.clone(),
        memory: r.memory.clone(),
        ephemeral_storage: r.ephemeral_storage.clone(),
    })
    .unwrap_or_default()
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

impl Runner {
    /// Who can make the runner run a job, and what the job gets, as `overlap` compares
    /// runners: what its rendered files say (`access::Access::of`: the Kubernetes side only
    /// once the runner is ready).
    pub fn reach(&self, env: &str) -> crate::overlap::Reach {
        let ready = self.ready();
        crate::overlap::Reach {
            env: env.to_owned(),
            key: self.key.clone(),
            runner_type: self.runner_type,
            path: self.path.clone(),
            asked: crate::overlap::Reach::asked(&self.tags, &crate::names::own_tag(env, &self.key)),
            tags: self.tags.clone(),
            run_untagged: self.run_untagged,
            protected: self.access_level == t::AccessLevel::RefProtected,
            grants: crate::overlap::Grants {
                roles: self
                    .roles()
                    .iter()
                    .map(|ra| (ra.display_name(), ra.scope.id()))
                    .collect(),
                graph: self.graph_permissions().map(str::to_owned).collect(),
                kubernetes: ready.then_some(self.kubernetes_access),
                privileged: ready.then_some(self.privileged),
            },
        }
    }
}

/// The value of an environment placeholder of a naming template (`names::ENV_PLACEHOLDERS`)
/// for environment `ek`; none for any other name.
pub(super) fn env_placeholder(
    s: &t::Spec,
    ek: &str,
    e: &t::Environment,
    k: &str,
) -> Option<String> {
    match k {
        "org" => Some(s.organization.clone()),
        "env" => Some(ek.to_owned()),
        "envLong" => Some(e.long_name.clone()),
        "region" => Some(e.region_code.clone()),
        _ => None,
    }
}
