//! What GitLab holds where the registrations point: the runners of each group and project a
//! registration names (listed with GitLab's `type` filter, page by page), each with its
//! details and its owner. A runner visible to the token elsewhere is never read: the cost of a
//! run grows with the pages of those listings and the runners whose list entry changed, not
//! with every runner the token can see.
//!
//! Details come from the cache while a runner's list entry is unchanged, else from `GET
//! /runners/:id`, `WORKERS` at a time.

use super::Registration;
use super::cache::Cache;
use super::gitlab::GitLab;
use super::note::Note;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many `GET /runners/:id` run at once.
const WORKERS: usize = 8;

/// A group (`groups`) or project (`projects`) and its numeric ID.
pub type Owner = (&'static str, u64);

/// One runner listed where a registration points.
#[derive(Clone, Debug)]
pub struct Seen {
    pub id: u64,
    /// `GET /runners/:id`, now or from the cache.
    pub details: Value,
    /// Whether `details` were read in this run.
    pub fresh: bool,
    /// Its group (the details' `groups`) or the projects whose listing of project runners
    /// holds it.
    pub owners: BTreeSet<Owner>,
    pub note: Option<Note>,
}

impl Seen {
    pub fn runner_type(&self) -> &str {
        self.details["runner_type"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
pub struct Inventory {
    /// `(kind, path)` → its ID, or why it could not be found.
    pub namespaces: BTreeMap<(&'static str, String), Result<u64, String>>,
    /// Every runner listed, by ID.
    pub runners: BTreeMap<u64, Seen>,
    /// Listings read (one per group or project and runner type), details read.
    pub listings: usize,
    pub details_read: usize,
}

impl Inventory {
    /// The group or project a registration names, by ID.
    pub fn target(&self, reg: &Registration) -> Result<Owner, String> {
        let (kind, path) = (reg.namespace.0, reg.namespace.1.clone());
        match self.namespaces.get(&(kind, path)) {
            Some(Ok(id)) => Ok((kind, *id)),
            Some(Err(e)) => Err(e.clone()),
            None => Err("its group or project was not looked up".into()),
        }
    }

    /// Every group and project a registration names, found.
    pub fn owners(&self) -> BTreeSet<Owner> {
        self.namespaces
            .iter()
            .filter_map(|((kind, _), id)| id.as_ref().ok().map(|id| (*kind, *id)))
            .collect()
    }
}

/// A group or project to list, by path, and the runner type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listing {
    pub kind: &'static str,
    pub path: String,
    pub runner_type: String,
}

impl Listing {
    /// Where a registration of an earlier run put its runner.
    pub fn of(p: &super::cache::Place) -> Option<Listing> {
        let kind = match p.kind.as_str() {
            "groups" => "groups",
            "projects" => "projects",
            _ => return None,
        };
        Some(Listing {
            kind,
            path: p.path.clone(),
            runner_type: p.runner_type.clone(),
        })
    }
}

/// The groups' and projects' IDs, their runner listings, and each listed runner's details:
/// where the registrations point, and where `gone` (registrations of earlier runs no longer
/// rendered) pointed.
pub fn take(
    api: &GitLab,
    regs: &[Registration],
    gone: Vec<Listing>,
    cache: &mut Cache,
) -> Result<Inventory, String> {
    let mut inv = Inventory::default();
    let mut listings: BTreeSet<(&'static str, u64, String)> = BTreeSet::new();
    let current = regs.iter().map(|r| Listing {
        kind: r.namespace.0,
        path: r.namespace.1.clone(),
        runner_type: r.runner_type.clone(),
    });
    for Listing {
        kind,
        path,
        runner_type,
    } in current.chain(gone)
    {
        let id = inv
            .namespaces
            .entry((kind, path))
            .or_insert_with_key(|(kind, path)| {
                api.namespace_id(kind, path).map_err(|e| e.to_string())
            });
        if let Ok(id) = id {
            listings.insert((kind, *id, runner_type));
        }
    }
    let listed = list(api, &listings)?;
    inv.listings = listings.len();
    let wanted: Vec<u64> = listed
        .iter()
        .filter(|(_, (entry, _))| cache.details(entry).is_none())
        .map(|(id, _)| *id)
        .collect();
    let fetched = fetch(api, &wanted)?;
    inv.details_read = fetched.len();
    for (id, (entry, mut owners)) in listed {
        let (details, fresh) = match fetched.get(&id) {
            Some(d) => (d.clone(), true),
            None => (cache.details(&entry).unwrap_or_default(), false),
        };
        if fresh {
            cache.keep(&entry, &details);
        }
        owners.extend(group_owners(&details));
        let note = details["maintenance_note"].as_str().and_then(Note::parse);
        inv.runners.insert(
            id,
            Seen {
                id,
                details,
                fresh,
                owners,
                note,
            },
        );
    }
    cache.retain(&inv.runners.keys().copied().collect());
    Ok(inv)
}

/// Each listing's runners, by ID, with the projects whose listing of project runners holds
/// them.
fn list(
    api: &GitLab,
    listings: &BTreeSet<(&'static str, u64, String)>,
) -> Result<BTreeMap<u64, (Value, BTreeSet<Owner>)>, String> {
    let mut listed: BTreeMap<u64, (Value, BTreeSet<Owner>)> = BTreeMap::new();
    for (kind, id, runner_type) in listings {
        let entries = api
            .namespace_runners(kind, *id, runner_type)
            .map_err(|e| e.to_string())?;
        for entry in entries {
            let Some(rid) = entry["id"].as_u64() else {
                continue;
            };
            let slot = listed
                .entry(rid)
                .or_insert_with(|| (entry, BTreeSet::new()));
            // A project lists its own project runners (and instance runners, filtered out by
            // `type`); a group lists its ancestors' too, so a group runner's owner is read
            // from its details.
            if *kind == "projects" {
                slot.1.insert(("projects", *id));
            }
        }
    }
    Ok(listed)
}

/// The groups a runner's details name (`groups`: the group of a group runner).
pub fn group_owners(details: &Value) -> impl Iterator<Item = Owner> + '_ {
    details["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["id"].as_u64())
        .map(|id| ("groups", id))
}

/// `GET /runners/:id` of each of `ids`, `WORKERS` at a time; the first failure ends it.
fn fetch(api: &GitLab, ids: &[u64]) -> Result<BTreeMap<u64, Value>, String> {
    let next = AtomicUsize::new(0);
    let found = Mutex::new(BTreeMap::new());
    let failed: Mutex<Option<String>> = Mutex::new(None);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(id) = ids.get(i) else { return };
            if failed.lock().is_ok_and(|f| f.is_some()) {
                return;
            }
            match api.runner(*id) {
                Ok(d) => {
                    if let Ok(mut f) = found.lock() {
                        f.insert(*id, d);
                    }
                }
                Err(e) => {
                    if let Ok(mut f) = failed.lock() {
                        f.get_or_insert(e.to_string());
                    }
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(ids.len()) {
            s.spawn(work);
        }
    });
    match failed.into_inner().unwrap_or_default() {
        Some(e) => Err(e),
        None => Ok(found.into_inner().unwrap_or_default()),
    }
}
