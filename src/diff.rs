//! Comparing what a spec renders with what a directory holds (`runnergen diff`), or two
//! environments of one spec with each other (the promotion preview).
//!
//! Changes are semantic: YAML, JSON and TOML documents are compared per resource and per key
//! path, insensitive to key order and formatting, with a unified text diff for context.
//! Security-relevant changes (new or widened Azure roles, Graph permissions, Kubernetes access,
//! privileged pods, untagged jobs, protection, token source) are ranked and listed first.
//!
//! Cost: files are compared byte for byte first; only files that differ are parsed, so a
//! no-change diff costs one read of the directory plus the in-memory render.

use crate::model::{Environment, Fleet, Runner};
use crate::spec::KubernetesAccess;
use crate::spec::secrets::looks_like_secret;
use crate::tree::Tree;
use crate::write;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Added,
    Removed,
    Changed,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceChange {
    /// `Kind/namespace/name` for Kubernetes objects, the document's role otherwise.
    pub resource: String,
    pub status: Status,
    pub fields: Vec<FieldChange>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub environment: Option<String>,
    /// The runner folder, `azure` for the Azure files, none for environment-level files.
    pub group: Option<String>,
    pub status: Status,
    pub resources: Vec<ResourceChange>,
    /// Unified diff, secrets masked.
    pub diff: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecurityChange {
    /// Sorts widening changes first.
    #[serde(skip)]
    pub order: u8,
    pub environment: String,
    pub runner: String,
    pub kind: &'static str,
    pub message: String,
    pub widens: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunnerChange {
    pub runner: String,
    /// `changed`, or `added`/`removed`: present only in the target / only in the source environment.
    pub status: Status,
    pub fields: Vec<FieldChange>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub from: String,
    pub to: String,
    pub security: Vec<SecurityChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runners: Vec<RunnerChange>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.security.is_empty() && self.files.is_empty() && self.runners.is_empty()
    }
    pub fn widens(&self) -> bool {
        self.security.iter().any(|s| s.widens)
    }
}

// ---- masking ---------------------------------------------------------------------------------

/// Replaces anything that looks like a secret.
pub fn mask(v: &Value) -> Value {
    match v {
        Value::String(s) if looks_like_secret(s).is_some() => Value::String("***masked***".into()),
        Value::Array(a) => Value::Array(a.iter().map(mask).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), mask(v))).collect()),
        other => other.clone(),
    }
}

fn mask_line(line: &str) -> String {
    if looks_like_secret(line).is_some() {
        let lead: String = line
            .chars()
            .take_while(|c| matches!(c, '+' | '-' | ' '))
            .collect();
        format!("{lead}***masked***")
    } else {
        line.to_owned()
    }
}

// ---- semantic comparison ---------------------------------------------------------------------

fn key_segment(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!(".{k}")
    } else {
        format!("[{}]", serde_json::to_string(k).unwrap_or_default())
    }
}

/// Flattens a document to leaf paths. Lists of objects that all carry a distinct `name` are
/// keyed by it, so inserting an element does not shift every later index.
pub fn flatten(v: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, c) in o {
                flatten(c, &format!("{prefix}{}", key_segment(k)), out);
            }
        }
        Value::Array(a)
            if !a.is_empty() && a.iter().all(Value::is_string) && {
                let set: BTreeSet<&str> = a.iter().filter_map(Value::as_str).collect();
                set.len() == a.len()
            } =>
        {
            // A list of distinct strings (tags, file lists) compares as a set: one entry per member.
            for s in a.iter().filter_map(Value::as_str) {
                out.insert(
                    format!("{prefix}[{}]", serde_json::to_string(s).unwrap_or_default()),
                    Value::Bool(true),
                );
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let names: Vec<Option<&str>> = a
                .iter()
                .map(|e| e.get("name").and_then(Value::as_str))
                .collect();
            let distinct: BTreeSet<&str> = names.iter().flatten().copied().collect();
            let keyed = names.iter().all(Option::is_some) && distinct.len() == a.len();
            for (i, c) in a.iter().enumerate() {
                let seg = match (keyed, names[i]) {
                    (true, Some(n)) => format!("[name={n}]"),
                    _ => format!("[{i}]"),
                };
                flatten(c, &format!("{prefix}{seg}"), out);
            }
        }
        leaf => {
            out.insert(
                if prefix.is_empty() {
                    ".".into()
                } else {
                    prefix.to_owned()
                },
                leaf.clone(),
            );
        }
    }
}

