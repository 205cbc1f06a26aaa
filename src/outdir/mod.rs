//! The output directory: what it holds, compared with a render, and written in place, all or
//! nothing, one writer at a time, touching nothing runnergen does not own.
//!
//! - `manifest.rs`: the ownership manifest, written and read in one place.
//! - `scan.rs`: walking the directory (never through a link, never into another file system),
//!   the names of a write's own machinery, the lock.
//! - `base.rs`: the committed side of a comparison: a directory, or `out/` at a git revision.
//! - `compare.rs`: the one comparison of a render with a base, part by part as it is rendered
//!   (`render --check`, `diff`, and the write).
//! - `transaction.rs`, `stage.rs`, `journal.rs`: the write.
//!
//! A write goes:
//!
//! 1. **Lock.** The output directory itself is locked (`flock`) for the whole write; a second
//!    render waits, and `diff`/`render --check` take a shared lock, so no reader sees a write
//!    half done.
//! 2. **Repair.** A journal left by an interrupted write is rolled forward, and temporary files
//!    of an interrupted write that never committed are removed.
//! 3. **Compare and stage**, part by part as the render hands files over ([`Writer::put`],
//!    from any thread): each file is compared with the directory's ([`Compare`]); one that
//!    differs goes to a temporary file beside its target (`.<name>.runnergen-new`), keeping the
//!    mode of the file it replaces; a folder that does not exist yet is staged whole, as a
//!    temporary folder of that name holding its files, and moves in one rename. A symbolic link
//!    on the way is an error; files runnergen does not own, in the way of ones it now produces,
//!    are one error naming them all at the end (`--adopt` takes them over). Any failure before
//!    the commit removes what was staged ([`Writer::abort`]).
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

mod base;
mod compare;
mod journal;
mod manifest;
mod scan;
mod stage;
mod transaction;

pub use base::{Base, MAX_BASE_FILE, blob_id, resolved};
pub use compare::{Compare, Compared, Differ, Difference, plan};
pub use manifest::{MANIFEST, manifest_for};
pub use scan::{JOURNAL, Lock, interrupted, read_lock};
pub use transaction::Writer;

use crate::tree::Tree;
use std::io;
use std::path::{Path, PathBuf};

/// What a write changed, or what a comparison found would change.
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

/// Where a streamed render goes, part by part from any thread, then its manifest: a write
/// ([`Writer`]) or a comparison ([`Compare`], keeping nothing of what differs).
pub trait Sink: Sync {
    fn take(&self, part: &Tree) -> Result<(), WriteError>;
    fn take_manifest(&self, source: &str) -> Result<(), WriteError>;
}

impl Sink for Writer<'_> {
    fn take(&self, part: &Tree) -> Result<(), WriteError> {
        self.put(part)
    }
    fn take_manifest(&self, source: &str) -> Result<(), WriteError> {
        self.put_manifest(source)
    }
}

impl<B: std::borrow::Borrow<Base> + Sync> Sink for Compare<B> {
    fn take(&self, part: &Tree) -> Result<(), WriteError> {
        self.put(part, &|_, _, _| {})
    }
    fn take_manifest(&self, source: &str) -> Result<(), WriteError> {
        self.put_manifest(source, &|_, _, _| {})
    }
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
    match writer.put(tree) {
        Ok(()) => writer.finish(),
        Err(e) => {
            writer.abort();
            Err(e)
        }
    }
}
