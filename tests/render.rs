//! What the renderers emit, checked on the seed fleet's files.

use runnergen::tree::Tree;
use serde_json::Value;

fn seed() -> Tree {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("fixtures/ascode/runners.yaml")).unwrap();
    runnergen::compile("fixtures/ascode/runners.yaml", &text).unwrap()
}

fn docs(t: &Tree, path: &str) -> Vec<Value> {
    t.get_str(path)
        .unwrap()
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect()
}

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
fn privileged_runners_get_docker_certs_in_memory() {
    let t = seed();
    let cfg: toml::Table = t.get_str("ss/tf/config.toml").unwrap().parse().unwrap();
    let vol = &cfg["runners"][0]["kubernetes"]["volumes"]["empty_dir"][0];
    assert_eq!(vol["mount_path"].as_str(), Some("/certs/client"));
    assert_eq!(vol["medium"].as_str(), Some("Memory"));
    let ns = &docs(&t, "ss/tf/namespace.yaml")[0];
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
}

#[test]
fn every_file_has_the_header_lf_and_one_final_newline() {
    let t = seed();
    for (path, bytes) in t.iter() {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(!text.contains('\r'), "{path}");
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{path}");
        if path.ends_with(".yaml") || path.ends_with(".toml") {
            assert!(
                text.starts_with(
                    "# generated by runnergen from fixtures/ascode/runners.yaml; do not edit\n"
                ),
                "{path}"
            );
        }
        if path.ends_with(".bicep") {
            assert!(text.starts_with("// generated by runnergen from"), "{path}");
        }
    }
}

#[test]
fn kustomization_lists_every_kubernetes_file_and_nothing_else() {
    let t = seed();
    let k = &docs(&t, "ss/kustomization.yaml")[0];
    let listed: Vec<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for r in ["tf", "packer", "images"] {
        for f in [
            "namespace.yaml",
            "serviceaccounts.yaml",
            "rbac.yaml",
            "externalsecret.yaml",
            "helmrelease.yaml",
        ] {
            assert!(listed.contains(&format!("{r}/{f}").as_str()), "{r}/{f}");
        }
    }
    assert!(!listed.iter().any(|p| p.ends_with("values.yaml")));
    assert_eq!(listed.len(), 15);
}

#[test]
fn no_output_looks_like_a_secret() {
    let t = seed();
    for (path, bytes) in t.iter() {
        let text = std::str::from_utf8(bytes).unwrap();
        for line in text.lines() {
            assert!(
                runnergen::spec::secrets::looks_like_secret(line).is_none(),
                "{path}: {line}"
            );
        }
    }
}

#[test]
fn registration_matches_gitlabs_api_shape() {
    let t = seed();
    let reg: Value =
        serde_json::from_str(t.get_str("ss/packer/registration.json").unwrap()).unwrap();
    assert_eq!(reg["runner_type"], "project_type");
    assert_eq!(reg["project_path"], "ascodenl/infra/base-images/azure");
    assert_eq!(reg["access_level"], "not_protected");
    assert!(reg.get("group_path").is_none());
}
