//! Runner entries to instances: a runner written with `environments: [dev, prd]` is the same
//! runner, under the same key, in each environment, with `overrides.<env>` merged in
//! (mappings key by key; lists and single values replace, as Helm merges values files), except
//! `acknowledge`, whose entries in `overrides.<env>` are added to the runner's in that
//! environment (an override accepts one more finding; it cannot drop the runner's).
//!
//! Positions stay exact. An instance with an override is read at
//! `/runners/<key>/overrides/<env>`, where the override's own values already are; every value
//! it inherits from the runner is mapped there too, marked `inherited`. A diagnostic about an
//! instance therefore points at the line its value is written on, and [`source_path`] turns
//! its pointer into that line's own, so the same mistake in two environments is reported once.

use super::types::{Instance, Runner};
use super::yaml::SourceMap;
use super::{Code, Problem, ptr_key};
use serde_json::{Map, Value};

/// The environments a runner entry names, in order, without repeats: `environments`, else
/// `environment`.
pub fn environments_of(entry: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let listed = entry.get("environments").and_then(Value::as_array);
    let names: Vec<&str> = match listed {
        Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).collect(),
        _ => entry
            .get("environment")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
    };
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The most values the instances of all runner entries may hold together: an entry is copied
/// into each environment it names, so a large entry listing many environments (defined or
/// not) would cost its size times their number. As many values as the largest spec has bytes:
/// a 10,000-runner fleet in three environments each holds some 1.5 million.
pub const MAX_INSTANCE_VALUES: usize = super::yaml::MAX_SPEC_BYTES;

/// How many values `v` holds, itself included.
fn values(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(values).sum(),
        Value::Object(o) => o.values().map(values).sum(),
        _ => 0,
    }
}

/// The first runner entry (its key) at which the instances would hold more than
/// [`MAX_INSTANCE_VALUES`], counted before anything is copied.
fn over_budget(entries: &Map<String, Value>) -> Option<(&str, usize)> {
    let mut total = 0usize;
    for (key, entry) in entries {
        let Some(fields) = entry.as_object() else {
            continue;
        };
        let own: usize = fields
            .iter()
            .filter(|(k, _)| *k != "environments" && *k != "overrides")
            .map(|(_, v)| 1 + values(v))
            .sum();
        let overrides = fields.get("overrides").map_or(0, values);
        total = total
            .saturating_add(own.saturating_mul(environments_of(entry).len()))
            .saturating_add(overrides);
        if total > MAX_INSTANCE_VALUES {
            return Some((key, total));
        }
    }
    None
}

/// Every instance of the runner entries in `runners` (the spec's `runners` mapping), sorted by
/// key then environment. An instance that does not deserialize is left out and, when `strict`
/// (the document passed the schema), reported; so are instances that would hold more than
/// [`MAX_INSTANCE_VALUES`] together (E001, at the entry that crosses it), and then none is made.
pub fn expand(
    runners: Option<&Value>,
    map: &mut SourceMap,
    strict: bool,
    problems: &mut Vec<Problem>,
) -> Vec<Instance> {
    let mut out = Vec::new();
    let Some(entries) = runners.and_then(Value::as_object) else {
        return out;
    };
    if let Some((key, total)) = over_budget(entries) {
        if strict {
            problems.push(
                Problem::error_key(
                    Code::E001,
                    format!("/runners/{}", ptr_key(key)),
                    format!(
                        "the runners up to `{key}`, each copied into every environment it names, hold more than {MAX_INSTANCE_VALUES} values ({total}); runnergen reads at most {MAX_INSTANCE_VALUES}"
                    ),
                )
                .hint("list fewer environments per runner, or split a large entry"),
            );
        }
        return out;
    }
    for (key, entry) in entries {
        let Some(fields) = entry.as_object() else {
            continue;
        };
        let base_at = format!("/runners/{}", ptr_key(key));
        let mut base = fields.clone();
        base.remove("environments");
        let overrides = base.remove("overrides");
        for env in environments_of(entry) {
            let mut merged = base.clone();
            let over = overrides
                .as_ref()
                .and_then(|o| o.get(env))
                .and_then(Value::as_object);
            let at = match over {
                Some(over) => {
                    let at = format!("{base_at}/overrides/{}", ptr_key(env));
                    inherit_kept(&merged, over, &base_at, &at, map);
                    deep_merge(&mut merged, over);
                    at
                }
                None => base_at.clone(),
            };
            let acknowledge_at = add_acknowledgements(&mut merged, &base, over, &base_at, &at);
            merged.insert("environment".into(), Value::from(env));
            match serde_path_to_error::deserialize::<_, Runner>(Value::Object(merged)) {
                Ok(runner) => out.push(Instance {
                    key: key.clone(),
                    env: env.to_owned(),
                    at,
                    runner,
                    acknowledge_at,
                }),
                Err(e) if strict => {
                    let ptr = format!("{at}{}", super::error_path(&e));
                    problems.push(
                        Problem::error(Code::E004, ptr, e.inner().to_string())
                            .hint("write whole numbers without a decimal point"),
                    );
                }
                Err(_) => {}
            }
        }
    }
    out.sort_by(|a, b| (&a.key, &a.env).cmp(&(&b.key, &b.env)));
    out
}

