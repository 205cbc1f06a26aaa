//! `runnergen import`: the article's fleet in fixtures/import/ (`terraform show -json` and
//! `terraform state pull`) imported, validated and rendered, and the rendered files held to
//! what the STATE says, read here on its own (not through import's mapping): no identity
//! renamed, no role lost or gained, the same credentials, Graph permissions, cluster-admin,
//! namespaces, service accounts, tags and GitLab paths; tokens planted in the state appear
//! nowhere; what cannot be mapped is listed.

use crate::common::{assert_golden, root, runnergen};
use runnergen::readback;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One resource instance of a state: its module, mode, type, index and values.
struct Res {
    module: String,
    data: bool,
    kind: String,
    index: Value,
    values: Value,
}

/// Every resource of `terraform show -json` or `terraform state pull` output.
fn resources(path: &str) -> Vec<Res> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap();
    let mut out = Vec::new();
    if doc["version"] == 4 {
        for r in doc["resources"].as_array().unwrap() {
            for i in r["instances"].as_array().unwrap() {
                out.push(Res {
                    module: r["module"].as_str().unwrap_or("").into(),
                    data: r["mode"] == "data",
                    kind: r["type"].as_str().unwrap().into(),
                    index: i["index_key"].clone(),
                    values: i["attributes"].clone(),
                });
            }
        }
    } else {
        let mut modules = vec![doc["values"]["root_module"].clone()];
        while let Some(m) = modules.pop() {
            for r in m["resources"].as_array().into_iter().flatten() {
                out.push(Res {
                    module: m["address"].as_str().unwrap_or("").into(),
                    data: r["mode"] == "data",
                    kind: r["type"].as_str().unwrap().into(),
                    index: r["index"].clone(),
                    values: r["values"].clone(),
                });
            }
            modules.extend(m["child_modules"].as_array().cloned().unwrap_or_default());
        }
    }
    out
}

/// What the state says about one runner, in the words the rendered files use.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Facts {
    pub(crate) identity: String,
    pub(crate) client_id: String,
    pub(crate) credential: String,
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) roles: BTreeSet<(String, String)>,
    pub(crate) graph: BTreeSet<String>,
    pub(crate) cluster_admin: bool,
    pub(crate) namespace: String,
    pub(crate) service_account: String,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) path: String,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

/// The state's runners, keyed by the identities' `for_each` keys.
fn state_facts(path: &str) -> BTreeMap<String, Facts> {
    let rs = resources(path);
    let mut out: BTreeMap<String, Facts> = BTreeMap::new();
    let mut by_principal = BTreeMap::new();
    for r in rs
        .iter()
        .filter(|r| r.kind == "azurerm_user_assigned_identity")
    {
        let f = out.entry(s(&r.index)).or_default();
        f.identity = s(&r.values["name"]);
        f.client_id = s(&r.values["client_id"]);
        by_principal.insert(s(&r.values["principal_id"]), s(&r.index));
    }
    let graph = rs
        .iter()
        .find(|r| r.kind == "azuread_service_principal")
        .unwrap();
    let app_roles: BTreeMap<String, String> = graph.values["app_role_ids"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (s(v), k.clone()))
        .collect();
    let mut admins = Vec::new();
    for r in &rs {
        let module_key = r.module.split('"').nth(1).map(str::to_owned);
        let v = &r.values;
        match r.kind.as_str() {
            "azurerm_federated_identity_credential" => {
                let f = out.get_mut(&s(&r.index)).unwrap();
                f.credential = s(&v["name"]);
                f.issuer = s(&v["issuer"]);
                f.subject = s(&v["subject"]);
            }
            "azurerm_role_assignment" => {
                let Some(k) = by_principal.get(&s(&v["principal_id"])) else {
                    continue;
                };
                let role = (s(&v["role_definition_name"]), s(&v["scope"]).to_lowercase());
                out.get_mut(k).unwrap().roles.insert(role);
            }
            "azuread_app_role_assignment" => {
                let k = &by_principal[&s(&v["principal_object_id"])];
                let p = app_roles[&s(&v["app_role_id"])].clone();
                out.get_mut(k).unwrap().graph.insert(p);
            }
            _ => {}
        }
        let Some(k) = module_key else { continue };
        let f = out.get_mut(&k).unwrap();
        match (r.data, r.kind.as_str()) {
            (false, "kubernetes_namespace_v1") => f.namespace = s(&v["metadata"][0]["name"]),
            (false, "kubernetes_service_account_v1") => {
                f.service_account = s(&v["metadata"][0]["name"]);
            }
            (false, "kubernetes_cluster_role_binding_v1")
                if v["role_ref"][0]["name"] == "cluster-admin" =>
            {
                let subject = &v["subject"][0];
                admins.push((k, s(&subject["namespace"]), s(&subject["name"])));
            }
            (false, "gitlab_user_runner") => {
                f.tags = v["tag_list"].as_array().unwrap().iter().map(s).collect();
            }
            (true, "gitlab_group") => f.path = s(&v["full_path"]),
            (true, "gitlab_project") => f.path = s(&v["path_with_namespace"]),
            _ => {}
        }
    }
    for (k, ns, sa) in admins {
        let f = out.get_mut(&k).unwrap();
        f.cluster_admin = f.namespace == ns && f.service_account == sa;
    }
    out
}