pub fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(old, "", &mut a);
    flatten(new, "", &mut b);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange {
            path: k.clone(),
            old: a.get(k).map(mask),
            new: b.get(k).map(mask),
        })
        .collect()
}

/// The documents of a file, each with an identity, as JSON.
fn documents(path: &str, bytes: &[u8]) -> Option<Vec<(String, Value)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let file = path.rsplit('/').next().unwrap_or(path);
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        let mut docs = Vec::new();
        for (i, doc) in crate::render::yaml_documents(text).enumerate() {
            let v: Value = serde_saphyr::from_str(doc).ok()?;
            if v.is_null() {
                continue;
            }
            let kind = v.get("kind").and_then(Value::as_str);
            let meta = v.get("metadata");
            let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
            let ns = meta
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str);
            let id = match (kind, ns, name) {
                (Some(k), Some(ns), Some(n)) => format!("{k}/{ns}/{n}"),
                (Some(k), None, Some(n)) => format!("{k}/{n}"),
                (Some(k), _, None) => k.to_owned(),
                _ => format!("{file}#{i}"),
            };
            docs.push((id, v));
        }
        Some(docs)
    } else if path.ends_with(".json") {
        Some(vec![(file.to_owned(), serde_json::from_str(text).ok()?)])
    } else if path.ends_with(".toml") {
        let t: toml::Table = text.parse().ok()?;
        Some(vec![(file.to_owned(), serde_json::to_value(t).ok()?)])
    } else {
        None
    }
}

fn resource_changes(path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> Vec<ResourceChange> {
    let parse = |b: Option<&[u8]>| b.map(|b| documents(path, b));
    let (a, b) = match (parse(old), parse(new)) {
        (Some(None), _) | (_, Some(None)) => return Vec::new(),
        (a, b) => (
            a.flatten().unwrap_or_default(),
            b.flatten().unwrap_or_default(),
        ),
    };
    let a: BTreeMap<String, Value> = a.into_iter().collect();
    let b: BTreeMap<String, Value> = b.into_iter().collect();
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for id in ids {
        match (a.get(id), b.get(id)) {
            (Some(x), Some(y)) if x != y => out.push(ResourceChange {
                resource: id.clone(),
                status: Status::Changed,
                fields: field_changes(x, y),
            }),
            (None, Some(_)) => out.push(ResourceChange {
                resource: id.clone(),
                status: Status::Added,
                fields: Vec::new(),
            }),
            (Some(_), None) => out.push(ResourceChange {
                resource: id.clone(),
                status: Status::Removed,
                fields: Vec::new(),
            }),
            _ => {}
        }
    }
    out
}

fn text_diff(old: &[u8], new: &[u8]) -> String {
    let a = String::from_utf8_lossy(old);
    let b = String::from_utf8_lossy(new);
    let diff = similar::TextDiff::from_lines(a.as_ref(), b.as_ref());
    let text = diff.unified_diff().context_radius(3).to_string();
    text.lines().map(mask_line).collect::<Vec<_>>().join("\n")
        + if text.is_empty() { "" } else { "\n" }
}

fn groups(path: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.len() {
        0 | 1 => (None, None),
        2 => (Some(parts[0].to_owned()), None),
        _ => (Some(parts[0].to_owned()), Some(parts[1].to_owned())),
    }
}

// ---- security facts --------------------------------------------------------------------------

/// What a runner may do, as far as review is concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// (role display name, scope)
    pub roles: BTreeSet<(String, String)>,
    pub graph: BTreeSet<String>,
    pub kubernetes: Option<KubernetesAccess>,
    pub privileged: Option<bool>,
    pub run_untagged: Option<bool>,
    pub protected: Option<bool>,
    pub token_source: Option<String>,
}

