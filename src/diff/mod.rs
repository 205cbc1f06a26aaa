//! Comparing what a spec renders with what a directory holds (`runnergen diff`), or two
//! environments of one spec with each other (the promotion preview).
//!
//! Changes are semantic: YAML, JSON and TOML documents are compared per resource and per key
//! path, insensitive to key order and formatting, with a unified text diff for context.
//! Security-relevant changes (new or widened Azure roles, Graph permissions, Kubernetes access,
//! privileged pods, untagged jobs, protection, token source) are ranked and listed first.
//!
//! Cost: files are compared byte for byte first; only files that differ are parsed, so a
//! no-change diff costs one read of the directory plus the in-memory render.

mod promotion;
mod security;
mod semantic;

pub use promotion::diff_environments;
pub use security::{SecurityChange, SecurityKind, contains_scope, security_changes};
pub use semantic::{FieldChange, ResourceChange, field_changes, flatten, mask};

use crate::access::Access;
use crate::base::Base;
use crate::layout::Location;
use crate::model::Fleet;
use crate::readback;
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

/// Compares the tree `fleet` renders (manifest included) with a committed output directory.
pub fn diff_tree(fleet: &Fleet, tree: &Tree, base: Base) -> Report {
    let Base {
        label,
        owned,
        files: mut existing,
        same,
    } = base;
    let mut old: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut files = Vec::new();
    let paths: BTreeSet<&str> = tree
        .paths()
        .chain(owned.iter().map(String::as_str))
        .collect();
    for path in paths {
        if same.contains(path) {
            continue;
        }
        let before = existing.remove(path);
        let after = tree.get(path);
        if before.as_deref() == after {
            continue;
        }
        let status = match (&before, after) {
            (None, Some(_)) => Status::Added,
            (Some(_), None) => Status::Removed,
            _ => Status::Changed,
        };
        let location = Location::of(path);
        files.push(FileChange {
            path: path.to_owned(),
            environment: location.env().map(str::to_owned),
            group: location.group().map(str::to_owned),
            status,
            resources: semantic::resource_changes(path, before.as_deref(), after),
            diff: semantic::text_diff(
                before.as_deref().unwrap_or_default(),
                after.unwrap_or_default(),
            ),
        });
        if let Some(b) = before {
            old.insert(path.to_owned(), b);
        }
    }
    // Security facts of the environments with a changed file: the directory's side read back
    // from its files (unchanged files are the tree's bytes), the spec's side from the model.
    let touched: BTreeSet<String> = files.iter().filter_map(|f| f.environment.clone()).collect();
    let changed: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for (path, bytes) in tree.iter() {
        if !changed.contains(path)
            && Location::of(path)
                .env()
                .is_some_and(|e| touched.contains(e))
        {
            old.insert(path.to_owned(), bytes.to_vec());
        }
    }
    let before = readback::access(&old);
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
    SecurityChange::sort(&mut security);
    Report {
        from: label,
        to: "spec".into(),
        security,
        changes: Changes::Files(files),
    }
}
