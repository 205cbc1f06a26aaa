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

/// A journal is a file in the directory like any other: one that names paths through a link
/// to another folder (or anything a write would not touch) is refused, and nothing is touched.
#[cfg(unix)]
#[test]
fn a_planted_journal_cannot_reach_through_a_link() {
    let (d, out) = seed_rendered("journal");
    let outside = d.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim.txt"), "keep").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("evil")).unwrap();
    fs::write(out.join("payload"), "planted").unwrap();
    let journal = out.join(".runnergen-journal.json");
    let refused = |text: &str, why: &str| {
        fs::write(&journal, text).unwrap();
        let before = contents(&out);
        let r = render_to("fixtures/ascode/runners.yaml", &out);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains("refusing the journal"), "{text}: {stderr}");
        assert!(stderr.contains(why), "{text}: {stderr}");
        assert_eq!(
            fs::read_to_string(outside.join("victim.txt")).unwrap(),
            "keep"
        );
        assert!(!outside.join("planted").exists(), "{text}: planted outside");
        assert_eq!(contents(&out), before, "{text}: the directory was touched");
    };
    refused(
        r#"{"removals":["evil/victim.txt"],"renames":[["payload","evil/planted"]]}"#,
        "payload is not where runnergen stages evil/planted",
    );
    refused(
        r#"{"removals":["evil/victim.txt"],"renames":[]}"#,
        "is a symbolic link",
    );
    refused(
        r#"{"removals":[],"renames":[["evil/.planted.runnergen-new","evil/planted"]]}"#,
        "which runnergen does not write",
    );
    refused(
        r#"{"removals":["../victim.txt"],"renames":[]}"#,
        "not a path inside",
    );
    refused(r#"{"removals":["payload"],"renames":[]}"#, "does not own");
    refused(r#"{"removals":[],"renames":[],"run":"x"}"#, "unknown field");
    refused("not json", "not a write's journal");
    // A journal runnergen wrote still rolls forward: the directory's own journal, committed
    // and interrupted, is covered by the kill-at-every-step test below.
    fs::remove_file(&journal).unwrap();
    fs::remove_file(out.join("evil")).unwrap();
    fs::remove_file(out.join("payload")).unwrap();
    assert_eq!(
        render_to("fixtures/ascode/runners.yaml", &out)
            .status
            .code(),
        Some(0)
    );
}

// ---- crashes, concurrency, ownership ---------------------------------------------------------

use runnergen::outdir::{self, Crash, Options, Step};
use runnergen::tree::Tree;
use std::os::unix::fs::PermissionsExt;

fn seed_text() -> String {
    fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap()
}

/// The seed fleet (A) and an edit of it (B) that adds, changes and removes files: `images`
/// becomes `imagebuilder`, and packer's roles change.
fn trees() -> (Tree, Tree, String) {
    let a = runnergen::compile("runners.yaml", &seed_text()).unwrap();
    // A renamed runner is a new identity: it gets its own client ID.
    let b_text = seed_text()
        .replace("\n  images:\n", "\n  imagebuilder:\n")
        .replace(
            "9f8e7d6c-5b4a-4392-8187-a6b5c4d3e2f1",
            "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        )
        .replacen("role: Contributor", "role: Reader", 1);
    let b = runnergen::compile("runners.yaml", &b_text).unwrap();
    (a, b, b_text)
}

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `out/` holding A, with what a user adds: an unowned file and folder with their own modes,
/// and an owned file whose mode the user changed.
fn prepared(name: &str, a: &Tree) -> PathBuf {
    let out = scratch(name).join("out");
    outdir::write(a, &out, &Options::default()).unwrap();
    fs::write(out.join("NOTES.md"), "mine").unwrap();
    fs::set_permissions(out.join("NOTES.md"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir(out.join("ss/extra")).unwrap();
    fs::set_permissions(out.join("ss/extra"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(
        out.join("ss/tf/values.yaml"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    out
}

/// Nothing of runnergen's own machinery is left: no journal, no staged file.
fn assert_no_leftovers(out: &std::path::Path) {
    assert!(!outdir::interrupted(out));
    for e in walkdir::WalkDir::new(out) {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".runnergen-new"), "leftover {name}");
    }
}

/// The directory holds the tree's files and the user's, and nothing else: no file a crashed
/// write left orphaned.
fn assert_exactly(tree: &Tree, out: &std::path::Path, context: &str) {
    let files: std::collections::BTreeSet<String> = walkdir::WalkDir::new(out)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(out)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut expected: std::collections::BTreeSet<String> =
        tree.paths().map(str::to_owned).collect();
    expected.insert("NOTES.md".into());
    assert_eq!(files, expected, "{context}");
}

fn assert_user_things_intact(out: &std::path::Path) {
    assert_eq!(fs::read_to_string(out.join("NOTES.md")).unwrap(), "mine");
    assert_eq!(mode(&out.join("NOTES.md")), 0o600);
    assert_eq!(mode(&out.join("ss/extra")), 0o700);
    assert_eq!(
        mode(&out.join("ss/tf/values.yaml")),
        0o640,
        "an owned file keeps its mode"
    );
}

/// A write stopped before each of its steps in turn (as a kill would stop it) leaves either
/// the old files or a committed journal; the next render then leaves exactly the tree it
/// renders, whichever it is, with the user's files, folders and modes as they were.
#[test]
fn a_kill_at_every_step_leaves_old_or_new_and_the_next_run_repairs() {
    let (a, b, _) = trees();
    let steps = std::sync::Mutex::new(Vec::new());
    let out = prepared("steps", &a);
    outdir::write_with(&b, &out, &Options::default(), &|s| {
        steps.lock().unwrap().push(s.clone());
        Ok(())
    })
    .unwrap();
    let steps = steps.into_inner().unwrap();
    assert!(
        steps.contains(&Step::Commit) && steps.len() > 20,
        "{steps:?}"
    );
    // The renamed runner's folder is new: staged whole, and renamed into place at once.
    let staged = out.join("ss/.imagebuilder.runnergen-new");
    assert!(
        steps.contains(&Step::CreateDir(staged.clone())),
        "{steps:?}"
    );
    assert!(
        steps.contains(&Step::Rename(out.join("ss/imagebuilder"))),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(
            |s| matches!(s, Step::Rename(p) if p.parent() == Some(&out.join("ss/imagebuilder")))
        ),
        "no file of the new folder is renamed on its own: {steps:?}"
    );
    for (k, at) in steps.iter().enumerate() {
        let out = prepared(&format!("kill-{k}"), &a);
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let crashed = outdir::write_with(&b, &out, &Options::default(), &|_| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n > k { Err(Crash) } else { Ok(()) }
        });
        assert!(crashed.is_err(), "step {k} ({at:?}) did not stop the write");
        if !outdir::interrupted(&out) {
            assert!(
                outdir::plan(&a, &out).is_clean(),
                "before the commit ({at:?}) A is intact"
            );
        }
        // The next render, of B or of A, leaves exactly that tree.
        let next = if k % 2 == 0 { &b } else { &a };
        outdir::write(next, &out, &Options::default()).unwrap();
        assert!(outdir::plan(next, &out).is_clean(), "after {at:?}");
        assert_exactly(next, &out, &format!("after {at:?}"));
        assert_no_leftovers(&out);
        assert_user_things_intact(&out);
        fs::remove_dir_all(out.parent().unwrap()).unwrap();
    }
}

/// Two renders of different specs into one directory at once: both succeed, one after the
/// other, and the directory holds exactly what one of them renders.
#[test]
fn two_writers_leave_one_whole_tree() {
    let (a, b, b_text) = trees();
    let d = scratch("two-writers");
    fs::write(d.join("b.yaml"), &b_text).unwrap();
    fs::write(d.join("a.yaml"), seed_text()).unwrap();
    let out = d.join("out");
    let (ta, tb) = (
        runnergen::compile("a.yaml", &seed_text()).unwrap(),
        runnergen::compile("b.yaml", &b_text).unwrap(),
    );
    drop((a, b));
    for round in 0..25 {
        let spawn = |spec: &str| {
            std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
                .args(["render", spec, "--out", "out"])
                .current_dir(&d)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut x, mut y) = (spawn("a.yaml"), spawn("b.yaml"));
        assert!(
            x.wait().unwrap().success() && y.wait().unwrap().success(),
            "round {round}"
        );
        assert!(
            outdir::plan(&ta, &out).is_clean() || outdir::plan(&tb, &out).is_clean(),
            "round {round}: the directory is neither tree"
        );
        assert_no_leftovers(&out);
    }
}

#[test]
fn an_unowned_file_in_the_way_is_an_error_until_adopted() {
    let (a, b, b_text) = trees();
    let out = prepared("in-the-way", &a);
    let mine = out.join("ss/imagebuilder/values.yaml");
    fs::create_dir_all(mine.parent().unwrap()).unwrap();
    fs::write(&mine, "my own values").unwrap();
    let e = outdir::write(&b, &out, &Options::default()).unwrap_err();
    assert!(
        e.0.contains("ss/imagebuilder/values.yaml") && e.0.contains("--adopt"),
        "{e}"
    );
    assert!(outdir::plan(&a, &out).is_clean(), "nothing was written");
    // What was staged before the file in the way was met is removed again.
    assert_no_leftovers(&out);
    assert_eq!(fs::read_to_string(&mine).unwrap(), "my own values");
    // The CLI says the same with exit 2, and --adopt takes it over.
    fs::write(out.parent().unwrap().join("b.yaml"), &b_text).unwrap();
    let cli = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
            .args(["render", "b.yaml", "--out", "out"])
            .args(extra)
            .current_dir(out.parent().unwrap())
            .output()
            .unwrap()
    };
    let refused = cli(&[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("imagebuilder/values.yaml"));
    assert_eq!(cli(&["--adopt"]).status.code(), Some(0));
    let tb = runnergen::compile("b.yaml", &b_text).unwrap();
    assert!(outdir::plan(&tb, &out).is_clean());
    assert_user_things_intact(&out);
}

/// What an interrupted write staged inside the directory is removed; what lies beside the
/// directory is never touched, whatever its name.
#[test]
fn staged_leftovers_are_removed_and_nothing_beside_the_directory_is_touched() {
    let (a, _, _) = trees();
    let out = prepared("leftovers", &a);
    let parent = out.parent().unwrap();
    let beside = parent.join(".out.runnergen-stage-4242");
    fs::create_dir_all(beside.join("ss/tf")).unwrap();
    fs::write(beside.join("ss/tf/config.toml"), "x").unwrap();
    fs::write(out.join("ss/tf/.config.toml.runnergen-new"), "half").unwrap();
    fs::write(parent.join(".out.runnergen-notes"), "not ours to remove").unwrap();
    outdir::write(&a, &out, &Options::default()).unwrap();
    assert_eq!(
        fs::read_to_string(beside.join("ss/tf/config.toml")).unwrap(),
        "x"
    );
    assert!(parent.join(".out.runnergen-notes").exists());
    assert_no_leftovers(&out);
}

/// A file system mounted inside the output directory is neither recursed into nor replaced.
#[test]
fn a_mount_inside_the_output_directory_is_left_alone() {
    let (a, b, _) = trees();
    let out = prepared("mount", &a);
    let mnt = out.join("ss/images/cache");
    fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "runnergen-test", mnt.to_str().unwrap()])
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: this machine cannot mount a tmpfs (not root, or no mount)");
        return;
    }
    fs::write(mnt.join("data"), "on another file system").unwrap();
    // B removes every file of `images`: its folder is then not empty (the mount) and stays.
    let result = outdir::write(&b, &out, &Options::default());
    let data = fs::read_to_string(mnt.join("data"));
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    result.unwrap();
    assert_eq!(data.unwrap(), "on another file system");
    assert!(outdir::plan(&b, &out).is_clean());
}

/// `render` hands the tree to the write part by part as it is rendered: what it leaves is
/// exactly the tree `compile` returns, over an empty directory and over another fleet's
/// (files added, changed and removed), with nothing of its own machinery left.
#[test]
fn the_streamed_render_writes_exactly_the_compiled_tree() {
    let d = scratch("streamed");
    let out = d.join("out");
    let user = out.join("NOTES.md");
    for (runners, envs) in [(300, 5), (200, 5)] {
        let text = crate::gen_fleet::fleet(runners, envs);
        fs::write(d.join("runners.yaml"), &text).unwrap();
        let (code, _, err) = runnergen_in(&d, &["render", "runners.yaml", "--out", "out"]);
        assert_eq!(code, 0, "{err}");
        let tree = runnergen::compile("runners.yaml", &text).unwrap();
        assert!(outdir::plan(&tree, &out).is_clean(), "{runners} runners");
        if user.exists() {
            assert_exactly(&tree, &out, &format!("{runners} runners"));
        } else {
            fs::write(&user, "mine").unwrap();
        }
        assert_no_leftovers(&out);
    }
}

/// A render that fails part-way (a limit of ARM, met by one environment's template after
/// other parts were staged) leaves the directory as it was, and creates none that did not
/// exist.
#[test]
fn a_render_failing_part_way_leaves_the_directory_as_it_was() {
    let mut text = seed_text();
    text.push_str("\n  big:\n    environment: ss\n    type: group\n    path: ascodenl/big\n    purpose: Too many scopes\n    identity:\n      roles:\n");
    for i in 0..801 {
        text.push_str(&format!(
            "        - role: Reader\n          scope: {{subscription: platform, resourceGroup: rg-extra-{i}}}\n"
        ));
    }
    let (d, out) = seed_rendered("part-way");
    let before = contents(&out);
    fs::write(d.join("big.yaml"), &text).unwrap();
    for target in ["fresh", out.to_str().unwrap()] {
        let (code, _, err) = runnergen_in(&d, &["render", "big.yaml", "--out", target]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("ss/azure/main.json would hold 808 resources (ARM allows 800)")
                && err.contains("nothing was written"),
            "{err}"
        );
    }
    assert!(!d.join("fresh").exists(), "no directory was created");
    assert!(contents(&out) == before, "the directory changed");
}

/// Every file under `dir` (hidden ones included) with its bytes.
fn contents(dir: &std::path::Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_owned(), fs::read(e.path()).unwrap()))
        .collect()
}

