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
fn privileged_runners_get_a_privileged_job_namespace_only() {
    let t = crate::testing::seed_images_unprivileged();
    let levels = |r: &str| -> Vec<(String, String)> {
        docs(&t, &format!("ss/{r}/namespace.yaml"))
            .iter()
            .map(|d| {
                let m = &d["metadata"];
                let level = &m["labels"]["pod-security.kubernetes.io/enforce"];
                (
                    m["name"].as_str().unwrap().into(),
                    level.as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        levels("tf"),
        [
            pair("gitlab-tf", "baseline"),
            pair("gitlab-tf-jobs", "privileged")
        ]
    );
    assert_eq!(
        levels("images"),
        [
            pair("gitlab-images", "baseline"),
            pair("gitlab-images-jobs", "baseline")
        ]
    );
}

/// Jobs run in their own namespace: the job account and the manager's executor permissions are
/// there, the manager's account and the token stay in the manager's namespace.
#[test]
fn jobs_run_in_their_own_namespace() {
    let t = seed();
    let ns = |d: &Value| d["metadata"]["namespace"].as_str().unwrap().to_owned();
    let sas = docs(&t, "ss/packer/serviceaccounts.yaml");
    assert_eq!(
        sas.iter().map(ns).collect::<Vec<_>>(),
        ["gitlab-packer", "gitlab-packer-jobs"]
    );
    let rbac = docs(&t, "ss/packer/rbac.yaml");
    let binding = rbac.iter().find(|d| d["kind"] == "RoleBinding").unwrap();
    assert_eq!(ns(binding), "gitlab-packer-jobs");
    assert_eq!(binding["subjects"][0]["namespace"], "gitlab-packer");
    assert_eq!(
        ns(&docs(&t, "ss/packer/externalsecret.yaml")[0]),
        "gitlab-packer"
    );
    let config = t.get_str("ss/packer/config.toml").unwrap();
    assert!(
        config.contains("namespace = \"gitlab-packer-jobs\""),
        "{config}"
    );
}

/// `kubernetesAccess: namespace` is a Role of runnergen's own in the job namespace: no Secrets,
/// nothing of External Secrets Operator, no `edit` ClusterRole (which ESO aggregates into).
#[test]
fn namespace_access_is_a_narrow_role_in_the_job_namespace() {
    let t = crate::testing::render("fixtures/argocd/runners.yaml");
    let rbac = docs(&t, "ss/deploy/rbac.yaml");
    let role = rbac
        .iter()
        .find(|d| {
            d["kind"] == "Role" && d["metadata"]["name"] == "gitlab-runner-deploy-jobs-access"
        })
        .unwrap();
    assert_eq!(role["metadata"]["namespace"], "gitlab-deploy-jobs");
    let text = serde_json::to_string(&role["rules"]).unwrap();
    for absent in [
        "secrets",
        "external-secrets.io",
        "\"*\"",
        "rbac.authorization.k8s.io",
    ] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    let binding = rbac
        .iter()
        .find(|d| {
            d["kind"] == "RoleBinding" && d["roleRef"]["name"] == "gitlab-runner-deploy-jobs-access"
        })
        .unwrap();
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["subjects"][0]["name"], "gitlab-runner-deploy-jobs");
    assert_eq!(binding["subjects"][0]["namespace"], "gitlab-deploy-jobs");
    assert!(!rbac.iter().any(|d| d["roleRef"]["name"] == "edit"));
}

/// The Key Vault store runnergen renders: a ClusterSecretStore open to the runners' manager
/// namespaces only (never a job namespace), signing in as its own identity through an account
/// in ESO's namespace, with every CRD default written.
#[test]
fn the_cluster_secret_store_is_fenced_to_the_managers_namespaces() {
    let t = seed();
    let docs = docs(&t, "ss/secret-store.yaml");
    let sa = docs.iter().find(|d| d["kind"] == "ServiceAccount").unwrap();
    assert_eq!(sa["metadata"]["namespace"], "external-secrets");
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "2e1d0c9b-8a7f-4e6d-9c5b-4a3928171605"
    );
    let store = docs
        .iter()
        .find(|d| d["kind"] == "ClusterSecretStore")
        .unwrap();
    assert_eq!(store["metadata"]["name"], "azure-key-vault");
    assert_eq!(
        store["spec"]["conditions"],
        serde_json::json!([{"namespaces": ["gitlab-images", "gitlab-packer", "gitlab-tf"]}])
    );
    let kv = &store["spec"]["provider"]["azurekv"];
    assert_eq!(kv["authType"], "WorkloadIdentity");
    assert_eq!(kv["vaultUrl"], "https://kv-weu-ss-gitlab.vault.azure.net");
    assert_eq!(
        kv["serviceAccountRef"],
        serde_json::json!({"name": "runnergen-key-vault", "namespace": "external-secrets"})
    );
    assert!(
        kv.get("tenantId").is_none(),
        "ESO refuses a tenant ID in both places"
    );
    // The store's identity reads the vault, and nothing else.
    let main: Value = serde_json::from_str(t.get_str("ss/azure/main.json").unwrap()).unwrap();
    let summary = main.to_string();
    assert!(summary.contains("weu-ss-msi-runnergen-key-vault"));
    assert!(summary.contains("system:serviceaccount:external-secrets:runnergen-key-vault"));
    let deployment = store_deployment(&main);
    assert_eq!(
        deployment["properties"]["parameters"]["roleDefinitionIds"]["value"],
        serde_json::json!(["4633458b-17de-408a-b874-0445c86b69e6"])
    );
    assert_eq!(deployment["resourceGroup"], "rg-weu-ss-gitlab");
    assert_eq!(
        deployment["properties"]["parameters"]["resourceName"]["value"],
        "kv-weu-ss-gitlab"
    );
}

/// `storeKind: SecretStore` renders the store it points at, in each ready runner's manager
/// namespace, each with an account of its own namespace and a credential for it.
#[test]
fn secret_stores_are_rendered_per_manager_namespace() {
    let t = crate::testing::render("fixtures/two-envs/runners.yaml");
    let docs = docs(&t, "dev/secret-store.yaml");
    let stores: Vec<(&str, &str)> = docs
        .iter()
        .filter(|d| d["kind"] == "SecretStore")
        .map(|d| {
            (
                d["metadata"]["namespace"].as_str().unwrap(),
                d["spec"]["provider"]["azurekv"]["serviceAccountRef"]["name"]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stores,
        [
            ("gitlab-deploy-dev", "runnergen-key-vault"),
            ("gitlab-images-dev", "runnergen-key-vault"),
            // No identity, so no wait for a client ID: ready at once.
            ("gitlab-lint-dev", "runnergen-key-vault"),
        ]
    );
    let main = t.get_str("dev/azure/main.json").unwrap();
    for ns in ["gitlab-deploy-dev", "gitlab-images-dev", "gitlab-lint-dev"] {
        assert!(main.contains(&format!(
            "\"subject\": \"system:serviceaccount:{ns}:runnergen-key-vault\""
        )));
    }
}

/// `store: existing` keeps the platform's store: nothing rendered for it, in Kubernetes or
/// Azure; a vault elsewhere is where the store identity's role goes.
#[test]
fn an_existing_store_is_not_rendered_and_the_vault_can_live_elsewhere() {
    let text = crate::testing::read("fixtures/ascode/runners.yaml");
    let existing = text.replacen(
        "\nchart:\n",
        "\ntokenSource:\n  externalSecret:\n    store: existing\nchart:\n",
        1,
    );
    assert_ne!(existing, text);
    let t = crate::compile("fleet.yaml", &existing).unwrap();
    assert!(t.get("ss/secret-store.yaml").is_none());
    assert!(
        !t.get_str("ss/azure/main.json")
            .unwrap()
            .contains("runnergen-key-vault")
    );

    let elsewhere = text.replacen(
        "      name: kv-weu-ss-gitlab\n",
        "      name: kv-weu-ss-gitlab\n      subscription: platform\n      resourceGroup: rg-weu-ss-kv\n",
        1,
    );
    let t = crate::compile("fleet.yaml", &elsewhere).unwrap();
    let main: Value = serde_json::from_str(t.get_str("ss/azure/main.json").unwrap()).unwrap();
    let d = store_deployment(&main);
    assert_eq!(d["resourceGroup"], "rg-weu-ss-kv");
}

/// SecretStores need one credential each on the store's identity; Azure allows 20 (E019).
#[test]
fn more_secret_stores_than_azure_allows_credentials_is_an_error() {
    let text = crate::testing::read("fixtures/fleet-50/runners.yaml").replacen(
        "gitlab:\n",
        "tokenSource:\n  externalSecret:\n    storeKind: SecretStore\ngitlab:\n",
        1,
    );
    let diags = crate::compile::resolve(&text, &crate::compile::no_files)
        .err()
        .expect("refused");
    assert!(
        diags.iter().any(|d| d.code == crate::spec::Code::E019
            && d.message
                .contains("25 SecretStores would need 25 federated credentials")),
        "{diags:?}"
    );
}

/// The nested deployment of the Key Vault store's role assignment in a main.json.
fn store_deployment(main: &Value) -> &Value {
    main["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["name"]
                .as_str()
                .unwrap()
                .starts_with("ra-_keyVaultStore-")
        })
        .unwrap()
}

/// The job namespace's Pod Security level follows the effective job pod: a capability beyond
/// baseline's list or a host path volume from `kubernetes.extra` needs `privileged` (else every
/// job pod is refused at admission); a baseline capability keeps `baseline`. Such a spec
/// renders (no key that validates fails the render), and integers stay exact.
#[test]
fn the_job_namespace_level_follows_what_kubernetes_extra_gives_the_pods() {
    let render = |extra: &str| -> crate::tree::Tree {
        let text = crate::testing::read("fixtures/shared-cluster/runners.yaml").replacen(
            "    purpose: Applies Terraform\n",
            &format!("    purpose: Applies Terraform\n    kubernetes:\n      extra: {{{extra}}}\n"),
            1,
        );
        crate::compile::compile("runners.yaml", &text).unwrap()
    };
    let level = |t: &crate::tree::Tree| -> Vec<String> {
        crate::testing::docs(t, "dev/terraform/namespace.yaml")
            .iter()
            .map(|d| {
                d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        level(&render("cap_add: [CHOWN, CAP_KILL]")),
        ["baseline", "baseline"]
    );
    assert_eq!(
        level(&render("cap_add: [NET_ADMIN]")),
        ["baseline", "privileged"]
    );
    let host = render(
        "volumes: {host_path: [{name: sock, mount_path: /run/x.sock, host_path: /run/x.sock}]}, poll_timeout: 9223372036854775807",
    );
    assert_eq!(level(&host), ["baseline", "privileged"]);
    let config = host.get_str("dev/terraform/config.toml").unwrap();
    assert!(
        config.contains("    poll_timeout = 9223372036854775807\n"),
        "{config}"
    );
    assert!(
        config.contains("host_path = [{ host_path = \"/run/x.sock\""),
        "{config}"
    );
}
