//! The journal of a write: every rename and removal, written before any of them and renamed
//! into place in one step (the commit), then applied; a write interrupted after its commit is
//! rolled forward by the next one ([`repair`]), which also removes what an uncommitted write
//! staged.

use super::manifest::{pretty_json, read_json};
use super::scan::{JOURNAL, STAGED, is_staged, walk};
use super::{Hook, Step, WriteError, err, step};
use crate::tree::is_safe_path;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where the journal is written before the commit renames it into place.
pub(super) fn pending(dir: &Path) -> PathBuf {
    dir.join(format!(".{JOURNAL}{STAGED}"))
}

/// Writes the journal of these renames (staged → target) and removals (relative paths) and
/// commits it: it appears in one rename. Before that instant the write has changed nothing.
pub(super) fn commit(
    dir: &Path,
    renames: &[(PathBuf, PathBuf)],
    removals: &[String],
    hook: Hook,
) -> Result<(), WriteError> {
    // Written straight from its parts (keys in sorted order, as the manifest's): a large
    // fleet's journal is tens of thousands of renames.
    #[derive(serde::Serialize)]
    struct Journal<'a> {
        removals: &'a [String],
        renames: Vec<[String; 2]>,
    }
    let journal = Journal {
        removals,
        renames: renames
            .iter()
            .map(|(s, t)| [rel(dir, s), rel(dir, t)])
            .collect(),
    };
    let pending = pending(dir);
    step(hook, Step::Stage(pending.clone()))?;
    fs::write(&pending, pretty_json(&journal)).map_err(|e| err("cannot write", &pending, e))?;
    step(hook, Step::Commit)?;
    fs::rename(&pending, dir.join(JOURNAL)).map_err(|e| err("cannot commit", dir, e))
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .expect("under the output directory")
        .to_string_lossy()
        .replace('\\', "/")
}

/// Renames, removals and folders left empty, then forgets the journal. Every part is
/// idempotent, so rolling a journal forward twice does no harm.
pub(super) fn apply(
    dir: &Path,
    renames: &[(PathBuf, PathBuf)],
    removals: &[PathBuf],
    hook: Hook,
) -> Result<(), WriteError> {
    use rayon::prelude::*;
    // On every core; a staged file already gone was moved by an earlier roll-forward.
    renames.par_iter().try_for_each(|(staged, target)| {
        step(hook, Step::Rename(target.clone()))?;
        // A rename replaces an adopted link itself, never what it points to.
        match fs::rename(staged, target) {
            Err(e)
                if e.kind() == io::ErrorKind::NotFound && fs::symlink_metadata(staged).is_err() =>
            {
                Ok(())
            }
            other => other.map_err(|e| err("cannot move into place", target, e)),
        }
    })?;
    for path in removals {
        // Only a file or a link: a folder or a mount point now at an owned path stays.
        if fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
            step(hook, Step::Remove(path.clone()))?;
            fs::remove_file(path).map_err(|e| err("cannot remove", path, e))?;
        }
    }
    prune_empty(dir, removals, hook)?;
    step(hook, Step::Forget)?;
    fs::remove_file(dir.join(JOURNAL)).map_err(|e| err("cannot finish", dir, e))
}

/// Removes folders that the removal of owned files left empty, deepest first (never the root;
/// a folder that is not empty, or a mount point, stays).
fn prune_empty(root: &Path, removed: &[PathBuf], hook: Hook) -> Result<(), WriteError> {
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for path in removed {
        let mut p = path.parent();
        while let Some(d) = p.filter(|d| d.starts_with(root) && *d != root) {
            dirs.insert(d.to_owned());
            p = d.parent();
        }
    }
    for d in dirs.iter().rev() {
        if fs::read_dir(d).is_ok_and(|mut e| e.next().is_none()) {
            step(hook, Step::Remove(d.clone()))?;
            let _ = fs::remove_dir(d);
        }
    }
    Ok(())
}

/// Finishes a committed write (its journal), then removes the files and folders an uncommitted
/// one staged in the directory. Returns the directory's other files (a walk, see [`walk`]).
pub(super) fn repair(dir: &Path, hook: Hook) -> Result<Vec<(String, PathBuf)>, WriteError> {
    if let Some(j) = read_json::<serde_json::Value>(&dir.join(JOURNAL)) {
        let safe =
            |p: &serde_json::Value| p.as_str().filter(|p| is_safe_path(p)).map(|p| dir.join(p));
        let renames: Vec<(PathBuf, PathBuf)> = j["renames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pair| Some((safe(&pair[0])?, safe(&pair[1])?)))
            .collect();
        let removals: Vec<PathBuf> = j["removals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(safe)
            .collect();
        apply(dir, &renames, &removals, hook)?;
    } else if fs::symlink_metadata(dir.join(JOURNAL)).is_ok() {
        // A journal that does not parse was never committed (commit is a rename).
        step(hook, Step::Forget)?;
        let _ = fs::remove_file(dir.join(JOURNAL));
    }
    let mut kept = Vec::new();
    for (rel, path) in walk(dir, &|_| true) {
        if is_staged(&rel) {
            // A staged folder (see `stage::make_parents`) holds only what the write staged.
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                remove_staged_folder(&path, hook)?;
            } else {
                step(hook, Step::Remove(path.clone()))?;
                let _ = fs::remove_file(&path);
            }
        } else {
            kept.push((rel, path));
        }
    }
    Ok(kept)
}

/// Removes a folder runnergen staged, entry by entry, deepest first: no link is followed and
/// nothing mounted inside is entered (a mount point stays, and so does its folder).
pub(super) fn remove_staged_folder(root: &Path, hook: Hook) -> Result<(), WriteError> {
    for e in walkdir::WalkDir::new(root)
        .follow_links(false)
        .same_file_system(true)
        .contents_first(true)
        .into_iter()
        .flatten()
    {
        step(hook, Step::Remove(e.path().to_owned()))?;
        let _ = if e.file_type().is_dir() {
            fs::remove_dir(e.path())
        } else {
            fs::remove_file(e.path())
        };
    }
    Ok(())
}
