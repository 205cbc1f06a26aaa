//! Every spec under fixtures/invalid/ yields exactly its expected diagnostics and exit code 2,
//! and writes nothing.

use crate::common::*;

#[test]
fn invalid_fixtures_report_located_diagnostics() {
    let dir = root().join("fixtures/invalid");
    let specs = files_with_ext(&dir, "yaml");
    assert!(
        specs.len() >= 20,
        "at least 20 invalid specs, found {}",
        specs.len()
    );
    for spec in specs {
        let name = spec.file_name().unwrap().to_string_lossy().into_owned();
        let rel = format!("fixtures/invalid/{name}");
        let out_dir =
            std::env::temp_dir().join(format!("runnergen-invalid-{}-{name}", std::process::id()));
        let out = runnergen(&["render", &rel, "--out", out_dir.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{rel}: exit code; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{rel}: nothing on stdout");
        assert!(!out_dir.exists(), "{rel}: nothing may be written");
        let expected = rel.replace(".yaml", ".expected");
        assert_golden(&expected, &out.stderr);
        // validate reports the same diagnostics
        let v = runnergen(&["validate", &rel]);
        assert_eq!(v.status.code(), Some(2), "{rel}: validate exit code");
        assert_eq!(
            v.stderr, out.stderr,
            "{rel}: validate and render report alike"
        );
    }
}

/// What an editor catches before runnergen runs: the committed schema, in a plain JSON Schema
/// validator (the `jsonschema` crate, none of runnergen's own rules), accepts every example
/// fleet and refuses the typo-corpus specs listed in `schema-caught.expected` (a golden list:
/// a schema change that catches less fails here).
#[test]
fn a_plain_schema_validator_catches_what_the_schema_can_say() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/runnergen.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let read = |p: &std::path::Path| -> Option<serde_json::Value> {
        serde_saphyr::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    let mut valid = files_with_ext(&root().join("fixtures/environments"), "yaml");
    for entry in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let spec = entry.unwrap().path().join("runners.yaml");
        if spec.exists() {
            valid.push(spec);
        }
    }
    for spec in &valid {
        let doc = read(spec).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", spec.display());
    }
    let mut report = String::new();
    let (mut caught, mut all) = (0, 0);
    for spec in files_with_ext(&root().join("fixtures/invalid"), "yaml") {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let verdict = match read(&spec) {
            None => "unreadable",
            Some(doc) if !validator.is_valid(&doc) => "caught",
            Some(_) => "missed",
        };
        all += 1;
        caught += usize::from(verdict != "missed");
        report.push_str(&format!("{verdict} {name}\n"));
    }
    report.push_str(&format!("{caught} of {all} before runnergen runs\n"));
    assert_golden("fixtures/invalid/schema-caught.expected", report.as_bytes());
}

#[test]
fn missing_spec_is_an_error_not_a_panic() {
    let out = runnergen(&["validate", "fixtures/does-not-exist.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: cannot read fixtures/does-not-exist.yaml"),
        "{err}"
    );
}

#[test]
fn every_diagnostic_has_position_path_and_hint() {
    let out = runnergen(&["validate", "fixtures/invalid/many-problems.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let heads: Vec<&str> = err.lines().filter(|l| l.contains(": error[")).collect();
    assert!(heads.len() >= 4, "all problems at once:\n{err}");
    for h in heads {
        assert!(h.starts_with("fixtures/invalid/many-problems.yaml:"), "{h}");
    }
    assert_eq!(
        err.matches("  at /").count(),
        err.matches(": error[").count()
    );
    assert_eq!(
        err.matches("= hint: ").count(),
        err.matches(": error[").count()
    );
}

/// A token pasted into a spec is refused, and no part of it is printed: not in the source line
/// under the caret (a value, a comment, a key), not in the pointer (a key pasted as a token),
/// not in a schema message that quotes the value, by `validate`, `render` or `lint -q`.
#[test]
fn a_refused_token_is_never_printed() {
    let token = "glpat-Zq8RtVx3LmNp4WsKd7Hj";
    let seed = std::fs::read_to_string(root().join("fixtures/ascode/runners.yaml")).unwrap();
    let places = [
        // A value, a comment, a mapping key, and a value the schema refuses by its form too.
        seed.replacen(
            "path: ascodenl/infra\n",
            &format!("path: ascodenl/infra\n    jobImage: \"alpine {token}\"\n"),
            1,
        ),
        seed.replacen(
            "tags: [azure, platform, ss]",
            &format!("tags: [azure, platform, ss]  # {token}"),
            1,
        ),
        seed.replacen(
            "path: ascodenl/infra\n",
            &format!("path: ascodenl/infra\n    jobVariables:\n      {token}: x\n"),
            1,
        ),
        seed.replacen(
            "url: https://gitlab.com/",
            &format!("url: https://ci:{token}@gitlab.com/"),
            1,
        ),
    ];
    let dir = std::env::temp_dir().join(format!("runnergen-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, spec) in places.iter().enumerate() {
        assert_ne!(spec, &seed, "place {i} is in the seed fleet");
        let path = dir.join(format!("spec-{i}.yaml"));
        std::fs::write(&path, spec).unwrap();
        for args in [
            vec!["validate"],
            vec!["render", "--check"],
            vec!["lint", "-q"],
        ] {
            let mut all = args.clone();
            all.push(path.to_str().unwrap());
            let out = runnergen(&all);
            assert_eq!(out.status.code(), Some(2), "place {i}, {args:?}");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(printed.contains("E030"), "place {i}, {args:?}: {printed}");
            // No eight characters of the token's secret part, anywhere.
            let secret = &token["glpat-".len()..];
            for w in 0..=secret.len() - 8 {
                assert!(
                    !printed.contains(&secret[w..w + 8]),
                    "place {i}, {args:?} printed part of the token:\n{printed}"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
