//! The committed side of a comparison: the output directory as a directory holds it, or as a
//! git commit holds it (`diff --base REV`), read through git plumbing (`ls-tree`, `cat-file
//! --batch`): no checkout, no working-tree change, and it works in a shallow clone once that
//! commit is fetched.
//!
//! A base is read file by file as the render reaches each file (the comparison streams the
//! render): nothing of it is held but what differs. A git base's file whose blob ID is the
//! rendered bytes' is not read at all. A directory is walked, and its manifest read, only when
//! a comparison first asks.

use super::{manifest, scan};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The most of one base file runnergen reads whole: far above anything it renders (a shard's
/// main template stays under ARM's 4 MB, a 10,000-runner manifest is some 4 MB), far below what
/// would hurt. A larger file is compared by its size, never read: it stands in a report as
/// [`too_large`] says.
pub const MAX_BASE_FILE: u64 = 64 * 1024 * 1024;

/// What stands for the bytes of a base file over [`MAX_BASE_FILE`].
pub fn too_large(size: u64) -> Vec<u8> {
    format!(
        "runnergen did not read this file: it is {size} bytes, over its limit of {MAX_BASE_FILE} bytes for a file of the output directory\n"
    )
    .into_bytes()
}

/// A directory's file, read whole when within [`MAX_BASE_FILE`] (else [`too_large`]).
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    if size > MAX_BASE_FILE {
        return Some(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_BASE_FILE + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_BASE_FILE {
        return Some(too_large(bytes.len() as u64));
    }
    Some(bytes)
}

/// Whether a directory's file holds exactly `rendered`, streamed (a file of another size is
/// not read at all); none when it cannot be read.
fn holds_exactly(path: &Path, rendered: &[u8]) -> Option<bool> {
    let mut file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() != rendered.len() as u64 {
        return Some(false);
    }
    let mut chunk = vec![0; 64 * 1024];
    let mut rest = rendered;
    loop {
        let n = file.read(&mut chunk).ok()?;
        if n == 0 {
            return Some(rest.is_empty());
        }
        if n > rest.len() || chunk[..n] != rest[..n] {
            return Some(false);
        }
        rest = &rest[n..];
    }
}

/// What a tree is compared with: the committed side.
pub struct Base {
    /// How reports name it (`out`, `origin/main:out`).
    pub label: String,
    /// The files the base's ownership manifest names.
    owned: OnceLock<BTreeSet<String>>,
    files: Files,
}

enum Files {
    /// A directory and its regular files (relative paths), from one walk.
    Dir {
        dir: PathBuf,
        found: OnceLock<HashSet<String>>,
    },
    /// A commit's files: relative path → blob ID, read through one `git cat-file --batch`.
    Git {
        blobs: HashMap<String, String>,
        reader: Mutex<CatFile>,
    },
}

impl Base {
    /// A directory, walked once when first compared with; its files are read when asked for.
    pub fn from_dir(dir: &Path) -> Base {
        Base {
            label: dir.display().to_string(),
            owned: OnceLock::new(),
            files: Files::Dir {
                dir: dir.to_owned(),
                found: OnceLock::new(),
            },
        }
    }

    /// A directory whose regular files a walk just found (a write's, after its repair).
    pub(super) fn from_walk(dir: &Path, found: HashSet<String>) -> Base {
        let base = Base::from_dir(dir);
        if let Files::Dir { found: f, .. } = &base.files {
            let _ = f.set(found);
        }
        base
    }

    /// The files the base's ownership manifest names (safe paths only).
    pub fn owned(&self) -> &BTreeSet<String> {
        self.owned.get_or_init(|| match &self.files {
            Files::Dir { dir, .. } => manifest::owned_files(dir),
            // Read when the base is opened.
            Files::Git { .. } => BTreeSet::new(),
        })
    }

    /// Walks a directory and reads its manifest, if not done yet.
    pub(super) fn prepare(&self) {
        self.owned();
        self.holds(manifest::MANIFEST);
    }

    /// True when the base holds a regular file at `path` (read or not).
    pub fn holds(&self, path: &str) -> bool {
        match &self.files {
            Files::Dir { dir, found } => found.get_or_init(|| scan::files_of(dir)).contains(path),
            Files::Git { blobs, .. } => blobs.contains_key(path),
        }
    }

    /// The base's bytes of `path`; none when it holds no such file (or it cannot be read).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        match &self.files {
            Files::Dir { dir, .. } => self
                .holds(path)
                .then(|| read_bounded(&dir.join(path)))
                .flatten(),
            Files::Git { blobs, reader } => {
                let id = blobs.get(path)?;
                reader
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .blob(id)
                    .ok()
            }
        }
    }

    /// Hands `f` each file the base holds whose path `keep` accepts, with its bytes, on every
    /// core for a directory, where only the folders `enter` accepts are looked into (a git
    /// base lists every file already). Fails when the base cannot be read (git stopped
    /// answering); a file of a directory that cannot be read is left out, as in a comparison.
    pub fn each(
        &self,
        enter: &(dyn Fn(&str) -> bool + Sync),
        keep: &(dyn Fn(&str) -> bool + Sync),
        f: &(dyn Fn(&str, Vec<u8>) + Sync),
    ) -> Result<(), String> {
        use rayon::prelude::*;
        match &self.files {
            Files::Dir { dir, .. } => {
                let files: Vec<(String, PathBuf)> = scan::walk(dir, enter)
                    .into_iter()
                    .filter(|(rel, _)| keep(rel) && !scan::is_staged(rel) && rel != scan::JOURNAL)
                    .collect();
                files.par_iter().for_each(|(rel, path)| {
                    if let Some(bytes) = read_bounded(path) {
                        f(rel, bytes);
                    }
                });
                Ok(())
            }
            Files::Git { blobs, reader } => {
                let mut paths: Vec<&String> = blobs.keys().filter(|p| keep(p)).collect();
                paths.sort();
                for path in paths {
                    let mut reader = reader.lock().unwrap_or_else(|p| p.into_inner());
                    let bytes = reader.blob(&blobs[path.as_str()])?;
                    drop(reader);
                    f(path, bytes);
                }
                Ok(())
            }
        }
    }

    /// Why reading the base failed part-way (git stopped answering): then what was compared
    /// cannot be trusted, and `diff::diff_render` fails.
    pub fn failure(&self) -> Option<String> {
        match &self.files {
            Files::Dir { .. } => None,
            Files::Git { reader, .. } => reader
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .failed
                .clone(),
        }
    }

    /// What the base holds at `path` when it differs from `rendered`: `None` when the two are
    /// the same, `Some(None)` when the base has no such file, `Some(Some(bytes))` otherwise.
    pub fn differing(&self, path: &str, rendered: &[u8]) -> Option<Option<Vec<u8>>> {
        match &self.files {
            Files::Git { blobs, .. } => match blobs.get(path) {
                None => return Some(None),
                Some(id) if blob_id(rendered, id.len()).as_deref() == Some(id.as_str()) => {
                    return None;
                }
                Some(_) => {}
            },
            // Compared as it streams; read (bounded) only when it differs.
            Files::Dir { dir, .. } => {
                if !self.holds(path) {
                    return Some(None);
                }
                return match holds_exactly(&dir.join(path), rendered) {
                    Some(true) => None,
                    Some(false) => Some(self.read(path)),
                    None => Some(None),
                };
            }
        }
        match self.read(path) {
            Some(b) if b == rendered => None,
            other => Some(other),
        }
    }

    /// The output directory `out` as commit `rev` holds it. `out` must not be a symbolic link,
    /// in the working tree nor in the commit (nor any folder on its way there): a link would
    /// compare some other folder's files, which `render --check` refuses too.
    pub fn from_git(rev: &str, out: &Path) -> Result<Base, String> {
        if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "{} is a symbolic link; runnergen compares the output directory itself, never what a link points to",
                out.display()
            ));
        }
        let out = resolved(out);
        let anchor = out
            .ancestors()
            .find(|p| p.is_dir())
            .unwrap_or(Path::new("/"));
        let top = git(anchor, &["rev-parse", "--show-toplevel"])
            .map_err(|e| format!("{} is not in a git repository: {e}", out.display()))?;
        let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
        let rel = out
            .strip_prefix(resolved(&top))
            .map_err(|_| {
                format!(
                    "{} is outside the repository {}",
                    out.display(),
                    top.display()
                )
            })?
            .to_string_lossy()
            .replace('\\', "/");
        let commit = format!("{rev}^{{commit}}");
        if git(
            &top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &commit,
            ],
        )
        .is_err()
        {
            return Err(format!(
                "revision `{rev}` is not in this clone (a shallow clone holds only what was fetched)\n  = hint: fetch it first: `{}` (in a merge request pipeline: `git fetch --depth=1 origin $CI_MERGE_REQUEST_DIFF_BASE_SHA`)",
                fetch_command(rev)
            ));
        }
        no_link_at(&top, &commit, rev, &rel)?;
        let listing = git(
            &top,
            &["ls-tree", "-r", "-z", "--full-tree", &commit, "--", &rel],
        )?;
        let blobs = regular_blobs(&listing, &format!("{rel}/"));
        let mut reader = CatFile::start(&top)?;
        let owned = blobs
            .get(manifest::MANIFEST)
            .and_then(|id| reader.blob(id).ok())
            .map(|m| manifest::owned_in(&m))
            .unwrap_or_default();
        Ok(Base {
            label: format!("{rev}:{rel}"),
            owned: OnceLock::from(owned),
            files: Files::Git {
                blobs,
                reader: Mutex::new(reader),
            },
        })
    }
}

