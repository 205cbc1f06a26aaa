//! Cross-artifact invariants, checked on every render by re-reading the produced files (not the
//! model), so a renderer that drifts from another fails loudly instead of shipping a runner
//! whose pods cannot obtain an Azure token.

use super::RenderError;
use crate::facts;
use crate::layout::{self, AzureFile, RunnerFile};
use crate::model::{Fleet, TokenSource};
use crate::readback;
use crate::tree::Tree;
use rayon::prelude::*;
use serde_json::Value;

fn fail(msg: String) -> Result<(), RenderError> {
    Err(RenderError::Invariant(msg))
}

fn yaml_docs(tree: &Tree, path: &str) -> Result<Vec<Value>, RenderError> {
    let text = tree
        .get_str(path)
        .ok_or_else(|| RenderError::Invariant(format!("{path} was not rendered")))?;
    readback::yaml_values(text)
        .map_err(|e| RenderError::Invariant(format!("{path} does not parse: {e}")))
}

/// Every federated credential in an ARM template, however deeply nested: (issuer, subject).
fn federated_credentials(v: &Value, out: &mut Vec<(String, String, Vec<String>)>) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str)
                == Some(
                    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                )
                && let Some(p) = o.get("properties")
            {
                let s = |k: &str| {
                    p.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let audiences = p
                    .get("audiences")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((s("issuer"), s("subject"), audiences));
            }
            o.values().for_each(|c| federated_credentials(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| federated_credentials(c, out)),
        _ => {}
    }
}

pub fn check(fleet: &Fleet, tree: &Tree) -> Result<(), RenderError> {
    for env in &fleet.environments {
        // Every main template of the environment (one per shard of a large environment).
        let arm_path = layout::azure_file(&env.key, AzureFile::MainJson);
        let mut fics = Vec::new();
        for shard in env.shards().into_iter().filter(|_| env.has_azure()) {
            let path = layout::azure_file_in(&env.key, shard.shard, AzureFile::MainJson);
            let arm: Value = serde_json::from_str(tree.get_str(&path).unwrap_or_default())
                .map_err(|e| RenderError::Invariant(format!("{path} does not parse: {e}")))?;
            federated_credentials(&arm, &mut fics);
        }

        // The Key Vault store: every account it signs in with carries its identity's client ID
        // and is the subject of one of its credentials, with the cluster's issuer.
        if let Some(store) = &env.store
            && let Some(text) = tree.get_str(&layout::secret_store(&env.key))
        {
            let docs = crate::readback::yaml_values(text)
                .map_err(|e| RenderError::Invariant(format!("secret-store.yaml: {e}")))?;
            for sa in docs.iter().filter(|d| d["kind"] == "ServiceAccount") {
                let subject = format!(
                    "system:serviceaccount:{}:{}",
                    sa["metadata"]["namespace"].as_str().unwrap_or_default(),
                    sa["metadata"]["name"].as_str().unwrap_or_default()
                );
                let trusted = fics
                    .iter()
                    .filter(|(issuer, s, _)| *s == subject && *issuer == env.oidc_issuer_url)
                    .count();
                if trusted != 1
                    || sa["metadata"]["annotations"][facts::WI_CLIENT_ID_ANNOTATION].as_str()
                        != store.client_id.as_deref()
                {
                    return fail(format!(
                        "{}: `{subject}` lacks the store identity's client ID or its one credential",
                        layout::secret_store(&env.key)
                    ));
                }
            }
        }

        // Runner by runner, on every core; the first failure in runner order is reported.
        let results: Vec<Result<(), RenderError>> = env
            .runners
            .par_iter()
            .map(|r| runner(fleet, env, r, tree, &fics, &arm_path))
            .collect();
        results.into_iter().collect::<Result<(), RenderError>>()?;
    }
    Ok(())
}

