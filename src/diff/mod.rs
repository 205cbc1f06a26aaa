//! Comparing what a spec renders with what a directory holds (`runnergen diff`), or two
//! environments of one spec with each other (the promotion preview).
//!
//! Changes are semantic: YAML, JSON and TOML documents are compared per resource and per key
//! path, insensitive to key order and formatting, with a unified text diff for context.
//! Security-relevant changes (new or widened Azure roles, Graph permissions, Kubernetes access,
//! privileged pods, untagged jobs, protection, token source) are ranked and listed first.
//!
//! Cost: files are compared byte for byte first, as the render streams; only files that differ
//! are parsed and kept, so a no-change diff costs one read of the directory plus the render,
//! and holds no file. An environment with a change has its committed files read again for its
//! security facts.

mod promotion;
mod reach;
mod security;
mod semantic;

pub use promotion::diff_environments;
pub use security::{SecurityChange, SecurityKind, contains_scope};
pub use semantic::{FieldChange, ResourceChange, field_changes, flatten, mask};

use crate::access::Access;
use crate::layout::Location;
use crate::model::Fleet;
use crate::outdir::{self, Base, Compare, Compared};
use crate::readback;
use crate::render::{RenderError, Streamed};
use crate::tree::Tree;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Added,
    Removed,
    Changed,
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunnerChange {
    pub runner: String,
    /// `changed`, or `added`/`removed`: present only in the target / only in the source environment.
    pub status: Status,
    pub fields: Vec<FieldChange>,
    /// Every difference of the runner is declared as intended.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expected: bool,
}

/// What differs: files (a rendered tree against a directory) or runners (two environments).
#[derive(Clone, Debug, PartialEq)]
pub enum Changes {
    Files(Vec<FileChange>),
    Runners(Vec<RunnerChange>),
}