/// Rank of a role's power, for "widened" (Owner > access administrators > Contributor >
/// data-plane roles > Reader). Unknown roles (custom GUIDs) rank as Contributor.
pub fn role_rank(role: &str) -> u8 {
    match role {
        "Owner" => 5,
        "User Access Administrator" | "Role Based Access Control Administrator" => 4,
        "Contributor" => 3,
        "Reader" | "AcrPull" => 1,
        r if crate::facts::role_id(r).is_some() => 2,
        _ => 3,
    }
}

/// True when scope `wide` contains scope `narrow` (ARM IDs are case-insensitive).
fn contains_scope(wide: &str, narrow: &str) -> bool {
    let (w, n) = (wide.to_lowercase(), narrow.to_lowercase());
    n.starts_with(&w) && (n.len() == w.len() || n.as_bytes()[w.len()] == b'/')
}

fn scope_kind(scope: &str) -> &'static str {
    match scope.matches('/').count() {
        0..=2 => "subscription",
        3..=4 => "resource group",
        _ => "resource",
    }
}

pub fn security_changes(
    env: &str,
    runner: &str,
    old: &Access,
    new: &Access,
) -> Vec<SecurityChange> {
    let mut out = Vec::new();
    let mut push = |kind: &'static str, message: String, widens: bool| {
        out.push(SecurityChange {
            order: u8::from(!widens),
            environment: env.to_owned(),
            runner: runner.to_owned(),
            kind,
            message,
            widens,
        })
    };
    let mut replaced = BTreeSet::new();
    for (role, scope) in new.roles.difference(&old.roles) {
        let was = old.roles.difference(&new.roles).find(|(r, s)| {
            (contains_scope(scope, s) && role_rank(role) >= role_rank(r))
                || (s == scope && role_rank(role) > role_rank(r))
        });
        // Covered by a role at least as strong on a scope at least as wide: a narrowing.
        let covered = old
            .roles
            .difference(&new.roles)
            .find(|(r, s)| contains_scope(s, scope) && role_rank(r) >= role_rank(role));
        if let Some((r, s)) = covered {
            replaced.insert((r.clone(), s.clone()));
            push(
                "role-narrowed",
                format!("role narrowed from {r} on {s} to {role} on {scope}"),
                false,
            );
            continue;
        }
        match was {
            Some((r, s)) => {
                replaced.insert((r.clone(), s.clone()));
                push(
                    "role-widened",
                    format!(
                        "role widened from {r} on {s} to {role} on {scope} ({})",
                        scope_kind(scope)
                    ),
                    true,
                )
            }
            None => push(
                "role-added",
                format!(
                    "new role assignment: {role} on {scope} ({})",
                    scope_kind(scope)
                ),
                true,
            ),
        }
    }
    for (role, scope) in old
        .roles
        .difference(&new.roles)
        .filter(|r| !replaced.contains(*r))
    {
        push(
            "role-removed",
            format!("role assignment removed: {role} on {scope}"),
            false,
        );
    }
    for p in new.graph.difference(&old.graph) {
        push(
            "graph-permission-added",
            format!("new Microsoft Graph permission {p}"),
            true,
        );
    }
    for p in old.graph.difference(&new.graph) {
        push(
            "graph-permission-removed",
            format!("Microsoft Graph permission {p} removed"),
            false,
        );
    }
    let k = |a: Option<KubernetesAccess>| a.unwrap_or_default();
    if new.kubernetes.is_some() && k(new.kubernetes) != k(old.kubernetes) {
        let widens = k(new.kubernetes) > k(old.kubernetes);
        let name = |a: KubernetesAccess| match a {
            KubernetesAccess::None => "none",
            KubernetesAccess::Namespace => "namespace",
            KubernetesAccess::ClusterAdmin => "cluster-admin",
        };
        let kind = if k(new.kubernetes) == KubernetesAccess::ClusterAdmin {
            "cluster-admin-added"
        } else {
            "kubernetes-access-changed"
        };
        push(
            kind,
            format!(
                "job pods' Kubernetes access {} → {}",
                name(k(old.kubernetes)),
                name(k(new.kubernetes))
            ),
            widens,
        );
    }
    if new.privileged == Some(true) && old.privileged != Some(true) {
        push(
            "privileged-on",
            "job pods become privileged (Docker-in-Docker)".into(),
            true,
        );
    }
    if new.privileged == Some(false) && old.privileged == Some(true) {
        push(
            "privileged-off",
            "job pods are no longer privileged".into(),
            false,
        );
    }
    if new.run_untagged == Some(true) && old.run_untagged != Some(true) {
        push(
            "run-untagged-on",
            "runner picks up untagged jobs".into(),
            true,
        );
    }
    if new.protected == Some(false) && old.protected == Some(true) {
        push(
            "protection-off",
            "runner no longer limited to protected branches and tags".into(),
            true,
        );
    }
    if old.token_source.is_some()
        && new.token_source.is_some()
        && old.token_source != new.token_source
    {
        push(
            "token-source-changed",
            format!(
                "token source {} → {}",
                old.token_source.as_deref().unwrap_or("-"),
                new.token_source.as_deref().unwrap_or("-")
            ),
            false,
        );
    }
    out
}

