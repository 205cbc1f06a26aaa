//! `runnergen import` on generated states: article-shaped `terraform show -json` output (the
//! resource shapes of fixtures/import/show.json, only the values varied) for fleets of one to
//! five runners, imported, validated and rendered, the rendered files held to what the
//! GENERATOR put in the state (not to what import wrote): identities, credentials, roles and
//! their scopes, Graph permissions, cluster-admin, namespaces, service accounts, tags, paths,
//! privileged and run-untagged. Nothing is left unmapped, and the tokens planted in the state
//! appear in no output, message or written file.

use crate::common::runnergen;
use crate::import::{Facts, read_tree, rendered_facts};
use proptest::prelude::*;
use runnergen::spec::RunnerType;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Environment keys and long names.
const ENVS: &[(&str, &str)] = &[
    ("ss", "shared"),
    ("dev", "development"),
    ("prd", "production"),
];
/// Region codes and locations.
const REGIONS: &[(&str, &str)] = &[("weu", "westeurope"), ("neu", "northeurope")];
/// Built-in roles and their role-definition GUIDs.
const ROLES: &[(&str, &str)] = &[
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
    ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    ("AcrPush", "8311e382-0749-4cb8-b61a-304f252e45ec"),
    (
        "Key Vault Secrets User",
        "4633458b-17de-408a-b874-0445c86b69e6",
    ),
];
/// The article's four Graph permissions.
const GRAPH: &[&str] = &[
    "Group.Read.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
];
/// The organisation the credential names start with, and the Helm releases' customer TLA.
const ORG: &str = "ascode";
const GITLAB_URL: &str = "https://gitlab.com/";
const GRAPH_OBJECT_ID: &str = "4d3c2b1a-0f9e-4d8c-b7a6-958473625140";
/// In every token and Secret the state holds; must reach no output.
const PLANTED: &str = "PLANTED";

/// Where one role assignment is: a whole subscription (through a `for_each` keyed by its
/// alias, as the article's Owner loop), a resource group, or a container registry.
#[derive(Debug, Clone)]
enum Scope {
    Subscription(usize),
    Group(usize, String),
    Registry(usize, String),
}

#[derive(Debug, Clone)]
struct RunnerGen {
    key: String,
    group: bool,
    path: String,
    tags: Vec<String>,
    privileged: bool,
    untagged: bool,
    roles: Vec<(usize, Scope)>,
    graph: BTreeSet<usize>,
    admin: bool,
    suffix: String,
    client_id: String,
    principal_id: String,
    /// concurrent, checkInterval, terminationGracePeriodSeconds.
    chart: (u32, u32, u32),
}

#[derive(Debug, Clone)]
struct FleetGen {
    env: usize,
    region: usize,
    tenant: String,
    oidc: String,
    /// (alias, subscription GUID); the identities live in the first.
    subs: Vec<(String, String)>,
    graph_ids: Vec<String>,
    runners: Vec<RunnerGen>,
}

fn guid() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
}

/// A subscription's GUID; now and then one of a few with the same first eight digits, which
/// tell subscriptions apart in the aliases import derives (`sub-<first 8 digits>`).
fn subscription_guid() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => guid(),
        1 => "[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}".prop_map(|t| format!("5ab5c1de-{t}")),
    ]
}

fn scope(subs: usize) -> impl Strategy<Value = Scope> {
    prop_oneof![
        (0..subs).prop_map(Scope::Subscription),
        (0..subs, "[a-zA-Z][a-zA-Z0-9]{1,7}").prop_map(|(s, g)| Scope::Group(s, format!("rg-{g}"))),
        (0..subs, "[a-z][a-z0-9]{4,10}").prop_map(|(s, r)| Scope::Registry(s, format!("acr{r}"))),
    ]
}

