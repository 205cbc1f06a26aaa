//! What the output directory holds: one walk that never follows a symbolic link nor leaves
//! its file system, the names of a write's own machinery (its journal, what it staged), and
//! the lock on the directory.

use super::WriteError;
use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The journal of a write between its commit and its end.
pub const JOURNAL: &str = ".runnergen-journal.json";
/// Suffix of the temporary file or folder a new version is staged in, beside its target.
pub(super) const STAGED: &str = ".runnergen-new";

/// A file or folder a write staged and did not commit (`.<name>.runnergen-new`).
pub(super) fn is_staged(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.starts_with('.') && name.ends_with(STAGED)
}

/// True when a write was interrupted after its commit: the directory holds part of a new
/// render until the next `render` finishes it.
pub fn interrupted(dir: &Path) -> bool {
    fs::symlink_metadata(dir.join(JOURNAL)).is_ok()
}

/// The regular files of `dir` by relative path, from one walk (see [`walk`]), without what an
/// interrupted write staged (nor its journal): what a comparison with the directory reads.
pub fn files_of(dir: &Path) -> HashSet<String> {
    walk(dir, &|_| true)
        .into_iter()
        .map(|(rel, _)| rel)
        .filter(|rel| !is_staged(rel) && rel != JOURNAL)
        .collect()
}

/// Every regular file under `dir` with its relative path, in the folders `enter` accepts (by
/// relative path), without following links or crossing into another file system; folders are
/// read on every core (a large tree is a thousand folders). A staged folder is listed as a
/// file, not entered. The order is the same on every walk of the same directory.
pub(super) fn walk(dir: &Path, enter: &(dyn Fn(&str) -> bool + Sync)) -> Vec<(String, PathBuf)> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => walk_folder(dir, "", device(&m), enter),
        _ => Vec::new(),
    }
}

fn walk_folder(
    dir: &Path,
    rel: &str,
    root_device: u64,
    enter: &(dyn Fn(&str) -> bool + Sync),
) -> Vec<(String, PathBuf)> {
    use rayon::prelude::*;
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        // The entry's own type: a link is neither a file nor a folder here.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let child = if rel.is_empty() {
            name.into_owned()
        } else {
            format!("{rel}/{name}")
        };
        // A staged folder is listed, not entered: the clean-up removes it whole.
        if kind.is_file() || (kind.is_dir() && is_staged(&child)) {
            files.push((child, entry.path()));
        } else if kind.is_dir() && enter(&child) {
            folders.push((child, entry.path()));
        }
    }
    files.sort();
    folders.sort();
    let below: Vec<Vec<(String, PathBuf)>> = folders
        .into_par_iter()
        .filter(|(_, path)| {
            // A folder on another file system (a mount point) is not entered.
            fs::symlink_metadata(path).is_ok_and(|m| device(&m) == root_device)
        })
        .map(|(child, path)| walk_folder(&path, &child, root_device, enter))
        .collect();
    files.extend(below.into_iter().flatten());
    files
}

/// The file system a file is on (0 where the platform does not say).
pub(super) fn device(meta: &fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::dev(meta)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// A lock on an output directory, released when dropped.
pub struct Lock(#[allow(dead_code)] File);

/// Locks `dir` itself (`flock`): exclusive for a write, shared for a reader; `on_wait` is
/// called once when another runnergen holds it, before waiting.
pub(super) fn lock(
    dir: &Path,
    shared: bool,
    on_wait: Option<fn(&Path)>,
) -> Result<Lock, WriteError> {
    let f = File::open(dir).map_err(|e| super::err("cannot open", dir, e))?;
    let try_lock = if shared {
        f.try_lock_shared()
    } else {
        f.try_lock()
    };
    match try_lock {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            if let Some(cb) = on_wait {
                cb(dir);
            }
            let locked = if shared { f.lock_shared() } else { f.lock() };
            locked.map_err(|e| super::err("cannot lock", dir, e))?;
        }
        Err(fs::TryLockError::Error(e)) => return Err(super::err("cannot lock", dir, e)),
    }
    Ok(Lock(f))
}

/// A shared lock for reading `dir` while no render writes it; none when `dir` does not exist.
pub fn read_lock(dir: &Path, on_wait: Option<fn(&Path)>) -> Result<Option<Lock>, WriteError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => lock(dir, true, on_wait).map(Some),
        _ => Ok(None),
    }
}
