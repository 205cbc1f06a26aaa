//! Isolation as a property of every fleet shape: generated fleets with shared clusters, shared
//! regions, shared vaults, multi-environment runners, nested GitLab paths and naming templates
//! are either refused with located errors, or render a tree that, read back from its files
//! alone (not from the model), keeps every environment and every runner apart:
//!
//! 1. no two federated credentials of the fleet trust one (issuer, subject), and environments
//!    on one cluster (one issuer) render no Kubernetes object in common;
//! 2. every runner has a tag no other runner has, its ci-template.yml's jobs land on it alone,
//!    and a job written for a runner (its tags but its own) can reach another runner with other
//!    access only where protection parts them (GitLab's matching, written here apart from
//!    `overlap`);
//! 3. no runner namespace is one the cluster or a tool owns, no runner namespace holds a
//!    store's account, and no two runners keep their tokens in one secret of one vault.

use crate::properties::guid;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use runnergen::tree::Tree;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

const ENV_KEYS: &[&str] = &["dev", "stg", "prd", "qa"];
const LONG: &[&str] = &["development", "staging", "production", "quality"];
/// Clusters by index; a cluster's region is the cluster index modulo 2, so clusters 0 and 2
/// share a region without sharing a cluster.
const REGIONS: &[(&str, &str)] = &[("weu", "westeurope"), ("neu", "northeurope")];
const KEYS: &[&str] = &["tf", "deploy", "docs", "default"];
/// Nested paths, one spelt in another case.
const PATHS: &[&str] = &[
    "acme",
    "acme/infra",
    "acme/infra/tf",
    "Acme/Apps",
    "acme/apps/web",
];
const TAGS: &[&str] = &["weu", "docker", "tf", "deploy"];
const ROLES: &[&str] = &["Reader", "Contributor", "AcrPull"];

#[derive(Debug, Clone)]
struct EnvGen {
    cluster: usize,
    vault: usize,
    subscription: usize,
}

#[derive(Debug, Clone)]
struct RunnerGen {
    key: usize,
    envs: BTreeSet<usize>,
    group: bool,
    path: usize,
    tags: BTreeSet<usize>,
    protected: bool,
    untagged: bool,
    role: usize,
    /// Roles differ per environment (each its own subscription's) or are the same.
    per_env_scope: bool,
}

#[derive(Debug, Clone)]
struct Topology {
    envs: Vec<EnvGen>,
    runners: Vec<RunnerGen>,
    /// `{env}` in the namespace, job namespace, store name, Key Vault secret templates.
    env_names: [bool; 4],
    job_namespace_is_runner: bool,
    secret_store: bool,
    engine: usize,
}

fn topology() -> impl Strategy<Value = Topology> {
    let env = (0usize..3, 0usize..3, 0usize..2).prop_map(|(cluster, vault, subscription)| EnvGen {
        cluster,
        vault,
        subscription,
    });
    let runner = (
        0..KEYS.len(),
        prop::collection::btree_set(0usize..4, 1..4),
        any::<bool>(),
        0..PATHS.len(),
        prop::collection::btree_set(0..TAGS.len(), 0..3),
        any::<bool>(),
        prop::bool::weighted(0.2),
        0..ROLES.len(),
        any::<bool>(),
    )
        .prop_map(
            |(key, envs, group, path, tags, protected, untagged, role, per_env_scope)| RunnerGen {
                key,
                envs,
                group,
                path,
                tags,
                protected,
                untagged,
                role,
                per_env_scope,
            },
        );
    (
        prop::collection::vec(env, 2..=4),
        prop::collection::vec(runner, 1..6),
        prop::array::uniform4(prop::bool::weighted(0.7)),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        0usize..2,
    )
        .prop_map(
            |(envs, runners, env_names, job_namespace_is_runner, secret_store, engine)| Topology {
                envs,
                runners,
                env_names,
                job_namespace_is_runner,
                secret_store,
                engine,
            },
        )
}

fn issuer(cluster: usize) -> String {
    let (_, location) = REGIONS[cluster % 2];
    format!(
        "https://{location}.oic.prod-aks.azure.com/{}/{}/",
        guid(7),
        guid(300 + cluster as u64)
    )
}

