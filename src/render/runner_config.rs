//! config.toml: the `[[runners]]` template the gitlab-runner chart merges at registration.
//!
//! Rendered from `templates/config.toml.j2` with minijinja in strict-undefined mode, then parsed
//! back with the `toml` crate and every key checked against the runner's known keys, so a
//! misspelt key (`runners.kuberentes`) fails the render instead of being ignored by the runner.

use super::{Cx, RenderError, Rendered, header};
use crate::facts;
use crate::layout::RunnerFile;
use crate::tree::Tree;
use serde::Serialize;
use std::collections::BTreeMap;

const TEMPLATE: &str = include_str!("templates/config.toml.j2");

#[derive(Serialize)]
struct Toleration<'a> {
    key: String,
    effect: &'a str,
}

#[derive(Serialize)]
struct Context<'a> {
    header: String,
    namespace: &'a str,
    job_image: &'a str,
    privileged: bool,
    job_service_account: &'a str,
    resources: Vec<(&'a str, &'a str)>,
    /// The workload-identity label of the job pods; none for a runner without an identity.
    wi_label: Option<&'a str>,
    /// `pod_labels_overwrite_allowed`, when jobs may set labels.
    labels_overwrite: Option<&'a str>,
    node_selector: &'a BTreeMap<String, String>,
    tolerations: Vec<Toleration<'a>>,
    cache: Option<CacheCtx<'a>>,
    /// `kubernetes.extra`: each key with its value as an inline TOML value.
    extra: Vec<(&'a str, String)>,
    /// `jobVariables` as config.toml's `environment` array (`["NAME=value", …]`), if any.
    environment: Option<String>,
}

#[derive(Serialize)]
struct CacheCtx<'a> {
    path: &'a str,
    shared: bool,
    account_name: &'a str,
    container: &'a str,
}

/// A TOML literal for a template value: strings as basic strings, numbers and booleans as is.
fn toml_literal(v: minijinja::Value) -> Result<String, minijinja::Error> {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Bool => Ok(if v.is_true() { "true" } else { "false" }.to_owned()),
        ValueKind::Number => Ok(v.to_string()),
        ValueKind::String => {
            Ok(toml::Value::String(v.as_str().unwrap_or_default().to_owned()).to_string())
        }
        other => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot write a {other:?} as a TOML scalar"),
        )),
    }
}

/// What the values and the invariants read of config.toml: its text and the table it parses to.
pub struct Config {
    pub text: String,
    pub table: toml::Table,
}

/// The runner's config.toml.
pub fn render(cx: Cx) -> Result<Rendered<Config>, RenderError> {
    let (text, table) = text(cx)?;
    let mut files = Tree::new();
    files.insert(cx.path(RunnerFile::Config), text.clone())?;
    Ok(Rendered {
        files,
        facts: Config { text, table },
    })
}

/// config.toml's text, and the table it parses to.
fn text(cx: Cx) -> Result<(String, toml::Table), RenderError> {
    let r = cx.runner;
    let cache = r.cache.as_ref().map(|c| CacheCtx {
        path: &r.key,
        shared: c.shared,
        account_name: &c.account_name,
        container: &c.container,
    });
    let ctx = minijinja::Value::from(minijinja::value::Serde(Context {
        header: header(cx.source),
        namespace: &r.names.job_namespace,
        job_image: &r.job_image,
        privileged: r.privileged,
        job_service_account: &r.names.job_service_account,
        resources: resources(r),
        wi_label: r.has_identity().then_some(facts::WI_USE_LABEL),
        labels_overwrite: r.pod_labels_overwrite.as_deref(),
        node_selector: &r.node_selector,
        tolerations: tolerations(r),
        cache,
        extra: extra(r)?,
        environment: (!r.job_variables.is_empty()).then(|| {
            toml::Value::Array(
                r.job_variables
                    .iter()
                    .map(|(k, v)| toml::Value::String(format!("{k}={v}")))
                    .collect(),
            )
            .to_string()
        }),
    }));
    let text = template()?
        .get_template("config.toml")
        .and_then(|t| t.render(ctx))
        .map_err(|e| RenderError::Template(format!("config.toml: {e}")))?;
    let mut text = text.trim_end().to_owned();
    text.push('\n');
    let table = check_keys(&text)?;
    Ok((text, table))
}

