//! What `register` read of GitLab's runners last time, so that a run where nothing changed
//! reads the listings and not every runner's details again (a list entry has no note, no tags
//! and no owner: GitLab `lib/api/entities/ci/runner.rb`).
//!
//! One file per GitLab and fleet under `$XDG_CACHE_HOME/runnergen` (else `~/.cache/runnergen`;
//! `register --cache-dir` names another folder), 0600 in a 0700 folder. It holds runner details
//! as GitLab answers them to anyone who may read the runner (no token) and where each runner's
//! token is kept, so that `--prune` can delete it once the runner's registration.json is gone.
//!
//! A cached entry is used only while the runner's list entry (description, paused, type,
//! creation) is unchanged and for at most `MAX_AGE`; nothing is changed on its word alone:
//! before any write the runner's details are read afresh and its ownership checked again.
//! `register --refresh` reads every runner's details afresh.

use super::store::Destination;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long cached details are trusted: a hand edit in GitLab's UI that the list does not show
/// is noticed within a day.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The list entry's fields that tell a cached entry still holds.
const LISTED: &[&str] = &[
    "description",
    "paused",
    "active",
    "runner_type",
    "created_at",
];
/// The details kept.
const DETAILS: &[&str] = &[
    "id",
    "runner_type",
    "description",
    "paused",
    "tag_list",
    "run_untagged",
    "locked",
    "access_level",
    "maximum_timeout",
    "maintenance_note",
    "groups",
    "projects",
];

#[derive(Default)]
pub struct Cache {
    path: Option<PathBuf>,
    /// By runner ID: `{"listed": …, "details": …, "at": seconds}`.
    runners: BTreeMap<u64, Value>,
    /// Where `<env>/<runner>` was registered and its token kept, as its registration said.
    registered: BTreeMap<String, Place>,
}

/// Where a registration put its runner and its token.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Place {
    /// `groups` or `projects`, and the full path.
    pub kind: String,
    pub path: String,
    pub runner_type: String,
    pub destination: Destination,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The default folder: `$XDG_CACHE_HOME/runnergen`, else `$HOME/.cache/runnergen`.
pub fn default_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .map(|d| d.join("runnergen"))
}

/// FNV-1a 64 of `s`: a file name per GitLab and fleet.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn pick(v: &Value, keys: &[&str]) -> Value {
    let m: Map<String, Value> = keys
        .iter()
        .filter_map(|k| v.get(*k).map(|x| ((*k).to_owned(), x.clone())))
        .collect();
    Value::Object(m)
}

impl Cache {
    /// The cache of `gitlab` and `fleet` in `dir` (none: nothing kept); `fresh` forgets the
    /// runners' details read before, but keeps where tokens are.
    pub fn load(dir: Option<&Path>, gitlab: &str, fleet: &str, fresh: bool) -> Cache {
        let Some(dir) = dir else {
            return Cache::default();
        };
        let path = dir.join(format!(
            "register-{:016x}.json",
            fnv(&format!("{gitlab}\n{fleet}"))
        ));
        let saved: Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let young = |e: &&Value| {
            e["at"]
                .as_u64()
                .is_some_and(|at| now().saturating_sub(at) < MAX_AGE.as_secs())
        };
        let runners = saved["runners"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|_| !fresh)
            .filter_map(|(id, e)| Some((id.parse().ok()?, e)))
            .filter(|(_, e)| young(e))
            .map(|(id, e)| (id, e.clone()))
            .collect();
        let registered = saved["registered"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, d)| Some((k.clone(), serde_json::from_value(d.clone()).ok()?)))
            .collect();
        Cache {
            path: Some(path),
            runners,
            registered,
        }
    }

    /// The cached details of a listed runner, while its list entry is as it was.
    pub fn details(&self, listed: &Value) -> Option<Value> {
        let id = listed["id"].as_u64()?;
        let e = self.runners.get(&id)?;
        (e["listed"] == pick(listed, LISTED)).then(|| e["details"].clone())
    }

    /// Keeps a runner's list entry and details (read now).
    pub fn keep(&mut self, listed: &Value, details: &Value) {
        if let Some(id) = listed["id"].as_u64() {
            let e = json!({"listed": pick(listed, LISTED), "details": pick(details, DETAILS), "at": now()});
            self.runners.insert(id, e);
        }
    }

    /// Forgets a runner (changed or deleted: its details are read again next time).
    pub fn forget(&mut self, id: u64) {
        self.runners.remove(&id);
    }

    /// Keeps only the runners listed in this run.
    pub fn retain(&mut self, listed: &std::collections::BTreeSet<u64>) {
        self.runners.retain(|id, _| listed.contains(id));
    }

    /// Remembers where a registration puts its runner and its token.
    pub fn remember(&mut self, key: &str, place: Place) {
        self.registered.insert(key.to_owned(), place);
    }

    /// Where `key` was registered from this cache, by key.
    pub fn registered(&self) -> &BTreeMap<String, Place> {
        &self.registered
    }

    pub fn destination(&self, key: &str) -> Option<&Destination> {
        self.registered.get(key).map(|p| &p.destination)
    }

    /// Forgets a key whose runner and token are gone.
    pub fn forget_key(&mut self, key: &str) {
        self.registered.remove(key);
    }

    /// Writes the cache (0600 in a 0700 folder, replaced whole); a cache that cannot be
    /// written is said, never an error.
    pub fn save(&self) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let runners: Map<String, Value> = self
            .runners
            .iter()
            .map(|(id, e)| (id.to_string(), e.clone()))
            .collect();
        let text = json!({"runners": runners, "registered": self.registered}).to_string();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)
            })
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write the cache {}: {e}", path.display())
        })
    }
}
