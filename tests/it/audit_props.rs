//! `runnergen audit` as a property of every golden tree (`out/` and each `fixtures/*/expected`
//! whose fixture has a `runners.yaml`): live state synthesized here from the tree's files,
//! apart from `src/audit` (main.json's `metadata.runnergen` summary and its federated
//! credential resources, the Kubernetes documents of the YAML files, each `registration.json`),
//!
//! 1. audits clean (exit 0, no finding) as it is;
//! 2. with one out-of-band grant added (a role assignment, a federated credential, a binding to
//!    `admin`, a hand-registered GitLab runner that can take the runner's jobs) exits 3 and
//!    names that grant against the runner it widens;
//! 3. with one rendered thing removed (a role assignment, a credential, an identity, a
//!    namespace, a service account, a binding, an ExternalSecret, a GitLab runner) exits 1 and
//!    names it missing against its runner.
//!
//! Out of audit's scope, so never generated: grants on the Key Vault store's identity (audit
//! reports per runner, and that identity is the environment's, no runner's: its credential
//! and identity are exported here but never changed) and instance runners (docs/audit.md:
//! "Instance runners are not audited"; the GitLab export lists groups' and projects' own).
//! A multi-cluster tree is audited an environment at a time (one `--kubernetes` export is one
//! cluster's).
//!
//! What the files do not say is made up, deterministically: principal IDs, assignment and
//! GitLab runner IDs, and client IDs where the summary has none (an identity not yet deployed).

use crate::common::root;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FIC_TYPE: &str =
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials";
const OWNER: (&str, &str) = ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635");
const CONTRIBUTOR: (&str, &str) = ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c");
/// The kinds `kubectl get ns,sa,role,rolebinding,clusterrolebinding,externalsecret,
/// clustersecretstore` lists.
const KINDS: &[&str] = &[
    "Namespace",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRoleBinding",
    "ExternalSecret",
    "ClusterSecretStore",
];

/// Every golden tree, relative to the crate root.
fn golden_trees() -> Vec<String> {
    let mut out = vec!["out".to_owned()];
    let mut fixtures: Vec<String> = std::fs::read_dir(root().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("runners.yaml").is_file() && p.join("expected").is_dir())
        .map(|p| {
            format!(
                "fixtures/{}/expected",
                p.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    fixtures.sort();
    out.extend(fixtures);
    out
}

/// A made-up GUID, the same for the same seed (FNV-1a, twice).
fn guid(seed: &str) -> String {
    let fnv = |salt: u64| {
        seed.bytes().fold(0xcbf2_9ce4_8422_2325 ^ salt, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    };
    let (a, b) = (fnv(1), fnv(2));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// A managed identity the tree deploys, and what it is granted.
#[derive(Debug, Clone)]
struct Ident {
    name: String,
    rg: String,
    sub: String,
    client_id: String,
    principal: String,
    /// (role, role definition GUID, scope).
    roles: Vec<(String, String, String)>,
    /// (credential name, issuer, subject).
    creds: Vec<(String, String, String)>,
    /// (env, runner) whose identity or cache identity it is; none for the store's.
    owners: Vec<(String, String)>,
}

impl Ident {
    fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourcegroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
            self.sub, self.rg, self.name
        )
    }
}

#[derive(Debug, Clone)]
struct RunnerFacts {
    env: String,
    key: String,
    /// (kind, namespace, name) of the Kubernetes objects of its files.
    objects: Vec<(String, String, String)>,
    registration: Option<Value>,
    gitlab_id: u64,
}

/// A golden tree as the synthesizer reads it.
#[derive(Debug, Clone)]
struct Golden {
    dir: String,
    envs: Vec<String>,
    idents: Vec<Ident>,
    runners: Vec<RunnerFacts>,
    /// Every Kubernetes object of the kinds kubectl exports, by environment.
    kube: Vec<(String, Value)>,
    /// Each environment's cluster, as the OIDC issuer of its credentials: environments on
    /// one cluster are in one `kubectl get` export.
    clusters: BTreeMap<String, String>,
}

impl Golden {
    /// The environments on the cluster of `env` (all when `None`: one cluster only).
    fn cluster_envs(&self, env: Option<&str>) -> Vec<String> {
        match env {
            None => self.envs.clone(),
            Some(env) => self
                .envs
                .iter()
                .filter(|e| self.clusters[*e] == self.clusters[env])
                .cloned()
                .collect(),
        }
    }

    fn one_cluster(&self) -> bool {
        self.clusters
            .values()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 1
    }
}

fn dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The documents of a multi-document YAML file.
fn yaml_docs(text: &str) -> Vec<Value> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            let last = docs.last_mut().unwrap();
            last.push_str(line);
            last.push('\n');
        }
    }
    docs.iter()
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .filter(Value::is_object)
        .collect()
}

