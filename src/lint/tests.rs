//! Each lint rule, on the seed fleet and small variations of it: what fires, where, and what
//! an acknowledgement does.

use super::*;
use crate::testing::read;

fn report(text: &str) -> Report {
    let r = crate::compile::resolve(text, &crate::compile::no_files)
        .unwrap_or_else(|d| panic!("{d:?}"));
    r.fleet.lint
}

/// The seed fleet without its acknowledgements (fixtures/ascode acknowledges every finding).
fn seed() -> String {
    read("fixtures/lint/unacknowledged.yaml")
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
    // The blob cache's role counts too: a cache in production's subscription for a dev runner.
    let identity = "    identity:\n      clientId: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d\n";
    assert_eq!(text.matches(identity).count(), 1);
    let cache = text.replacen(
        identity,
        &format!("    cache:\n      storageAccountId: /subscriptions/{prd_sub}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/stprd\n      container: cache\n      managerClientId: 5e4f3a2b-1c0d-4e9f-8a7b-6c5d4e3f2a1b\n{identity}"),
        1,
    );
    let f = report(&cache).findings;
    let l008: Vec<&Finding> = f.iter().filter(|f| f.rule.as_str() == "L008").collect();
    assert_eq!(l008.len(), 1, "{f:?}");
    assert!(
        l008[0]
            .message
            .contains("has Storage Blob Data Contributor in subscription")
            && l008[0].path.ends_with("/cache/storageAccountId"),
        "{:?}",
        l008[0]
    );
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
        "      - {rule: L001, role: Owner, scope: {subscription: \"*\"}, reason: the pipelines create role assignments (seed)}\n      - {rule: L010, reason: not shared}\n",
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
    assert_eq!(
        rep.stale[0].message,
        "runner `tf` acknowledges L010, which finds nothing on it"
    );
}

/// An acknowledgement covers the one role assignment it names: a second Owner assignment of
/// the same runner is a finding of its own, open, whose hint says what to write.
#[test]
fn an_acknowledgement_covers_the_role_assignment_it_names_only() {
    let text = acknowledged(
        "      - {rule: L001, role: Owner, scope: {subscription: \"*\"}, reason: seed}\n",
    )
    .replacen(
        "          scope: {subscription: \"*\"}\n",
        "          scope: {subscription: \"*\"}\n        - role: User Access Administrator\n          scope: {subscription: management}\n",
        1,
    );
    let rep = report(&text);
    let l001: Vec<&Finding> = rep
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "L001")
        .collect();
    assert_eq!(l001.len(), 2);
    assert!(l001[0].acknowledged.is_some());
    assert_eq!(l001[1].acknowledged, None);
    assert_eq!(
        l001[1].about.fields(),
        "role: User Access Administrator, scope: {subscription: management}"
    );
    assert!(
        l001[1].diagnostic().hint.unwrap().ends_with(
            "; or accept it on the runner: `acknowledge: [{rule: L001, role: User Access Administrator, scope: {subscription: management}, reason: …}]`"
        )
    );
    // The role by its GUID, and the permission of L006, name the same findings.
    let guid = acknowledged(
        "      - {rule: L001, role: 8e3af657-a8ff-443c-a75c-2fe8c4bcb635, scope: {subscription: \"*\"}, reason: seed}\n      - {rule: L006, permission: Directory.Read.All, reason: azuread provider}\n",
    );
    let rep = report(&guid);
    assert_eq!(rep.open(), rep.findings.len() - 2);
    assert!(rep.stale.is_empty());
}

fn environments() -> String {
    read("fixtures/lint/environments.yaml")
}

/// `(environment, acknowledged)` of each L001 finding about role Owner on `sub`.
fn owner_of(rep: &Report, sub: &str) -> Vec<(String, bool)> {
    rep.findings
        .iter()
        .filter(|f| f.rule.as_str() == "L001" && f.message.contains(&format!("`{sub}`")))
        .map(|f| (f.environment.clone(), f.acknowledged.is_some()))
        .collect()
}

/// The runner's own acknowledgement of the sandbox Owner covers it in every environment, and
/// not the Owner assignment production's override adds: that finding stays open.
#[test]
fn a_sandbox_acknowledgement_does_not_cover_the_prd_overrides_owner() {
    let rep = report(&environments());
    let all = |envs: &[&str]| -> Vec<(String, bool)> {
        envs.iter().map(|e| (e.to_string(), true)).collect()
    };
    assert_eq!(owner_of(&rep, "sandbox"), all(&["dev", "prd", "stg"]));
    assert_eq!(owner_of(&rep, "apps"), [("prd".to_owned(), false)]);
    assert_eq!(rep.open(), 1);
    let open = rep
        .findings
        .iter()
        .find(|f| f.acknowledged.is_none())
        .unwrap();
    assert!(
        open.diagnostic().hint.unwrap().ends_with(
            "; or accept it in `overrides.prd`: `acknowledge: [{rule: L001, role: Owner, scope: {subscription: apps}, reason: …}]`"
        )
    );
    assert!(rep.stale.is_empty(), "{:?}", rep.stale);
}

