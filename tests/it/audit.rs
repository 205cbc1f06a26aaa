//! `runnergen audit`: the committed `out/` against the live state of `fixtures/audit/` (the
//! exports of the example fleet as deployed), and against that state with out-of-band grants
//! and removals made to it here, each change written out in the test.

use crate::common::*;
use serde_json::{Value, json};
use std::path::PathBuf;

const FIXTURES: &str = "fixtures/audit";
const INPUTS: [(&str, &str); 5] = [
    ("--azure-roles", "azure-roles.json"),
    ("--identities", "identities.json"),
    ("--kubernetes", "kubernetes.json"),
    ("--gitlab-runners", "gitlab-runners.json"),
    (
        "--federated-credentials",
        "federated-credentials-images.json",
    ),
];
const MORE_CREDENTIALS: [&str; 3] = [
    "federated-credentials-packer.json",
    "federated-credentials-tf.json",
    "federated-credentials-store.json",
];

/// A scratch copy of the fixtures, each file passed through `change` (by file name).
fn live(name: &str, change: impl Fn(&str, &mut Value)) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runnergen-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let files = INPUTS.iter().map(|(_, f)| *f).chain(MORE_CREDENTIALS);
    for f in files {
        let text = std::fs::read_to_string(root().join(FIXTURES).join(f)).unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        change(f, &mut v);
        std::fs::write(dir.join(f), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    dir
}

/// `runnergen audit out` with every input of `dir`, in `format`: (exit code, stdout, stderr),
/// the scratch folder's path replaced by `LIVE`.
fn audit(dir: &std::path::Path, format: &str) -> (i32, String, String) {
    let mut args: Vec<String> = vec![
        "audit".into(),
        "out".into(),
        "--format".into(),
        format.into(),
    ];
    for (flag, file) in INPUTS {
        args.push(flag.into());
        args.push(dir.join(file).display().to_string());
    }
    args.extend(
        MORE_CREDENTIALS
            .iter()
            .map(|f| dir.join(f).display().to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = runnergen(&args);
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.display().to_string(), "LIVE");
    (r.status.code().unwrap(), clean(&r.stdout), clean(&r.stderr))
}

#[test]
fn audit_live_state_as_rendered_exits_0() {
    let dir = live("same", |_, _| {});
    let (code, out, err) = audit(&dir, "text");
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert_golden("tests/golden/audit/as-rendered.txt", out.as_bytes());
    // One input: the others' checks are named as not run, and the one that ran passes.
    let r = runnergen(&[
        "audit",
        "out",
        "--kubernetes",
        "fixtures/audit/kubernetes.json",
    ]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{out}");
    for check in [
        "role assignments",
        "federated credentials",
        "GitLab runners",
    ] {
        assert!(out.contains(&format!("  - {check}: no --")), "{out}");
    }
    assert!(!out.contains("  - Kubernetes"), "{out}");
}

const SUB: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
/// packer's principal, as `az identity list` exports it.
const PACKER_PRINCIPAL: &str = "a1b2c3d4-0002-4e5f-8a9b-0c1d2e3f4a02";

/// A hand-made Owner on packer's principal at the subscription, and a RoleBinding of images'
/// job account to the `admin` ClusterRole.
fn owner_and_admin(file: &str, v: &mut Value) {
    match file {
        "azure-roles.json" => v.as_array_mut().unwrap().push(json!({
            "id": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/0dd0dd00-1111-4222-8333-444444444444"),
            "name": "0dd0dd00-1111-4222-8333-444444444444",
            "principalId": PACKER_PRINCIPAL,
            "principalName": "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c",
            "principalType": "ServicePrincipal",
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
            "roleDefinitionName": "Owner",
            "scope": format!("/subscriptions/{SUB}"),
            "type": "Microsoft.Authorization/roleAssignments"
        })),
        "kubernetes.json" => v["items"].as_array_mut().unwrap().push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "images-admin", "namespace": "gitlab-images-jobs"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "gitlab-runner-images-jobs", "namespace": "gitlab-images-jobs"}]
        })),
        _ => {}
    }
}

#[test]
fn audit_names_a_hand_made_owner_and_an_extra_admin_binding_exit_3() {
    let dir = live("owner-admin", owner_and_admin);
    for (format, ext) in [("text", "txt"), ("json", "json"), ("markdown", "md")] {
        let (code, out, err) = audit(&dir, format);
        assert_eq!((code, err.as_str()), (3, ""), "{out}");
        assert!(out.contains("Owner on /subscriptions/"), "{out}");
        assert!(out.contains("images-admin"), "{out}");
        assert_golden(
            &format!("tests/golden/audit/owner-and-admin.{ext}"),
            out.as_bytes(),
        );
    }
}

