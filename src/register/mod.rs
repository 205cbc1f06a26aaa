//! `runnergen register`: the one part of runnergen that talks to the network. It reads the
//! rendered `registration.json` files (never the spec) and makes GitLab match them,
//! idempotently, touching only what this fleet owns:
//!
//! - a runner is this fleet's when its `maintenance_note` names the fleet (`managed by
//!   runnergen: <fleet>/<env>/<runner>`, `note`) and it is in the group or project its
//!   registration names; one with the note elsewhere is reported, never touched; one with the
//!   old note (no fleet) is taken over only with `--adopt`;
//! - GitLab is read where the registrations point (`inventory`: each group's or project's
//!   runners, page by page, details from the `cache` while unchanged);
//! - a missing runner is created (`POST /user/runners`) and its token goes straight to its
//!   destination (`store`); one whose properties differ is updated (`PUT /runners/:id`); extra
//!   ones in its place are deleted (`sync`);
//! - `--rotate` resets each runner's token, stores the new one and prints the restart;
//! - `--prune` deletes this fleet's runners no longer rendered, and their tokens (`prune`);
//! - `--env` limits all of it to some environments; `--dry-run` prints the plan.
//!
//! Every call goes through `transport`: HTTPS only, bounded, masked. A failure is reported for
//! its runner and the others go on.

mod cache;
pub use cache::default_dir as default_cache_dir;
pub mod gitlab;
mod inventory;
pub mod note;
mod prune;
pub mod store;
mod sync;
pub mod transport;

use crate::layout::{Location, RunnerFile};
use gitlab::{GitLab, Secret};
use note::Note;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use store::Destination;

/// Where a runner's manager runs, for the restart after `--rotate`.
#[derive(Clone, Debug)]
pub struct Manager {
    pub namespace: String,
    pub deployment: String,
    /// Reloader restarts it when its token Secret changes (`tokenSource.restartOnRotation`).
    pub restarts_on_rotation: bool,
}

/// One rendered registration.json.
#[derive(Clone, Debug)]
pub struct Registration {
    /// `<env>/<runner>`, from the file's place in the output directory.
    pub key: String,
    /// The fleet its note names.
    pub fleet: String,
    pub gitlab_url: String,
    pub runner_type: String,
    /// `groups` or `projects`, and the full path.
    pub namespace: (&'static str, String),
    /// The properties GitLab keeps and `PUT /runners/:id` updates.
    pub properties: Map<String, Value>,
    pub destination: Destination,
    pub manager: Option<Manager>,
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
    let fleet = match s("maintenance_note").as_deref().and_then(Note::parse) {
        Some(Note::Fleet { fleet, key: k }) if k == key => fleet,
        _ => {
            return Err(format!(
                "has no maintenance_note `managed by runnergen: <fleet>/{key}`; render it again"
            ));
        }
    };
    let m = &v["manager"];
    let manager = match (m["namespace"].as_str(), m["deployment"].as_str()) {
        (Some(ns), Some(dep)) => Some(Manager {
            namespace: ns.to_owned(),
            deployment: dep.to_owned(),
            restarts_on_rotation: m["restarts_on_rotation"].as_bool().unwrap_or(false),
        }),
        _ => None,
    };
    Ok(Registration {
        key,
        fleet,
        manager,
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

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub dry_run: bool,
    pub prune: bool,
    pub rotate: bool,
    /// Take over runners with the old note (no fleet) in their registration's place.
    pub adopt: bool,
    /// Only these environments (all when empty).
    pub envs: Vec<String>,
    /// Where the cache lives (none: nothing cached).
    pub cache_dir: Option<PathBuf>,
    /// Read every listed runner's details afresh.
    pub refresh: bool,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: usize,
    pub failures: usize,
    /// Runners no longer rendered, left (no `--prune`).
    pub stale: usize,
    /// Tokens reset.
    pub rotated: usize,
    /// Requests sent to GitLab.
    pub requests: usize,
}

/// The registrations of the environments `envs` selects (all when empty); none is an error
/// that lists the environments found.
pub fn select(
    out: &Path,
    all: Vec<Registration>,
    envs: &[String],
) -> Result<Vec<Registration>, String> {
    let env_of = |r: &Registration| r.key.split('/').next().unwrap_or_default().to_owned();
    let found: BTreeSet<String> = all.iter().map(env_of).collect();
    if found.is_empty() {
        return Err(format!(
            "no registration.json under {}: nothing to register (render the spec there first)",
            out.display()
        ));
    }
    let missing: Vec<&str> = envs
        .iter()
        .filter(|e| !found.contains(*e))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no registration.json for environment {} under {}; environments found: {}",
            missing.join(", "),
            out.display(),
            found.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|r| envs.is_empty() || envs.contains(&env_of(r)))
        .collect())
}

/// Whether `--env` selects the environment of `key` (`<env>/<runner>`).
pub fn selected(opts: &Options, key: &str) -> bool {
    let env = key.split('/').next().unwrap_or_default();
    opts.envs.is_empty() || opts.envs.iter().any(|e| e == env)
}

impl Registration {
    /// Where it puts its runner and its token, for the cache.
    fn place(&self) -> cache::Place {
        cache::Place {
            kind: self.namespace.0.to_owned(),
            path: self.namespace.1.clone(),
            runner_type: self.runner_type.clone(),
            destination: self.destination.clone(),
        }
    }
}

/// The one fleet the registrations name.
fn fleet_of(regs: &[Registration]) -> Result<String, String> {
    let fleets: BTreeSet<&str> = regs.iter().map(|r| r.fleet.as_str()).collect();
    match fleets.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Ok((*one).to_owned()),
        many => Err(format!(
            "the registrations name more than one fleet ({}); register one rendered spec at a time",
            many.join(", ")
        )),
    }
}

