//! The merge-request review flow on a real git repository: `diff --base REV` reads the output
//! directory as a commit holds it (git plumbing, no checkout), also in a shallow clone once the
//! base commit is fetched.

use crate::common::runnergen_in;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=runnergen test",
            "-c",
            "user.email=test@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_merge_request_that_makes_a_runner_owner_exits_3_against_its_base() {
    let tmp = std::env::temp_dir().join(format!("runnergen-review-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let repo = tmp.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let seed = std::fs::read_to_string(crate::common::root().join("fixtures/ascode/runners.yaml"))
        .unwrap();
    std::fs::write(repo.join("runners.yaml"), &seed).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    assert_eq!(runnergen_in(&repo, &["render", "runners.yaml"]).0, 0);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "runners"]);
    let base = git(&repo, &["rev-parse", "HEAD"]);

    // The merge request: packer becomes Owner, re-rendered and committed together.
    let owner = seed.replacen(
        "        - role: Contributor\n          scope: {subscription: platform, resourceGroup: rg-weu-ss-images}",
        "        - role: Owner\n          scope: {subscription: platform, resourceGroup: rg-weu-ss-images}",
        1,
    );
    assert_ne!(owner, seed);
    std::fs::write(repo.join("runners.yaml"), &owner).unwrap();
    assert_eq!(runnergen_in(&repo, &["render", "runners.yaml"]).0, 0);
    git(&repo, &["commit", "-q", "-am", "packer owner"]);

    // Against the committed out/ nothing differs: that is why the review needs the base.
    assert_eq!(runnergen_in(&repo, &["diff", "runners.yaml"]).0, 0);
    let (code, text, err) = runnergen_in(&repo, &["diff", "runners.yaml", "--base", "HEAD~1"]);
    assert_eq!(code, 3, "{text}{err}");
    assert!(
        text.starts_with("Diff: HEAD~1:out → what the spec renders"),
        "{text}"
    );
    assert!(
        text.contains("! widens  ss/packer: role widened from Contributor on /subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-images to Owner"),
        "{text}"
    );
    // From a subfolder, and with the base as a full SHA, in Markdown.
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    let (code, md, _) = runnergen_in(
        &repo.join("sub"),
        &[
            "diff",
            "../runners.yaml",
            "--base",
            &base,
            "--format",
            "markdown",
        ],
    );
    assert_eq!(code, 3);
    assert!(md.contains("| widens | ss | packer |"), "{md}");
    // --base-dir: the same from an extracted directory.
    let extracted = tmp.join("base-out");
    std::fs::create_dir_all(&extracted).unwrap();
    git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            tmp.join("base-tree").to_str().unwrap(),
            &base,
        ],
    );
    let (code, _, _) = runnergen_in(
        &repo,
        &[
            "diff",
            "runners.yaml",
            "--base-dir",
            tmp.join("base-tree/out").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 3);

    // A shallow clone lacks the base until it is fetched, and says how to fetch it.
    let shallow = tmp.join("shallow");
    git(
        &tmp,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", repo.display()),
            shallow.to_str().unwrap(),
        ],
    );
    let (code, _, err) = runnergen_in(&shallow, &["diff", "runners.yaml", "--base", &base]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not in this clone")
            && err.contains(&format!("git fetch --depth=1 origin {base}")),
        "{err}"
    );
    // A branch is fetched under the name the diff asks for.
    let (code, _, err) = runnergen_in(
        &shallow,
        &["diff", "runners.yaml", "--base", "origin/feature"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`git fetch --depth=1 origin feature:refs/remotes/origin/feature`"),
        "{err}"
    );
    // A mistyped output directory is an error, not a diff in which everything is added.
    let (code, text, err) = runnergen_in(
        &repo,
        &["diff", "runners.yaml", "--base", "HEAD~1", "--out", "outt"],
    );
    assert_eq!((code, text.as_str()), (2, ""), "{err}");
    assert!(
        err.starts_with("error: outt exists neither here nor at `HEAD~1`"),
        "{err}"
    );
    git(&shallow, &["fetch", "-q", "--depth", "1", "origin", &base]);
    let (code, text, _) = runnergen_in(&shallow, &["diff", "runners.yaml", "--base", &base]);
    assert_eq!(code, 3, "{text}");
    assert_eq!(
        std::fs::read_to_string(shallow.join("out/ss/packer/values.yaml")).unwrap(),
        std::fs::read_to_string(repo.join("out/ss/packer/values.yaml")).unwrap(),
        "nothing was checked out"
    );
}

