//! Semantic rules the schema cannot express: references resolve, alternatives are exclusive,
//! IDs are well formed, roles and permissions are known. Each rule says where its fact comes from.

use super::diag::Code;
use super::identity::{check_identity, unknown_alias};
use super::problem::{Ctx, Problem};
use super::ptr_key;
use super::schema::did_you_mean;
use super::types::*;
use crate::facts;
use crate::names::{self, ENV_PLACEHOLDERS, PLACEHOLDERS, expand};
use std::collections::BTreeSet;

fn is_env_key(k: &str) -> bool {
    let b = k.as_bytes();
    (1..=8).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// A runner key: what goes into Kubernetes and Azure names (also `runnergen import`'s test of a `for_each` key).
pub fn is_runner_key(k: &str) -> bool {
    let b = k.as_bytes();
    (1..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && !k.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Checks the OIDC issuer the way Entra ID compares it: byte for byte, https, with the trailing
/// slash AKS reports (azure-workload-identity troubleshooting: AADSTS70021 on a missing `/`).
pub fn issuer_problem(url: &str) -> Option<&'static str> {
    if !url.starts_with("https://") {
        Some("the OIDC issuer must be an https URL")
    } else if url.len() <= "https://".len() || url["https://".len()..].starts_with('/') {
        Some("the OIDC issuer has no host")
    } else if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
        Some("the OIDC issuer must not carry a query, a fragment or spaces")
    } else if !url.ends_with('/') {
        Some("the OIDC issuer must end with `/`, exactly as AKS reports it")
    } else if url.len() > 600 {
        Some("the OIDC issuer is longer than the 600 characters Entra ID accepts")
    } else {
        None
    }
}

fn version_tuple(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// Runs every semantic rule. `env_keys` are the environment keys present in the document, which
/// may be more than `spec.environments` holds when the spec is only partly valid.
pub fn check(spec: &Spec, env_keys: &BTreeSet<String>) -> Vec<Problem> {
    let mut cx = Ctx::default();
    fleet_wide(&mut cx, spec);
    check_naming(&mut cx, "/naming", &spec.naming, true);
    super::values::check(&mut cx, spec);
    super::escape::check(&mut cx, spec);
    super::promotion::check(&mut cx, spec, env_keys);
    super::acknowledge::check(&mut cx, spec);
    let uses_key_vault = spec.token_source.existing_secret.is_none();
    for (ek, env) in &spec.environments {
        environment(&mut cx, ek, env, uses_key_vault);
    }
    for (rk, r) in &spec.runners {
        runner_entry(&mut cx, rk, r, env_keys);
    }
    for inst in &spec.instances {
        instance(&mut cx, inst, spec.environments.get(&inst.env));
    }
    cx.into_problems()
}

/// The chart's version and the token source's alternatives.
fn fleet_wide(cx: &mut Ctx, spec: &Spec) {
    if let Some(v) = &spec.chart.version
        && version_tuple(v).is_some_and(|t| t < facts::CHART_MIN_VERSION)
    {
        cx.err(
            Code::E017,
            "/chart/version",
            format!("chart {v} is older than 0.66.0, which introduced the `serviceAccount.*` values runnergen writes"),
            format!("use {} (the default) or any version from 0.66.0", facts::CHART_VERSION),
        );
    }

    let ts = &spec.token_source;
    if let Some(template) = ts
        .external_secret
        .as_ref()
        .and_then(|e| e.store_name.as_ref())
        && let Err(e) = expand(template, |k| {
            ENV_PLACEHOLDERS.contains(&k).then(String::new)
        })
    {
        cx.err(
            Code::E022,
            "/tokenSource/externalSecret/storeName",
            e,
            format!(
                "placeholders: {} (a store is the environment's, not a runner's)",
                placeholder_list(ENV_PLACEHOLDERS)
            ),
        );
    }
    if ts.external_secret.is_some() && ts.existing_secret.is_some() {
        cx.err(
            Code::E011,
            "/tokenSource",
            "`externalSecret` and `existingSecret` are alternatives; give one".into(),
            "keep `externalSecret` to fill the token Secret from Key Vault, or `existingSecret: {}` if the Secret is created elsewhere".into(),
        );
    }
}

/// One environment: its key, tenant and subscription IDs, aliases, issuer and Key Vault.
fn environment(cx: &mut Ctx, ek: &str, env: &Environment, uses_key_vault: bool) {
    let ep = format!("/environments/{}", ptr_key(ek));
    if !is_env_key(ek) {
        cx.err_key(
            Code::E005,
            &ep,
            format!("environment key `{ek}` must be 1–8 lowercase letters or digits, starting with a letter"),
            "environment keys go into Azure and Kubernetes names; use a short code such as `ss`, `dev` or `prd`".into(),
        );
    }
    if !facts::is_guid(&env.tenant_id) {
        cx.err(
            Code::E012,
            &format!("{ep}/tenantId"),
            format!("`{}` is not a GUID", env.tenant_id),
            "use the tenant ID from `az account show --query tenantId`".into(),
        );
    }
    for (alias, id) in &env.subscriptions {
        if !facts::is_guid(id) {
            cx.err(
                Code::E012,
                &format!("{ep}/subscriptions/{}", ptr_key(alias)),
                format!("subscription `{alias}`: `{id}` is not a GUID"),
                "use the subscription ID from `az account list --query [].id`".into(),
            );
        }
    }
    let sub = &env.identities.subscription;
    if !env.subscriptions.contains_key(sub) {
        unknown_alias(cx, &format!("{ep}/identities/subscription"), sub, env);
    }
    if let Some(problem) = issuer_problem(&env.cluster.oidc_issuer_url) {
        cx.err(
            Code::E013,
            &format!("{ep}/cluster/oidcIssuerUrl"),
            problem.into(),
            "copy it from `az aks show -g <rg> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv`".into(),
        );
    }
    if let Some(kv) = &env.key_vault {
        let kp = format!("{ep}/keyVault");
        if let Some(alias) = &kv.subscription
            && !env.subscriptions.contains_key(alias)
        {
            unknown_alias(cx, &format!("{kp}/subscription"), alias, env);
        }
        if let Some(rg) = &kv.resource_group
            && !facts::is_resource_group(rg)
        {
            cx.err(
                Code::E005,
                &format!("{kp}/resourceGroup"),
                format!("`{rg}` is not a valid resource group name"),
                "1–90 letters, digits, `-`, `_`, `.`, `(` or `)`, not ending in `.`".into(),
            );
        }
        if let Some(c) = &kv.store_client_id
            && !facts::is_guid(c)
        {
            cx.err(
                Code::E012,
                &format!("{kp}/storeClientId"),
                format!("`{c}` is not a GUID"),
                "use the `_keyVaultStoreClientId` output of the environment's Azure deployment"
                    .into(),
            );
        }
    }
    if uses_key_vault && env.key_vault.is_none() {
        cx.err_key(
            Code::E003,
            &ep,
            format!("environment `{ek}` has no `keyVault`, but runner tokens come from Key Vault"),
            "add `keyVault: {name: <vault>}`, or set `tokenSource: {existingSecret: {}}`".into(),
        );
    }
}

/// One runner instance (an entry in one environment, overrides merged): tags, node selectors,
/// tolerations, cache and identity.
fn instance(cx: &mut Ctx, inst: &Instance, env: Option<&Environment>) {
    let (rp, r) = (inst.at.as_str(), &inst.runner);
    tags(cx, rp, r);
    if let Some(n) = &r.naming {
        // A runner's own name may be a literal: it names one runner only.
        check_naming(cx, &format!("{rp}/naming"), n, false);
    }
    node_placement(cx, rp, r);
    cache(cx, rp, r);
    match &r.identity {
        Some(identity) => check_identity(cx, rp, identity, env),
        // The cache's SAS is signed with an Azure identity (the manager's own, or the
        // shared account's): gitlab-runner cache/azure/adapter.go.
        None if r.cache.is_some() => cx.err_key(
            Code::E011,
            &format!("{rp}/cache"),
            "`cache` needs an Azure identity to sign the cache's SAS, and this runner has no `identity`".into(),
            "add `identity: {}` (an identity with no roles), or remove `cache`".into(),
        ),
        None => {}
    }
}

/// GitLab tags: non-empty, at most 255 characters, each once.
fn tags(cx: &mut Ctx, rp: &str, r: &Runner) {
    let mut seen_tags = BTreeSet::new();
    for (i, tag) in r.tags.iter().enumerate() {
        let tp = format!("{rp}/tags/{i}");
        if tag.is_empty() || tag.len() > 255 {
            cx.err(
                Code::E005,
                &tp,
                "a tag is empty or longer than 255 characters".into(),
                "GitLab tags are single words of at most 255 characters".into(),
            );
        } else if !seen_tags.insert(tag.as_str()) {
            cx.err(
                Code::E031,
                &tp,
                format!("tag `{tag}` is listed twice"),
                "remove the duplicate".into(),
            );
        }
    }
}

/// Node selectors and tolerations end up as config.toml keys and Kubernetes labels and
/// taints: they must be valid label/taint keys and values (apimachinery validation).
fn node_placement(cx: &mut Ctx, rp: &str, r: &Runner) {
    for (k, v) in &r.node_selector {
        let p = format!("{rp}/nodeSelector/{}", ptr_key(k));
        if !facts::is_label_key(k) {
            cx.err_key(Code::E005, &p, format!("`{}` is not a valid Kubernetes label key", k.escape_debug()), "a label key is `[prefix/]name`: a DNS subdomain prefix, and a name of at most 63 letters, digits, `-`, `_` or `.`, alphanumeric at both ends".into());
        }
        if !facts::is_label_value(v) {
            cx.err(
                Code::E005,
                &p,
                format!(
                    "`{}` is not a valid Kubernetes label value",
                    v.escape_debug()
                ),
                "at most 63 letters, digits, `-`, `_` or `.`, alphanumeric at both ends".into(),
            );
        }
    }
    let mut seen_tolerations = BTreeSet::new();
    for (i, t) in r.tolerations.iter().enumerate() {
        let p = format!("{rp}/tolerations/{i}");
        if !facts::is_label_key(&t.key) {
            cx.err(
                Code::E005,
                &format!("{p}/key"),
                format!("`{}` is not a valid taint key", t.key.escape_debug()),
                "a taint key is `[prefix/]name`, like a label key".into(),
            );
        }
        if let Some(v) = &t.value
            && !facts::is_label_value(v)
        {
            cx.err(
                Code::E005,
                &format!("{p}/value"),
                format!("`{}` is not a valid taint value", v.escape_debug()),
                "at most 63 letters, digits, `-`, `_` or `.`, alphanumeric at both ends".into(),
            );
        }
        // config.toml's node_tolerations maps "key=value" to one effect (gitlab-runner
        // KubernetesConfig.NodeTolerations), so a key and value can appear once.
        if !seen_tolerations.insert((t.key.as_str(), t.value.as_deref())) {
            cx.err(
                Code::E031,
                &p,
                format!("toleration `{}` is listed twice", t.key),
                "the runner's node_tolerations take one effect per key and value; keep one".into(),
            );
        }
    }
}

/// The cache's storage account and its manager's client ID.
fn cache(cx: &mut Ctx, rp: &str, r: &Runner) {
    if let Some(cache) = &r.cache {
        let cp = format!("{rp}/cache/storageAccountId");
        match facts::parse_resource_id(&cache.storage_account_id) {
            Some(id)
                if id.resource_type.eq_ignore_ascii_case("Microsoft.Storage/storageAccounts")
                    && facts::is_storage_account_name(&id.name) => {}
            _ => cx.err(
                Code::E016,
                &cp,
                "not the resource ID of a storage account".into(),
                "use `/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>` (`az storage account show --query id`)".into(),
            ),
        }
        if let Some(c) = &cache.manager_client_id
            && !facts::is_guid(c)
        {
            cx.err(
                Code::E012,
                &format!("{rp}/cache/managerClientId"),
                format!("`{c}` is not a GUID"),
                "use the `<runner>CacheClientId` output of the environment's Azure deployment"
                    .into(),
            );
        }
    }
}

/// The rules of a runner entry as written: its key, and the environments it names (`environment`
/// or `environments`, and the keys of `overrides`).
fn runner_entry(cx: &mut Ctx, rk: &str, r: &Runner, env_keys: &BTreeSet<String>) {
    let rp = format!("/runners/{}", ptr_key(rk));
    if !is_runner_key(rk) {
        cx.err_key(
            Code::E005,
            &rp,
            format!("runner key `{rk}` must be 1–40 lowercase letters, digits or single hyphens, starting with a letter"),
            "runner keys go into Kubernetes and Azure names".into(),
        );
    } else if crate::layout::RESERVED_RUNNER_KEYS.contains(&rk) {
        cx.err_key(
            Code::E005,
            &rp,
            format!("runner key `{rk}` is reserved: runnergen writes its own folder `<env>/{rk}/`"),
            "rename the runner".into(),
        );
    }
    let known: Vec<&str> = env_keys.iter().map(String::as_str).collect();
    let unknown = |cx: &mut Ctx, ptr: &str, what: &str, env: &str| {
        let mut hint = format!("known environments: {}", known.join(", "));
        if let Some(m) = did_you_mean(env, known.iter().copied()) {
            hint = format!("did you mean `{m}`? {hint}");
        }
        cx.err(Code::E010, ptr, format!("{what} `{env}`"), hint);
    };
    match (&r.environment, r.environments.is_empty()) {
        (Some(_), false) => cx.err_key(
            Code::E005,
            &format!("{rp}/environments"),
            format!("runner `{rk}` names both `environment` and `environments`"),
            "keep `environments: [...]` for a runner in several environments, else `environment`"
                .into(),
        ),
        (None, true) => cx.err_key(
            Code::E003,
            &rp,
            format!("runner `{rk}` names no environment"),
            "add `environment: <env>`, or `environments: [<env>, ...]` for several".into(),
        ),
        (Some(e), true) if !env_keys.contains(e) => {
            unknown(cx, &format!("{rp}/environment"), "unknown environment", e)
        }
        _ => {}
    }
    let mut seen = BTreeSet::new();
    for (i, e) in r.environments.iter().enumerate() {
        let p = format!("{rp}/environments/{i}");
        if !seen.insert(e.as_str()) {
            cx.err(
                Code::E031,
                &p,
                format!("environment `{e}` is listed twice"),
                "remove the duplicate".into(),
            );
        } else if !env_keys.contains(e) {
            unknown(cx, &p, "unknown environment", e);
        }
    }
    for e in r.overrides.keys() {
        let listed = r.environments.contains(e) || r.environment.as_deref() == Some(e.as_str());
        if !listed {
            let p = format!("{rp}/overrides/{}", ptr_key(e));
            let names: Vec<&str> = match &r.environment {
                Some(one) => vec![one.as_str()],
                None => r.environments.iter().map(String::as_str).collect(),
            };
            cx.err_key(
                Code::E010,
                &p,
                format!(
                    "runner `{rk}` has an override for `{e}`, which is not one of its environments"
                ),
                format!(
                    "its environments: {}; add `{e}` to `environments`, or remove the override",
                    names.join(", ")
                ),
            );
        }
    }
}

/// `{org}, {env}, …` for a hint.
fn placeholder_list(list: &[&str]) -> String {
    list.iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Naming templates at `at` (the fleet's `/naming`, or a runner's); `fleet_wide` templates
/// name every runner, so those that must differ per runner need `{runner}`.
fn check_naming(cx: &mut Ctx, at: &str, n: &Naming, fleet_wide: bool) {
    for rule in names::RULES {
        let Some(t) = (rule.template)(n) else {
            continue;
        };
        let p = format!("{at}/{}", rule.field);
        if let Err(e) = expand(t, |k| PLACEHOLDERS.contains(&k).then(String::new)) {
            cx.err(
                Code::E022,
                &p,
                e,
                format!("placeholders: {}", placeholder_list(PLACEHOLDERS)),
            );
        } else if fleet_wide && rule.needs_runner && !t.contains("{runner}") {
            cx.err(
                Code::E022,
                &p,
                format!(
                    "`{t}` has no `{{runner}}`, so every runner would get the same {}",
                    rule.field
                ),
                "include `{runner}` so each runner's name is its own".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        assert!(issuer_problem("https://westeurope.oic.prod-aks.azure.com/t/i/").is_none());
        assert!(issuer_problem("https://westeurope.oic.prod-aks.azure.com/t/i").is_some());
        assert!(issuer_problem("http://x/").is_some());
        assert!(issuer_problem("https:///").is_some());
    }
}
