//! The spec path and the output directory's prior state, fuzzed: the seed fleet is rendered
//! with the fuzzed bytes as the spec path (headers must stay one comment line) and written into
//! a directory the fuzzer populated first (files, folders, symbolic links, a manifest naming
//! anything, a journal naming anything: garbage, or renames and removals through a linked
//! folder). Findings: a panic; a header the path broke out of; a successful write that does
//! not leave exactly the rendered tree; anything touched outside the output directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const SEED: &str = include_str!("../../fixtures/ascode/runners.yaml");

fuzz_target!(|data: &[u8]| {
    let (path_bytes, ops) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let source = String::from_utf8_lossy(path_bytes);
    let tree = runnergen::compile(&source, SEED).expect("the seed fleet renders under any path");
    let plain = plain();
    for (p, bytes) in tree.iter() {
        let text = std::str::from_utf8(bytes).unwrap();
        let reference = plain.get_str(p).unwrap();
        assert_eq!(text.lines().count(), reference.lines().count(), "{p}: the path added lines");
        if p.ends_with(".yaml") {
            assert_eq!(
                runnergen::readback::yaml_documents(text).count(),
                runnergen::readback::yaml_documents(reference).count(),
                "{p}: the path split a document"
            );
        }
    }

    let root = scratch();
    let _ = fs::remove_dir_all(root);
    fs::create_dir_all(root).unwrap();
    let out = root.join("out");
    let sentinel = root.join("sentinel");
    fs::write(&sentinel, "outside").unwrap();
    prior_state(&out, root, ops);
    let opts = runnergen::outdir::Options { adopt: ops.first().is_some_and(|b| b & 1 == 1), on_wait: None };
    if runnergen::outdir::write(&plain, &out, &opts).is_ok() {
        assert!(runnergen::outdir::plan(&plain, &out).is_clean(), "a write that succeeds leaves the tree");
    }
    assert_eq!(fs::read_to_string(&sentinel).unwrap(), "outside", "written outside the directory");
    assert!(!root.join("planted").exists(), "a journal planted a file outside the directory");
});

/// Interprets `ops` as a small program that shapes the directory before the write.
fn prior_state(out: &Path, root: &Path, ops: &[u8]) {
    let _ = fs::create_dir_all(out);
    let plain = plain();
    let paths: Vec<&str> = plain.paths().collect();
    for chunk in ops.chunks(3) {
        let [op, a, b] = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let target = out.join(paths[a as usize % paths.len()]);
        let _ = fs::create_dir_all(target.parent().unwrap());
        let _ = match op % 7 {
            0 => plant(&target, &[b]),
            1 => fs::create_dir_all(&target),
            2 => std::os::unix::fs::symlink(root.join("sentinel"), &target),
            3 => std::os::unix::fs::symlink(root, target.parent().unwrap().join("linked")),
            4 => plant(
                &out.join(".runnergen-manifest.json"),
                format!(r#"{{"files": ["../sentinel", "{}", "/etc/hostname"]}}"#, paths[b as usize % paths.len()]).as_bytes(),
            ),
            5 => plant(&out.join(runnergen::outdir::JOURNAL), &[b]),
            // A journal naming paths through a folder linked to the scratch root: what a
            // rename or a removal would reach outside.
            _ => {
                let linked = paths[b as usize % paths.len()].rsplit_once('/').map_or("linked".to_owned(), |(up, _)| format!("{up}/linked"));
                let _ = plant(&out.join("payload"), b"planted");
                plant(
                    &out.join(runnergen::outdir::JOURNAL),
                    format!(
                        r#"{{"removals":["{linked}/sentinel","{p}"],"renames":[["payload","{linked}/planted"],["{linked}/.planted.runnergen-new","{linked}/planted"]]}}"#,
                        p = paths[a as usize % paths.len()],
                    )
                    .as_bytes(),
                )
            }
        };
    }
}

/// Writes `bytes` at `path` unless a link is there: the harness never writes through a link it
/// planted itself (that would be its own write outside, not runnergen's).
fn plant(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Ok(());
    }
    fs::write(path, bytes)
}

fn plain() -> &'static runnergen::tree::Tree {
    static TREE: OnceLock<runnergen::tree::Tree> = OnceLock::new();
    TREE.get_or_init(|| runnergen::compile("runners.yaml", SEED).unwrap())
}

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("runnergen-fuzz-write-{}", std::process::id())))
}
