//! The files a command reads: the spec and the files it names (`identityOutputs`). Regular files
//! only (a FIFO or a device is refused without blocking), each within its limit, the named ones
//! inside the spec's folder (or its git repository) unless `--allow-outside-paths`; a value
//! read from them that is not what it should be is shown masked.

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch folder holding `repo/runners.yaml` (the outputs fixture) and its outputs file.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("runnergen-read-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    let repo = d.join("repo");
    fs::create_dir_all(&repo).unwrap();
    for f in ["runners.yaml", "ss.identity-outputs.json"] {
        fs::copy(root().join("fixtures/outputs").join(f), repo.join(f)).unwrap();
    }
    d
}

/// Runs runnergen in `dir`, failing the test (and killing it) after 60 seconds: a read that
/// blocks must not hang the suite.
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("runnergen {args:?} blocked");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Points `identityOutputs` of the spec in `repo` at `to`.
fn outputs_at(d: &Path, to: &str) {
    let spec = d.join("repo/runners.yaml");
    let text: String = fs::read_to_string(&spec)
        .unwrap()
        .lines()
        .map(|l| match l.split_once("identityOutputs: ") {
            Some((indent, _)) => format!("{indent}identityOutputs: {to}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    fs::write(spec, text).unwrap();
}

#[cfg(unix)]
#[test]
fn a_spec_that_is_a_fifo_a_device_or_too_large_is_refused_unread() {
    let d = scratch("spec");
    let repo = d.join("repo");
    mkfifo(&repo.join("fifo.yaml"));
    let (code, err) = run(&repo, &["validate", "fifo.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("fifo.yaml:1:1: error[E001]") && err.contains("a FIFO"),
        "{err}"
    );
    let (code, err) = run(&repo, &["validate", "/dev/zero"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error[E001]") && err.contains("a device"),
        "{err}"
    );
    let (code, err) = run(&repo, &["validate", "."]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error[E001]") && err.contains("a folder"),
        "{err}"
    );
    // Over the spec's budget: refused from its size, before it is read.
    let big = fs::File::create(repo.join("big.yaml")).unwrap();
    big.set_len(8 * 1024 * 1024 + 1).unwrap();
    let (code, err) = run(&repo, &["validate", "big.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("big.yaml:1:1: error[E001]") && err.contains("at most 8388608 bytes"),
        "{err}"
    );
}

/// The line of `identityOutputs` in the outputs fixture, where its problems are located.
const AT: &str = "runners.yaml:31:";

#[cfg(unix)]
#[test]
fn an_outputs_file_that_is_a_fifo_or_a_device_is_refused_without_blocking() {
    let d = scratch("outputs-kind");
    let repo = d.join("repo");
    mkfifo(&repo.join("fifo.json"));
    outputs_at(&d, "fifo.json");
    let (code, err) = run(&repo, &["validate", "runners.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(AT) && err.contains("error[E040]") && err.contains("a FIFO"),
        "{err}"
    );
    // /dev/zero is outside the spec's folder; allowed outside, it is still a device.
    outputs_at(&d, "/dev/zero");
    let (code, err) = run(&repo, &["validate", "runners.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error[E040]") && err.contains("outside"),
        "{err}"
    );
    let (code, err) = run(
        &repo,
        &["validate", "runners.yaml", "--allow-outside-paths"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(AT) && err.contains("error[E040]") && err.contains("a device"),
        "{err}"
    );
}

#[test]
fn an_outputs_file_over_its_limit_is_refused() {
    let d = scratch("outputs-size");
    let repo = d.join("repo");
    let big = fs::File::create(repo.join("big.json")).unwrap();
    big.set_len(4 * 1024 * 1024 + 1).unwrap();
    outputs_at(&d, "big.json");
    let (code, err) = run(&repo, &["validate", "runners.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(AT) && err.contains("error[E040]") && err.contains("at most 4194304 bytes"),
        "{err}"
    );
}

#[test]
fn an_outputs_file_outside_the_spec_folder_needs_a_flag() {
    let d = scratch("outside");
    let repo = d.join("repo");
    fs::rename(
        repo.join("ss.identity-outputs.json"),
        d.join("ss.identity-outputs.json"),
    )
    .unwrap();
    outputs_at(&d, "../ss.identity-outputs.json");
    let (code, err) = run(&repo, &["validate", "runners.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(AT)
            && err.contains("error[E040]")
            && err.contains("outside")
            && err.contains("--allow-outside-paths"),
        "{err}"
    );
    // A link inside the folder to the file outside is outside too.
    outputs_at(&d, "linked.json");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(d.join("ss.identity-outputs.json"), repo.join("linked.json"))
            .unwrap();
        let (code, err) = run(&repo, &["validate", "runners.yaml"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("outside"), "{err}");
    }
    outputs_at(&d, "../ss.identity-outputs.json");
    let (code, err) = run(
        &repo,
        &["validate", "runners.yaml", "--allow-outside-paths"],
    );
    assert_eq!(code, 0, "{err}");
    // Inside a git repository holding the spec's folder, the repository is the bound.
    let nested = d.join("sub");
    fs::create_dir_all(d.join(".git")).unwrap();
    fs::rename(&repo, &nested).unwrap();
    let (code, err) = run(&nested, &["validate", "runners.yaml"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_value_that_is_not_a_client_id_is_masked() {
    let d = scratch("masked");
    let repo = d.join("repo");
    let file = repo.join("ss.identity-outputs.json");
    let secret = "s3cr3t-value-from-some-other-file";
    let text = fs::read_to_string(&file).unwrap().replacen(
        "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e",
        secret,
        1,
    );
    fs::write(&file, text).unwrap();
    let (code, err) = run(&repo, &["validate", "runners.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(AT)
            && err.contains("error[E040]")
            && err.contains("‹redacted›")
            && err.contains("(33 characters)"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
}
