//! The review's promise as a property: on generated fleets, a random privilege-relevant edit
//! (roles, Graph, Kubernetes access, privileged pods, who can trigger the runner, the GitLab
//! the manager trusts, job-pod settings and placement, shared accounts, the job namespace)
//! makes `diff` widen (exit 3) exactly when the access read back from the new rendered files
//! is not contained in the access read back from the old ones. The oracle here is written
//! apart from `diff`: it reads both trees with `readback::access` and decides containment by
//! Azure's, GitLab's and Kubernetes' rules as stated below.

use crate::properties::spec_gen;
use proptest::prelude::*;
use runnergen::access::Access;
use runnergen::spec::{KubernetesAccess, RunnerType};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One edit of one runner (or of the fleet, for the GitLab URL and the naming).
#[derive(Debug, Clone)]
enum Edit {
    AddRole(usize, usize),
    RemoveRole,
    AddGraph(usize),
    RemoveGraph,
    KubernetesAccess(usize),
    Privileged(bool),
    RunUntagged(bool),
    Protected(bool),
    AddTag(String),
    RemoveTag,
    Path(bool),
    Locked(bool),
    GitlabUrl,
    ChartRepository,
    ChartImage,
    Cache(bool),
    Extra(usize),
    ChartValue(usize),
    NodeSelector(bool),
    Shared(bool),
    JobNamespace,
}

// The generated fleets' roles (`properties::ROLES`), and Graph permissions with one that
// covers another.
use crate::properties::ROLES;
const GRAPH: &[&str] = &[
    "Group.Read.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
    "Group.ReadWrite.All",
];
const EXTRA: &[(&str, &str)] = &[
    ("cap_add", r#"["NET_ADMIN"]"#),
    ("allow_privilege_escalation", "true"),
    ("pull_policy", r#"["always"]"#),
    ("cap_drop", r#"["ALL"]"#),
    ("poll_timeout", "600"),
];
/// Chart values a user adds to one runner: the manager's security context, host access, a
/// proxy, and its resources (which bound it, so no widening).
const CHART: &[&str] = &[
    r#"{"securityContext": {"privileged": true}}"#,
    r#"{"hostNetwork": true}"#,
    r#"{"envVars": [{"name": "HTTPS_PROXY", "value": "http://proxy.example:3128"}]}"#,
    r#"{"resources": {"limits": {"cpu": "1"}}}"#,
];

fn edit_gen() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..ROLES.len(), 0usize..4).prop_map(|(r, s)| Edit::AddRole(r, s)),
        Just(Edit::RemoveRole),
        (0..GRAPH.len()).prop_map(Edit::AddGraph),
        Just(Edit::RemoveGraph),
        (0usize..3).prop_map(Edit::KubernetesAccess),
        any::<bool>().prop_map(Edit::Privileged),
        any::<bool>().prop_map(Edit::RunUntagged),
        any::<bool>().prop_map(Edit::Protected),
        "[a-z][a-z0-9]{0,6}".prop_map(Edit::AddTag),
        Just(Edit::RemoveTag),
        any::<bool>().prop_map(Edit::Path),
        any::<bool>().prop_map(Edit::Locked),
        Just(Edit::GitlabUrl),
        Just(Edit::ChartRepository),
        Just(Edit::ChartImage),
        any::<bool>().prop_map(Edit::Cache),
        (0..EXTRA.len()).prop_map(Edit::Extra),
        (0..CHART.len()).prop_map(Edit::ChartValue),
        any::<bool>().prop_map(Edit::NodeSelector),
        any::<bool>().prop_map(Edit::Shared),
        Just(Edit::JobNamespace),
    ]
}

fn scope(i: usize) -> Value {
    match i {
        0 => json!({"subscription": "apps"}),
        1 => json!({"subscription": "shared"}),
        2 => json!({"subscription": "shared", "resourceGroup": "rg-shared"}),
        _ => {
            json!({"resource": format!("/subscriptions/{}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/acr1", crate::properties::guid(200))})
        }
    }
}

