//! Properties of the whole pipeline on generated valid specs: every one renders, every render
//! satisfies the cross-artifact invariants, and the bytes depend neither on the order of keys
//! in the spec nor on how many threads render at once.

use proptest::prelude::*;
use runnergen::tree::Tree;
use serde_json::{Map, Value, json};

const ENVS: &[(&str, &str, &str, &str)] = &[
    ("dev", "development", "weu", "westeurope"),
    ("tst", "test", "neu", "northeurope"),
    ("prd", "production", "sdc", "swedencentral"),
];
pub(crate) const ROLES: &[&str] = &[
    "Owner",
    "Contributor",
    "Reader",
    "AcrPush",
    "AcrPull",
    "User Access Administrator",
    "Key Vault Secrets User",
];
const GRAPH: &[&str] = &[
    "Group.Read.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
];

pub(crate) fn guid(n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n as u32,
        (n >> 8) as u16,
        n % 4096,
        (n >> 4) % 4096,
        n & 0xffff_ffff_ffff
    )
}

#[derive(Debug, Clone)]
struct RunnerGen {
    env: usize,
    group: bool,
    privileged: bool,
    concurrent: u32,
    tags: Vec<String>,
    access: usize,
    shared: bool,
    roles: Vec<(usize, usize)>,
    graph: Vec<usize>,
    client_id: Option<u64>,
    cache: bool,
    untagged: bool,
    protected: bool,
}

fn runner_gen() -> impl Strategy<Value = RunnerGen> {
    (
        0..ENVS.len(),
        any::<bool>(),
        any::<bool>(),
        1u32..200,
        prop::collection::vec("[a-z][a-z0-9-]{0,10}[a-z0-9]", 0..4),
        0usize..3,
        any::<bool>(),
        prop::collection::vec((0..ROLES.len(), 0usize..4), 0..4),
        prop::collection::vec(0..GRAPH.len(), 0..3),
        prop::option::of(1u64..u64::MAX / 2),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                env,
                group,
                privileged,
                concurrent,
                tags,
                access,
                shared,
                roles,
                graph,
                client_id,
                (cache, untagged, protected),
            )| RunnerGen {
                env,
                group,
                privileged,
                concurrent,
                tags,
                access,
                shared,
                roles,
                graph,
                client_id,
                cache,
                untagged,
                protected,
            },
        )
}

pub(crate) fn spec_gen() -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map("[a-z][a-z0-9]{0,8}", runner_gen(), 1..7),
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(runners, engine, existing)| {
            let mut envs = Map::new();
            for (i, (k, long, region, loc)) in ENVS.iter().enumerate() {
                envs.insert(
                    (*k).into(),
                    json!({
                        "longName": long, "regionCode": region, "location": loc,
                        "tenantId": guid(7),
                        "subscriptions": {"apps": guid(100 + i as u64), "shared": guid(200)},
                        "identities": {"subscription": "apps", "resourceGroup": format!("rg-{region}-{k}-gitlab")},
                        "cluster": {"oidcIssuerUrl": format!("https://{loc}.oic.prod-aks.azure.com/{}/{}/", guid(7), guid(300 + i as u64))},
                        "keyVault": {"name": format!("kv-{region}-{k}-gitlab")},
                    }),
                );
            }
            let mut rs = Map::new();
            for (key, r) in runners {
                let mut tags: Vec<String> = r.tags.clone();
                tags.sort();
                tags.dedup();
                let mut roles = Vec::new();
                let mut seen = std::collections::BTreeSet::new();
                for (role, scope) in &r.roles {
                    if !seen.insert((*role, *scope)) {
                        continue;
                    }
                    let scope = match scope {
                        0 => json!({"subscription": "apps"}),
                        1 => json!({"subscription": "*"}),
                        2 => json!({"subscription": "shared", "resourceGroup": "rg-shared"}),
                        _ => json!({"resource": format!("/subscriptions/{}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/acr1", guid(200))}),
                    };
                    roles.push(json!({"role": ROLES[*role], "scope": scope}));
                }
                let mut graph: Vec<&str> = r.graph.iter().map(|g| GRAPH[*g]).collect();
                graph.sort();
                graph.dedup();
                let access = ["none", "namespace", "cluster-admin"][r.access];
                let mut identity = json!({
                    "roles": roles,
                    "graphPermissions": graph,
                    "kubernetesAccess": access,
                });
                if let Some(c) = r.client_id {
                    identity["clientId"] = json!(guid(c));
                }
                let mut runner = json!({
                    "environment": ENVS[r.env].0,
                    "type": if r.group { "group" } else { "project" },
                    "path": format!("org/{key}"),
                    "purpose": format!("runner {key}"),
                    "tags": tags,
                    "privileged": r.privileged,
                    "concurrent": r.concurrent,
                    "serviceAccounts": if r.shared { "shared" } else { "separate" },
                    "runUntagged": r.untagged,
                    "accessLevel": if r.protected { "ref_protected" } else { "not_protected" },
                    "identity": identity,
                });
                if r.cache {
                    runner["cache"] = json!({
                        "storageAccountId": format!("/subscriptions/{}/resourceGroups/rg-cache/providers/Microsoft.Storage/storageAccounts/stcache", guid(200)),
                        "container": "cache",
                    });
                    // With separate accounts the manager's cache identity has a client ID of
                    // its own once the runner's has one.
                    if let (Some(c), false) = (r.client_id, r.shared) {
                        runner["cache"]["managerClientId"] = json!(guid(1000 + c));
                    }
                }
                rs.insert(key, runner);
            }
            let engine = ["flux", "argocd", "plain"][engine];
            let mut spec = json!({
                "version": 1,
                "organization": "org",
                "gitlab": {"url": "https://gitlab.example.com/"},
                "gitops": {"engine": engine},
                "environments": envs,
                "runners": rs,
            });
            if existing {
                spec["tokenSource"] = json!({"existingSecret": {}});
            }
            spec
        })
}