fn runner(key: String, suffix: u32, subs: usize) -> impl Strategy<Value = RunnerGen> {
    let access = (
        prop::collection::vec((0..ROLES.len(), scope(subs)), 0..=3),
        prop::collection::btree_set(0..GRAPH.len(), 0..=4),
        any::<bool>(),
        guid(),
        guid(),
    );
    let gitlab = (
        any::<bool>(),
        prop::collection::vec("[a-z][a-z0-9]{0,6}[a-z0-9]", 1..=3),
        prop::collection::vec("[a-z][a-z0-9]{1,7}", 0..=3),
        any::<bool>(),
        any::<bool>(),
        (1u32..50, 3u32..60, 60u32..7200),
    );
    (access, gitlab).prop_map(
        move |(
            (roles, graph, admin, client_id, principal_id),
            (group, segments, tags, privileged, untagged, chart),
        )| RunnerGen {
            key: key.clone(),
            group,
            path: format!("acme/infra/{}", segments.join("/")),
            tags,
            privileged,
            untagged,
            roles,
            graph,
            admin,
            suffix: format!("{suffix:06x}"),
            client_id,
            principal_id,
            chart,
        },
    )
}

fn fleet() -> impl Strategy<Value = FleetGen> {
    (
        (0..ENVS.len(), 0..REGIONS.len(), guid(), guid()),
        prop::collection::btree_map("[a-z]{3,10}", subscription_guid(), 1..=3),
        prop::collection::btree_set("[a-z](-?[a-z0-9]){1,6}", 1..=5),
        prop::collection::btree_set(0u32..1 << 24, 5),
        prop::collection::vec(guid(), GRAPH.len()),
    )
        .prop_flat_map(
            |((env, region, tenant, oidc), subs, keys, suffixes, graph_ids)| {
                let subs: Vec<(String, String)> = subs.into_iter().collect();
                let runners: Vec<_> = keys
                    .into_iter()
                    .zip(suffixes)
                    .map(|(k, s)| runner(k, s, subs.len()))
                    .collect();
                (
                    Just(FleetGen {
                        env,
                        region,
                        tenant,
                        oidc,
                        subs,
                        graph_ids,
                        runners: Vec::new(),
                    }),
                    runners,
                )
                    .prop_map(|(f, runners)| FleetGen { runners, ..f })
            },
        )
}

impl FleetGen {
    fn env(&self) -> (&'static str, &'static str) {
        ENVS[self.env]
    }

    fn region(&self) -> (&'static str, &'static str) {
        REGIONS[self.region]
    }

    fn identity_name(&self, key: &str) -> String {
        format!("{}-{}-msi-gitlab-{key}", self.region().0, self.env().0)
    }

    fn identity_rg(&self) -> String {
        format!("rg-{}-{}-gitlab", self.region().0, self.env().0)
    }

    fn identity_id(&self, key: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
            self.subs[0].1,
            self.identity_rg(),
            self.identity_name(key)
        )
    }

    fn issuer(&self) -> String {
        format!(
            "https://{}.oic.prod-aks.azure.com/{}/{}/",
            self.region().1,
            self.tenant,
            self.oidc
        )
    }

    fn credential_name(&self, key: &str) -> String {
        format!("{ORG}-{}-msi-gitlab-{key}-cred", self.env().1)
    }

    fn scope(&self, s: &Scope) -> String {
        let sub = |i: usize| format!("/subscriptions/{}", self.subs[i].1);
        match s {
            Scope::Subscription(i) => sub(*i),
            Scope::Group(i, rg) => format!("{}/resourceGroups/{rg}", sub(*i)),
            Scope::Registry(i, acr) => format!(
                "{}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/{acr}",
                sub(*i)
            ),
        }
    }

    /// The runner's role assignments as (role, scope), each once (Azure refuses a second).
    fn roles(&self, r: &RunnerGen) -> Vec<(usize, Scope)> {
        let mut seen = BTreeSet::new();
        r.roles
            .iter()
            .filter(|(role, s)| seen.insert((*role, self.scope(s))))
            .cloned()
            .collect()
    }

    /// What the rendered files must say of each runner, from the generator's own values.
    fn oracle(&self) -> BTreeMap<(String, String), Facts> {
        let env = self.env().0;
        let mut out = BTreeMap::new();
        for r in &self.runners {
            let mut tags: BTreeSet<String> = r.tags.iter().cloned().collect();
            tags.insert(self.region().0.to_owned());
            tags.insert(r.key.clone());
            let facts = Facts {
                identity: self.identity_name(&r.key),
                client_id: r.client_id.clone(),
                credential: self.credential_name(&r.key),
                issuer: self.issuer(),
                subject: format!(
                    "system:serviceaccount:gitlab-{0}:gitlab-runner-{0}",
                    r.suffix
                ),
                roles: self
                    .roles(r)
                    .iter()
                    .map(|(role, s)| (ROLES[*role].0.to_owned(), self.scope(s).to_lowercase()))
                    .collect(),
                graph: r.graph.iter().map(|g| GRAPH[*g].to_owned()).collect(),
                cluster_admin: r.admin,
                namespace: format!("gitlab-{}", r.suffix),
                service_account: format!("gitlab-runner-{}", r.suffix),
                tags,
                path: r.path.clone(),
            };
            out.insert((env.to_owned(), r.key.clone()), facts);
        }
        out
    }
}