/// (identity, credential) of an ARM child resource name: `[format('{0}/{1}', 'a', 'b')]` or
/// `a/b`.
fn child(name: &str) -> (String, String) {
    if let Some(args) = name
        .strip_prefix("[format('{0}/{1}', '")
        .and_then(|r| r.strip_suffix("')]"))
    {
        let (a, b) = args.split_once("', '").expect("two literals");
        return (a.replace("''", "'"), b.replace("''", "'"));
    }
    let (a, b) = name.split_once('/').expect("identity/credential");
    (a.to_owned(), b.to_owned())
}

/// An ARM string that may be a literal escaped with `[[`.
fn literal(v: &Value) -> String {
    let s = v.as_str().unwrap_or_default();
    s.strip_prefix("[[")
        .map_or_else(|| s.to_owned(), |r| format!("[{r}"))
}

fn collect_credentials(v: &Value, out: &mut Vec<(String, String, String, String)>) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some(FIC_TYPE) {
                let (identity, cred) = child(o["name"].as_str().unwrap());
                let p = &o["properties"];
                out.push((
                    identity,
                    cred,
                    literal(&p["issuer"]),
                    literal(&p["subject"]),
                ));
            }
            o.values().for_each(|c| collect_credentials(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_credentials(c, out)),
        _ => {}
    }
}

