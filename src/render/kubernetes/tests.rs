//! Namespace, service accounts, RBAC and the token ExternalSecret, on the seed fleet.

use crate::testing::{docs, seed};
use serde_json::Value;

#[test]
fn manager_role_is_gitlabs_list_not_a_wildcard() {
    let t = seed();
    let rbac = docs(&t, "ss/tf/rbac.yaml");
    let role = rbac.iter().find(|d| d["kind"] == "Role").unwrap();
    let text = serde_json::to_string(role).unwrap();
    assert!(!text.contains("\"*\""), "{text}");
    let resources: Vec<&str> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    for r in [
        "pods",
        "pods/exec",
        "pods/attach",
        "pods/log",
        "secrets",
        "services",
        "serviceaccounts",
        "events",
    ] {
        assert!(resources.contains(&r), "{r}");
    }
}

#[test]
fn cluster_admin_only_where_asked() {
    let t = seed();
    let crb = |r: &str| {
        docs(&t, &format!("ss/{r}/rbac.yaml"))
            .iter()
            .any(|d| d["kind"] == "ClusterRoleBinding")
    };
    assert!(crb("tf"));
    assert!(!crb("packer"));
    assert!(!crb("images"));
    let tf = docs(&t, "ss/tf/rbac.yaml");
    let binding = tf
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .unwrap();
    assert_eq!(
        binding["subjects"][0]["name"], "gitlab-runner-tf-jobs",
        "bound to the job pods' account, not the manager"
    );
}

#[test]
fn only_the_job_account_carries_the_identity() {
    let t = seed();
    let sas = docs(&t, "ss/packer/serviceaccounts.yaml");
    let manager = sas
        .iter()
        .find(|d| d["metadata"]["name"] == "gitlab-runner-packer")
        .unwrap();
    let job = sas
        .iter()
        .find(|d| d["metadata"]["name"] == "gitlab-runner-packer-jobs")
        .unwrap();
    assert!(manager["metadata"].get("annotations").is_none());
    assert_eq!(
        job["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
    );
    assert_eq!(
        job["metadata"]["annotations"]["azure.workload.identity/tenant-id"],
        "3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b"
    );
    assert_eq!(
        job["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    assert_eq!(
        job["automountServiceAccountToken"], false,
        "no Kubernetes access: no API token"
    );
}

#[test]
fn external_secret_fills_both_chart_keys() {
    let t = seed();
    let es = &docs(&t, "ss/tf/externalsecret.yaml")[0];
    assert_eq!(es["apiVersion"], "external-secrets.io/v1");
    assert_eq!(
        es["spec"]["target"]["template"]["data"]["runner-registration-token"],
        ""
    );
    assert!(
        es["spec"]["target"]["template"]["data"]["runner-token"]
            .as_str()
            .unwrap()
            .contains(".runnerToken")
    );
    assert_eq!(
        es["spec"]["data"][0]["remoteRef"]["key"],
        "gitlab-runner-ss-tf-token"
    );
}

#[test]
fn privileged_runners_get_a_privileged_namespace() {
    let t = crate::testing::seed_images_unprivileged();
    let level = |r: &str| {
        docs(&t, &format!("ss/{r}/namespace.yaml"))[0]["metadata"]["labels"]
            ["pod-security.kubernetes.io/enforce"]
            .clone()
    };
    assert_eq!(level("tf"), "privileged");
    assert_eq!(level("images"), "baseline");
}
