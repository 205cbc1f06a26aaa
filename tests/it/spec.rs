//! Reading specs: positions, budgets and hints.

use runnergen::spec::{self, schema, yaml};

#[test]
fn every_node_has_its_position() {
    let tree = yaml::parse("a: 1\nb:\n  - x\n  - {c: d}\n").unwrap();
    let mut map = yaml::SourceMap::new();
    tree.to_json(&mut map);
    assert_eq!(map["/b/1/c"].value, yaml::Pos { line: 4, col: 9 });
    assert_eq!(map["/b/1/c"].key, Some(yaml::Pos { line: 4, col: 6 }));
    assert_eq!(map["/b/0"].value, yaml::Pos { line: 3, col: 5 });
}

#[test]
fn aliases_resolve_but_are_bounded() {
    let tree = yaml::parse("a: &x [1, 2]\nb: *x\n").unwrap();
    let mut map = yaml::SourceMap::new();
    assert_eq!(tree.to_json(&mut map)["b"], serde_json::json!([1, 2]));
    let bomb = (0..12)
        .map(|i| {
            format!(
                "l{i}: &l{i} [{}]\n",
                if i == 0 {
                    "x".to_string()
                } else {
                    vec![format!("*l{}", i - 1); 10].join(",")
                }
            )
        })
        .collect::<String>();
    let err = yaml::parse(&bomb).unwrap_err();
    assert_eq!(
        err.message,
        "the spec exceeds runnergen's reading budget: it expands to more than 250001 values (mappings, lists and scalars), more than a spec of its size can hold without aliases multiplying it"
    );
}

/// The node budget scales with the document: a 10,000-runner fleet (about 3 MB, some 400,000
/// values; ten environments, each within 99 deployment shards) reads and validates; the alias
/// bomb above still stops at the floor.
#[test]
fn a_ten_thousand_runner_spec_validates() {
    let text = crate::gen_fleet::fleet(10_000, 10);
    assert!(text.len() > 3_000_000, "{}", text.len());
    assert!(yaml::node_budget(text.len()) > 1_000_000);
    let resolved = runnergen::compile::resolve(&text, &runnergen::compile::no_files)
        .unwrap_or_else(|d| panic!("{d:?}"));
    let runners: usize = resolved
        .fleet
        .environments
        .iter()
        .map(|e| e.runners.len())
        .sum();
    assert_eq!(runners, 10_000);
}

/// A runner entry is copied into each environment it names: a large entry naming many
/// environments (defined or not) is refused before anything is copied (E001, at the entry),
/// however small the spec.
#[test]
fn instances_count_against_the_budget() {
    let seed = std::fs::read_to_string(crate::common::root().join("fixtures/ascode/runners.yaml"))
        .unwrap();
    let envs: Vec<String> = (0..10_000).map(|i| format!("e{i}")).collect();
    let tags: Vec<String> = (0..1_000).map(|i| format!("t{i}")).collect();
    let text = seed.replacen(
        "  tf:\n    environment: ss\n    type: group\n    path: ascodenl/infra\n    tags: [azure, platform, ss]\n",
        &format!(
            "  tf:\n    environments: [{}]\n    type: group\n    path: ascodenl/infra\n    tags: [{}]\n",
            envs.join(", "),
            tags.join(", ")
        ),
        1,
    );
    assert_ne!(text, seed);
    assert!(text.len() < 200_000, "{}", text.len());
    let start = std::time::Instant::now();
    let diags = runnergen::compile::resolve(&text, &runnergen::compile::no_files)
        .err()
        .expect("refused");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    let budget = diags
        .iter()
        .find(|d| d.code.to_string() == "E001")
        .unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(budget.pos.line, 38, "{budget:?}");
    assert!(
        budget
            .message
            .contains("each copied into every environment it names")
            && budget
                .message
                .contains(&runnergen::spec::instances::MAX_INSTANCE_VALUES.to_string()),
        "{budget:?}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    assert_eq!(
        yaml::parse(&deep).unwrap_err().message,
        "the spec exceeds runnergen's reading budget: it nests deeper than 64 levels"
    );
}