/// JSON text (valid YAML) with every mapping's keys in reverse order.
fn reversed_json(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .rev()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), reversed_json(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(reversed_json).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn compile(text: &str) -> Tree {
    runnergen::compile("fleet.yaml", text)
        .unwrap_or_else(|e| panic!("a generated valid spec must compile:\n{e}\n{text}"))
}

/// An independent re-check of the central invariant: every ready runner's job pods run as
/// exactly the subject its federated credential trusts.
fn check_subjects(spec: &Value, tree: &Tree) {
    for (key, r) in spec["runners"].as_object().unwrap() {
        let env = r["environment"].as_str().unwrap();
        let main = tree
            .get_str(&format!("{env}/azure/main.json"))
            .expect("every environment has Azure files");
        let config = tree.get_str(&format!("{env}/{key}/config.toml"));
        match (r["identity"].get("clientId"), config) {
            (Some(_), Some(config)) => {
                let t: toml::Table = config.parse().unwrap();
                let k = &t["runners"][0]["kubernetes"];
                let subject = format!(
                    "system:serviceaccount:{}:{}",
                    k["namespace"].as_str().unwrap(),
                    k["service_account"].as_str().unwrap()
                );
                assert!(
                    main.contains(&format!("\"subject\": \"{subject}\"")),
                    "{subject} not trusted in {env}/azure/main.json"
                );
                // The manager signs the cache with its own identity: its account is trusted.
                if r.get("cache").is_some() && r["serviceAccounts"] == "separate" {
                    let manager = format!("system:serviceaccount:gitlab-{key}:gitlab-runner-{key}");
                    assert!(
                        main.contains(&format!("\"subject\": \"{manager}\"")),
                        "{manager} not trusted in {env}/azure/main.json"
                    );
                }
            }
            (None, None) => assert!(
                !tree.paths().any(|p| p.starts_with(&format!("{env}/{key}/"))
                    && !p.ends_with("registration.json"))
            ),
            (client, config) => panic!(
                "runner {key}: client id {client:?} but config.toml present: {}",
                config.is_some()
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_specs_render_and_keep_invariants(spec in spec_gen()) {
        let text = serde_json::to_string_pretty(&spec).unwrap();
        let tree = compile(&text);
        check_subjects(&spec, &tree);
        // Same bytes again, and whatever the order of keys in the spec.
        prop_assert_eq!(&compile(&text), &tree);
        prop_assert_eq!(&compile(&reversed_json(&spec)), &tree);
    }
}

#[test]
fn key_order_does_not_matter_for_the_seed_fleet() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("fixtures/ascode/runners.yaml")).unwrap();
    let value: Value = serde_saphyr::from_str(&text).unwrap();
    let a = runnergen::compile("fleet.yaml", &text).unwrap();
    let b = runnergen::compile("fleet.yaml", &reversed_json(&value)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn renders_are_identical_across_threads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("fixtures/fleet-50/runners.yaml")).unwrap();
    let reference = runnergen::compile("fleet.yaml", &text).unwrap();
    let trees: Vec<Tree> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| runnergen::compile("fleet.yaml", &text).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for t in trees {
        assert_eq!(t, reference);
    }
}
