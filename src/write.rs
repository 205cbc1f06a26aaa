//! Writing a rendered tree to its output directory, in place, all or nothing, one writer at a
//! time, touching nothing runnergen does not own.
//!
//! 1. **Lock.** The output directory itself is locked (`flock`) for the whole write; a second
//!    render waits, and `diff`/`render --check` take a shared lock, so no reader sees a write
//!    half done.
//! 2. **Repair.** A journal left by an interrupted write is rolled forward, and temporary files
//!    of an interrupted write that never committed are removed; so are the staging folders the
//!    stage-and-swap writer of earlier versions left beside the directory.
//! 3. **Compare and stage**, part by part as the render hands files over ([`Writer::put`],
//!    from any thread): each file is compared with the directory's; one that differs goes to a
//!    temporary file beside its target (`.<name>.runnergen-new`), keeping the mode of the file
//!    it replaces; a folder that does not exist yet is staged whole, as a temporary folder of
//!    that name holding its files, and moves in one rename. A symbolic link on the way is an
//!    error; files runnergen does not own, in the way of ones it now produces, are one error
//!    naming them all at the end (`--adopt` takes them over). Any failure before the commit
//!    removes what was staged ([`Writer::abort`]).
//! 4. **Plan.** What to add, change and remove, from what was handed over and the previous
//!    ownership manifest.
//! 5. **Commit.** The journal (every rename and removal) is written and renamed into place:
//!    before this instant a crash leaves the old files, after it the next run finishes the new.
//! 6. **Apply.** Renames (on every core), removals of owned files, removal of folders that
//!    became empty, then the journal goes.
//!
//! Folders, modes, unowned files and anything mounted inside the directory are never moved,
//! recreated or recursed into: runnergen only ever creates, renames or removes single files it
//! owns, and removes folders only when empty.
//!
//! Architecture invariant: nothing is written outside the output directory, and nothing is
//! written through a symbolic link.

use crate::tree::{Tree, is_safe_path};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The ownership manifest: the files runnergen wrote, relative to the output directory.
pub const MANIFEST: &str = ".runnergen-manifest.json";
/// The journal of a write between its commit and its end.
pub const JOURNAL: &str = ".runnergen-journal.json";
/// A part of at most this many files is written on the calling thread (see [`Writer::put`]).
const SMALL_PART: usize = 64;
/// Suffix of the temporary file a new version is staged in, beside its target.
const STAGED: &str = ".runnergen-new";

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

/// How `write` behaves.
#[derive(Clone, Copy, Default)]
pub struct Options {
    /// Take over unowned files at paths runnergen now produces, instead of refusing.
    pub adopt: bool,
    /// Called once when another runnergen holds the directory, before waiting for it.
    pub on_wait: Option<fn(&Path)>,
}

/// One change to the file system; the fault-injection tests stop a write before any of them.
/// Staged files are written, and renamed into place, on every core, so those steps come in no
/// fixed order among themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    CreateDir(PathBuf),
    Remove(PathBuf),
    Stage(PathBuf),
    Commit,
    Rename(PathBuf),
    Forget,
}

/// What a fault-injection hook returns to stop a write on the spot, as a kill would.
#[derive(Debug)]
pub struct Crash;

/// Called before every change to the file system, from any thread.
pub type Hook<'h> = &'h (dyn Fn(&Step) -> Result<(), Crash> + Sync);

fn step(hook: Hook, s: Step) -> Result<(), WriteError> {
    hook(&s).map_err(|Crash| WriteError(format!("stopped before {s:?}")))
}

// ---- reading ----------------------------------------------------------------------------------

/// The manifest bytes for a tree (sorted paths, including the manifest itself).
pub fn manifest_for(tree: &Tree, source: &str) -> Vec<u8> {
    manifest_of(tree.paths(), source)
}

