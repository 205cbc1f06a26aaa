//! `runnergen import`: a fleet built with the Terraform article's code, read from its state,
//! written as a spec, the identities' outputs file per environment (so client IDs come from
//! it, as after a stack deployment) and the `terraform state rm` addresses of what runnergen
//! now manages. A front end of its own: it writes a spec and never calls into the model or the
//! renderers; `validate` and `render` read what it wrote like any spec.
//!
//! Input: `terraform show -json` (<https://developer.hashicorp.com/terraform/internals/json-format>,
//! "State Representation": `values.root_module.resources[]`, `child_modules[]`) or `terraform
//! state pull` (state format version 4: `resources[]` with `instances[]`; Terraform
//! `internal/states/statefile/version4.go`), told apart by their top-level keys.
//!
//! Nothing sensitive is read: `state` drops every attribute `sensitive_values` or
//! `sensitive_attributes` marks, and tokens and Secret data whatever they are marked, before
//! anything else sees the resources. What cannot be mapped is listed (by address and key,
//! never by value), never guessed.

mod azure;
mod collect;
mod helm;
mod leftover;
pub mod out;
mod runner;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};

/// What the command line gives.
pub struct Options<'a> {
    /// The organisation (`<org>-<envLong>-msi-gitlab-<key>-cred`), when the credential names
    /// cannot tell it (an organisation with a `-`).
    pub organization: Option<&'a str>,
    /// The state file's name, for the spec's header.
    pub source: &'a str,
}

/// What import writes: the spec, one outputs file per environment (by environment key), the
/// addresses to remove from the state, and what it could not map.
pub struct Imported {
    pub spec: String,
    pub outputs: BTreeMap<String, String>,
    pub state_rm: Vec<String>,
    /// The resource IDs of the role assignments among them: Terraform named them at random,
    /// the stack names them `guid(scope, principal, role)`, and Azure refuses the second
    /// (`RoleAssignmentExists`), so they are deleted before the first stack deployment.
    pub role_assignment_ids: Vec<String>,
    /// `kubectl delete` commands for the article's RBAC objects runnergen names otherwise,
    /// which `terraform state rm` leaves in the cluster (`leftover`).
    pub leftovers: Vec<String>,
    pub unmapped: Vec<String>,
}

/// The outputs file's name for environment `env`, beside the spec.
pub fn outputs_file(env: &str) -> String {
    format!("{env}.identity-outputs.json")
}

/// Imports a state's text; an error when it is no state or holds no runner identity.
pub fn import(text: &str, opts: &Options) -> Result<Imported, String> {
    let resources = state::read(text)?;
    let c = collect::collect(&resources);
    if c.runners.values().all(|f| f.identity.is_none()) {
        return Err("the state holds no `azurerm_user_assigned_identity` with a runner key: nothing to import".into());
    }
    let mut unmapped = c.unmapped.clone();
    let aliases = azure::Aliases::of(&c);
    let mut spec = out::Spec {
        version: 1,
        ..out::Spec::default()
    };
    let mut outputs: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    let (mut urls, mut orgs, mut charts) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    for (key, f) in &c.runners {
        let Some(m) = runner::map(key, f, &c, &aliases, opts.organization, &mut unmapped) else {
            skipped.insert(format!("module.runners[\"{key}\"]"));
            skipped.extend(f.identity.map(|i| i.address.clone()));
            continue;
        };
        urls.extend(m.gitlab_url.clone());
        orgs.extend(m.organization.clone());
        charts.extend(m.chart_version.clone());
        environment(&mut spec, &m, &aliases, &mut unmapped);
        let symbol = key.replace('-', "_");
        let o = outputs.entry(m.env.key.clone()).or_default();
        for (suffix, value) in [("ClientId", &m.client_id), ("PrincipalId", &m.principal_id)] {
            o.insert(
                format!("{symbol}{suffix}"),
                serde_json::json!({"type": "String", "value": value}),
            );
        }
        spec.runners.insert(key.clone(), m.runner);
    }
    spec.organization = one("organization", orgs, &mut unmapped);
    spec.gitlab.url = one("GitLab URL (chart value `gitlabUrl`)", urls, &mut unmapped);
    spec.chart = charts.len().eq(&1).then(|| out::Chart {
        version: charts.iter().next().cloned().unwrap_or_default(),
    });
    if charts.len() > 1 {
        unmapped.push(format!(
            "chart versions differ between runners ({}); the spec has one",
            charts.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let state_rm: Vec<String> = c
        .mapped
        .iter()
        .filter(|r| r.managed)
        .map(|r| r.address.clone())
        .filter(|a| {
            !skipped.iter().any(|s| a.starts_with(s.as_str()))
                && !unmapped.iter().any(|u| u.contains(a.as_str()))
        })
        .collect();
    let role_assignment_ids = c
        .mapped
        .iter()
        .filter(|r| r.kind == "azurerm_role_assignment" && state_rm.contains(&r.address))
        .filter_map(|r| r.str("id").map(str::to_owned))
        .collect();
    let leftovers = leftover::commands(&c, &state_rm);
    Ok(Imported {
        role_assignment_ids,
        leftovers,
        spec: out::text(&spec, opts.source, &unmapped)?,
        outputs: outputs
            .into_iter()
            .map(|(e, o)| {
                let text = serde_json::to_string_pretty(&o).expect("JSON values serialize");
                (e, text + "\n")
            })
            .collect(),
        state_rm,
        unmapped,
    })
}

/// The one value every runner gives; the first, with the rest listed, when they differ.
fn one(what: &str, values: BTreeSet<String>, unmapped: &mut Vec<String>) -> String {
    if values.len() > 1 {
        let all: Vec<String> = values.iter().cloned().collect();
        unmapped.push(format!(
            "{what} differs between runners: {}",
            all.join(", ")
        ));
    }
    if values.is_empty() {
        unmapped.push(format!("no {what} in the state"));
    }
    values.into_iter().next().unwrap_or_default()
}

/// The runner's environment, added or compared with what other runners said.
fn environment(
    spec: &mut out::Spec,
    m: &runner::Mapped,
    aliases: &azure::Aliases,
    unmapped: &mut Vec<String>,
) {
    let mut env = m.env.env.clone();
    let alias = aliases
        .alias(&m.env.identity_subscription)
        .unwrap_or_default()
        .to_owned();
    env.identities.subscription = alias.clone();
    env.identity_outputs = outputs_file(&m.env.key);
    let mut subs = vec![(alias, m.env.identity_subscription.clone())];
    let scopes = m.runner.identity.iter().flat_map(|i| &i.roles);
    for r in scopes {
        // A resource's own ID names its subscription; only aliases the spec uses are listed.
        if let Some(a) = &r.scope.subscription {
            subs.push((a.clone(), aliases.id(a).unwrap_or_default()));
        }
    }
    let entry = spec
        .environments
        .entry(m.env.key.clone())
        .or_insert_with(|| env.clone());
    let mut theirs = entry.clone();
    theirs.subscriptions.clear();
    if theirs != env {
        unmapped.push(format!(
            "runner `{}`: its identity's location, tenant, resource group, issuer or long name differ from another runner's in environment `{}`",
            m.key,
            m.env.key
        ));
    }
    entry.subscriptions.extend(subs);
}
