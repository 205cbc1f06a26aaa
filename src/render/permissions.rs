//! `<env>/PERMISSIONS.md`: per runner, who can trigger it, what its jobs can do in Azure,
//! Microsoft Graph and Kubernetes, what its manager can do, and its lint findings with their
//! acknowledgements. Markdown has no typed model, so it is a minijinja template
//! (`templates/permissions.md.j2`) over facts taken from the model, the same RBAC rules the
//! Kubernetes renderer writes, and the fleet's lint report. `runnergen explain` prints one
//! runner's section.

use super::{EnvCx, RenderError, header};
use crate::layout;
use crate::model::{Runner, TokenSource};
use crate::spec::{KubernetesAccess, RunnerType};
use crate::tree::Tree;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Serialize;

const TEMPLATE: &str = include_str!("templates/permissions.md.j2");

/// The report's head; each runner's section is the template's macro `section` over a
/// [`RunnerCtx`].
#[derive(Serialize)]
struct Context<'a> {
    header: String,
    env: &'a str,
}

#[derive(Serialize)]
struct RoleCtx {
    role: String,
    scope: String,
    note: Option<&'static str>,
}

#[derive(Serialize)]
struct FindingCtx<'a> {
    rule: &'a str,
    level: &'static str,
    message: &'a str,
    acknowledged: Option<&'a str>,
}

#[derive(Serialize)]
struct RunnerCtx<'a> {
    key: &'a str,
    runner_type: &'static str,
    path: &'a str,
    locked: bool,
    protected: bool,
    tags: &'a [String],
    run_untagged: bool,
    /// The runner's managed identity; none without `identity`.
    identity: Option<&'a str>,
    ready: bool,
    roles: Vec<RoleCtx>,
    graph: Vec<&'a str>,
    namespace: &'a str,
    job_namespace: &'a str,
    job_service_account: &'a str,
    manager_service_account: &'a str,
    shared: bool,
    privileged: bool,
    pod_security: &'static str,
    kubernetes: &'static str,
    job_binding: &'a str,
    job_rules: &'a [String],
    manager_rules: &'a [String],
    token_secret: &'a str,
    token_from: Option<String>,
    /// The rendered Key Vault store's identity.
    store_identity: Option<&'a str>,
    /// The manager's cache identity and its roles.
    cache_identity: Option<&'a str>,
    cache_ready: bool,
    cache_roles: Vec<RoleCtx>,
    findings: Vec<FindingCtx<'a>>,
}

/// One RBAC rule as a line: `pods, services (core): create, delete, get`.
fn rule_line(r: &PolicyRule) -> String {
    let group = match r.api_groups.as_deref().and_then(<[String]>::first) {
        Some(g) if !g.is_empty() => g.as_str(),
        _ => "core",
    };
    let resources = r.resources.as_deref().unwrap_or_default();
    format!(
        "{} ({group}): {}",
        resources
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", "),
        r.verbs.join(", ")
    )
}

/// Markdown-safe inline text: free text of the spec (an acknowledgement's reason) cannot open
/// a table cell, an HTML tag or a new paragraph.
fn md(s: String) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' => " ".to_owned(),
            '|' => "\\|".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '*' | '_' | '[' | ']' | '#' | '\\' => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect()
}

/// The RBAC rules runnergen writes, as report lines: the same for every runner.
struct Rules {
    job: Vec<String>,
    manager: Vec<String>,
}