fn yaml_docs(bytes: Option<&[u8]>) -> Vec<Value> {
    let Some(text) = bytes.and_then(|b| std::str::from_utf8(b).ok()) else {
        return Vec::new();
    };
    crate::render::yaml_documents(text)
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .collect()
}

/// The access of every runner of a rendered tree, read from its files.
pub fn access_from_files(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<(String, String), Access> {
    let mut out: BTreeMap<(String, String), Access> = BTreeMap::new();
    for (path, bytes) in files {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() == 3 && parts[1] == "azure" && parts[2] == "main.json" {
            let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
                continue;
            };
            let Some(runners) = v
                .pointer("/metadata/runnergen/runners")
                .and_then(Value::as_object)
            else {
                continue;
            };
            for (runner, facts) in runners {
                let a = out
                    .entry((parts[0].to_owned(), runner.clone()))
                    .or_default();
                for r in facts
                    .get("roles")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let s = |k: &str| {
                        r.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    a.roles.insert((s("role"), s("scope")));
                }
                for p in facts
                    .get("graphPermissions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    a.graph.insert(p.as_str().unwrap_or_default().to_owned());
                }
            }
        }
        if parts.len() != 3 || parts[1] == "azure" {
            continue;
        }
        let key = (parts[0].to_owned(), parts[1].to_owned());
        match parts[2] {
            "rbac.yaml" => {
                let docs = yaml_docs(Some(bytes));
                let access = if docs.iter().any(|d| {
                    d["kind"] == "ClusterRoleBinding" && d["roleRef"]["name"] == "cluster-admin"
                }) {
                    KubernetesAccess::ClusterAdmin
                } else if docs
                    .iter()
                    .any(|d| d["kind"] == "RoleBinding" && d["roleRef"]["kind"] == "ClusterRole")
                {
                    KubernetesAccess::Namespace
                } else {
                    KubernetesAccess::None
                };
                out.entry(key).or_default().kubernetes = Some(access);
            }
            "config.toml" => {
                let t: Option<toml::Table> =
                    std::str::from_utf8(bytes).ok().and_then(|t| t.parse().ok());
                let privileged = t.as_ref().and_then(|t| {
                    t.get("runners")?
                        .as_array()?
                        .first()?
                        .get("kubernetes")?
                        .get("privileged")?
                        .as_bool()
                });
                out.entry(key).or_default().privileged = Some(privileged.unwrap_or(false));
            }
            "registration.json" => {
                let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
                    continue;
                };
                let a = out.entry(key).or_default();
                a.run_untagged = v["run_untagged"].as_bool();
                a.protected = v["access_level"].as_str().map(|l| l == "ref_protected");
                a.token_source = Some(match v.get("token_destination") {
                    Some(d) if d.get("key_vault").is_some() => {
                        format!(
                            "Key Vault {}/{}",
                            d["key_vault"].as_str().unwrap_or("?"),
                            d["secret"].as_str().unwrap_or("?")
                        )
                    }
                    Some(d) => format!(
                        "existing Secret {}",
                        d["kubernetes_secret"]["name"].as_str().unwrap_or("?")
                    ),
                    None => "unknown".into(),
                });
            }
            _ => {}
        }
    }
    out
}

