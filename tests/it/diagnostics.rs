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
