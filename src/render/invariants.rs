//! Cross-artifact invariants, checked on every render, so that a renderer drifting from another
//! fails loudly instead of shipping a runner whose pods cannot obtain an Azure token.
//!
//! The renderers report what the invariants read ([`RunnerFacts`], [`EnvFacts`]) from the
//! values they serialise, so a render parses nothing back. [`from_tree`] reads the same facts
//! by parsing the rendered files; the test suite renders every fixture and checks that both
//! agree and pass, so the facts cannot drift from the bytes.

use super::RenderError;
use crate::facts;
use crate::layout::{self, AzureFile, RunnerFile};
use crate::model::{Environment, Fleet, Runner, TokenSource};
use crate::readback;
use crate::tree::Tree;
use crate::vocab::Account;
use serde_json::Value;
use std::collections::BTreeMap;

fn fail(msg: String) -> Result<(), RenderError> {
    Err(RenderError::Invariant(msg))
}

/// A federated identity credential of an ARM template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
}

/// Every federated credential in an ARM template, however deeply nested.
pub fn credentials(v: &Value, out: &mut Vec<Credential>) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str)
                == Some(
                    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                )
                && let Some(p) = o.get("properties")
            {
                let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                let audiences = p["audiences"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Credential {
                    issuer: s("issuer"),
                    subject: s("subject"),
                    audiences,
                });
            }
            o.values().for_each(|c| credentials(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| credentials(c, out)),
        _ => {}
    }
}

/// What the invariants read of an environment's files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnvFacts {
    /// The federated credentials of every main template (one per shard).
    pub credentials: Vec<Credential>,
    /// The accounts of the Key Vault secret store file, if it is rendered.
    pub store_accounts: Vec<Account>,
    /// Each runner's, in the environment's order; none for a runner not ready.
    pub runners: Vec<Option<RunnerFacts>>,
}

/// What the invariants read of a ready runner's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerFacts {
    /// config.toml has a `[runners.kubernetes]` table.
    pub has_kubernetes: bool,
    /// Its `namespace`, `service_account` and the job pods' workload-identity label.
    pub job_namespace: String,
    pub job_service_account: String,
    pub job_label: Option<String>,
    /// service-accounts.yaml.
    pub accounts: Vec<Account>,
    /// values.yaml: `serviceAccount.name`, the manager pod's workload-identity label and
    /// `runners.secret`.
    pub values_service_account: String,
    pub values_label: Option<String>,
    pub values_secret: String,
    /// values.yaml's `runners.config` is config.toml, byte for byte.
    pub values_config_is_config: bool,
    /// values.yaml's `runners.config` holds `{{`.
    pub values_config_has_template: bool,
    /// The ExternalSecret's target Secret, when the token comes from one.
    pub token_target: Option<String>,
}