/// A resource of `terraform show -json`, as fixtures/import/show.json writes them (`index`
/// left out when `Value::Null`).
fn res(address: &str, mode: &str, kind: &str, index: Value, values: Value) -> Value {
    res_sensitive(address, mode, kind, index, values, json!({}))
}

fn res_sensitive(
    address: &str,
    mode: &str,
    kind: &str,
    index: Value,
    values: Value,
    sensitive: Value,
) -> Value {
    let (_, tail) = address.rsplit_once(&format!("{kind}.")).unwrap();
    let name = tail.split('[').next().unwrap();
    let provider = match kind.split('_').next().unwrap() {
        "gitlab" => "registry.terraform.io/gitlabhq/gitlab".to_owned(),
        p => format!("registry.terraform.io/hashicorp/{p}"),
    };
    let mut r = json!({
        "address": address,
        "mode": mode,
        "type": kind,
        "name": name,
        "provider_name": provider,
        "schema_version": 0,
        "values": values,
        "sensitive_values": sensitive,
    });
    if !index.is_null() {
        r["index"] = index;
    }
    r
}

/// The root module: identities, credentials, role assignments, Microsoft Graph's service
/// principal and its app role assignments.
fn root_resources(f: &FleetGen) -> Vec<Value> {
    let mut out = Vec::new();
    for r in &f.runners {
        let k = &r.key;
        out.push(res(
            &format!("azurerm_user_assigned_identity.gitlab_runner[\"{k}\"]"),
            "managed",
            "azurerm_user_assigned_identity",
            json!(k),
            json!({
                "id": f.identity_id(k),
                "name": f.identity_name(k),
                "resource_group_name": f.identity_rg(),
                "location": f.region().1,
                "client_id": r.client_id,
                "principal_id": r.principal_id,
                "tenant_id": f.tenant,
                "tags": {"purpose": format!("Runner {k}"), "environment": f.env().1},
                "timeouts": null
            }),
        ));
        out.push(res(
            &format!("azurerm_federated_identity_credential.gitlab_runner[\"{k}\"]"),
            "managed",
            "azurerm_federated_identity_credential",
            json!(k),
            json!({
                "id": format!("{}/federatedIdentityCredentials/{}", f.identity_id(k), f.credential_name(k)),
                "name": f.credential_name(k),
                "audience": ["api://AzureADTokenExchange"],
                "issuer": f.issuer(),
                "parent_id": f.identity_id(k),
                "resource_group_name": f.identity_rg(),
                "subject": format!("system:serviceaccount:gitlab-{0}:gitlab-runner-{0}", r.suffix),
                "timeouts": null
            }),
        ));
        out.extend(role_assignments(f, r));
        for g in &r.graph {
            let n = out.len();
            out.push(res(
                &format!("azuread_app_role_assignment.{k}_graph[\"{}\"]", GRAPH[*g]),
                "managed",
                "azuread_app_role_assignment",
                json!(GRAPH[*g]),
                json!({
                    "id": format!("/servicePrincipals/{GRAPH_OBJECT_ID}/appRoleAssignedTo/Jzp0WkM0KkCAQkf{n:04}"),
                    "app_role_id": f.graph_ids[*g],
                    "principal_object_id": r.principal_id,
                    "principal_type": "ServicePrincipal",
                    "resource_object_id": GRAPH_OBJECT_ID,
                    "principal_display_name": f.identity_name(k),
                    "resource_display_name": "Microsoft Graph"
                }),
            ));
        }
    }
    let app_role_ids: serde_json::Map<String, Value> = GRAPH
        .iter()
        .zip(&f.graph_ids)
        .map(|(p, id)| ((*p).to_owned(), json!(id)))
        .collect();
    out.push(res(
        "azuread_service_principal.msgraph",
        "managed",
        "azuread_service_principal",
        Value::Null,
        json!({
            "id": format!("/servicePrincipals/{GRAPH_OBJECT_ID}"),
            "object_id": GRAPH_OBJECT_ID,
            "client_id": "00000003-0000-0000-c000-000000000000",
            "application_id": "00000003-0000-0000-c000-000000000000",
            "display_name": "Microsoft Graph",
            "use_existing": true,
            "app_role_ids": app_role_ids
        }),
    ));
    out
}

