//! The state's resources sorted to the runners they belong to: each identity by its
//! `for_each` key, its credential by `parent_id`, role and app-role assignments by principal,
//! each module instance's Kubernetes, Helm and GitLab resources by the module's key. What
//! belongs to no runner, or to a type the article's Terraform does not have, is listed.

use super::state::Resource;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the state holds for one runner.
#[derive(Default)]
pub struct Found<'a> {
    pub identity: Option<&'a Resource>,
    pub credential: Option<&'a Resource>,
    pub roles: Vec<&'a Resource>,
    pub app_roles: Vec<&'a Resource>,
    pub namespace: Option<&'a Resource>,
    pub service_account: Option<&'a Resource>,
    pub cluster_admin: Vec<&'a Resource>,
    /// The executor's Role and RoleBinding of the runner's module.
    pub rbac: Vec<&'a Resource>,
    pub secret: Option<&'a Resource>,
    pub helm: Option<&'a Resource>,
    pub group: Option<&'a Resource>,
    pub project: Option<&'a Resource>,
    pub gitlab_runner: Option<&'a Resource>,
}

/// The state sorted: runners by key, the Graph service principal's app roles (ID → name),
/// what was mapped (addresses), what was not (address: why).
#[derive(Default)]
pub struct Collected<'a> {
    pub runners: BTreeMap<String, Found<'a>>,
    pub graph_roles: BTreeMap<String, String>,
    pub graph_object_id: Option<String>,
    pub mapped: Vec<&'a Resource>,
    pub unmapped: Vec<String>,
}

/// Microsoft Graph's application ID (the service principal the article's app roles are on).
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Read-only data sources that carry nothing to map.
const HARMLESS_DATA: &[&str] = &[
    "azurerm_client_config",
    "azurerm_subscription",
    "azurerm_subscriptions",
    "azurerm_kubernetes_cluster",
    "azurerm_resource_group",
    "azuread_client_config",
];

impl<'a> Collected<'a> {
    fn unmapped(&mut self, r: &Resource, why: &str) {
        self.unmapped.push(format!("{}: {why}", r.address));
    }

    fn runner(&mut self, key: &str) -> &mut Found<'a> {
        self.runners.entry(key.to_owned()).or_default()
    }
}

pub fn collect(resources: &[Resource]) -> Collected<'_> {
    let mut c = Collected::default();
    // Identities first: everything else finds its runner through them.
    let mut by_principal: BTreeMap<String, String> = BTreeMap::new();
    let mut by_id: BTreeMap<String, String> = BTreeMap::new();
    for r in resources
        .iter()
        .filter(|r| r.managed && r.module.is_empty() && r.kind == "azurerm_user_assigned_identity")
    {
        let Some(key) = r.key().filter(|k| crate::spec::check::is_runner_key(k)) else {
            c.unmapped(r, "an identity whose `for_each` key is no runner key");
            continue;
        };
        if let Some(p) = r.str("principal_id") {
            by_principal.insert(p.to_lowercase(), key.to_owned());
        }
        if let Some(id) = r.str("id") {
            by_id.insert(id.to_lowercase(), key.to_owned());
        }
        c.runner(key).identity = Some(r);
        c.mapped.push(r);
    }
    for r in resources.iter().filter(|r| r.module.is_empty()) {
        root(&mut c, r, &by_principal, &by_id);
    }
    for r in resources.iter().filter(|r| !r.module.is_empty()) {
        module(&mut c, r);
    }
    c
}