const PRD_ROLES: &str = "            - role: Owner\n              scope: {subscription: apps}\n";

/// An acknowledgement in `overrides.prd` is added to the runner's there, and covers exactly
/// the prd finding it names; written in an environment that has no such assignment it is
/// refused (E018).
#[test]
fn an_override_acknowledgement_covers_exactly_its_environments_finding() {
    let ack = "        acknowledge:\n          - {rule: L001, role: Owner, scope: {subscription: apps}, reason: production deploys administer apps}\n";
    let text = environments().replacen(PRD_ROLES, &format!("{PRD_ROLES}{ack}"), 1);
    let rep = report(&text);
    assert_eq!(owner_of(&rep, "apps"), [("prd".to_owned(), true)]);
    assert_eq!(rep.open(), 0);
    assert!(rep.stale.is_empty(), "{:?}", rep.stale);
    // The runner's own entry still applies in prd: the override adds, it does not replace.
    assert!(owner_of(&rep, "sandbox").iter().all(|(_, a)| *a));

    // The runner's own entry again in the override: twice in prd (E031, at the override's).
    let again =
        "          - {rule: L001, role: owner, scope: {subscription: sandbox}, reason: again}\n";
    let twice = text.replacen(ack, &format!("{ack}{again}"), 1);
    let diags = refused(&twice);
    assert_eq!(
        codes(&diags),
        [("E031", "/runners/deploy/overrides/prd/acknowledge/1/rule")]
    );

    let dev = "        identity: {clientId: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d}\n";
    let in_dev = environments().replacen(dev, &format!("{dev}{ack}"), 1);
    let diags = crate::compile::resolve(&in_dev, &crate::compile::no_files)
        .err()
        .unwrap();
    let got: Vec<(&str, &str, &str)> = diags
        .iter()
        .map(|d| (d.code.as_str(), d.path.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [(
            "E018",
            "/runners/deploy/overrides/dev/acknowledge/0/scope",
            "the acknowledgement of L001 names `role: Owner, scope: {subscription: apps}`, a role assignment runner `deploy` does not have"
        )]
    );
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("did you mean `role: Owner, scope: {subscription: sandbox}`?")
    );
}

/// N002 is exact per environment: the runner's own entry that covers nothing in staging is
/// noted once, at the line it is written on, naming staging only; never where it covers.
#[test]
fn a_stale_acknowledgement_is_noted_for_the_environments_it_covers_nothing_in() {
    let stg = "        identity: {clientId: 7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b}\n";
    // Unprotected while dev's is protected, so that jobs written for dev (other access now)
    // cannot run on it (L011).
    let narrow = "        accessLevel: not_protected\n        identity:\n          clientId: 7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b\n          roles: [{role: Owner, scope: {subscription: sandbox, resourceGroup: rg-stg}}]\n";
    let text = environments().replacen(stg, narrow, 1);
    let rep = report(&text);
    let stale: Vec<(&str, u32, &str)> = rep
        .stale
        .iter()
        .map(|d| (d.path.as_str(), d.pos.line, d.message.as_str()))
        .collect();
    assert_eq!(
        stale,
        [(
            "/runners/deploy/acknowledge/0/rule",
            66,
            "runner `deploy` acknowledges L001 (`role: Owner, scope: {subscription: sandbox}`), which finds nothing on it in environment `stg`"
        )]
    );
    assert!(
        rep.stale[0]
            .hint
            .as_deref()
            .unwrap()
            .starts_with("move it to `overrides.<env>`")
    );
    assert_eq!(
        owner_of(&rep, "sandbox"),
        [("dev".to_owned(), true), ("prd".to_owned(), true)]
    );

    // Stale in two environments: one note, naming both.
    let dev = "        identity: {clientId: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d}\n";
    let both = text.replacen(
        dev,
        &narrow.replace(
            "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b",
            "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        ),
        1,
    );
    let rep = report(&both);
    assert_eq!(rep.stale.len(), 1);
    assert!(
        rep.stale[0]
            .message
            .ends_with("in environments `dev`, `stg`"),
        "{}",
        rep.stale[0].message
    );
}

/// An acknowledgement of a role the runner has but the rule does not find is stale (N002): the
/// Owner of every subscription is L001, not L007.
#[test]
fn a_keyed_acknowledgement_of_what_the_rule_does_not_find_is_stale() {
    let text = acknowledged(
        "      - {rule: L001, role: Owner, scope: {subscription: \"*\"}, reason: seed}\n      - {rule: L007, role: Owner, scope: {subscription: \"*\"}, reason: not L007}\n",
    );
    let rep = report(&text);
    assert_eq!(rep.stale.len(), 1);
    assert_eq!(rep.stale[0].path, "/runners/tf/acknowledge/1/rule");
}

/// A keyed rule's entry without its subject, with the fields of another rule, or naming what
/// the runner does not have is refused, saying what to write.
#[test]
fn keyed_acknowledgements_need_their_subject() {
    let text = acknowledged(
        "      - {rule: L001, reason: seed}\n      - {rule: L003, role: Owner, reason: dind}\n      - {rule: L006, permission: Directory.ReadWrite.All, reason: provider}\n      - {rule: L001, role: Owner, reason: no scope}\n",
    );
    let diags = crate::compile::resolve(&text, &crate::compile::no_files)
        .err()
        .unwrap();
    let got: Vec<(&str, &str, &str)> = diags
        .iter()
        .map(|d| (d.code.as_str(), d.path.as_str(), d.hint.as_deref().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "E018",
                "/runners/tf/acknowledge/0/rule",
                "add what it covers, as the runner writes it: `role: Owner, scope: {subscription: \"*\"}`"
            ),
            (
                "E018",
                "/runners/tf/acknowledge/1/role",
                "remove `role`: it covers the runner's one L003 finding"
            ),
            (
                "E018",
                "/runners/tf/acknowledge/2/permission",
                "did you mean `permission: Directory.Read.All`?"
            ),
            (
                "E018",
                "/runners/tf/acknowledge/3/rule",
                "add what it covers, as the runner writes it: `role: Owner, scope: {subscription: \"*\"}`"
            ),
        ]
    );
    assert_eq!(
        diags[0].message,
        "the acknowledgement of L001 has no `role` or `scope`: L001 is about one role assignment, and an acknowledgement covers only the one it names"
    );
    assert!(
        diags[3]
            .message
            .starts_with("the acknowledgement of L001 has no `scope`:")
    );
}