// ---- tree mode ---------------------------------------------------------------------------------

/// Compares a rendered tree (manifest included) with a directory.
pub fn diff_tree(tree: &Tree, dir: &Path) -> Report {
    let (owned, mut existing) = write::read_relevant(tree, dir);
    let mut old: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut new: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut files = Vec::new();
    let paths: BTreeSet<&str> = tree
        .paths()
        .chain(owned.iter().map(String::as_str))
        .collect();
    for path in paths {
        let before = existing.remove(path);
        let after = tree.get(path);
        if before.as_deref() == after {
            continue;
        }
        let status = match (&before, after) {
            (None, Some(_)) => Status::Added,
            (Some(_), None) => Status::Removed,
            _ => Status::Changed,
        };
        let (environment, group) = groups(path);
        files.push(FileChange {
            path: path.to_owned(),
            environment,
            group,
            status,
            resources: resource_changes(path, before.as_deref(), after),
            diff: text_diff(
                before.as_deref().unwrap_or_default(),
                after.unwrap_or_default(),
            ),
        });
        if let Some(b) = before {
            old.insert(path.to_owned(), b);
        }
        if let Some(a) = after {
            new.insert(path.to_owned(), a.to_vec());
        }
    }
    // Security facts of the changed runners, from both sides of every changed file; for
    // files that did not change both sides are equal, so reading them adds nothing.
    let touched: BTreeSet<String> = files.iter().filter_map(|f| f.environment.clone()).collect();
    for env in &touched {
        for path in tree.paths().filter(|p| p.starts_with(&format!("{env}/"))) {
            if !new.contains_key(path) {
                let b = tree.get(path).unwrap_or_default().to_vec();
                old.insert(path.to_owned(), b.clone());
                new.insert(path.to_owned(), b);
            }
        }
    }
    let (a, b) = (access_from_files(&old), access_from_files(&new));
    let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    let mut security = Vec::new();
    let empty = Access::default();
    for key in keys {
        security.extend(security_changes(
            &key.0,
            &key.1,
            a.get(key).unwrap_or(&empty),
            b.get(key).unwrap_or(&empty),
        ));
    }
    security.sort();
    Report {
        mode: "tree",
        from: dir.display().to_string(),
        to: "spec".into(),
        security,
        files,
        runners: Vec::new(),
    }
}

// ---- promotion mode ----------------------------------------------------------------------------