/// The invariants of one runner's files (and its part of the environment's Azure files).
fn runner(
    fleet: &Fleet,
    env: &crate::model::Environment,
    r: &crate::model::Runner,
    tree: &Tree,
    fics: &[(String, String, Vec<String>)],
    arm_path: &str,
) -> Result<(), RenderError> {
    // The issuer is byte-identical everywhere; each runner's subject has exactly one
    // credential, and a runner without an identity none.
    let mine: Vec<_> = fics
        .iter()
        .filter(|(_, subject, _)| *subject == r.names.federated_subject)
        .collect();
    if !r.has_identity {
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
    if let Some((issuer, _, audiences)) = mine.first() {
        if *issuer != env.oidc_issuer_url {
            return fail(format!(
                "{arm_path}: issuer `{issuer}` differs from the cluster's `{}`",
                env.oidc_issuer_url
            ));
        }
        if audiences != &[facts::FIC_AUDIENCE.to_owned()] {
            return fail(format!(
                "{arm_path}: audiences of `{}` are {audiences:?}",
                r.names.federated_subject
            ));
        }
    }
    // The manager's cache identity: exactly one credential, for the manager's account.
    if r.cache_identity.is_some() {
        let cache: Vec<_> = fics
            .iter()
            .filter(|(_, subject, _)| *subject == r.names.cache_federated_subject)
            .collect();
        if cache.len() != 1 || cache[0].0 != env.oidc_issuer_url {
            return fail(format!(
                "{arm_path}: expected one federated credential for `{}` with the cluster's issuer, found {}",
                r.names.cache_federated_subject,
                cache.len()
            ));
        }
    }
    if !r.ready() {
        return Ok(());
    }
    let dir = layout::runner_dir(&env.key, &r.key);
    let path = |f| layout::runner_file(&env.key, &r.key, f);

    // config.toml names the job pods' namespace and account: the federated subject.
    let toml_path = path(RunnerFile::Config);
    let config: toml::Table = tree
        .get_str(&toml_path)
        .unwrap_or_default()
        .parse()
        .map_err(|e| RenderError::Invariant(format!("{toml_path} does not parse: {e}")))?;
    let k8s = readback::runner_kubernetes(&config).ok_or_else(|| {
        RenderError::Invariant(format!("{toml_path} has no [runners.kubernetes]"))
    })?;
    let get = |k: &str| {
        k8s.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let subject = format!(
        "system:serviceaccount:{}:{}",
        get("namespace"),
        get("service_account")
    );
    if subject != r.names.federated_subject {
        return fail(format!(
            "{toml_path}: job pods run as `{subject}` but the federated credential trusts `{}`",
            r.names.federated_subject
        ));
    }
    let label = k8s
        .get("pod_labels")
        .and_then(|l| l.get(facts::WI_USE_LABEL))
        .and_then(|v| v.as_str());
    // Job pods with an identity carry the workload-identity label; without one, not.
    if label != r.has_identity.then_some("true") {
        return fail(format!(
            "{toml_path}: the job pods' label {} is {label:?}, the runner {} an identity",
            facts::WI_USE_LABEL,
            if r.has_identity { "has" } else { "has no" }
        ));
    }

    // That account exists, in that namespace, with the client ID.
    let accounts = yaml_docs(tree, &path(RunnerFile::ServiceAccounts))?;
    let names: Vec<&str> = accounts
        .iter()
        .filter_map(|a| a["metadata"]["name"].as_str())
        .collect();
    let job = accounts
        .iter()
        .find(|a| {
            a["metadata"]["name"].as_str() == Some(&get("service_account"))
                && a["metadata"]["namespace"].as_str() == Some(&get("namespace"))
        })
        .ok_or_else(|| {
            RenderError::Invariant(format!(
                "{dir}: config.toml's service account is not rendered"
            ))
        })?;
    let carried = job["metadata"]["annotations"][facts::WI_CLIENT_ID_ANNOTATION].as_str();
    if carried != r.client_id.as_deref() {
        return fail(format!(
            "{dir}: the job service account carries client ID {carried:?}, the runner's is {:?}",
            r.client_id
        ));
    }

    // The manager's account carries the cache identity's client ID, and the manager pod
    // the workload-identity label (chart podLabels).
    if let Some(c) = &r.cache_identity {
        let manager = accounts
            .iter()
            .find(|a| a["metadata"]["name"] == r.names.manager_service_account.as_str());
        let id = manager
            .and_then(|m| m["metadata"]["annotations"][facts::WI_CLIENT_ID_ANNOTATION].as_str());
        if id != c.client_id.as_deref() {
            return fail(format!(
                "{dir}: the manager's service account does not carry the cache identity's client ID"
            ));
        }
    }

    // Helm values: the manager's account is rendered, the token Secret is the one we fill.
    let values = yaml_docs(tree, &path(RunnerFile::Values))?.remove(0);
    let sa = values["serviceAccount"]["name"]
        .as_str()
        .unwrap_or_default();
    if !names.contains(&sa) {
        return fail(format!(
            "{dir}/values.yaml: serviceAccount.name `{sa}` is not a rendered service account"
        ));
    }
    if r.cache_identity.is_some() && values["podLabels"][facts::WI_USE_LABEL] != "true" {
        return fail(format!(
            "{dir}/values.yaml: the manager pod lacks the label {}=\"true\" its cache identity needs",
            facts::WI_USE_LABEL
        ));
    }
    let secret = values["runners"]["secret"].as_str().unwrap_or_default();
    let expected = match &fleet.token {
        TokenSource::ExternalSecret { .. } => {
            let es = yaml_docs(tree, &path(RunnerFile::ExternalSecret))?.remove(0);
            es["spec"]["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
        TokenSource::ExistingSecret => r.names.token_secret.clone(),
    };
    if secret != expected {
        return fail(format!(
            "{dir}/values.yaml: runners.secret `{secret}` is not the token Secret `{expected}`"
        ));
    }
    if values["runners"]["config"].as_str() != tree.get_str(&toml_path) {
        return fail(format!(
            "{dir}: values.yaml's runners.config differs from config.toml"
        ));
    }
    // The chart passes runners.config through `tpl`: a literal `{{` would be evaluated.
    if values["runners"]["config"]
        .as_str()
        .unwrap_or_default()
        .contains("{{")
    {
        return fail(format!(
            "{dir}: config.toml contains `{{{{`, which the chart's tpl would evaluate"
        ));
    }
    Ok(())
}
