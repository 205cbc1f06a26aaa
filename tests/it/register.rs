//! `runnergen register` end to end: the binary against a fake GitLab (`gitlab_fake`: HTTPS on
//! 127.0.0.1 with the test CA of tests/tls, trusted through SSL_CERT_FILE) and a fake `az` on
//! PATH that records its arguments and the token files it is given.

use crate::common::*;
use crate::gitlab_fake::{Fake, Misbehave, PAT};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A scratch folder with the seed fleet rendered to `out/`, its registrations pointed at the
/// fake (one with a trailing slash, the others without), and a fake `az` in `bin/`.
fn setup(name: &str, fake: &Fake, failing_secret: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("runnergen-register-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let out = dir.join("out");
    let r = runnergen(&[
        "render",
        "fixtures/ascode/runners.yaml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0));
    for (i, runner) in ["tf", "packer", "images"].iter().enumerate() {
        let p = out.join(format!("ss/{runner}/registration.json"));
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["gitlab_url"] = json!(if i == 0 {
            format!("{}/", fake.url)
        } else {
            fake.url.clone()
        });
        std::fs::write(&p, v.to_string()).unwrap();
    }
    // The fake az: records its arguments, copies the token file it is given, and fails for
    // one secret name.
    let az = dir.join("bin/az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$@\" >> \"{log}\"\ncmd=$3; name=''; file=''\nwhile [ $# -gt 0 ]; do case \"$1\" in --name) name=$2;; --file) file=$2;; esac; shift; done\n[ \"$name\" = '{failing_secret}' ] && {{ echo 'Forbidden' >&2; exit 1; }}\n[ \"$cmd\" = delete ] && {{ rm -f \"{store}/$name\"; exit 0; }}\nmode=$(stat -c %a \"$file\")\n[ \"$mode\" = 600 ] || {{ echo \"token file mode $mode\" >&2; exit 1; }}\ncp \"$file\" \"{store}/$name\"\n",
            log = dir.join("az.log").display(),
            store = dir.display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    fake.with(|s| {
        s.namespaces.insert("groups:ascodenl/infra".into(), 11);
        s.namespaces.insert("groups:ascodenl/containers".into(), 12);
        s.namespaces
            .insert("projects:ascodenl/infra/base-images/azure".into(), 21);
    });
    dir
}

/// The temporary folder `register` runs with in `dir`.
fn tmp_dir(dir: &Path) -> std::path::PathBuf {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    tmp
}

fn register(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .arg("register")
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("GITLAB_TOKEN", PAT)
        .env("SSL_CERT_FILE", root().join("tests/tls/ca.pem"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        // Token files go to a temporary folder of this test's own, so what is left there is
        // this run's (other tests register at the same time).
        .env("TMPDIR", tmp_dir(dir))
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// No token the fake issued, and not the access token, appears in what runnergen printed or in
/// the arguments it gave `az`.
fn assert_no_token_leaks(dir: &Path, fake: &Fake, printed: &str) {
    let log = std::fs::read_to_string(dir.join("az.log")).unwrap_or_default();
    let mut secrets = fake.with(|s| s.issued.clone());
    secrets.push(PAT.into());
    for t in secrets {
        assert!(!printed.contains(&t), "printed a token: {printed}");
        assert!(!log.contains(&t), "a token on az's command line: {log}");
    }
}

#[test]
fn register_plans_creates_updates_prunes_and_then_changes_nothing() {
    let fake = Fake::start();
    let dir = setup("flow", &fake, "");
    fake.with(|s| {
        // Someone else's runner, a managed one no longer rendered, and packer with old tags.
        s.runners.insert(100, json!({"id": 100, "description": "not ours", "maintenance_note": "hand-made"}));
        s.runners.insert(101, json!({"id": 101, "description": "old", "maintenance_note": "managed by runnergen: ascode/ss/old", "runner_type": "group_type", "groups": [{"id": 11}]}));
        let packer: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/ss/packer/registration.json")).unwrap()).unwrap();
        let mut p = json!({"id": 102, "runner_type": "project_type", "projects": [{"id": 21}]});
        for k in ["description", "paused", "locked", "run_untagged", "access_level", "maintenance_note"] {
            p[k] = packer[k].clone();
        }
        p["tag_list"] = json!(["old-tag"]);
        s.runners.insert(102, p);
    });

    let (code, plan, err) = register(&dir, &["--dry-run", "--prune"]);
    assert_eq!(code, 1, "changes pending: {plan}{err}");
    for line in [
        "  would create ss/images (groups ascodenl/containers); token → Key Vault kv-weu-ss-gitlab/gitlab-runner-ss-images-token",
        "  would update ss/packer (runner 102): tag_list",
        "  would create ss/tf (groups ascodenl/infra); token → Key Vault kv-weu-ss-gitlab/gitlab-runner-ss-tf-token",
        "  would delete ss/old (runner 101) and where its token was kept is not known here",
    ] {
        assert!(plan.contains(line), "missing `{line}` in\n{plan}");
    }
    assert!(
        fake.with(|s| s.writes.is_empty()),
        "a dry run changes nothing"
    );

    // A rate limit on the way is waited out.
    fake.with(|s| s.throttle = 2);
    let (code, done, err) = register(&dir, &["--prune"]);
    assert_eq!(code, 0, "{done}{err}");
    assert!(fake.with(|s| s.throttled) == 2);
    assert!(done.contains("  created  ss/tf (runner "), "{done}");
    assert!(
        done.contains("  updated  ss/packer (runner 102): tag_list"),
        "{done}"
    );
    assert!(done.contains("  deleted  ss/old (runner 101);"), "{done}");
    fake.with(|s| {
        assert!(
            s.runners.contains_key(&100),
            "someone else's runner is left alone"
        );
        assert!(!s.runners.contains_key(&101));
        assert_eq!(
            s.runners[&102]["tag_list"],
            json!(["weu", "packer", "ss-packer", "infra-packer-azure", "ss"])
        );
        let tf = s
            .runners
            .values()
            .find(|r| r["maintenance_note"] == "managed by runnergen: ascode/ss/tf")
            .unwrap();
        assert_eq!(tf["group_id"], 11);
        assert_eq!(tf["runner_type"], "group_type");
    });
    // Each new token went, byte for byte, to its Key Vault secret.
    let issued = fake.with(|s| s.issued.clone());
    assert_eq!(issued.len(), 2);
    let stored = std::fs::read_to_string(dir.join("gitlab-runner-ss-tf-token")).unwrap();
    assert!(
        issued.contains(&stored),
        "no newline, nothing else: {stored:?}"
    );
    assert_no_token_leaks(&dir, &fake, &format!("{plan}{done}{err}"));

    // A second run changes nothing, and reads the listings, not every runner again.
    let writes = fake.with(|s| s.writes.len());
    let before = fake.with(|s| s.requests.len());
    let (code, again, err) = register(&dir, &["--prune"]);
    assert_eq!(code, 0, "{again}{err}");
    assert_eq!(fake.with(|s| s.writes.len()), writes, "{again}");
    assert_eq!(again.matches("  ok       ").count(), 3, "{again}");
    let details = |from: usize| {
        fake.with(|s| {
            s.requests[from..]
                .iter()
                .filter(|r| r.starts_with("GET /api/v4/runners/"))
                .count()
        })
    };
    assert_eq!(
        details(before),
        3,
        "the runners that changed are read again: {again}"
    );
    let before = fake.with(|s| s.requests.len());
    let (code, again, _) = register(&dir, &["--dry-run", "--prune"]);
    assert_eq!(code, 0, "nothing pending");
    assert_eq!(
        details(before),
        0,
        "unchanged runners are not read again: {again}"
    );

    // --rotate: a new token for each, stored.
    let (code, rotated, err) = register(&dir, &["--rotate"]);
    assert_eq!(code, 0, "{rotated}{err}");
    assert_eq!(rotated.matches("  rotated  ").count(), 3, "{rotated}");
    let stored = std::fs::read_to_string(dir.join("gitlab-runner-ss-tf-token")).unwrap();
    assert!(stored.starts_with("glrt-rotated"), "{stored}");
    // The managers take the new token only when restarted: the command is printed.
    assert!(
        rotated.contains(
            "  restart  kubectl rollout restart deployment/ascode-ss-tf-gitlab-runner -n gitlab-tf"
        ),
        "{rotated}"
    );
    assert!(
        rotated.contains("The old tokens stopped working at once"),
        "{rotated}"
    );
    assert_no_token_leaks(&dir, &fake, &format!("{rotated}{err}"));
}

#[test]
fn a_token_that_cannot_be_stored_takes_its_runner_back_and_the_others_go_on() {
    let fake = Fake::start();
    let dir = setup("fail", &fake, "gitlab-runner-ss-tf-token");
    let (code, out, err) = register(&dir, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("  FAILED   ss/tf: `az keyvault secret set` failed: Forbidden; the runner was deleted again"), "{out}");
    assert!(out.contains("  created  ss/packer"), "{out}");
    assert!(out.contains("  created  ss/images"), "{out}");
    assert!(err.contains("1 runner failed"), "{err}");
    fake.with(|s| {
        assert_eq!(s.runners.len(), 2, "tf was taken back");
        assert!(
            s.runners
                .values()
                .all(|r| r["maintenance_note"] != "managed by runnergen: ascode/ss/tf")
        );
    });
    assert_no_token_leaks(&dir, &fake, &format!("{out}{err}"));
    // No token file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(tmp_dir(&dir))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("runnergen-token-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn register_refuses_without_a_token_or_a_trusted_certificate() {
    let fake = Fake::start();
    let dir = setup("refuse", &fake, "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["register", "--dry-run"])
        .current_dir(&dir)
        .env_remove("GITLAB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITLAB_TOKEN is not set"));
    // Without the test CA the fake's certificate is not trusted.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["register", "--dry-run"])
        .current_dir(&dir)
        .env("GITLAB_TOKEN", PAT)
        .env("SSL_CERT_FILE", root().join("tests/tls/server.pem"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(fake.with(|s| s.writes.is_empty()));
}

/// A runner as the fake holds it.
fn runner(id: u64, note: &str, owner: (&str, u64), desc: &str) -> Value {
    let runner_type = if owner.0 == "groups" {
        "group_type"
    } else {
        "project_type"
    };
    json!({"id": id, "description": desc, "paused": false, "runner_type": runner_type,
        "maintenance_note": note, owner.0: [{"id": owner.1}], "tag_list": ["x"]})
}

/// The registration's own runner, as registered.
fn registered(dir: &Path, env_runner: &str, id: u64, owner: (&str, u64)) -> Value {
    let p = dir.join(format!("out/{env_runner}/registration.json"));
    let reg: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let mut r = runner(id, "", owner, "");
    for k in [
        "description",
        "paused",
        "locked",
        "run_untagged",
        "access_level",
        "tag_list",
        "maintenance_note",
        "runner_type",
    ] {
        r[k] = reg[k].clone();
    }
    r
}

#[test]
fn foreign_runners_with_matching_notes_survive_prune_and_duplicates() {
    let fake = Fake::start();
    let dir = setup("foreign", &fake, "");
    fake.with(|s| {
        // Group 10 is ascodenl/infra's parent: its runners show in group 11's listing.
        s.parents.insert(11, 10);
        s.runners
            .insert(600, registered(&dir, "ss/tf", 600, ("groups", 11)));
        s.runners
            .insert(601, registered(&dir, "ss/packer", 601, ("projects", 21)));
        s.runners
            .insert(602, registered(&dir, "ss/images", 602, ("groups", 12)));
        // This fleet's note, lower ID, in another group (listed as an ancestor's runner).
        s.runners.insert(
            50,
            runner(
                50,
                "managed by runnergen: ascode/ss/tf",
                ("groups", 10),
                "theirs",
            ),
        );
        // The old note of another repository, in the same ancestor group.
        s.runners.insert(
            51,
            runner(51, "managed by runnergen: ss/tf", ("groups", 10), "theirs"),
        );
        // Another fleet's note in our very project, and one no longer rendered in our group.
        s.runners.insert(
            52,
            runner(
                52,
                "managed by runnergen: other/ss/packer",
                ("projects", 21),
                "x",
            ),
        );
        s.runners.insert(
            53,
            runner(
                53,
                "managed by runnergen: other/ss/old",
                ("groups", 11),
                "x",
            ),
        );
        // The old note `prd/deploy`, in our group and in another project.
        s.runners.insert(
            54,
            runner(54, "managed by runnergen: prd/deploy", ("groups", 11), "x"),
        );
        s.runners.insert(
            55,
            runner(
                55,
                "managed by runnergen: prd/deploy",
                ("projects", 99),
                "x",
            ),
        );
        // This fleet's note for a runner no longer rendered, in the ancestor group.
        s.runners.insert(
            56,
            runner(
                56,
                "managed by runnergen: ascode/ss/gone",
                ("groups", 10),
                "x",
            ),
        );
    });
    let (code, out, err) = register(&dir, &["--prune"]);
    assert_eq!(code, 0, "{out}{err}");
    fake.with(|s| {
        for id in [50, 51, 52, 53, 54, 55, 56, 600, 601, 602] {
            assert!(
                s.runners.contains_key(&id),
                "runner {id} was deleted: {out}"
            );
        }
        assert!(s.writes.is_empty(), "{:?}\n{out}", s.writes);
        assert!(s.issued.is_empty(), "no new runner, no new token: {out}");
    });
    assert!(out.contains("  elsewhere ss/tf (runner 50)"), "{out}");
    assert!(out.contains("  elsewhere ss/gone (runner 56)"), "{out}");
    assert!(out.contains("  legacy   prd/deploy (runner 54)"), "{out}");
    assert_eq!(out.matches("  ok       ").count(), 3, "{out}");
}

#[test]
fn old_notes_are_adopted_only_with_adopt() {
    let fake = Fake::start();
    let dir = setup("adopt", &fake, "");
    fake.with(|s| {
        let mut tf = registered(&dir, "ss/tf", 600, ("groups", 11));
        tf["maintenance_note"] = json!("managed by runnergen: ss/tf");
        s.runners.insert(600, tf);
        s.runners
            .insert(601, registered(&dir, "ss/packer", 601, ("projects", 21)));
        s.runners
            .insert(602, registered(&dir, "ss/images", 602, ("groups", 12)));
    });
    let (code, out, err) = register(&dir, &["--prune"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("  FAILED   ss/tf: runner 600 has the old note"),
        "{out}"
    );
    assert!(out.contains("`--adopt`"), "{out}");
    assert!(fake.with(|s| s.writes.is_empty()), "left alone: {out}");

    let (code, out, err) = register(&dir, &["--adopt"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("  updated  ss/tf (runner 600): maintenance_note"),
        "{out}"
    );
    fake.with(|s| {
        assert_eq!(s.writes, ["PUT /runners/600"]);
        assert_eq!(
            s.runners[&600]["maintenance_note"],
            "managed by runnergen: ascode/ss/tf"
        );
    });
}

#[test]
fn an_endless_pager_and_an_echoing_server_fail_cleanly_without_printing_the_token() {
    let fake = Fake::start();
    let dir = setup("pager", &fake, "");
    fake.with(|s| {
        s.runners.insert(1, runner(1, "x", ("groups", 11), "x"));
        s.misbehave = Misbehave::PageOneForever;
    });
    let (code, out, err) = register(&dir, &["--dry-run"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("pages must advance"), "{err}");
    assert!(fake.with(|s| s.requests.len()) < 10, "it stops at once");
    assert_no_token_leaks(&dir, &fake, &format!("{out}{err}"));

    fake.with(|s| s.misbehave = Misbehave::EchoHeaders);
    let (code, out, err) = register(&dir, &["--dry-run"]);
    assert_eq!(code, 2, "{out}{err}");
    let said = format!("{out}{err}");
    assert!(said.contains("HTTP 400"), "{said}");
    assert!(said.contains("‹redacted›"), "{said}");
    assert_no_token_leaks(&dir, &fake, &format!("{out}{err}"));
}

#[test]
fn an_http_registration_is_refused_before_anything_is_sent() {
    let fake = Fake::start();
    let dir = setup("http", &fake, "");
    let p = dir.join("out/ss/packer/registration.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["gitlab_url"] = json!(fake.url.replace("https://", "http://"));
    std::fs::write(&p, v.to_string()).unwrap();
    let (code, out, err) = register(&dir, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("is not an https:// URL"), "{err}");
    assert!(fake.with(|s| s.requests.is_empty()), "nothing was sent");
}

#[test]
fn a_token_without_read_api_is_told_which_scope_it_lacks() {
    let fake = Fake::start();
    let dir = setup("scopes", &fake, "");
    fake.with(|s| s.scopes = vec!["create_runner", "manage_runner"]);
    let (code, out, err) = register(&dir, &["--dry-run"]);
    assert_eq!(code, 2, "{out}{err}");
    let said = format!("{out}{err}");
    assert!(said.contains("HTTP 403: insufficient_scope"), "{said}");
    assert!(said.contains("needs the read_api scope"), "{said}");
}

#[test]
fn env_selects_environments_and_an_empty_selection_is_an_error() {
    let fake = Fake::start();
    let dir = setup("env", &fake, "");
    // A second environment: dev/tf, in the same group.
    std::fs::create_dir_all(dir.join("out/dev/tf")).unwrap();
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("out/ss/tf/registration.json")).unwrap(),
    )
    .unwrap();
    v["maintenance_note"] = json!("managed by runnergen: ascode/dev/tf");
    v["token_destination"]["secret"] = json!("gitlab-runner-dev-tf-token");
    std::fs::write(dir.join("out/dev/tf/registration.json"), v.to_string()).unwrap();

    let (code, out, err) = register(&dir, &["--env", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("  created  dev/tf"), "{out}");
    assert!(!out.contains("ss/"), "ss is not touched: {out}");
    assert_eq!(fake.with(|s| s.runners.len()), 1);

    let (code, out, err) = register(&dir, &["--env", "prd", "--env", "ss"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("no registration.json for environment prd")
            && err.contains("environments found: dev, ss"),
        "{err}"
    );
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let (code, out, err) = register(&dir, &["--out", "empty"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no registration.json under empty"), "{err}");
    assert_eq!(fake.with(|s| s.runners.len()), 1);
}

#[test]
fn prune_deletes_the_runner_and_then_its_token() {
    let fake = Fake::start();
    let dir = setup("prune", &fake, "");
    let (code, out, err) = register(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(dir.join("gitlab-runner-ss-images-token").exists());
    // images is no longer rendered.
    std::fs::remove_file(dir.join("out/ss/images/registration.json")).unwrap();
    let (code, out, err) = register(&dir, &["--prune"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("and its token at Key Vault kv-weu-ss-gitlab/gitlab-runner-ss-images-token"),
        "{out}"
    );
    assert!(
        !dir.join("gitlab-runner-ss-images-token").exists(),
        "the secret is gone"
    );
    assert!(
        dir.join("gitlab-runner-ss-tf-token").exists(),
        "the others stay"
    );
    let log = std::fs::read_to_string(dir.join("az.log")).unwrap();
    assert!(
        log.contains("keyvault secret delete --vault-name kv-weu-ss-gitlab --name gitlab-runner-ss-images-token"),
        "{log}"
    );
    fake.with(|s| {
        assert_eq!(s.runners.len(), 2);
        let del = s
            .writes
            .iter()
            .position(|w| w.starts_with("DELETE"))
            .unwrap();
        assert_eq!(s.writes.len(), del + 1, "the runner first, then the secret");
    });
    assert_no_token_leaks(&dir, &fake, &format!("{out}{err}"));
}