/// The spec of a topology, as JSON (valid YAML).
fn spec(t: &Topology) -> Value {
    let mut envs = Map::new();
    for (i, e) in t.envs.iter().enumerate() {
        let k = ENV_KEYS[i];
        let (region, location) = REGIONS[e.cluster % 2];
        envs.insert(
            k.into(),
            json!({
                "longName": LONG[i], "regionCode": region, "location": location,
                "tenantId": guid(7),
                "subscriptions": {"apps": guid(100 + e.subscription as u64)},
                "identities": {"subscription": "apps", "resourceGroup": format!("rg-{region}-{k}-gitlab")},
                "cluster": {"oidcIssuerUrl": issuer(e.cluster)},
                "keyVault": {"name": format!("kv-shared-{}", e.vault), "storeClientId": guid(900 + i as u64)},
            }),
        );
    }
    let mut runners = Map::new();
    for (n, r) in t.runners.iter().enumerate() {
        let key = KEYS[r.key];
        let in_envs: Vec<&str> = r
            .envs
            .iter()
            .filter(|&&e| e < t.envs.len())
            .map(|&e| ENV_KEYS[e])
            .collect();
        if in_envs.is_empty() || runners.contains_key(key) {
            continue;
        }
        let scope = if r.per_env_scope {
            json!({"subscription": "apps"})
        } else {
            json!({"subscription": "apps", "resourceGroup": "rg-common"})
        };
        let mut overrides = Map::new();
        for (i, e) in in_envs.iter().enumerate() {
            let id = guid(10_000 + (n * 10 + i) as u64);
            overrides.insert((*e).into(), json!({"identity": {"clientId": id}}));
        }
        runners.insert(
            key.into(),
            json!({
                "environments": in_envs,
                "type": if r.group { "group" } else { "project" },
                "path": PATHS[r.path],
                "purpose": format!("runner {key}"),
                "tags": r.tags.iter().map(|&i| TAGS[i]).collect::<Vec<_>>(),
                "runUntagged": r.untagged,
                "accessLevel": if r.protected { "ref_protected" } else { "not_protected" },
                "identity": {"roles": [{"role": ROLES[r.role], "scope": scope}], "kubernetesAccess": "namespace"},
                "overrides": overrides,
            }),
        );
    }
    let [ns, job_ns, store, secret] = t.env_names;
    let mut naming = Map::new();
    if ns {
        naming.insert("namespace".into(), json!("gitlab-{env}-{runner}"));
    }
    if t.job_namespace_is_runner {
        naming.insert("jobNamespace".into(), json!("{runner}"));
    } else if job_ns {
        naming.insert("jobNamespace".into(), json!("gitlab-{env}-{runner}-jobs"));
    }
    if !secret {
        naming.insert(
            "keyVaultSecret".into(),
            json!("gitlab-runner-{runner}-token"),
        );
    }
    let mut external =
        json!({"storeKind": if t.secret_store { "SecretStore" } else { "ClusterSecretStore" }});
    if store {
        external["storeName"] = json!("azure-key-vault-{env}");
    }
    let engine = ["flux", "argocd"][t.engine];
    json!({
        "version": 1,
        "organization": "acme",
        "gitlab": {"url": "https://gitlab.example.com/"},
        "gitops": {"engine": engine},
        "naming": naming,
        "tokenSource": {"externalSecret": external},
        "environments": envs,
        "runners": runners,
    })
}

/// Every YAML document of the tree's Kubernetes files, with the environment it is in.
fn kubernetes_objects(tree: &Tree) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, bytes) in tree.iter() {
        if !path.ends_with(".yaml") || path.contains("/azure/") {
            continue;
        }
        let env = path.split('/').next().unwrap().to_owned();
        let text = std::str::from_utf8(bytes).unwrap();
        for doc in runnergen::readback::yaml_values(text).unwrap() {
            if doc["metadata"]["name"].is_string() {
                out.push((env.clone(), doc));
            }
        }
    }
    out
}

