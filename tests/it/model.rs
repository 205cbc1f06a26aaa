//! The resolved model: defaults reproduce the seed's names, and every derived value is what the
//! artifacts that share it expect.

use runnergen::model::{self, Fleet, Runner, Scope};
use runnergen::spec;

fn fleet(path: &str) -> Fleet {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap();
    let checked = spec::load(&text).unwrap();
    model::build(&checked, &runnergen::compile::no_files).unwrap()
}

fn runner<'a>(f: &'a Fleet, key: &str) -> &'a Runner {
    f.environments
        .iter()
        .flat_map(|e| &e.runners)
        .find(|r| r.key == key)
        .unwrap()
}

#[test]
fn default_names_reproduce_the_seed() {
    let f = fleet("fixtures/ascode/runners.yaml");
    let tf = runner(&f, "tf");
    assert_eq!(tf.names.identity, "weu-ss-msi-gitlab-tf");
    assert_eq!(
        tf.names.federated_credential,
        "ascode-shared-msi-gitlab-tf-cred"
    );
    assert_eq!(tf.names.helm_release, "ascode-ss-tf");
    assert_eq!(tf.names.runner_name, "ss-k8-tf");
    assert_eq!(tf.names.namespace, "gitlab-tf");
    assert_eq!(tf.names.manager_service_account, "gitlab-runner-tf");
    assert_eq!(tf.names.job_service_account, "gitlab-runner-tf-jobs");
}

#[test]
fn tags_follow_the_seed_region_then_name_then_own_then_tags() {
    let f = fleet("fixtures/ascode/runners.yaml");
    assert_eq!(
        runner(&f, "tf").tags,
        ["weu", "tf", "ss-tf", "azure", "platform", "ss"]
    );
    // `ss` is already present: no duplicates.
    assert_eq!(
        runner(&f, "packer").tags,
        ["weu", "packer", "ss-packer", "infra-packer-azure", "ss"]
    );
}

#[test]
fn description_is_the_seeds() {
    let f = fleet("fixtures/ascode/runners.yaml");
    assert_eq!(
        runner(&f, "tf").names.description,
        "gitlab-runner-tf-weu-aks"
    );
}

#[test]
fn federated_subject_names_the_job_service_account_in_the_job_namespace() {
    let f = fleet("fixtures/ascode/runners.yaml");
    let tf = runner(&f, "tf");
    assert_eq!(tf.names.namespace, "gitlab-tf");
    assert_eq!(tf.names.job_namespace, "gitlab-tf-jobs");
    assert_eq!(
        tf.names.federated_subject,
        "system:serviceaccount:gitlab-tf-jobs:gitlab-runner-tf-jobs"
    );
    assert_eq!(tf.oidc_issuer_url, f.environments[0].oidc_issuer_url);
}

#[test]
fn shared_service_account_is_one_account() {
    let f = fleet("fixtures/shared-sa/runners.yaml");
    let tf = runner(&f, "tf");
    assert!(tf.shared_service_account);
    assert_eq!(
        tf.names.job_service_account,
        tf.names.manager_service_account
    );
    assert_eq!(tf.names.job_namespace, tf.names.namespace);
    assert_eq!(
        tf.names.federated_subject,
        "system:serviceaccount:gitlab-tf:gitlab-runner-tf"
    );
}

#[test]
fn star_scope_expands_to_every_subscription() {
    let f = fleet("fixtures/ascode/runners.yaml");
    let tf = runner(&f, "tf");
    let subs: Vec<&str> = tf
        .roles()
        .iter()
        .map(|r| r.scope.subscription_id())
        .collect();
    assert_eq!(subs.len(), f.environments[0].subscriptions.len());
    assert!(
        tf.roles()
            .iter()
            .all(|r| r.role_name.as_deref() == Some("Owner")
                && matches!(r.scope, Scope::Subscription { .. }))
    );
}

#[test]
fn the_cache_roles_go_to_the_managers_identity_not_the_jobs() {
    let f = fleet("fixtures/cache/runners.yaml");
    let node = runner(&f, "node");
    let cache = node.cache.as_ref().unwrap();
    assert_eq!(cache.account_name, "stweusscache");
    assert!(
        node.roles()
            .iter()
            .all(|r| r.scope.id() != cache.account_id)
    );
    let manager = node.cache_identity.as_ref().unwrap();
    assert_eq!(
        manager.client_id.as_deref(),
        Some("4b3a2918-0f7e-4d6c-9b5a-483726150f4e")
    );
    let roles: Vec<_> = manager
        .roles
        .iter()
        .map(|r| (r.role_name.as_deref().unwrap(), r.scope.id()))
        .collect();
    assert_eq!(
        roles,
        [("Storage Blob Data Contributor", cache.account_id.clone()),]
    );
    assert_eq!(node.names.cache_identity, "weu-ss-msi-gitlab-node-cache");
    assert!(node.ready());
}