fn read_golden(dir: &str) -> Golden {
    let base = root().join(dir);
    let mut g = Golden {
        dir: dir.to_owned(),
        envs: Vec::new(),
        idents: Vec::new(),
        runners: Vec::new(),
        kube: Vec::new(),
        clusters: BTreeMap::new(),
    };
    let mut credentials = Vec::new();
    let add_ident = |g: &mut Golden, facts: &Value, roles: &Value, owner: Option<(&str, &str)>| {
        let s = |k: &str| facts[k].as_str().unwrap_or_default().to_owned();
        let (name, rg, sub) = (s("name"), s("resourceGroup"), s("subscriptionId"));
        let at = match g
            .idents
            .iter()
            .position(|i| i.name.eq_ignore_ascii_case(&name) && i.rg.eq_ignore_ascii_case(&rg))
        {
            Some(at) => at,
            None => {
                let seed = format!("{sub}/{rg}/{name}");
                g.idents.push(Ident {
                    client_id: facts["clientId"]
                        .as_str()
                        .map_or_else(|| guid(&format!("client {seed}")), str::to_owned),
                    principal: guid(&format!("principal {seed}")),
                    name,
                    rg,
                    sub,
                    roles: Vec::new(),
                    creds: Vec::new(),
                    owners: Vec::new(),
                });
                g.idents.len() - 1
            }
        };
        for r in roles.as_array().into_iter().flatten() {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            let role = (s("role"), s("roleDefinitionId"), s("scope"));
            if !g.idents[at].roles.contains(&role) {
                g.idents[at].roles.push(role);
            }
        }
        if let Some((env, key)) = owner {
            g.idents[at].owners.push((env.to_owned(), key.to_owned()));
        }
    };
    for env_dir in dirs(&base) {
        let env = name_of(&env_dir);
        g.envs.push(env.clone());
        let azure = env_dir.join("azure");
        let mut mains: Vec<PathBuf> = std::fs::read_dir(&azure)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        mains.retain(|p| {
            let n = name_of(p);
            n.starts_with("main") && n.ends_with(".json")
        });
        mains.sort();
        let before = credentials.len();
        for main in mains {
            let v: Value = serde_json::from_slice(&std::fs::read(&main).unwrap()).unwrap();
            let summary = &v["metadata"]["runnergen"];
            for (key, facts) in summary["runners"].as_object().into_iter().flatten() {
                if facts["identity"].is_object() {
                    add_ident(
                        &mut g,
                        &facts["identity"],
                        &facts["roles"],
                        Some((&env, key)),
                    );
                }
                if facts["managerIdentity"].is_object() {
                    let roles = &facts["managerRoles"];
                    add_ident(&mut g, &facts["managerIdentity"], roles, Some((&env, key)));
                }
            }
            if summary["store"]["identity"].is_object() {
                add_ident(&mut g, &summary["store"]["identity"], &Value::Null, None);
            }
            collect_credentials(&v, &mut credentials);
        }
        let mut issuers: Vec<&str> = credentials[before..]
            .iter()
            .map(|(_, _, issuer, _)| issuer.as_str())
            .collect();
        issuers.sort_unstable();
        issuers.dedup();
        g.clusters.insert(env.clone(), issuers.join(" "));
        // The environment's own Kubernetes files (the store's account and ClusterSecretStore).
        let mut yaml_files: Vec<(Option<String>, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&env_dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() && name_of(&p).ends_with(".yaml") {
                yaml_files.push((None, p));
            }
        }
        for runner_dir in dirs(&env_dir).into_iter().filter(|d| name_of(d) != "azure") {
            let key = name_of(&runner_dir);
            let registration = std::fs::read(runner_dir.join("registration.json"))
                .ok()
                .map(|b| serde_json::from_slice::<Value>(&b).unwrap());
            g.runners.push(RunnerFacts {
                env: env.clone(),
                key: key.clone(),
                objects: Vec::new(),
                registration,
                gitlab_id: 7000 + g.runners.len() as u64,
            });
            for e in std::fs::read_dir(&runner_dir).unwrap() {
                let p = e.unwrap().path();
                if name_of(&p).ends_with(".yaml") {
                    yaml_files.push((Some(key.clone()), p));
                }
            }
        }
        yaml_files.sort();
        for (runner, p) in yaml_files {
            for d in yaml_docs(&std::fs::read_to_string(&p).unwrap()) {
                let kind = d["kind"].as_str().unwrap_or_default().to_owned();
                if !KINDS.contains(&kind.as_str()) {
                    continue;
                }
                let m = |k: &str| d["metadata"][k].as_str().unwrap_or_default().to_owned();
                let id = (kind, m("namespace"), m("name"));
                if let Some(key) = &runner {
                    let r = g
                        .runners
                        .iter_mut()
                        .find(|r| r.env == env && &r.key == key)
                        .unwrap();
                    r.objects.push(id.clone());
                }
                g.kube.push((env.clone(), d));
            }
        }
    }
    for (identity, name, issuer, subject) in credentials {
        let i = g
            .idents
            .iter_mut()
            .find(|i| i.name.eq_ignore_ascii_case(&identity))
            .unwrap_or_else(|| panic!("{dir}: a credential on undeclared identity {identity}"));
        i.creds.push((name, issuer, subject));
    }
    g
}

/// The five exports, as the commands write them.
#[derive(Debug, Clone)]
struct Exports {
    roles: Vec<Value>,
    identities: Vec<Value>,
    /// One `az identity federated-credential list` per identity: (identity, items).
    creds: Vec<(String, Vec<Value>)>,
    kube: Vec<Value>,
    gitlab: Vec<Value>,
}

fn assignment(i: &Ident, role: &str, definition: &str, scope: &str, names: bool) -> Value {
    let sub = scope.split('/').nth(2).unwrap_or(&i.sub);
    let name = guid(&format!("assignment {}/{role}/{scope}", i.principal));
    json!({
        "condition": null,
        "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        "name": name,
        "principalId": i.principal,
        "principalName": i.client_id,
        "principalType": "ServicePrincipal",
        "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{definition}"),
        // The CLI fills the name in when it can; audit must match by GUID when it did not.
        "roleDefinitionName": if names { json!(role) } else { Value::Null },
        // The CLI lowercases `resourceGroups` in scopes.
        "scope": scope.replace("/resourceGroups/", "/resourcegroups/"),
        "type": "Microsoft.Authorization/roleAssignments"
    })
}

