//! A `helm_release`'s values (the YAML strings of its `values` list) and the config.toml in
//! `runners.config`, read key by key: each key is either one runnergen has a field for, one it
//! writes itself (compared, not copied), or listed as unmapped by its path (never its value).

use serde_json::Value;

/// What the chart values say about one runner.
#[derive(Debug, Default)]
pub struct Values {
    pub gitlab_url: Option<String>,
    pub concurrent: Option<u64>,
    pub check_interval: Option<u64>,
    pub termination_grace_period_seconds: Option<u64>,
    pub service_account: Option<String>,
    pub runner_name: Option<String>,
    pub privileged: Option<bool>,
    pub secret: Option<String>,
    pub job_image: Option<String>,
    pub pod_labels_overwrite: Option<String>,
    /// config.toml's `[runners.kubernetes]` `namespace` and `service_account`.
    pub job_namespace: Option<String>,
    pub job_service_account: Option<String>,
    /// Keys with no runnergen field, by path (`runners.cache`, `config.toml: runners.kubernetes.cpu_limit`).
    pub unmapped: Vec<String>,
}

/// Chart values runnergen writes itself, whose value import compares or can drop.
const CHART_OWNED: &[&str] = &["rbac", "runners.executor", "runners.config"];

/// Reads the values documents in order (later ones override, as Helm merges them).
pub fn read(docs: &[Value]) -> Result<Values, String> {
    let mut merged = serde_json::Map::new();
    for doc in docs {
        let text = doc.as_str().ok_or("a `values` entry is not a string")?;
        let v: Value =
            serde_saphyr::from_str(text).map_err(|e| format!("its values are not YAML: {e}"))?;
        match v {
            Value::Object(o) => crate::spec::instances::deep_merge(&mut merged, &o),
            Value::Null => {}
            _ => return Err("its values are not a mapping".into()),
        }
    }
    let mut out = Values::default();
    for (k, v) in &merged {
        top(&mut out, k, v)?;
    }
    Ok(out)
}

fn top(out: &mut Values, k: &str, v: &Value) -> Result<(), String> {
    match k {
        "gitlabUrl" => out.gitlab_url = v.as_str().map(str::to_owned),
        "concurrent" => out.concurrent = v.as_u64(),
        "checkInterval" => out.check_interval = v.as_u64(),
        "terminationGracePeriodSeconds" => out.termination_grace_period_seconds = v.as_u64(),
        "serviceAccountName" => out.service_account = v.as_str().map(str::to_owned),
        "rbac" => {
            if v.get("create").and_then(Value::as_bool) == Some(true) {
                out.unmapped
                    .push("rbac.create: true (the chart's own RBAC)".into());
            }
        }
        "runners" => {
            for (rk, rv) in v.as_object().into_iter().flatten() {
                runners(out, rk, rv)?;
            }
        }
        _ => out.unmapped.push(k.to_owned()),
    }
    Ok(())
}

fn runners(out: &mut Values, k: &str, v: &Value) -> Result<(), String> {
    match k {
        "name" => out.runner_name = v.as_str().map(str::to_owned),
        "privileged" => out.privileged = v.as_bool(),
        "secret" => out.secret = v.as_str().map(str::to_owned),
        "executor" if v == "kubernetes" => {}
        "config" => config(out, v.as_str().ok_or("`runners.config` is not a string")?)?,
        _ if CHART_OWNED.contains(&format!("runners.{k}").as_str()) => {}
        _ => out.unmapped.push(format!("runners.{k}")),
    }
    Ok(())
}

/// The config.toml template of `runners.config`.
fn config(out: &mut Values, text: &str) -> Result<(), String> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| format!("`runners.config` is not TOML: {e}"))?;
    for (k, v) in &table {
        if k != "runners" {
            out.unmapped.push(format!("config.toml: {k}"));
            continue;
        }
        let entries = v.as_array().map_or(&[][..], Vec::as_slice);
        for (i, entry) in entries.iter().enumerate() {
            for (rk, rv) in entry.as_table().into_iter().flatten() {
                match (i, rk.as_str()) {
                    (0, "kubernetes") => kubernetes(out, rv),
                    (0, "executor") if rv.as_str() == Some("kubernetes") => {}
                    _ => out.unmapped.push(format!("config.toml: runners.{rk}")),
                }
            }
        }
    }
    Ok(())
}

fn kubernetes(out: &mut Values, v: &toml::Value) {
    for (k, v) in v.as_table().into_iter().flatten() {
        let text = || v.as_str().map(str::to_owned);
        match k.as_str() {
            "namespace" => out.job_namespace = text(),
            "service_account" => out.job_service_account = text(),
            "privileged" => out.privileged = out.privileged.or(v.as_bool()),
            "image" => out.job_image = text(),
            "pod_labels_overwrite_allowed" => out.pod_labels_overwrite = text(),
            // The workload-identity label runnergen puts on job pods itself.
            "pod_labels"
                if v.as_table().is_some_and(|t| {
                    t.iter()
                        .all(|(l, x)| l == crate::facts::WI_USE_LABEL && x.as_str() == Some("true"))
                }) => {}
            _ => out
                .unmapped
                .push(format!("config.toml: runners.kubernetes.{k}")),
        }
    }
}
