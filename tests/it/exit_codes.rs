//! Exit codes and output streams of the binary: a closed pipe, a full disk, a file where a
//! directory belongs, and a half-written directory end with a message and exit 2, never a
//! panic (exit 101).

use crate::common::*;
use std::process::{Command, Stdio};

fn runnergen_to(stdout: Stdio, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(args)
        .current_dir(root())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_pipe_or_a_full_disk_is_exit_2() {
    for args in [
        &["schema"][..],
        &["validate", "fixtures/ascode/runners.yaml"],
        &["diff", "fixtures/ascode/runners.yaml", "--out", "out"],
        &[
            "render",
            "fixtures/ascode/runners.yaml",
            "--out",
            "out",
            "--check",
        ],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = runnergen_to(Stdio::from(writer), args);
        assert_eq!(out.status.code(), Some(2), "{args:?} into a closed pipe");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cannot write to standard output"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = runnergen_to(Stdio::from(full), args);
        assert_eq!(out.status.code(), Some(2), "{args:?} into /dev/full");
    }
}

#[test]
fn a_file_where_the_output_directory_belongs_is_exit_2() {
    let file = std::env::temp_dir().join(format!("runnergen-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, "x").unwrap();
    for args in [
        &["render", "fixtures/ascode/runners.yaml", "--check", "--out"][..],
        &["render", "fixtures/ascode/runners.yaml", "--out"],
        &["diff", "fixtures/ascode/runners.yaml", "--out"],
    ] {
        let mut args = args.to_vec();
        args.push(file.to_str().unwrap());
        let out = runnergen(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a"),
            "{args:?}"
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn a_half_written_directory_is_reported_until_render_finishes_it() {
    let dir = std::env::temp_dir().join(format!("runnergen-half-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("out");
    let text = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let tree = runnergen::compile("fixtures/ascode/runners.yaml", &text).unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let opts = runnergen::outdir::Options::default();
    let crashed = runnergen::outdir::write_with(&tree, &out, &opts, &|s| {
        let n = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if *s == runnergen::outdir::Step::Forget || n > 10_000 {
            Err(runnergen::outdir::Crash)
        } else {
            Ok(())
        }
    });
    assert!(crashed.is_err() && runnergen::outdir::interrupted(&out));
    let o = out.to_str().unwrap();
    for args in [
        &[
            "render",
            "fixtures/ascode/runners.yaml",
            "--check",
            "--out",
            o,
        ][..],
        &["diff", "fixtures/ascode/runners.yaml", "--out", o],
    ] {
        let r = runnergen(args);
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&r.stderr).contains("interrupted render"));
    }
    assert_eq!(
        runnergen(&["render", "fixtures/ascode/runners.yaml", "--out", o])
            .status
            .code(),
        Some(0)
    );
    let check = runnergen(&[
        "render",
        "fixtures/ascode/runners.yaml",
        "--check",
        "--out",
        o,
    ]);
    assert_eq!(check.status.code(), Some(0));
}