/// Makes the GitLab of every selected registration match `out`. `say` gets one line per
/// runner. Every URL is checked (https only) before anything is sent.
pub fn run(
    out: &Path,
    token: &Secret,
    opts: &Options,
    say: &mut dyn FnMut(&str),
) -> Result<Outcome, String> {
    let all = read(out)?;
    let rendered: BTreeSet<String> = all.iter().map(|r| r.key.clone()).collect();
    let regs = select(out, all, &opts.envs)?;
    let fleet = fleet_of(&regs)?;
    let mut by_gitlab: BTreeMap<String, Vec<Registration>> = BTreeMap::new();
    for r in regs {
        transport::check_url(&r.gitlab_url).map_err(|e| format!("{}: {e}", r.key))?;
        by_gitlab
            .entry(r.gitlab_url.trim().trim_end_matches('/').to_owned())
            .or_default()
            .push(r);
    }
    let mut outcome = Outcome::default();
    for (url, regs) in by_gitlab {
        let api = GitLab::new(&url, token.clone()).map_err(|e| e.to_string())?;
        let mut cache = cache::Cache::load(opts.cache_dir.as_deref(), &url, &fleet, opts.refresh);
        // Where runners no longer rendered were registered: listed too, for `--prune`.
        let gone = cache
            .registered()
            .iter()
            .filter(|(key, _)| !rendered.contains(*key) && selected(opts, key))
            .filter_map(|(_, p)| inventory::Listing::of(p))
            .collect();
        let inv =
            inventory::take(&api, &regs, gone, &mut cache).map_err(|e| format!("{url}: {e}"))?;
        say(&format!(
            "GitLab {url}: fleet {fleet}, {} runners rendered; {} runners listed in {} \
             listings, {} read in detail",
            regs.len(),
            inv.runners.len(),
            inv.listings,
            inv.details_read,
        ));
        let mut cx = sync::Cx {
            api: &api,
            inv: &inv,
            cache: &mut cache,
            fleet: &fleet,
            opts,
            outcome: &mut outcome,
            say,
        };
        for reg in &regs {
            cx.cache.remember(&reg.key, reg.place());
            sync::sync(&mut cx, reg);
        }
        prune::stale(&mut cx, &rendered);
        if let Err(e) = cache.save() {
            say(&format!("  warning: {e}"));
        }
        outcome.requests += api.requests();
        say(&format!("GitLab {url}: {} requests", api.requests()));
    }
    if outcome.rotated > 0 {
        say(
            "The old tokens stopped working at once: a manager takes no jobs until it restarts \
             with the new token (the restart lines above; Reloader does it where configured).",
        );
    }
    Ok(outcome)
}