/// The manifest bytes for these paths (and the manifest itself), in sorted order.
pub fn manifest_of<'a>(paths: impl Iterator<Item = &'a str>, source: &str) -> Vec<u8> {
    let mut files: Vec<&str> = paths.filter(|p| *p != MANIFEST).collect();
    files.push(MANIFEST);
    files.sort();
    // Keys in sorted order, like every JSON file runnergen writes; written straight from the
    // paths, without a JSON value of tens of thousands of strings in between.
    #[derive(serde::Serialize)]
    struct Manifest<'a> {
        files: Vec<&'a str>,
        generator: &'static str,
        spec: String,
    }
    pretty_json(&Manifest {
        files,
        generator: "runnergen",
        spec: crate::render::source_text(source),
    })
    .into_bytes()
}

/// Pretty JSON with a final newline, like `render::to_json`, of a struct of runnergen's own
/// whose fields are declared in sorted order (the manifest, the journal).
fn pretty_json<T: serde::Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("plain data serializes");
    text.push('\n');
    text
}

/// A regular file (never one behind a link) that parses as JSON into `T`.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// The files a previous render claimed, from the manifest in `dir` (safe paths only).
pub fn owned_files(dir: &Path) -> BTreeSet<String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        files: Vec<serde_json::Value>,
    }
    read_json::<Manifest>(&dir.join(MANIFEST))
        .map(|m| {
            m.files
                .into_iter()
                .filter_map(|p| match p {
                    serde_json::Value::String(p) if is_safe_path(&p) => Some(p),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// True when a write was interrupted after its commit: the directory holds part of a new
/// render until the next `render` finishes it.
pub fn interrupted(dir: &Path) -> bool {
    fs::symlink_metadata(dir.join(JOURNAL)).is_ok()
}

/// The regular files of `dir` by relative path, from one walk that never follows a symbolic
/// link nor leaves its file system, without what an interrupted write staged (nor its
/// journal): what a comparison with the directory reads.
pub fn files_of(dir: &Path) -> std::collections::HashSet<String> {
    walk(dir)
        .into_iter()
        .map(|(rel, _)| rel)
        .filter(|rel| !is_staged(rel) && rel != JOURNAL)
        .collect()
}

/// Every regular file under `dir` with its relative path, without following links or
/// crossing into another file system; folders are read on every core (a large tree is a
/// thousand folders). The order is the same on every walk of the same directory.
fn walk(dir: &Path) -> Vec<(String, PathBuf)> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => walk_folder(dir, "", device(&m)),
        _ => Vec::new(),
    }
}

fn walk_folder(dir: &Path, rel: &str, root_device: u64) -> Vec<(String, PathBuf)> {
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
        } else if kind.is_dir() {
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
        .map(|(child, path)| walk_folder(&path, &child, root_device))
        .collect();
    files.extend(below.into_iter().flatten());
    files
}

/// The file system a file is on (0 where the platform does not say).
fn device(meta: &fs::Metadata) -> u64 {
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

/// Compares a tree (with its manifest) with what `dir` holds, without writing (see
/// [`Writer::compare`]).
pub fn plan(tree: &Tree, dir: &Path) -> Summary {
    let compare = Writer::compare(dir, None);
    compare
        .put(tree, |_| false)
        .and_then(|_| compare.finish())
        .expect("a comparison fails only on a path given twice, and a tree has each once")
}

// ---- locking ----------------------------------------------------------------------------------

/// A lock on an output directory, released when dropped.
pub struct Lock(#[allow(dead_code)] File);

fn lock(dir: &Path, shared: bool, on_wait: Option<fn(&Path)>) -> Result<Lock, WriteError> {
    let f = File::open(dir).map_err(|e| err("cannot open", dir, e))?;
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
            locked.map_err(|e| err("cannot lock", dir, e))?;
        }
        Err(fs::TryLockError::Error(e)) => return Err(err("cannot lock", dir, e)),
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

// ---- writing ----------------------------------------------------------------------------------

/// Writes `tree` (which must include its manifest) to `dir`. Returns what changed.
pub fn write(tree: &Tree, dir: &Path, opts: &Options) -> Result<Summary, WriteError> {
    write_with(tree, dir, opts, &|_| Ok(()))
}

/// [`write`], calling `hook` before every change to the file system; a hook that returns
/// [`Crash`] stops the write there, with no clean-up, as a kill would.
pub fn write_with(
    tree: &Tree,
    dir: &Path,
    opts: &Options,
    hook: Hook,
) -> Result<Summary, WriteError> {
    let writer = Writer::open(dir, opts, hook)?;
    match writer.put(tree, |_| false) {
        Ok(_) => writer.finish(),
        Err(e) => {
            writer.abort();
            Err(e)
        }
    }
}

/// A write in progress: the directory locked and repaired, then the files handed to
/// [`Writer::put`] part by part, from any thread, as a render produces them (a large fleet is
/// never held in memory whole). Each file is compared with the directory's as it comes and
/// staged when it differs; [`Writer::finish`] commits, [`Writer::abort`] removes what was
/// staged, so that an error leaves the directory as it was.
pub struct Writer<'h> {
    dir: PathBuf,
    opts: Options,
    hook: Hook<'h>,
    _lock: Option<Lock>,
    /// Only compare (`render --check`): nothing is staged, nothing committed.
    compare_only: bool,
    /// The folders the write created for the directory, deepest first: an aborted write
    /// removes them again (each only when empty).
    created: Vec<PathBuf>,
    /// The directory's regular files, from one walk after the repair (relative paths).
    found: std::collections::HashSet<String>,
    /// What the previous manifest claims.
    owned: BTreeSet<String>,
    /// A hook stopped the write, as a kill would: nothing is cleaned up after it.
    crashed: std::sync::atomic::AtomicBool,
    state: std::sync::Mutex<State>,
}

/// What a write has seen and done so far.
#[derive(Default)]
struct State {
    /// Every path handed to the write, and what became of it: one record per file, the lists of
    /// the summary are drawn from it at the end (at 10,000 runners, 91,000 paths).
    paths: std::collections::HashMap<String, Outcome>,
    unchanged: usize,
    /// Files in the way that runnergen does not own (refused at the end, all at once, unless
    /// adopting).
    unowned: Vec<String>,
    /// Folders (relative paths) looked at for links and files in the way, and whether they
    /// exist: each is looked up once, and nothing under a missing folder can be in the way.
    checked: std::collections::HashMap<String, bool>,
    /// Folders on the way to a staged file (see [`make_parents`]).
    folders: std::collections::HashMap<String, Folder>,
    /// Staged file or folder → its target.
    renames: Vec<(PathBuf, PathBuf)>,
}

impl State {
    /// Records what became of `rel`, already among the paths.
    fn record(&mut self, rel: &str, outcome: Outcome) {
        if let Some(o) = self.paths.get_mut(rel) {
            *o = outcome;
        }
    }
}

/// What the write does with a file handed to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Equal to the directory's, or in the way and not adopted: not written.
    Kept,
    Added,
    Changed,
}

impl<'h> Writer<'h> {
    /// Creates `dir` if need be, locks it (waiting for another writer), finishes or cleans up
    /// what an interrupted write left, and walks it once.
    pub fn open(dir: &Path, opts: &Options, hook: Hook<'h>) -> Result<Writer<'h>, WriteError> {
        let mut created = Vec::new();
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
            Ok(_) => {}
            Err(_) => {
                created = dir
                    .ancestors()
                    .take_while(|a| !a.as_os_str().is_empty() && fs::symlink_metadata(a).is_err())
                    .map(Path::to_owned)
                    .collect();
                step(hook, Step::CreateDir(dir.to_owned()))?;
                fs::create_dir_all(dir).map_err(|e| err("cannot create", dir, e))?;
            }
        }
        let lock = lock(dir, false, opts.on_wait)?;
        // One walk of the directory serves the clean-up and the comparisons.
        let found = repair(dir, hook)?.into_iter().map(|(rel, _)| rel).collect();
        Ok(Writer {
            dir: dir.to_owned(),
            opts: *opts,
            hook,
            _lock: Some(lock),
            compare_only: false,
            created,
            found,
            owned: owned_files(dir),
            crashed: Default::default(),
            state: Default::default(),
        })
    }

    /// A comparison of a tree with `dir` as [`Writer::put`] hands it over, which writes nothing
    /// (`render --check`), under the caller's shared lock ([`read_lock`]), so that no write is
    /// half done; files an interrupted write staged are not the directory's. [`Writer::finish`]
    /// says what a write would change, and changes nothing.
    pub fn compare(dir: &Path, lock: Option<Lock>) -> Writer<'static> {
        let found = files_of(dir);
        Writer {
            dir: dir.to_owned(),
            opts: Options::default(),
            hook: &|_| Ok(()),
            _lock: lock,
            compare_only: true,
            created: Vec::new(),
            found,
            owned: owned_files(dir),
            crashed: Default::default(),
            state: Default::default(),
        }
    }

    /// The caller's hook, noting a stop: after one, as after a kill, nothing is cleaned up.
    fn hook(&self) -> impl Fn(&Step) -> Result<(), Crash> + Sync + '_ {
        |s: &Step| {
            let stopped = (self.hook)(s);
            if stopped.is_err() {
                self.crashed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            stopped
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic on another thread is a bug that ends the process; the state stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a part of the tree to the write (its files on every core): each file is compared
    /// with the directory's and staged when it differs. Returns, for the paths `keep` accepts,
    /// the directory's bytes of the files that differ from the part's.
    pub fn put(
        &self,
        part: &Tree,
        keep: impl Fn(&str) -> bool + Sync,
    ) -> Result<BTreeMap<String, Vec<u8>>, WriteError> {
        use rayon::prelude::*;
        let one = |(rel, bytes): (&str, &[u8])| match self.put_file(rel, bytes, keep(rel)) {
            Ok(None) => None,
            Ok(Some(old)) => Some(Ok((rel.to_owned(), old))),
            Err(e) => Some(Err(e)),
        };
        // A runner's part (a few files) comes from a render already running on every core: it
        // is written on the calling thread. A whole tree is spread over the cores.
        if part.len() <= SMALL_PART {
            return part.iter().filter_map(one).collect();
        }
        let files: Vec<(&str, &[u8])> = part.iter().collect();
        files.into_par_iter().filter_map(one).collect()
    }

    /// The directory's files, among those the previous manifest claims and no part handed
    /// over, whose path `keep` accepts, with their bytes.
    pub fn unclaimed(&self, keep: impl Fn(&str) -> bool) -> BTreeMap<String, Vec<u8>> {
        let st = self.state();
        self.owned
            .iter()
            .filter(|p| keep(p) && !st.paths.contains_key(*p) && self.found.contains(*p))
            .filter_map(|p| Some((p.clone(), fs::read(self.dir.join(p)).ok()?)))
            .collect()
    }

    /// The manifest of every path handed to the write (and of itself), written like any file.
    pub fn put_manifest(&self, source: &str) -> Result<(), WriteError> {
        let manifest = {
            let st = self.state();
            manifest_of(st.paths.keys().map(String::as_str), source)
        };
        let mut part = Tree::new();
        part.insert(MANIFEST, manifest)
            .map_err(|e| WriteError(e.to_string()))?;
        self.put(&part, |_| false).map(drop)
    }

    fn put_file(&self, rel: &str, bytes: &[u8], keep: bool) -> Result<Option<Vec<u8>>, WriteError> {
        if self
            .state()
            .paths
            .insert(rel.to_owned(), Outcome::Kept)
            .is_some()
        {
            return Err(WriteError(
                crate::tree::TreeError::Duplicate(rel.to_owned()).to_string(),
            ));
        }
        // A file of the directory is read and compared; one that cannot be read is written anew.
        let old = if self.found.contains(rel) {
            fs::read(self.dir.join(rel)).ok()
        } else {
            None
        };
        if old.as_deref() == Some(bytes) {
            self.state().unchanged += 1;
            return Ok(None);
        }
        let exists = old.is_some();
        let kept = old.filter(|_| keep);
        let outcome = if exists {
            Outcome::Changed
        } else {
            Outcome::Added
        };
        if self.compare_only {
            self.state().record(rel, outcome);
            return Ok(kept);
        }
        let place = {
            let mut st = self.state();
            if self.in_the_way(&mut st, rel)? {
                st.unowned.push(self.dir.join(rel).display().to_string());
                if !self.opts.adopt {
                    return Ok(kept);
                }
            }
            st.record(rel, outcome);
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
        )?;
        Ok(kept)
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
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => Err(WriteError(format!(
                "the folder {} is in the way of a file runnergen writes",
                target.display()
            ))),
            // The manifest's path is runnergen's whatever the manifest says.
            Ok(m) if (self.owned.contains(path) || path == MANIFEST) && m.is_file() => Ok(false),
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
        let summary = {
            let mut st = self.state();
            if !st.unowned.is_empty() && !self.opts.adopt {
                st.unowned.sort();
                let msg = format!(
                    "runnergen does not own {}, but would now write there; move it away, or render with --adopt to take it over",
                    st.unowned.join(", ")
                );
                drop(st);
                self.abort();
                return Err(WriteError(msg));
            }
            let removed = self
                .owned
                .iter()
                .filter(|p| !st.paths.contains_key(*p) && self.found.contains(*p))
                .cloned()
                .collect();
            // The summary's lists take the recorded paths themselves (at 10,000 runners a cold
            // render adds 91,000 of them), not copies: the write needs them no more.
            let mut added = Vec::new();
            let mut changed = Vec::new();
            for (path, outcome) in std::mem::take(&mut st.paths) {
                match outcome {
                    Outcome::Added => added.push(path),
                    Outcome::Changed => changed.push(path),
                    Outcome::Kept => {}
                }
            }
            let mut summary = Summary {
                added,
                changed,
                removed,
                unchanged: st.unchanged,
            };
            summary.added.sort();
            summary.changed.sort();
            summary
        };
        if summary.is_clean() || self.compare_only {
            return Ok(summary);
        }
        // Sorted, so that the journal of a write is the same whichever core staged what.
        let mut renames = std::mem::take(&mut self.state().renames);
        renames.sort();
        let removals: Vec<PathBuf> = summary.removed.iter().map(|p| self.dir.join(p)).collect();
        // Written straight from its parts (keys in sorted order, as the manifest's): a large
        // fleet's journal is tens of thousands of renames.
        #[derive(serde::Serialize)]
        struct Journal<'a> {
            removals: &'a [String],
            renames: Vec<[String; 2]>,
        }
        let dir = &self.dir;
        let journal = Journal {
            removals: &summary.removed,
            renames: renames
                .iter()
                .map(|(s, t)| [rel(dir, s), rel(dir, t)])
                .collect(),
        };
        // Commit: the journal appears in one rename. Before that instant a failure removes
        // what was staged (the journal's own staged file too); after it the next run finishes.
        let hook = self.hook();
        let pending = dir.join(format!(".{JOURNAL}{STAGED}"));
        let committed = step(&hook, Step::Stage(pending.clone()))
            .and_then(|()| {
                fs::write(&pending, pretty_json(&journal))
                    .map_err(|e| err("cannot write", &pending, e))
            })
            .and_then(|()| step(&hook, Step::Commit))
            .and_then(|()| {
                fs::rename(&pending, dir.join(JOURNAL)).map_err(|e| err("cannot commit", dir, e))
            });
        if let Err(e) = committed {
            self.state().renames = renames;
            self.abort();
            if !self.crashed.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = fs::remove_file(&pending);
            }
            return Err(e);
        }
        apply(dir, &renames, &removals, &hook)?;
        Ok(summary)
    }

    /// Removes what the write staged (and the folders it created for the directory, each when
    /// still empty): the directory is as it was. After a hook's stop nothing is removed, as
    /// after a kill; the next write's repair does it.
    pub fn abort(&self) {
        if self.crashed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let hook = self.hook();
        let renames = std::mem::take(&mut self.state().renames);
        for (staged, _) in renames {
            let removed = if fs::symlink_metadata(&staged).is_ok_and(|m| m.is_dir()) {
                remove_staged_folder(&staged, &hook)
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

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .expect("under the output directory")
        .to_string_lossy()
        .replace('\\', "/")
}

/// A file or folder a write staged and did not commit (`.<name>.runnergen-new`).
fn is_staged(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.starts_with('.') && name.ends_with(STAGED)
}

fn staged_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .expect("a file path")
        .to_string_lossy()
        .into_owned();
    target.with_file_name(format!(".{name}{STAGED}"))
}

/// Writes `bytes` to a new file `staged`, with the mode of the file it will replace (if any).
/// The file is created exclusively (`O_EXCL`: never through a link); one left at that name is
/// removed first, though `repair` already removed every staged file under the lock.
fn stage(staged: &Path, replaces: Option<&Path>, bytes: &[u8]) -> Result<(), WriteError> {
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

/// Where a file is staged, and how it gets to its target.
struct Place {
    staged: PathBuf,
    target: PathBuf,
    /// The file is staged inside a staged folder, which is renamed into place whole.
    in_new_folder: bool,
}

/// A folder on the way to a file: one that exists, or one staged under this path (a folder
/// that did not exist, or a folder inside one).
enum Folder {
    Exists,
    Staged(PathBuf),
}

/// Makes the folders on the way to `rel` inside `root`: a missing folder is created as a
/// staged folder beside its target (`.<name>.runnergen-new`, with the default mode), and the
/// folders below it inside that one, without a look (nothing can be in them yet); existing
/// folders are left as they are, and anything else on the way (a link, a file) is an error.
/// `known` holds the folders (relative paths) already seen; each staged folder created goes to
/// `renames` with the folder it becomes as soon as it exists, so that an abort finds it.
fn make_parents(
    root: &Path,
    rel: &str,
    known: &mut std::collections::HashMap<String, Folder>,
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
                _ => match fs::symlink_metadata(root.join(folder)) {
                    // A link's own type: never a folder here.
                    Ok(m) if m.is_dir() => Folder::Exists,
                    Ok(_) => {
                        return Err(WriteError(format!(
                            "{} is in the way of a folder runnergen writes",
                            root.join(folder).display()
                        )));
                    }
                    Err(_) => {
                        let target = root.join(folder);
                        let p = staged_path(&target);
                        step(hook, Step::CreateDir(p.clone()))?;
                        fs::create_dir(&p).map_err(|e| err("cannot create", &p, e))?;
                        renames.push((p.clone(), target));
                        Folder::Staged(p)
                    }
                },
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

/// Renames, removals and folders left empty, then forgets the journal. Every part is
/// idempotent, so rolling a journal forward twice does no harm.
fn apply(
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

/// Finishes a committed write (its journal), then removes what an uncommitted one left:
/// staged files in the directory and the staging folders of runnergen before 0.2. Returns the
/// directory's other files (a walk, see [`walk`]).
fn repair(dir: &Path, hook: Hook) -> Result<Vec<(String, PathBuf)>, WriteError> {
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
    for (rel, path) in walk(dir) {
        if is_staged(&rel) {
            // A staged folder (see `make_parents`) holds only what the write staged in it.
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
    remove_legacy_staging(dir, hook)?;
    Ok(kept)
}

/// runnergen before 0.2 staged beside the directory (`.<name>.runnergen-stage-<pid>`,
/// `.<name>.runnergen-old-<pid>`) and a kill could leave them behind. They are removed file by
/// file, never crossing into another file system.
fn remove_legacy_staging(dir: &Path, hook: Hook) -> Result<(), WriteError> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let prefix = format!(".{}.runnergen-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = n.strip_prefix(&prefix) else {
            continue;
        };
        let legacy = ["stage-", "old-"].iter().any(|k| {
            rest.strip_prefix(k)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if !legacy || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        remove_staged_folder(&entry.path(), hook)?;
    }
    Ok(())
}

/// Removes a folder runnergen staged, entry by entry, deepest first: no link is followed and
/// nothing mounted inside is entered (a mount point stays, and so does its folder).
fn remove_staged_folder(root: &Path, hook: Hook) -> Result<(), WriteError> {
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
