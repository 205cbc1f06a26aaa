//! Stable shards (issue 29, item 4): an environment's Azure identities deploy in
//! `identities.shards` deployments, each runner's shard a function of its key and the count
//! alone. Which shard holds which runner is read back from the rendered main templates (their
//! `metadata.runnergen` summary), not asked of the model. The refusal when a shard would not
//! fit (E024) and the move `diff` reports live in `diagnostics` (the invalid corpus) and
//! `diff`; the jump hash's own properties beside it (`model::shard`).

use runnergen::layout::{AzureFile, Location};
use std::collections::{BTreeMap, BTreeSet};

fn render(spec: &str) -> runnergen::tree::Tree {
    runnergen::compile("runners.yaml", spec).unwrap_or_else(|e| panic!("{e}"))
}

/// Runner → the main template (`main-NN.json`) whose access summary lists it, over every
/// main template of the tree; a runner in two is a failure.
pub(crate) fn shard_files(tree: &runnergen::tree::Tree) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, bytes) in tree.iter() {
        let Location::Azure { file, .. } = Location::of(path) else {
            continue;
        };
        if !AzureFile::is_main_json(file) {
            continue;
        }
        let meta = runnergen::readback::main_metadata(bytes).expect(path);
        for runner in meta["runners"].as_object().expect(path).keys() {
            let before = out.insert(runner.clone(), file.to_owned());
            assert!(before.is_none(), "{runner} in {before:?} and {file}");
        }
    }
    out
}

/// The shard count `gen-fleet` wrote for its one environment.
fn count(spec: &str) -> u32 {
    let at = spec.find(", shards: ").expect("a sharded environment") + ", shards: ".len();
    spec[at..spec[at..].find('}').unwrap() + at]
        .parse()
        .unwrap()
}

/// `spec` (one environment) with `n` shards.
fn set_shards(spec: &str, n: u32) -> String {
    spec.replacen(
        &format!(", shards: {}}}", count(spec)),
        &format!(", shards: {n}}}"),
        1,
    )
}

/// A runner whose key sorts before every generated one (`r00000` …).
const FIRST: &str = "  a0000:\n    environment: e00\n    type: group\n    path: org/first\n    purpose: sorts first\n    identity:\n      clientId: aaaaaaaa-0000-4000-8000-000000000000\n      roles:\n        - role: Reader\n          scope: {subscription: apps}\n";

/// The done-when: 64 runners in one environment render in shards; a runner added whose
/// key sorts first (the one that moved every later runner along when shards were filled in key
/// order) moves no runner out of the shard it was in.
#[test]
fn a_runner_added_first_moves_no_other() {
    let spec = crate::gen_fleet::fleet(64, 1);
    let before = shard_files(&render(&spec));
    assert_eq!(before.len(), 64);
    let used: BTreeSet<&String> = before.values().collect();
    assert!(used.len() >= 3, "several shards in use: {used:?}");
    assert!(spec.ends_with('\n'));
    let after = shard_files(&render(&format!("{spec}{FIRST}")));
    assert_eq!(after.len(), 65);
    assert!(after.contains_key("a0000"));
    for (runner, file) in &before {
        assert_eq!(&after[runner], file, "{runner} changed shard");
    }
}

/// Raising the count from n to n + 1 moves runners only into the new shard n + 1, and some do;
/// the others stay where they were, step after step.
#[test]
fn raising_the_count_moves_runners_only_into_the_new_shard() {
    let spec = crate::gen_fleet::fleet(64, 1);
    let first = count(&spec);
    let mut before = shard_files(&render(&spec));
    let mut moved_in_all = 0;
    for n in first + 1..=first + 3 {
        let tree = render(&set_shards(&spec, n));
        let new = format!("main-{n:02}.json");
        assert!(
            tree.get(&format!("e00/azure/{new}")).is_some(),
            "shard {n} rendered"
        );
        let after = shard_files(&tree);
        assert_eq!(after.len(), before.len());
        let moved: Vec<&String> = before.keys().filter(|r| after[*r] != before[*r]).collect();
        for r in &moved {
            assert_eq!(after[*r], new, "{r} moved from {} elsewhere", before[*r]);
        }
        assert_eq!(
            after.values().filter(|f| **f == new).count(),
            moved.len(),
            "shard {n} holds exactly the runners that moved"
        );
        moved_in_all += moved.len();
        before = after;
    }
    assert!(moved_in_all > 0, "some runners go to the new shards");
}

/// With shards the environment deploys `main-01.json` … and no `main.json`; without (or with
/// 1) it stays one deployment with the bytes it always had (the golden trees hold that).
#[test]
fn a_sharded_environment_renders_every_shard_and_no_unsharded_template() {
    let spec = crate::gen_fleet::fleet(64, 1);
    let n = count(&spec);
    let tree = render(&spec);
    let mains: BTreeSet<&str> = tree
        .paths()
        .filter_map(|p| match Location::of(p) {
            Location::Azure { file, .. } if AzureFile::is_main_json(file) => Some(file),
            _ => None,
        })
        .collect();
    let expected: BTreeSet<String> = (1..=n).map(|i| format!("main-{i:02}.json")).collect();
    assert_eq!(
        mains,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
}

/// E024 when a shard of a sharded environment would not fit, at the environment's
/// `identities`, naming each shard that would not and the smallest count above it that fits;
/// every count between refuses too, and that one renders.
#[test]
fn a_shard_count_too_small_is_refused_with_the_count_that_fits() {
    let spec = set_shards(&crate::gen_fleet::fleet(64, 1), 2);
    let diags = runnergen::compile::resolve(&spec, &runnergen::compile::no_files)
        .err()
        .expect("two shards cannot hold 64 runners");
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert_eq!(d.code.as_str(), "E024");
    assert_eq!(d.path, "/environments/e00/identities");
    assert!(
        d.message
            .starts_with("environment `e00`: shard 1 of 2 (runnergen-e00-01) would hold "),
        "{}",
        d.message
    );
    assert!(
        d.message.ends_with(
            " identities; a deployment holds at most 30 (ARM's template limits: two outputs per identity)"
        ),
        "{}",
        d.message
    );
    let hint = d.hint.as_deref().unwrap();
    let k: u32 = hint
        .strip_prefix("set `identities.shards: ")
        .and_then(|h| h.split('`').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("{hint}"));
    assert!(
        hint.ends_with(", the smallest count at which every shard fits: raising the count moves only the runners that go to the new shards, which `diff` names"),
        "{hint}"
    );
    for m in 3..k {
        let refused =
            runnergen::compile::resolve(&set_shards(&spec, m), &runnergen::compile::no_files);
        assert!(refused.is_err(), "{m} shards fit, below the hinted {k}");
    }
    render(&set_shards(&spec, k));
}
