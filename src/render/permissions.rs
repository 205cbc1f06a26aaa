//! `<env>/PERMISSIONS.md`: per runner, who can trigger it, what its jobs can do in Azure,
//! Microsoft Graph and Kubernetes, what its manager can do, and its lint findings with their
//! acknowledgements. Markdown has no typed model, so it is a minijinja template
//! (`templates/permissions.md.j2`) over a runner's [`Access`] (the model's, `Access::planned`)
//! and the fleet's lint report; it derives no fact of its own, so the report can be rebuilt
//! from the `Access` read back from a committed tree (a test does, on every golden tree).
//! `runnergen explain` prints one runner's section.

use super::{EnvCx, RenderError, Rendered, header};
use crate::access::{Access, kubernetes_access_name};
use crate::layout;
use crate::lint::Finding;
use crate::model::Runner;
use crate::overlap::Overlap;
use crate::spec::RunnerType;
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
struct RoleCtx<'a> {
    role: &'a str,
    scope: &'a str,
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
    roles: Vec<RoleCtx<'a>>,
    graph: Vec<&'a str>,
    namespace: &'a str,
    job_namespace: &'a str,
    job_service_account: &'a str,
    manager_service_account: &'a str,
    shared: bool,
    privileged: bool,
    pod_security: String,
    kubernetes: &'static str,
    job_binding: Option<&'a str>,
    job_rules: Vec<String>,
    manager_rules: Vec<String>,
    token_secret: &'a str,
    token_from: Option<String>,
    /// The rendered Key Vault store's identity.
    store_identity: Option<&'a str>,
    /// The manager's cache identity and its roles.
    cache_identity: Option<&'a str>,
    cache_ready: bool,
    cache_roles: Vec<RoleCtx<'a>>,
    /// `kubernetes.extra` settings as `key = value`, and where the pods are scheduled.
    pod_settings: Vec<String>,
    placement: Vec<String>,
    /// The job pods' Role lets a job exec into other pods of its namespace: those of the
    /// runner's concurrent jobs.
    exec_neighbours: bool,
    /// Who can do what, as a Mermaid flowchart (GitLab renders it in Markdown).
    flowchart: String,
    /// The runners its jobs can land on, and those whose jobs can land on it (`overlap`).
    onto: Vec<String>,
    from: Vec<String>,
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

/// Free text inside a Markdown code span: nothing in it is escaped (a backslash would show), so
/// a backtick, which would end the span, becomes a quote, and a line break a space.
fn code(s: String) -> String {
    s.chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// One runner's section of the report: what it may do and its lint findings.
pub struct Section<'a> {
    pub key: &'a str,
    /// The model's (`Access::planned`), or one read back from a committed tree.
    pub access: Access,
    pub findings: Vec<&'a Finding>,
    /// The runners a job written for it can run on, and those whose jobs can run on it.
    pub onto: &'a [Overlap],
    pub from: &'a [Overlap],
}

impl<'a> Section<'a> {
    /// Runner `r`'s section, from the model.
    pub fn of(cx: EnvCx<'a>, r: &'a Runner) -> Section<'a> {
        Section {
            key: &r.key,
            access: Access::planned(cx.fleet, cx.env, r),
            findings: cx.fleet.lint.of(&cx.env.key, &r.key).collect(),
            onto: cx.fleet.overlaps.onto(&cx.env.key, &r.key),
            from: cx.fleet.overlaps.from(&cx.env.key, &r.key),
        }
    }
}

/// Another runner that shares a runner's reach, as the report names it.
fn overlap_line(o: &Overlap) -> String {
    let how = match (o.by_tags, o.untagged) {
        (true, _) => "by tags",
        _ => "untagged",
    };
    let access = if o.same_access {
        "same access"
    } else if o.one_protected {
        "other access; only one of the two takes jobs of unprotected branches"
    } else {
        "other access: L011"
    };
    format!("runner `{}` of `{}` ({how}, {access})", o.runner, o.env)
}

/// A fact the report shows that `s.access` does not hold: its Kubernetes side is read back
/// from files that a runner not yet ready does not have.
fn missing(s: &Section, what: &str) -> RenderError {
    RenderError::Invariant(format!("runner `{}`: no {what} to report", s.key))
}

fn role_ctx<'a>(a: &Access, roles: &'a [(String, String)], cache_note: bool) -> Vec<RoleCtx<'a>> {
    roles
        .iter()
        .map(|(role, scope)| RoleCtx {
            role,
            scope,
            note: (cache_note && a.signs_cache_sas(role, scope))
                .then_some("the blob cache's SAS, signed by the manager with this shared identity"),
        })
        .collect()
}

/// The job pods' `kubernetes.extra` settings, as `key = value`.
fn pod_settings(a: &Access) -> Vec<String> {
    a.pods
        .iter()
        .flat_map(|p| &p.extra)
        .map(|(k, v)| format!("{k} = {v}"))
        .collect()
}

/// Where the job pods are scheduled: node labels, then tolerated taints.
fn placement(a: &Access) -> Vec<String> {
    a.pods
        .iter()
        .flat_map(|p| {
            let selector = p
                .node_selector
                .iter()
                .map(|(k, v)| format!("node label {k}={v}"));
            let tolerations = p
                .tolerations
                .iter()
                .map(|(k, e)| format!("tolerates {k}:{e}"));
            selector.chain(tolerations)
        })
        .collect()
}

