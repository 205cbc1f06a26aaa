//! One registration made true in GitLab: the runner this fleet owns in the place the
//! registration names is updated (and its token rotated with `--rotate`), extra ones there are
//! deleted, and a missing one is created. A runner with this fleet's note anywhere else is
//! reported and never touched; one with the old note (no fleet) is taken over only with
//! `--adopt`.
//!
//! Nothing is changed on the word of the cache: before a write, a runner whose details were
//! not read in this run is read again and must still carry the same note, type and owner
//! (`verify`).

use super::cache::Cache;
use super::gitlab::GitLab;
use super::inventory::{Inventory, Owner, Seen, group_owners};
use super::note::Note;
use super::{Options, Outcome, Registration, store};
use serde_json::{Map, Value, json};

/// What the steps of one GitLab's run share.
pub struct Cx<'a, 's> {
    pub api: &'a GitLab,
    pub inv: &'a Inventory,
    pub cache: &'a mut Cache,
    pub fleet: &'a str,
    pub opts: &'a Options,
    pub outcome: &'a mut Outcome,
    pub say: &'a mut (dyn FnMut(&str) + 's),
}

impl Cx<'_, '_> {
    pub fn fail(&mut self, key: &str, why: &str) {
        self.outcome.failures += 1;
        (self.say)(&format!("  FAILED   {key}: {why}"));
    }

    pub fn say(&mut self, line: &str) {
        (self.say)(line);
    }

    /// The runner's details as they are now, if it still has the note, type and owner it was
    /// listed with; read again unless they were read in this run.
    pub fn verify(&mut self, seen: &Seen, owner: Option<Owner>) -> Result<Value, String> {
        if seen.fresh {
            return Ok(seen.details.clone());
        }
        let now = self.api.runner(seen.id).map_err(|e| e.to_string())?;
        self.cache.forget(seen.id);
        let same = |k: &str| now[k] == seen.details[k];
        let owned = match owner {
            Some(o @ ("groups", _)) => group_owners(&now).any(|g| g == o),
            _ => true,
        };
        if same("maintenance_note") && same("runner_type") && owned {
            Ok(now)
        } else {
            Err(format!(
                "runner {} changed since it was listed (note, type or group); not touched, \
                 run again",
                seen.id
            ))
        }
    }
}