fn credential(i: &Ident, name: &str, issuer: &str, subject: &str) -> Value {
    json!({
        "audiences": ["api://AzureADTokenExchange"],
        "id": format!("{}/federatedIdentityCredentials/{name}", i.id()),
        "issuer": issuer,
        "name": name,
        "resourceGroup": i.rg,
        "subject": subject,
        "systemData": null,
        "type": FIC_TYPE
    })
}

/// GitLab's details of a runner in `place` (`group_type` or `project_type`, its path).
fn gitlab_runner(id: u64, runner_type: &str, path: &str, reg: &Value, note: Value) -> Value {
    let (groups, projects) = if runner_type == "group_type" {
        (
            json!([{"id": id + 100_000, "name": path.rsplit('/').next(), "web_url": format!("https://gitlab.com/groups/{path}")}]),
            json!([]),
        )
    } else {
        (
            json!([]),
            json!([{"id": id + 200_000, "path_with_namespace": path}]),
        )
    };
    json!({
        "access_level": reg["access_level"],
        "active": true,
        "description": reg["description"],
        "groups": groups,
        "id": id,
        "is_shared": false,
        "locked": reg["locked"],
        "maintenance_note": note,
        "online": true,
        "paused": false,
        "projects": projects,
        "run_untagged": reg["run_untagged"],
        "runner_type": runner_type,
        "status": "online",
        "tag_list": reg["tag_list"],
    })
}

fn place(reg: &Value) -> (String, String) {
    let t = reg["runner_type"].as_str().unwrap().to_owned();
    let p = reg["group_path"]
        .as_str()
        .or(reg["project_path"].as_str())
        .unwrap()
        .to_owned();
    (t, p)
}

/// Live state as a correct deployment of the whole tree leaves it: Azure and GitLab of every
/// environment (an export lists a subscription's or a group's all), the cluster of `env`.
fn synthesize(g: &Golden, env: Option<&str>, names: bool) -> Exports {
    let mut e = Exports {
        roles: Vec::new(),
        identities: Vec::new(),
        creds: Vec::new(),
        kube: Vec::new(),
        gitlab: Vec::new(),
    };
    for i in &g.idents {
        e.identities.push(json!({
            "clientId": i.client_id,
            "id": i.id(),
            "location": "westeurope",
            "name": i.name,
            "principalId": i.principal,
            "resourceGroup": i.rg,
            "tenantId": "3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b",
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities"
        }));
        for (role, def, scope) in &i.roles {
            e.roles.push(assignment(i, role, def, scope, names));
        }
        let items = i
            .creds
            .iter()
            .map(|(n, iss, sub)| credential(i, n, iss, sub))
            .collect();
        e.creds.push((i.name.clone(), items));
    }
    // What every cluster has besides runnergen's objects.
    e.kube.extend([
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "kube-system"}}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:service-account-issuer-discovery"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:service-account-issuer-discovery"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:serviceaccounts"}]
        }),
    ]);
    let on_cluster = g.cluster_envs(env);
    for (_, d) in g.kube.iter().filter(|(e, _)| on_cluster.contains(e)) {
        let same = |o: &Value| {
            o["kind"] == d["kind"]
                && o["metadata"]["namespace"] == d["metadata"]["namespace"]
                && o["metadata"]["name"] == d["metadata"]["name"]
        };
        assert!(
            !e.kube.iter().any(same),
            "{}: two environments of one cluster render {}",
            g.dir,
            d["metadata"]
        );
        e.kube.push(d.clone());
    }
    for r in &g.runners {
        if let Some(reg) = &r.registration {
            let (t, p) = place(reg);
            let note = reg["maintenance_note"].clone();
            e.gitlab.push(gitlab_runner(r.gitlab_id, &t, &p, reg, note));
        }
    }
    // Another team's runner in a group of the fleet, whose tags no job of it asks for.
    if let Some(reg) = g.runners.iter().find_map(|r| r.registration.as_ref()) {
        let (_, p) = place(reg);
        let top = p.split('/').next().unwrap();
        let mut other = reg.clone();
        other["tag_list"] = json!(["other-team", "gpu"]);
        other["run_untagged"] = json!(false);
        let note = json!("the data team's runner");
        e.gitlab
            .push(gitlab_runner(6999, "group_type", top, &other, note));
    }
    e
}

