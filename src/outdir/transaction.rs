//! A write in progress: the directory locked and repaired, the render's files handed over part
//! by part and staged where they differ from the directory's, then committed or aborted.

use super::base::Base;
use super::compare::{Compare, Difference, SMALL_PART};
use super::manifest::MANIFEST;
use super::scan::{Lock, lock};
use super::stage::{Folder, make_parents, stage};
use super::{Crash, Hook, Options, Step, Summary, WriteError, err, journal, step};
use crate::tree::Tree;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// A write in progress: the directory locked and repaired, then the files handed to
/// [`Writer::put`] part by part, from any thread, as a render produces them (a large fleet is
/// never held in memory whole). Each file is compared with the directory's as it comes and
/// staged when it differs; [`Writer::finish`] commits, [`Writer::abort`] removes what was
/// staged, so that an error leaves the directory as it was.
pub struct Writer<'h> {
    dir: PathBuf,
    opts: Options,
    hook: Hook<'h>,
    _lock: Lock,
    /// The folders the write created for the directory, deepest first: an aborted write
    /// removes them again (each only when empty).
    created: Vec<PathBuf>,
    /// The directory as the repair left it, and what was compared with it.
    compare: Compare<Base>,
    /// A hook stopped the write, as a kill would: nothing is cleaned up after it.
    crashed: AtomicBool,
    state: std::sync::Mutex<State>,
}

/// What a write has staged so far.
#[derive(Default)]
struct State {
    /// Files in the way that runnergen does not own (refused at the end, all at once, unless
    /// adopting).
    unowned: Vec<String>,
    /// Folders (relative paths) looked at for links and files in the way, and whether they
    /// exist: each is looked up once, and nothing under a missing folder can be in the way.
    checked: HashMap<String, bool>,
    /// Folders on the way to a staged file (see [`make_parents`]).
    folders: HashMap<String, Folder>,
    /// Staged file or folder → its target.
    renames: Vec<(PathBuf, PathBuf)>,
}

