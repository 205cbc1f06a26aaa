//! `runnergen register`: the one part of runnergen that talks to the network. It reads the
//! rendered `registration.json` files (never the spec) and makes GitLab match them,
//! idempotently:
//!
//! - runners it manages are found by their `maintenance_note` (`managed by runnergen:
//!   <env>/<runner>`, written into registration.json);
//! - a missing runner is created (`POST /user/runners`, the group or project path resolved to
//!   its ID) and its token goes straight to its destination (Key Vault or the existing Secret);
//! - a runner whose properties differ is updated (`PUT /runners/:id`); one whose type or group
//!   or project changed is replaced (a runner cannot move);
//! - `--rotate` resets each runner's token and stores the new one;
//! - `--prune` deletes managed runners that are no longer rendered;
//! - `--dry-run` prints the plan and changes nothing.
//!
//! A failure is reported for its runner and the others go on; a runner created whose token
//! could not be stored is deleted again, so the next run creates it afresh.

pub mod gitlab;
pub mod store;

use crate::layout::{Location, RunnerFile};
use crate::names::GITLAB_MARKER;
use gitlab::{GitLab, Secret};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use store::Destination;

/// One rendered registration.json.
#[derive(Clone, Debug)]
pub struct Registration {
    /// `<env>/<runner>`, from the file's place in the output directory.
    pub key: String,
    pub marker: String,
    pub gitlab_url: String,
    pub runner_type: String,
    /// `groups` or `projects`, and the full path.
    pub namespace: (&'static str, String),
    /// The properties GitLab keeps and `PUT /runners/:id` updates.
    pub properties: Map<String, Value>,
    pub destination: Destination,
}

/// The properties `register` keeps in line with registration.json.
const PROPERTIES: &[&str] = &[
    "description",
    "paused",
    "locked",
    "run_untagged",
    "access_level",
    "tag_list",
    "maximum_timeout",
    "maintenance_note",
];

fn parse(key: String, v: &Value) -> Result<Registration, String> {
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    let namespace = match (s("group_path"), s("project_path")) {
        (Some(p), None) => ("groups", p),
        (None, Some(p)) => ("projects", p),
        _ => return Err("names neither a group_path nor a project_path".into()),
    };
    let d = &v["token_destination"];
    let destination = match (d["key_vault"].as_str(), d["kubernetes_secret"].as_object()) {
        (Some(vault), _) => Destination::KeyVault {
            vault: vault.to_owned(),
            secret: d["secret"].as_str().unwrap_or_default().to_owned(),
        },
        (None, Some(k)) => Destination::KubernetesSecret {
            namespace: k["namespace"].as_str().unwrap_or_default().to_owned(),
            name: k["name"].as_str().unwrap_or_default().to_owned(),
        },
        _ => return Err("has no token_destination with a Key Vault or a Secret".into()),
    };
    let properties = PROPERTIES
        .iter()
        .filter_map(|p| v.get(*p).map(|x| ((*p).to_owned(), x.clone())))
        .collect();
    Ok(Registration {
        marker: s("maintenance_note").unwrap_or_else(|| format!("{GITLAB_MARKER}{key}")),
        key,
        gitlab_url: s("gitlab_url").ok_or("has no gitlab_url")?,
        runner_type: s("runner_type").ok_or("has no runner_type")?,
        namespace,
        properties,
        destination,
    })
}

/// Every registration.json under `out`, by `<env>/<runner>`.
pub fn read(out: &Path) -> Result<Vec<Registration>, String> {
    if !out.is_dir() {
        return Err(format!("{} is not a directory", out.display()));
    }
    let mut regs = Vec::new();
    for entry in walkdir::WalkDir::new(out)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
    {
        let rel = entry.path().strip_prefix(out).unwrap_or(entry.path());
        let rel = rel.to_string_lossy().replace('\\', "/");
        if let Location::Runner {
            env,
            runner,
            file: Some(RunnerFile::Registration),
        } = Location::of(&rel)
        {
            let text = std::fs::read_to_string(entry.path())
                .map_err(|e| format!("cannot read {rel}: {e}"))?;
            let v: Value =
                serde_json::from_str(&text).map_err(|e| format!("{rel} is not JSON: {e}"))?;
            regs.push(parse(format!("{env}/{runner}"), &v).map_err(|e| format!("{rel} {e}"))?);
        }
    }
    Ok(regs)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub dry_run: bool,
    pub prune: bool,
    pub rotate: bool,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: usize,
    pub failures: usize,
}

/// The fields of `want` that `have` (a `GET /runners/:id` answer) does not match; tag lists
/// compare as sets.
fn changed_fields(want: &Map<String, Value>, have: &Value) -> Map<String, Value> {
    let as_set = |v: &Value| -> Vec<String> {
        let mut t: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect();
        t.sort();
        t
    };
    want.iter()
        .filter(|(k, v)| match k.as_str() {
            "tag_list" => as_set(v) != as_set(&have[k.as_str()]),
            _ => have.get(k.as_str()) != Some(v),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The ID of the group or project a runner belongs to, where the answer says.
fn owner_ids(have: &Value) -> Vec<u64> {
    ["groups", "projects"]
        .iter()
        .flat_map(|k| have[*k].as_array().into_iter().flatten())
        .filter_map(|g| g["id"].as_u64())
        .collect()
}

/// Makes the GitLab of every registration match `out`. `say` gets one line per runner.
pub fn run(
    out: &Path,
    token: &Secret,
    opts: Options,
    say: &mut dyn FnMut(&str),
) -> Result<Outcome, String> {
    let regs = read(out)?;
    let mut by_gitlab: BTreeMap<String, Vec<Registration>> = BTreeMap::new();
    for r in regs {
        by_gitlab
            .entry(r.gitlab_url.trim_end_matches('/').to_owned())
            .or_default()
            .push(r);
    }
    let mut outcome = Outcome::default();
    for (url, regs) in by_gitlab {
        let api = GitLab::new(&url, token.clone()).map_err(|e| e.to_string())?;
        let managed = api
            .runners_with_note(GITLAB_MARKER)
            .map_err(|e| format!("{url}: {e}"))?;
        say(&format!(
            "GitLab {url}: {} runners rendered, {} managed by runnergen there",
            regs.len(),
            managed.len()
        ));
        let mut by_marker: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for m in managed {
            let note = m["maintenance_note"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            by_marker.entry(note).or_default().push(m);
        }
        for reg in &regs {
            let found = by_marker.remove(&reg.marker).unwrap_or_default();
            sync(&api, reg, &found, opts, &mut outcome, say);
        }
        // Managed runners no one renders any more.
        for (marker, runners) in by_marker {
            for r in runners {
                let id = r["id"].as_u64().unwrap_or_default();
                let key = marker.trim_start_matches(GITLAB_MARKER);
                outcome.changes += usize::from(opts.prune);
                if !opts.prune {
                    say(&format!(
                        "  stale    {key} (runner {id}): no longer rendered; --prune deletes it"
                    ));
                } else if opts.dry_run {
                    say(&format!("  would delete {key} (runner {id})"));
                } else {
                    match api.delete(id) {
                        Ok(()) => say(&format!("  deleted  {key} (runner {id})")),
                        Err(e) => fail(&mut outcome, say, key, &e.to_string()),
                    }
                }
            }
        }
    }
    Ok(outcome)
}

fn fail(outcome: &mut Outcome, say: &mut dyn FnMut(&str), key: &str, why: &str) {
    outcome.failures += 1;
    say(&format!("  FAILED   {key}: {why}"));
}

/// What one registration's steps share: the API, the run's options and its report.
struct Step<'a, 's> {
    api: &'a GitLab,
    reg: &'a Registration,
    opts: Options,
    outcome: &'a mut Outcome,
    say: &'a mut (dyn FnMut(&str) + 's),
}

impl Step<'_, '_> {
    fn fail(&mut self, why: &str) {
        fail(self.outcome, self.say, &self.reg.key, why);
    }
}

/// One registration against the managed runners that carry its marker.
fn sync(
    api: &GitLab,
    reg: &Registration,
    found: &[Value],
    opts: Options,
    outcome: &mut Outcome,
    say: &mut dyn FnMut(&str),
) {
    let mut step = Step {
        api,
        reg,
        opts,
        outcome,
        say,
    };
    let current = keep_oldest(&mut step, found);
    let target = match api.namespace_id(reg.namespace.0, &reg.namespace.1) {
        Ok(id) => id,
        Err(e) => return step.fail(&e.to_string()),
    };
    let moved = current.is_some_and(|c| {
        c["runner_type"].as_str() != Some(reg.runner_type.as_str())
            || !owner_ids(c).is_empty() && !owner_ids(c).contains(&target)
    });
    match current {
        Some(c) if !moved => {
            let id = c["id"].as_u64().unwrap_or_default();
            if update(&mut step, id, c) && opts.rotate {
                rotate(&mut step, id);
            }
        }
        _ => replace(&mut step, current, target),
    }
}

/// More than one runner with this marker (a create retried by hand): keeps the oldest, deletes
/// the others, and returns the one kept.
fn keep_oldest<'v>(step: &mut Step, found: &'v [Value]) -> Option<&'v Value> {
    let key = &step.reg.key;
    let mut found: Vec<&Value> = found.iter().collect();
    found.sort_by_key(|r| r["id"].as_u64());
    for extra in found.iter().skip(1) {
        let id = extra["id"].as_u64().unwrap_or_default();
        step.outcome.changes += 1;
        if step.opts.dry_run {
            (step.say)(&format!("  would delete {key} duplicate (runner {id})"));
        } else if let Err(e) = step.api.delete(id) {
            step.fail(&e.to_string());
        } else {
            (step.say)(&format!("  deleted  {key} duplicate (runner {id})"));
        }
    }
    found.first().copied()
}

/// Brings the runner's properties to the registration's; false when that failed.
fn update(step: &mut Step, id: u64, current: &Value) -> bool {
    let key = &step.reg.key;
    let fields = changed_fields(&step.reg.properties, current);
    if fields.is_empty() {
        if !step.opts.rotate {
            (step.say)(&format!("  ok       {key} (runner {id})"));
        }
        return true;
    }
    step.outcome.changes += 1;
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    let names = names.join(", ");
    if step.opts.dry_run {
        (step.say)(&format!("  would update {key} (runner {id}): {names}"));
    } else if let Err(e) = step.api.update(id, &Value::Object(fields.clone())) {
        step.fail(&e.to_string());
        return false;
    } else {
        (step.say)(&format!("  updated  {key} (runner {id}): {names}"));
    }
    true
}

/// A new token for the runner, handed to its destination.
fn rotate(step: &mut Step, id: u64) {
    let (key, destination) = (&step.reg.key, &step.reg.destination);
    step.outcome.changes += 1;
    if step.opts.dry_run {
        (step.say)(&format!(
            "  would rotate {key} (runner {id}); token → {destination}"
        ));
        return;
    }
    match step
        .api
        .reset_token(id)
        .map_err(|e| e.to_string())
        .and_then(|t| store::store(destination, &t))
    {
        Ok(()) => (step.say)(&format!(
            "  rotated  {key} (runner {id}); token → {destination}"
        )),
        Err(e) => step.fail(&format!(
            "{e}; run `runnergen register --rotate` again once it works"
        )),
    }
}

/// Creates the runner in namespace `target`, deleting `current` first when it is registered
/// with another type, group or project.
fn replace(step: &mut Step, current: Option<&Value>, target: u64) {
    let (key, reg) = (&step.reg.key, step.reg);
    let would = if step.opts.dry_run { "would " } else { "" };
    step.outcome.changes += 1;
    if let Some(c) = current {
        let id = c["id"].as_u64().unwrap_or_default();
        (step.say)(&format!(
            "  {would}replace {key} (runner {id}): its type, group or project changed"
        ));
        if !step.opts.dry_run
            && let Err(e) = step.api.delete(id)
        {
            return step.fail(&e.to_string());
        }
    }
    let (kind, path) = (&reg.namespace.0, &reg.namespace.1);
    if step.opts.dry_run {
        (step.say)(&format!(
            "  would create {key} ({kind} {path}); token → {}",
            reg.destination
        ));
        return;
    }
    let mut body = reg.properties.clone();
    body.insert("runner_type".into(), json!(reg.runner_type));
    let id_field = if *kind == "groups" {
        "group_id"
    } else {
        "project_id"
    };
    body.insert(id_field.into(), json!(target));
    match step.api.create(&Value::Object(body)) {
        Ok((id, token)) => match store::store(&reg.destination, &token) {
            Ok(()) => (step.say)(&format!(
                "  created  {key} (runner {id}); token → {}",
                reg.destination
            )),
            Err(e) => {
                // A runner whose token is lost is useless: take it back, so the next run
                // creates it again.
                let undo = step.api.delete(id).map_or_else(
                    |d| format!("; deleting it failed too ({d}): delete runner {id} by hand"),
                    |()| "; the runner was deleted again".into(),
                );
                step.fail(&format!("{e}{undo}"));
            }
        },
        Err(e) => step.fail(&e.to_string()),
    }
}