/// What a runner's finding shows.
fn finding_ctx<'a>(f: &'a Finding) -> FindingCtx<'a> {
    FindingCtx {
        rule: f.rule.as_str(),
        level: f.level().as_str(),
        message: &f.message,
        acknowledged: f.acknowledged.as_deref(),
    }
}

fn runner_ctx<'a>(s: &'a Section<'a>) -> Result<RunnerCtx<'a>, RenderError> {
    let a = &s.access;
    let trigger = a
        .trigger
        .as_ref()
        .ok_or_else(|| missing(s, "registration"))?;
    let w = a.workload.as_ref().ok_or_else(|| missing(s, "workload"))?;
    let privileged = a.privileged.ok_or_else(|| missing(s, "privilege"))?;
    let kubernetes = a
        .kubernetes
        .ok_or_else(|| missing(s, "Kubernetes access"))?;
    Ok(RunnerCtx {
        key: s.key,
        runner_type: match trigger.runner_type {
            RunnerType::Group => "group",
            RunnerType::Project => "project",
        },
        path: &trigger.path,
        locked: trigger.locked,
        protected: a.protected.unwrap_or(false),
        tags: &trigger.tags,
        run_untagged: a.run_untagged.unwrap_or(false),
        identity: a.identity.as_ref().map(|i| i.name.as_str()),
        ready: a.identity.as_ref().is_some_and(|i| i.client_id.is_some()),
        roles: role_ctx(a, &a.roles, true),
        graph: a.graph.iter().map(String::as_str).collect(),
        namespace: &w.namespace,
        job_namespace: &w.job_namespace,
        job_service_account: &w.job_service_account,
        manager_service_account: &w.manager_service_account,
        shared: w.shared_service_account,
        privileged,
        pod_security: a
            .pod_security
            .clone()
            .ok_or_else(|| missing(s, "Pod Security level"))?,
        kubernetes: kubernetes_access_name(kubernetes),
        job_binding: w.job_binding.as_deref(),
        job_rules: w.job_rules.iter().map(rule_line).collect(),
        manager_rules: w.manager_rules.iter().map(rule_line).collect(),
        token_secret: &w.token_secret,
        store_identity: a.store_identity.as_deref(),
        cache_identity: a.manager_identity.as_ref().map(|i| i.name.as_str()),
        cache_ready: a
            .manager_identity
            .as_ref()
            .is_some_and(|i| i.client_id.is_some()),
        cache_roles: role_ctx(a, &a.manager_roles, false),
        pod_settings: pod_settings(a),
        placement: placement(a),
        exec_neighbours: w.job_rules.iter().any(|r| {
            r.resources
                .as_deref()
                .is_some_and(|res| res.iter().any(|x| x == "pods/exec"))
        }),
        token_from: w.token_store.as_ref().map(|t| {
            format!(
                "by External Secrets Operator from Key Vault secret `{}` through store `{}`",
                t.key_vault_secret, t.store
            )
        }),
        findings: s.findings.iter().map(|f| finding_ctx(f)).collect(),
        flowchart: crate::flowchart::runner(s.key, a),
        onto: s.onto.iter().map(overlap_line).collect(),
        from: s.from.iter().map(overlap_line).collect(),
    })
}

fn environment() -> Result<&'static minijinja::Environment<'static>, RenderError> {
    static ENV: std::sync::OnceLock<Result<minijinja::Environment<'static>, String>> =
        std::sync::OnceLock::new();
    super::templates(&ENV, |env| {
        env.add_filter("md", md);
        env.add_filter("code", code);
        env.add_template("permissions.md", TEMPLATE)
            .map_err(|e| e.to_string())
    })
}

/// The report of `runners` of the environment, from the model (all of them for
/// PERMISSIONS.md, one for `runnergen explain`).
pub fn report(cx: EnvCx, runners: &[&Runner]) -> Result<String, RenderError> {
    report_of(
        cx.source,
        &cx.env.key,
        runners.iter().map(|r| Section::of(cx, r)),
    )
}

/// The report of environment `env` with `sections` in order, under the header of spec
/// `source`.
pub fn report_of<'a>(
    source: &str,
    env: &str,
    sections: impl IntoIterator<Item = Section<'a>>,
) -> Result<String, RenderError> {
    let ctx = Context {
        header: header(source).replace("--", "-\u{2010}"),
        env,
    };
    let failed = |e: minijinja::Error| RenderError::Template(e.to_string());
    let mut report = environment()?
        .get_template("permissions.md")
        .and_then(|t| t.render_captured(minijinja::Value::from(minijinja::value::Serde(&ctx))))
        .map_err(failed)?;
    // Section by section, so that only one runner's context is built at a time: a large
    // environment's report is never one context.
    let mut text = report.output().to_owned();
    for s in sections {
        let section = minijinja::Value::from(minijinja::value::Serde(runner_ctx(&s)?));
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

/// The environment's PERMISSIONS.md.
pub fn render(cx: EnvCx) -> Result<Rendered, RenderError> {
    let runners: Vec<&Runner> = cx.env.runners.iter().collect();
    let mut files = Tree::new();
    files.insert(layout::permissions(&cx.env.key), report(cx, &runners)?)?;
    Ok(Rendered::files(files))
}

#[cfg(test)]
mod tests;
