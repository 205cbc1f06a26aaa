//! Writing: all or nothing, only what runnergen owns, never outside the directory or through links.

use crate::common::*;
use std::fs;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("runnergen-write-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A scratch folder with the seed fleet rendered into `out/`.
fn seed_rendered(name: &str) -> (PathBuf, PathBuf) {
    let d = scratch(name);
    let out = d.join("out");
    let r = render_to("fixtures/ascode/runners.yaml", &out);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    (d, out)
}

fn render_to(spec: &str, out: &std::path::Path) -> std::process::Output {
    runnergen(&["render", spec, "--out", out.to_str().unwrap()])
}

#[test]
fn renders_then_is_up_to_date_and_keeps_unowned_files() {
    let d = scratch("idempotent");
    let out = d.join("out");
    let first = render_to("fixtures/ascode/runners.yaml", &out);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    fs::write(out.join("NOTES.md"), "mine").unwrap();
    let cfg = out.join("ss/tf/config.toml");
    let before = fs::metadata(&cfg).unwrap().modified().unwrap();
    let second = render_to("fixtures/ascode/runners.yaml", &out);
    assert_eq!(second.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("up to date"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(
        fs::metadata(&cfg).unwrap().modified().unwrap(),
        before,
        "unchanged files are not rewritten"
    );
    assert_eq!(fs::read_to_string(out.join("NOTES.md")).unwrap(), "mine");
    let check = runnergen(&[
        "render",
        "fixtures/ascode/runners.yaml",
        "--out",
        out.to_str().unwrap(),
        "--check",
    ]);
    assert_eq!(check.status.code(), Some(0));
}

#[test]
fn prunes_what_the_spec_no_longer_produces_and_nothing_else() {
    let (_, out) = seed_rendered("prune");
    fs::write(out.join("ss/tf/extra.txt"), "mine").unwrap();
    // Phase 1 of the same fleet: no client IDs, so the Kubernetes files go away.
    let r = render_to("fixtures/first-phase/runners.yaml", &out);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!out.join("ss/tf/config.toml").exists());
    assert!(!out.join("ss/kustomization.yaml").exists());
    assert!(out.join("ss/tf/registration.json").exists());
    assert!(out.join("ss/azure/main.json").exists());
    assert_eq!(
        fs::read_to_string(out.join("ss/tf/extra.txt")).unwrap(),
        "mine"
    );
    let summary = String::from_utf8_lossy(&r.stdout);
    assert!(summary.contains("removed"), "{summary}");
}

#[test]
fn invalid_spec_leaves_output_untouched() {
    let (_, out) = seed_rendered("untouched");
    let snapshot = |p: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = walkdir::WalkDir::new(p)
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| (e.path().display().to_string(), fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    let before = snapshot(&out);
    let r = render_to("fixtures/invalid/unknown-role.yaml", &out);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(snapshot(&out), before);
}

#[test]
fn check_reports_drift_and_writes_nothing() {
    let (_, out) = seed_rendered("check");
    fs::write(out.join("ss/tf/config.toml"), "edited by hand\n").unwrap();
    let r = runnergen(&[
        "render",
        "fixtures/ascode/runners.yaml",
        "--out",
        out.to_str().unwrap(),
        "--check",
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("stale"));
    assert_eq!(
        fs::read_to_string(out.join("ss/tf/config.toml")).unwrap(),
        "edited by hand\n"
    );
}

#[cfg(unix)]
#[test]
fn never_writes_through_symlinks() {
    let d = scratch("symlink");
    let outside = d.join("outside");
    fs::create_dir_all(&outside).unwrap();
    let out = d.join("out");
    fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("ss")).unwrap();
    let r = render_to("fixtures/ascode/runners.yaml", &out);
    assert_eq!(
        r.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("symbolic link"));
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );

    let linked = d.join("linked-out");
    std::os::unix::fs::symlink(&outside, &linked).unwrap();
    let r = render_to("fixtures/ascode/runners.yaml", &linked);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn tampered_manifest_cannot_delete_outside() {
    let (d, out) = seed_rendered("manifest");
    let victim = d.join("victim.txt");
    fs::write(&victim, "keep").unwrap();
    fs::write(
        out.join(".runnergen-manifest.json"),
        r#"{"files": ["../victim.txt", "/etc/hostname"]}"#,
    )
    .unwrap();
    assert_eq!(
        render_to("fixtures/ascode/runners.yaml", &out)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
}