/// The fields of `want` that `have` (a `GET /runners/:id` answer) does not match; tag lists
/// compare as sets.
pub fn changed_fields(want: &Map<String, Value>, have: &Value) -> Map<String, Value> {
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

/// Whether `s` is in `target` as a runner of the registration's type.
fn in_place(s: &Seen, reg: &Registration, target: Owner) -> bool {
    s.owners.contains(&target) && s.runner_type() == reg.runner_type
}

/// One registration against the runners listed where it points.
pub fn sync(cx: &mut Cx, reg: &Registration) {
    let target = match cx.inv.target(reg) {
        Ok(t) => t,
        Err(e) => return cx.fail(&reg.key, &e),
    };
    let inv = cx.inv;
    let (kind, path) = (reg.namespace.0, &reg.namespace.1);
    let mut ours: Vec<&Seen> = Vec::new();
    let mut legacy: Vec<&Seen> = Vec::new();
    for s in inv.runners.values() {
        match &s.note {
            Some(Note::Fleet { fleet, key }) if fleet == cx.fleet && *key == reg.key => {
                if in_place(s, reg, target) {
                    ours.push(s);
                } else {
                    cx.say(&format!(
                        "  elsewhere {} (runner {}): its note names this fleet, but it is not a \
                         {} of {kind} {path}; not touched",
                        reg.key, s.id, reg.runner_type
                    ));
                }
            }
            Some(Note::Legacy { key }) if *key == reg.key && in_place(s, reg, target) => {
                legacy.push(s);
            }
            _ => {}
        }
    }
    if ours.is_empty() && !legacy.is_empty() {
        if !cx.opts.adopt {
            let id = legacy[0].id;
            return cx.fail(
                &reg.key,
                &format!(
                    "runner {id} has the old note `managed by runnergen: {}` (no fleet); \
                     `--adopt` makes it this fleet's, or delete it by hand",
                    reg.key
                ),
            );
        }
        ours = legacy;
    }
    ours.sort_by_key(|s| s.id);
    for extra in ours.iter().skip(1) {
        delete_duplicate(cx, reg, extra, target);
    }
    match ours.first() {
        Some(current) => {
            if update(cx, reg, current, target) && cx.opts.rotate {
                rotate(cx, reg, current.id);
            }
        }
        None => create(cx, reg, target),
    }
}

/// A second runner of this fleet for the registration, in its place (a create retried by hand).
fn delete_duplicate(cx: &mut Cx, reg: &Registration, extra: &Seen, target: Owner) {
    let (key, id) = (&reg.key, extra.id);
    cx.outcome.changes += 1;
    if cx.opts.dry_run {
        return cx.say(&format!("  would delete {key} duplicate (runner {id})"));
    }
    match cx
        .verify(extra, Some(target))
        .and_then(|_| cx.api.delete(id).map_err(|e| e.to_string()))
    {
        Ok(()) => cx.say(&format!("  deleted  {key} duplicate (runner {id})")),
        Err(e) => cx.fail(key, &e),
    }
}

/// Brings the runner's properties to the registration's; false when that failed.
fn update(cx: &mut Cx, reg: &Registration, current: &Seen, target: Owner) -> bool {
    let (key, id) = (&reg.key, current.id);
    if changed_fields(&reg.properties, &current.details).is_empty() {
        if !cx.opts.rotate {
            cx.say(&format!("  ok       {key} (runner {id})"));
        }
        return true;
    }
    let fields = match cx.verify(current, Some(target)) {
        Ok(now) => changed_fields(&reg.properties, &now),
        Err(e) if !cx.opts.dry_run => {
            cx.fail(key, &e);
            return false;
        }
        Err(_) => changed_fields(&reg.properties, &current.details),
    };
    if fields.is_empty() {
        return true;
    }
    cx.outcome.changes += 1;
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    let names = names.join(", ");
    if cx.opts.dry_run {
        cx.say(&format!("  would update {key} (runner {id}): {names}"));
    } else if let Err(e) = cx.api.update(id, &Value::Object(fields)) {
        cx.fail(key, &e.to_string());
        return false;
    } else {
        cx.cache.forget(id);
        cx.say(&format!("  updated  {key} (runner {id}): {names}"));
    }
    true
}

/// A new token for the runner, handed to its destination; then the restart that makes its
/// manager use it, unless Reloader does that.
fn rotate(cx: &mut Cx, reg: &Registration, id: u64) {
    let (key, destination) = (&reg.key, &reg.destination);
    cx.outcome.changes += 1;
    if cx.opts.dry_run {
        return cx.say(&format!(
            "  would rotate {key} (runner {id}); token → {destination}"
        ));
    }
    cx.outcome.rotated += 1;
    match cx
        .api
        .reset_token(id)
        .map_err(|e| e.to_string())
        .and_then(|t| store::store(destination, &t))
    {
        Ok(()) => {
            cx.say(&format!(
                "  rotated  {key} (runner {id}); token → {destination}"
            ));
            match &reg.manager {
                Some(m) if m.restarts_on_rotation => cx.say(&format!(
                    "           Reloader restarts deployment/{} in {} once its Secret changes",
                    m.deployment, m.namespace
                )),
                Some(m) => cx.say(&format!(
                    "  restart  kubectl rollout restart deployment/{} -n {}",
                    m.deployment, m.namespace
                )),
                None => cx.say("  restart  its manager's Deployment (kubectl rollout restart)"),
            }
        }
        Err(e) => cx.fail(
            key,
            &format!("{e}; run `runnergen register --rotate` again once it works"),
        ),
    }
}

/// Creates the runner in `target` and stores its token; a runner whose token cannot be stored
/// is deleted again, so that the next run creates it afresh.
fn create(cx: &mut Cx, reg: &Registration, target: Owner) {
    let key = &reg.key;
    let (kind, path) = (reg.namespace.0, &reg.namespace.1);
    cx.outcome.changes += 1;
    if cx.opts.dry_run {
        return cx.say(&format!(
            "  would create {key} ({kind} {path}); token → {}",
            reg.destination
        ));
    }
    let mut body = reg.properties.clone();
    body.insert("runner_type".into(), json!(reg.runner_type));
    let id_field = if kind == "groups" {
        "group_id"
    } else {
        "project_id"
    };
    body.insert(id_field.into(), json!(target.1));
    match cx.api.create(&Value::Object(body)) {
        Ok((id, token)) => match store::store(&reg.destination, &token) {
            Ok(()) => cx.say(&format!(
                "  created  {key} (runner {id}); token → {}",
                reg.destination
            )),
            Err(e) => {
                let undo = cx.api.delete(id).map_or_else(
                    |d| format!("; deleting it failed too ({d}): delete runner {id} by hand"),
                    |()| "; the runner was deleted again".into(),
                );
                cx.fail(key, &format!("{e}{undo}"));
            }
        },
        Err(e) => cx.fail(key, &e.to_string()),
    }
}
