//! Runners of this fleet that no registration renders any more: reported, and with `--prune`
//! deleted, then their token with them (the Key Vault secret or the Kubernetes Secret, where the
//! registration kept it when it was last registered from this cache).
//!
//! Only a runner whose note names this fleet and whose group or project is one the
//! registrations name is a candidate; with `--env`, only those of the environments given. A
//! runner with the old note (no fleet) is reported, never deleted.

use super::inventory::Seen;
use super::note::Note;
use super::store;
use super::sync::Cx;
use std::collections::BTreeSet;

/// Reports or deletes the runners of this fleet that `rendered` (every registration's key,
/// whatever `--env` selected) no longer holds.
pub fn stale(cx: &mut Cx, rendered: &BTreeSet<String>) {
    let places = cx.inv.owners();
    let inv = cx.inv;
    for s in inv.runners.values() {
        let Some(note) = &s.note else { continue };
        let key = note.key();
        if rendered.contains(key) || !super::selected(cx.opts, key) {
            continue;
        }
        let placed = s.owners.iter().find(|o| places.contains(o)).copied();
        match (note, placed) {
            (Note::Fleet { fleet, .. }, Some(owner)) if fleet == cx.fleet => {
                prune_one(cx, key, s, owner);
            }
            (Note::Fleet { fleet, .. }, None) if fleet == cx.fleet => cx.say(&format!(
                "  elsewhere {key} (runner {}): no longer rendered, and not in a group or \
                 project the registrations name; not touched",
                s.id
            )),
            (Note::Legacy { .. }, Some(_)) => cx.say(&format!(
                "  legacy   {key} (runner {}): the old note names no fleet and no registration \
                 renders it; not touched",
                s.id
            )),
            _ => {}
        }
    }
}

fn prune_one(cx: &mut Cx, key: &str, s: &Seen, owner: super::inventory::Owner) {
    let id = s.id;
    if !cx.opts.prune {
        cx.outcome.stale += 1;
        return cx.say(&format!(
            "  stale    {key} (runner {id}): no longer rendered; --prune deletes it"
        ));
    }
    cx.outcome.changes += 1;
    let token = cx.cache.destination(key).cloned();
    let token_words = token.as_ref().map_or_else(
        || "where its token was kept is not known here (no earlier run with this cache): delete it by hand".to_owned(),
        |d| format!("its token at {d}"),
    );
    if cx.opts.dry_run {
        return cx.say(&format!(
            "  would delete {key} (runner {id}) and {token_words}"
        ));
    }
    if let Err(e) = cx
        .verify(s, Some(owner))
        .and_then(|_| cx.api.delete(id).map_err(|e| e.to_string()))
    {
        return cx.fail(key, &e);
    }
    cx.cache.forget(id);
    let Some(dest) = token else {
        return cx.say(&format!("  deleted  {key} (runner {id}); {token_words}"));
    };
    match store::remove(&dest) {
        Ok(()) => {
            cx.cache.forget_key(key);
            cx.say(&format!(
                "  deleted  {key} (runner {id}) and its token at {dest}"
            ));
        }
        Err(e) => cx.fail(
            key,
            &format!("runner {id} deleted, its token at {dest} not: {e}; delete it by hand"),
        ),
    }
}
