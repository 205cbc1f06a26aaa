//! The journal of a write: every rename and removal, written before any of them and renamed
//! into place in one step (the commit), then applied; a write interrupted after its commit is
//! rolled forward by the next one ([`repair`]), which also removes what an uncommitted write
//! staged. A journal is a file in the directory like any other, so anyone who can write there
//! can write one: before it is rolled forward, every path it names is checked as a write checks
//! its own ([`admit`]), and a journal runnergen cannot have written is refused, nothing touched.

use super::manifest::{MANIFEST, owned_at, pretty_json, read_regular};
use super::scan::{JOURNAL, STAGED, device, is_staged, walk};
use super::stage::staged_path;
use super::{Hook, Step, WriteError, err, step};
use crate::tree::is_safe_path;
use std::collections::{BTreeSet, HashSet};
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

/// Renames, removals and folders left empty, the manifest's rename last, then forgets the
/// journal. Every part is idempotent, so rolling a journal forward twice does no harm. The
/// manifest moves last so that, until every removal is done, the manifest in place is the one
/// that owns what the journal removes ([`admit`] checks a roll-forward's removals against it).
pub(super) fn apply(
    dir: &Path,
    renames: &[(PathBuf, PathBuf)],
    removals: &[PathBuf],
    hook: Hook,
) -> Result<(), WriteError> {
    use rayon::prelude::*;
    let manifest = dir.join(MANIFEST);
    let (last, renames): (Vec<_>, Vec<_>) = renames.iter().partition(|(_, t)| *t == manifest);
    // On every core.
    renames
        .par_iter()
        .try_for_each(|(staged, target)| rename(staged, target, hook))?;
    for path in removals {
        // Only a file or a link: a folder or a mount point now at an owned path stays.
        if fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
            step(hook, Step::Remove(path.clone()))?;
            fs::remove_file(path).map_err(|e| err("cannot remove", path, e))?;
        }
    }
    prune_empty(dir, removals, hook)?;
    for (staged, target) in last {
        rename(staged, target, hook)?;
    }
    step(hook, Step::Forget)?;
    fs::remove_file(dir.join(JOURNAL)).map_err(|e| err("cannot finish", dir, e))
}

/// Moves a staged file or folder into place; one already gone was moved by an earlier
/// roll-forward. A rename replaces an adopted link itself, never what it points to.
fn rename(staged: &Path, target: &Path, hook: Hook) -> Result<(), WriteError> {
    step(hook, Step::Rename(target.to_owned()))?;
    match fs::rename(staged, target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && fs::symlink_metadata(staged).is_err() => {
            Ok(())
        }
        other => other.map_err(|e| err("cannot move into place", target, e)),
    }
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
    let path = dir.join(JOURNAL);
    if fs::symlink_metadata(&path).is_ok() {
        // A committed journal is whole (the commit is a rename), so one that is not a regular
        // file, does not parse or names anything a write would not is not runnergen's.
        let (renames, removals) = admit(dir).map_err(|why| {
            WriteError(format!(
                "refusing the journal {}: {why}. runnergen did not write it: a write's journal names only files it staged or owns inside the directory, through folders, no link nor another file system on the way. Nothing was changed; look at the directory, remove the journal, then render again",
                path.display()
            ))
        })?;
        apply(dir, &renames, &removals, hook)?;
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

/// A journal's renames (staged → target) and removals.
type Admitted = (Vec<(PathBuf, PathBuf)>, Vec<PathBuf>);

/// A journal's renames and removals, each checked as a write checks its own paths; the reason
/// it cannot be runnergen's otherwise.
fn admit(dir: &Path) -> Result<Admitted, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Journal {
        removals: Vec<String>,
        renames: Vec<(String, String)>,
    }
    let bytes = read_regular(&dir.join(JOURNAL)).ok_or("it is not a regular file")?;
    let j: Journal =
        serde_json::from_slice(&bytes).map_err(|e| format!("it is not a write's journal ({e})"))?;
    let root = fs::symlink_metadata(dir)
        .map(|m| device(&m))
        .map_err(|e| e.to_string())?;
    // What the write owns afterwards: the staged manifest until it moves (last), then the one in
    // place; a folder a rename moves whole holds some of those files.
    let staged_manifest = staged_path(&dir.join(MANIFEST));
    let new = owned_at(&staged_manifest)
        .unwrap_or_else(|| owned_at(&dir.join(MANIFEST)).unwrap_or_default());
    let folders: HashSet<&str> = new
        .iter()
        .flat_map(|p| p.match_indices('/').map(|(end, _)| &p[..end]))
        .collect();
    let now = owned_at(&dir.join(MANIFEST)).unwrap_or_default();
    let mut renames = Vec::with_capacity(j.renames.len());
    for (staged, target) in &j.renames {
        for p in [staged, target] {
            safe(p)?;
        }
        if *staged != staged_name(target) {
            return Err(format!("{staged} is not where runnergen stages {target}"));
        }
        if !new.contains(target) && !folders.contains(target.as_str()) {
            return Err(format!(
                "it moves {target} into place, which runnergen does not write"
            ));
        }
        on_the_way(dir, target, root)?;
        renames.push((dir.join(staged), dir.join(target)));
    }
    let mut removals = Vec::with_capacity(j.removals.len());
    for p in &j.removals {
        safe(p)?;
        on_the_way(dir, p, root)?;
        // Until the manifest moves (last), the manifest in place owns what is removed; after,
        // every removal is done.
        if fs::symlink_metadata(dir.join(p)).is_ok() && !now.contains(p) {
            return Err(format!("it removes {p}, which runnergen does not own"));
        }
        removals.push(dir.join(p));
    }
    Ok((renames, removals))
}

fn safe(p: &str) -> Result<(), String> {
    if is_safe_path(p) && p != JOURNAL {
        Ok(())
    } else {
        Err(format!("{p:?} is not a path inside the directory"))
    }
}

/// `dir/.name.runnergen-new` for `dir/name`, relative.
fn staged_name(target: &str) -> String {
    match target.rsplit_once('/') {
        Some((up, name)) => format!("{up}/.{name}{STAGED}"),
        None => format!(".{target}{STAGED}"),
    }
}

/// Refuses a path whose folders on the way, or itself, are a link, not a folder, or on another
/// file system than the directory, as a write refuses them; a missing folder ends the look
/// (nothing below it exists).
fn on_the_way(dir: &Path, rel: &str, root: u64) -> Result<(), String> {
    let ends = rel
        .match_indices('/')
        .map(|(end, _)| end)
        .chain([rel.len()]);
    for end in ends {
        let p = dir.join(&rel[..end]);
        let Ok(m) = fs::symlink_metadata(&p) else {
            return Ok(());
        };
        let last = end == rel.len();
        if m.file_type().is_symlink() && !last {
            return Err(format!(
                "{} on the way to {rel} is a symbolic link",
                p.display()
            ));
        }
        if !last && !m.is_dir() {
            return Err(format!(
                "{} on the way to {rel} is not a folder",
                p.display()
            ));
        }
        if device(&m) != root {
            return Err(format!("{} is on another file system", p.display()));
        }
    }
    Ok(())
}
