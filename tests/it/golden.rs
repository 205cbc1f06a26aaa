//! Golden files: the committed schema, the committed `out/`, and the expected tree of every
//! example fleet under fixtures/. `RUNNERGEN_BLESS=1 cargo test` regenerates them.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn committed_schema_is_current() {
    assert_golden(
        "schema/runnergen.schema.json",
        runnergen::spec::schema::schema_text().as_bytes(),
    );
    let out = runnergen(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        out.stdout,
        std::fs::read(root().join("schema/runnergen.schema.json")).unwrap()
    );
}

fn files_under(dir: &Path) -> BTreeSet<String> {
    if !dir.exists() {
        return BTreeSet::new();
    }
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

/// Renders `spec` in memory and compares it, file by file, with the directory `expected`.
fn assert_tree(spec: &str, expected: &str) {
    let text = std::fs::read_to_string(root().join(spec)).unwrap();
    let folder = root().join(spec).parent().unwrap().to_owned();
    let files = move |name: &str| std::fs::read_to_string(folder.join(name));
    let tree = runnergen::compile::compile_with(spec, &text, &files)
        .unwrap_or_else(|e| panic!("{spec} must compile:\n{e}"));
    let rendered: BTreeSet<String> = tree.paths().map(str::to_owned).collect();
    for (path, bytes) in tree.iter() {
        assert_golden(&format!("{expected}/{path}"), bytes);
    }
    let extra: Vec<String> = files_under(&root().join(expected))
        .difference(&rendered)
        .cloned()
        .collect();
    if bless() {
        for p in &extra {
            std::fs::remove_file(root().join(expected).join(p)).unwrap();
        }
    } else {
        assert!(
            extra.is_empty(),
            "{expected} holds files {spec} no longer renders: {extra:?}"
        );
    }
}

#[test]
fn committed_out_is_the_seed_fleet() {
    assert_tree("fixtures/ascode/runners.yaml", "out");
}

#[test]
fn every_example_fleet_matches_its_expected_tree() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name == "invalid" || name == "ascode" || !dir.join("runners.yaml").exists() {
            continue;
        }
        assert_tree(
            &format!("fixtures/{name}/runners.yaml"),
            &format!("fixtures/{name}/expected"),
        );
        seen += 1;
    }
    assert!(seen >= 1, "example fleets under fixtures/");
}