/// A token planted in the GitLab export: the API's `token` field of older GitLab versions.
const PLANTED: &str = "glrt-t3_AUDITplantedTOKENxx42";

#[test]
fn audit_names_a_hand_registered_runner_with_tfs_tags_and_never_its_token() {
    let dir = live("hand-registered", |file, v| {
        if file == "gitlab-runners.json" {
            v.as_array_mut().unwrap().push(json!({
                "id": 4242,
                "description": "quick fix runner",
                "runner_type": "group_type",
                "groups": [{"id": 11, "name": "infra", "web_url": "https://gitlab.com/groups/ascodenl/infra"}],
                "projects": [],
                "tag_list": ["ss", "weu", "tf", "azure", "platform", "docker"],
                "run_untagged": false,
                "locked": false,
                "access_level": "not_protected",
                "maintenance_note": null,
                "token": PLANTED
            }));
        }
    });
    for format in ["text", "json", "markdown"] {
        let (code, out, err) = audit(&dir, format);
        assert_eq!(code, 3, "{out}{err}");
        assert!(out.contains("#4242"), "{out}");
        assert!(
            !out.contains(PLANTED) && !err.contains(PLANTED),
            "{out}{err}"
        );
    }
    let (_, out, _) = audit(&dir, "text");
    assert_golden("tests/golden/audit/hand-registered.txt", out.as_bytes());
}

#[test]
fn audit_names_an_extra_federated_credential_on_tfs_identity() {
    let dir = live("credential", |file, v| {
        if file == "federated-credentials-tf.json" {
            let mut extra = v[0].clone();
            extra["name"] = json!("debug-from-laptop");
            extra["id"] = json!(
                extra["id"]
                    .as_str()
                    .unwrap()
                    .replace("ascode-shared-msi-gitlab-tf-cred", "debug-from-laptop")
            );
            extra["issuer"] = json!("https://token.actions.githubusercontent.com");
            extra["subject"] = json!("repo:someone/fork:ref:refs/heads/main");
            v.as_array_mut().unwrap().push(extra);
        }
    });
    let (code, out, err) = audit(&dir, "text");
    assert_eq!((code, err.as_str()), (3, ""), "{out}");
    assert!(out.contains("debug-from-laptop"), "{out}");
    assert_golden("tests/golden/audit/extra-credential.txt", out.as_bytes());
}

#[test]
fn audit_missing_role_assignment_exits_1() {
    let dir = live("missing", |file, v| {
        if file == "azure-roles.json" {
            // images' AcrPush on the registry is gone.
            v.as_array_mut()
                .unwrap()
                .retain(|a| a["roleDefinitionName"] != "AcrPush");
        }
    });
    let (code, out, err) = audit(&dir, "text");
    assert_eq!((code, err.as_str()), (1, ""), "{out}");
    assert_golden("tests/golden/audit/missing-role.txt", out.as_bytes());
}