/// The template environment, compiled once per process (the template is static).
fn template() -> Result<&'static minijinja::Environment<'static>, RenderError> {
    static ENV: std::sync::OnceLock<Result<minijinja::Environment<'static>, String>> =
        std::sync::OnceLock::new();
    super::templates(&ENV, |env| {
        env.add_filter("toml", toml_literal);
        env.add_template("config.toml", TEMPLATE)
            .map_err(|e| e.to_string())
    })
}

/// The runner's requests and limits as config.toml keys, sorted (GitLab runner docs,
/// advanced-configuration.md [runners.kubernetes]: resource keys are strings).
fn resources(r: &crate::model::Runner) -> Vec<(&'static str, &str)> {
    let mut resources: Vec<(&str, &str)> = Vec::new();
    for (prefix, list) in [("request", &r.requests), ("limit", &r.limits)] {
        for (name, value) in [
            ("cpu", &list.cpu),
            ("memory", &list.memory),
            ("ephemeral_storage", &list.ephemeral_storage),
        ] {
            if let Some(v) = value {
                resources.push((
                    match (name, prefix) {
                        ("cpu", "request") => "cpu_request",
                        ("cpu", _) => "cpu_limit",
                        ("memory", "request") => "memory_request",
                        ("memory", _) => "memory_limit",
                        (_, "request") => "ephemeral_storage_request",
                        _ => "ephemeral_storage_limit",
                    },
                    v.as_str(),
                ));
            }
        }
    }
    resources.sort();
    resources
}

/// node_tolerations: `"key=value" = "Effect"`, or `"key" = "Effect"` for any value.
fn tolerations(r: &crate::model::Runner) -> Vec<Toleration<'static>> {
    r.tolerations
        .iter()
        .map(|t| Toleration {
            key: crate::vocab::toleration_key(t),
            effect: crate::vocab::toleration_effect(t.effect),
        })
        .collect()
}

/// Extra keys as inline TOML values: JSON maps to TOML one to one, nulls were refused by
/// spec::escape.
fn extra(r: &crate::model::Runner) -> Result<Vec<(&str, String)>, RenderError> {
    let mut extra = Vec::new();
    for (key, value) in &r.kubernetes_extra {
        let v = toml::Value::try_from(value).map_err(|e| {
            RenderError::Template(format!("kubernetes.extra.{key} is not a TOML value: {e}"))
        })?;
        extra.push((key.as_str(), v.to_string()));
    }
    Ok(extra)
}

/// Shape of the config.toml keys runnergen may write, from gitlab-runner `common/config.go`
/// (KubernetesConfig, CacheConfig) and `cache/cacheconfig/cacheconfig.go`.
enum Keys {
    Table(&'static [(&'static str, Keys)]),
    /// A table of these shapes, or any of the other keys with any value (`kubernetes.extra`).
    Open(&'static [(&'static str, Keys)], &'static [&'static str]),
    /// A list of scalars.
    List,
    /// A table of free keys with scalar values (labels, node selectors, tolerations).
    FreeMap,
    Scalar,
    /// An array of tables, each of this shape.
    Tables(&'static [(&'static str, Keys)]),
}

const EMPTY_DIR: &[(&str, Keys)] = &[
    ("name", Keys::Scalar),
    ("mount_path", Keys::Scalar),
    ("sub_path", Keys::Scalar),
    ("medium", Keys::Scalar),
    ("size_limit", Keys::Scalar),
    ("mount_propagation", Keys::Scalar),
];

/// runnergen's own `volumes` (a privileged runner's Docker certificates), or the spec's through
/// `kubernetes.extra`, of the kinds gitlab-runner has (`facts::KUBERNETES_VOLUME_KINDS`; the
/// spec's checks hold each to them).
const VOLUMES: Keys = Keys::Open(
    &[("empty_dir", Keys::Tables(EMPTY_DIR))],
    facts::KUBERNETES_VOLUME_KINDS,
);

