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
        job["variables"]["ARM_SUBSCRIPTION_ID"], "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "the environment's identities subscription (tf's identity names none)"
    );
    let before: Vec<&str> = job["before_script"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(before[0].contains("ARM_OIDC_TOKEN_FILE_PATH=\"$AZURE_FEDERATED_TOKEN_FILE\""));
    assert!(before[1].contains(
        "az login --service-principal -u \"$AZURE_CLIENT_ID\" --tenant \"$AZURE_TENANT_ID\" --federated-token \"$(cat \"$AZURE_FEDERATED_TOKEN_FILE\")\" --allow-no-subscriptions --output none"
    ), "an identity with no role on any subscription (`identity: {{}}`, Graph only) signs in too: {}", before[1]);
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

/// `ARM_SUBSCRIPTION_ID` is the identity's `subscription` when it names one, and never moves
/// with the roles: a role added first on another subscription leaves it.
#[test]
fn the_jobs_subscription_is_declared_and_stays_put_as_roles_change() {
    let arm = |text: &str| -> String {
        let t = crate::compile::compile("runners.yaml", text).unwrap();
        let doc = &docs(&t, "ss/tf/ci-template.yml")[0];
        doc[".runnergen-ss-tf"]["variables"]["ARM_SUBSCRIPTION_ID"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let seed = crate::testing::read("fixtures/ascode/runners.yaml");
    let roles = "      roles:\n        - role: Owner\n          scope: {subscription: \"*\"}\n";
    assert_eq!(seed.matches(roles).count(), 1);
    let first_elsewhere = seed.replacen(
        roles,
        &format!("      roles:\n        - role: Reader\n          scope: {{subscription: connectivity}}\n{}", &roles["      roles:\n".len()..]),
        1,
    );
    assert_eq!(arm(&seed), arm(&first_elsewhere));
    let declared = seed.replacen(
        roles,
        &format!("      subscription: management\n{roles}"),
        1,
    );
    assert_eq!(arm(&declared), "7c6d5e4f-3a2b-4c1d-9e8f-0a1b2c3d4e5f");
    let unknown = seed.replacen(roles, &format!("      subscription: mgmt\n{roles}"), 1);
    let e = crate::compile::compile("runners.yaml", &unknown).unwrap_err();
    assert!(
        e.contains("error[E010]: unknown subscription alias `mgmt`"),
        "{e}"
    );
}