/// An identity without credentials exports `[]`, which names no identity: named
/// `fic-<identity>.json` (as docs/audit.md's loop names the exports) it speaks for that
/// identity, whose rendered credential is then missing (exit 1); under another name it
/// cannot, and the check is listed as not run for the identity (exit 0).
#[test]
fn audit_an_empty_credential_export_speaks_for_the_identity_its_name_gives() {
    let dir = live("no-credential", |file, v| {
        if file == "federated-credentials-packer.json" {
            *v = json!([]);
        }
    });
    let (code, out, err) = audit(&dir, "json");
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(
        report["not_checked"]
            .to_string()
            .contains("weu-ss-msi-gitlab-packer"),
        "{out}"
    );
    std::fs::rename(
        dir.join("federated-credentials-packer.json"),
        dir.join("fic-weu-ss-msi-gitlab-packer.json"),
    )
    .unwrap();
    std::fs::write(dir.join("federated-credentials-packer.json"), "[]").unwrap();
    let mut args: Vec<String> = vec![
        "audit".into(),
        "out".into(),
        "--format".into(),
        "json".into(),
    ];
    for (flag, file) in INPUTS {
        args.push(flag.into());
        args.push(dir.join(file).display().to_string());
    }
    for f in [
        "fic-weu-ss-msi-gitlab-packer.json",
        MORE_CREDENTIALS[1],
        MORE_CREDENTIALS[2],
    ] {
        args.push(dir.join(f).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = runnergen(&args);
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{out}");
    assert_eq!(findings[0]["class"], "missing");
    assert_eq!(findings[0]["kind"], "federated-credential");
    assert_eq!(findings[0]["runner"], "packer");
    assert_eq!(report["not_checked"], json!([]), "{out}");
}

#[test]
fn audit_malformed_input_exits_2_naming_the_file() {
    let dir = live("malformed", |_, _| {});
    std::fs::write(
        dir.join("identities.json"),
        "[{\"name\": \"weu-ss-msi-gitlab-tf\",}]",
    )
    .unwrap();
    let (code, out, err) = audit(&dir, "text");
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("LIVE/identities.json:1:"), "{err}");
    // Valid JSON of the wrong shape: the item is named.
    std::fs::write(
        dir.join("identities.json"),
        "[{\"name\": \"weu-ss-msi-gitlab-tf\"}]",
    )
    .unwrap();
    let (code, _, err) = audit(&dir, "text");
    assert_eq!(code, 2);
    assert!(err.contains("LIVE/identities.json: item 0"), "{err}");
    // A missing output directory, and no live state at all.
    let r = runnergen(&[
        "audit",
        "no-such-out",
        "--kubernetes",
        "fixtures/audit/kubernetes.json",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no-such-out"));
    let r = runnergen(&["audit", "out"]);
    assert_eq!(r.status.code(), Some(2));
}

/// GitLab's details of a runner of `fixtures/shared-cluster/`, group `ascodenl/infra`, as it
/// registers (tags, protection, note from its registration.json).
fn infra_runner(id: u64, env: &str, protection: &str, note: Option<&str>) -> Value {
    json!({
        "id": id,
        "description": "gitlab-runner-terraform-weu-aks",
        "runner_type": "group_type",
        "groups": [{"id": 11, "name": "infra", "web_url": "https://gitlab.com/groups/ascodenl/infra"}],
        "projects": [],
        "tag_list": ["weu", "terraform", format!("{env}-terraform")],
        "run_untagged": false,
        "locked": false,
        "access_level": protection,
        "maintenance_note": note
    })
}

/// Regression: with `--env dev`, prd's and stg's own runners in the same group (they carry the
/// tags a dev job asks for but its own) were taken for hand-registered ones: a clean
/// deployment exited 3. A runner whose note names a rendered runner of any environment is
/// runnergen's.
#[test]
fn audit_env_takes_other_environments_registered_runners_for_runnergens() {
    let dir = std::env::temp_dir().join(format!("runnergen-audit-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gitlab-runners.json");
    let mut runners = vec![
        infra_runner(
            1,
            "dev",
            "not_protected",
            Some("managed by runnergen: ascode/dev/terraform"),
        ),
        infra_runner(
            2,
            "stg",
            "not_protected",
            Some("managed by runnergen: ascode/stg/terraform"),
        ),
        infra_runner(
            3,
            "prd",
            "ref_protected",
            Some("managed by runnergen: ascode/prd/terraform"),
        ),
        json!({
            "id": 4,
            "description": "gitlab-runner-docs-weu-aks",
            "runner_type": "project_type",
            "groups": [],
            "projects": [{"id": 40, "path_with_namespace": "ascodenl/docs"}],
            "tag_list": ["weu", "docs", "dev-docs", "pages"],
            "run_untagged": false,
            "access_level": "not_protected",
            "maintenance_note": "managed by runnergen: ascode/dev/docs"
        }),
    ];
    let run = |runners: &[Value]| {
        std::fs::write(&file, serde_json::to_string(runners).unwrap()).unwrap();
        let f = file.display().to_string();
        let r = runnergen(&[
            "audit",
            "fixtures/shared-cluster/expected",
            "--env",
            "dev",
            "--format",
            "json",
            "--gitlab-runners",
            &f,
        ]);
        let report: Value = serde_json::from_slice(&r.stdout).unwrap();
        (r.status.code().unwrap(), report)
    };
    let (code, report) = run(&runners);
    assert_eq!((code, &report["findings"]), (0, &json!([])), "{report}");
    // The same runner without runnergen's note is still reported against dev's.
    runners.push(infra_runner(5, "prd", "not_protected", None));
    let (code, report) = run(&runners);
    assert_eq!(code, 3, "{report}");
    let f = &report["findings"][0];
    assert_eq!(
        (&f["env"], &f["runner"], &f["kind"]),
        (&json!("dev"), &json!("terraform"), &json!("gitlab-runner")),
        "{report}"
    );
    assert!(f["what"].as_str().unwrap().starts_with("#5 "), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