/// Every (issuer, subject) a federated credential of the tree trusts, with its environment.
fn trusts(tree: &Tree) -> Vec<(String, String, String)> {
    fn walk(v: &Value, env: &str, out: &mut Vec<(String, String, String)>) {
        match v {
            Value::Object(o) => {
                if let (Some(Value::String(i)), Some(Value::String(s))) =
                    (o.get("issuer"), o.get("subject"))
                {
                    out.push((env.to_owned(), i.clone(), s.clone()));
                }
                o.values().for_each(|v| walk(v, env, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, env, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (path, bytes) in tree.iter() {
        if path.contains("/azure/main") && path.ends_with(".json") {
            let v: Value = serde_json::from_slice(bytes).unwrap();
            walk(&v, path.split('/').next().unwrap(), &mut out);
        }
    }
    out
}

/// A rendered runner, from its registration.json.
struct Registered {
    env: String,
    key: String,
    group: bool,
    path: String,
    tags: Vec<String>,
    untagged: bool,
    protected: bool,
    vault: Option<(String, String)>,
}

fn registrations(tree: &Tree) -> Vec<Registered> {
    tree.iter()
        .filter(|(p, _)| p.ends_with("/registration.json"))
        .map(|(p, b)| {
            let v: Value = serde_json::from_slice(b).unwrap();
            let mut parts = p.split('/');
            let (env, key) = (parts.next().unwrap(), parts.next().unwrap());
            let group = v["runner_type"] == "group_type";
            let path = v[if group { "group_path" } else { "project_path" }]
                .as_str()
                .unwrap()
                .to_owned();
            let d = &v["token_destination"];
            Registered {
                env: env.into(),
                key: key.into(),
                group,
                path,
                tags: serde_json::from_value(v["tag_list"].clone()).unwrap(),
                untagged: v["run_untagged"] == true,
                protected: v["access_level"] == "ref_protected",
                vault: d["key_vault"]
                    .as_str()
                    .map(|k| (k.to_lowercase(), d["secret"].as_str().unwrap().to_owned())),
            }
        })
        .collect()
}

/// GitLab: a group runner serves the projects of its group and subgroups, a project runner its
/// project; paths compare without case.
fn serve_one_project(a: &Registered, b: &Registered) -> bool {
    let (pa, pb) = (a.path.to_lowercase(), b.path.to_lowercase());
    let under = |p: &str, g: &str| p == g || p.starts_with(&format!("{g}/"));
    match (a.group, b.group) {
        (true, true) => under(&pa, &pb) || under(&pb, &pa),
        (true, false) => under(&pb, &pa),
        (false, true) => under(&pa, &pb),
        (false, false) => pa == pb,
    }
}

/// GitLab: a runner takes a job when every tag of the job is among its tags.
fn takes(r: &Registered, job_tags: &[String]) -> bool {
    if job_tags.is_empty() {
        return r.untagged;
    }
    job_tags.iter().all(|t| r.tags.contains(t))
}

fn check_isolation(spec: &Value, tree: &Tree) -> Result<(), String> {
    let cluster_of = |env: &str| spec["environments"][env]["cluster"]["oidcIssuerUrl"].clone();
    // 1. One trust per (issuer, subject); one environment per object on a cluster.
    let mut seen = BTreeMap::new();
    for (env, i, s) in trusts(tree) {
        if let Some(first) = seen.insert((i.clone(), s.clone()), env.clone()) {
            return Err(format!("{first} and {env} both trust {i} {s}"));
        }
    }
    let mut objects: BTreeMap<(String, String, String, String), String> = BTreeMap::new();
    for (env, doc) in kubernetes_objects(tree) {
        let key = (
            cluster_of(&env).to_string(),
            doc["kind"].as_str().unwrap().to_owned(),
            doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            doc["metadata"]["name"].as_str().unwrap().to_owned(),
        );
        match objects.get(&key) {
            Some(first) if *first != env => {
                return Err(format!("{first} and {env} both render {key:?}"));
            }
            _ => {
                objects.insert(key, env);
            }
        }
    }
    // 3. Namespaces of the cluster and the tools; store accounts apart from runner namespaces.
    let namespaces: BTreeMap<(String, String), String> = objects
        .iter()
        .filter(|((_, kind, _, _), _)| kind == "Namespace")
        .map(|((c, _, _, name), env)| ((c.clone(), name.clone()), env.clone()))
        .collect();
    for (_, name) in namespaces.keys() {
        let owned = ["default", "flux-system", "external-secrets", "argocd"];
        if name.starts_with("kube-") || owned.contains(&name.as_str()) {
            return Err(format!("namespace {name} rendered"));
        }
    }
    for (env, doc) in kubernetes_objects(tree) {
        if doc["kind"] == "ClusterSecretStore" {
            let ns = doc["spec"]["provider"]["azurekv"]["serviceAccountRef"]["namespace"]
                .as_str()
                .unwrap()
                .to_owned();
            if namespaces.contains_key(&(cluster_of(&env).to_string(), ns.clone())) {
                return Err(format!(
                    "{env}'s store account lives in runner namespace {ns}"
                ));
            }
        }
    }
    let regs = registrations(tree);
    let mut secrets = BTreeMap::new();
    for r in &regs {
        if let Some(v) = &r.vault
            && let Some(first) = secrets.insert(v.clone(), &r.key)
        {
            return Err(format!("{first} and {} keep their token in {v:?}", r.key));
        }
    }
    // 2. Routing.
    let access = runnergen::readback::access(&files(tree));
    let grants = |r: &Registered| {
        let a = &access[&(r.env.clone(), r.key.clone())];
        let roles: BTreeSet<_> = a.roles.iter().cloned().collect();
        (roles, a.graph.clone(), a.kubernetes, a.privileged)
    };
    for a in &regs {
        let template = tree
            .get_str(&format!("{}/{}/ci-template.yml", a.env, a.key))
            .ok_or("no ci-template.yml")?;
        let t: Value = serde_saphyr::from_str(template).map_err(|e| e.to_string())?;
        let job = t[format!(".runnergen-{}-{}", a.env, a.key)]["tags"].clone();
        let job_tags: Vec<String> = serde_json::from_value(job).map_err(|e| e.to_string())?;
        let own = format!("{}-{}", a.env, a.key);
        let asked: Vec<String> = a.tags.iter().filter(|t| **t != own).cloned().collect();
        for b in regs.iter().filter(|b| (&b.env, &b.key) != (&a.env, &a.key)) {
            if b.tags.contains(&own) {
                return Err(format!("{}/{} carries {own}", b.env, b.key));
            }
            if !serve_one_project(a, b) {
                continue;
            }
            if takes(b, &job_tags) {
                return Err(format!("{own}'s template job lands on {}/{}", b.env, b.key));
            }
            let crosses = (!asked.is_empty() && takes(b, &asked)) || (a.untagged && b.untagged);
            if crosses && grants(a) != grants(b) && a.protected == b.protected {
                return Err(format!(
                    "jobs for {own} reach {}/{} with other access",
                    b.env, b.key
                ));
            }
        }
    }
    Ok(())
}

fn files(tree: &Tree) -> BTreeMap<String, Vec<u8>> {
    tree.iter()
        .map(|(p, b)| (p.to_owned(), b.to_vec()))
        .collect()
}

/// A refusal is located errors, each with a code and a line of the spec.
fn check_refusal(message: &str) -> Result<(), String> {
    let located = message
        .lines()
        .filter(|l| l.starts_with("fleet.yaml:") && l.contains(": error["))
        .count();
    if located == 0 {
        return Err(format!("a refusal without a located error:\n{message}"));
    }
    Ok(())
}

/// 256 topologies from a fixed seed: the same ones every run, so a failure reproduces; both
/// outcomes must be common, or the generator tests nothing.
#[test]
fn every_topology_is_refused_with_the_fix_or_renders_isolated() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[29; 32]),
    );
    let strategy = topology();
    let (mut rendered, mut refused) = (0, 0);
    for case in 0..256 {
        let t = strategy.new_tree(&mut runner).unwrap().current();
        let spec = spec(&t);
        let text = serde_json::to_string_pretty(&spec).unwrap();
        let outcome = match runnergen::compile("fleet.yaml", &text) {
            Ok(tree) => {
                rendered += 1;
                check_isolation(&spec, &tree)
            }
            Err(message) => {
                refused += 1;
                check_refusal(&message)
            }
        };
        if let Err(e) = outcome {
            panic!("case {case}: {e}\n{text}");
        }
    }
    assert!(
        rendered >= 40 && refused >= 40,
        "rendered {rendered}, refused {refused}"
    );
}

/// Runner `tf`, a protected group runner of `acme/infra` in `stg` only.
fn protected_in_stg() -> RunnerGen {
    RunnerGen {
        key: 0,
        envs: [1].into(),
        group: true,
        path: 1,
        tags: BTreeSet::new(),
        protected: true,
        untagged: false,
        role: 0,
        per_env_scope: true,
    }
}

/// A large environment beside a small one on its cluster: `n` runners under generated keys in
/// `dev`, its identities in `shards` stacks.
fn large(keys: &BTreeSet<String>, shards: u32) -> Value {
    let mut t = Topology {
        envs: vec![
            EnvGen {
                cluster: 0,
                vault: 0,
                subscription: 0,
            },
            EnvGen {
                cluster: 0,
                vault: 1,
                subscription: 1,
            },
        ],
        runners: Vec::new(),
        env_names: [true; 4],
        job_namespace_is_runner: false,
        secret_store: false,
        engine: 0,
    };
    t.runners.push(protected_in_stg());
    let mut spec = spec(&t);
    spec["environments"]["dev"]["identities"]["shards"] = json!(shards);
    for (i, key) in keys.iter().enumerate() {
        spec["runners"][key] = json!({
            "environment": "dev",
            "type": "project",
            "path": format!("acme/{key}"),
            "purpose": "a team's runner",
            "identity": {"clientId": guid(50_000 + i as u64), "roles": [{"role": "Reader", "scope": {"subscription": "apps"}}]},
        });
    }
    spec
}

/// Stable shards on generated large environments: a runner added (under any key) or removed
/// moves no other runner's identities to another stack, read back from the main templates; a
/// shard count too small is refused with E024.
#[test]
fn runners_coming_and_going_move_no_other_runner_between_stacks() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[30; 32]),
    );
    let strategy = (
        prop::collection::btree_set("[a-z][a-z0-9]{2,8}", 31..90),
        2u32..8,
        "[a-z][a-z0-9]{2,8}",
        any::<prop::sample::Index>(),
    );
    let (mut rendered, mut refused) = (0, 0);
    for case in 0..24 {
        let (keys, shards, added, removed) = strategy.new_tree(&mut runner).unwrap().current();
        let spec = large(&keys, shards);
        let text = serde_json::to_string_pretty(&spec).unwrap();
        let tree = match runnergen::compile("fleet.yaml", &text) {
            Ok(tree) => tree,
            Err(message) => {
                refused += 1;
                assert!(message.contains("error[E024]"), "case {case}: {message}");
                check_refusal(&message).unwrap();
                continue;
            }
        };
        rendered += 1;
        check_isolation(&spec, &tree).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let before = crate::shards::shard_files(&tree);
        let mut more = keys.clone();
        more.insert(added);
        let mut fewer = keys.clone();
        fewer.remove(
            &removed
                .get(&keys.iter().cloned().collect::<Vec<_>>())
                .clone(),
        );
        for next in [more, fewer] {
            let text = serde_json::to_string_pretty(&large(&next, shards)).unwrap();
            // One more runner may overflow a shard: refused, nothing moves.
            let Ok(tree) = runnergen::compile("fleet.yaml", &text) else {
                continue;
            };
            let after = crate::shards::shard_files(&tree);
            for (key, file) in &before {
                if let Some(now) = after.get(key) {
                    assert_eq!(now, file, "case {case}: {key} moved");
                }
            }
        }
    }
    assert!(
        rendered >= 8 && refused >= 2,
        "rendered {rendered}, refused {refused}"
    );
}