/// The federated credentials of the rendered main.json: identity → (name, issuer, subject).
fn rendered_credentials(main: &Value, out: &mut BTreeMap<String, (String, String, String)>) {
    match main {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str)
                == Some(
                    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                )
            {
                let name = o["name"].as_str().unwrap();
                let quoted: Vec<&str> = name.split('\'').collect();
                let p = &o["properties"];
                out.insert(
                    quoted[3].to_owned(),
                    (quoted[5].to_owned(), s(&p["issuer"]), s(&p["subject"])),
                );
            }
            o.values().for_each(|v| rendered_credentials(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| rendered_credentials(v, out)),
        _ => {}
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runnergen-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Imports `state` in a scratch folder of its own (`test` names it), checks the goldens,
/// validates and renders; the rendered files.
fn import_and_render(state: &str, golden: &str, test: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = scratch(&format!("{golden}-{test}"));
    let spec = dir.join("runnergen.yaml");
    let out = runnergen(&["import", state, "--out-spec", spec.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_golden(
        &format!("fixtures/import/expected/{golden}.runnergen.yaml"),
        &std::fs::read(&spec).unwrap(),
    );
    assert_golden(
        "fixtures/import/expected/ss.identity-outputs.json",
        &std::fs::read(dir.join("ss.identity-outputs.json")).unwrap(),
    );
    assert_golden("fixtures/import/expected/state-rm.txt", &out.stdout);
    assert_eq!(
        stderr,
        format!(
            "wrote {}, {}\n",
            spec.display(),
            dir.join("ss.identity-outputs.json").display()
        )
    );
    let written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        written.len(),
        2,
        "import writes only the files it names: {written:?}"
    );
    let valid = runnergen(&["validate", spec.to_str().unwrap()]);
    assert_eq!(
        valid.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );
    let rendered = dir.join("out");
    let render = runnergen(&[
        "render",
        spec.to_str().unwrap(),
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert_eq!(
        render.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    for stream in [&out.stdout, &out.stderr, &valid.stderr, &render.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains("PLANTED"));
    }
    read_tree(&rendered)
}

#[test]
fn the_articles_fleet_imports_and_renders_what_its_state_holds() {
    for (state, golden) in [
        ("fixtures/import/show.json", "show"),
        ("fixtures/import/state-pull.json", "state-pull"),
    ] {
        let tree = import_and_render(state, golden, "facts");
        for (path, bytes) in &tree {
            assert!(
                !String::from_utf8_lossy(bytes).contains("PLANTED"),
                "a planted token reached {path}"
            );
        }
        let expected = state_facts(state);
        assert_eq!(expected.len(), 3);
        let got = rendered_facts(&tree);
        let keys: BTreeSet<&String> = got.keys().map(|(_, r)| r).collect();
        assert_eq!(keys, expected.keys().collect(), "{state}: the same runners");
        for (key, want) in &expected {
            assert_eq!(
                &got[&("ss".to_owned(), key.clone())],
                want,
                "{state}: runner `{key}`"
            );
        }
    }
}

/// What the rendered files say of each runner, keyed by (environment, runner), in the words
/// of [`Facts`]: the access readback, the credentials of main.json, the runner's own tag
/// (`<env>-<key>`, which runnergen adds) left out. The job side's account and namespace must
/// be the manager's (one shared account).
pub(crate) fn rendered_facts(
    tree: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<(String, String), Facts> {
    let mut credentials = BTreeMap::new();
    for (_, bytes) in tree.iter().filter(|(p, _)| p.ends_with("/azure/main.json")) {
        let main: Value = serde_json::from_slice(bytes).unwrap();
        rendered_credentials(&main, &mut credentials);
    }
    let mut out = BTreeMap::new();
    for ((env, key), a) in readback::access(tree) {
        let id = a.identity.as_ref().unwrap();
        let w = a.workload.as_ref().unwrap();
        let t = a.trigger.as_ref().unwrap();
        let roles: BTreeSet<(String, String)> = a
            .roles
            .iter()
            .map(|(r, sc)| (r.clone(), sc.to_lowercase()))
            .collect();
        let own_tag = format!("{env}-{key}");
        let tags: BTreeSet<String> = t.tags.iter().filter(|t| **t != own_tag).cloned().collect();
        let credential = &credentials[&id.name];
        assert_eq!(
            w.job_service_account, w.manager_service_account,
            "one shared account"
        );
        assert_eq!(w.job_namespace, w.namespace);
        let facts = Facts {
            identity: id.name.clone(),
            client_id: id.client_id.clone().unwrap(),
            credential: credential.0.clone(),
            issuer: credential.1.clone(),
            subject: credential.2.clone(),
            roles,
            graph: a.graph.clone(),
            cluster_admin: a.kubernetes == Some(runnergen::spec::KubernetesAccess::ClusterAdmin),
            namespace: w.namespace.clone(),
            service_account: w.manager_service_account.clone(),
            tags,
            path: t.path.clone(),
        };
        out.insert((env, key), facts);
    }
    out
}

/// The (kind, namespace, name) of every object of the rendered YAML files.
fn rendered_objects(tree: &BTreeMap<String, Vec<u8>>) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (path, bytes) in tree.iter().filter(|(p, _)| p.ends_with(".yaml")) {
        let text = String::from_utf8_lossy(bytes);
        for doc in text.split("\n---") {
            let Ok(v) = serde_saphyr::from_str::<Value>(doc) else {
                panic!("{path} parses");
            };
            let (Some(kind), Some(name)) = (v["kind"].as_str(), v["metadata"]["name"].as_str())
            else {
                continue;
            };
            let ns = v["metadata"]["namespace"].as_str().unwrap_or("");
            out.insert((kind.to_lowercase(), ns.to_owned(), name.to_owned()));
        }
    }
    out
}

/// After `terraform state rm`, the article's RBAC objects stay in the cluster: import names for
/// deletion exactly those the render does not hold under the same name (the state read on its
/// own, the render parsed on its own), so none is left granting and none of runnergen's is
/// deleted.
#[test]
fn the_rbac_import_names_for_deletion_is_what_the_render_lacks() {
    let tree = import_and_render("fixtures/import/show.json", "show", "rbac");
    let rendered = rendered_objects(&tree);
    let listed =
        std::fs::read_to_string(root().join("fixtures/import/expected/state-rm.txt")).unwrap();
    let deleted: BTreeSet<(String, String, String)> = listed
        .lines()
        .filter_map(|l| l.strip_prefix("kubectl delete "))
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            let ns = if w.len() == 4 && w[2] == "--namespace" {
                w[3]
            } else {
                ""
            };
            (w[0].to_owned(), ns.to_owned(), w[1].to_owned())
        })
        .collect();
    assert!(!deleted.is_empty());
    let mut state = BTreeSet::new();
    for r in resources("fixtures/import/show.json") {
        let kind = match r.kind.trim_end_matches("_v1") {
            "kubernetes_role" => "role",
            "kubernetes_role_binding" => "rolebinding",
            "kubernetes_cluster_role_binding" => "clusterrolebinding",
            _ => continue,
        };
        let m = &r.values["metadata"][0];
        let ns = m["namespace"].as_str().unwrap_or("");
        state.insert((kind.to_owned(), ns.to_owned(), s(&m["name"])));
    }
    for o in &state {
        assert_eq!(
            deleted.contains(o),
            !rendered.contains(o),
            "{o:?}: named for deletion exactly when the render lacks it"
        );
    }
    assert!(deleted.is_subset(&state), "{deleted:?}");
    // The executor's Role keeps its name (the manager's account's); its binding and the
    // cluster-admin binding do not.
    assert!(rendered.contains(&(
        "role".into(),
        "gitlab-3f9a1c".into(),
        "gitlab-runner-3f9a1c".into()
    )));
    assert!(deleted.contains(&(
        "clusterrolebinding".into(),
        String::new(),
        "gitlab-runner-admin-3f9a1c".into()
    )));
}

#[test]
fn what_cannot_be_mapped_is_listed_and_the_spec_still_written() {
    let dir = scratch("variant");
    let spec = dir.join("runnergen.yaml");
    let out = runnergen(&[
        "import",
        "fixtures/import/variant.json",
        "--out-spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "wrote {}, {}\nnot mapped (2), listed at the top of {} too:\n  - azurerm_key_vault.gitlab: resource type `azurerm_key_vault` has no runnergen counterpart\n  - azurerm_role_assignment.ops_reader: a role assignment (`Reader` at `/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-weu-ss-gitlab`) whose principal `0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0` is no runner's identity\n",
        spec.display(),
        dir.join("ss.identity-outputs.json").display(),
        spec.display()
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), expected);
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("# NOT MAPPED (2)"), "{text}");
    assert!(text.contains("#   - azurerm_key_vault.gitlab: resource type"));
    let rm = String::from_utf8_lossy(&out.stdout);
    assert!(
        !rm.contains("ops_reader") && !rm.contains("azurerm_key_vault"),
        "{rm}"
    );
    assert!(!rm.contains("PLANTED") && !text.contains("PLANTED"));
}

#[test]
fn import_never_overwrites_and_refuses_what_is_no_state() {
    let dir = scratch("refuse");
    let spec = dir.join("runnergen.yaml");
    std::fs::write(&spec, "mine\n").unwrap();
    let out = runnergen(&[
        "import",
        "fixtures/import/show.json",
        "--out-spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), "mine\n");
    assert!(
        !dir.join("ss.identity-outputs.json").exists(),
        "nothing written"
    );
    let forced = runnergen(&[
        "import",
        "fixtures/import/show.json",
        "--out-spec",
        spec.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(forced.status.code(), Some(0));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"version": 3, "modules": []}"#).unwrap();
    let other = dir.join("other.yaml");
    let out = runnergen(&[
        "import",
        bad.to_str().unwrap(),
        "--out-spec",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("state format version 3 is not supported")
    );
    assert!(!other.exists());
}