impl Changes {
    pub fn len(&self) -> usize {
        match self {
            Changes::Files(f) => f.len(),
            Changes::Runners(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many changes have `status`.
    pub fn count(&self, status: Status) -> usize {
        match self {
            Changes::Files(f) => f.iter().filter(|c| c.status == status).count(),
            Changes::Runners(r) => r.iter().filter(|c| c.status == status).count(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub from: String,
    pub to: String,
    /// Widening changes first.
    pub security: Vec<SecurityChange>,
    pub changes: Changes,
    /// The access of each runner with a security change, before and after, in the order of
    /// (environment, runner): what the merge-request note's picture draws.
    pub access: Vec<Touched>,
}

/// One runner's access on the two sides of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct Touched {
    pub environment: String,
    pub runner: String,
    pub old: Access,
    pub new: Access,
}

/// The runners `security` names, each with its two sides from `pair`.
fn touched_runners(
    security: &[SecurityChange],
    pair: impl Fn(&str, &str) -> Option<(Access, Access)>,
) -> Vec<Touched> {
    let keys: BTreeSet<(&str, &str)> = security
        .iter()
        .map(|c| (c.environment.as_str(), c.runner.as_str()))
        .collect();
    keys.into_iter()
        .filter_map(|(env, runner)| {
            pair(env, runner).map(|(old, new)| Touched {
                environment: env.to_owned(),
                runner: runner.to_owned(),
                old,
                new,
            })
        })
        .collect()
}

impl Report {
    /// `tree` or `promotion`, as the JSON report calls it.
    pub fn mode(&self) -> &'static str {
        match self.changes {
            Changes::Files(_) => "tree",
            Changes::Runners(_) => "promotion",
        }
    }
    pub fn is_promotion(&self) -> bool {
        matches!(self.changes, Changes::Runners(_))
    }
    pub fn is_empty(&self) -> bool {
        self.security.is_empty() && self.changes.is_empty()
    }
    /// A change that widens privileges and was not declared as intended.
    pub fn widens(&self) -> bool {
        self.security.iter().any(|s| s.widens() && !s.expected)
    }

    /// Anything not declared as intended: what fails a promotion preview.
    pub fn unexpected(&self) -> bool {
        self.security.iter().any(|s| !s.expected)
            || match &self.changes {
                Changes::Files(f) => !f.is_empty(),
                Changes::Runners(r) => r.iter().any(|c| !c.expected),
            }
    }

    /// The runners with a security change as a Mermaid flowchart, after the change, the
    /// edges that widen marked (`flowchart::changes`); empty when no runner has one.
    pub fn flowchart(&self) -> String {
        let touched: Vec<crate::flowchart::Touched> = self
            .access
            .iter()
            .map(|t| {
                let mut widened = crate::flowchart::Widened::default();
                self.security
                    .iter()
                    .filter(|c| c.environment == t.environment && c.runner == t.runner)
                    .for_each(|c| c.kind.widened_edge(&mut widened));
                crate::flowchart::Touched {
                    environment: &t.environment,
                    runner: &t.runner,
                    old: &t.old,
                    new: &t.new,
                    widened,
                }
            })
            .collect();
        crate::flowchart::changes(&touched)
    }

    /// How many differences are declared as intended.
    pub fn expected(&self) -> usize {
        let runners = match &self.changes {
            Changes::Runners(r) => r.iter().filter(|c| c.expected).count(),
            Changes::Files(_) => 0,
        };
        runners + self.security.iter().filter(|s| s.expected).count()
    }
}

/// `{mode, from, to, security, files | runners}`; an empty list of changes is left out.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Report", 5)?;
        st.serialize_field("mode", self.mode())?;
        st.serialize_field("from", &self.from)?;
        st.serialize_field("to", &self.to)?;
        st.serialize_field("security", &self.security)?;
        match &self.changes {
            Changes::Files(f) if !f.is_empty() => st.serialize_field("files", f)?,
            Changes::Runners(r) if !r.is_empty() => st.serialize_field("runners", r)?,
            _ => {}
        }
        st.end()
    }
}

/// Why [`diff_render`] failed: the render, or reading the base part-way (git stopped
/// answering), after which no comparison can be trusted.
#[derive(Debug)]
pub enum DiffError {
    Render(RenderError),
    Base(String),
}

/// Compares what `fleet` renders (manifest included) with a committed output directory, as
/// the render streams (`outdir::Compare`): each part's files are compared with the base as
/// they come, on every core, and only those that differ are kept (a no-change diff holds no
/// file).
pub fn diff_render(fleet: &Fleet, source: &str, base: &Base) -> Result<Report, DiffError> {
    use rayon::prelude::*;
    use std::sync::Mutex;
    /// The base's bytes and the render's, of a file where they differ.
    type Sides = (Option<Vec<u8>>, Option<Vec<u8>>);
    let differ: Mutex<BTreeMap<String, Sides>> = Mutex::default();
    let keep = |path: &str, before: Option<Vec<u8>>, after: &[u8]| {
        let mut differ = differ.lock().unwrap_or_else(|p| p.into_inner());
        differ.insert(path.to_owned(), (before, Some(after.to_vec())));
    };
    let compare = Compare::new(base);
    // A path rendered twice is a bug in runnergen.
    let bug = |e: outdir::WriteError| DiffError::Render(RenderError::Invariant(e.0));
    crate::render::render_into(fleet, source, &|part: Tree| compare.put(&part, &keep)).map_err(
        |e| match e {
            Streamed::Render(e) => DiffError::Render(e),
            Streamed::Sink(e) => bug(e),
        },
    )?;
    compare.put_manifest(source, &keep).map_err(bug)?;
    let Compared { summary, same } = compare.finish();
    let mut differ = differ.into_inner().unwrap_or_else(|p| p.into_inner());
    // What the base's manifest owns and the render no longer writes: removed.
    for path in summary.removed {
        if let Some(before) = base.read(&path) {
            differ.insert(path, (Some(before), None));
        }
    }
    let files: Vec<FileChange> = differ
        .par_iter()
        .map(|(path, (before, after))| file_change(path, before.as_deref(), after.as_deref()))
        .collect();
    // The base's side of the environments with a changed file: the committed bytes of what
    // differs, and of the rest (equal to the render's) read back from the base.
    let mut old: BTreeMap<String, Vec<u8>> = differ
        .into_iter()
        .filter_map(|(path, (before, _))| Some((path, before?)))
        .collect();
    let touched: BTreeSet<String> = files.iter().filter_map(|f| f.environment.clone()).collect();
    let read: Vec<(String, Vec<u8>)> = same
        .par_iter()
        .filter(|p| Location::of(p).env().is_some_and(|e| touched.contains(e)))
        .filter_map(|p| Some((p.clone(), base.read(p)?)))
        .collect();
    old.extend(read);
    if let Some(e) = base.failure() {
        return Err(DiffError::Base(format!("cannot read {}: {e}", base.label)));
    }
    Ok(security_report(
        fleet,
        files,
        &old,
        &touched,
        base.label.clone(),
    ))
}

/// One file's change, from the base's bytes and the render's (none where absent).
fn file_change(path: &str, before: Option<&[u8]>, after: Option<&[u8]>) -> FileChange {
    let status = match (before, after) {
        (None, Some(_)) => Status::Added,
        (Some(_), None) => Status::Removed,
        _ => Status::Changed,
    };
    let location = Location::of(path);
    FileChange {
        path: path.to_owned(),
        environment: location.env().map(str::to_owned),
        group: location.group().map(str::to_owned),
        status,
        resources: semantic::resource_changes(path, before, after),
        diff: semantic::text_diff(before.unwrap_or_default(), after.unwrap_or_default()),
    }
}

/// The report of `files`, with the security changes of the `touched` environments: the base's
/// side read back from its files `old`, the spec's from the model.
fn security_report(
    fleet: &Fleet,
    files: Vec<FileChange>,
    old: &BTreeMap<String, Vec<u8>>,
    touched: &BTreeSet<String>,
    label: String,
) -> Report {
    let before = readback::access(old);
    let mut after: BTreeMap<(String, String), Access> = BTreeMap::new();
    for env in fleet
        .environments
        .iter()
        .filter(|e| touched.contains(&e.key))
    {
        for r in &env.runners {
            after.insert((env.key.clone(), r.key.clone()), Access::of(fleet, env, r));
        }
    }
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let empty = Access::default();
    let mut security: Vec<SecurityChange> = keys
        .into_iter()
        .flat_map(|key| {
            security_changes(
                &key.0,
                &key.1,
                before.get(key).unwrap_or(&empty),
                after.get(key).unwrap_or(&empty),
            )
        })
        .collect();
    security.extend(store_moves(&before, &after));
    SecurityChange::sort(&mut security);
    let access = touched_runners(&security, |env: &str, runner: &str| {
        let key = (env.to_owned(), runner.to_owned());
        let side = |m: &BTreeMap<(String, String), Access>| m.get(&key).cloned();
        (before.contains_key(&key) || after.contains_key(&key)).then(|| {
            (
                side(&before).unwrap_or_default(),
                side(&after).unwrap_or_default(),
            )
        })
    });
    Report {
        from: label,
        to: "spec".into(),
        security,
        changes: Changes::Files(files),
        access,
    }
}

/// The Key Vault store's identity deployed by another stack (an environment that starts or
/// stops deploying in shards): deleted by the stack it leaves, created anew by the other, so
/// its new client ID must be fed back before External Secrets Operator reads the vault again.
/// Once per environment, from any runner's two sides (each carries its environment's store).
fn store_moves(
    before: &BTreeMap<(String, String), Access>,
    after: &BTreeMap<(String, String), Access>,
) -> Vec<SecurityChange> {
    let mut moved: BTreeMap<&str, SecurityChange> = BTreeMap::new();
    for ((env, runner), new) in after {
        let Some(old) = before.get(&(env.clone(), runner.clone())) else {
            continue;
        };
        let (Some(id), Some(from), Some(to)) =
            (&new.store_identity, &old.store_stack, &new.store_stack)
        else {
            continue;
        };
        if from == to || old.store_identity.as_ref() != Some(id) {
            continue;
        }
        moved.entry(env).or_insert_with(|| SecurityChange {
            environment: env.clone(),
            runner: STORE.into(),
            kind: SecurityKind::IdentityStackChanged,
            message: format!(
                "managed identity {id} of the Key Vault store moves from stack {from} to {to}: deploying with deleteResources deletes it ({from} no longer declares it) and {to} creates it anew with a new client ID, so External Secrets Operator cannot read the vault until the new `_keyVaultStoreClientId` output is fed back (identityOutputs)"
            ),
            revocation: None,
            expected: false,
        });
    }
    moved.into_values().collect()
}

/// How a change of the Key Vault store, not of a runner, names its subject (no runner key
/// holds parentheses).
pub const STORE: &str = "(Key Vault store)";

/// What changes from `old` to `new` for runner `runner` of environment `env`.
pub fn security_changes(
    env: &str,
    runner: &str,
    old: &Access,
    new: &Access,
) -> Vec<SecurityChange> {
    let mut found = security::azure_changes(old, new);
    found.extend(security::kubernetes_changes(old, new));
    found.extend(security::registration_changes(old, new));
    found.extend(reach::reach_changes(old, new));
    found
        .into_iter()
        .map(|(kind, message, revocation)| SecurityChange {
            environment: env.to_owned(),
            runner: runner.to_owned(),
            kind,
            // A message quotes values of the files (settings, chart values): a secret written
            // into them is masked here as in the file diffs.
            message: semantic::mask_words(&message),
            revocation,
            expected: false,
        })
        .collect()
}