/// Merges `over` into `base` as Helm merges values files: mappings key by key, lists and
/// single values replaced.
pub fn deep_merge(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (k, o) in over {
        match (base.get_mut(k), o) {
            (Some(Value::Object(b)), Value::Object(o)) => deep_merge(b, o),
            _ => {
                base.insert(k.clone(), o.clone());
            }
        }
    }
}

/// Makes the merged `acknowledge` the runner's entries then the override's (`deep_merge`
/// replaced them), and returns where each is written: the runner's at `base_at`, the
/// override's at `at`.
fn add_acknowledgements(
    merged: &mut Map<String, Value>,
    base: &Map<String, Value>,
    over: Option<&Map<String, Value>>,
    base_at: &str,
    at: &str,
) -> Vec<String> {
    let len = |m: Option<&Map<String, Value>>| {
        m.and_then(|m| m.get("acknowledge"))
            .and_then(Value::as_array)
            .map(Vec::len)
    };
    let written = |from: &str, i: usize| format!("{from}/acknowledge/{i}");
    let (own, added) = match (len(Some(base)), len(over)) {
        (Some(own), Some(added)) => {
            let mut all = base["acknowledge"].as_array().cloned().unwrap_or_default();
            all.extend(
                merged["acknowledge"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            merged.insert("acknowledge".into(), Value::Array(all));
            (own, added)
        }
        (own, None) => (own.unwrap_or(0), 0),
        (None, added) => (0, added.unwrap_or(0)),
    };
    (0..own)
        .map(|i| written(base_at, i))
        .chain((0..added).map(|j| written(at, j)))
        .collect()
}

/// Maps what `base` (the runner's fields at `base_at`) keeps when `over` (at `at`) is merged
/// into it, under `at`, marked inherited.
fn inherit_kept(
    base: &Map<String, Value>,
    over: &Map<String, Value>,
    base_at: &str,
    at: &str,
    map: &mut SourceMap,
) {
    for (k, b) in base {
        let (from, to) = (
            format!("{base_at}/{}", ptr_key(k)),
            format!("{at}/{}", ptr_key(k)),
        );
        match (b, over.get(k)) {
            (_, None) => inherit(map, &from, &to),
            (Value::Object(b), Some(Value::Object(o))) => inherit_kept(b, o, &from, &to, map),
            _ => {}
        }
    }
}

/// Maps the spans of `from` and everything under it to `to`, marked inherited.
fn inherit(map: &mut SourceMap, from: &str, to: &str) {
    for (p, mut s) in map.subtree(from) {
        s.inherited = true;
        map.insert(format!("{to}{}", &p[from.len()..]), s);
    }
}

/// The pointer of the value a diagnostic is about, as written: an instance's inherited value
/// (`/runners/k/overrides/prd/tags/0` that the override does not set) is the runner's own
/// (`/runners/k/tags/0`).
pub fn source_path(map: &SourceMap, ptr: &str) -> Option<String> {
    let mut p = ptr;
    let span = loop {
        if let Some(s) = map.get(p) {
            break s;
        }
        p = &p[..p.rfind('/')?];
    };
    if !span.inherited {
        return None;
    }
    // `/runners/<key>/overrides/<env>/rest` → `/runners/<key>/rest`.
    let parts: Vec<&str> = ptr.splitn(6, '/').collect();
    match parts.as_slice() {
        ["", "runners", key, "overrides", _env, rest] => Some(format!("/runners/{key}/{rest}")),
        ["", "runners", key, "overrides", _env] => Some(format!("/runners/{key}")),
        _ => None,
    }
}