/// Until the cache identity's client ID is known, the runner waits (phase 1), whatever its
/// own client ID.
#[test]
fn a_runner_waits_for_its_cache_identity() {
    let text = std::fs::read_to_string(crate::common::root().join("fixtures/cache/runners.yaml"))
        .unwrap()
        .replace(
            "      managerClientId: 4b3a2918-0f7e-4d6c-9b5a-483726150f4e\n",
            "",
        );
    let tree = runnergen::compile("fleet.yaml", &text).unwrap();
    assert!(tree.get("ss/node/registration.json").is_some());
    assert!(tree.get("ss/node/serviceaccounts.yaml").is_none());
    assert!(
        tree.get_str("ss/azure/main.json")
            .unwrap()
            .contains("\"nodeCacheClientId\"")
    );
}

#[test]
fn defaults_are_the_seeds_numbers() {
    let f = fleet("fixtures/ascode/runners.yaml");
    let tf = runner(&f, "tf");
    assert_eq!(
        (
            tf.concurrent,
            tf.check_interval,
            tf.termination_grace_period_seconds
        ),
        (10, 30, 3600)
    );
    assert_eq!(f.chart.version, "0.86.0");
    assert_eq!(f.chart.repository, "https://charts.gitlab.io");
}

#[test]
fn repository_label_is_a_valid_label_value() {
    let f = fleet("fixtures/ascode/runners.yaml");
    assert_eq!(
        runner(&f, "packer").repository_label,
        "ascodenl.infra.base-images.azure"
    );
}

#[test]
fn pending_runners_are_not_ready() {
    let f = fleet("fixtures/first-phase/runners.yaml");
    assert_eq!(f.environments[0].ready_runners().count(), 0);
    let f = fleet("fixtures/ascode/runners.yaml");
    assert_eq!(f.environments[0].ready_runners().count(), 3);
}

#[test]
fn deployment_outputs_are_per_runner() {
    let f = fleet("fixtures/fleet-50/runners.yaml");
    let r = runner(&f, "team07-prd");
    assert_eq!(r.names.symbol, "team07_prd");
    assert_eq!(r.names.client_id_output, "team07_prdClientId");
    assert_eq!(
        f.environments[1].shards()[0].deployments.main,
        "runnergen-prd"
    );
}

#[test]
fn naming_overrides_apply_everywhere() {
    let f = fleet("fixtures/existing-secret/runners.yaml");
    assert_eq!(runner(&f, "build").names.token_secret, "runner-token-build");
    assert_eq!(f.token, model::TokenSource::ExistingSecret);
}

#[test]
fn colliding_derived_names_are_reported_at_the_runner() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ascode/runners.yaml"),
    )
    .unwrap()
    .replace(
        "chart:\n",
        "naming:\n  runnerName: \"{env}-shared-runner\"\nchart:\n",
    );
    let checked = spec::load(&text).unwrap();
    let diags = model::build(&checked, &runnergen::compile::no_files).unwrap_err();
    assert!(diags.iter().all(|d| d.code.as_str() == "E021"), "{diags:?}");
    assert_eq!(
        diags.len(),
        2,
        "packer and tf collide with images: {diags:?}"
    );
    assert!(
        diags[0]
            .message
            .contains("GitLab runner name `ss-shared-runner`")
    );
}

/// The Key Vault store's identity is an identity like a runner's: its client ID and its name
/// are its own.
#[test]
fn the_key_vault_stores_identity_is_its_own() {
    let seed = std::fs::read_to_string(crate::common::root().join("fixtures/ascode/runners.yaml"))
        .unwrap();
    let same_id = seed.replace(
        "storeClientId: 2e1d0c9b-8a7f-4e6d-9c5b-4a3928171605",
        "storeClientId: 0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e",
    );
    let diags = runnergen::compile::resolve(&same_id, &runnergen::compile::no_files)
        .err()
        .unwrap();
    assert!(
        diags.iter().any(|d| d.code.as_str() == "E041"
            && d.message
                == "environment `ss`: the Key Vault store's client ID `0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e` is also runner `tf`'s"),
        "{diags:?}"
    );
    let same_name = seed
        .replacen(
            "\nchart:",
            "\nnaming:\n  identity: \"{region}-{env}-msi-runnergen-{runner}\"\nchart:",
            1,
        )
        .replacen("\n  images:\n", "\n  key-vault:\n", 1);
    let diags = runnergen::compile::resolve(&same_name, &runnergen::compile::no_files)
        .err()
        .unwrap();
    assert!(
        diags.iter().any(|d| d.code.as_str() == "E021"
            && d.message
                == "runner `key-vault` derives the managed identity `weu-ss-msi-runnergen-key-vault` of the Key Vault store"),
        "{diags:?}"
    );
}

