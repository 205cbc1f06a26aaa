//! The one comparison of a render with a base (`render --check`, `diff`, and the write, which
//! stages what it finds different): files are handed over part by part as they are rendered,
//! from any thread, each compared with the base's as it comes; what the base's manifest owns
//! and no part handed over is what the render removes. Nothing of the base is kept: what
//! differs goes to the caller, who keeps what it needs.

use super::base::Base;
use super::manifest::{MANIFEST, manifest_of};
use super::{Summary, WriteError};
use crate::tree::Tree;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

/// A part of at most this many files is compared on the calling thread (see [`Compare::put`]).
pub(super) const SMALL_PART: usize = 64;

/// Called with each file that differs: its path, the base's bytes (none when absent) and the
/// render's.
pub type Differ<'a> = &'a (dyn Fn(&str, Option<Vec<u8>>, &[u8]) + Sync);

/// A comparison in progress over a base (owned, or borrowed from the caller).
pub struct Compare<B: Borrow<Base> + Sync> {
    base: B,
    seen: Mutex<Seen>,
}

/// What a comparison has seen so far.
#[derive(Default)]
struct Seen {
    /// Every path handed over, and how it compared: one record per file, the lists of the
    /// summary are drawn from it at the end (at 10,000 runners, 91,000 paths).
    paths: HashMap<String, Difference>,
    unchanged: usize,
}

/// How a rendered file compares with the base's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Difference {
    Same,
    /// The base holds no such file (or cannot read it).
    Added,
    Changed,
}

/// What a finished comparison found.
pub struct Compared {
    pub summary: Summary,
    /// The rendered paths whose bytes are the base's, in no order.
    pub same: Vec<String>,
}

impl<B: Borrow<Base> + Sync> Compare<B> {
    /// A comparison with `base`, which is walked (and its manifest read) here, before any file
    /// comes: files come from the render's threads, and a walk started by one of them could
    /// run a render job of the same thread inside it.
    pub fn new(base: B) -> Compare<B> {
        base.borrow().prepare();
        Compare {
            base,
            seen: Mutex::default(),
        }
    }

    pub fn base(&self) -> &Base {
        self.base.borrow()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A panic on another thread is a bug that ends the process; the state stays usable.
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compares one rendered file with the base's; the base's bytes when they differ. A path
    /// handed over twice is an error.
    pub fn file(
        &self,
        rel: &str,
        bytes: &[u8],
    ) -> Result<(Difference, Option<Vec<u8>>), WriteError> {
        match self.seen().paths.entry(rel.to_owned()) {
            Entry::Occupied(_) => {
                return Err(WriteError(
                    crate::tree::TreeError::Duplicate(rel.to_owned()).to_string(),
                ));
            }
            Entry::Vacant(v) => {
                v.insert(Difference::Same);
            }
        }
        let (difference, before) = match self.base().differing(rel, bytes) {
            None => {
                self.seen().unchanged += 1;
                return Ok((Difference::Same, None));
            }
            Some(None) => (Difference::Added, None),
            Some(before) => (Difference::Changed, before),
        };
        if let Some(d) = self.seen().paths.get_mut(rel) {
            *d = difference;
        }
        Ok((difference, before))
    }

    /// Compares a part of the render (its files on every core when it is large: a runner's
    /// few files come from a render already running on every core); `differ` gets each file
    /// that differs.
    pub fn put(&self, part: &Tree, differ: Differ) -> Result<(), WriteError> {
        use rayon::prelude::*;
        let one = |(rel, bytes): (&str, &[u8])| match self.file(rel, bytes)? {
            (Difference::Same, _) => Ok(()),
            (_, before) => {
                differ(rel, before, bytes);
                Ok(())
            }
        };
        if part.len() <= SMALL_PART {
            return part.iter().try_for_each(one);
        }
        let files: Vec<(&str, &[u8])> = part.iter().collect();
        files.into_par_iter().try_for_each(one)
    }

    /// The manifest of every path handed over (and of itself).
    pub fn manifest(&self, source: &str) -> Vec<u8> {
        manifest_of(self.seen().paths.keys().map(String::as_str), source)
    }

    /// Compares the manifest of every path handed over, like any file.
    pub fn put_manifest(&self, source: &str, differ: Differ) -> Result<(), WriteError> {
        let mut part = Tree::new();
        part.insert(MANIFEST, self.manifest(source))
            .map_err(|e| WriteError(e.to_string()))?;
        self.put(&part, differ)
    }

    /// The base's owned files that no part handed over and that it holds: what the render
    /// removes.
    fn unclaimed(&self) -> Vec<String> {
        let seen = self.seen();
        self.base()
            .owned()
            .iter()
            .filter(|p| !seen.paths.contains_key(*p) && self.base().holds(p))
            .cloned()
            .collect()
    }

    /// What was added, changed and removed; what was handed over is forgotten.
    pub fn finish(&self) -> Compared {
        let removed = self.unclaimed();
        let mut seen = self.seen();
        // The summary's lists take the recorded paths themselves (at 10,000 runners a cold
        // render adds 91,000 of them), not copies.
        let (mut added, mut changed, mut same) = (Vec::new(), Vec::new(), Vec::new());
        for (path, difference) in std::mem::take(&mut seen.paths) {
            match difference {
                Difference::Added => added.push(path),
                Difference::Changed => changed.push(path),
                Difference::Same => same.push(path),
            }
        }
        added.sort();
        changed.sort();
        Compared {
            summary: Summary {
                added,
                changed,
                removed,
                unchanged: seen.unchanged,
            },
            same,
        }
    }
}

/// Compares a tree (with its manifest) with what `dir` holds, without writing.
pub fn plan(tree: &Tree, dir: &std::path::Path) -> Summary {
    let compare = Compare::new(Base::from_dir(dir));
    compare
        .put(tree, &|_, _, _| {})
        .expect("a comparison fails only on a path given twice, and a tree has each once");
    compare.finish().summary
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each file is compared as it comes: equal, changed (with the base's bytes) or added; what
    /// the base's manifest owns and no part claimed is removed; a path handed over twice is an
    /// error.
    #[test]
    fn a_comparison_sorts_files_as_they_come() {
        let dir = std::env::temp_dir().join(format!("runnergen-compare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("e")).unwrap();
        for (path, bytes) in [("e/same", "1"), ("e/changed", "old"), ("e/gone", "x")] {
            std::fs::write(dir.join(path), bytes).unwrap();
        }
        let paths = ["e/same", "e/changed", "e/gone"].into_iter();
        std::fs::write(dir.join(MANIFEST), manifest_of(paths, "s.yaml")).unwrap();
        let compare = Compare::new(Base::from_dir(&dir));
        assert_eq!(
            compare.file("e/same", b"1").unwrap(),
            (Difference::Same, None)
        );
        assert_eq!(
            compare.file("e/changed", b"new").unwrap(),
            (Difference::Changed, Some(b"old".to_vec()))
        );
        assert_eq!(
            compare.file("e/new", b"n").unwrap(),
            (Difference::Added, None)
        );
        assert!(compare.file("e/new", b"n").is_err());
        let Compared { summary, same } = compare.finish();
        assert_eq!(summary.added, ["e/new"]);
        assert_eq!(summary.changed, ["e/changed"]);
        assert_eq!(summary.removed, [MANIFEST, "e/gone"]);
        assert_eq!((summary.unchanged, same), (1, vec!["e/same".to_owned()]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
