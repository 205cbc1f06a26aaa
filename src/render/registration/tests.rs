//! registration.json: the shape of GitLab's `POST /user/runners`.

use crate::testing::{render, seed};
use serde_json::Value;

fn registration(t: &crate::tree::Tree, path: &str) -> Value {
    serde_json::from_str(t.get_str(path).unwrap()).unwrap()
}

#[test]
fn registration_matches_gitlabs_api_shape() {
    let reg = registration(&seed(), "ss/packer/registration.json");
    assert_eq!(reg["runner_type"], "project_type");
    assert_eq!(reg["project_path"], "ascodenl/infra/base-images/azure");
    assert_eq!(reg["access_level"], "not_protected");
    assert!(reg.get("group_path").is_none());
    assert_eq!(
        reg["token_destination"]["secret"],
        "gitlab-runner-ss-packer-token"
    );
}

#[test]
fn existing_secrets_are_the_destination_without_key_vault() {
    let t = render("fixtures/existing-secret/runners.yaml");
    let path = t
        .paths()
        .find(|p| p.ends_with("/registration.json"))
        .unwrap()
        .to_owned();
    let reg = registration(&t, &path);
    let dest = &reg["token_destination"];
    assert!(dest.get("key_vault").is_none(), "{dest}");
    assert!(dest["kubernetes_secret"]["name"].is_string(), "{dest}");
}

/// The note names the fleet (`fleet`, else the organization) and the manager's Deployment is
/// named as the chart names it, with whether Reloader restarts it.
#[test]
fn the_note_names_the_fleet_and_the_manager_is_named_for_its_restart() {
    let reg = registration(&seed(), "ss/tf/registration.json");
    assert_eq!(
        reg["maintenance_note"],
        "managed by runnergen: ascode/ss/tf"
    );
    assert_eq!(
        reg["manager"],
        serde_json::json!({"namespace": "gitlab-tf", "deployment": "ascode-ss-tf-gitlab-runner", "restarts_on_rotation": false})
    );
    let spec = crate::testing::read("fixtures/ascode/runners.yaml")
        .replacen(
            "\nenvironments:",
            "\nfleet: platform-a\ntokenSource:\n  externalSecret: {}\n  restartOnRotation: reloader\nenvironments:",
            1,
        )
        .replacen(
            "  version: 0.86.0\n",
            "  version: 0.86.0\n  values:\n    fullnameOverride: mgr\n",
            1,
        );
    let t = crate::compile("fleet.yaml", &spec).unwrap();
    let reg = registration(&t, "ss/tf/registration.json");
    assert_eq!(
        reg["maintenance_note"],
        "managed by runnergen: platform-a/ss/tf"
    );
    assert_eq!(reg["manager"]["deployment"], "mgr");
    assert_eq!(reg["manager"]["restarts_on_rotation"], true);
}