#[test]
fn an_unknown_rule_or_an_empty_reason_is_an_error() {
    let text = acknowledged(
        "      - {rule: L099, reason: why}\n      - {rule: L002, reason: \"  \"}\n      - {rule: L003, reason: a}\n      - {rule: L003, reason: b}\n",
    );
    let diags = refused(&text);
    assert_eq!(
        codes(&diags),
        [
            ("E018", "/runners/tf/acknowledge/0/rule"),
            ("E018", "/runners/tf/acknowledge/1/reason"),
            ("E031", "/runners/tf/acknowledge/3/rule"),
        ]
    );
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("one of L001, L002, L003, L004, L005, L006, L007, L008, L009, L010, L011")
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

/// What refusing `text` reports.
fn refused(text: &str) -> Vec<crate::spec::Diagnostic> {
    crate::compile::resolve(text, &crate::compile::no_files)
        .err()
        .expect("the spec is refused")
}

/// The code and pointer of each diagnostic.
fn codes(diags: &[crate::spec::Diagnostic]) -> Vec<(&str, &str)> {
    diags
        .iter()
        .map(|d| (d.code.as_str(), d.path.as_str()))
        .collect()
}

/// L011: the runner written for dev, stg and prd in one region serves one group with the same
/// tags; jobs written for one can run on another with other access. Refused (an error-level
/// finding) until a tag or protection parts them, or an acknowledgement accepts it.
#[test]
fn jobs_that_can_cross_to_a_runner_with_other_access_are_refused() {
    let spec = read("fixtures/shared-cluster/runners.yaml");
    let protected = "        accessLevel: ref_protected\n";
    assert_eq!(spec.matches(protected).count(), 1);
    let open = spec.replacen(protected, "", 1);
    let refused = crate::compile::resolve(&open, &crate::compile::no_files)
        .err()
        .expect("refused");
    let l011: Vec<(u32, &str, &str)> = refused
        .iter()
        .filter(|d| d.code.to_string() == "L011")
        .map(|d| (d.pos.line, d.path.as_str(), d.message.as_str()))
        .collect();
    let msg = |env: &str| {
        format!(
            "jobs written for runner `terraform` can run on runner `terraform` of `{env}`, whose jobs get other access: both serve their project and it has every tag they ask for (`weu`, `terraform`)"
        )
    };
    let (dev, stg, prd) = (msg("dev"), msg("stg"), msg("prd"));
    assert_eq!(
        l011,
        [
            (71, "/runners/terraform/overrides/dev/tags", prd.as_str()),
            (72, "/runners/terraform/overrides/stg/tags", prd.as_str()),
            (73, "/runners/terraform/overrides/prd/tags", dev.as_str()),
            (73, "/runners/terraform/overrides/prd/tags", stg.as_str()),
        ]
    );
    assert!(refused.iter().all(|d| {
        d.code.to_string() != "L011"
            || d.hint
                .as_deref()
                .unwrap()
                .starts_with("give the runner a tag the other lacks")
    }));
    // A tag of its own in each environment parts them: jobs written for one ask for it.
    let tagged = open
        .replace(
            "      dev: {identity:",
            "      dev: {tags: [dev], identity:",
        )
        .replace(
            "      stg: {identity:",
            "      stg: {tags: [stg], identity:",
        )
        .replace("      prd:\n", "      prd:\n        tags: [prd]\n");
    assert!(!has(&tagged, "terraform", "L011"));
    // An acknowledgement accepts it: still shown, no longer refused.
    let acked = open.replace(
        "    acknowledge:\n",
        "    acknowledge:\n      - {rule: L011, reason: one team owns all three environments}\n",
    );
    let rep = report(&acked);
    assert_eq!(
        rep.findings
            .iter()
            .filter(|f| f.rule.as_str() == "L011" && f.acknowledged.is_some())
            .count(),
        4
    );
}
