//! The runner's GitLab CI template: a hidden job with the runner's tags that signs in as its
//! identity.

use crate::testing::{docs, seed};
use serde_json::Value;

#[test]
fn the_hidden_job_selects_the_runner_and_signs_in_as_its_identity() {
    let t = seed();
    let doc = &docs(&t, "ss/tf/ci-template.yml")[0];
    let job = &doc[".runnergen-ss-tf"];
    let registration: Value =
        serde_json::from_str(t.get_str("ss/tf/registration.json").unwrap()).unwrap();
    assert_eq!(
        job["tags"], registration["tag_list"],
        "the runner's own tags"
    );
    assert_eq!(job["variables"]["ARM_USE_OIDC"], "true");
    assert_eq!(
        job["variables"]["ARM_SUBSCRIPTION_ID"], "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9",
        "the subscription of tf's first role"
    );
    let before: Vec<&str> = job["before_script"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(before[0].contains("ARM_OIDC_TOKEN_FILE_PATH=\"$AZURE_FEDERATED_TOKEN_FILE\""));
    assert!(before[1].contains(
        "az login --service-principal -u \"$AZURE_CLIENT_ID\" --tenant \"$AZURE_TENANT_ID\" --federated-token \"$(cat \"$AZURE_FEDERATED_TOKEN_FILE\")\""
    ));
    let text = t.get_str("ss/tf/ci-template.yml").unwrap();
    assert!(text.contains("#     extends: .runnergen-ss-tf\n"), "{text}");
    // Only runners whose identity exists get one; none is listed for kubectl.
    let first = crate::testing::render("fixtures/first-phase/runners.yaml");
    assert!(!first.paths().any(|p| p.ends_with("ci-template.yml")));
    assert!(
        !t.get_str("ss/kustomization.yaml")
            .unwrap()
            .contains("ci-template")
    );
}