/// Writes the exports to a scratch folder and runs `runnergen audit`: (exit code, report).
fn run_audit(g: &Golden, env: Option<&str>, e: &Exports, case: &str) -> (i32, Value, String) {
    let dir = std::env::temp_dir().join(format!(
        "runnergen-audit-props-{}-{case}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, v: &Value| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
        p.display().to_string()
    };
    let mut args: Vec<String> = vec![
        "audit".into(),
        root().join(&g.dir).display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    if let Some(env) = env {
        args.extend(["--env".into(), env.into()]);
    }
    args.extend(["--azure-roles".into(), write("roles.json", &json!(e.roles))]);
    args.extend([
        "--identities".into(),
        write("identities.json", &json!(e.identities)),
    ]);
    args.extend([
        "--kubernetes".into(),
        write(
            "cluster.json",
            &json!({"apiVersion": "v1", "kind": "List", "items": e.kube}),
        ),
    ]);
    args.extend([
        "--gitlab-runners".into(),
        write("gitlab-runners.json", &json!(e.gitlab)),
    ]);
    args.push("--federated-credentials".into());
    for (identity, items) in &e.creds {
        args.push(write(&format!("fic-{identity}.json"), &json!(items)));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(&args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        report,
        format!("{stdout}{stderr}"),
    )
}

/// One change to the synthesized live state.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    None,
    ExtraRole,
    ExtraCredential,
    ExtraBinding,
    ExtraGitLabRunner,
    Remove,
}

/// What the report must say after a mutation: the exit code, and (for 1 and 3) the class,
/// kind and words of a finding about (env, runner).
#[derive(Debug)]
struct Expect {
    code: i32,
    class: &'static str,
    kind: &'static str,
    env: String,
    runner: String,
    /// Each must be in the finding's `what`.
    words: Vec<String>,
}

impl Expect {
    fn new(code: i32, class: &'static str, kind: &'static str, r: &RunnerFacts) -> Expect {
        Expect {
            code,
            class,
            kind,
            env: r.env.clone(),
            runner: r.key.clone(),
            words: Vec::new(),
        }
    }
}

/// A way of removing something rendered from live state: the finding kind it should
/// cause, and the change.
type Removal<'a> = (&'static str, Box<dyn Fn(&mut Exports) -> Expect + 'a>);

/// Applies `m` to `e` on a runner picked by `pick` among `runners` (indices into g.runners),
/// with `variant` choosing among the ways of the mutation. `None` when the picked runner has
/// nothing the mutation applies to (the case then checks the clean state).
fn mutate(
    g: &Golden,
    e: &mut Exports,
    m: Mutation,
    runners: &[usize],
    pick: usize,
    variant: usize,
    names: bool,
) -> Option<Expect> {
    let r = &g.runners[runners[pick % runners.len()]];
    let owned = |i: &Ident| i.owners.iter().any(|(en, k)| *en == r.env && *k == r.key);
    let idents: Vec<&Ident> = g.idents.iter().filter(|i| owned(i)).collect();
    let accounts: Vec<&(String, String, String)> = r
        .objects
        .iter()
        .filter(|(k, _, _)| k == "ServiceAccount")
        .collect();
    match m {
        Mutation::None => None,
        Mutation::ExtraRole => {
            let i = *idents.get(pick % idents.len().max(1))?;
            let sub_scope = format!("/subscriptions/{}", i.sub);
            let covered = |role: &str, scope: &str| {
                i.roles
                    .iter()
                    .any(|(r, _, s)| r == role && s.eq_ignore_ascii_case(scope))
            };
            let made_up = format!("/subscriptions/{}/resourceGroups/rg-out-of-band", i.sub);
            let ((role, def), scope) = match variant % 4 {
                // Owner on the subscription, where it has less.
                0 if !covered(OWNER.0, &sub_scope) => (OWNER, sub_scope),
                // Owner where it has another role.
                1 => match i
                    .roles
                    .iter()
                    .find(|(r, _, s)| !covered(OWNER.0, s) && r != OWNER.0)
                {
                    Some((_, _, s)) => (OWNER, s.clone()),
                    None => (CONTRIBUTOR, made_up),
                },
                // Its own role, on a resource group it has nothing on.
                2 => match i.roles.first() {
                    Some((r, d, _)) => ((r.as_str(), d.as_str()), made_up),
                    None => (CONTRIBUTOR, made_up),
                },
                _ => (CONTRIBUTOR, made_up),
            };
            e.roles.push(assignment(i, role, def, &scope, names));
            let mut x = Expect::new(3, "beyond", "role-assignment", r);
            x.words = vec![
                if names {
                    role.to_owned()
                } else {
                    def.to_owned()
                },
                i.name.clone(),
            ];
            Some(x)
        }
        Mutation::ExtraCredential => {
            let i = *idents.get(pick % idents.len().max(1))?;
            let (issuer, subject) = match variant % 3 {
                0 => (
                    "https://token.actions.githubusercontent.com".to_owned(),
                    "repo:someone/else:ref:refs/heads/main".to_owned(),
                ),
                // The rendered issuer, another account of the cluster.
                1 => match i.creds.first() {
                    Some((_, iss, _)) => (
                        iss.clone(),
                        "system:serviceaccount:default:default".to_owned(),
                    ),
                    None => (
                        "https://issuer.example.com/".to_owned(),
                        "anyone".to_owned(),
                    ),
                },
                _ => (
                    "https://gitlab.com".to_owned(),
                    "project_path:acme/x:ref_type:branch:ref:main".to_owned(),
                ),
            };
            let c = credential(i, "out-of-band", &issuer, &subject);
            e.creds
                .iter_mut()
                .find(|(n, _)| *n == i.name)
                .unwrap()
                .1
                .push(c);
            let mut x = Expect::new(3, "beyond", "federated-credential", r);
            x.words = vec![i.name.clone(), issuer, subject];
            Some(x)
        }
        Mutation::ExtraBinding => {
            let (_, ns, sa) = *accounts.get(pick % accounts.len().max(1))?;
            let subject = if variant % 3 == 2 {
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("system:serviceaccounts:{ns}")})
            } else {
                json!({"kind": "ServiceAccount", "name": sa, "namespace": ns})
            };
            let (kind, metadata) = if variant.is_multiple_of(2) {
                (
                    "RoleBinding",
                    json!({"name": "out-of-band-admin", "namespace": ns}),
                )
            } else {
                ("ClusterRoleBinding", json!({"name": "out-of-band-admin"}))
            };
            e.kube.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": kind,
                "metadata": metadata,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
                "subjects": [subject]
            }));
            let mut x = Expect::new(3, "beyond", "binding", r);
            x.words = vec![format!("{kind} "), "ClusterRole admin".to_owned()];
            Some(x)
        }
        Mutation::ExtraGitLabRunner => {
            let reg = r.registration.as_ref()?;
            let (t, p) = place(reg);
            let parent = p.rsplit_once('/').map(|(a, _)| a.to_owned());
            // Its own place, the group above it, or (for a group runner) a group below it.
            let (t2, p2) = match (variant % 3, &parent) {
                (1, Some(up)) => ("group_type".to_owned(), up.clone()),
                (2, _) if t == "group_type" => (t.clone(), format!("{p}/sub")),
                _ => (t.clone(), p.clone()),
            };
            let note = match variant % 2 {
                0 => Value::Null,
                _ => json!(format!("managed by runnergen: elsewhere/{}/ghost", r.env)),
            };
            let mut other = reg.clone();
            other["description"] = json!("hand-registered");
            e.gitlab.push(gitlab_runner(6000, &t2, &p2, &other, note));
            let mut x = Expect::new(3, "beyond", "gitlab-runner", r);
            x.words = vec!["#6000".to_owned()];
            Some(x)
        }
        Mutation::Remove => {
            // Everything rendered for the runner, each as a way to remove it from live state.
            let mut options: Vec<Removal> = Vec::new();
            for i in &idents {
                let i = (*i).clone();
                let name = i.name.clone();
                options.push((
                    "managed-identity",
                    Box::new(move |e: &mut Exports| {
                        e.identities.retain(|v| v["name"] != json!(name));
                        let mut x = Expect::new(1, "missing", "managed-identity", r);
                        x.words = vec![name.clone()];
                        x
                    }),
                ));
                for (role, def, scope) in i.roles.clone() {
                    let principal = i.principal.clone();
                    let name = i.name.clone();
                    options.push((
                        "role-assignment",
                        Box::new(move |e: &mut Exports| {
                            let role_id = format!("/roleDefinitions/{def}");
                            e.roles.retain(|v| {
                                !(v["principalId"] == json!(principal)
                                    && v["roleDefinitionId"].as_str().unwrap().ends_with(&role_id)
                                    && v["scope"].as_str().unwrap().eq_ignore_ascii_case(&scope))
                            });
                            let mut x = Expect::new(1, "missing", "role-assignment", r);
                            x.words = vec![role.clone(), scope.clone(), name.clone()];
                            x
                        }),
                    ));
                }
                for (cred, issuer, subject) in i.creds.clone() {
                    let name = i.name.clone();
                    options.push((
                        "federated-credential",
                        Box::new(move |e: &mut Exports| {
                            let items =
                                &mut e.creds.iter_mut().find(|(n, _)| *n == name).unwrap().1;
                            items.retain(|v| v["name"] != json!(cred));
                            let mut x = Expect::new(1, "missing", "federated-credential", r);
                            x.words = vec![name.clone(), issuer.clone(), subject.clone()];
                            x
                        }),
                    ));
                }
            }
            for (kind, ns, name) in r.objects.clone() {
                let finding = match kind.as_str() {
                    "Namespace" => "namespace",
                    "ServiceAccount" => "service-account",
                    "RoleBinding" | "ClusterRoleBinding" => "binding",
                    "ExternalSecret" => "external-secret",
                    // A Role's absence is not audited (its binding's is).
                    _ => continue,
                };
                options.push((
                    finding,
                    Box::new(move |e: &mut Exports| {
                        e.kube.retain(|v| {
                            !(v["kind"] == json!(kind)
                                && v["metadata"]["name"] == json!(name)
                                && v["metadata"]["namespace"].as_str().unwrap_or_default() == ns)
                        });
                        let mut x = Expect::new(1, "missing", finding, r);
                        x.words = vec![name.clone()];
                        x
                    }),
                ));
            }
            if r.registration.is_some() {
                let id = r.gitlab_id;
                options.push((
                    "gitlab-runner",
                    Box::new(move |e: &mut Exports| {
                        e.gitlab.retain(|v| v["id"] != json!(id));
                        Expect::new(1, "missing", "gitlab-runner", r)
                    }),
                ));
            }
            if options.is_empty() {
                return None;
            }
            let (_, f) = &options[variant % options.len()];
            Some(f(e))
        }
    }
}