/// A resource of the root module.
fn root<'a>(
    c: &mut Collected<'a>,
    r: &'a Resource,
    by_principal: &BTreeMap<String, String>,
    by_id: &BTreeMap<String, String>,
) {
    let owner = |k: &str| {
        r.str(k)
            .and_then(|p| by_principal.get(&p.to_lowercase()))
            .cloned()
    };
    let why = match (r.managed, r.kind.as_str()) {
        (true, "azurerm_user_assigned_identity") => return,
        (true, "azurerm_federated_identity_credential") => {
            let parent = r.str("parent_id").map(str::to_lowercase);
            match parent.and_then(|p| by_id.get(&p)).cloned() {
                Some(key) if c.runner(&key).credential.is_some() => {
                    format!("a second federated credential on runner `{key}`'s identity")
                }
                Some(key) => {
                    c.runner(&key).credential = Some(r);
                    c.mapped.push(r);
                    return;
                }
                None => "a federated credential on no runner's identity".into(),
            }
        }
        (true, "azurerm_role_assignment") => match owner("principal_id") {
            Some(key) => {
                c.runner(&key).roles.push(r);
                c.mapped.push(r);
                return;
            }
            None => format!(
                "a role assignment (`{}` at `{}`) whose principal `{}` is no runner's identity",
                r.str("role_definition_name").unwrap_or("?"),
                r.str("scope").unwrap_or("?"),
                r.str("principal_id").unwrap_or("?")
            ),
        },
        (true, "azuread_app_role_assignment") => match owner("principal_object_id") {
            Some(key) => {
                c.runner(&key).app_roles.push(r);
                c.mapped.push(r);
                return;
            }
            None => "an app role assignment whose principal is no runner's identity".into(),
        },
        (_, "azuread_service_principal")
            if r.str("client_id").or(r.str("application_id")) == Some(GRAPH_APP_ID) =>
        {
            graph(c, r);
            return;
        }
        (false, k) if HARMLESS_DATA.contains(&k) => return,
        (_, k) => format!("resource type `{k}` has no runnergen counterpart"),
    };
    c.unmapped(r, &why);
}

/// The Microsoft Graph service principal: its app roles by ID.
fn graph<'a>(c: &mut Collected<'a>, r: &'a Resource) {
    for (name, id) in r
        .values
        .get("app_role_ids")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(id) = id.as_str() {
            c.graph_roles.insert(id.to_lowercase(), name.clone());
        }
    }
    c.graph_object_id = r.str("object_id").map(str::to_lowercase);
    // Read, not taken over: Microsoft Graph's service principal is the tenant's, not the
    // fleet's (the article declares it with `use_existing`), and other Terraform code may
    // assign its app roles; it stays in Terraform's state.
}

/// The runner key of a module instance (`module.runners["tf"]`).
fn module_key(module: &str) -> Option<&str> {
    let last = module.rsplit("module.").next()?;
    let key = last.split_once("[\"")?.1.strip_suffix("\"]")?;
    crate::spec::check::is_runner_key(key).then_some(key)
}

/// A resource of a runner's module instance.
fn module<'a>(c: &mut Collected<'a>, r: &'a Resource) {
    let Some(key) = module_key(&r.module) else {
        c.unmapped(r, "in a module whose key is no runner key");
        return;
    };
    let f = c.runner(key);
    let slot = match (r.managed, r.kind.as_str()) {
        (true, "kubernetes_namespace_v1" | "kubernetes_namespace") => &mut f.namespace,
        (true, "kubernetes_service_account_v1" | "kubernetes_service_account") => {
            &mut f.service_account
        }
        (true, "kubernetes_secret_v1" | "kubernetes_secret") => &mut f.secret,
        (true, "helm_release") => &mut f.helm,
        (false, "gitlab_group") => &mut f.group,
        (false, "gitlab_project") => &mut f.project,
        (true, "gitlab_user_runner") => &mut f.gitlab_runner,
        (true, "kubernetes_cluster_role_binding_v1" | "kubernetes_cluster_role_binding") => {
            f.cluster_admin.push(r);
            c.mapped.push(r);
            return;
        }
        // The executor's Role and its binding: runnergen renders its own (the same rules);
        // those it names otherwise are named for deletion (`leftover`).
        (
            true,
            "kubernetes_role"
            | "kubernetes_role_v1"
            | "kubernetes_role_binding"
            | "kubernetes_role_binding_v1",
        ) => {
            f.rbac.push(r);
            c.mapped.push(r);
            return;
        }
        // The random suffixes are in the names import keeps.
        (true, "random_id" | "random_string" | "random_pet") => {
            c.mapped.push(r);
            return;
        }
        (_, k) => {
            let why = format!("resource type `{k}` has no runnergen counterpart");
            c.unmapped(r, &why);
            return;
        }
    };
    if slot.is_some() {
        let why = format!("a second `{}` in runner `{key}`'s module", r.kind);
        c.unmapped(r, &why);
    } else {
        *slot = Some(r);
        if r.managed {
            c.mapped.push(r);
        }
    }
}