/// Replaces environment-specific tokens (whole segments between `-_./:`) with placeholders.
fn normalize_text(s: &str, env: &Environment) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let t = token.as_str();
        let rep = if t == env.key {
            "{env}"
        } else if t == env.long_name {
            "{envLong}"
        } else if t == env.region_code {
            "{region}"
        } else if t == env.location {
            "{location}"
        } else {
            t
        };
        out.push_str(rep);
        token.clear();
    };
    for c in s.chars() {
        if matches!(c, '-' | '_' | '.' | '/' | ':') {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    // Subscription IDs (which contain `-`) by alias.
    for (alias, id) in &env.subscriptions {
        out = replace_ignore_case(&out, id, &format!("{{subscription:{alias}}}"));
    }
    out
}

fn replace_ignore_case(haystack: &str, needle: &str, with: &str) -> String {
    let lower = haystack.to_lowercase();
    let needle = needle.to_lowercase();
    if needle.is_empty() || lower.len() != haystack.len() {
        return haystack.to_owned();
    }
    let mut out = String::new();
    let mut last = 0;
    for (i, _) in lower.match_indices(&needle) {
        out.push_str(&haystack[last..i]);
        out.push_str(with);
        last = i + needle.len();
    }
    out.push_str(&haystack[last..]);
    out
}

/// A runner as it should compare across environments: names, IDs, issuer and namespaces out,
/// environment tokens in subscription, group and resource names replaced by placeholders.
pub fn normalized(fleet: &Fleet, env: &Environment, r: &Runner) -> Value {
    let n = |s: &str| normalize_text(s, env);
    let list = |l: &crate::model::ResourceList| json!({"cpu": l.cpu, "memory": l.memory, "ephemeralStorage": l.ephemeral_storage});
    let roles: Vec<String> = r
        .roles
        .iter()
        .map(|ra| format!("{} on {}", ra.display_name(), n(&ra.scope.id())))
        .collect();
    json!({
        "chartVersion": fleet.chart.version,
        "type": r.runner_type,
        "path": n(&r.path),
        "tags": r.tags.iter().map(|t| n(t)).collect::<Vec<_>>(),
        "runUntagged": r.run_untagged,
        "locked": r.locked,
        "accessLevel": r.access_level,
        "maximumTimeout": r.maximum_timeout,
        "privileged": r.privileged,
        "concurrent": r.concurrent,
        "checkInterval": r.check_interval,
        "terminationGracePeriodSeconds": r.termination_grace_period_seconds,
        "jobImage": r.job_image,
        "resources": {"requests": list(&r.requests), "limits": list(&r.limits)},
        "nodeSelector": r.node_selector,
        "tolerations": r.tolerations.iter().map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect})).collect::<Vec<_>>(),
        "cache": r.cache.as_ref().map(|c| json!({"container": n(&c.container), "shared": c.shared})),
        "sharedServiceAccount": r.shared_service_account,
        "kubernetesAccess": r.kubernetes_access,
        "graphPermissions": r.graph_permissions,
        "roles": roles,
    })
}

fn access_from_model(env: &Environment, r: &Runner, token: &str) -> Access {
    Access {
        roles: r
            .roles
            .iter()
            .map(|ra| (ra.display_name(), normalize_text(&ra.scope.id(), env)))
            .collect(),
        graph: r.graph_permissions.iter().cloned().collect(),
        kubernetes: Some(r.kubernetes_access),
        privileged: Some(r.privileged),
        run_untagged: Some(r.run_untagged),
        protected: Some(r.access_level == crate::spec::AccessLevel::RefProtected),
        token_source: Some(token.to_owned()),
    }
}

