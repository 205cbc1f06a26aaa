//! The ownership manifest (`.runnergen-manifest.json`): the files runnergen wrote, relative to
//! the output directory, with the generator and the spec's path. Written and read here only;
//! the journal of a write is JSON of the same kind ([`pretty_json`], [`read_regular`]).

use crate::tree::{Tree, is_safe_path};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The ownership manifest's path in the output directory.
pub const MANIFEST: &str = ".runnergen-manifest.json";

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

/// The files a manifest's bytes claim (safe paths only; nothing when they do not parse).
pub fn owned_in(bytes: &[u8]) -> BTreeSet<String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        files: Vec<serde_json::Value>,
    }
    serde_json::from_slice::<Manifest>(bytes)
        .map(|m| owned_paths(m.files))
        .unwrap_or_default()
}

/// The files a previous render claimed, from the manifest in `dir` (never one behind a link).
pub fn owned_files(dir: &Path) -> BTreeSet<String> {
    owned_at(&dir.join(MANIFEST)).unwrap_or_default()
}

/// The files the manifest at `path` claims; none when it is not a regular file.
pub(super) fn owned_at(path: &Path) -> Option<BTreeSet<String>> {
    read_regular(path).map(|bytes| owned_in(&bytes))
}

fn owned_paths(files: Vec<serde_json::Value>) -> BTreeSet<String> {
    files
        .into_iter()
        .filter_map(|p| match p {
            serde_json::Value::String(p) if is_safe_path(&p) => Some(p),
            _ => None,
        })
        .collect()
}

/// Pretty JSON with a final newline, like `render::to_json`, of a struct of runnergen's own
/// whose fields are declared in sorted order (the manifest, the journal).
pub(super) fn pretty_json<T: serde::Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("plain data serializes");
    text.push('\n');
    text
}

/// The bytes of a regular file, never one behind a link.
pub(super) fn read_regular(path: &Path) -> Option<Vec<u8>> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    fs::read(path).ok()
}
