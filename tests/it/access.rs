//! One `Access` per runner, two ways: the model's (`access::Access`) and the one read back
//! from rendered files (`readback::access`). On every golden tree (`out/` and each fixture's
//! `expected/`, read from disk) and on a generated fleet, the two agree for every runner of
//! every environment, and PERMISSIONS.md rebuilt from the read-back is the committed one.

use crate::common::*;
use runnergen::access::Access;
use runnergen::model::Fleet;
use runnergen::render::permissions::{Section, report_of};
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir`, by path relative to it.
fn tree_on_disk(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let path = e.path().strip_prefix(dir).unwrap().to_string_lossy();
            (path.replace('\\', "/"), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn resolve(spec: &str, text: &str) -> Fleet {
    let folder = root().join(spec).parent().unwrap().to_owned();
    let files = move |name: &str| std::fs::read_to_string(folder.join(name));
    runnergen::compile::resolve(text, &files)
        .unwrap_or_else(|_| panic!("{spec} must resolve"))
        .fleet
}

/// The model's and the read-back `Access` of every runner of `fleet` are equal, and each
/// environment's PERMISSIONS.md is what the read-back shows (the model's plan for a runner
/// whose Kubernetes files are not rendered yet: they are what would show it).
fn assert_access_read_back(spec: &str, fleet: &Fleet, files: &BTreeMap<String, Vec<u8>>) {
    let read_back = runnergen::readback::access(files);
    // Which runners share which one's reach, from the files alone, is the model's.
    let reaches: Vec<_> = read_back
        .iter()
        .filter_map(|((e, k), a)| a.reach(e, k))
        .collect();
    let overlaps = runnergen::overlap::Overlaps::compute(&reaches);
    assert_eq!(overlaps, fleet.overlaps, "{spec}: overlaps read back");
    let mut runners = 0;
    for env in &fleet.environments {
        let mut sections = Vec::new();
        for r in &env.runners {
            let key = (env.key.clone(), r.key.clone());
            let found = read_back
                .get(&key)
                .unwrap_or_else(|| panic!("{spec}: nothing read back for {key:?}"));
            assert_eq!(*found, Access::of(fleet, env, r), "{spec}: {key:?}");
            if r.ready() {
                // Everything PERMISSIONS.md says of the runner is in its files.
                assert_eq!(*found, Access::planned(fleet, env, r), "{spec}: {key:?}");
            }
            let access = if r.ready() {
                found.clone()
            } else {
                Access::planned(fleet, env, r)
            };
            sections.push(Section {
                key: &r.key,
                access,
                findings: fleet.lint.of(&env.key, &r.key).collect(),
                onto: overlaps.onto(&env.key, &r.key),
                from: overlaps.from(&env.key, &r.key),
            });
            runners += 1;
        }
        let path = format!("{}/PERMISSIONS.md", env.key);
        let report = report_of(spec, &env.key, sections).unwrap();
        assert_eq!(
            report.as_bytes(),
            files[&path].as_slice(),
            "{spec}: {path} from the read-back"
        );
    }
    assert_eq!(read_back.len(), runners, "{spec}: runners read back");
}

#[test]
fn every_golden_tree_reads_back_the_models_access() {
    let mut trees = vec![(
        "fixtures/ascode/runners.yaml".to_owned(),
        root().join("out"),
    )];
    for entry in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("runners.yaml").exists() && dir.join("expected").exists() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            trees.push((
                format!("fixtures/{name}/runners.yaml"),
                dir.join("expected"),
            ));
        }
    }
    assert!(trees.len() >= 9, "{} golden trees", trees.len());
    for (spec, dir) in &trees {
        let text = std::fs::read_to_string(root().join(spec)).unwrap();
        assert_access_read_back(spec, &resolve(spec, &text), &tree_on_disk(dir));
    }
}

#[test]
fn a_generated_fleet_reads_back_the_models_access() {
    let text = crate::gen_fleet::fleet(60, 3);
    let fleet = runnergen::compile::resolve(&text, &runnergen::compile::no_files)
        .unwrap_or_else(|_| panic!("the generated fleet must resolve"))
        .fleet;
    let tree = runnergen::compile::render(&fleet, "generated.yaml").unwrap();
    let files = tree
        .iter()
        .map(|(p, b)| (p.to_owned(), b.to_vec()))
        .collect();
    assert_access_read_back("generated.yaml", &fleet, &files);
}

/// A cache with one account for manager and jobs: the job identity holds the cache's roles,
/// which PERMISSIONS.md marks, from the model and from the read-back alike.
#[test]
fn a_shared_identity_cache_reads_back_its_sas_roles() {
    let spec = "fixtures/cache/runners.yaml";
    let text = std::fs::read_to_string(root().join(spec))
        .unwrap()
        .replacen(
            "    concurrent: 4\n",
            "    concurrent: 4\n    serviceAccounts: shared\n",
            1,
        );
    let text: String = text
        .lines()
        .filter(|l| !l.contains("managerClientId"))
        .map(|l| format!("{l}\n"))
        .collect();
    let fleet = resolve(spec, &text);
    let tree = runnergen::compile::render(&fleet, spec).unwrap();
    let files = tree
        .iter()
        .map(|(p, b)| (p.to_owned(), b.to_vec()))
        .collect();
    assert_access_read_back(spec, &fleet, &files);
    let report = tree.get_str("ss/PERMISSIONS.md").unwrap();
    assert_eq!(
        report
            .matches("(the blob cache's SAS, signed by the manager with this shared identity)")
            .count(),
        1,
        "{report}"
    );
}
