//! Writing a rendered tree to its output directory, all or nothing.
//!
//! The new directory is staged beside the target: unchanged files are hard-linked from the old
//! one (so their bytes and timestamps stay as they were), changed and new files are written
//! fresh, files runnergen wrote before and no longer produces are left out, and files it does
//! not own are carried over untouched. Then the staged directory replaces the old one by
//! rename. On any error before the swap the old directory is exactly as it was.
//!
//! Architecture invariant: nothing is written outside the output directory and its staging
//! siblings, and nothing is written through a symbolic link.

use crate::tree::{Tree, is_safe_path};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The ownership manifest: the files runnergen wrote, relative to the output directory.
pub const MANIFEST: &str = ".runnergen-manifest.json";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

impl Summary {
    pub fn is_clean(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The manifest bytes for a tree (sorted paths, including the manifest itself).
pub fn manifest_for(tree: &Tree, source: &str) -> Vec<u8> {
    let mut files: Vec<&str> = tree.paths().collect();
    files.push(MANIFEST);
    files.sort();
    let v = serde_json::json!({
        "generator": "runnergen",
        "spec": source,
        "files": files,
    });
    crate::render::to_json(&v).into_bytes()
}

/// The files a previous render claimed, from the manifest in `dir` (safe paths only).
pub fn owned_files(dir: &Path) -> BTreeSet<String> {
    let path = dir.join(MANIFEST);
    let Ok(meta) = fs::symlink_metadata(&path) else {
        return BTreeSet::new();
    };
    if !meta.is_file() {
        return BTreeSet::new();
    }
    let Ok(text) = fs::read_to_string(&path) else {
        return BTreeSet::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return BTreeSet::new();
    };
    v.get("files")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str())
                .filter(|p| is_safe_path(p))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Reads, in one walk of `dir` that never follows a symbolic link, every regular file whose
/// relative path is in the tree or in the previous manifest. A file behind a symlinked folder,
/// or a symlink itself, is absent: runnergen neither reads nor writes through links.
pub fn read_relevant(tree: &Tree, dir: &Path) -> (BTreeSet<String>, BTreeMap<String, Vec<u8>>) {
    let owned = owned_files(dir);
    let mut files = BTreeMap::new();
    if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return (owned, files);
    }
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .min_depth(1)
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if (tree.get(&rel).is_some() || owned.contains(&rel))
            && let Ok(bytes) = fs::read(entry.path())
        {
            files.insert(rel, bytes);
        }
    }
    (owned, files)
}

/// Compares a tree (with its manifest) with what `dir` holds, without writing.
pub fn plan(tree: &Tree, dir: &Path) -> Summary {
    let (owned, existing) = read_relevant(tree, dir);
    let mut s = Summary::default();
    for (path, bytes) in tree.iter() {
        match existing.get(path) {
            None => s.added.push(path.to_owned()),
            Some(old) if old != bytes => s.changed.push(path.to_owned()),
            Some(_) => s.unchanged += 1,
        }
    }
    for path in owned {
        if tree.get(&path).is_none() && existing.contains_key(&path) {
            s.removed.push(path);
        }
    }
    s
}

#[derive(Debug)]
pub struct WriteError(pub String);

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(what: &str, path: &Path, e: io::Error) -> WriteError {
    WriteError(format!("{what} {}: {e}", path.display()))
}

fn sibling(dir: &Path, tag: &str) -> Result<PathBuf, WriteError> {
    let name = dir
        .file_name()
        .ok_or_else(|| {
            WriteError(format!(
                "{} has no directory name to write to",
                dir.display()
            ))
        })?
        .to_string_lossy()
        .into_owned();
    Ok(dir.with_file_name(format!(".{name}.runnergen-{tag}-{}", std::process::id())))
}

/// Creates the parent folders of `rel` inside `root`, refusing to pass through a symlink.
fn make_parents(root: &Path, rel: &str) -> Result<PathBuf, WriteError> {
    let mut p = root.to_path_buf();
    let comps: Vec<&str> = rel.split('/').collect();
    for comp in &comps[..comps.len() - 1] {
        p.push(comp);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(WriteError(format!(
                    "refusing to write through the symbolic link {}",
                    p.display()
                )));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(WriteError(format!(
                    "{} is in the way of a folder runnergen writes",
                    p.display()
                )));
            }
            Err(_) => fs::create_dir(&p).map_err(|e| err("cannot create", &p, e))?,
        }
    }
    p.push(comps[comps.len() - 1]);
    Ok(p)
}