/// An aborted write removes all it staged, staged folders included, and every folder it
/// created for the directory: what was there is exactly as it was, entry for entry.
#[test]
fn an_aborted_write_leaves_the_directory_as_it_was() {
    let (a, b, _) = trees();
    let out = prepared("abort", &a);
    let entries = |dir: &std::path::Path| -> Vec<(PathBuf, Option<Vec<u8>>)> {
        walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap())
            .map(|e| {
                let bytes = e.file_type().is_file().then(|| fs::read(e.path()).unwrap());
                (e.path().to_owned(), bytes)
            })
            .collect()
    };
    let before = entries(&out);
    let writer = outdir::Writer::open(&out, &Options::default(), &|_| Ok(())).unwrap();
    writer.put(&b).unwrap();
    assert!(
        out.join("ss/.imagebuilder.runnergen-new").is_dir(),
        "B's new folder was staged"
    );
    writer.abort();
    assert!(entries(&out) == before, "the directory changed");
    // A directory three levels deep that did not exist goes again, all three levels.
    let fresh = out.parent().unwrap().join("new/a/out");
    let writer = outdir::Writer::open(&fresh, &Options::default(), &|_| Ok(())).unwrap();
    writer.put(&b).unwrap();
    writer.abort();
    assert!(!out.parent().unwrap().join("new").exists());
}

