//! Staging a file beside its target: the temporary file (or, for a folder that does not exist
//! yet, the temporary folder) a write fills before its commit renames it into place.

use super::scan::STAGED;
use super::{Hook, Step, WriteError, err, step};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where a file is staged, and how it gets to its target.
pub(super) struct Place {
    pub staged: PathBuf,
    pub target: PathBuf,
    /// The file is staged inside a staged folder, which is renamed into place whole.
    pub in_new_folder: bool,
}

/// A folder on the way to a file: one that exists, or one staged under this path (a folder
/// that did not exist, or a folder inside one).
pub(super) enum Folder {
    Exists,
    Staged(PathBuf),
}

pub(super) fn staged_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .expect("a file path")
        .to_string_lossy()
        .into_owned();
    target.with_file_name(format!(".{name}{STAGED}"))
}

/// Writes `bytes` to a new file `staged`, with the mode of the file it will replace (if any).
/// The file is created exclusively (`O_EXCL`: never through a link); one left at that name is
/// removed first, though the repair already removed every staged file under the lock.
pub(super) fn stage(
    staged: &Path,
    replaces: Option<&Path>,
    bytes: &[u8],
) -> Result<(), WriteError> {
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(staged)
    };
    let mut file = match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(staged);
            create()
        }
        other => other,
    }
    .map_err(|e| err("cannot write", staged, e))?;
    io::Write::write_all(&mut file, bytes).map_err(|e| err("cannot write", staged, e))?;
    if let Some(target) = replaces
        && let Ok(m) = fs::symlink_metadata(target)
        && m.is_file()
    {
        fs::set_permissions(staged, m.permissions())
            .map_err(|e| err("cannot set the mode of", staged, e))?;
    }
    Ok(())
}

/// Makes the folders on the way to `rel` inside `root`: a missing folder is created as a
/// staged folder beside its target (`.<name>.runnergen-new`, with the default mode), and the
/// folders below it inside that one, without a look (nothing can be in them yet); existing
/// folders are left as they are, and anything else on the way (a link, a file) is an error.
/// `known` holds the folders (relative paths) already seen; each staged folder created goes to
/// `renames` with the folder it becomes as soon as it exists, so that an abort finds it.
pub(super) fn make_parents(
    root: &Path,
    rel: &str,
    known: &mut HashMap<String, Folder>,
    renames: &mut Vec<(PathBuf, PathBuf)>,
    hook: Hook,
) -> Result<Place, WriteError> {
    let mut parent: Option<&str> = None;
    for (end, _) in rel.match_indices('/') {
        let folder = &rel[..end];
        let name = &folder[parent.map_or(0, |p| p.len() + 1)..];
        if !known.contains_key(folder) {
            let made = match parent.and_then(|p| known.get(p)) {
                Some(Folder::Staged(up)) => {
                    let p = up.join(name);
                    step(hook, Step::CreateDir(p.clone()))?;
                    fs::create_dir(&p).map_err(|e| err("cannot create", &p, e))?;
                    Folder::Staged(p)
                }
                _ => existing_or_staged(root, folder, renames, hook)?,
            };
            known.insert(folder.to_owned(), made);
        }
        parent = Some(folder);
    }
    let target = root.join(rel);
    let file = &rel[parent.map_or(0, |p| p.len() + 1)..];
    Ok(match parent.and_then(|p| known.get(p)) {
        Some(Folder::Staged(up)) => Place {
            staged: up.join(file),
            target,
            in_new_folder: true,
        },
        _ => Place {
            staged: staged_path(&target),
            target,
            in_new_folder: false,
        },
    })
}

/// A folder under an existing one: left as it is when it is a folder, staged when missing.
fn existing_or_staged(
    root: &Path,
    folder: &str,
    renames: &mut Vec<(PathBuf, PathBuf)>,
    hook: Hook,
) -> Result<Folder, WriteError> {
    match fs::symlink_metadata(root.join(folder)) {
        // A link's own type: never a folder here.
        Ok(m) if m.is_dir() => Ok(Folder::Exists),
        Ok(_) => Err(WriteError(format!(
            "{} is in the way of a folder runnergen writes",
            root.join(folder).display()
        ))),
        Err(_) => {
            let target = root.join(folder);
            let p = staged_path(&target);
            step(hook, Step::CreateDir(p.clone()))?;
            fs::create_dir(&p).map_err(|e| err("cannot create", &p, e))?;
            renames.push((p.clone(), target));
            Ok(Folder::Staged(p))
        }
    }
}