/// The cache identity's name is `<identity>-cache` and must be an identity name too (E020),
/// even where the runner's own identity name fits.
#[test]
fn a_cache_identity_name_past_azures_limit_is_an_error() {
    let long = format!("{{runner}}-{}", "x".repeat(118));
    let text = std::fs::read_to_string(crate::common::root().join("fixtures/cache/runners.yaml"))
        .unwrap()
        .replacen(
            "\nenvironments:",
            &format!("\nnaming:\n  identity: \"{long}\"\nenvironments:"),
            1,
        );
    let diags = runnergen::compile::resolve(&text, &runnergen::compile::no_files)
        .err()
        .unwrap();
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E020"], "{diags:?}");
    assert_eq!(
        diags[0].message,
        format!(
            "runner `node`: cache identity name `node-{}-cache` is invalid: it must be 3–128 of [A-Za-z0-9_-], starting alphanumeric",
            "x".repeat(118)
        )
    );
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("shorten the identity naming template: the cache identity adds `-cache`")
    );
}

/// One runner written for several environments of one region gets a tag of its own in each, and
/// its ci-template.yml asks for it: a dev job written from the template cannot run on prd's.
#[test]
fn every_runner_has_its_own_tag_and_its_template_asks_for_it() {
    let text =
        std::fs::read_to_string(crate::common::root().join("fixtures/environments/runners.yaml"))
            .unwrap();
    let tree = runnergen::compile("runners.yaml", &text).unwrap();
    let mut own = std::collections::BTreeSet::new();
    for path in tree.paths().filter(|p| p.ends_with("/ci-template.yml")) {
        let (env, rest) = path.split_once('/').unwrap();
        let runner = rest.split('/').next().unwrap();
        let tag = format!("{env}-{runner}");
        assert!(
            tree.get_str(path).unwrap().contains(&format!("- {tag}\n")),
            "{path} asks for {tag}"
        );
        assert!(own.insert(tag), "{path}");
    }
    assert!(own.len() >= 2, "{own:?}");
}

#[test]
fn a_runners_own_naming_overrides_the_fleets_for_it_alone() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shared-sa/runners.yaml");
    let text = std::fs::read_to_string(path).unwrap().replace(
        "    serviceAccounts: shared\n",
        "    serviceAccounts: shared\n    naming: {namespace: gitlab-3f9a1c, managerServiceAccount: \"gitlab-runner-{env}-7b2e\"}\n",
    );
    let f = model::build(&spec::load(&text).unwrap(), &runnergen::compile::no_files).unwrap();
    let tf = runner(&f, "tf");
    assert_eq!(tf.names.namespace, "gitlab-3f9a1c");
    assert_eq!(tf.names.manager_service_account, "gitlab-runner-ss-7b2e");
    assert_eq!(tf.names.job_service_account, "gitlab-runner-ss-7b2e");
    assert_eq!(
        tf.names.federated_subject,
        "system:serviceaccount:gitlab-3f9a1c:gitlab-runner-ss-7b2e"
    );
    assert_eq!(
        tf.names.identity, "weu-ss-msi-gitlab-tf",
        "the rest keep the fleet's"
    );
}

#[test]
fn a_runners_own_naming_is_checked_where_it_is_written() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shared-sa/runners.yaml");
    let text = std::fs::read_to_string(path).unwrap().replace(
        "    serviceAccounts: shared\n",
        "    serviceAccounts: shared\n    naming: {namespace: \"gitlab-{nope}\", tokenSecret: \"Not_A_Label\"}\n",
    );
    let Err(diags) = spec::load(&text) else {
        panic!("refused")
    };
    let at: Vec<(String, String)> = diags
        .iter()
        .map(|d| (d.path.clone(), d.message.clone()))
        .collect();
    assert_eq!(
        at,
        [(
            "/runners/tf/naming/namespace".to_owned(),
            "unknown placeholder `{nope}`".to_owned()
        )],
        "a literal needs no `{{runner}}`; its validity is the model's"
    );
    let literal = text.replace("namespace: \"gitlab-{nope}\", ", "");
    let checked = spec::load(&literal).unwrap();
    let Err(problems) = model::build(&checked, &runnergen::compile::no_files) else {
        panic!("an invalid literal name is refused")
    };
    let hints: Vec<String> = problems.iter().filter_map(|p| p.hint.clone()).collect();
    assert!(
        hints
            .iter()
            .any(|h| h.contains("it comes from the runner's naming.tokenSecret `Not_A_Label`")),
        "{hints:?}"
    );
}