/// Compares environment `from` with `to`, runner by runner: what promoting `from`'s setup
/// to `to` would change, seen from `to`.
pub fn diff_environments(fleet: &Fleet, from: &Environment, to: &Environment) -> Report {
    // The token source is fleet-wide: the same on both sides, so it never shows as a change.
    let token = match &fleet.token {
        crate::model::TokenSource::ExternalSecret { store_name, .. } => {
            format!("ExternalSecret via {store_name}")
        }
        crate::model::TokenSource::ExistingSecret => "existing Secret".to_owned(),
    };
    // Runners pair by key with the environment's own tokens replaced (`tf-dev` ↔ `tf-prd`).
    let a: BTreeMap<String, &Runner> = from
        .runners
        .iter()
        .map(|r| (normalize_text(&r.key, from), r))
        .collect();
    let b: BTreeMap<String, &Runner> = to
        .runners
        .iter()
        .map(|r| (normalize_text(&r.key, to), r))
        .collect();
    let keys: BTreeSet<&str> = a.keys().chain(b.keys()).map(String::as_str).collect();
    let mut runners = Vec::new();
    let mut security = Vec::new();
    let empty = Access::default();
    for k in keys {
        let (ra, rb) = (a.get(k), b.get(k));
        let name = rb.or(ra).map(|r| r.key.as_str()).unwrap_or(k);
        let (acc_a, acc_b) = (
            ra.map(|r| access_from_model(from, r, &token))
                .unwrap_or_else(|| empty.clone()),
            rb.map(|r| access_from_model(to, r, &token))
                .unwrap_or_else(|| empty.clone()),
        );
        // Promoting brings `to` where `from` is: changes read from `to`'s state to `from`'s.
        security.extend(security_changes(&to.key, name, &acc_b, &acc_a));
        match (ra, rb) {
            (Some(x), Some(y)) => {
                let fields = field_changes(&normalized(fleet, to, y), &normalized(fleet, from, x));
                if !fields.is_empty() {
                    runners.push(RunnerChange {
                        runner: k.to_owned(),
                        status: Status::Changed,
                        fields,
                    });
                }
            }
            (Some(_), None) => runners.push(RunnerChange {
                runner: k.to_owned(),
                status: Status::Added,
                fields: Vec::new(),
            }),
            (None, Some(_)) => runners.push(RunnerChange {
                runner: k.to_owned(),
                status: Status::Removed,
                fields: Vec::new(),
            }),
            (None, None) => {}
        }
    }
    security.sort();
    Report {
        mode: "promotion",
        from: from.key.clone(),
        to: to.key.clone(),
        security,
        files: Vec::new(),
        runners,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_keys_named_lists() {
        let mut m = BTreeMap::new();
        flatten(
            &json!({"a": [{"name": "x", "v": 1}, {"name": "y", "v": 2}], "b": {"c.d": true}}),
            "",
            &mut m,
        );
        assert_eq!(m.get(".a[name=x].v"), Some(&json!(1)));
        assert_eq!(m.get(".b[\"c.d\"]"), Some(&json!(true)));
    }

    #[test]
    fn field_changes_ignore_key_order() {
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": {"a": 1, "b": 2}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y": {"b": 2, "a": 1}, "x": 1}"#).unwrap();
        assert!(field_changes(&a, &b).is_empty());
        let c: Value = serde_json::from_str(r#"{"y": {"b": 3, "a": 1}, "x": 1}"#).unwrap();
        assert_eq!(
            field_changes(&a, &c),
            vec![FieldChange {
                path: ".y.b".into(),
                old: Some(json!(2)),
                new: Some(json!(3))
            }]
        );
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            mask(&json!({"t": "glrt-AAAAAAAAAAAAAAAAAAAAAA"})),
            json!({"t": "***masked***"})
        );
        assert_eq!(
            mask_line("+token = \"glpat-AAAAAAAAAAAAAAAAAAAA\""),
            "+***masked***"
        );
    }

    #[test]
    fn role_ranking_and_scope_widening() {
        let old = Access {
            roles: [(
                "Contributor".to_owned(),
                "/subscriptions/a/resourceGroups/rg".to_owned(),
            )]
            .into(),
            ..Default::default()
        };
        let wider = Access {
            roles: [("Contributor".to_owned(), "/subscriptions/a".to_owned())].into(),
            ..Default::default()
        };
        let owner = Access {
            roles: [(
                "Owner".to_owned(),
                "/subscriptions/a/resourceGroups/rg".to_owned(),
            )]
            .into(),
            ..Default::default()
        };
        let c = security_changes("ss", "tf", &old, &wider);
        assert!(
            c.iter().any(|c| c.kind == "role-widened" && c.widens),
            "{c:?}"
        );
        let c = security_changes("ss", "tf", &old, &owner);
        assert!(
            c.iter()
                .any(|c| c.kind == "role-widened" && c.message.contains("Owner")),
            "{c:?}"
        );
        let c = security_changes("ss", "tf", &owner, &old);
        assert!(c.iter().all(|c| !c.widens), "{c:?}");
        assert!(role_rank("Owner") > role_rank("User Access Administrator"));
        assert!(role_rank("Contributor") > role_rank("AcrPush"));
        assert!(role_rank("AcrPush") > role_rank("Reader"));
    }

    #[test]
    fn scope_containment_respects_segments() {
        assert!(contains_scope(
            "/subscriptions/a",
            "/subscriptions/a/resourceGroups/x"
        ));
        assert!(!contains_scope("/subscriptions/a", "/subscriptions/ab"));
    }
}