/// Sixty nested 1,000-character keys over 20,000 values: a 270 KB spec whose JSON pointers
/// (one per value, kept in the source map) would take 1.2 GB. Refused at the first value whose
/// pointer does not fit, before any is built.
#[test]
fn long_keys_over_many_values_are_refused() {
    let prefix: String = (0..60)
        .map(|d| format!("{{{}{d:02}: ", "k".repeat(998)))
        .collect();
    let leaves: Vec<String> = (0..20_000).map(|i| format!("v{i}: 1")).collect();
    let text = format!("{prefix}{{{}}}{}\n", leaves.join(", "), "}".repeat(60));
    assert!(text.len() < 300_000, "{}", text.len());
    // Sixty levels take more stack in a debug build of the parser than a test thread's 2 MiB
    // (the release binary reads them on its 8 MiB main thread).
    let parse = |text: String| {
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(move || yaml::parse(&text).map(drop))
            .unwrap()
            .join()
            .unwrap()
    };
    let err = parse(text).unwrap_err();
    assert_eq!(
        err.message,
        "the spec exceeds runnergen's reading budget: its keys are too long for the values nested under them (the paths to its values take more than 64 MiB)"
    );
    // The sixty keys' values take 1,001 × (1 + 2 + … + 60) bytes of pointers; each value
    // under them 60,061 and its own key. The first that does not fit is reported at its key.
    let mut left = 64usize << 20;
    left -= 1001 * (1..=60).sum::<usize>();
    let leaf = (0..)
        .find(|&i| {
            let cost = 60 * 1001 + 1 + format!("v{i}").len();
            let fits = cost <= left;
            left = left.saturating_sub(cost);
            !fits
        })
        .unwrap();
    assert_eq!(leaf, 1_086);
    let col = prefix.len() + 1 + leaves[..leaf].iter().map(|l| l.len() + 2).sum::<usize>();
    assert_eq!(
        err.pos,
        Some(yaml::Pos {
            line: 1,
            col: col as u32 + 1
        })
    );
    // The same keys over a few values read.
    let few = format!("{prefix}{{v: 1}}{}\n", "}".repeat(60));
    assert!(parse(few).is_ok());
}

#[test]
fn huge_specs_are_refused_before_parsing() {
    let big = "a: b\n".repeat(yaml::MAX_SPEC_BYTES / 5 + 1);
    let err = yaml::parse(&big).unwrap_err();
    assert!(err.message.contains("bytes"), "{}", err.message);
}

#[test]
fn did_you_mean_suggests_close_words_only() {
    assert_eq!(
        schema::did_you_mean("privilged", ["privileged", "purpose"]),
        Some("privileged")
    );
    assert_eq!(schema::did_you_mean("zzz", ["privileged", "purpose"]), None);
    assert_eq!(schema::distance("kitten", "sitting"), 3);
}

#[test]
fn schema_compiles_and_describes_every_field() {
    let s = schema::schema();
    fn walk(v: &serde_json::Value, path: &str) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, p) in props {
                assert!(
                    p.get("description").is_some(),
                    "{path}/{k} has no description"
                );
            }
        }
        if let Some(defs) = v.get("$defs").and_then(|d| d.as_object()) {
            for (k, d) in defs {
                walk(d, &format!("{path}/$defs/{k}"));
            }
        }
    }
    walk(s, "");
}

#[test]
fn diagnostics_render_with_caret_under_the_column() {
    let d = spec::Diagnostic::error(spec::Code::E014, yaml::Pos { line: 2, col: 9 }, "/x", "bad")
        .hint("fix it");
    let text = d.render("f.yaml", "a: 1\nb: [1, 2, Ownr]\n");
    assert_eq!(
        text,
        "f.yaml:2:9: error[E014]: bad\n  at /x\n    |\n  2 | b: [1, 2, Ownr]\n    |         ^\n  = hint: fix it\n"
    );
}

#[test]
fn load_reports_schema_and_semantic_problems_together() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/invalid/many-problems.yaml"),
    )
    .unwrap();
    let diags = spec::load(&text).unwrap_err();
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    for c in ["E005", "E012", "E010", "E014", "E015", "E031"] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
    let mut sorted = diags.clone();
    spec::diag::sort(&mut sorted);
    assert_eq!(sorted, diags, "diagnostics come sorted by position");
}