/// One environment's store account may not live in a namespace of a runner of another
/// environment on its cluster: that runner's manager or jobs could run as the store's identity.
#[test]
fn a_store_account_in_another_environments_runner_namespace_is_refused() {
    let env = |vault| EnvGen {
        cluster: 0,
        vault,
        subscription: 0,
    };
    let t = Topology {
        envs: vec![env(0), env(1)],
        runners: vec![protected_in_stg()],
        env_names: [true; 4],
        job_namespace_is_runner: false,
        secret_store: false,
        engine: 0,
    };
    let mut spec = spec(&t);
    let text = serde_json::to_string_pretty(&spec).unwrap();
    let tree = runnergen::compile("fleet.yaml", &text).unwrap();
    check_isolation(&spec, &tree).unwrap();
    spec["tokenSource"]["externalSecret"]["storeNamespace"] = json!("gitlab-stg-tf-jobs");
    let text = serde_json::to_string_pretty(&spec).unwrap();
    let refused = runnergen::compile("fleet.yaml", &text).unwrap_err();
    let errors: Vec<&str> = refused.lines().filter(|l| l.contains(": error[")).collect();
    assert_eq!(errors.len(), 2, "{refused}");
    assert!(errors[1].ends_with("error[E020]: environment `stg`: the Key Vault store's account would live in `gitlab-stg-tf-jobs`, runner `tf`'s namespace: its manager or jobs could read every runner's token through it"), "{refused}");
    assert!(errors[0].ends_with("error[E020]: runner `tf` of `stg` would use namespace `gitlab-stg-tf-jobs`, where environment `dev` (same cluster) keeps its Key Vault store's account: its manager or jobs could read every runner token of `dev`"), "{refused}");
}
