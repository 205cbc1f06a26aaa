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
}