/// A runner's role assignments: at a whole subscription one instance of a `for_each` keyed
/// by the subscription's alias (one resource per role), elsewhere a resource of its own.
fn role_assignments(f: &FleetGen, r: &RunnerGen) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, (role, s)) in f.roles(r).iter().enumerate() {
        let (name, guid) = ROLES[*role];
        let slug = name.to_lowercase().replace(' ', "_");
        let (address, index) = match s {
            Scope::Subscription(sub) => {
                let alias = &f.subs[*sub].0;
                (format!("{}_{slug}[\"{alias}\"]", r.key), json!(alias))
            }
            _ => (format!("{}_{slug}_{i}", r.key), Value::Null),
        };
        let scope = f.scope(s);
        let sub = match s {
            Scope::Subscription(x) | Scope::Group(x, _) | Scope::Registry(x, _) => &f.subs[*x].1,
        };
        // The assignment's own name: made up, one per runner and assignment.
        let id = format!(
            "{}-{i:04x}-4000-8000-{}",
            &r.principal_id[..8],
            &r.principal_id[24..]
        );
        out.push(res(
            &format!("azurerm_role_assignment.{address}"),
            "managed",
            "azurerm_role_assignment",
            index,
            json!({
                "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{id}"),
                "name": id,
                "principal_id": r.principal_id,
                "principal_type": "ServicePrincipal",
                "role_definition_id": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
                "role_definition_name": name,
                "scope": scope,
                "condition": "",
                "condition_version": "",
                "description": "",
                "delegated_managed_identity_resource_id": "",
                "skip_service_principal_aad_check": null,
                "timeouts": null
            }),
        ));
    }
    out
}

fn meta(name: &str, namespace: &str) -> Value {
    json!([{"name": name, "namespace": namespace}])
}

fn subject(sa: &str, ns: &str) -> Value {
    json!([{"api_group": "", "kind": "ServiceAccount", "name": sa, "namespace": ns}])
}

/// The chart values of a runner's `helm_release`, as the article's module writes them.
fn helm_values(f: &FleetGen, r: &RunnerGen) -> String {
    let (ns, sa) = (
        format!("gitlab-{}", r.suffix),
        format!("gitlab-runner-{}", r.suffix),
    );
    let (concurrent, check, grace) = r.chart;
    let p = r.privileged;
    format!(
        "gitlabUrl: {GITLAB_URL}\nconcurrent: {concurrent}\ncheckInterval: {check}\nterminationGracePeriodSeconds: {grace}\nserviceAccountName: {sa}\nrbac:\n  create: false\nrunners:\n  name: {env}-k8-{key}\n  privileged: {p}\n  secret: {sa}\n  config: |\n    [[runners]]\n      [runners.kubernetes]\n        namespace = \"{ns}\"\n        image = \"alpine:3.22\"\n        privileged = {p}\n        service_account = \"{sa}\"\n        pod_labels_overwrite_allowed = \".*\"\n        [runners.kubernetes.pod_labels]\n          \"azure.workload.identity/use\" = \"true\"\n",
        env = f.env().0,
        key = r.key
    )
}