const KUBERNETES: &[(&str, Keys)] = &[
    ("namespace", Keys::Scalar),
    ("image", Keys::Scalar),
    ("privileged", Keys::Scalar),
    ("service_account", Keys::Scalar),
    ("pod_labels", Keys::FreeMap),
    ("pod_labels_overwrite_allowed", Keys::Scalar),
    ("node_selector", Keys::FreeMap),
    ("node_tolerations", Keys::FreeMap),
    ("cpu_request", Keys::Scalar),
    ("cpu_limit", Keys::Scalar),
    ("memory_request", Keys::Scalar),
    ("memory_limit", Keys::Scalar),
    ("ephemeral_storage_request", Keys::Scalar),
    ("ephemeral_storage_limit", Keys::Scalar),
    ("volumes", VOLUMES),
];

const CACHE_AZURE: &[(&str, Keys)] = &[
    ("AccountName", Keys::Scalar),
    ("ContainerName", Keys::Scalar),
    ("StorageDomain", Keys::Scalar),
];

const CACHE: &[(&str, Keys)] = &[
    ("Type", Keys::Scalar),
    ("Path", Keys::Scalar),
    ("Shared", Keys::Scalar),
    ("azure", Keys::Table(CACHE_AZURE)),
];

const RUNNER: &[(&str, Keys)] = &[
    ("executor", Keys::Scalar),
    ("environment", Keys::List),
    (
        "kubernetes",
        Keys::Open(KUBERNETES, facts::KUBERNETES_CONFIG_KEYS),
    ),
    ("cache", Keys::Table(CACHE)),
];

const ROOT: &[(&str, Keys)] = &[("runners", Keys::Tables(RUNNER))];

fn walk(path: &str, value: &toml::Value, keys: &Keys, errors: &mut Vec<String>) {
    match (keys, value) {
        (Keys::Scalar, v) if !v.is_table() && !v.is_array() => {}
        (Keys::FreeMap, toml::Value::Table(t)) => {
            for (k, v) in t {
                if v.is_table() || v.is_array() {
                    errors.push(format!("{path}.{k} must be a scalar"));
                }
            }
        }
        (Keys::Table(allowed), toml::Value::Table(t)) => {
            for (k, v) in t {
                match allowed.iter().find(|(name, _)| name == k) {
                    Some((_, sub)) => walk(&format!("{path}.{k}"), v, sub, errors),
                    None => errors.push(format!("unknown key {path}.{k}")),
                }
            }
        }
        (Keys::Open(allowed, others), toml::Value::Table(t)) => {
            for (k, v) in t {
                match allowed.iter().find(|(name, _)| name == k) {
                    Some((_, sub)) => walk(&format!("{path}.{k}"), v, sub, errors),
                    None if others.contains(&k.as_str()) => {}
                    None => errors.push(format!("unknown key {path}.{k}")),
                }
            }
        }
        (Keys::List, toml::Value::Array(items)) => {
            if items.iter().any(|i| i.is_table() || i.is_array()) {
                errors.push(format!("{path} must be a list of scalars"));
            }
        }
        (Keys::Tables(shape), toml::Value::Array(items)) => {
            for item in items {
                walk(path, item, &Keys::Table(shape), errors);
            }
        }
        _ => errors.push(format!("{path} has the wrong type")),
    }
}

/// Parses config.toml text and checks every key against the runner's known keys; the parsed
/// table.
pub fn check_keys(text: &str) -> Result<toml::Table, RenderError> {
    let doc = toml::Value::Table(
        text.parse()
            .map_err(|e| RenderError::Template(format!("config.toml does not parse: {e}")))?,
    );
    let mut errors = Vec::new();
    walk("", &doc, &Keys::Table(ROOT), &mut errors);
    match doc.get("runners").and_then(toml::Value::as_array) {
        // The chart's template must hold exactly one [[runners]] (gitlab-runner docs/register).
        Some(r) if r.len() == 1 => {}
        _ => errors.push("config.toml must hold exactly one [[runners]]".into()),
    }
    if errors.is_empty() {
        let toml::Value::Table(table) = doc else {
            unreachable!("made a table above")
        };
        Ok(table)
    } else {
        let errors: Vec<String> = errors
            .into_iter()
            .map(|e| e.replacen("unknown key .", "unknown key ", 1))
            .collect();
        Err(RenderError::Template(format!(
            "config.toml: {}",
            errors.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests;