/// Copies the old directory into the staging one: hard links for files (a copy where links
/// are not possible), symlinks recreated as links, `skip` left out.
fn carry_over(old: &Path, stage: &Path, skip: &BTreeSet<String>) -> Result<(), WriteError> {
    for entry in walkdir::WalkDir::new(old)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| WriteError(format!("cannot read {}: {e}", old.display())))?;
        let rel = entry
            .path()
            .strip_prefix(old)
            .expect("walkdir yields paths under its root");
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        let target = stage.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&target).map_err(|e| err("cannot create", &target, e))?;
        } else if skip.contains(&rel_str) {
            continue;
        } else if ft.is_symlink() {
            #[cfg(unix)]
            {
                let link =
                    fs::read_link(entry.path()).map_err(|e| err("cannot read", entry.path(), e))?;
                std::os::unix::fs::symlink(link, &target)
                    .map_err(|e| err("cannot link", &target, e))?;
            }
        } else if fs::hard_link(entry.path(), &target).is_err() {
            fs::copy(entry.path(), &target).map_err(|e| err("cannot copy", entry.path(), e))?;
        }
    }
    Ok(())
}

/// Removes folders that the removal of owned files left empty (never the root).
fn prune_empty(root: &Path, removed: &[String]) {
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for rel in removed {
        let mut p = Path::new(rel).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(root.join(d));
            p = d.parent();
        }
    }
    // Deepest first.
    for d in dirs.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// Writes `tree` (which must include its manifest) to `dir`. Returns what changed.
pub fn write(tree: &Tree, dir: &Path) -> Result<Summary, WriteError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(WriteError(format!(
                "refusing to write through the symbolic link {}",
                dir.display()
            )));
        }
        Ok(m) if !m.is_dir() => {
            return Err(WriteError(format!(
                "{} exists and is not a folder",
                dir.display()
            )));
        }
        _ => {}
    }
    let summary = plan(tree, dir);
    if summary.is_clean() && dir.exists() {
        return Ok(summary);
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| err("cannot create", parent, e))?;
    }
    let stage = sibling(dir, "stage")?;
    let _ = fs::remove_dir_all(&stage);
    let result = (|| {
        fs::create_dir(&stage).map_err(|e| err("cannot create", &stage, e))?;
        let mut skip: BTreeSet<String> = summary.removed.iter().cloned().collect();
        skip.extend(summary.changed.iter().cloned());
        skip.extend(summary.added.iter().cloned());
        if dir.exists() {
            carry_over(dir, &stage, &skip)?;
        }
        for path in summary.added.iter().chain(&summary.changed) {
            let target = make_parents(&stage, path)?;
            if fs::symlink_metadata(&target).is_ok() {
                // An unowned symlink or file sits where an owned file goes: replace the entry
                // itself, never what it points to.
                fs::remove_file(&target).map_err(|e| err("cannot replace", &target, e))?;
            }
            fs::write(&target, tree.get(path).expect("planned from the tree"))
                .map_err(|e| err("cannot write", &target, e))?;
        }
        prune_empty(&stage, &summary.removed);
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&stage);
        return Err(e);
    }
    // Swap: old aside, staged in, old removed. A failed second rename puts the old one back.
    if dir.exists() {
        let old = sibling(dir, "old")?;
        let _ = fs::remove_dir_all(&old);
        fs::rename(dir, &old).map_err(|e| {
            let _ = fs::remove_dir_all(&stage);
            err("cannot move aside", dir, e)
        })?;
        if let Err(e) = fs::rename(&stage, dir) {
            let _ = fs::rename(&old, dir);
            let _ = fs::remove_dir_all(&stage);
            return Err(err("cannot move into place", dir, e));
        }
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(&stage, dir).map_err(|e| {
            let _ = fs::remove_dir_all(&stage);
            err("cannot move into place", dir, e)
        })?;
    }
    Ok(summary)
}
