//! Each lint rule, on the seed fleet and small variations of it: what fires, where, and what
//! an acknowledgement does.

use super::*;
use crate::testing::read;

fn report(text: &str) -> Report {
    let r = crate::compile::resolve(text, &crate::compile::no_files)
        .unwrap_or_else(|d| panic!("{d:?}"));
    r.fleet.lint
}

fn seed() -> String {
    read("fixtures/ascode/runners.yaml")
}

/// `(runner, rule)` of every finding, in order.
fn found(text: &str) -> Vec<(String, &'static str)> {
    report(text)
        .findings
        .iter()
        .map(|f| (f.runner.clone(), f.rule.as_str()))
        .collect()
}

fn has(text: &str, runner: &str, rule: &str) -> bool {
    found(text).iter().any(|(r, l)| r == runner && *l == rule)
}

/// Replaces the one occurrence of `from` in the seed spec.
fn seed_with(from: &str, to: &str) -> String {
    let s = seed();
    assert_eq!(s.matches(from).count(), 1, "{from}");
    s.replacen(from, to, 1)
}

#[test]
fn the_seed_fleet_names_owner_cluster_admin_and_privileged_pods() {
    let mut got = found(&seed());
    got.sort();
    let want: Vec<(String, &str)> = [
        ("images", "L003"),
        ("images", "L005"),
        ("packer", "L003"),
        ("packer", "L005"),
        ("packer", "L009"),
        ("tf", "L001"),
        ("tf", "L002"),
        ("tf", "L003"),
        ("tf", "L005"),
        ("tf", "L006"),
        ("tf", "L009"),
    ]
    .into_iter()
    .map(|(r, l)| (r.to_owned(), l))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn findings_are_located_at_the_field_or_the_runners_key() {
    let text = seed();
    let rep = report(&text);
    let at = |runner: &str, rule: &str| {
        let f = rep
            .findings
            .iter()
            .find(|f| f.runner == runner && f.rule.as_str() == rule)
            .unwrap();
        let d = f.diagnostic();
        let line = text.lines().nth(d.pos.line as usize - 1).unwrap();
        line[d.pos.col as usize - 1..].to_owned()
    };
    assert_eq!(at("tf", "L001"), "{subscription: \"*\"}");
    assert_eq!(at("tf", "L002"), "cluster-admin");
    assert_eq!(at("tf", "L003"), "true");
    assert_eq!(at("tf", "L006"), "Directory.Read.All]");
    // Not written: the runner's key.
    assert_eq!(at("tf", "L005"), "tf:");
}

#[test]
fn l001_is_subscription_scope_only() {
    let rg = seed_with(
        "scope: {subscription: \"*\"}",
        "scope: {subscription: platform, resourceGroup: rg-x}",
    );
    assert!(!has(&rg, "tf", "L001"));
    assert!(!has(&rg, "tf", "L007"));
    for role in [
        "User Access Administrator",
        "Role Based Access Control Administrator",
    ] {
        let text = seed_with("- role: Owner", &format!("- role: {role}"));
        assert!(has(&text, "tf", "L001"), "{role}");
    }
    // By GUID, the same role.
    let guid = seed_with(
        "- role: Owner",
        "- role: 8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    );
    assert!(has(&guid, "tf", "L001"));
}

#[test]
fn l007_is_any_other_role_on_a_whole_subscription() {
    let text = seed_with("- role: Owner", "- role: Contributor");
    assert!(has(&text, "tf", "L007"));
    assert!(!has(&text, "tf", "L001"));
}

#[test]
fn l002_l003_l010_follow_the_runners_settings() {
    let ns = seed_with(
        "kubernetesAccess: cluster-admin",
        "kubernetesAccess: namespace",
    );
    assert!(!has(&ns, "tf", "L002"));
    let pool = seed_with(
        "    privileged: true\n    purpose: Builds",
        "    privileged: true\n    nodeSelector: {pool: dind}\n    tolerations: [{key: dind, value: \"true\", effect: NoSchedule}]\n    purpose: Builds",
    );
    assert!(!has(&pool, "images", "L003"));
    assert!(has(&pool, "tf", "L003"));
    let selector_only = seed_with(
        "    privileged: true\n    purpose: Builds",
        "    privileged: true\n    nodeSelector: {pool: dind}\n    purpose: Builds",
    );
    assert!(
        has(&selector_only, "images", "L003"),
        "a selector without a toleration is a shared pool"
    );
    let shared = seed_with(
        "    type: project\n",
        "    type: project\n    serviceAccounts: shared\n",
    );
    assert!(has(&shared, "packer", "L010"));
    assert!(!has(&seed(), "packer", "L010"));
}

#[test]
fn l004_and_l005_need_an_identity_that_writes() {
    let untagged = seed_with(
        "    type: project\n",
        "    type: project\n    runUntagged: true\n",
    );
    assert!(has(&untagged, "packer", "L004"));
    let protected = seed_with(
        "    type: project\n",
        "    type: project\n    accessLevel: ref_protected\n",
    );
    assert!(!has(&protected, "packer", "L005"));
    let reader = seed_with("        - role: Contributor\n", "        - role: Reader\n");
    assert!(!has(&reader, "packer", "L005"));
    let reader_untagged = reader.replacen(
        "    type: project\n",
        "    type: project\n    runUntagged: true\n",
        1,
    );
    assert!(!has(&reader_untagged, "packer", "L004"));
}

#[test]
fn l006_is_directory_read_all_only() {
    let narrow = seed_with(", Directory.Read.All]", "]");
    assert!(!has(&narrow, "tf", "L006"));
}

#[test]
fn l008_is_a_resource_in_another_environments_subscription() {
    let text = read("fixtures/two-envs/runners.yaml");
    let prd_sub = "6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f";
    assert!(!found(&text).iter().any(|(_, l)| *l == "L008"));
    let cross = text.replacen(
        "        - role: Owner\n          scope: {subscription: apps}\n",
        &format!("        - role: Owner\n          scope: {{subscription: apps}}\n        - role: AcrPush\n          scope: {{resource: /subscriptions/{prd_sub}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acrprd}}\n"),
        1,
    );
    let f = report(&cross).findings;
    let l008: Vec<&Finding> = f.iter().filter(|f| f.rule.as_str() == "L008").collect();
    assert_eq!(l008.len(), 1);
    assert_eq!(l008[0].runner, "deploy-dev");
    assert!(
        l008[0].message.contains("environment `prd`"),
        "{}",
        l008[0].message
    );
    // The subscription both environments list is shared on purpose: no finding.
    let shared = text.replacen(
        "        - role: Owner\n          scope: {subscription: apps}\n",
        "        - role: Owner\n          scope: {subscription: apps}\n        - role: AcrPush\n          scope: {resource: /subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr}\n",
        1,
    );
    assert!(!found(&shared).iter().any(|(_, l)| *l == "L008"));
}

#[test]
fn l009_needs_both_limits() {
    assert!(!has(&seed(), "images", "L009"));
    let cpu_only = seed_with("limits: {cpu: \"2\", memory: 4Gi}", "limits: {cpu: \"2\"}");
    let f = report(&cpu_only).findings;
    let l009 = f
        .iter()
        .find(|f| f.runner == "images" && f.rule.as_str() == "L009")
        .unwrap();
    assert!(
        l009.message.ends_with("no memory limit"),
        "{}",
        l009.message
    );
}

const ACK: &str = "    identity:\n      clientId: 0c1d2e3f";

fn acknowledged(entries: &str) -> String {
    seed_with(ACK, &format!("    acknowledge:\n{entries}{ACK}"))
}

#[test]
fn acknowledgements_mark_findings_and_stale_ones_are_noted() {
    let text = acknowledged(
        "      - {rule: L001, reason: the pipelines create role assignments (seed)}\n      - {rule: L010, reason: not shared}\n",
    );
    let rep = report(&text);
    let l001 = rep
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "L001")
        .unwrap();
    assert_eq!(
        l001.acknowledged.as_deref(),
        Some("the pipelines create role assignments (seed)")
    );
    assert_eq!(rep.open(), rep.findings.len() - 1);
    assert_eq!(rep.stale.len(), 1);
    assert_eq!(rep.stale[0].code.as_str(), "N002");
    assert_eq!(rep.stale[0].path, "/runners/tf/acknowledge/1/rule");
}

#[test]
fn an_unknown_rule_or_an_empty_reason_is_an_error() {
    let text = acknowledged(
        "      - {rule: L099, reason: why}\n      - {rule: L002, reason: \"  \"}\n      - {rule: L003, reason: a}\n      - {rule: L003, reason: b}\n",
    );
    let diags = crate::compile::resolve(&text, &crate::compile::no_files)
        .err()
        .unwrap();
    let got: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d.code.as_str(), d.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("E018", "/runners/tf/acknowledge/0/rule"),
            ("E018", "/runners/tf/acknowledge/1/reason"),
            ("E031", "/runners/tf/acknowledge/3/rule"),
        ]
    );
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("one of L001, L002, L003, L004, L005, L006, L007, L008, L009, L010")
    );
    // The schema refuses what is not a rule ID at all.
    let malformed = acknowledged("      - {rule: owner, reason: why}\n");
    let diags = crate::compile::resolve(&malformed, &crate::compile::no_files)
        .err()
        .unwrap();
    assert_eq!(diags[0].path, "/runners/tf/acknowledge/0/rule");
}

#[test]
fn every_rule_has_a_source_and_ids_are_in_order() {
    for (i, r) in RULES.iter().enumerate() {
        assert_eq!(r.id.as_str(), format!("L{:03}", i + 1));
        assert!(!r.source.is_empty() && !r.rationale.is_empty());
    }
}