/// The regular files of a `git ls-tree -r -z` listing under `prefix`, by their path below it,
/// with their blob IDs: a symbolic link in the base is no file runnergen wrote.
fn regular_blobs(listing: &[u8], prefix: &str) -> HashMap<String, String> {
    let mut blobs = HashMap::new();
    for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (mode, kind, sha) = (meta.next(), meta.next(), meta.next());
        if kind == Some("blob")
            && matches!(mode, Some("100644" | "100755"))
            && let (Some(sha), Some(rel_path)) = (sha, path.strip_prefix(prefix))
        {
            blobs.insert(rel_path.to_owned(), sha.to_owned());
        }
    }
    blobs
}

/// Refuses a `rel` (the output directory's path in the repository) that commit `commit` holds
/// as a symbolic link or a file, or behind one: each folder on the way is looked up in its
/// parent's tree (`ls-tree <commit>:<parent> -- <name>`); one the commit does not hold ends
/// the look (the commit has no output directory yet).
fn no_link_at(top: &Path, commit: &str, rev: &str, rel: &str) -> Result<(), String> {
    if rel.is_empty() {
        return Ok(());
    }
    let mut parent = String::new();
    for name in rel.split('/') {
        let tree = if parent.is_empty() {
            commit.to_owned()
        } else {
            format!("{commit}:{parent}")
        };
        let entry = git(top, &["ls-tree", "-z", "--full-tree", &tree, "--", name])?;
        let entry = String::from_utf8_lossy(&entry);
        let Some(mode) = entry.split(' ').next().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        let here = if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}/{name}")
        };
        match mode {
            "040000" => {}
            "120000" => {
                return Err(format!(
                    "{rev}:{here} is a symbolic link; runnergen compares the output directory itself, never what a link points to"
                ));
            }
            _ => return Err(format!("{rev}:{here} is not a folder")),
        }
        parent = here;
    }
    Ok(())
}