fn runner_ctx<'a>(cx: EnvCx<'a>, r: &'a Runner, rules: &'a Rules) -> RunnerCtx<'a> {
    let n = &r.names;
    let cache_id = r.cache.as_ref().map(|c| c.account_id.as_str());
    RunnerCtx {
        key: &r.key,
        runner_type: match r.runner_type {
            RunnerType::Group => "group",
            RunnerType::Project => "project",
        },
        path: &r.path,
        locked: r.locked,
        protected: r.access_level == crate::spec::AccessLevel::RefProtected,
        tags: &r.tags,
        run_untagged: r.run_untagged,
        identity: r.has_identity.then_some(n.identity.as_str()),
        ready: r.client_id.is_some(),
        roles: r
            .roles
            .iter()
            .map(|ra| RoleCtx {
                role: ra.display_name(),
                scope: ra.scope.id(),
                note: (Some(ra.scope.id().as_str()) == cache_id
                    && ra
                        .role_name
                        .as_deref()
                        .is_some_and(|n| crate::facts::CACHE_MANAGER_ROLES.contains(&n)))
                .then_some("the blob cache's SAS, signed by the manager with this shared identity"),
            })
            .collect(),
        graph: r.graph_permissions().collect(),
        namespace: &n.namespace,
        job_namespace: &n.job_namespace,
        job_service_account: &n.job_service_account,
        manager_service_account: &n.manager_service_account,
        shared: r.shared_service_account,
        privileged: r.privileged,
        pod_security: if r.privileged {
            "privileged"
        } else {
            "baseline"
        },
        kubernetes: match r.kubernetes_access {
            KubernetesAccess::None => "none",
            KubernetesAccess::Namespace => "namespace",
            KubernetesAccess::ClusterAdmin => "cluster-admin",
        },
        job_binding: &n.job_binding,
        job_rules: &rules.job,
        manager_rules: &rules.manager,
        token_secret: &n.token_secret,
        store_identity: cx.env.store.as_ref().map(|s| s.identity.as_str()),
        cache_identity: r.cache_identity.as_ref().map(|_| n.cache_identity.as_str()),
        cache_ready: r
            .cache_identity
            .as_ref()
            .is_some_and(|c| c.client_id.is_some()),
        cache_roles: r
            .cache_identity
            .iter()
            .flat_map(|c| &c.roles)
            .map(|ra| RoleCtx {
                role: ra.display_name(),
                scope: ra.scope.id(),
                note: None,
            })
            .collect(),
        token_from: match &cx.fleet.token {
            TokenSource::ExternalSecret { store_name, .. } => Some(format!(
                "by External Secrets Operator from Key Vault secret `{}` through store `{store_name}`",
                n.key_vault_secret
            )),
            TokenSource::ExistingSecret => None,
        },
        findings: cx
            .fleet
            .lint
            .of(&cx.env.key, &r.key)
            .map(|f| FindingCtx {
                rule: f.rule,
                level: f.level().as_str(),
                message: &f.message,
                acknowledged: f.acknowledged.as_deref(),
            })
            .collect(),
    }
}

fn environment() -> Result<&'static minijinja::Environment<'static>, RenderError> {
    static ENV: std::sync::OnceLock<Result<minijinja::Environment<'static>, String>> =
        std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_filter("md", md);
        env.add_template("permissions.md", TEMPLATE)
            .map_err(|e| e.to_string())?;
        Ok(env)
    })
    .as_ref()
    .map_err(|e| RenderError::Template(e.clone()))
}

/// The report of `runners` of the environment (all of them for PERMISSIONS.md, one for
/// `runnergen explain`).
pub fn report(cx: EnvCx, runners: &[&Runner]) -> Result<String, RenderError> {
    let rules = Rules {
        job: crate::vocab::job_namespace_rules()
            .iter()
            .map(rule_line)
            .collect(),
        manager: crate::vocab::manager_rules()
            .iter()
            .map(rule_line)
            .collect(),
    };
    let ctx = Context {
        header: header(cx.source).replace("--", "-\u{2010}"),
        env: &cx.env.key,
    };
    let failed = |e: minijinja::Error| RenderError::Template(e.to_string());
    let mut report = environment()?
        .get_template("permissions.md")
        .and_then(|t| t.render_captured(minijinja::Value::from(minijinja::value::Serde(&ctx))))
        .map_err(failed)?;
    // Runner by runner, so that only one runner's context is built at a time (a 1,000-runner
    // environment's whole context was five times the size of its 2 MB report).
    let mut text = report.output().to_owned();
    for r in runners {
        let section = minijinja::Value::from(minijinja::value::Serde(runner_ctx(cx, r, &rules)));
        let rendered = report
            .with_state_mut(|state| state.call_macro("section", &[section]))
            .map_err(failed)?;
        text.push_str(&rendered);
    }
    // One blank line at most, one final newline: stable bytes whatever the template's spacing.
    Ok(single_blank_lines(&text))
}

/// `text` with each run of three or more newlines cut to two, its trailing whitespace
/// trimmed, and one final newline.
fn single_blank_lines(text: &str) -> String {
    let text = text.trim_end();
    let mut out = String::with_capacity(text.len() + 1);
    let mut newlines = 0;
    for c in text.chars() {
        newlines = if c == '\n' { newlines + 1 } else { 0 };
        if newlines <= 2 {
            out.push(c);
        }
    }
    out.push('\n');
    out
}

pub fn render(cx: EnvCx, tree: &mut Tree) -> Result<(), RenderError> {
    let runners: Vec<&Runner> = cx.env.runners.iter().collect();
    tree.insert(layout::permissions(&cx.env.key), report(cx, &runners)?)?;
    Ok(())
}

#[cfg(test)]
mod tests;