/// Writes runner `pick` of `before` and `after` with `environments: [env]`, its edit in
/// `overrides.<env>` (each top-level field the edit changed, whole: lists replace, mappings
/// merge). An edit that removes a field cannot be an override: it stays as it was.
fn through_override(before: &mut Value, after: &mut Value, pick: usize) {
    let key = {
        let runners = before["runners"].as_object().unwrap();
        runners.keys().nth(pick % runners.len()).unwrap().clone()
    };
    let (old, new) = (
        before["runners"][&key].clone(),
        after["runners"][&key].clone(),
    );
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return;
    };
    if o.keys().any(|k| !n.contains_key(k)) {
        return;
    }
    let env = o["environment"].clone();
    let mut runner = o.clone();
    runner.remove("environment");
    runner.insert("environments".into(), json!([env]));
    let changed: serde_json::Map<String, Value> = n
        .iter()
        .filter(|(k, v)| o.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    before["runners"][&key] = Value::Object(runner.clone());
    if !changed.is_empty() {
        runner.insert(
            "overrides".into(),
            json!({ env.as_str().unwrap(): Value::Object(changed) }),
        );
    }
    after["runners"][&key] = Value::Object(runner);
}

/// Applies `edit` to the runner `pick` (modulo their number) of `spec`.
fn apply(spec: &mut Value, pick: usize, edit: &Edit) {
    if let Edit::GitlabUrl = edit {
        spec["gitlab"]["url"] = json!("https://gitlab.other.example/");
        return;
    }
    if let Edit::ChartRepository = edit {
        spec["chart"] = json!({"repository": "https://charts.other.example"});
        return;
    }
    if let Edit::ChartImage = edit {
        spec["chart"] =
            json!({"image": "registry.example.com/gitlab-org/gitlab-runner:alpine-v18.9.0"});
        return;
    }
    if let Edit::JobNamespace = edit {
        spec["naming"] = json!({"jobNamespace": "ci-{runner}-jobs"});
        return;
    }
    let runners = spec["runners"].as_object_mut().unwrap();
    let key = runners.keys().nth(pick % runners.len()).unwrap().clone();
    let r = &mut runners[&key];
    let list = |v: &mut Value, f: &dyn Fn(&mut Vec<Value>)| {
        let mut items = v.as_array().cloned().unwrap_or_default();
        f(&mut items);
        *v = Value::Array(items);
    };
    match edit {
        Edit::AddRole(role, s) => {
            let entry = json!({"role": ROLES[*role], "scope": scope(*s)});
            list(&mut r["identity"]["roles"], &|v| {
                if !v.contains(&entry) {
                    v.push(entry.clone())
                }
            });
        }
        Edit::RemoveRole => list(&mut r["identity"]["roles"], &|v| {
            v.pop();
        }),
        Edit::AddGraph(g) => list(&mut r["identity"]["graphPermissions"], &|v| {
            if !v.contains(&json!(GRAPH[*g])) {
                v.push(json!(GRAPH[*g]))
            }
        }),
        Edit::RemoveGraph => list(&mut r["identity"]["graphPermissions"], &|v| {
            v.pop();
        }),
        Edit::KubernetesAccess(a) => {
            r["identity"]["kubernetesAccess"] = json!(["none", "namespace", "cluster-admin"][*a])
        }
        Edit::Privileged(p) => r["privileged"] = json!(p),
        Edit::RunUntagged(u) => r["runUntagged"] = json!(u),
        Edit::Protected(p) => {
            r["accessLevel"] = json!(if *p { "ref_protected" } else { "not_protected" })
        }
        Edit::AddTag(t) => list(&mut r["tags"], &|v| {
            if !v.contains(&json!(t)) {
                v.push(json!(t))
            }
        }),
        Edit::RemoveTag => list(&mut r["tags"], &|v| {
            v.pop();
        }),
        // Into a subgroup of its own path (within its reach), or to another group.
        Edit::Path(inside) => {
            let path = r["path"].as_str().unwrap().to_owned();
            r["path"] = json!(if *inside {
                format!("{path}/sub")
            } else {
                "other/place".to_owned()
            });
        }
        Edit::Locked(l) => r["locked"] = json!(l),
        Edit::Extra(i) => {
            let (k, v) = EXTRA[*i];
            let value: Value = serde_json::from_str(v).unwrap();
            r["kubernetes"] = json!({"extra": {k: value}});
        }
        Edit::ChartValue(i) => {
            let values: Value = serde_json::from_str(CHART[*i]).unwrap();
            r["chart"] = json!({"values": values});
        }
        Edit::NodeSelector(on) => {
            if *on {
                r["nodeSelector"] = json!({"pool": "shared"});
            } else if let Some(o) = r.as_object_mut() {
                o.remove("nodeSelector");
            }
        }
        Edit::Shared(s) => r["serviceAccounts"] = json!(if *s { "shared" } else { "separate" }),
        // A blob cache: with separate accounts the manager signs its SAS as an identity of its
        // own, with a role on the storage account.
        Edit::Cache(on) => {
            if *on {
                r["cache"] = json!({
                    "storageAccountId": format!("/subscriptions/{}/resourceGroups/rg-cache/providers/Microsoft.Storage/storageAccounts/stother", crate::properties::guid(200)),
                    "container": "cache",
                });
            } else if let Some(o) = r.as_object_mut() {
                o.remove("cache");
            }
        }
        Edit::GitlabUrl | Edit::ChartRepository | Edit::ChartImage | Edit::JobNamespace => {
            unreachable!()
        }
    }
}

