//! `scripts/azure_roles.py`, the generator of `data/azure-builtin-roles.json`: run on the
//! sample pages in `tests/azure-roles/pages/` (the Azure docs' role pages' shape), its output
//! is `tests/azure-roles/expected.json`; and the committed data file names where it came from.

use crate::common::{assert_golden, root};
use std::process::Command;

fn generate(out: &std::path::Path, commits: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("python3");
    cmd.current_dir(root())
        .args(["scripts/azure_roles.py", "tests/azure-roles/pages"])
        .arg(out)
        .args(["--date", "2026-01-02"]);
    for c in commits {
        cmd.args(["--commit", c]);
    }
    cmd.output().expect("python3 runs (CI's image has it)")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("runnergen-azure-roles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn the_generator_writes_the_sample_catalogue() {
    let out = scratch("sample.json");
    let run = generate(
        &out,
        &[
            "general.md=03e5750af10b23b5ba437d5b333ec5e9437844f9",
            "storage.md=1b4e136a1da731e1ed16444eb6ce5701bcd8c0f4",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let written = std::fs::read(&out).unwrap();
    assert_golden("tests/azure-roles/expected.json", &written);
    // Deterministic: a second run writes the same bytes.
    let again = scratch("again.json");
    generate(
        &again,
        &[
            "storage.md=1b4e136a1da731e1ed16444eb6ce5701bcd8c0f4",
            "general.md=03e5750af10b23b5ba437d5b333ec5e9437844f9",
        ],
    );
    assert_eq!(std::fs::read(&again).unwrap(), written);
}

#[test]
fn the_generator_refuses_a_page_without_its_commit() {
    let run = generate(
        &scratch("refused.json"),
        &["general.md=03e5750af10b23b5ba437d5b333ec5e9437844f9"],
    );
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("storage.md: no --commit"), "{err}");
}

#[test]
fn the_data_file_records_its_source() {
    let text = std::fs::read_to_string(root().join("data/azure-builtin-roles.json")).unwrap();
    let data: serde_json::Value = serde_json::from_str(&text).unwrap();
    let source = &data["source"];
    assert_eq!(source["repo"], "MicrosoftDocs/azure-docs");
    assert!(source["retrieved"].as_str().is_some_and(|d| d.len() == 10));
    let pages: Vec<&str> = source["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let commit = p["commit"].as_str().unwrap();
            assert!(commit.len() == 40 && commit.bytes().all(|c| c.is_ascii_hexdigit()));
            p["path"].as_str().unwrap()
        })
        .collect();
    let roles = data["roles"].as_array().unwrap();
    for r in roles {
        assert!(
            pages.contains(&r["page"].as_str().unwrap()),
            "{}",
            r["name"]
        );
    }
    let total: u64 = source["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["roles"].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, roles.len());
}

#[test]
fn the_generator_writes_the_names_file() {
    let out = scratch("names.tsv");
    let run = Command::new("python3")
        .current_dir(root())
        .args([
            "scripts/azure_roles.py",
            "names",
            "tests/azure-roles/role_definitions.tf.json",
        ])
        .arg(&out)
        .args(["--date", "2026-01-02", "--commit"])
        .arg("00dc409d216bc2bacf0b6f1871e6be485275d8c3")
        .output()
        .expect("python3 runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_golden(
        "tests/azure-roles/expected-names.tsv",
        &std::fs::read(&out).unwrap(),
    );
}

/// The library compiles `data/` in (`include_str!`), so the image's build stage must copy it.
#[test]
fn the_container_build_copies_the_data_the_library_compiles_in() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.lines().any(|l| l == "COPY data data"),
        "{dockerfile}"
    );
}
