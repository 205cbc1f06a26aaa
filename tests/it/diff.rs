//! `runnergen diff`: golden output for each format and exit code.

use crate::common::*;

fn diff(args: &[&str]) -> (i32, String, String) {
    diff_in(&root(), args)
}

fn diff_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    // The committed rendering is `out/` at the top, not `out` beside the spec.
    let default_out: &[&str] = if args.contains(&"--out") || args.contains(&"--from-env") {
        &[]
    } else {
        &["--out", "out"]
    };
    let all: Vec<&str> = ["diff"]
        .iter()
        .chain(args)
        .chain(default_out)
        .copied()
        .collect();
    runnergen_in(dir, &all)
}

/// A checkout where `fixtures/ascode/runners.yaml` was edited to `spec` and `out/` is the
/// committed rendering: the merge-request situation.
fn edited_checkout(name: &str, spec: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("runnergen-diff-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for entry in walkdir::WalkDir::new(root().join("out")) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root()).unwrap();
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(dir.join(rel)).unwrap();
        } else {
            std::fs::copy(entry.path(), dir.join(rel)).unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("fixtures/ascode")).unwrap();
    std::fs::copy(root().join(spec), dir.join("fixtures/ascode/runners.yaml")).unwrap();
    dir
}

#[test]
fn committed_out_diffs_clean() {
    for format in ["text", "json", "markdown"] {
        let (code, stdout, stderr) = diff(&["fixtures/ascode/runners.yaml", "--format", format]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert_golden(
            &format!("tests/golden/diff/no-change.{format}"),
            stdout.as_bytes(),
        );
    }
}

#[test]
fn owner_role_exits_3_and_says_so_first() {
    let dir = edited_checkout("owner", "fixtures/diff/packer-owner.yaml");
    for format in ["text", "json", "markdown"] {
        let (code, stdout, stderr) =
            diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", format]);
        assert_eq!(code, 3, "{stdout}{stderr}");
        assert_golden(
            &format!("tests/golden/diff/packer-owner.{format}"),
            stdout.as_bytes(),
        );
    }
    let (_, text, _) = diff_in(&dir, &["fixtures/ascode/runners.yaml"]);
    let first = text.lines().find(|l| l.contains("widens")).unwrap();
    assert!(
        first.contains("ss/packer") && first.contains("Owner"),
        "{first}"
    );
    assert!(
        text.find("Security-relevant").unwrap() < text.find("main.json").unwrap(),
        "security section first"
    );
}

#[test]
fn ordinary_change_exits_1() {
    // Phase 1 of the same fleet removes the Kubernetes files: changes, none widening.
    let dir = edited_checkout("phase1", "fixtures/first-phase/runners.yaml");
    let (code, stdout, _) = diff_in(&dir, &["fixtures/ascode/runners.yaml"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(!stdout.contains("! widens"), "{stdout}");
}

#[test]
fn promotion_preview() {
    for format in ["text", "json", "markdown"] {
        let (code, stdout, stderr) = diff(&[
            "fixtures/two-envs/runners.yaml",
            "--from-env",
            "dev",
            "--to-env",
            "prd",
            "--format",
            format,
        ]);
        assert_eq!(code, 0, "every difference is declared: {stdout}{stderr}");
        assert_golden(
            &format!("tests/golden/diff/promotion.{format}"),
            stdout.as_bytes(),
        );
    }
    // prd → dev narrows privileges: changes, nothing widens except what dev lacks.
    let (code, stdout, _) = diff(&[
        "fixtures/two-envs/runners.yaml",
        "--from-env",
        "prd",
        "--to-env",
        "dev",
    ]);
    assert_eq!(code, 1, "{stdout}");
    let (code, _, _) = diff(&[
        "fixtures/two-envs/runners.yaml",
        "--from-env",
        "dev",
        "--to-env",
        "dev",
    ]);
    assert_eq!(code, 0);
}

/// The promotion preview is a gate: declared differences pass, an undeclared widening fails
/// with 3; subscription aliases that differ pair up instead of showing a removed and an added
/// role; an unknown environment names the value and the closest one.
#[test]
fn promotion_is_a_gate() {
    let spec = std::fs::read_to_string(root().join("fixtures/two-envs/runners.yaml")).unwrap();
    let dir = edited_checkout("gate", "fixtures/two-envs/runners.yaml");
    let preview = |text: &str, extra: &[&str]| {
        std::fs::write(dir.join("fixtures/ascode/runners.yaml"), text).unwrap();
        let mut args = vec![
            "fixtures/ascode/runners.yaml",
            "--from-env",
            "dev",
            "--to-env",
            "prd",
        ];
        args.extend(extra);
        diff_in(&dir, &args)
    };
    assert_eq!(preview(&spec, &[]).0, 0);
    // An undeclared widening: dev's deploy runner becomes privileged.
    let privileged = spec.replacen(
        "    concurrent: 20\n",
        "    concurrent: 20\n    privileged: true\n",
        1,
    );
    let (code, text, _) = preview(&privileged, &[]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("! widens  prd/deploy-prd: job pods become privileged"),
        "{text}"
    );
    assert!(
        text.contains("  expected prd/deploy-prd: job pods' Kubernetes access none → namespace"),
        "{text}"
    );
    // prd's subscription alias is another name: paired, the roles compare as before.
    let renamed = spec
        .replace(
            "      apps: 6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f",
            "      workloads: 6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f",
        )
        .replace(
            "identities: {subscription: apps, resourceGroup: rg-neu-prd-gitlab}",
            "identities: {subscription: workloads, resourceGroup: rg-neu-prd-gitlab}",
        )
        .replace(
            "scope: {subscription: apps, resourceGroup: rg-neu-prd-apps}",
            "scope: {subscription: workloads, resourceGroup: rg-neu-prd-apps}",
        );
    let unpaired = renamed.replace(
        "    expect: [concurrent, resources]",
        "    expect: [concurrent, resources]\n    subscriptions: {}",
    );
    let (code, text, err) = preview(&unpaired, &[]);
    assert_eq!(code, 0, "roles are expected to differ: {text}{err}");
    // Unpaired, prd's subscription stays itself; a revocation names the real group.
    assert!(
        text.contains(
            "/subscriptions/6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f/resourceGroups/rg-neu-prd-apps"
        ),
        "{text}"
    );
    assert!(text.contains("needs revocation: az role assignment delete --assignee 2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e --role 'Contributor' --scope /subscriptions/6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f/resourceGroups/rg-neu-prd-apps\n"), "{text}");
    let paired = renamed.replace(
        "    expect: [concurrent, resources]",
        "    expect: [concurrent, resources]\n    subscriptions: {apps: workloads}",
    );
    let (code, text, err) = preview(&paired, &[]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(!text.contains("{subscription:apps}"), "{text}");
    // An unknown environment.
    let (code, _, err) = diff_in(
        &dir,
        &[
            "fixtures/ascode/runners.yaml",
            "--from-env",
            "dev",
            "--to-env",
            "prod",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown environment `prod`") && err.contains("did you mean `prd`?"),
        "{err}"
    );
}

/// `expect:` can name role assignments, not only the field: the declared ones are expected,
/// any other role change still fails the preview. A scope is read in the environment it is
/// declared for (a fleet-wide promotion reads it in both).
#[test]
fn promotion_expects_roles_by_role_and_scope() {
    let spec = std::fs::read_to_string(root().join("fixtures/two-envs/runners.yaml")).unwrap();
    let dir = edited_checkout("expect-roles", "fixtures/two-envs/runners.yaml");
    let preview = |text: &str| {
        std::fs::write(dir.join("fixtures/ascode/runners.yaml"), text).unwrap();
        diff_in(
            &dir,
            &[
                "fixtures/ascode/runners.yaml",
                "--from-env",
                "dev",
                "--to-env",
                "prd",
            ],
        )
    };
    let owner = "{roles: [{role: Owner, scope: {subscription: apps}}]}";
    let contributor = "{roles: [{role: Contributor, scope: {subscription: apps, resourceGroup: rg-neu-prd-apps}}]}";
    // Both sides of the swap declared: dev's Owner on the runner, prd's Contributor fleet-wide.
    let both = spec
        .replace(
            "      expect: [accessLevel, kubernetesAccess, roles]",
            &format!("      expect: [accessLevel, kubernetesAccess, {owner}]"),
        )
        .replace(
            "    expect: [concurrent, resources]",
            &format!("    expect: [concurrent, resources, {contributor}]"),
        );
    let (code, text, err) = preview(&both);
    assert_eq!(code, 0, "{text}{err}");
    assert!(
        text.contains("  expected prd/deploy-prd: role widened from Contributor on /subscriptions/{subscription:apps}/resourceGroups/rg-{region}-{env}-apps to Owner on /subscriptions/{subscription:apps} (subscription)"),
        "{text}"
    );
    // Only the Owner declared: the swap's Owner half is expected, prd's Contributor going away
    // is not, and fails the preview (a change, exit 1).
    let owner_only = spec.replace(
        "      expect: [accessLevel, kubernetesAccess, roles]",
        &format!("      expect: [accessLevel, kubernetesAccess, {owner}]"),
    );
    let (code, text, err) = preview(&owner_only);
    assert_eq!(code, 1, "{text}{err}");
    assert!(
        text.contains("  expected prd/deploy-prd: role widened from Contributor"),
        "{text}"
    );
    assert!(
        text.contains("prd/deploy-prd: role assignment removed: Contributor on /subscriptions/{subscription:apps}/resourceGroups/rg-{region}-{env}-apps"),
        "{text}"
    );
    assert!(
        !text.contains("  expected prd/deploy-prd: role assignment removed"),
        "{text}"
    );
    // A role nobody declared, on top: a widening, exit 3, whatever else is declared.
    let more = both.replace(
        "        - role: Owner\n          scope: {subscription: apps}\n",
        "        - role: Owner\n          scope: {subscription: apps}\n        - role: Key Vault Administrator\n          scope: {subscription: shared}\n",
    );
    assert_ne!(more, both);
    let (code, text, _) = preview(&more);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("! widens  prd/deploy-prd: new role assignment: Key Vault Administrator on /subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
        "{text}"
    );
    // Located mistakes: an alias neither environment has, an unknown role.
    let bad = spec.replace(
        "    expect: [concurrent, resources]",
        "    expect: [concurrent, resources, {roles: [{role: Ownr, scope: {subscription: app}}]}]",
    );
    let (code, _, err) = preview(&bad);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error[E014]: unknown role `Ownr`") && err.contains("did you mean `Owner`?"),
        "{err}"
    );
    assert!(
        err.contains("error[E010]: no subscription alias `app` in dev or prd")
            && err.contains("did you mean `apps`?"),
        "{err}"
    );
}

#[test]
fn errors_exit_2() {
    let (code, _, stderr) = diff(&["fixtures/invalid/unknown-role.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("error[E014]"));
    let (code, _, stderr) = diff(&[
        "fixtures/two-envs/runners.yaml",
        "--from-env",
        "dev",
        "--to-env",
        "qa",
    ]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = diff(&["fixtures/ascode/runners.yaml", "--out", "README.md"]);
    assert_eq!(code, 2);
}

#[test]
fn json_is_machine_readable() {
    let dir = edited_checkout("json", "fixtures/diff/packer-owner.yaml");
    let (_, stdout, _) = diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["summary"]["widens"], true);
    assert_eq!(v["security"][0]["kind"], "role-widened");
    assert_eq!(v["security"][0]["runner"], "packer");
}

#[test]
fn diff_of_a_missing_directory_is_an_error_and_writes_nothing() {
    let tmp = std::env::temp_dir().join(format!("runnergen-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (code, stdout, _) = diff(&[
        "fixtures/ascode/runners.yaml",
        "--out",
        tmp.to_str().unwrap(),
    ]);
    assert_eq!(
        code, 2,
        "a directory that is not there is an error: {stdout}"
    );
    assert!(!tmp.exists());
}

#[test]
fn secrets_in_the_directory_are_masked_in_every_format() {
    let dir = edited_checkout("secret", "fixtures/ascode/runners.yaml");
    // Every shape a secret found in the directory can take: a plain token, a PEM body, a
    // token as a map key, escaped tokens, and a token split over two lines.
    let cfg = dir.join("out/ss/tf/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "executor = \"kubernetes\"",
        "executor = \"kubernetes\"\n  token = \"glrt-t1_SuperSecretTokenValue0123\"\n  escaped = \"glrt\\u002dSuperSecretEscapedValue99\"\n  split = \"\"\"glrt-SuperSecret\\\n    SplitValue0123456\"\"\"",
    );
    std::fs::write(&cfg, text).unwrap();
    let values = dir.join("out/ss/tf/values.yaml");
    let text = std::fs::read_to_string(&values).unwrap()
        + "extra:\n  glrt-SuperSecretKeyValue01234: true\n  hex: \"glrt\\x2dSuperSecretHexValue012345\"\n  tls: |\n    -----BEGIN EC PRIVATE KEY-----\n    SuperSecretPemBodyLine0123456789abcdefABCDEF\n    -----END EC PRIVATE KEY-----\n";
    std::fs::write(&values, text).unwrap();
    for format in ["text", "json", "markdown"] {
        let (code, stdout, _) =
            diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", format]);
        // The manager's chart values the spec drops (`extra`, written into the directory)
        // cannot be shown to narrow: a widening, whose message masks the key too.
        assert_eq!(code, 3, "{stdout}");
        assert!(
            !stdout.contains("SuperSecret"),
            "{format} leaks a secret:\n{stdout}"
        );
        assert!(stdout.contains("***masked***"), "{format}:\n{stdout}");
    }
}

#[test]
fn a_runner_name_change_is_security_relevant() {
    let spec = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml"))
        .unwrap()
        .replacen(
            "\nchart:",
            "\nnaming:\n  runnerName: \"{env}-aks-{runner}\"\nchart:",
            1,
        );
    let dir = edited_checkout("runner-name", "fixtures/ascode/runners.yaml");
    std::fs::write(dir.join("fixtures/ascode/runners.yaml"), spec).unwrap();
    let (code, stdout, _) = diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", "json"]);
    assert_eq!(code, 1, "a renamed runner widens nothing:\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let renamed: Vec<&serde_json::Value> = report["security"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "runner-name-changed")
        .collect();
    assert_eq!(renamed.len(), 3, "{stdout}");
    assert_eq!(
        renamed[0]["message"],
        "GitLab runner name ss-k8-images → ss-aks-images"
    );
}

/// Dropping a privilege is as visible as adding one: every removed role, Graph permission and
/// identity is marked "needs revocation" with the exact command, in every format.
#[test]
fn removals_need_revocation_with_the_exact_command() {
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let images = seed.find("\n  images:").unwrap();
    let spec = seed[..images]
        .replace("User.Read.All, ", "")
        .replacen(
            "        - role: Contributor\n          scope: {subscription: platform, resourceGroup: rg-weu-ss-images}\n",
            "        - role: Reader\n          scope: {subscription: platform, resourceGroup: rg-weu-ss-other}\n",
            1,
        );
    let dir = edited_checkout("revocation", "fixtures/ascode/runners.yaml");
    std::fs::write(dir.join("fixtures/ascode/runners.yaml"), &spec).unwrap();
    let (code, text, err) = diff_in(&dir, &["fixtures/ascode/runners.yaml"]);
    assert_eq!(code, 3, "a new role still widens: {text}{err}");
    for needle in [
        "- revoke  ss/packer: role assignment removed: Contributor on /subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-images",
        "needs revocation: az role assignment delete --assignee 5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c --role 'Contributor' --scope /subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-images",
        "- revoke  ss/tf: Microsoft Graph permission User.Read.All removed",
        "needs revocation: az rest --method DELETE --url \"https://graph.microsoft.com/v1.0/servicePrincipals/$(az ad sp show --id 00000003-0000-0000-c000-000000000000 --query id -o tsv)/appRoleAssignedTo/",
        "appRoles[?value=='User.Read.All'].id",
        "- revoke  ss/images: managed identity weu-ss-msi-gitlab-images removed",
        "needs revocation: az identity delete --name weu-ss-msi-gitlab-images --resource-group rg-weu-ss-gitlab --subscription 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
    assert!(!text.contains("  note     ss/packer: role assignment removed"));
    let (_, json, _) = diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let revocations = v["security"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["revocation"].is_string())
        .count();
    assert!(revocations >= 4, "{json}");
    let (_, md, _) = diff_in(
        &dir,
        &["fixtures/ascode/runners.yaml", "--format", "markdown"],
    );
    assert!(md.contains("| needs revocation | ss | packer |"), "{md}");
}

/// A renamed identity keeps no client ID of the old one: render and diff refuse it (E042).
#[test]
fn a_renamed_identity_cannot_keep_the_old_client_id() {
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let spec = seed.replacen(
        "\nchart:",
        "\nnaming:\n  identity: \"{region}-{env}-id-{runner}\"\nchart:",
        1,
    );
    let dir = edited_checkout("rename", "fixtures/ascode/runners.yaml");
    std::fs::write(dir.join("fixtures/ascode/runners.yaml"), &spec).unwrap();
    let (code, _, err) = diff_in(&dir, &["fixtures/ascode/runners.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.matches("error[E042]").count(), 3, "{err}");
    assert!(
        err.contains("client ID `0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e` belongs to the identity `weu-ss-msi-gitlab-tf`"),
        "{err}"
    );
    assert!(
        err.contains("a renamed identity is a new Azure identity"),
        "{err}"
    );
    let render = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["render", "fixtures/ascode/runners.yaml", "--out", "out"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(render.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&render.stderr).contains("error[E042]"));
    // The render was staged as it was rendered; the refusal removed all of it.
    for e in walkdir::WalkDir::new(dir.join("out")) {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".runnergen-new"), "leftover {name}");
    }
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["diff", "fixtures/ascode/runners.yaml", "--out", "out"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(2),
        "still refused: nothing changed"
    );
}

/// `validate` holds client IDs to the committed output as `render` does: the same E042, word
/// for word, and the same exit code; the committed spec itself stays valid against it.
#[test]
fn validate_reports_a_renamed_identity_as_render_does() {
    let dir = edited_checkout("validate-rename", "fixtures/ascode/runners.yaml");
    let (code, _, err) = runnergen_in(
        &dir,
        &["validate", "fixtures/ascode/runners.yaml", "--out", "out"],
    );
    assert_eq!(code, 0, "{err}");
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let spec = seed.replacen("\n  images:\n", "\n  imagebuilder:\n", 1);
    std::fs::write(dir.join("fixtures/ascode/runners.yaml"), &spec).unwrap();
    let expected = "\
fixtures/ascode/runners.yaml:89:17: error[E042]: runner `imagebuilder`: client ID `9f8e7d6c-5b4a-4392-8187-a6b5c4d3e2f1` belongs to the identity `weu-ss-msi-gitlab-images` (runner `images` in the committed output), but it now derives the identity `weu-ss-msi-gitlab-imagebuilder`
  at /runners/imagebuilder/identity/clientId
     |
  89 |       clientId: 9f8e7d6c-5b4a-4392-8187-a6b5c4d3e2f1
     |                 ^
  = hint: a renamed identity is a new Azure identity with its own client ID: drop this client ID (from the spec or the outputs file), render and deploy the Azure files, then take the new identity's client ID from the deployment outputs
error: fixtures/ascode/runners.yaml: 1 problem found; nothing was written
";
    let before = std::fs::read(dir.join("out/ss/azure/main.json")).unwrap();
    for command in ["validate", "render"] {
        let (code, stdout, err) = runnergen_in(
            &dir,
            &[command, "fixtures/ascode/runners.yaml", "--out", "out"],
        );
        assert_eq!((code, stdout.as_str()), (2, ""), "{command}: {err}");
        assert_eq!(err, expected, "{command}");
    }
    assert_eq!(
        std::fs::read(dir.join("out/ss/azure/main.json")).unwrap(),
        before
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A chart upgrade is reviewable: the version bump shows as a change of each release.
#[test]
fn a_chart_version_bump_shows_as_a_change_of_the_release() {
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let dir = edited_checkout("chart", "fixtures/ascode/runners.yaml");
    std::fs::write(
        dir.join("fixtures/ascode/runners.yaml"),
        seed.replace("  version: 0.86.0\n", "  version: 0.85.0\n"),
    )
    .unwrap();
    let (code, text, _) = diff_in(&dir, &["fixtures/ascode/runners.yaml"]);
    assert_eq!(code, 1, "an upgrade widens nothing: {text}");
    assert!(text.contains("        ~ HelmRelease/cluster-config/ascode-ss-tf\n            .spec.chart.spec.version: \"0.86.0\" → \"0.85.0\""), "{text}");
    assert_eq!(text.matches("~ HelmRelease/").count(), 3, "{text}");
}

/// A cache on a runner with separate accounts gives its manager an identity with storage
/// roles: a widening, reviewed like the job identity's roles (exit 3).
#[test]
fn a_managers_cache_identity_is_a_reviewed_widening() {
    let spec = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml"))
        .unwrap()
        .replacen(
            "    resources:\n      requests: {cpu: 500m, memory: 1Gi}\n",
            "    cache:\n      storageAccountId: /subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-cache/providers/Microsoft.Storage/storageAccounts/stweusscache\n      container: runner-cache\n      managerClientId: 4b3a2918-0f7e-4d6c-9b5a-483726150f4e\n    resources:\n      requests: {cpu: 500m, memory: 1Gi}\n",
            1,
        );
    let dir = edited_checkout("cache-identity", "fixtures/ascode/runners.yaml");
    std::fs::write(dir.join("fixtures/ascode/runners.yaml"), spec).unwrap();
    let (code, stdout, _) = diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", "json"]);
    assert_eq!(code, 3, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let messages: Vec<&str> = report["security"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["runner"] == "images")
        .map(|s| s["message"].as_str().unwrap())
        .collect();
    let account = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-cache/providers/Microsoft.Storage/storageAccounts/stweusscache";
    assert_eq!(
        messages,
        [format!(
            "manager (cache identity): new role assignment: Storage Blob Data Contributor on {account} (resource)"
        ),],
        "{stdout}"
    );
}

/// The Key Vault store's identity is held to its client ID like a runner's: a new region code
/// renames every identity, the store's included.
#[test]
fn a_renamed_store_identity_cannot_keep_the_old_client_id() {
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let spec = seed.replacen("    regionCode: weu\n", "    regionCode: wee\n", 1);
    let dir = edited_checkout("rename-store", "fixtures/ascode/runners.yaml");
    std::fs::write(dir.join("fixtures/ascode/runners.yaml"), &spec).unwrap();
    let (code, _, err) = diff_in(&dir, &["fixtures/ascode/runners.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.matches("error[E042]").count(), 4, "{err}");
    assert!(
        err.contains("the Key Vault store of `ss`: client ID `2e1d0c9b-8a7f-4e6d-9c5b-4a3928171605` belongs to the identity `weu-ss-msi-runnergen-key-vault` (the Key Vault store of `ss` in the committed output), but it now derives the identity `wee-ss-msi-runnergen-key-vault`"),
        "{err}"
    );
}

/// Each class of change that lets more jobs onto a runner, gives its pods more, or points the
/// manager elsewhere exits 3 and names its kind; a tag removed or a project runner kept in its
/// group's reach does not widen.
#[test]
fn reach_and_pod_changes_widen() {
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let cases: [(&str, &str, &str, Option<&str>); 10] = [
        (
            "chart-value",
            "    purpose: Builds container images and pushes them to the platform registry\n",
            "    purpose: Builds container images and pushes them to the platform registry\n    chart:\n      values:\n        securityContext: {privileged: true}\n",
            Some("chart-value-changed"),
        ),
        (
            "chart",
            "  version: 0.86.0\n",
            "  version: 0.86.0\n  repository: https://charts.example.org\n",
            Some("chart-source-changed"),
        ),
        (
            "tag",
            "tags: [docker, acr, ss]",
            "tags: [docker, acr, ss, deploy]",
            Some("tags-added"),
        ),
        (
            "group",
            "path: ascodenl/containers",
            "path: ascodenl",
            Some("trigger-widened"),
        ),
        (
            "gitlab",
            "url: https://gitlab.com/",
            "url: https://gitlab.example.org/",
            Some("gitlab-url-changed"),
        ),
        (
            "capability",
            "    purpose: Builds container images and pushes them to the platform registry\n",
            "    purpose: Builds container images and pushes them to the platform registry\n    kubernetes:\n      extra:\n        cap_add: [NET_ADMIN]\n",
            Some("pod-setting-changed"),
        ),
        (
            "placement",
            "    purpose: Builds container images and pushes them to the platform registry\n",
            "    purpose: Builds container images and pushes them to the platform registry\n    nodeSelector: {pool: shared}\n",
            Some("privileged-placement-changed"),
        ),
        (
            "shared",
            "    purpose: Builds container images and pushes them to the platform registry\n",
            "    purpose: Builds container images and pushes them to the platform registry\n    serviceAccounts: shared\n",
            Some("shared-service-account-on"),
        ),
        (
            "untag",
            "tags: [docker, acr, ss]",
            "tags: [docker, ss]",
            None,
        ),
        (
            "subgroup",
            "path: ascodenl/containers",
            "path: ascodenl/containers/base",
            None,
        ),
    ];
    for (name, from, to, kind) in cases {
        let edited = seed.replacen(from, to, 1);
        assert_ne!(edited, seed, "{name}: the edit applies");
        let dir = edited_checkout(&format!("reach-{name}"), "fixtures/ascode/runners.yaml");
        std::fs::write(dir.join("fixtures/ascode/runners.yaml"), &edited).unwrap();
        let (code, stdout, stderr) =
            diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {stdout}{stderr}"));
        let widening: Vec<&str> = report["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["widens"] == true)
            .filter_map(|c| c["kind"].as_str())
            .collect();
        match kind {
            Some(k) => {
                assert_eq!(code, 3, "{name}: {stdout}{stderr}");
                assert!(widening.contains(&k), "{name}: {widening:?}");
            }
            None => {
                assert_eq!(code, 1, "{name}: {stdout}{stderr}");
                assert!(widening.is_empty(), "{name}: {widening:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Issue 28: a role swap on the same scope that grants more exits 3, whatever the roles are
/// called; the swap back is a narrowing (exit 1).
#[test]
fn a_role_swap_that_grants_more_exits_3() {
    let acr = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-acr/providers/Microsoft.ContainerRegistry/registries/acrweussascode";
    let vault = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-gitlab/providers/Microsoft.KeyVault/vaults/kv-weu-ss-gitlab";
    let base = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let with = |role: &str| {
        let spec = base.replacen(
            &format!("- role: AcrPush\n          scope:\n            resource: {acr}\n"),
            &format!("- role: {role}\n          scope:\n            resource: {vault}\n"),
            1,
        );
        assert_ne!(spec, base);
        spec
    };
    let dir = std::env::temp_dir().join(format!("runnergen-diff-swap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let swap = |from: &str, to: &str| {
        std::fs::write(dir.join("runners.yaml"), with(from)).unwrap();
        let (code, out, err) = runnergen_in(&dir, &["render", "runners.yaml", "--out", "out"]);
        assert_eq!(code, 0, "{out}{err}");
        std::fs::write(dir.join("runners.yaml"), with(to)).unwrap();
        let (code, stdout, _) =
            diff_in(&dir, &["runners.yaml", "--out", "out", "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let roles: Vec<(String, String)> = report["security"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"].as_str().unwrap().starts_with("role-"))
            .map(|s| (s["kind"].to_string(), s["message"].to_string()))
            .collect();
        (code, roles)
    };
    let (code, roles) = swap("Key Vault Secrets User", "Key Vault Secrets Officer");
    assert_eq!(code, 3, "{roles:?}");
    assert_eq!(
        roles,
        [(
            "\"role-widened\"".to_owned(),
            format!(
                "\"role widened from Key Vault Secrets User on {vault} to Key Vault Secrets Officer on {vault} (resource)\""
            )
        )]
    );
    let (code, roles) = swap("Key Vault Secrets Officer", "Key Vault Secrets User");
    assert_eq!(code, 1, "{roles:?}");
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert_eq!(roles[0].0, "\"role-narrowed\"");
}

/// Issue 29, item 4: a runner whose identities another shard's stack now deploys would lose
/// them to the stack it leaves (deleteResources) and get new ones: `diff` names each such move,
/// with both stacks, and exits 3. `fixtures/shards` deploys in 4 shards; at 6, deploy (shard 3)
/// and terraform (shard 1) go to the new shard 6 and every other runner stays.
#[test]
fn an_identity_that_changes_shard_exits_3() {
    let dir = std::env::temp_dir().join(format!("runnergen-diff-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let expected = root().join("fixtures/shards/expected");
    for entry in walkdir::WalkDir::new(&expected) {
        let entry = entry.unwrap();
        let to = dir
            .join("out")
            .join(entry.path().strip_prefix(&expected).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let spec = std::fs::read_to_string(root().join("fixtures/shards/runners.yaml")).unwrap();
    let edited = spec.replacen("shards: 4}", "shards: 6}", 1);
    assert_ne!(edited, spec);
    std::fs::create_dir_all(dir.join("fixtures/shards")).unwrap();
    std::fs::write(dir.join("fixtures/shards/runners.yaml"), &edited).unwrap();
    let args = ["fixtures/shards/runners.yaml", "--out", "out"];
    let (code, stdout, stderr) = diff_in(&dir, &args);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert_golden("tests/golden/diff/shard-move.text", stdout.as_bytes());
    let (_, json, _) = diff_in(&dir, &[&args[..], &["--format", "json"]].concat());
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let moves: Vec<(&str, &str)> = report["security"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "identity-stack-changed")
        .map(|c| {
            assert_eq!(c["widens"], true, "{c}");
            (
                c["runner"].as_str().unwrap(),
                c["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (
                "deploy",
                "managed identity weu-dev-msi-gitlab-deploy moves from stack runnergen-dev-03 to runnergen-dev-06: deploying with deleteResources deletes it (runnergen-dev-03 no longer declares it) and runnergen-dev-06 creates it anew with new client and principal IDs, so its role assignments, federated credential and every pipeline using its client ID break until the new outputs are fed back (identityOutputs)"
            ),
            (
                "terraform",
                "managed identity weu-dev-msi-gitlab-terraform moves from stack runnergen-dev-01 to runnergen-dev-06: deploying with deleteResources deletes it (runnergen-dev-01 no longer declares it) and runnergen-dev-06 creates it anew with new client and principal IDs, so its role assignments, federated credential and every pipeline using its client ID break until the new outputs are fed back (identityOutputs)"
            ),
        ],
        "{json}"
    );
    // Where the shard count stays, nothing moves: the committed tree diffs clean.
    std::fs::write(dir.join("fixtures/shards/runners.yaml"), &spec).unwrap();
    let (code, stdout, stderr) = diff_in(&dir, &args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Back to one deployment: the Key Vault store's identity leaves shard 1's stack too, and
    // is named once for the environment.
    let single = spec.replacen("shards: 4}", "shards: 1}", 1);
    std::fs::write(dir.join("fixtures/shards/runners.yaml"), &single).unwrap();
    let (code, json, stderr) = diff_in(&dir, &[&args[..], &["--format", "json"]].concat());
    assert_eq!(code, 3, "{json}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let store: Vec<&str> = report["security"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["runner"] == "(Key Vault store)")
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        store,
        [
            "managed identity weu-dev-msi-runnergen-key-vault of the Key Vault store moves from stack runnergen-dev-01 to runnergen-dev: deploying with deleteResources deletes it (runnergen-dev-01 no longer declares it) and runnergen-dev creates it anew with a new client ID, so External Secrets Operator cannot read the vault until the new `_keyVaultStoreClientId` output is fed back (identityOutputs)"
        ],
        "{json}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A runner that goes back to waiting for its identity's client ID (as after a rename, which
/// makes a new identity) loses its Kubernetes files in the same change: `diff` says so, as an
/// outage window, and prints the rollout notes `render` prints.
#[test]
fn a_runner_waiting_again_for_its_identity_shows_the_outage_window() {
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let id = "      clientId: 0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e\n";
    assert_eq!(seed.matches(id).count(), 1);
    let dir = edited_checkout("outage", "fixtures/ascode/runners.yaml");
    std::fs::write(
        dir.join("fixtures/ascode/runners.yaml"),
        seed.replacen(id, "", 1),
    )
    .unwrap();
    let (code, json, err) = diff_in(&dir, &["fixtures/ascode/runners.yaml", "--format", "json"]);
    assert_eq!(code, 1, "{json}{err}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let stopped: Vec<&str> = report["security"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "runner-stopped")
        .map(|c| c["runner"].as_str().unwrap())
        .collect();
    assert_eq!(stopped, ["tf"], "{json}");
    assert!(err.contains("N001"), "the rollout notes: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file of the directory is compared as it streams: one of another size is not read at all,
/// one of the same size byte by byte, and one over the limit of a base file is never read
/// whole, by `render --check` nor `diff`, which shows it as not read.
#[test]
fn a_huge_file_in_the_directory_is_compared_without_being_read_whole() {
    let dir = edited_checkout("huge", "fixtures/ascode/runners.yaml");
    let spec = "fixtures/ascode/runners.yaml";
    let check =
        |dir: &std::path::Path| runnergen_in(dir, &["render", spec, "--out", "out", "--check"]);
    assert_eq!(check(&dir).0, 0);
    // The same size, one byte changed: found.
    let values = dir.join("out/ss/tf/values.yaml");
    let mut bytes = std::fs::read(&values).unwrap();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    std::fs::write(&values, &bytes).unwrap();
    let (code, text, err) = check(&dir);
    assert_eq!(code, 1, "{text}{err}");
    assert!(
        format!("{text}{err}").contains("ss/tf/values.yaml"),
        "{text}{err}"
    );
    // Over the limit (sparse: nothing is written to disk, and nothing should be read).
    let huge = std::fs::OpenOptions::new()
        .write(true)
        .open(&values)
        .unwrap();
    huge.set_len(runnergen::outdir::MAX_BASE_FILE + 1).unwrap();
    let start = std::time::Instant::now();
    let (code, text, err) = check(&dir);
    assert_eq!(code, 1, "{text}{err}");
    let (code, text, err) = diff_in(&dir, &[spec]);
    assert!(code == 1 || code == 3, "{code}: {text}{err}");
    assert!(text.contains("runnergen did not read this file"), "{text}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "a huge file took {:?}",
        start.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