/// Files are staged on every core, so more than one may reach a folder that is a link: each
/// meets the error, and not one is staged through it.
#[test]
fn no_file_is_staged_through_a_linked_folder() {
    let d = scratch("linked-stage");
    let outside = d.join("outside");
    fs::create_dir_all(&outside).unwrap();
    let outside = outside.canonicalize().unwrap();
    let tree = runnergen::compile("runners.yaml", &crate::gen_fleet::fleet(40, 2)).unwrap();
    let out = d.join("out");
    fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("e00")).unwrap();
    let escaped = std::sync::Mutex::new(Vec::new());
    let hook = |s: &Step| {
        if let Step::Stage(p) | Step::CreateDir(p) = s
            && p.parent()
                .and_then(|q| q.canonicalize().ok())
                .is_some_and(|q| q.starts_with(&outside))
        {
            escaped.lock().unwrap().push(p.clone());
        }
        Ok(())
    };
    // One file after another, as parts from different cores arrive.
    let writer = outdir::Writer::open(&out, &Options::default(), &hook).unwrap();
    for (path, bytes) in tree.iter().filter(|(p, _)| p.starts_with("e00/")).take(5) {
        let mut part = Tree::new();
        part.insert(path, bytes).unwrap();
        let e = writer.put(&part).unwrap_err();
        assert!(e.0.contains("symbolic link"), "{path}: {e}");
    }
    writer.abort();
    // Its lock goes with it.
    drop(writer);
    // And the whole tree at once, on every core.
    let e = outdir::write_with(&tree, &out, &Options::default(), &hook).unwrap_err();
    assert!(e.0.contains("symbolic link"), "{e}");
    assert_eq!(*escaped.lock().unwrap(), Vec::<PathBuf>::new());
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    assert_no_leftovers(&out);
}