// ---- The oracle: containment of the new access in the old, by the platforms' rules. ----

/// What each generated role may do, as far as containment goes: control-plane roles by the
/// actions of their Azure definitions (Owner `*`; Contributor `*` less authorization writes;
/// User Access Administrator `*/read` and `Microsoft.Authorization/*`; Reader `*/read`;
/// AcrPush push and pull; AcrPull pull, a `/read` action), the data-plane role apart (Key
/// Vault Secrets User: data actions only, which no control-plane role grants).
fn role_covers(old: &str, new: &str) -> bool {
    if old == new {
        return true;
    }
    let covered: &[&str] = match old {
        "Owner" => &[
            "Contributor",
            "Reader",
            "AcrPush",
            "AcrPull",
            "User Access Administrator",
        ],
        "Contributor" => &["Reader", "AcrPush", "AcrPull"],
        "User Access Administrator" => &["Reader", "AcrPull"],
        "Reader" => &["AcrPull"],
        "AcrPush" => &["AcrPull"],
        _ => &[],
    };
    covered.contains(&new)
}

fn scope_contains(wide: &str, narrow: &str) -> bool {
    let (w, n) = (wide.to_lowercase(), narrow.to_lowercase());
    n == w || n.starts_with(&format!("{w}/"))
}

fn roles_within(old: &[(String, String)], new: &[(String, String)]) -> bool {
    new.iter().all(|(role, scope)| {
        old.iter()
            .any(|(r, s)| role_covers(r, role) && scope_contains(s, scope))
    })
}

/// Microsoft Graph: `X.ReadWrite.All` grants what `X.Read.All` does.
fn graph_within(
    old: &std::collections::BTreeSet<String>,
    new: &std::collections::BTreeSet<String>,
) -> bool {
    new.iter()
        .all(|p| old.contains(p) || old.contains(&p.replace(".Read.", ".ReadWrite.")))
}

fn level(k: KubernetesAccess) -> u8 {
    match k {
        KubernetesAccess::None => 0,
        KubernetesAccess::Namespace => 1,
        KubernetesAccess::ClusterAdmin => 2,
    }
}

/// GitLab: a job runs on a runner when all its tags are among the runner's; a group runner
/// takes the jobs of its subgroups and projects.
fn trigger_within(old: &Access, new: &Access) -> bool {
    let (Some(a), Some(b)) = (&old.trigger, &new.trigger) else {
        return true;
    };
    let reach = match (a.runner_type, b.runner_type) {
        (RunnerType::Group, _) => b.path == a.path || b.path.starts_with(&format!("{}/", a.path)),
        (RunnerType::Project, RunnerType::Project) => a.path == b.path,
        _ => false,
    };
    // Locked to its project is the narrower: unlocking lets other projects enable it.
    let lock = !a.locked || b.locked;
    reach && lock && b.tags.iter().all(|t| a.tags.contains(t))
}