#[test]
fn duplicate_keys_in_a_huge_mapping_are_found_at_their_line() {
    let mut text = String::from("version: 1\nenvironments:\n  e:\n");
    for i in 0..60_000 {
        text.push_str(&format!("    k{i}: v\n"));
    }
    text.push_str("    k5: again\n");
    let diags = spec::load(&text).unwrap_err();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code.as_str(), "E001");
    assert_eq!(diags[0].pos.line, 60_004);
    assert!(diags[0].message.contains("duplicate key `k5`"), "{diags:?}");
}

/// A small mapping is checked by a scan, a large one by a set: both find a repeated key, the
/// large one whether it repeats a key before or after the set is made.
#[test]
fn duplicate_keys_in_small_and_large_mappings_are_found() {
    for (keys, repeat) in [(3, 1), (15, 0), (16, 3), (40, 20)] {
        let mut text = String::from("version: 1\nenvironments:\n  e:\n");
        for i in 0..keys {
            text.push_str(&format!("    k{i}: v\n"));
        }
        text.push_str(&format!("    k{repeat}: again\n"));
        let diags = spec::load(&text).unwrap_err();
        assert_eq!(diags.len(), 1, "{keys}: {diags:?}");
        assert_eq!(diags[0].pos.line, keys + 4, "{keys}");
        assert!(
            diags[0]
                .message
                .contains(&format!("duplicate key `k{repeat}`")),
            "{keys}: {diags:?}"
        );
    }
}

/// Rendering many diagnostics at once (a line index built once) gives what rendering each
/// against the text gives.
#[test]
fn diagnostics_render_alike_one_by_one_and_all_at_once() {
    let text =
        std::fs::read_to_string(crate::common::root().join("fixtures/invalid/many-problems.yaml"))
            .unwrap();
    let diags = spec::load(&text).unwrap_err();
    assert!(diags.len() > 5, "{}", diags.len());
    let one_by_one: String = diags
        .iter()
        .map(|d| d.render_styled("f.yaml", &text, true))
        .collect();
    assert_eq!(
        spec::diag::render_all(&diags, "f.yaml", &text, true),
        one_by_one
    );
}

/// Issue 28: any built-in role of the catalogue is accepted by name (not only the few
/// runnergen once listed), a GUID stands for any other, and a misspelt name gets a
/// did-you-mean over all names.
#[test]
fn any_catalogued_builtin_role_is_accepted_by_name() {
    let acr = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-acr/providers/Microsoft.ContainerRegistry/registries/acrweussascode";
    let vault = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-gitlab/providers/Microsoft.KeyVault/vaults/kv-weu-ss-gitlab";
    let base = std::fs::read_to_string(crate::common::root().join("fixtures/ascode/runners.yaml"))
        .unwrap();
    let with = |first: &str| {
        let spec = base.replacen(
            &format!("- role: AcrPush\n          scope:\n            resource: {acr}\n"),
            &format!(
                "- role: {first}\n          scope:\n            resource: {vault}\n        - role: Storage Blob Data Owner\n          scope:\n            resource: {acr}\n"
            ),
            1,
        );
        assert_ne!(spec, base);
        spec
    };
    let dir = std::env::temp_dir().join(format!("runnergen-roles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (role, ok) in [
        ("Key Vault Administrator", true),
        ("0b9f7a61-2c3d-4e5f-8a9b-0c1d2e3f4a5b", true),
        ("Key Vault Administrater", false),
    ] {
        std::fs::write(dir.join("runners.yaml"), with(role)).unwrap();
        let (code, out, err) = crate::common::runnergen_in(&dir, &["validate", "runners.yaml"]);
        if ok {
            assert_eq!(code, 0, "{role}: {out}{err}");
        } else {
            assert_eq!(code, 2, "{role}: {out}{err}");
            let all = format!("{out}{err}");
            assert!(
                all.contains("error[E014]: unknown role `Key Vault Administrater`"),
                "{all}"
            );
            assert!(
                all.contains("did you mean `Key Vault Administrator`?"),
                "{all}"
            );
        }
    }
}