/// The committed side of a diff is read file by file as the render reaches it: a file equal to
/// the render is not kept, and a git base's is not even read (its blob ID is the render's).
#[test]
fn a_diffs_base_is_compared_file_by_file() {
    use runnergen::outdir::{Base, blob_id};
    // `printf 'hello\n' | git hash-object --stdin`, in a repository of each object format.
    assert_eq!(
        blob_id(b"hello\n", 40).as_deref(),
        Some("ce013625030ba8dba906f756967f9e9ca394464a")
    );
    assert_eq!(
        blob_id(b"hello\n", 64).as_deref(),
        Some("2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4")
    );
    assert_eq!(blob_id(b"", 12), None);

    let (d, out) = seed_rendered("diff-base");
    let edited = "ss/tf/config.toml";
    let rendered = fs::read(out.join(edited)).unwrap();
    fs::write(out.join(edited), "edited\n").unwrap();
    let base = Base::from_dir(&out);
    assert!(base.owned().contains(edited));
    assert_eq!(
        base.differing(edited, &rendered),
        Some(Some(b"edited\n".to_vec()))
    );
    assert_eq!(base.differing(edited, b"edited\n"), None);
    assert_eq!(base.differing("ss/new/config.toml", b"x"), Some(None));
    assert_eq!(base.read("ss/new/config.toml"), None);
    let _ = fs::remove_dir_all(d);
}