/// The Kubernetes side of a runner's module instance: suffix, namespace, service account,
/// the executor's Role and RoleBinding, cluster-admin, the token Secret.
fn kubernetes_resources(f: &FleetGen, r: &RunnerGen) -> Vec<Value> {
    let m = format!("module.runners[\"{}\"]", r.key);
    let (ns, sa) = (
        format!("gitlab-{}", r.suffix),
        format!("gitlab-runner-{}", r.suffix),
    );
    let mut out = vec![
        res(
            &format!("{m}.random_id.suffix"),
            "managed",
            "random_id",
            Value::Null,
            json!({"id": "P5oc", "b64_std": "P5oc", "b64_url": "P5oc", "byte_length": 3,
                "dec": u32::from_str_radix(&r.suffix, 16).unwrap().to_string(),
                "hex": r.suffix, "keepers": null, "prefix": null}),
        ),
        res(
            &format!("{m}.kubernetes_namespace_v1.gitlab"),
            "managed",
            "kubernetes_namespace_v1",
            Value::Null,
            json!({"id": ns, "metadata": [{"name": ns, "labels": {"app": "gitlab-runner"},
                "annotations": {}, "generate_name": "", "generation": 0}],
                "timeouts": null, "wait_for_default_service_account": false}),
        ),
        res(
            &format!("{m}.kubernetes_service_account_v1.gitlab_runner"),
            "managed",
            "kubernetes_service_account_v1",
            Value::Null,
            json!({"id": format!("{ns}/{sa}"), "automount_service_account_token": true,
                "image_pull_secret": [], "secret": [], "default_secret_name": "",
                "metadata": [{"name": sa, "namespace": ns, "annotations": {
                    "azure.workload.identity/client-id": r.client_id,
                    "azure.workload.identity/tenant-id": f.tenant},
                    "labels": {"azure.workload.identity/use": "true"}}],
                "timeouts": null}),
        ),
        res(
            &format!("{m}.kubernetes_role.gitlab"),
            "managed",
            "kubernetes_role",
            Value::Null,
            json!({"id": format!("{ns}/gitlab-runner"), "metadata": meta(&sa, &ns),
                "rule": [{"api_groups": [""], "resources": ["pods", "pods/exec", "pods/attach",
                    "pods/log", "secrets", "configmaps", "services"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
                    "resource_names": []}]}),
        ),
        res(
            &format!("{m}.kubernetes_role_binding_v1.gitlab"),
            "managed",
            "kubernetes_role_binding_v1",
            Value::Null,
            json!({"id": format!("{ns}/gitlab-runner"),
                "metadata": meta(&format!("gitlab-runner-binding-{}", r.suffix), &ns),
                "role_ref": [{"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": sa}],
                "subject": subject(&sa, &ns)}),
        ),
        res_sensitive(
            &format!("{m}.kubernetes_secret_v1.gitlab_runner"),
            "managed",
            "kubernetes_secret_v1",
            Value::Null,
            json!({"id": format!("{ns}/{sa}"), "binary_data": null,
                "data": {"runner-token": format!("glrt-{PLANTED}{}Secret", r.key),
                    "runner-registration-token": ""},
                "immutable": false, "metadata": meta(&sa, &ns), "type": "Opaque",
                "wait_for_service_account_token": true}),
            json!({"data": true, "metadata": [{}]}),
        ),
    ];
    if r.admin {
        let name = format!("gitlab-runner-admin-{}", r.suffix);
        out.push(res(
            &format!("{m}.kubernetes_cluster_role_binding_v1.runner_admin[0]"),
            "managed",
            "kubernetes_cluster_role_binding_v1",
            json!(0),
            json!({"id": name, "metadata": [{"name": name}],
                "role_ref": [{"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "cluster-admin"}],
                "subject": subject(&sa, &ns)}),
        ));
    }
    out
}

/// The Helm release and the GitLab side of a runner's module instance.
fn runner_resources(f: &FleetGen, r: &RunnerGen, n: usize) -> Vec<Value> {
    let m = format!("module.runners[\"{}\"]", r.key);
    let ns = format!("gitlab-{}", r.suffix);
    let release = format!("asc-{}-{}", f.env().0, r.key);
    let helm = res(
        &format!("{m}.helm_release.gitlab_runner"),
        "managed",
        "helm_release",
        Value::Null,
        json!({"id": release, "name": release, "namespace": ns,
            "repository": "https://charts.gitlab.io", "chart": "gitlab-runner",
            "version": "0.86.0", "values": [helm_values(f, r)], "atomic": false,
            "create_namespace": false, "status": "deployed",
            "metadata": [{"app_version": "v18.6.0", "chart": "gitlab-runner", "name": release,
                "namespace": ns, "revision": 3, "version": "0.86.0"}],
            "set": [], "set_sensitive": [], "timeout": 300}),
    );
    let id = 10_500_000 + n;
    let name = r.path.rsplit('/').next().unwrap();
    let (kind, data) = if r.group {
        let v = json!({"id": id.to_string(), "group_id": id, "full_path": r.path,
            "full_name": r.path, "name": name, "runners_token": null});
        (
            "group",
            res(
                &format!("{m}.data.gitlab_group.group[0]"),
                "data",
                "gitlab_group",
                json!(0),
                v,
            ),
        )
    } else {
        let v = json!({"id": id.to_string(), "path_with_namespace": r.path, "name": name,
            "runners_token": null});
        (
            "project",
            res(
                &format!("{m}.data.gitlab_project.project[0]"),
                "data",
                "gitlab_project",
                json!(0),
                v,
            ),
        )
    };
    let mut tag_list = vec![f.region().0.to_owned(), r.key.clone()];
    tag_list.extend(r.tags.iter().cloned());
    let mut values = json!({"id": (31_000_000 + n).to_string(),
        "runner_type": format!("{kind}_type"),
        "description": format!("gitlab-runner-{}-{}-aks", r.suffix, f.region().0),
        "tag_list": tag_list, "untagged": r.untagged, "locked": false, "paused": false,
        "access_level": "not_protected", "maximum_timeout": 0, "maintenance_note": "",
        "token": format!("glrt-{PLANTED}{}RunnerToken", r.key), "token_expires_at": ""});
    values[format!("{kind}_id")] = json!(id);
    let user_runner = res_sensitive(
        &format!("{m}.gitlab_user_runner.gitlab_runner_{kind}[0]"),
        "managed",
        "gitlab_user_runner",
        json!(0),
        values,
        json!({"token": true, "tag_list": vec![false; tag_list.len()]}),
    );
    vec![helm, data, user_runner]
}

/// The whole state, as `terraform show -json` prints it.
fn show_json(f: &FleetGen) -> Value {
    let modules: Vec<Value> = f
        .runners
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let mut resources = kubernetes_resources(f, r);
            resources.extend(runner_resources(f, r, n));
            json!({"resources": resources, "address": format!("module.runners[\"{}\"]", r.key)})
        })
        .collect();
    json!({
        "format_version": "1.0",
        "terraform_version": "1.9.8",
        "values": {"root_module": {"resources": root_resources(f), "child_modules": modules}}
    })
}

fn scratch() -> PathBuf {
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("runnergen-import-props-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str], what: &str, texts: &mut Vec<String>) -> (i32, String) {
    let out = runnergen(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    texts.push(format!(
        "{what} stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    ));
    texts.push(format!("{what} stderr: {stderr}"));
    (out.status.code().unwrap_or(-1), stderr)
}

/// Imports, validates and renders the generated state in `dir`; every message and written
/// file checked for the planted tokens; the rendered tree.
fn import_render(state: &Value, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let state_file = dir.join("show.json");
    std::fs::write(&state_file, serde_json::to_vec_pretty(state).unwrap()).unwrap();
    let spec = dir.join("spec").join("runnergen.yaml");
    std::fs::create_dir_all(spec.parent().unwrap()).unwrap();
    let spec_s = spec.to_str().unwrap();
    let mut texts = Vec::new();
    let (code, stderr) = run(
        &["import", state_file.to_str().unwrap(), "--out-spec", spec_s],
        "import",
        &mut texts,
    );
    assert_eq!(code, 0, "import: {stderr}");
    assert!(
        stderr.starts_with("wrote ") && stderr.lines().count() == 1,
        "nothing unmapped: {stderr}"
    );
    let (code, stderr) = run(&["validate", spec_s], "validate", &mut texts);
    assert_eq!(code, 0, "validate: {stderr}");
    let rendered = dir.join("out");
    let (code, stderr) = run(
        &["render", spec_s, "--out", rendered.to_str().unwrap()],
        "render",
        &mut texts,
    );
    assert_eq!(code, 0, "render: {stderr}");
    for text in &texts {
        assert!(!text.contains(PLANTED), "a planted token in {text}");
    }
    let mut written = read_tree(spec.parent().unwrap());
    let tree = read_tree(&rendered);
    written.extend(tree.iter().map(|(p, b)| (format!("out/{p}"), b.clone())));
    for (path, bytes) in &written {
        assert!(
            !String::from_utf8_lossy(bytes).contains(PLANTED),
            "a planted token reached {path}"
        );
    }
    tree
}

/// What the access readback says beyond [`Facts`]: (runner type, privileged, run untagged).
fn settings(tree: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, (RunnerType, bool, bool)> {
    runnergen::readback::access(tree)
        .into_iter()
        .map(|((_, key), a)| {
            let t = a.trigger.unwrap().runner_type;
            let s = (
                t,
                a.privileged.unwrap_or(false),
                a.run_untagged.unwrap_or(false),
            );
            (key, s)
        })
        .collect()
}

/// Found by the property: two subscriptions whose IDs share their first eight digits, neither
/// assigned a role on whole (so neither named by a `for_each` key), were both given the alias
/// `sub-5ab5c1de`, and the role on the second's resource group was rendered in the first.
#[test]
fn subscriptions_whose_ids_begin_alike_keep_apart() {
    let runner = RunnerGen {
        key: "tf".into(),
        group: true,
        path: "acme/infra/tf".into(),
        tags: Vec::new(),
        privileged: false,
        untagged: false,
        roles: vec![(0, Scope::Group(1, "rg-aA".into()))],
        graph: BTreeSet::new(),
        admin: false,
        suffix: "3f9a1c".into(),
        client_id: "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e".into(),
        principal_id: "6a1f0c2e-8b3d-4e5f-9a6b-7c8d9e0f1a2b".into(),
        chart: (10, 30, 3600),
    };
    let f = FleetGen {
        env: 0,
        region: 0,
        tenant: "3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b".into(),
        oidc: "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a".into(),
        subs: vec![
            (
                "platform".into(),
                "5ab5c1de-11fd-4dc5-a40e-4b9f9bf91558".into(),
            ),
            (
                "images".into(),
                "5ab5c1de-9198-43ed-989d-b8f507980d0a".into(),
            ),
        ],
        graph_ids: (1..=4)
            .map(|n| format!("{n:08}-0000-4000-8000-000000000000"))
            .collect(),
        runners: vec![runner],
    };
    let dir = scratch();
    let tree = import_render(&show_json(&f), &dir);
    assert_eq!(rendered_facts(&tree), f.oracle());
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every generated article-shaped state imports with nothing unmapped, validates and
    /// renders, and the rendered files say what the generator put in the state.
    #[test]
    fn generated_article_states_import_and_render_what_they_hold(f in fleet()) {
        let dir = scratch();
        let tree = import_render(&show_json(&f), &dir);
        prop_assert_eq!(rendered_facts(&tree), f.oracle());
        let want: BTreeMap<String, (RunnerType, bool, bool)> = f
            .runners
            .iter()
            .map(|r| {
                let t = if r.group { RunnerType::Group } else { RunnerType::Project };
                (r.key.clone(), (t, r.privileged, r.untagged))
            })
            .collect();
        prop_assert_eq!(settings(&tree), want);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