/// The whole property for one case; `Err` names what the report got wrong.
fn check_case(
    tree: usize,
    env_pick: usize,
    m: Mutation,
    pick: usize,
    variant: usize,
    names: bool,
) -> Result<String, String> {
    let trees = golden_trees();
    let g = read_golden(&trees[tree % trees.len()]);
    // No `--env` (every environment) or one of them. One `--kubernetes` file is one
    // cluster's: a tree on several clusters is audited an environment at a time.
    let env = match env_pick % (g.envs.len() + 1) {
        0 if g.one_cluster() => None,
        0 => Some(g.envs[0].clone()),
        n => Some(g.envs[n - 1].clone()),
    };
    let runners: Vec<usize> = (0..g.runners.len())
        .filter(|&i| env.as_ref().is_none_or(|e| *e == g.runners[i].env))
        .collect();
    assert!(!runners.is_empty(), "{}: no runner", g.dir);
    let mut e = synthesize(&g, env.as_deref(), names);
    let expect = mutate(&g, &mut e, m, &runners, pick, variant, names);
    let case = format!("{tree}-{env_pick}-{m:?}-{pick}-{variant}-{names}");
    let (code, report, raw) = run_audit(&g, env.as_deref(), &e, &case);
    let label = format!("{} --env {env:?} {m:?} {expect:?}", g.dir);
    let fail = |why: &str| Err(format!("{label}: {why}\n{raw}"));
    if report.is_null() {
        return fail("no JSON report");
    }
    let findings = report["findings"].as_array().unwrap();
    let not_checked = report["not_checked"].as_array().unwrap();
    // Only identities without a rendered credential may be named as not checked (the exports
    // are named `fic-<identity>.json`, so even an empty one speaks for its identity).
    let uncredentialed: Vec<String> = g
        .idents
        .iter()
        .filter(|i| i.creds.is_empty())
        .map(|i| i.name.clone())
        .collect();
    for n in not_checked {
        let reason = n["reason"].as_str().unwrap_or_default();
        if !uncredentialed
            .iter()
            .any(|i| reason.ends_with(&format!("identity {i}")))
        {
            return fail(&format!("a check did not run: {n}"));
        }
    }
    let Some(x) = expect else {
        if code != 0 || !findings.is_empty() {
            return fail("live state as rendered does not audit clean");
        }
        return Ok(label);
    };
    if code != x.code {
        return fail(&format!("exit {code}, expected {}", x.code));
    }
    for f in findings {
        if f["class"] != json!(x.class) || f["kind"] != json!(x.kind) {
            return fail(&format!("a finding of another class or kind: {f}"));
        }
    }
    let about = findings.iter().any(|f| {
        f["env"] == json!(x.env)
            && f["runner"] == json!(x.runner)
            && x.words
                .iter()
                .all(|w| f["what"].as_str().unwrap_or_default().contains(w.as_str()))
    });
    if !about {
        return fail("no finding names the runner and the change");
    }
    Ok(label)
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::None),
        Just(Mutation::ExtraRole),
        Just(Mutation::ExtraCredential),
        Just(Mutation::ExtraBinding),
        Just(Mutation::ExtraGitLabRunner),
        Just(Mutation::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn audit_reports_exactly_what_differs_from_every_golden_tree(
        tree in 0usize..64,
        env_pick in 0usize..8,
        m in mutation(),
        pick in 0usize..64,
        variant in 0usize..12,
        names in any::<bool>(),
    ) {
        if let Err(e) = check_case(tree, env_pick, m, pick, variant, names) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Every mutation on every golden tree, a runner and a way of it chosen by the tree's index
/// (the sampled property above may leave a pair out).
#[test]
fn every_golden_tree_reports_each_kind_of_change() {
    let trees = golden_trees();
    let kinds = [
        Mutation::ExtraRole,
        Mutation::ExtraCredential,
        Mutation::ExtraBinding,
        Mutation::ExtraGitLabRunner,
        Mutation::Remove,
    ];
    for t in 0..trees.len() {
        for m in kinds {
            check_case(t, 1, m, 3 * t + 1, 5 * t + 2, t % 2 == 1).unwrap();
        }
    }
}

/// Every golden tree's live state, as rendered, audits clean (the property's case 1 on each
/// tree and environment, not left to sampling).
#[test]
fn every_golden_tree_as_rendered_audits_clean() {
    let trees = golden_trees();
    assert!(trees.len() >= 10, "{trees:?}");
    for (t, tree) in trees.iter().enumerate() {
        let envs = read_golden(tree).envs.len();
        for env_pick in 0..=envs {
            check_case(t, env_pick, Mutation::None, 0, 0, t.is_multiple_of(2)).unwrap();
        }
    }
}
