//! The committed side of a tree diff: the output directory as a directory holds it, or as a
//! git commit holds it (`diff --base REV`), read through git plumbing (`ls-tree`, `cat-file
//! --batch`): no checkout, no working-tree change, and it works in a shallow clone once that
//! commit is fetched.

use crate::tree::Tree;
use crate::write;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a tree is compared with.
pub struct Base {
    /// How reports name it (`out`, `origin/main:out`).
    pub label: String,
    /// The files the base's ownership manifest names.
    pub owned: BTreeSet<String>,
    /// The base's files that differ from the tree it is compared with (and its manifest), by
    /// path relative to the output directory.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The base's files whose bytes are the tree's: not kept (at 10,000 runners the unchanged
    /// files are 215 MB, which the tree holds already).
    pub same: BTreeSet<String>,
}

impl Base {
    /// A directory: the files the tree or the directory's manifest name, read in one walk.
    pub fn from_dir(tree: &Tree, dir: &Path) -> Base {
        let (owned, files, same) = write::read_relevant(tree, dir);
        Base {
            label: dir.display().to_string(),
            owned,
            files,
            same,
        }
    }

    /// The output directory `out` as commit `rev` holds it, compared with `tree` as it is read.
    pub fn from_git(rev: &str, out: &Path, tree: &Tree) -> Result<Base, String> {
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
                "revision `{rev}` is not in this clone (a shallow clone holds only what was fetched)\n  = hint: fetch it first: `git fetch --depth=1 origin {rev}` (in a merge request pipeline: `git fetch --depth=1 origin $CI_MERGE_REQUEST_DIFF_BASE_SHA`)"
            ));
        }
        let listing = git(
            &top,
            &["ls-tree", "-r", "-z", "--full-tree", &commit, "--", &rel],
        )?;
        let prefix = format!("{rel}/");
        let mut blobs = Vec::new();
        for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut meta = meta.split(' ');
            let (mode, kind, sha) = (meta.next(), meta.next(), meta.next());
            // Regular files only: a symbolic link in the base is no file runnergen wrote.
            if kind == Some("blob")
                && matches!(mode, Some("100644" | "100755"))
                && let (Some(sha), Some(rel_path)) = (sha, path.strip_prefix(&prefix))
            {
                blobs.push((rel_path.to_owned(), sha.to_owned()));
            }
        }
        let (files, same) = cat_blobs(&top, &blobs, tree)?;
        let owned = files
            .get(write::MANIFEST)
            .and_then(|m| serde_json::from_slice::<serde_json::Value>(m).ok())
            .and_then(|v| {
                v["files"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str())
                        .filter(|p| crate::tree::is_safe_path(p))
                        .map(str::to_owned)
                        .collect()
                })
            })
            .unwrap_or_default();
        Ok(Base {
            label: format!("{rev}:{rel}"),
            owned,
            files,
            same,
        })
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

/// The contents of many blobs in one `git cat-file --batch`: those that differ from `tree`
/// (and the manifest, which names the files the base owns), and the paths of the others.
type Blobs = (BTreeMap<String, Vec<u8>>, BTreeSet<String>);
fn cat_blobs(top: &Path, blobs: &[(String, String)], tree: &Tree) -> Result<Blobs, String> {
    let mut files = BTreeMap::new();
    let mut same = BTreeSet::new();
    if blobs.is_empty() {
        return Ok((files, same));
    }
    let mut child = Command::new("git")
        .args(["cat-file", "--batch"])
        .current_dir(top)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let list: String = blobs.iter().map(|(_, sha)| format!("{sha}\n")).collect();
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let mut reader = BufReader::new(child.stdout.take().expect("piped"));
    for (path, sha) in blobs {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| format!("git cat-file: {e}"))?;
        let size: usize = header
            .split(' ')
            .nth(2)
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("git cat-file: no blob {sha} ({})", header.trim()))?;
        let mut bytes = vec![0; size + 1];
        reader
            .read_exact(&mut bytes)
            .map_err(|e| format!("git cat-file: {e}"))?;
        bytes.pop();
        if path != write::MANIFEST && tree.get(path) == Some(bytes.as_slice()) {
            same.insert(path.clone());
        } else {
            files.insert(path.clone(), bytes);
        }
    }
    let _ = writer.join();
    let _ = child.wait();
    Ok((files, same))
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