/// The git object ID of a blob holding `bytes` (`git hash-object`): SHA-1 of `blob <size>\0`
/// and the bytes, or SHA-256 in a repository of that object format (gitformat-hash-function);
/// `hex_len` is the length of the repository's IDs (40 or 64), none for another.
pub fn blob_id(bytes: &[u8], hex_len: usize) -> Option<String> {
    let algorithm = match hex_len {
        40 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        64 => &ring::digest::SHA256,
        _ => return None,
    };
    let mut ctx = ring::digest::Context::new(algorithm);
    ctx.update(format!("blob {}\0", bytes.len()).as_bytes());
    ctx.update(bytes);
    let digest = ctx.finish();
    // Once per rendered file of a git diff: hex written into one string, not one per byte.
    let mut hex = String::with_capacity(hex_len);
    for b in digest.as_ref() {
        let _ = write!(hex, "{b:02x}");
    }
    Some(hex)
}

/// One `git cat-file --batch` for the whole diff: a blob ID in, its bytes out, one at a time.
struct CatFile {
    child: Child,
    /// Closed when done, so that git ends.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The first failure: every read after it fails too (the stream is out of step).
    failed: Option<String>,
}

impl CatFile {
    fn start(top: &Path) -> Result<CatFile, String> {
        let mut child = Command::new("git")
            .args(["cat-file", "--batch"])
            .current_dir(top)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run git: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(CatFile {
            child,
            stdin,
            stdout,
            failed: None,
        })
    }

