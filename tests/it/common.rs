//! Golden-file helpers shared by the integration tests.
//!
//! `RUNNERGEN_BLESS=1 cargo test` writes missing or changed golden files. Without it a missing
//! or different golden file fails the test, so a new golden file fails in CI until committed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bless() -> bool {
    std::env::var_os("RUNNERGEN_BLESS").is_some_and(|v| v == "1")
        && std::env::var_os("CI").is_none_or(|v| v != "true")
}

/// Compares `actual` with the golden file at `path` (relative to the crate root).
pub fn assert_golden(path: &str, actual: &[u8]) {
    let full = root().join(path);
    match std::fs::read(&full) {
        Ok(expected) if expected == actual => {}
        _ if bless() => {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, actual).unwrap();
        }
        Ok(expected) => {
            let diff = similar::TextDiff::from_lines(
                std::str::from_utf8(&expected).unwrap_or("<binary>"),
                std::str::from_utf8(actual).unwrap_or("<binary>"),
            )
            .unified_diff()
            .header("expected", "actual")
            .to_string();
            panic!(
                "{path} differs from what runnergen produces (RUNNERGEN_BLESS=1 updates it):\n{diff}"
            );
        }
        Err(_) => panic!("golden file {path} is missing (RUNNERGEN_BLESS=1 writes it; commit it)"),
    }
}

/// Runs the runnergen binary in the crate root.
pub fn runnergen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("runnergen runs")
}

pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Every golden tree: the committed `out/` and each example fleet's `expected/` (a fixture
/// with a `runners.yaml`; fixtures/import/expected holds what import writes, no tree).
pub fn golden_trees() -> Vec<PathBuf> {
    let mut t = vec![root().join("out")];
    for e in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let dir = e.unwrap().path();
        let expected = dir.join("expected");
        if expected.is_dir() && dir.join("runners.yaml").exists() {
            t.push(expected);
        }
    }
    t
}

/// Runs runnergen in `dir` without colour: exit code, stdout, stderr.
pub fn runnergen_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}