/// Whether everything `new` may do, `old` could already; Kubernetes facts count where the new
/// side renders them.
fn within(old: &Access, new: &Access) -> bool {
    let le = |a: Option<bool>, b: Option<bool>| b.is_none() || b <= a.or(Some(false));
    let k8s = match (old.kubernetes, new.kubernetes) {
        (_, None) => true,
        (a, Some(b)) => level(b) <= level(a.unwrap_or_default()),
    };
    let workload = match (&old.workload, &new.workload) {
        (Some(a), Some(b)) => {
            (a.shared_service_account || !b.shared_service_account)
                && a.job_namespace == b.job_namespace
        }
        _ => true,
    };
    let pods = match (&old.pods, &new.pods) {
        (Some(a), Some(b)) => {
            let relevant = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
                m.iter()
                    .filter(|(k, _)| !runnergen::facts::KUBERNETES_NO_EFFECT.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            relevant(&a.extra) == relevant(&b.extra)
                && (new.privileged != Some(true)
                    || (a.node_selector == b.node_selector && a.tolerations == b.tolerations))
        }
        _ => true,
    };
    roles_within(&old.roles, &new.roles)
        && roles_within(&old.manager_roles, &new.manager_roles)
        && graph_within(&old.graph, &new.graph)
        && k8s
        && le(old.privileged, new.privileged)
        && le(old.run_untagged, new.run_untagged)
        && !(old.protected == Some(true) && new.protected == Some(false))
        && trigger_within(old, new)
        && old.gitlab_url == new.gitlab_url
        && (old.workload.is_none()
            || new.workload.is_none()
            || (old.chart_repository == new.chart_repository && old.chart_image == new.chart_image))
        && workload
        && pods
        && chart_values_within(old, new)
}

/// The manager's chart values beyond runnergen's: the same, but for its resources.
fn chart_values_within(old: &Access, new: &Access) -> bool {
    let (Some(a), Some(b)) = (&old.chart_values, &new.chart_values) else {
        return true;
    };
    let relevant = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter(|(k, _)| !k.starts_with("/resources/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    relevant(a) == relevant(b)
}

fn files(tree: &runnergen::tree::Tree) -> BTreeMap<String, Vec<u8>> {
    tree.iter()
        .map(|(p, b)| (p.to_owned(), b.to_vec()))
        .collect()
}

proptest! {
    // A fixed seed: CI explores the same 128 cases every run, so a failure is reproducible.
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x2028),
        ..ProptestConfig::default()
    })]

    #[test]
    fn diff_widens_exactly_when_the_read_back_access_grows(
        spec in spec_gen(),
        pick in 0usize..8,
        edit in edit_gen(),
        via_override in any::<bool>(),
    ) {
        let mut spec = spec;
        let mut edited = spec.clone();
        apply(&mut edited, pick, &edit);
        if via_override {
            through_override(&mut spec, &mut edited, pick);
        }
        let before = serde_json::to_string_pretty(&spec).unwrap();
        let after = serde_json::to_string_pretty(&edited).unwrap();
        // Some edits make a generated spec invalid (a cache without separate accounts, a
        // privileged runner's volumes): those are not reviews.
        let (Ok(old), Ok(new)) = (runnergen::compile("fleet.yaml", &before), runnergen::compile("fleet.yaml", &after)) else {
            return Ok(());
        };
        let (a, b) = (runnergen::readback::access(&files(&old)), runnergen::readback::access(&files(&new)));
        let grows = b.iter().any(|(k, nb)| !within(a.get(k).unwrap_or(&Access::default()), nb));

        let dir = std::env::temp_dir().join(format!("runnergen-widen-{}-{}", std::process::id(), rand_suffix(&after)));
        let _ = std::fs::remove_dir_all(&dir);
        runnergen::outdir::write(&old, &dir, &runnergen::outdir::Options::default()).unwrap();
        let resolved = runnergen::compile::resolve(&after, &runnergen::compile::no_files).unwrap();
        let report = runnergen::diff::diff_render(&resolved.fleet, "fleet.yaml", &runnergen::outdir::Base::from_dir(&dir)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let widens = report.security.iter().any(|c| c.widens());
        prop_assert_eq!(
            widens, grows,
            "edit {:?} on runner {} (through an override: {}): diff says {:?}",
            edit, pick, via_override, report.security.iter().map(|c| (c.kind.name(), c.message.clone())).collect::<Vec<_>>()
        );
    }
}

/// A short stable name for a case's directory.
fn rand_suffix(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:x}", h.finish())
}

/// The classification of `kubernetes.extra` keys names only keys gitlab-runner knows, none that
/// runnergen writes or refuses itself.
#[test]
fn the_no_effect_keys_are_known_and_not_runnergens() {
    for key in runnergen::facts::KUBERNETES_NO_EFFECT {
        assert!(
            runnergen::facts::KUBERNETES_CONFIG_KEYS.contains(key),
            "{key}"
        );
        assert!(
            !runnergen::vocab::RUNNER_KUBERNETES_KEYS.contains(key),
            "{key}"
        );
        assert!(
            !runnergen::spec::escape::KUBERNETES_OWNED
                .iter()
                .any(|(k, _)| k == key),
            "{key}"
        );
    }
}
