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