#[test]
fn render_check_passes_on_committed_out() {
    let out = runnergen(&[
        "render",
        "fixtures/ascode/runners.yaml",
        "--out",
        "out",
        "--check",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_accepts_the_seed_fleet() {
    let out = runnergen(&["validate", "fixtures/ascode/runners.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fixtures/ascode/runners.yaml: valid: 3 runners in 1 environment (ss)\n"
    );
    // Lint findings are warnings: printed, not failing (tests/it/cli.rs).
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning[L001]"));
}

#[test]
fn first_phase_says_what_to_do_next() {
    let out = runnergen(&["validate", "fixtures/first-phase/runners.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    // One line per environment by default, each runner with -v, none with -q.
    assert_eq!(err.matches("note[N001]").count(), 1, "{err}");
    assert!(err.contains("environment `ss`: 3 runners wait for their managed identities' client IDs, so their Kubernetes files are held back: images, packer, tf"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fixtures/first-phase/runners.yaml: valid: 3 runners in 1 environment (ss); 3 wait for a client ID (phase 1: deploy Azure first)\n"
    );
    let verbose = runnergen(&["validate", "-v", "fixtures/first-phase/runners.yaml"]);
    assert_eq!(
        String::from_utf8_lossy(&verbose.stderr)
            .matches("note[N001]")
            .count(),
        3
    );
    let quiet = runnergen(&["validate", "--quiet", "fixtures/first-phase/runners.yaml"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
    assert!(
        err.contains("az stack sub create --name runnergen-ss"),
        "{err}"
    );
    assert!(
        err.contains("--action-on-unmanage deleteResources"),
        "{err}"
    );
    assert!(
        err.contains("--query outputs > ss.identity-outputs.json"),
        "{err}"
    );
    assert!(err.contains("set environments.ss.identityOutputs"), "{err}");
}

/// Phase 2 without editing the spec: the first-phase fleet plus its deployment's outputs file
/// renders exactly what the seed fleet with inline client IDs renders.
#[test]
fn an_outputs_file_gives_the_same_tree_as_inline_client_ids() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let files = |name: &str| std::fs::read_to_string(root().join("fixtures/outputs").join(name));
    let with_outputs = runnergen::compile::compile_with(
        "runners.yaml",
        &read("fixtures/outputs/runners.yaml"),
        &files,
    )
    .unwrap();
    let inline = runnergen::compile("runners.yaml", &read("fixtures/ascode/runners.yaml")).unwrap();
    assert_eq!(with_outputs, inline);
    let first_phase =
        runnergen::compile("runners.yaml", &read("fixtures/first-phase/runners.yaml")).unwrap();
    assert!(
        first_phase.len() < inline.len(),
        "phase 1 holds back the Kubernetes files"
    );
}

/// One runner in several environments (`environments:` plus `overrides:`) renders every file
/// that one entry per runner and environment renders, with the environment suffix gone from
/// the key: the same Azure, Kubernetes, GitOps and registration objects.
#[test]
fn environments_and_overrides_render_what_one_entry_per_environment_renders() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let compact =
        runnergen::compile("runners.yaml", &read("fixtures/environments/runners.yaml")).unwrap();
    let nine = runnergen::compile(
        "runners.yaml",
        &read("fixtures/environments/nine-entries.yaml"),
    )
    .unwrap();
    let unsuffix = |s: &str| {
        let mut s = s.to_owned();
        for key in ["deploy", "images", "docs", "terraform", "lint"] {
            for env in ["dev", "prd"] {
                s = s
                    .replace(&format!("{key}-{env}"), key)
                    .replace(&format!("{key}_{env}"), key);
            }
        }
        s
    };
    let files = |tree: &runnergen::tree::Tree, f: &dyn Fn(&str) -> String| {
        tree.iter()
            .filter(|(p, _)| *p != runnergen::outdir::MANIFEST)
            .map(|(p, b)| (f(p), f(std::str::from_utf8(b).unwrap())))
            .collect::<std::collections::BTreeMap<String, String>>()
    };
    let (compact, nine) = (files(&compact, &|s| s.to_owned()), files(&nine, &unsuffix));
    assert_eq!(
        compact.keys().collect::<Vec<_>>(),
        nine.keys().collect::<Vec<_>>()
    );
    for (path, text) in &compact {
        assert_eq!(text, &nine[path], "{path}");
    }
    assert!(
        compact.contains_key("prd/deploy/values.yaml"),
        "{:?}",
        compact.keys()
    );
}

/// Output bytes never depend on how the spec path was typed or where runnergen runs from:
/// headers record the spec relative to the output directory's parent, and `--out` defaults to
/// `out` beside the spec.
#[test]
fn four_spellings_of_the_spec_path_render_one_tree() {
    let tmp = std::env::temp_dir().join(format!("runnergen-spellings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let repo = tmp.join("repo");
    std::fs::create_dir_all(repo.join("deep/er")).unwrap();
    std::fs::create_dir_all(tmp.join("elsewhere")).unwrap();
    std::fs::copy(
        root().join("fixtures/ascode/runners.yaml"),
        repo.join("runners.yaml"),
    )
    .unwrap();
    let absolute = repo.join("runners.yaml").to_string_lossy().into_owned();
    let spellings: [(&std::path::Path, &str); 4] = [
        (&repo, "runners.yaml"),
        (&repo, "./runners.yaml"),
        (&repo.join("deep/er"), &absolute),
        (&tmp.join("elsewhere"), "../repo/runners.yaml"),
    ];
    let mut trees = Vec::new();
    for (cwd, spec) in spellings {
        let _ = std::fs::remove_dir_all(repo.join("out"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
            .args(["render", spec])
            .current_dir(cwd)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(repo.join("out"))
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(repo.join("out")).unwrap();
                (
                    rel.to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        assert!(files.len() > 20, "{spec}");
        trees.push(files);
    }
    let header = std::fs::read_to_string(repo.join("out/ss/tf/rbac.yaml")).unwrap();
    assert!(
        header.starts_with("# generated by runnergen from runners.yaml; do not edit\n"),
        "{header}"
    );
    for t in &trees[1..] {
        assert!(t == &trees[0], "a spelling changed the bytes");
    }
}

/// URLs are normalised once: `gitlab.url` with or without its trailing slash, and a chart
/// repository with one, render the same bytes everywhere (registration.json and values
/// included).
#[test]
fn two_spellings_of_the_urls_render_one_tree() {
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    assert!(seed.contains("  url: https://gitlab.com/\n"));
    let bare = seed
        .replace(
            "  url: https://gitlab.com/\n",
            "  url: https://gitlab.com\n",
        )
        .replace(
            "  version: 0.86.0\n",
            "  version: 0.86.0\n  repository: https://charts.gitlab.io/\n",
        );
    let a = runnergen::compile("runners.yaml", &seed).unwrap();
    let b = runnergen::compile("runners.yaml", &bare).unwrap();
    assert_eq!(a, b);
    let reg: serde_json::Value =
        serde_json::from_str(a.get_str("ss/tf/registration.json").unwrap()).unwrap();
    assert_eq!(reg["gitlab_url"], "https://gitlab.com/");
}

/// Every example fleet and a generated 300-runner fleet over 5 environments: (name, spec).
fn example_specs() -> Vec<(String, String)> {
    let mut specs: Vec<(String, String)> =
        vec![("generated".into(), crate::gen_fleet::fleet(300, 5))];
    for entry in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let path = entry.unwrap().path().join("runners.yaml");
        if path.exists() && !path.to_string_lossy().contains("outputs") {
            specs.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    specs
}

/// Rendering on every core gives the bytes of rendering on one: every example fleet,
/// file by file.
#[test]
fn the_parallel_render_is_byte_identical_to_the_serial_one() {
    for (name, text) in example_specs() {
        let resolved = runnergen::compile::resolve(&text, &runnergen::compile::no_files)
            .unwrap_or_else(|d| panic!("{name}: {d:?}"));
        let parallel = runnergen::render::render(&resolved.fleet, "runners.yaml").unwrap();
        let serial = runnergen::render::render_serial(&resolved.fleet, "runners.yaml").unwrap();
        assert_eq!(parallel.len(), serial.len(), "{name}");
        for ((pp, pb), (sp, sb)) in parallel.iter().zip(serial.iter()) {
            assert_eq!(pp, sp, "{name}");
            assert!(pb == sb, "{name}: {pp} differs");
        }
    }
}

/// The invariants check what the renderers report of the values they serialised; parsing the
/// rendered files back gives the same facts, and they pass: every example fleet.
#[test]
fn the_invariants_read_what_the_files_say() {
    use runnergen::render::invariants;
    for (name, text) in example_specs() {
        let fleet = runnergen::compile::resolve(&text, &runnergen::compile::no_files)
            .unwrap_or_else(|d| panic!("{name}: {d:?}"))
            .fleet;
        let (tree, reported) = runnergen::render::render_reporting(&fleet, "runners.yaml").unwrap();
        let parsed = invariants::from_tree(&fleet, &tree).unwrap();
        assert!(parsed.iter().any(|e| !e.runners.is_empty()), "{name}");
        assert_eq!(parsed, reported, "{name}");
        invariants::check(&fleet, &parsed).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A file that drifts from another fails the invariants, read back from the files: a job
/// account config.toml names that no credential trusts, a token Secret the chart would not
/// find, a manager account without its cache identity, a credential with another issuer.
#[test]
fn the_invariants_fail_a_file_that_drifts_from_another() {
    use runnergen::render::invariants;
    let text = std::fs::read_to_string(root().join("fixtures/cache/runners.yaml")).unwrap();
    let fleet = runnergen::compile::resolve(&text, &runnergen::compile::no_files)
        .unwrap()
        .fleet;
    let tree = runnergen::render::render(&fleet, "runners.yaml").unwrap();
    let drifted = |path: &str, from: &str, to: &str| {
        let mut t = runnergen::tree::Tree::new();
        for (p, b) in tree.iter() {
            let b = std::str::from_utf8(b).unwrap();
            if p == path {
                assert!(b.contains(from), "{path} lacks {from}");
                t.insert(p, b.replace(from, to)).unwrap();
            } else {
                t.insert(p, b).unwrap();
            }
        }
        let facts = invariants::from_tree(&fleet, &t).unwrap();
        invariants::check(&fleet, &facts).unwrap_err().to_string()
    };
    let jobs = "gitlab-runner-node-jobs";
    assert_eq!(
        drifted(
            "ss/node/config.toml",
            &format!("service_account = \"{jobs}\""),
            "service_account = \"other\""
        ),
        "internal error: cross-artifact invariant violated: ss/node/config.toml: job pods run as \
         `system:serviceaccount:gitlab-node-jobs:other` but the federated credential trusts \
         `system:serviceaccount:gitlab-node-jobs:gitlab-runner-node-jobs`"
    );
    assert!(
        drifted("ss/node/values.yaml", "secret: gitlab-runner-node-token", "secret: other")
            .ends_with("ss/node/values.yaml: runners.secret `other` is not the token Secret `gitlab-runner-node-token`")
    );
    assert!(
        drifted(
            "ss/node/serviceaccounts.yaml",
            "client-id: 4b3a2918-0f7e-4d6c-9b5a-483726150f4e",
            "client-id: 00000000-0f7e-4d6c-9b5a-483726150f4e"
        )
        .ends_with(
            "ss/node: the manager's service account does not carry the cache identity's client ID"
        )
    );
    assert!(
        drifted(
            "ss/azure/main.json",
            "https://westeurope.",
            "https://northeurope."
        )
        .contains("ss/azure/main.json: issuer `https://northeurope.")
    );
}
