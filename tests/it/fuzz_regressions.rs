//! Inputs kept from fuzzing (`fuzz/`, see fuzz/fuzz_targets/*.rs): every file under
//! tests/fuzz_regressions/ goes through the whole pipeline and must come back, Ok or Err, without
//! a panic. `.yaml` files are UTF-8 specs for `runnergen::compile`; `.bin` files are raw bytes
//! that are not UTF-8, read by the CLI's loader (the only code that handles such bytes).

use std::path::{Path, PathBuf};

fn regressions() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "tests/fuzz_regressions/ must hold at least 3 inputs, found {}",
        files.len()
    );
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn fuzz_regressions_never_panic() {
    let mut ran = 0;
    for path in regressions() {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = name(&path);
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") => {
                let text = std::str::from_utf8(&bytes).unwrap_or_else(|e| {
                    panic!("{name}: a .yaml regression must be UTF-8 ({e}); name it .bin")
                });
                let _ = runnergen::compile(&name, text);
            }
            Some("bin") => {
                assert!(
                    std::str::from_utf8(&bytes).is_err(),
                    "{name}: a .bin regression must not be UTF-8; name it .yaml"
                );
                assert!(
                    runnergen::cli::load(&path, "out").is_err(),
                    "{name}: bytes that are not UTF-8 must be refused"
                );
                let _ = runnergen::compile(&name, &String::from_utf8_lossy(&bytes));
            }
            _ => panic!("{name}: regressions are .yaml (UTF-8) or .bin (raw bytes)"),
        }
        ran += 1;
    }
    assert!(ran >= 3, "ran {ran} regression inputs");
}

/// Every failure is a located diagnostic: an error that is not one (a render, invariant or
/// output-path error) is what the CLI reports as "a bug in runnergen".
#[test]
fn fuzz_regressions_fail_only_with_diagnostics() {
    let mut bugs = Vec::new();
    for path in regressions() {
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = name(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = runnergen::compile(&name, &text)
            && !e.starts_with(&format!("{name}:"))
        {
            bugs.push(format!("{name}: {e}"));
        }
    }
    assert!(bugs.is_empty(), "internal errors:\n{}", bugs.join("\n"));
}