impl<'h> Writer<'h> {
    /// Creates `dir` if need be, locks it (waiting for another writer), finishes or cleans up
    /// what an interrupted write left, and walks it once.
    pub fn open(dir: &Path, opts: &Options, hook: Hook<'h>) -> Result<Writer<'h>, WriteError> {
        let created = create(dir, hook)?;
        let lock = lock(dir, false, opts.on_wait)?;
        // One walk of the directory serves the clean-up and the comparisons.
        let found = journal::repair(dir, hook)?
            .into_iter()
            .map(|(rel, _)| rel)
            .collect();
        Ok(Writer {
            dir: dir.to_owned(),
            opts: *opts,
            hook,
            _lock: lock,
            created,
            compare: Compare::new(Base::from_walk(dir, found)),
            crashed: AtomicBool::new(false),
            state: Default::default(),
        })
    }

    /// The directory as the write found it, locked and repaired: the committed side of what
    /// it writes, until it finishes.
    pub fn committed(&self) -> &Base {
        self.compare.base()
    }

    /// The caller's hook, noting a stop: after one, as after a kill, nothing is cleaned up.
    fn hook(&self) -> impl Fn(&Step) -> Result<(), Crash> + Sync + '_ {
        |s: &Step| {
            let stopped = (self.hook)(s);
            if stopped.is_err() {
                self.crashed.store(true, Ordering::SeqCst);
            }
            stopped
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic on another thread is a bug that ends the process; the state stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a part of the tree to the write (its files on every core when it is large: a
    /// runner's few files come from a render already running on every core): each file is
    /// compared with the directory's and staged when it differs.
    pub fn put(&self, part: &Tree) -> Result<(), WriteError> {
        use rayon::prelude::*;
        let one = |(rel, bytes): (&str, &[u8])| self.put_file(rel, bytes);
        if part.len() <= SMALL_PART {
            return part.iter().try_for_each(one);
        }
        let files: Vec<(&str, &[u8])> = part.iter().collect();
        files.into_par_iter().try_for_each(one)
    }

    /// The manifest of every path handed to the write (and of itself), written like any file.
    pub fn put_manifest(&self, source: &str) -> Result<(), WriteError> {
        let mut part = Tree::new();
        part.insert(MANIFEST, self.compare.manifest(source))
            .map_err(|e| WriteError(e.to_string()))?;
        self.put(&part)
    }

    fn put_file(&self, rel: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let exists = match self.compare.file(rel, bytes)?.0 {
            Difference::Same => return Ok(()),
            Difference::Added => false,
            Difference::Changed => true,
        };
        let place = {
            let mut st = self.state();
            if self.in_the_way(&mut st, rel)? {
                st.unowned.push(self.dir.join(rel).display().to_string());
                if !self.opts.adopt {
                    return Ok(());
                }
            }
            let State {
                folders, renames, ..
            } = &mut *st;
            let place = make_parents(&self.dir, rel, folders, renames, &self.hook())?;
            // A file in a staged folder moves with its folder; any other is recorded before it
            // is staged, so that an abort finds it whatever happens to the write.
            if !place.in_new_folder {
                renames.push((place.staged.clone(), place.target.clone()));
            }
            place
        };
        // A file that replaces none (added, not adopted) keeps the default mode.
        let replaces = exists || self.opts.adopt;
        step(&self.hook(), Step::Stage(place.staged.clone()))?;
        stage(
            &place.staged,
            replaces.then_some(place.target.as_path()),
            bytes,
        )
    }

    /// Refuses a path that would write through a link or replace a folder; true when a file
    /// runnergen does not own is in its way.
    fn in_the_way(&self, st: &mut State, path: &str) -> Result<bool, WriteError> {
        let mut missing = false;
        for (end, _) in path.match_indices('/') {
            let folder = &path[..end];
            if let Some(exists) = st.checked.get(folder) {
                missing |= !exists;
                continue;
            }
            let p = self.dir.join(folder);
            let meta = fs::symlink_metadata(&p);
            let exists = meta.is_ok();
            missing |= !exists;
            match meta {
                // A link or a file on the way is not remembered: every file under it meets the
                // same error, whichever core writes it.
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(WriteError(format!(
                        "refusing to write through the symbolic link {}",
                        p.display()
                    )));
                }
                Ok(m) if !m.is_dir() => {
                    return Err(WriteError(format!(
                        "{} is in the way of a folder runnergen writes",
                        p.display()
                    )));
                }
                _ => {
                    st.checked.insert(folder.to_owned(), exists);
                }
            }
        }
        if missing {
            return Ok(false);
        }
        let target = self.dir.join(path);
        let owned = self.compare.base().owned();
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => Err(WriteError(format!(
                "the folder {} is in the way of a file runnergen writes",
                target.display()
            ))),
            // The manifest's path is runnergen's whatever the manifest says.
            Ok(m) if (owned.contains(path) || path == MANIFEST) && m.is_file() => Ok(false),
            // Not ours: a link, or a file whose bytes are not what runnergen would write.
            Ok(_) => Ok(true),
            Err(_) => Ok(false),
        }
    }

    /// Commits what was staged: the journal (every rename and removal) appears in one rename,
    /// then the renames, removals of owned files no longer rendered, and folders left empty.
    /// Nothing is committed when nothing changed, nor when a file runnergen does not own is in
    /// the way (unless adopting): then what was staged is removed.
    pub fn finish(self) -> Result<Summary, WriteError> {
        let unowned = std::mem::take(&mut self.state().unowned);
        if !unowned.is_empty() && !self.opts.adopt {
            let mut unowned = unowned;
            unowned.sort();
            self.abort();
            return Err(WriteError(format!(
                "runnergen does not own {}, but would now write there; move it away, or render with --adopt to take it over",
                unowned.join(", ")
            )));
        }
        let summary = self.compare.finish().summary;
        if summary.is_clean() {
            return Ok(summary);
        }
        // Sorted, so that the journal of a write is the same whichever core staged what.
        let mut renames = std::mem::take(&mut self.state().renames);
        renames.sort();
        let hook = self.hook();
        if let Err(e) = journal::commit(&self.dir, &renames, &summary.removed, &hook) {
            // Before the commit: what was staged goes (the journal's own staged file too).
            self.state().renames = renames;
            self.abort();
            if !self.crashed.load(Ordering::SeqCst) {
                let _ = fs::remove_file(journal::pending(&self.dir));
            }
            return Err(e);
        }
        let removals: Vec<PathBuf> = summary.removed.iter().map(|p| self.dir.join(p)).collect();
        journal::apply(&self.dir, &renames, &removals, &hook)?;
        Ok(summary)
    }

    /// Removes what the write staged (and the folders it created for the directory, each when
    /// still empty): the directory is as it was. After a hook's stop nothing is removed, as
    /// after a kill; the next write's repair does it.
    pub fn abort(&self) {
        if self.crashed.load(Ordering::SeqCst) {
            return;
        }
        let hook = self.hook();
        let renames = std::mem::take(&mut self.state().renames);
        for (staged, _) in renames {
            let removed = if fs::symlink_metadata(&staged).is_ok_and(|m| m.is_dir()) {
                journal::remove_staged_folder(&staged, &hook)
            } else {
                step(&hook, Step::Remove(staged.clone())).map(|()| {
                    let _ = fs::remove_file(&staged);
                })
            };
            if removed.is_err() {
                return;
            }
        }
        for folder in &self.created {
            if step(&hook, Step::Remove(folder.clone())).is_err() {
                return;
            }
            let _ = fs::remove_dir(folder);
        }
    }
}

/// Refuses a link or a file at `dir`; creates it (and its missing parents) when it does not
/// exist, returning those it created, deepest first.
fn create(dir: &Path, hook: Hook) -> Result<Vec<PathBuf>, WriteError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(WriteError(format!(
            "refusing to write through the symbolic link {}",
            dir.display()
        ))),
        Ok(m) if !m.is_dir() => Err(WriteError(format!(
            "{} exists and is not a folder",
            dir.display()
        ))),
        Ok(_) => Ok(Vec::new()),
        Err(_) => {
            let created = dir
                .ancestors()
                .take_while(|a| !a.as_os_str().is_empty() && fs::symlink_metadata(a).is_err())
                .map(Path::to_owned)
                .collect();
            step(hook, Step::CreateDir(dir.to_owned()))?;
            fs::create_dir_all(dir).map_err(|e| err("cannot create", dir, e))?;
            Ok(created)
        }
    }
}
