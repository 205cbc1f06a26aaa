//! The command line as a new user meets it: `init`, completions, the man page, an example in
//! every `--help`, colour and quiet conventions, `--version`.

use crate::common::*;
use std::process::Command;

fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runnergen"));
    c.args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn init_writes_a_valid_starter_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("runnergen-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = run_in(&dir, &["init"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = std::fs::read_to_string(dir.join("runnergen.yaml")).unwrap();
    assert!(spec.starts_with("# yaml-language-server: $schema=runnergen.schema.json\n"));
    assert_eq!(
        std::fs::read_to_string(dir.join("runnergen.schema.json")).unwrap(),
        runnergen::spec::schema::schema_text(),
        "the schema the modeline names is next to the spec"
    );
    // Valid as written, and it renders: out/ beside the spec, phase 1.
    let v = run_in(&dir, &["validate"], &[]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(String::from_utf8_lossy(&v.stderr).contains("note[N001]"));
    // The starter is what runnergen recommends: no lint finding, even with --strict.
    let lint = run_in(&dir, &["lint", "--strict"], &[]);
    assert_eq!(lint.status.code(), Some(0), "{lint:?}");
    assert!(!String::from_utf8_lossy(&lint.stderr).contains("warning["));
    let r = run_in(&dir, &["render"], &[]);
    assert_eq!(r.status.code(), Some(0));
    assert!(dir.join("out/dev/azure/main.json").exists());
    assert!(dir.join("out/dev/deploy/registration.json").exists());
    // A second init refuses, and leaves the file alone.
    std::fs::write(dir.join("runnergen.yaml"), "mine").unwrap();
    let again = run_in(&dir, &["init"], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    assert_eq!(
        std::fs::read_to_string(dir.join("runnergen.yaml")).unwrap(),
        "mine"
    );
    // Into a new folder.
    assert_eq!(
        run_in(&dir, &["init", "fleet/runners.yaml"], &[])
            .status
            .code(),
        Some(0)
    );
    assert!(dir.join("fleet/runnergen.schema.json").exists());
}

/// `init` looks at both files before writing either, never writes through a link (not even a
/// dangling one) and never replaces a schema that is not exactly its own.
#[cfg(unix)]
#[test]
fn init_never_writes_through_a_link_nor_half_of_its_files() {
    let dir = std::env::temp_dir().join(format!("runnergen-init-link-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (here, outside) = (dir.join("here"), dir.join("outside"));
    std::fs::create_dir_all(&here).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim.json"), "keep").unwrap();
    let refused = |what: &str| {
        let out = run_in(&here, &["init"], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains("wrote nothing"), "{what}: {err}");
        assert!(
            !here.join("runnergen.yaml").exists() || what == "spec",
            "{what}: the spec was written"
        );
        assert_eq!(
            std::fs::read_to_string(outside.join("victim.json")).unwrap(),
            "keep"
        );
        assert!(
            !outside.join("new.yaml").exists(),
            "{what}: written through a link"
        );
    };
    // The schema's path is a link to a file elsewhere: neither file is written.
    let schema = here.join("runnergen.schema.json");
    std::os::unix::fs::symlink(outside.join("victim.json"), &schema).unwrap();
    refused("schema link");
    // A dangling link at the schema's path.
    std::fs::remove_file(&schema).unwrap();
    std::os::unix::fs::symlink(outside.join("new.json"), &schema).unwrap();
    refused("dangling schema link");
    assert!(!outside.join("new.json").exists());
    // Another schema there: not replaced.
    std::fs::remove_file(&schema).unwrap();
    std::fs::write(&schema, "{}").unwrap();
    refused("other schema");
    std::fs::remove_file(&schema).unwrap();
    // The spec's path is a dangling link: nothing is created where it points.
    std::os::unix::fs::symlink(outside.join("new.yaml"), here.join("runnergen.yaml")).unwrap();
    refused("spec");
    assert!(
        !schema.exists(),
        "the schema was written beside a refused spec"
    );
    std::fs::remove_file(here.join("runnergen.yaml")).unwrap();
    // This version's schema already there (a second fleet in the folder) stays as it is.
    std::fs::write(&schema, runnergen::spec::schema::schema_text()).unwrap();
    let out = run_in(&here, &["init"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(here.join("runnergen.yaml").is_file());
}

#[test]
fn completions_and_man_page_come_from_the_same_definition() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = runnergen(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        for sub in ["validate", "render", "diff", "register", "init"] {
            assert!(text.contains(sub), "{shell} completes {sub}");
        }
    }
    let bash = runnergen(&["completions", "bash"]).stdout;
    let check = Command::new("bash")
        .args(["-n", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            std::io::Write::write_all(c.stdin.as_mut().unwrap(), &bash)?;
            c.wait()
        })
        .unwrap();
    assert!(check.success(), "the bash completion script parses");
    let man = String::from_utf8(runnergen(&["man"]).stdout).unwrap();
    assert!(man.contains(".TH runnergen 1"), "{man}");
    // Every page runnergen(1) names exists: `runnergen man COMMAND` prints it.
    let named: Vec<&str> = man
        .lines()
        .filter_map(|l| l.strip_prefix("runnergen\\-")?.strip_suffix("(1)"))
        .collect();
    assert!(named.contains(&"diff"), "{man}");
    assert!(
        !named.contains(&"help"),
        "no page is named that does not exist"
    );
    for command in &named {
        let page = runnergen(&["man", command]);
        assert_eq!(page.status.code(), Some(0), "{command}");
        let text = String::from_utf8(page.stdout).unwrap();
        assert!(
            text.contains(&format!(".TH runnergen-{command} 1"))
                && text.contains(&format!("runnergen\\-{command} \\-")),
            "{text}"
        );
    }
    assert_eq!(runnergen(&["man", "nope"]).status.code(), Some(2));
    for sub in [
        "validate",
        "render",
        "diff",
        "register",
        "init",
        "completions",
    ] {
        assert!(man.contains(sub), "the man page names {sub}");
    }
}

#[test]
fn every_command_shows_an_example_and_the_version_names_the_chart_range() {
    for sub in [
        "init",
        "validate",
        "render",
        "diff",
        "schema",
        "register",
        "completions",
        "man",
    ] {
        let help = String::from_utf8(runnergen(&[sub, "--help"]).stdout).unwrap();
        assert!(
            help.contains("Example"),
            "{sub} --help has an example:\n{help}"
        );
    }
    let version = String::from_utf8(runnergen(&["--version"]).stdout).unwrap();
    assert_eq!(
        version,
        "runnergen 0.1.0 (gitlab-runner chart 0.66.0 to 0.86.0)\n"
    );
    let (lo, hi) = (
        runnergen::facts::CHART_MIN_VERSION,
        runnergen::facts::CHART_VERSION,
    );
    assert!(version.contains(&format!("{}.{}.{} to {hi}", lo.0, lo.1, lo.2)));
}

#[test]
fn colour_follows_the_flag_no_color_and_clicolor_force() {
    let root = root();
    let bad = ["validate", "fixtures/invalid/unknown-role.yaml"];
    let coloured = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stderr).contains("\x1b[31;1merror[E014]:")
    };
    assert!(!coloured(&run_in(&root, &bad, &[])), "plain when piped");
    assert!(coloured(&run_in(
        &root,
        &["--color", "always", bad[0], bad[1]],
        &[]
    )));
    assert!(
        coloured(&run_in(&root, &bad, &[("CLICOLOR_FORCE", "1")])),
        "CI logs"
    );
    assert!(!coloured(&run_in(
        &root,
        &bad,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    assert!(!coloured(&run_in(
        &root,
        &["--color", "never", bad[0], bad[1]],
        &[("CLICOLOR_FORCE", "1")]
    )));
    // Errors still print with --quiet; the exit code is the same.
    let quiet = run_in(&root, &["-q", bad[0], bad[1]], &[]);
    assert_eq!(quiet.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&quiet.stderr).contains("error[E014]"));
}

/// `lint` on the seed fleet: every finding located, with its level and hint (golden), exit 0;
/// `--strict` exits 1 until each is acknowledged; an invalid spec exits 2.
#[test]
fn lint_names_the_seeds_findings_and_strict_fails_until_acknowledged() {
    let out = runnergen(&["lint", "fixtures/lint/unacknowledged.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_golden("fixtures/lint/seed.expected", text.as_bytes());
    for (rule, what) in [
        ("L001", "Owner of every subscription"),
        ("L002", "cluster-admin"),
        ("L003", "privileged job pods on shared nodes"),
    ] {
        assert!(
            text.contains(&format!("warning[{rule}]: runner `tf`")),
            "{rule}"
        );
        assert!(text.contains(what), "{what}");
    }

    let strict = runnergen(&["lint", "--strict", "fixtures/lint/unacknowledged.yaml"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&strict.stderr)
            .contains("error: --strict: 11 findings not acknowledged")
    );

    // The example fleet acknowledges each of them: the CI component's default `lint: strict`
    // passes on it as committed.
    let acked = runnergen(&["lint", "--strict", "fixtures/ascode/runners.yaml"]);
    assert_eq!(acked.status.code(), Some(0), "{acked:?}");
    let err = String::from_utf8_lossy(&acked.stderr);
    assert!(
        err.contains("warning[L001]: runner `tf`'s identity is Owner of every subscription of the environment (high; acknowledged: the Terraform pipelines create role assignments and RBAC, which Contributor cannot)"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&acked.stdout),
        "fixtures/ascode/runners.yaml: 11 lint findings, 11 acknowledged, 0 not\n"
    );

    let invalid = runnergen(&["lint", "--strict", "fixtures/invalid/acknowledge.yaml"]);
    assert_eq!(invalid.status.code(), Some(2));
}

/// An acknowledgement covers the one finding it names: the runner's sandbox Owner is
/// acknowledged in dev, stg and prd, the Owner production's override adds is not, so
/// `--strict` fails on that one finding and its hint says to acknowledge it in the override.
#[test]
fn lint_strict_fails_on_the_owner_a_prd_override_adds() {
    let out = runnergen(&["lint", "--strict", "fixtures/lint/environments.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: --strict: 1 finding not acknowledged"),
        "{err}"
    );
    assert!(
        err.contains("warning[L001]: runner `deploy`'s identity is Owner of subscription `apps` (high)\n  at /runners/deploy/overrides/prd/identity/roles/1/scope"),
        "{err}"
    );
    assert!(
        err.contains("or accept it in `overrides.prd`: `acknowledge: [{rule: L001, role: Owner, scope: {subscription: apps}, reason: …}]`"),
        "{err}"
    );
    assert!(!err.contains("N002"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fixtures/lint/environments.yaml: 4 lint findings, 3 acknowledged, 1 not\n"
    );
}

/// `validate` and `render` print one line per finding, and where to read more.
#[test]
fn validate_prints_lint_findings_one_line_each() {
    let out = runnergen(&["validate", "fixtures/lint/unacknowledged.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 12, "{err}");
    assert!(err.contains(
        "fixtures/lint/unacknowledged.yaml:50:25: warning[L002]: runner `tf`'s job pods are cluster-admin (high)\n"
    ));
    assert!(err.ends_with(
        "11 lint findings (0 acknowledged): `runnergen lint fixtures/lint/unacknowledged.yaml` says what to do\n"
    ));
    let quiet = runnergen(&["--quiet", "validate", "fixtures/lint/unacknowledged.yaml"]);
    assert!(quiet.stderr.is_empty());
    // `lint -q` too prints errors only: the seed's findings are warnings.
    let quiet = runnergen(&["--quiet", "lint", "fixtures/lint/unacknowledged.yaml"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(
        quiet.stderr.is_empty() && quiet.stdout.is_empty(),
        "{quiet:?}"
    );
}

/// `explain` prints the runner's section of the committed PERMISSIONS.md.
#[test]
fn explain_prints_the_runners_section_of_permissions_md() {
    let out = runnergen(&[
        "explain",
        "tf",
        "fixtures/ascode/runners.yaml",
        "--out",
        "out",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(root().join("out/ss/PERMISSIONS.md")).unwrap();
    let section = |t: &str| -> String {
        let a = t.find("## `tf`\n").unwrap();
        let rest = &t[a + 4..];
        t[a..a + 4 + rest.find("\n## ").unwrap_or(rest.len())].to_owned()
    };
    assert_eq!(section(&text), section(&committed));
    assert!(!text.contains("## `images`"));

    let wrong_env = runnergen(&[
        "explain",
        "tf",
        "fixtures/ascode/runners.yaml",
        "--env",
        "prd",
    ]);
    assert_eq!(wrong_env.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&wrong_env.stderr),
        "error: runner `tf` does not run in environment `prd`\n  = hint: it runs in `ss`\n"
    );
    let unknown = runnergen(&["explain", "tff", "fixtures/ascode/runners.yaml"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "error: no runner `tff` in fixtures/ascode/runners.yaml\n  = hint: did you mean `tf`? runners: images, packer, tf\n"
    );
}

/// A runner written for several environments is explained in each of them, or in the one
/// `--env` names, as that environment's PERMISSIONS.md shows it.
#[test]
fn explain_shows_a_multi_environment_runner_in_every_environment() {
    let spec = "fixtures/environments/runners.yaml";
    let all = runnergen(&["explain", "deploy", spec]);
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    let text = String::from_utf8(all.stdout).unwrap();
    assert_eq!(text.matches("## `deploy`\n").count(), 2, "{text}");
    assert!(
        text.contains("Permissions of the runners of `dev`")
            && text.contains("Permissions of the runners of `prd`")
    );
    let prd = runnergen(&["explain", "deploy", spec, "--env", "prd"]);
    assert_eq!(prd.status.code(), Some(0));
    let prd = String::from_utf8(prd.stdout).unwrap();
    let committed =
        std::fs::read_to_string(root().join("fixtures/environments/expected/prd/PERMISSIONS.md"))
            .unwrap();
    let section = |t: &str| -> String {
        let a = t.find("## `deploy`\n").unwrap();
        let rest = &t[a + 4..];
        t[a..a + 4 + rest.find("\n## ").unwrap_or(rest.len())].to_owned()
    };
    assert_eq!(section(&prd), section(&committed));
    assert!(!prd.contains("of `dev`"));
}

/// `codeowners` prints a CODEOWNERS section giving every file whose change can change a
/// runner's privileges to the security group: the seed fleet's, in a repository whose root
/// holds the spec (paths anchored at the root, the output directory beside the spec), with a
/// spec in a subfolder, and a bad owner refused.
#[test]
fn codeowners_assigns_every_privilege_file_to_the_security_group() {
    let dir = std::env::temp_dir().join(format!("runnergen-codeowners-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::create_dir_all(dir.join("fleet")).unwrap();
    let seed = root().join("fixtures/ascode/runners.yaml");
    std::fs::copy(&seed, dir.join("runners.yaml")).unwrap();
    std::fs::copy(&seed, dir.join("fleet/runners.yaml")).unwrap();
    let (code, text, err) = runnergen_in(
        &dir,
        &["codeowners", "runners.yaml", "--group", "@acme/security"],
    );
    assert_eq!(code, 0, "{err}");
    assert_golden("tests/golden/codeowners/ascode.txt", text.as_bytes());
    // Every privilege file the seed fleet renders is named (and nothing that is not rendered
    // but for the patterns and files of later fleets).
    let tree =
        runnergen::compile("runners.yaml", &std::fs::read_to_string(&seed).unwrap()).unwrap();
    for (path, _) in tree.iter() {
        let owned = match runnergen::layout::Location::of(path) {
            runnergen::layout::Location::Runner { file: Some(f), .. } => {
                runnergen::layout::RunnerFile::PRIVILEGE.contains(&f)
            }
            runnergen::layout::Location::Azure { .. } => {
                assert!(text.contains(&format!(
                    "/out/{}/azure/ @acme/security\n",
                    &path[..path.find('/').unwrap()]
                )));
                continue;
            }
            _ => path.ends_with("/PERMISSIONS.md"),
        };
        if owned {
            assert!(
                text.contains(&format!("/out/{path} @acme/security\n")),
                "{path}"
            );
        }
    }
    // A spec in a subfolder: its output directory's path from the repository's root.
    let (code, nested, err) = runnergen_in(
        &dir,
        &[
            "codeowners",
            "fleet/runners.yaml",
            "--group",
            "@acme/security",
            "--group",
            "@ciso",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        nested.contains("\n/fleet/out/ss/tf/rbac.yaml @acme/security @ciso\n"),
        "{nested}"
    );
    assert!(
        nested.contains("\n/fleet/out/*/*/config.toml @acme/security @ciso\n"),
        "{nested}"
    );
    let (code, _, err) = runnergen_in(&dir, &["codeowners", "runners.yaml", "--group", "security"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a GitLab owner"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