impl RunnerFacts {
    /// From config.toml (its text and parsed table), the service accounts, the Helm values and
    /// the ExternalSecret's target.
    pub fn new(
        config: &toml::Table,
        config_text: &str,
        accounts: Vec<Account>,
        values: &Value,
        token_target: Option<String>,
    ) -> RunnerFacts {
        let k8s = readback::runner_kubernetes(config);
        let get = |k: &str| {
            k8s.and_then(|t| t.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let label = |v: &Value| v[facts::WI_USE_LABEL].as_str().map(str::to_owned);
        let in_values = values["runners"]["config"].as_str();
        RunnerFacts {
            has_kubernetes: k8s.is_some(),
            job_namespace: get("namespace"),
            job_service_account: get("service_account"),
            job_label: k8s
                .and_then(|t| t.get("pod_labels"))
                .and_then(|l| l.get(facts::WI_USE_LABEL))
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            accounts,
            values_service_account: values["serviceAccount"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            values_label: label(&values["podLabels"]),
            values_secret: values["runners"]["secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            values_config_is_config: in_values == Some(config_text),
            values_config_has_template: in_values.unwrap_or_default().contains("{{"),
            token_target,
        }
    }
}

fn yaml_docs(tree: &Tree, path: &str) -> Result<Vec<Value>, RenderError> {
    let text = tree
        .get_str(path)
        .ok_or_else(|| RenderError::Invariant(format!("{path} was not rendered")))?;
    readback::yaml_values(text)
        .map_err(|e| RenderError::Invariant(format!("{path} does not parse: {e}")))
}

/// The facts, read by parsing the rendered files: what [`check`] saw before the renderers
/// reported them, kept so that a test can compare the two.
pub fn from_tree(fleet: &Fleet, tree: &Tree) -> Result<Vec<EnvFacts>, RenderError> {
    fleet
        .environments
        .iter()
        .map(|env| env_from_tree(fleet, env, tree))
        .collect()
}

fn env_from_tree(fleet: &Fleet, env: &Environment, tree: &Tree) -> Result<EnvFacts, RenderError> {
    let mut facts = EnvFacts::default();
    for shard in env.shards().into_iter().filter(|_| env.has_azure()) {
        let path = layout::azure_file_in(&env.key, shard.number, AzureFile::MainJson);
        let arm: Value = serde_json::from_str(tree.get_str(&path).unwrap_or_default())
            .map_err(|e| RenderError::Invariant(format!("{path} does not parse: {e}")))?;
        credentials(&arm, &mut facts.credentials);
    }
    let store = layout::secret_store(&env.key);
    if tree.get(&store).is_some() {
        facts.store_accounts = yaml_docs(tree, &store)?
            .iter()
            .filter(|d| d["kind"] == "ServiceAccount")
            .map(Account::of)
            .collect();
    }
    for r in &env.runners {
        facts.runners.push(if r.ready() {
            Some(runner_from_tree(fleet, env, r, tree)?)
        } else {
            None
        });
    }
    Ok(facts)
}

fn runner_from_tree(
    fleet: &Fleet,
    env: &Environment,
    r: &Runner,
    tree: &Tree,
) -> Result<RunnerFacts, RenderError> {
    let path = |f| layout::runner_file(&env.key, &r.key, f);
    let toml_path = path(RunnerFile::Config);
    let text = tree.get_str(&toml_path).unwrap_or_default();
    let config: toml::Table = text
        .parse()
        .map_err(|e| RenderError::Invariant(format!("{toml_path} does not parse: {e}")))?;
    let accounts = yaml_docs(tree, &path(RunnerFile::ServiceAccounts))?
        .iter()
        .map(Account::of)
        .collect();
    let values = yaml_docs(tree, &path(RunnerFile::Values))?.remove(0);
    let token_target = match fleet.token {
        TokenSource::ExternalSecret { .. } => {
            let es = yaml_docs(tree, &path(RunnerFile::ExternalSecret))?.remove(0);
            Some(
                es["spec"]["target"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
        TokenSource::ExistingSecret => None,
    };
    Ok(RunnerFacts::new(
        &config,
        text,
        accounts,
        &values,
        token_target,
    ))
}

/// Checks the invariants on the facts of every environment (in the fleet's order): those
/// across an environment's parts ([`check_shared`]) and each runner's own files
/// ([`check_runner`]).
pub fn check(fleet: &Fleet, facts: &[EnvFacts]) -> Result<(), RenderError> {
    check_shared(fleet, facts)?;
    for (env, facts) in fleet.environments.iter().zip(facts) {
        for (r, f) in env.runners.iter().zip(&facts.runners) {
            check_runner(fleet, env, r, f.as_ref())?;
        }
    }
    Ok(())
}

/// The invariants that span an environment's parts: the federated credentials of its Azure
/// deployment against each runner's subject, and the Key Vault store's accounts. A render
/// checks each runner's own files ([`check_runner`]) as soon as they are rendered, so that it
/// keeps nothing of them (at 10,000 runners, 100,000 strings); `facts.runners` is not read.
pub fn check_shared(fleet: &Fleet, facts: &[EnvFacts]) -> Result<(), RenderError> {
    for (env, facts) in fleet.environments.iter().zip(facts) {
        // Each credential by subject: one look-up per runner.
        let mut by_subject: BTreeMap<&str, Vec<&Credential>> = BTreeMap::new();
        for c in &facts.credentials {
            by_subject.entry(&c.subject).or_default().push(c);
        }
        let trusting = |subject: &str| by_subject.get(subject).cloned().unwrap_or_default();

        // The Key Vault store: every account it signs in with carries its identity's client ID
        // and is the subject of one of its credentials, with the cluster's issuer.
        if let Some(store) = &env.store {
            for sa in &facts.store_accounts {
                let subject = sa.subject();
                let trusted = trusting(&subject)
                    .iter()
                    .filter(|c| c.issuer == env.oidc_issuer_url)
                    .count();
                if trusted != 1 || sa.client_id != store.azure.client_id {
                    return fail(format!(
                        "{}: `{subject}` lacks the store identity's client ID or its one credential",
                        layout::secret_store(&env.key)
                    ));
                }
            }
        }
        for r in &env.runners {
            runner_credentials(env, r, &trusting(&r.names.federated_subject), &trusting)?;
        }
    }
    Ok(())
}

/// A runner's part of the environment's Azure files: `mine` are the credentials whose subject
/// is the runner's.
fn runner_credentials<'a>(
    env: &Environment,
    r: &Runner,
    mine: &[&Credential],
    trusting: &dyn Fn(&str) -> Vec<&'a Credential>,
) -> Result<(), RenderError> {
    let arm_path = layout::azure_file(&env.key, AzureFile::MainJson);
    // The issuer is byte-identical everywhere; each runner's subject has exactly one
    // credential, and a runner without an identity none.
    if !r.has_identity() {
        if !mine.is_empty() {
            return fail(format!(
                "{arm_path}: runner `{}` has no identity but a federated credential",
                r.key
            ));
        }
    } else if mine.len() != 1 {
        return fail(format!(
            "{arm_path}: expected one federated credential for `{}`, found {}",
            r.names.federated_subject,
            mine.len()
        ));
    }
    if let Some(c) = mine.first() {
        if c.issuer != env.oidc_issuer_url {
            return fail(format!(
                "{arm_path}: issuer `{}` differs from the cluster's `{}`",
                c.issuer, env.oidc_issuer_url
            ));
        }
        if c.audiences != [facts::FIC_AUDIENCE] {
            return fail(format!(
                "{arm_path}: audiences of `{}` are {:?}",
                r.names.federated_subject, c.audiences
            ));
        }
    }
    // The manager's cache identity: exactly one credential, for the manager's account.
    if r.cache_identity.is_some() {
        let cache = trusting(&r.names.cache_federated_subject);
        if cache.len() != 1 || cache[0].issuer != env.oidc_issuer_url {
            return fail(format!(
                "{arm_path}: expected one federated credential for `{}` with the cluster's issuer, found {}",
                r.names.cache_federated_subject,
                cache.len()
            ));
        }
    }
    Ok(())
}

/// The invariants of one runner's files, on what its renderers reported (`None`: it was not
/// rendered, as a runner without its client ID is not).
pub fn check_runner(
    fleet: &Fleet,
    env: &Environment,
    r: &Runner,
    facts: Option<&RunnerFacts>,
) -> Result<(), RenderError> {
    if !r.ready() {
        return Ok(());
    }
    let dir = layout::runner_dir(&env.key, &r.key);
    let Some(f) = facts else {
        return fail(format!("{dir}: the runner is ready but was not rendered"));
    };

    pods(env, r, f, &dir)?;
    values(fleet, r, f, &dir)
}

/// config.toml's job pods: the namespace and account the federated credential trusts, the
/// workload-identity label, and the client IDs on the job's and the manager's accounts.
fn pods(env: &Environment, r: &Runner, f: &RunnerFacts, dir: &str) -> Result<(), RenderError> {
    let toml_path = layout::runner_file(&env.key, &r.key, RunnerFile::Config);
    // config.toml names the job pods' namespace and account: the federated subject.
    if !f.has_kubernetes {
        return fail(format!("{toml_path} has no [runners.kubernetes]"));
    }
    let subject = format!(
        "system:serviceaccount:{}:{}",
        f.job_namespace, f.job_service_account
    );
    if subject != r.names.federated_subject {
        return fail(format!(
            "{toml_path}: job pods run as `{subject}` but the federated credential trusts `{}`",
            r.names.federated_subject
        ));
    }
    // Job pods with an identity carry the workload-identity label; without one, not.
    if f.job_label.as_deref() != r.has_identity().then_some("true") {
        return fail(format!(
            "{toml_path}: the job pods' label {} is {:?}, the runner {} an identity",
            facts::WI_USE_LABEL,
            f.job_label,
            if r.has_identity() { "has" } else { "has no" }
        ));
    }

    // That account exists, in that namespace, with the client ID.
    let job = f
        .accounts
        .iter()
        .find(|a| a.name == f.job_service_account && a.namespace == f.job_namespace)
        .ok_or_else(|| {
            RenderError::Invariant(format!(
                "{dir}: config.toml's service account is not rendered"
            ))
        })?;
    if job.client_id.as_deref() != r.client_id() {
        return fail(format!(
            "{dir}: the job service account carries client ID {:?}, the runner's is {:?}",
            job.client_id,
            r.client_id()
        ));
    }

    // The manager's account carries the cache identity's client ID, and the manager pod
    // the workload-identity label (chart podLabels).
    if let Some(c) = &r.cache_identity {
        let manager = f
            .accounts
            .iter()
            .find(|a| a.name == r.names.manager_service_account);
        if manager.and_then(|m| m.client_id.as_ref()) != c.client_id.as_ref() {
            return fail(format!(
                "{dir}: the manager's service account does not carry the cache identity's client ID"
            ));
        }
    }

    Ok(())
}

/// The Helm values: the manager's account is rendered, the token Secret is the one filled,
/// and runners.config is config.toml, untouched by the chart's `tpl`.
fn values(fleet: &Fleet, r: &Runner, f: &RunnerFacts, dir: &str) -> Result<(), RenderError> {
    let sa = &f.values_service_account;
    if !f.accounts.iter().any(|a| a.name == *sa) {
        return fail(format!(
            "{dir}/values.yaml: serviceAccount.name `{sa}` is not a rendered service account"
        ));
    }
    if r.cache_identity.is_some() && f.values_label.as_deref() != Some("true") {
        return fail(format!(
            "{dir}/values.yaml: the manager pod lacks the label {}=\"true\" its cache identity needs",
            facts::WI_USE_LABEL
        ));
    }
    let expected = match &fleet.token {
        TokenSource::ExternalSecret { .. } => f.token_target.clone().unwrap_or_default(),
        TokenSource::ExistingSecret => r.names.token_secret.clone(),
    };
    if f.values_secret != expected {
        return fail(format!(
            "{dir}/values.yaml: runners.secret `{}` is not the token Secret `{expected}`",
            f.values_secret
        ));
    }
    if !f.values_config_is_config {
        return fail(format!(
            "{dir}: values.yaml's runners.config differs from config.toml"
        ));
    }
    // The chart passes runners.config through `tpl`: a literal `{{` would be evaluated.
    if f.values_config_has_template {
        return fail(format!(
            "{dir}: config.toml contains `{{{{`, which the chart's tpl would evaluate"
        ));
    }
    Ok(())
}