/// `diff --base REV` holds client IDs to the output directory as that commit holds it (E042),
/// with no directory on disk at all.
#[test]
fn a_renamed_identity_is_refused_against_the_git_base() {
    let tmp = std::env::temp_dir().join(format!("runnergen-review-e042-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let seed = std::fs::read_to_string(crate::common::root().join("fixtures/ascode/runners.yaml"))
        .unwrap();
    std::fs::write(tmp.join("runners.yaml"), &seed).unwrap();
    git(&tmp, &["init", "-q", "-b", "main"]);
    assert_eq!(runnergen_in(&tmp, &["render", "runners.yaml"]).0, 0);
    git(&tmp, &["add", "-A"]);
    git(&tmp, &["commit", "-q", "-m", "runners"]);
    std::fs::remove_dir_all(tmp.join("out")).unwrap();
    let renamed = seed.replacen("\n  images:\n", "\n  imagebuilder:\n", 1);
    std::fs::write(tmp.join("runners.yaml"), renamed).unwrap();
    let (code, text, err) = runnergen_in(&tmp, &["diff", "runners.yaml", "--base", "HEAD"]);
    assert_eq!((code, text.as_str()), (2, ""), "{err}");
    assert!(
        err.starts_with("runners.yaml:89:17: error[E042]: runner `imagebuilder`: client ID `9f8e7d6c-5b4a-4392-8187-a6b5c4d3e2f1` belongs to the identity `weu-ss-msi-gitlab-images` (runner `images` in the committed output), but it now derives the identity `weu-ss-msi-gitlab-imagebuilder`\n"),
        "{err}"
    );
    assert!(
        err.ends_with("error: runners.yaml: 1 problem found; nothing was written\n"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A symbolic link at the output directory's place, in the base commit or in the working tree,
/// is an error (exit 2), as `render --check` refuses one: a link would compare some other
/// folder's files.
#[cfg(unix)]
#[test]
fn a_linked_output_directory_at_either_side_is_an_error() {
    let tmp = std::env::temp_dir().join(format!("runnergen-review-link-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(
        crate::common::root().join("fixtures/ascode/runners.yaml"),
        tmp.join("runners.yaml"),
    )
    .unwrap();
    git(&tmp, &["init", "-q", "-b", "main"]);
    let rendered = runnergen_in(&tmp, &["render", "runners.yaml", "--out", "rendered"]);
    assert_eq!(rendered.0, 0, "{}", rendered.2);
    std::os::unix::fs::symlink("rendered", tmp.join("out")).unwrap();
    git(&tmp, &["add", "-A"]);
    git(&tmp, &["commit", "-q", "-m", "out is a link"]);
    let refused = |args: &[&str], why: &str| {
        let (code, text, err) = runnergen_in(&tmp, args);
        assert_eq!((code, text.as_str()), (2, ""), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    };
    // The working tree's out/ is a link: with a base, without one, and for --check.
    let link = "out is a symbolic link";
    refused(&["diff", "runners.yaml", "--base", "HEAD"], link);
    refused(&["diff", "runners.yaml"], link);
    refused(&["render", "runners.yaml", "--check"], link);
    // The working tree's out/ is a folder, the base commit's a link.
    std::fs::remove_file(tmp.join("out")).unwrap();
    assert_eq!(runnergen_in(&tmp, &["render", "runners.yaml"]).0, 0);
    assert_eq!(runnergen_in(&tmp, &["diff", "runners.yaml"]).0, 0);
    refused(
        &["diff", "runners.yaml", "--base", "HEAD"],
        "HEAD:out is a symbolic link",
    );
    // A folder on the way to it that the base holds as a link, a folder in the working tree.
    std::os::unix::fs::symlink("rendered", tmp.join("nest")).unwrap();
    git(&tmp, &["add", "nest"]);
    git(&tmp, &["commit", "-q", "-m", "nest is a link"]);
    std::fs::remove_file(tmp.join("nest")).unwrap();
    let nested = runnergen_in(&tmp, &["render", "runners.yaml", "--out", "nest/out"]);
    assert_eq!(nested.0, 0, "{}", nested.2);
    refused(
        &[
            "diff",
            "runners.yaml",
            "--out",
            "nest/out",
            "--base",
            "HEAD",
        ],
        "HEAD:nest is a symbolic link",
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
