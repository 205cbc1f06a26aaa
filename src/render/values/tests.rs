//! Helm values: only what the chart owns, nothing GitLab's registration owns.

use crate::testing::seed;
use serde_json::Value;

#[test]
fn values_carry_no_reserved_registration_settings() {
    let t = seed();
    let values = t.get_str("ss/tf/values.yaml").unwrap();
    for reserved in [
        "tags:",
        "runUntagged",
        "locked",
        "maximumTimeout",
        "protected:",
        "runnerToken",
        "runnerRegistrationToken",
        "rbac.serviceAccountName",
        "serviceAccountName",
    ] {
        assert!(!values.contains(reserved), "{reserved} in values.yaml");
    }
    let v: Value = serde_saphyr::from_str(values).unwrap();
    assert_eq!(
        v["serviceAccount"],
        serde_json::json!({"create": false, "name": "gitlab-runner-tf"})
    );
    assert_eq!(v["rbac"]["create"], false);
    assert_eq!(v["runners"]["secret"], "gitlab-runner-tf-token");
    assert!(
        v.get("deploymentAnnotations").is_none(),
        "no Reloader unless asked"
    );
}

/// A rotated token reaches the manager: with `restartOnRotation: reloader` the Deployment
/// carries Reloader's annotation naming the token Secret.
#[test]
fn reloader_restarts_the_manager_when_its_token_secret_changes() {
    let spec = crate::testing::read("fixtures/ascode/runners.yaml").replacen(
        "\nenvironments:",
        "\ntokenSource:\n  externalSecret: {}\n  restartOnRotation: reloader\nenvironments:",
        1,
    );
    let t = crate::compile("fleet.yaml", &spec).unwrap();
    let v: Value = serde_saphyr::from_str(t.get_str("ss/tf/values.yaml").unwrap()).unwrap();
    assert_eq!(
        v["deploymentAnnotations"],
        serde_json::json!({"secret.reloader.stakater.com/reload": "gitlab-runner-tf-token"})
    );
    assert_eq!(
        v["runners"]["secret"], "gitlab-runner-tf-token",
        "the Secret it watches"
    );
}

/// Every value runnergen writes is either refused in `chart.values` (the spec sets it through
/// another field) or one the spec's extra values may override on purpose; a new value must be
/// put in one of the two.
#[test]
fn every_value_runnergen_writes_is_owned_or_open_to_the_spec() {
    const OPEN: &[&str] = &[
        "/metrics",
        "/deploymentLabels",
        "/podLabels",
        "/securityContext",
        "/podSecurityContext",
    ];
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(o) if !o.is_empty() => {
                for (k, v) in o {
                    leaves(v, format!("{at}/{}", crate::spec::ptr_key(k)), out);
                }
            }
            _ => out.push(at),
        }
    }
    let mut checked = 0;
    for fixture in [
        "fixtures/ascode/runners.yaml",
        "fixtures/cache/runners.yaml",
        "fixtures/existing-secret/runners.yaml",
        "fixtures/shared-sa/runners.yaml",
    ] {
        let t = crate::testing::render(fixture);
        for path in t.paths().filter(|p| p.ends_with("/values.yaml")) {
            let v: Value = serde_saphyr::from_str(t.get_str(path).unwrap()).unwrap();
            let mut paths = Vec::new();
            leaves(&v, String::new(), &mut paths);
            for p in paths {
                let under = |prefix: &str| p == prefix || p.starts_with(&format!("{prefix}/"));
                let owned = crate::spec::escape::CHART_VALUES_OWNED
                    .iter()
                    .any(|(o, _)| under(o));
                assert!(
                    owned || OPEN.iter().any(|o| under(o)),
                    "{fixture}: {path}: {p}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "{checked}");
}