    /// The blob's bytes; after a first failure, that failure again.
    fn blob(&mut self, id: &str) -> Result<Vec<u8>, String> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let read = self.read_blob(id);
        if let Err(e) = &read {
            self.failed = Some(e.clone());
        }
        read
    }

    /// One round trip: without `--buffer`, git flushes each object as it is asked for it
    /// (git-cat-file(1)).
    fn read_blob(&mut self, id: &str) -> Result<Vec<u8>, String> {
        let failed = |e: std::io::Error| format!("git cat-file: {e}");
        let stdin = self.stdin.as_mut().expect("open until dropped");
        stdin
            .write_all(format!("{id}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(failed)?;
        let mut header = String::new();
        self.stdout.read_line(&mut header).map_err(failed)?;
        // `<id> blob <size>`, or `<id> missing`.
        let size: usize = header
            .split(' ')
            .nth(2)
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("git cat-file: no blob {id} ({})", header.trim()))?;
        if size as u64 > MAX_BASE_FILE {
            // Read past (the blob and its newline), never held: the stream stays in step.
            let skipped = std::io::copy(
                &mut (&mut self.stdout).take(size as u64 + 1),
                &mut std::io::sink(),
            )
            .map_err(failed)?;
            if skipped != size as u64 + 1 {
                return Err(format!("git cat-file: blob {id} ended early"));
            }
            return Ok(too_large(size as u64));
        }
        let mut bytes = vec![0; size + 1];
        self.stdout.read_exact(&mut bytes).map_err(failed)?;
        bytes.pop();
        Ok(bytes)
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        // git ends on the closed input; the kill is for one stopped part-way through a blob,
        // which could otherwise wait to write into a pipe no one reads.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs git in `dir`; its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// An absolute path with symbolic links resolved as far as it exists.
pub fn resolved(p: &Path) -> PathBuf {
    let p = if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    };
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => resolved(parent).join(name),
        _ => std::path::absolute(p).unwrap_or_else(|_| p.to_owned()),
    }
}

/// The `git fetch` that brings revision `rev` into a shallow clone, under the name `rev` uses:
/// a remote-tracking branch (`origin/main`) is fetched into `refs/remotes/origin/main`, a
/// branch name into a local branch of that name, anything else (a commit) as it is.
fn fetch_command(rev: &str) -> String {
    let hex = rev.len() >= 7 && rev.chars().all(|c| c.is_ascii_hexdigit());
    match rev.split_once('/') {
        _ if hex || rev.starts_with('$') => format!("git fetch --depth=1 origin {rev}"),
        Some((remote, branch)) if !branch.is_empty() => {
            format!("git fetch --depth=1 {remote} {branch}:refs/remotes/{remote}/{branch}")
        }
        _ => format!("git fetch --depth=1 origin {rev}:{rev}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fetch a shallow clone needs names the revision the way the user wrote it.
    #[test]
    fn the_fetch_hint_brings_the_revision_under_its_own_name() {
        assert_eq!(
            fetch_command("origin/main"),
            "git fetch --depth=1 origin main:refs/remotes/origin/main"
        );
        assert_eq!(
            fetch_command("main"),
            "git fetch --depth=1 origin main:main"
        );
        assert_eq!(
            fetch_command("3f2b7c1e4a5d"),
            "git fetch --depth=1 origin 3f2b7c1e4a5d"
        );
    }

    /// A blob git does not have fails the read, and every read after it: what was compared
    /// after a failure could be out of step with git's answers.
    #[test]
    fn a_failed_blob_read_stays_failed() {
        let repo = std::env::temp_dir().join(format!("runnergen-catfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&repo);
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q"]).unwrap();
        std::fs::write(repo.join("f"), "hello\n").unwrap();
        let id = String::from_utf8(git(&repo, &["hash-object", "-w", "f"]).unwrap()).unwrap();
        let id = id.trim();
        assert_eq!(blob_id(b"hello\n", id.len()).as_deref(), Some(id));
        let mut reader = CatFile::start(&repo).unwrap();
        assert_eq!(reader.blob(id).unwrap(), b"hello\n");
        let missing = "0".repeat(id.len());
        assert!(reader.blob(&missing).unwrap_err().contains("no blob"));
        assert!(reader.blob(id).is_err());
        drop(reader);
        let _ = std::fs::remove_dir_all(&repo);
    }
}
