//! The Azure side of an environment: per runner a user-assigned managed identity, its federated
//! identity credential and its role assignments, as Bicep (what a reviewer reads) and as the
//! equivalent ARM JSON (what `az deployment sub create` runs, no Bicep CLI needed).
//!
//! Layout under `<env>/azure/`:
//! - `main.bicep` / `main.json`: subscription-scope deployment in the identities' subscription. It
//!   creates the identities' resource group, deploys `modules/identities.bicep` into it, then one
//!   role-assignment module per runner and target scope.
//! - `modules/*.bicep`: the modules main.bicep uses (main.json inlines them as nested deployments).
//! - `graph.bicep` / `graph.json`: Microsoft Graph app-role assignments, only when a runner needs
//!   Graph permissions; deployed separately by an Entra admin.
//! - `bicepconfig.json`: the Microsoft Graph Bicep extension, so `bicep build graph.bicep` works.
//!
//! Facts used here come from `../shared/reference/azure.md`; each rule names its upstream source.

use crate::facts::{self, ROLE_TARGET_TYPES, RoleTargetType, role_target_type};
use crate::model::{self, Fleet, Runner, Scope};
use crate::render::{RenderError, header, to_json};
use crate::tree::Tree;
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};

/// The Bicep extension alias used by graph.bicep and declared in bicepconfig.json
/// (msgraph-bicep-types; learn.microsoft.com/graph/templates/how-to-dynamic-types).
pub const GRAPH_EXTENSION_ALIAS: &str = "microsoftGraphV1";
pub const GRAPH_EXTENSION_REF: &str =
    "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0";
pub const GRAPH_EXTENSION_VERSION: &str = "1.0.0";

/// ARM template schemas (Bicep `TemplateWriter.GetSchema`, azure.md §4).
const SCHEMA_SUBSCRIPTION: &str =
    "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#";
const SCHEMA_RESOURCE_GROUP: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

const TYPE_IDENTITY: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";
const TYPE_FIC: &str =
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials";
const TYPE_DEPLOYMENT: &str = "Microsoft.Resources/deployments";

/// Azure deployment names: at most 64 characters (azure-docs resource-name-rules.md,
/// Microsoft.Resources/deployments).
const MAX_DEPLOYMENT_NAME: usize = 64;

/// The name of the nested deployment that creates an environment's identities.
pub fn identities_deployment_name(env: &model::Environment) -> String {
    format!("{}-identities", model::deployment_name(env))
}

/// The name of the separate Graph deployment (graph.json).
pub fn graph_deployment_name(env: &model::Environment) -> String {
    format!("{}-graph", model::deployment_name(env))
}

/// Renders the Azure files of one environment into `tree`.
pub fn render(
    fleet: &Fleet,
    env: &model::Environment,
    source: &str,
    tree: &mut Tree,
) -> Result<(), RenderError> {
    let _ = fleet;
    let plan = Plan::build(env)?;
    let dir = format!("{}/azure", env.key);
    let jinja = templates()?;

    tree.insert(
        format!("{dir}/main.bicep"),
        render_template(&jinja, "main.bicep", plan.main_context(source))?,
    )?;
    tree.insert(format!("{dir}/main.json"), to_json(&plan.main_json(source)))?;
    tree.insert(
        format!("{dir}/modules/identities.bicep"),
        render_template(&jinja, "identities.bicep", plan.identities_context(source))?,
    )?;
    for kind in plan.module_kinds() {
        tree.insert(
            format!("{dir}/modules/{}", kind.module_file()),
            render_template(
                &jinja,
                "role-assignments.bicep",
                role_module_context(kind, source),
            )?,
        )?;
    }
    tree.insert(
        format!("{dir}/bicepconfig.json"),
        to_json(&json!({"extensions": {GRAPH_EXTENSION_ALIAS: GRAPH_EXTENSION_REF}})),
    )?;
    if plan.needs_graph() {
        tree.insert(
            format!("{dir}/graph.bicep"),
            render_template(&jinja, "graph.bicep", plan.graph_context(source)?)?,
        )?;
        tree.insert(
            format!("{dir}/graph.json"),
            to_json(&plan.graph_json(source)?),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Plan: everything both the Bicep and the ARM JSON are made from, so the two agree.

/// Where one role-assignment module instance is deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ModuleKind {
    Subscription,
    ResourceGroup,
    Resource(&'static RoleTargetType),
}

impl ModuleKind {
    fn module_file(self) -> String {
        match self {
            ModuleKind::Subscription => "role-assignments-subscription.bicep".into(),
            ModuleKind::ResourceGroup => "role-assignments-resource-group.bicep".into(),
            ModuleKind::Resource(t) => format!("role-assignments-{}.bicep", t.module),
        }
    }
    fn name(self) -> &'static str {
        match self {
            ModuleKind::Subscription => "subscription",
            ModuleKind::ResourceGroup => "resource_group",
            ModuleKind::Resource(_) => "resource",
        }
    }
}

/// The role assignments of one runner at one target scope: one module instance.
#[derive(Debug)]
struct Group {
    kind: ModuleKind,
    /// The scope's ARM ID as the spec gave it (for comments).
    scope_id: String,
    subscription_id: String,
    /// Empty for subscription scope.
    resource_group: String,
    /// Only for resource scope.
    resource_name: String,
    /// Deployment name (`ra-<symbol>-<hash>`) and Bicep symbol (`<symbol>_ra_<hash>`).
    deployment: String,
    symbol: String,
    /// (role definition GUID, display name), no duplicates.
    roles: Vec<(String, String)>,
}

#[derive(Debug)]
struct RunnerPlan<'a> {
    runner: &'a Runner,
    identity_symbol: String,
    credential_symbol: String,
    groups: Vec<Group>,
}

#[derive(Debug)]
struct Plan<'a> {
    env: &'a model::Environment,
    runners: Vec<RunnerPlan<'a>>,
}

impl<'a> Plan<'a> {
    fn build(env: &'a model::Environment) -> Result<Self, RenderError> {
        let mut runners = Vec::new();
        let mut deployments = BTreeSet::new();
        let mut symbols: BTreeSet<String> =
            ["rg", "identities"].into_iter().map(String::from).collect();
        for r in &env.runners {
            // Symbols are the runner's (lowercase, digits, `_`) plus a capitalised suffix, so
            // two runners' symbols never collide.
            let identity_symbol = format!("{}Identity", r.symbol);
            let credential_symbol = format!("{}Credential", r.symbol);
            // Group by target scope; ARM IDs are case-insensitive, so group case-insensitively.
            let mut by_scope: BTreeMap<String, Group> = BTreeMap::new();
            for ra in &r.roles {
                let key = ra.scope.id().to_lowercase();
                if !by_scope.contains_key(&key) {
                    let group = group_for(r, &ra.scope, &key)?;
                    by_scope.insert(key.clone(), group);
                }
                let group = by_scope.get_mut(&key).expect("inserted above");
                let guid = ra.role_definition_id.to_lowercase();
                if !group.roles.iter().any(|(g, _)| *g == guid) {
                    let name = ra.role_name.clone().unwrap_or_else(|| "custom role".into());
                    group.roles.push((guid, name));
                }
            }
            let groups: Vec<Group> = by_scope.into_values().collect();
            for g in &groups {
                if !deployments.insert(g.deployment.clone()) {
                    return Err(RenderError::Template(format!(
                        "runner `{}`: two role-assignment deployments are both named `{}`",
                        r.key, g.deployment
                    )));
                }
            }
            for s in [&identity_symbol, &credential_symbol]
                .into_iter()
                .chain(groups.iter().map(|g| &g.symbol))
            {
                if !symbols.insert(s.clone()) {
                    return Err(RenderError::Template(format!(
                        "runner `{}`: the Bicep symbol `{s}` is used twice",
                        r.key
                    )));
                }
            }
            runners.push(RunnerPlan {
                runner: r,
                identity_symbol,
                credential_symbol,
                groups,
            });
        }
        let identities = identities_deployment_name(env);
        if identities.len() > MAX_DEPLOYMENT_NAME {
            return Err(RenderError::Template(format!(
                "environment `{}`: deployment name `{identities}` is longer than {MAX_DEPLOYMENT_NAME} characters",
                env.key
            )));
        }
        Ok(Plan { env, runners })
    }

    fn module_kinds(&self) -> BTreeSet<ModuleKind> {
        self.runners
            .iter()
            .flat_map(|r| r.groups.iter().map(|g| g.kind))
            .collect()
    }

    fn graph_runners(&self) -> impl Iterator<Item = &RunnerPlan<'a>> {
        self.runners
            .iter()
            .filter(|r| !r.runner.graph_permissions.is_empty())
    }

    fn needs_graph(&self) -> bool {
        self.graph_runners().next().is_some()
    }

    /// `[reference(<identities deployment>).outputs.<output>.value]`: how Bicep compiles
    /// `identities.outputs.<output>` of an RG-scoped module in a subscription-scope template.
    fn identities_output(&self, output: &str) -> String {
        format!(
            "[reference({}, '{}').outputs.{output}.value]",
            self.identities_deployment_id(),
            facts::API_DEPLOYMENT
        )
    }

    fn identities_deployment_id(&self) -> String {
        format!(
            "extensionResourceId(format('/subscriptions/{{0}}/resourceGroups/{{1}}', subscription().subscriptionId, {}), '{TYPE_DEPLOYMENT}', {})",
            arm_str(&self.env.identity_resource_group),
            arm_str(&identities_deployment_name(self.env))
        )
    }

    // ---- Bicep contexts ---------------------------------------------------------------------

    fn main_context(&self, source: &str) -> Json {
        let env = self.env;
        let runners: Vec<Json> = self
            .runners
            .iter()
            .map(|rp| {
                let groups: Vec<Json> = rp
                    .groups
                    .iter()
                    .map(|g| {
                        json!({
                            "kind": g.kind.name(),
                            "module": g.kind.module_file(),
                            "symbol": g.symbol,
                            "deployment": g.deployment,
                            "scope_id": g.scope_id,
                            "subscription_id": g.subscription_id,
                            "resource_group": g.resource_group,
                            "resource_name": g.resource_name,
                            "roles_display": g.roles.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", "),
                            "roles": g.roles.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                json!({
                    "key": rp.runner.key,
                    "client_id_output": rp.runner.client_id_output,
                    "principal_id_output": rp.runner.principal_id_output,
                    "groups": groups,
                })
            })
            .collect();
        json!({
            "header": header(source),
            "env": env.key,
            "deployment": model::deployment_name(env),
            "subscription": env.identity_subscription_id,
            "location": env.location,
            "resource_group": env.identity_resource_group,
            "identities_deployment": identities_deployment_name(env),
            "api_resource_group": facts::API_RESOURCE_GROUP,
            "graph": self.needs_graph(),
            "runners": runners,
        })
    }

    fn identities_context(&self, source: &str) -> Json {
        let env = self.env;
        let mut previous: Option<&str> = None;
        let mut runners = Vec::new();
        for rp in &self.runners {
            let r = rp.runner;
            runners.push(json!({
                "key": r.key,
                "identity_symbol": rp.identity_symbol,
                "credential_symbol": rp.credential_symbol,
                "previous_credential": previous,
                "identity_name": r.identity_name,
                "purpose": r.purpose,
                "federated_credential_name": r.federated_credential_name,
                "oidc_issuer_url": r.oidc_issuer_url,
                "federated_subject": r.federated_subject,
                "client_id_output": r.client_id_output,
                "principal_id_output": r.principal_id_output,
            }));
            previous = Some(&rp.credential_symbol);
        }
        json!({
            "header": header(source),
            "env": env.key,
            "location": env.location,
            "resource_group": env.identity_resource_group,
            "api_identity": facts::API_IDENTITY,
            "audience": facts::FIC_AUDIENCE,
            "runners": runners,
        })
    }

    fn graph_context(&self, source: &str) -> Result<Json, RenderError> {
        let env = self.env;
        let mut runners = Vec::new();
        for rp in self.graph_runners() {
            let permissions: Vec<Json> = graph_permissions(rp)?
                .into_iter()
                .map(|(symbol, name)| json!({"symbol": symbol, "name": name}))
                .collect();
            runners.push(json!({
                "key": rp.runner.key,
                "identity_symbol": rp.identity_symbol,
                "identity_name": rp.runner.identity_name,
                "permissions": permissions,
            }));
        }
        Ok(json!({
            "header": header(source),
            "env": env.key,
            "deployment": graph_deployment_name(env),
            "subscription": env.identity_subscription_id,
            "location": env.location,
            "resource_group": env.identity_resource_group,
            "graph_app_id": facts::GRAPH_APP_ID,
            "api_identity": facts::API_IDENTITY,
            "runners": runners,
        }))
    }

    // ---- ARM JSON ---------------------------------------------------------------------------

    fn main_json(&self, source: &str) -> Json {
        let env = self.env;
        let rg_id = format!(
            "[subscriptionResourceId('Microsoft.Resources/resourceGroups', {})]",
            arm_str(&env.identity_resource_group)
        );
        let mut resources = vec![
            json!({
                "type": "Microsoft.Resources/resourceGroups",
                "apiVersion": facts::API_RESOURCE_GROUP,
                "name": arm_literal(&env.identity_resource_group),
                "location": arm_literal(&env.location),
                "tags": {"managedBy": "runnergen"},
            }),
            json!({
                "type": TYPE_DEPLOYMENT,
                "apiVersion": facts::API_DEPLOYMENT,
                "name": arm_literal(&identities_deployment_name(env)),
                "resourceGroup": arm_literal(&env.identity_resource_group),
                "properties": {
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "mode": "Incremental",
                    "template": self.identities_template(),
                },
                "dependsOn": [rg_id],
            }),
        ];
        let identities_id = format!("[{}]", self.identities_deployment_id());
        let mut outputs = serde_json::Map::new();
        for rp in &self.runners {
            for g in &rp.groups {
                let mut parameters = serde_json::Map::new();
                parameters.insert(
                    "principalId".into(),
                    json!({"value": self.identities_output(&rp.runner.principal_id_output)}),
                );
                parameters.insert(
                    "roleDefinitionIds".into(),
                    json!({"value": g.roles.iter().map(|(id, _)| arm_literal(id)).collect::<Vec<_>>()}),
                );
                if let ModuleKind::Resource(_) = g.kind {
                    parameters.insert(
                        "resourceName".into(),
                        json!({"value": arm_literal(&g.resource_name)}),
                    );
                }
                let mut deployment = json!({
                    "type": TYPE_DEPLOYMENT,
                    "apiVersion": facts::API_DEPLOYMENT,
                    "name": arm_literal(&g.deployment),
                    "subscriptionId": arm_literal(&g.subscription_id),
                    "properties": {
                        "expressionEvaluationOptions": {"scope": "inner"},
                        "mode": "Incremental",
                        "parameters": parameters,
                        "template": role_assignment_template(g.kind),
                    },
                    "dependsOn": [identities_id],
                });
                match g.kind {
                    // A subscription-level deployment needs a location for its metadata.
                    ModuleKind::Subscription => {
                        deployment["location"] = json!(arm_literal(&env.location))
                    }
                    _ => deployment["resourceGroup"] = json!(arm_literal(&g.resource_group)),
                }
                resources.push(deployment);
            }
            for output in [&rp.runner.client_id_output, &rp.runner.principal_id_output] {
                outputs.insert(
                    output.clone(),
                    json!({"type": "string", "value": self.identities_output(output)}),
                );
            }
        }
        let mut meta = metadata(source);
        meta["runnergen"] = json!({ "runners": access_summary(env) });
        json!({
            "$schema": SCHEMA_SUBSCRIPTION,
            "contentVersion": "1.0.0.0",
            "metadata": meta,
            "resources": resources,
            "outputs": outputs,
        })
    }

    /// The inner template of the identities deployment (modules/identities.bicep).
    fn identities_template(&self) -> Json {
        let env = self.env;
        let mut resources = Vec::new();
        let mut outputs = serde_json::Map::new();
        let mut previous_fic: Option<String> = None;
        for rp in &self.runners {
            let r = rp.runner;
            let identity_id = format!(
                "resourceId('{TYPE_IDENTITY}', {})",
                arm_str(&r.identity_name)
            );
            resources.push(json!({
                "type": TYPE_IDENTITY,
                "apiVersion": facts::API_IDENTITY,
                "name": arm_literal(&r.identity_name),
                "location": arm_literal(&env.location),
                "tags": {
                    "purpose": arm_literal(&r.purpose),
                    "managedBy": "runnergen",
                    "environment": arm_literal(&env.key),
                },
                // The 2024-11-30 schema requires `properties` (azure-resource-manager-schemas).
                "properties": {},
            }));
            // Child names are `<parent>/<child>`, emitted as format() like Bicep does: the schema's
            // name pattern rejects a literal with '/' (azure.md §4/§6).
            let mut depends = vec![format!("[{identity_id}]")];
            // FIC writes under one identity must not run concurrently (entra-docs
            // workload-identity-federation-considerations.md): chain every FIC after the previous.
            if let Some(prev) = &previous_fic {
                depends.push(format!("[{prev}]"));
            }
            resources.push(json!({
                "type": TYPE_FIC,
                "apiVersion": facts::API_IDENTITY,
                "name": format!(
                    "[format('{{0}}/{{1}}', {}, {})]",
                    arm_str(&r.identity_name),
                    arm_str(&r.federated_credential_name)
                ),
                "properties": {
                    "issuer": arm_literal(&r.oidc_issuer_url),
                    "subject": arm_literal(&r.federated_subject),
                    "audiences": [facts::FIC_AUDIENCE],
                },
                "dependsOn": depends,
            }));
            previous_fic = Some(format!(
                "resourceId('{TYPE_FIC}', {}, {})",
                arm_str(&r.identity_name),
                arm_str(&r.federated_credential_name)
            ));
            for (output, property) in [
                (&r.client_id_output, "clientId"),
                (&r.principal_id_output, "principalId"),
            ] {
                outputs.insert(
                    output.clone(),
                    json!({
                        "type": "string",
                        "value": format!("[reference({identity_id}, '{}').{property}]", facts::API_IDENTITY),
                    }),
                );
            }
        }
        json!({
            "$schema": SCHEMA_RESOURCE_GROUP,
            "contentVersion": "1.0.0.0",
            "resources": resources,
            "outputs": outputs,
        })
    }

    /// graph.json: languageVersion 2.0 with the Graph extension import, object-form resources keyed
    /// by symbol (what Bicep emits for `extension`: azure.md §3, Bicep `TemplateWriter.cs`).
    fn graph_json(&self, source: &str) -> Result<Json, RenderError> {
        let env = self.env;
        let mut resources = serde_json::Map::new();
        resources.insert(
            "graphSp".into(),
            json!({
                "existing": true,
                "import": GRAPH_EXTENSION_ALIAS,
                "type": "Microsoft.Graph/servicePrincipals@v1.0",
                "properties": {"appId": facts::GRAPH_APP_ID},
            }),
        );
        for rp in self.graph_runners() {
            resources.insert(
                rp.identity_symbol.clone(),
                json!({
                    "existing": true,
                    "type": TYPE_IDENTITY,
                    "apiVersion": facts::API_IDENTITY,
                    "subscriptionId": arm_literal(&env.identity_subscription_id),
                    "resourceGroup": arm_literal(&env.identity_resource_group),
                    "name": arm_literal(&rp.runner.identity_name),
                }),
            );
            for (symbol, permission) in graph_permissions(rp)? {
                resources.insert(
                    symbol,
                    json!({
                        "import": GRAPH_EXTENSION_ALIAS,
                        "type": "Microsoft.Graph/appRoleAssignedTo@v1.0",
                        "properties": {
                            "appRoleId": format!(
                                "[filter(reference('graphSp').appRoles, lambda('r', equals(lambdaVariables('r').value, {})))[0].id]",
                                arm_str(&permission)
                            ),
                            "principalId": format!("[reference('{}').principalId]", rp.identity_symbol),
                            "resourceId": "[reference('graphSp').id]",
                        },
                        "dependsOn": ["graphSp", rp.identity_symbol],
                    }),
                );
            }
        }
        Ok(json!({
            "$schema": SCHEMA_SUBSCRIPTION,
            "languageVersion": "2.0",
            "contentVersion": "1.0.0.0",
            "metadata": metadata(source),
            "imports": {GRAPH_EXTENSION_ALIAS: {"provider": "MicrosoftGraph", "version": GRAPH_EXTENSION_VERSION}},
            "resources": resources,
        }))
    }
}

/// One group per (runner, target scope): module kind, names and the scope's parts.
fn group_for(r: &Runner, scope: &Scope, key: &str) -> Result<Group, RenderError> {
    let hash = format!("{:08x}", fnv1a32(key));
    let deployment = format!("ra-{}-{hash}", r.symbol);
    if deployment.len() > MAX_DEPLOYMENT_NAME {
        return Err(RenderError::Template(format!(
            "runner `{}`: deployment name `{deployment}` is longer than {MAX_DEPLOYMENT_NAME} characters",
            r.key
        )));
    }
    let symbol = format!("{}_ra_{hash}", r.symbol);
    let group = |kind, resource_group: &str, resource_name: &str| Group {
        kind,
        scope_id: scope.id(),
        subscription_id: scope.subscription_id().to_owned(),
        resource_group: resource_group.to_owned(),
        resource_name: resource_name.to_owned(),
        deployment: deployment.clone(),
        symbol: symbol.clone(),
        roles: Vec::new(),
    };
    Ok(match scope {
        Scope::Subscription { .. } => group(ModuleKind::Subscription, "", ""),
        Scope::ResourceGroup { resource_group, .. } => {
            group(ModuleKind::ResourceGroup, resource_group, "")
        }
        Scope::Resource {
            resource_group,
            resource_type,
            id,
            ..
        } => {
            let Some(t) = role_target_type(resource_type) else {
                let known: Vec<&str> = ROLE_TARGET_TYPES.iter().map(|t| t.resource_type).collect();
                return Err(RenderError::Template(format!(
                    "runner `{}`: a role assignment on `{id}` (type `{resource_type}`) is not supported; supported resource types: {}",
                    r.key,
                    known.join(", ")
                )));
            };
            let Some(parsed) = facts::parse_resource_id(id) else {
                return Err(RenderError::Template(format!(
                    "runner `{}`: `{id}` is not a resource ID",
                    r.key
                )));
            };
            group(ModuleKind::Resource(t), resource_group, &parsed.name)
        }
    })
}

/// (symbol, permission) of each Graph permission of a runner.
fn graph_permissions(rp: &RunnerPlan) -> Result<Vec<(String, String)>, RenderError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in &rp.runner.graph_permissions {
        let symbol = format!(
            "{}_{}",
            rp.runner.symbol,
            p.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
        if !seen.insert(symbol.clone()) {
            // Same permission twice, or two that differ only in punctuation.
            continue;
        }
        if symbol == rp.identity_symbol || symbol == "graphSp" {
            return Err(RenderError::Template(format!(
                "runner `{}`: Graph permission `{p}` gives the Bicep symbol `{symbol}`, which is taken",
                rp.runner.key
            )));
        }
        out.push((symbol, p.clone()));
    }
    Ok(out)
}

/// The inner template of a role-assignment module (modules/role-assignments-*.bicep).
fn role_assignment_template(kind: ModuleKind) -> Json {
    let role = "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', parameters('roleDefinitionIds')[copyIndex()])";
    let (schema, scope_id) = match kind {
        ModuleKind::Subscription => (SCHEMA_SUBSCRIPTION, "subscription().id".to_owned()),
        ModuleKind::ResourceGroup => (SCHEMA_RESOURCE_GROUP, "resourceGroup().id".to_owned()),
        // What Bicep emits for `scope: target` of an `existing` resource (azure.md §1.3 table).
        ModuleKind::Resource(t) => (
            SCHEMA_RESOURCE_GROUP,
            format!(
                "resourceId('{}', parameters('resourceName'))",
                t.resource_type
            ),
        ),
    };
    let mut assignment = json!({
        "copy": {"name": "assignments", "count": "[length(parameters('roleDefinitionIds'))]"},
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": facts::API_ROLE_ASSIGNMENT,
        // Computable at deployment start: parameters only, no reference() (azure-docs
        // role-assignments-template.md); guid(scope, principal, role) per bicep scenarios-rbac.md.
        "name": format!("[guid({scope_id}, parameters('principalId'), {role})]"),
        "properties": {
            "roleDefinitionId": format!("[{role}]"),
            "principalId": "[parameters('principalId')]",
            // Skips the lookup that fails with PrincipalNotFound while a new identity replicates
            // (azure-docs role-assignments-template.md).
            "principalType": "ServicePrincipal",
        },
    });
    let mut parameters = json!({
        "principalId": {"type": "string"},
        "roleDefinitionIds": {"type": "array"},
    });
    if let ModuleKind::Resource(_) = kind {
        assignment["scope"] = json!(format!("[{scope_id}]"));
        parameters["resourceName"] = json!({"type": "string"});
    }
    json!({
        "$schema": schema,
        "contentVersion": "1.0.0.0",
        "parameters": parameters,
        "resources": [assignment],
    })
}

fn role_module_context(kind: ModuleKind, source: &str) -> Json {
    let (resource_type, api_version, scope_id_expr) = match kind {
        ModuleKind::Subscription => ("", "", "subscription().id"),
        ModuleKind::ResourceGroup => ("", "", "resourceGroup().id"),
        ModuleKind::Resource(t) => (t.resource_type, t.api_version, "target.id"),
    };
    json!({
        "header": header(source),
        "kind": kind.name(),
        "resource_type": resource_type,
        "api_version": api_version,
        "scope_id_expr": scope_id_expr,
        "api_role_assignment": facts::API_ROLE_ASSIGNMENT,
    })
}

fn metadata(source: &str) -> Json {
    json!({"_generator": {"name": "runnergen"}, "description": header(source)})
}

// ---------------------------------------------------------------------------------------------
// Escaping and small helpers.

/// A Bicep string literal: single quotes, with `\`, `'`, `${` and control characters escaped
/// (Bicep docs, data-types.md "Strings": escapes `\\ \' \n \r \t \$ \u{x}`).
pub fn bicep_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{{{:X}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Text safe inside a `//` comment: no line breaks or other control characters.
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A string literal inside an ARM template expression: single quotes, `'` doubled
/// (azure-docs template-expressions.md, "Escape characters").
fn arm_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A literal JSON string value ARM must not read as an expression: one that starts with `[`
/// and ends with `]` gets a second `[` (azure-docs template-expressions.md, "Escape characters").
fn arm_literal(s: &str) -> String {
    if s.starts_with('[') && s.ends_with(']') {
        format!("[{s}")
    } else {
        s.to_owned()
    }
}

/// 32-bit FNV-1a: a stable, dependency-free hash for deterministic deployment names.
fn fnv1a32(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

// ---------------------------------------------------------------------------------------------
// Templates.

const TEMPLATES: &[(&str, &str)] = &[
    (
        "main.bicep",
        include_str!("../../templates/azure/main.bicep.j2"),
    ),
    (
        "identities.bicep",
        include_str!("../../templates/azure/identities.bicep.j2"),
    ),
    (
        "role-assignments.bicep",
        include_str!("../../templates/azure/role-assignments.bicep.j2"),
    ),
    (
        "graph.bicep",
        include_str!("../../templates/azure/graph.bicep.j2"),
    ),
];

fn templates() -> Result<minijinja::Environment<'static>, RenderError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(template_error)?;
    env.set_syntax(syntax);
    env.add_filter("bq", |s: &str| bicep_string(s));
    env.add_filter("comment", |s: &str| comment_text(s));
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(template_error)?;
    }
    Ok(env)
}

fn template_error(e: minijinja::Error) -> RenderError {
    RenderError::Template(format!("{e:#}"))
}

fn render_template(
    env: &minijinja::Environment,
    name: &str,
    ctx: Json,
) -> Result<String, RenderError> {
    let out = env
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
        .map_err(|e| RenderError::Template(format!("azure/{name}: {e:#}")))?;
    Ok(tidy(&out))
}

/// LF line ends, no trailing blanks, exactly one final newline. Interpolated values never
/// carry a raw line break (strings are escaped, comments sanitised), so this never alters one.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.replace("\r\n", "\n").lines() {
        out.push_str(line.trim_end_matches([' ', '\t']));
        out.push('\n');
    }
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

/// What each runner's identity may do, in plain data: `metadata.runnergen.runners` of
/// main.json. ARM ignores template metadata; `runnergen diff` reads it to rank privilege
/// changes without reverse-engineering the deployment's expressions.
pub fn access_summary(env: &model::Environment) -> Json {
    let mut runners = serde_json::Map::new();
    for r in &env.runners {
        let roles: Vec<Json> = r
            .roles
            .iter()
            .map(|ra| json!({"role": ra.display_name(), "roleDefinitionId": ra.role_definition_id, "scope": ra.scope.id()}))
            .collect();
        runners.insert(
            r.key.clone(),
            json!({"roles": roles, "graphPermissions": r.graph_permissions}),
        );
    }
    Json::Object(runners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    const FIXTURE: &str = include_str!("../../fixtures/ascode/runners.yaml");

    /// Phase 1 of a second fleet: no client IDs yet, a blob cache, resource-scoped roles on
    /// several types, a custom role by GUID, values that need escaping, no Graph permissions.
    const PHASE1: &str = r#"
version: 1
organization: ascode
gitlab: {url: "https://gitlab.example.com/"}
tokenSource: {existingSecret: {}}
environments:
  dev:
    longName: development
    regionCode: neu
    location: northeurope
    tenantId: 3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b
    subscriptions:
      apps: 11111111-2222-4333-8444-555555555555
    identities: {subscription: apps, resourceGroup: rg-neu-dev-gitlab}
    cluster:
      oidcIssuerUrl: https://northeurope.oic.prod-aks.azure.com/3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/
runners:
  build-cache:
    environment: dev
    type: project
    path: group/app
    purpose: "[it's ${HOME} \\ ok]"
    cache:
      storageAccountId: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-cache/providers/Microsoft.Storage/storageAccounts/stcache
      container: runner-cache
    identity:
      roles:
        - role: Key Vault Secrets User
          scope: {resource: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-dev}
        - role: AcrPull
          scope: {resource: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/acrdev}
        - role: AcrPush
          scope: {resource: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/acrdev}
        - role: 0b9f7a61-2c3d-4e5f-8a9b-0c1d2e3f4a5b
          scope: {subscription: apps, resourceGroup: "rg-o'brien"}
  deploy:
    environment: dev
    type: group
    path: group
    purpose: Deploys
    identity:
      roles:
        - role: Reader
          scope: {subscription: apps}
"#;

    fn fleet(yaml: &str) -> Fleet {
        let checked = spec::load(yaml).unwrap_or_else(|d| panic!("spec: {d:#?}"));
        model::build(&checked).unwrap_or_else(|d| panic!("model: {d:#?}"))
    }

    fn render_env(fleet: &Fleet, key: &str) -> Result<Tree, RenderError> {
        let env = fleet
            .environments
            .iter()
            .find(|e| e.key == key)
            .expect("environment in the spec");
        let mut tree = Tree::new();
        render(fleet, env, "fleet/runners.yaml", &mut tree)?;
        Ok(tree)
    }

    fn text<'t>(tree: &'t Tree, path: &str) -> &'t str {
        tree.get_str(path).unwrap_or_else(|| {
            panic!(
                "{path} missing; have {:?}",
                tree.paths().collect::<Vec<_>>()
            )
        })
    }

    fn json_file(tree: &Tree, path: &str) -> Json {
        serde_json::from_str(text(tree, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn cases() -> Vec<(Fleet, &'static str)> {
        vec![(fleet(FIXTURE), "ss"), (fleet(PHASE1), "dev")]
    }

    fn env<'f>(fleet: &'f Fleet, key: &str) -> &'f model::Environment {
        fleet.environments.iter().find(|e| e.key == key).unwrap()
    }

    /// The identities deployment's inner resources.
    fn identity_resources(main: &Json) -> Vec<Json> {
        let deployment = main["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-identities"))
            })
            .expect("identities deployment");
        deployment["properties"]["template"]["resources"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Expected (lowercase scope ID, role GUID) pairs from the model.
    fn model_pairs(env: &model::Environment) -> BTreeSet<(String, String)> {
        env.runners
            .iter()
            .flat_map(|r| r.roles.iter())
            .map(|ra| (ra.scope.id().to_lowercase(), ra.role_definition_id.clone()))
            .collect()
    }

    /// (scope ID, role GUID) pairs the ARM JSON assigns.
    fn json_pairs(main: &Json) -> BTreeSet<(String, String)> {
        let mut pairs = BTreeSet::new();
        for d in main["resources"].as_array().unwrap() {
            if !d["name"].as_str().unwrap().starts_with("ra-") {
                continue;
            }
            let sub = d["subscriptionId"].as_str().unwrap();
            let params = &d["properties"]["parameters"];
            let inner = &d["properties"]["template"]["resources"][0];
            let scope = match (d["resourceGroup"].as_str(), inner["scope"].as_str()) {
                (None, None) => format!("/subscriptions/{sub}"),
                (Some(rg), None) => format!("/subscriptions/{sub}/resourceGroups/{rg}"),
                (Some(rg), Some(expr)) => {
                    let ty = expr
                        .strip_prefix("[resourceId('")
                        .and_then(|s| s.strip_suffix("', parameters('resourceName'))]"))
                        .unwrap_or_else(|| panic!("scope expression {expr}"));
                    let name = params["resourceName"]["value"].as_str().unwrap();
                    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ty}/{name}")
                }
                (None, Some(_)) => panic!("resource scope without resource group"),
            };
            for role in params["roleDefinitionIds"]["value"].as_array().unwrap() {
                pairs.insert((scope.to_lowercase(), role.as_str().unwrap().to_owned()));
            }
        }
        pairs
    }

    /// Reads a Bicep string literal at the start of `s` (as `bicep_string` writes them).
    fn bicep_literal(s: &str) -> String {
        let mut chars = s.strip_prefix('\'').expect("a string literal").chars();
        let mut out = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' => return out,
                '\\' => match chars.next().unwrap() {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
        panic!("unterminated literal in {s}")
    }

    /// The arguments of `subscription('…')` / `resourceGroup('…', '…')`.
    fn bicep_args(s: &str) -> Vec<String> {
        let mut rest = s.split_once('(').unwrap().1;
        let mut args = Vec::new();
        while rest.starts_with('\'') {
            let lit = bicep_literal(rest);
            args.push(lit.clone());
            rest = &rest[bicep_string(&lit).len()..];
            rest = rest.trim_start_matches([',', ' ']);
        }
        args
    }

    /// (scope ID, role GUID) pairs main.bicep assigns.
    fn bicep_pairs(main: &str) -> BTreeSet<(String, String)> {
        let mut pairs = BTreeSet::new();
        let mut lines = main.lines();
        while let Some(line) = lines.next() {
            let Some(module) = line
                .strip_prefix("module ")
                .and_then(|l| l.split_once(" 'modules/role-assignments-"))
                .map(|(_, m)| m.trim_end_matches(".bicep' = {").to_owned())
            else {
                continue;
            };
            let (mut scope, mut name, mut roles) = (Vec::new(), None, Vec::new());
            for line in lines.by_ref() {
                let t = line.trim();
                if line == "}" {
                    break;
                } else if let Some(s) = t.strip_prefix("scope: ") {
                    scope = bicep_args(s);
                } else if let Some(s) = t.strip_prefix("resourceName: ") {
                    name = Some(bicep_literal(s));
                } else if t.starts_with('\'') {
                    roles.push(bicep_literal(t));
                }
            }
            let id = match (module.as_str(), scope.as_slice()) {
                ("subscription", [sub]) => format!("/subscriptions/{sub}"),
                ("resource-group", [sub, rg]) => {
                    format!("/subscriptions/{sub}/resourceGroups/{rg}")
                }
                (m, [sub, rg]) => {
                    let t = ROLE_TARGET_TYPES
                        .iter()
                        .find(|t| t.module == m)
                        .expect("known module");
                    format!(
                        "/subscriptions/{sub}/resourceGroups/{rg}/providers/{}/{}",
                        t.resource_type,
                        name.clone().expect("resourceName")
                    )
                }
                other => panic!("unexpected module {other:?}"),
            };
            for role in roles {
                pairs.insert((id.to_lowercase(), role));
            }
        }
        pairs
    }

    /// Braces, brackets and parentheses balance outside strings and comments.
    fn balanced(bicep: &str) -> bool {
        let mut stack = Vec::new();
        for line in bicep.lines() {
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '/' if chars.peek() == Some(&'/') => break,
                    '\'' => loop {
                        match chars.next() {
                            Some('\\') => {
                                chars.next();
                            }
                            Some('\'') => break,
                            Some(_) => {}
                            None => return false,
                        }
                    },
                    '{' | '[' | '(' => stack.push(c),
                    '}' | ']' | ')' => {
                        let open = match c {
                            '}' => '{',
                            ']' => '[',
                            _ => '(',
                        };
                        if stack.pop() != Some(open) {
                            return false;
                        }
                    }
                    _ => {}
                }
            }
        }
        stack.is_empty()
    }

    #[test]
    fn writes_the_expected_files() {
        let f = fleet(FIXTURE);
        let tree = render_env(&f, "ss").unwrap();
        let paths: Vec<&str> = tree.paths().collect();
        assert_eq!(
            paths,
            [
                "ss/azure/bicepconfig.json",
                "ss/azure/graph.bicep",
                "ss/azure/graph.json",
                "ss/azure/main.bicep",
                "ss/azure/main.json",
                "ss/azure/modules/identities.bicep",
                "ss/azure/modules/role-assignments-registries.bicep",
                "ss/azure/modules/role-assignments-resource-group.bicep",
                "ss/azure/modules/role-assignments-subscription.bicep",
            ]
        );
        let f = fleet(PHASE1);
        let tree = render_env(&f, "dev").unwrap();
        let paths: Vec<&str> = tree.paths().collect();
        assert_eq!(
            paths,
            [
                "dev/azure/bicepconfig.json",
                "dev/azure/main.bicep",
                "dev/azure/main.json",
                "dev/azure/modules/identities.bicep",
                "dev/azure/modules/role-assignments-key-vaults.bicep",
                "dev/azure/modules/role-assignments-registries.bicep",
                "dev/azure/modules/role-assignments-resource-group.bicep",
                "dev/azure/modules/role-assignments-storage-accounts.bicep",
                "dev/azure/modules/role-assignments-subscription.bicep",
            ],
            "graph files only when a runner has Graph permissions"
        );
        assert_eq!(
            json_file(&tree, "dev/azure/bicepconfig.json"),
            json!({"extensions": {"microsoftGraphV1": "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0"}})
        );
    }

    #[test]
    fn files_are_tidy_and_headed() {
        for (f, key) in cases() {
            let tree = render_env(&f, key).unwrap();
            for (path, bytes) in tree.iter() {
                let s = std::str::from_utf8(bytes).unwrap();
                assert!(
                    s.ends_with('\n') && !s.ends_with("\n\n"),
                    "{path}: one final newline"
                );
                assert!(!s.contains('\r'), "{path}: LF only");
                assert!(
                    s.lines().all(|l| l == l.trim_end()),
                    "{path}: trailing blanks"
                );
                if path.ends_with(".bicep") {
                    assert_eq!(
                        s.lines().next(),
                        Some("// generated by runnergen from fleet/runners.yaml; do not edit"),
                        "{path}"
                    );
                    assert!(balanced(s), "{path}: unbalanced brackets");
                    assert!(
                        !s.contains("{{") && !s.contains("{%"),
                        "{path}: template syntax left"
                    );
                }
            }
        }
    }

    #[test]
    fn main_json_is_a_subscription_template() {
        for (f, key) in cases() {
            let tree = render_env(&f, key).unwrap();
            let main = json_file(&tree, &format!("{key}/azure/main.json"));
            assert_eq!(main["$schema"], SCHEMA_SUBSCRIPTION);
            assert_eq!(main["contentVersion"], "1.0.0.0");
            assert!(main.get("languageVersion").is_none());
            assert!(main["resources"].is_array());
            assert_eq!(main["metadata"]["_generator"], json!({"name": "runnergen"}));
            assert_eq!(
                main["metadata"]["description"],
                "generated by runnergen from fleet/runners.yaml; do not edit"
            );
            for r in &f
                .environments
                .iter()
                .find(|e| e.key == key)
                .unwrap()
                .runners
            {
                let summary = &main["metadata"]["runnergen"]["runners"][&r.key];
                assert_eq!(summary["roles"].as_array().unwrap().len(), r.roles.len());
            }
            let keys: BTreeSet<&str> = main
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let allowed: BTreeSet<&str> = [
                "$schema",
                "contentVersion",
                "metadata",
                "outputs",
                "resources",
            ]
            .into();
            assert!(keys.is_subset(&allowed), "{keys:?}");
            let e = env(&f, key);
            let rg = &main["resources"][0];
            assert_eq!(rg["type"], "Microsoft.Resources/resourceGroups");
            assert_eq!(rg["name"], e.identity_resource_group.as_str());
            assert_eq!(rg["location"], e.location.as_str());
            let main_bicep = text(&tree, &format!("{key}/azure/main.bicep"));
            assert!(main_bicep.contains(&format!(
                "az deployment sub create --name runnergen-{key} --subscription {} --location {} --template-file main.json",
                e.identity_subscription_id, e.location
            )));
            assert!(main_bicep.contains("\ntargetScope = 'subscription'\n"));
            // Two-phase rollout: every runner's client and principal IDs are outputs.
            for r in &e.runners {
                for o in [&r.client_id_output, &r.principal_id_output] {
                    let v = main["outputs"][o.as_str()]["value"].as_str().unwrap();
                    assert!(
                        v.starts_with("[reference(extensionResourceId(")
                            && v.ends_with(&format!(".outputs.{o}.value]")),
                        "{v}"
                    );
                    assert!(
                        main_bicep
                            .contains(&format!("output {o} string = identities.outputs.{o}\n"))
                    );
                }
            }
        }
    }

    #[test]
    fn every_runner_has_an_identity_and_a_serial_federated_credential() {
        for (f, key) in cases() {
            let tree = render_env(&f, key).unwrap();
            let e = env(&f, key);
            let main = json_file(&tree, &format!("{key}/azure/main.json"));
            let resources = identity_resources(&main);
            let bicep = text(&tree, &format!("{key}/azure/modules/identities.bicep"));
            let mut previous: Option<String> = None;
            for r in &e.runners {
                let identity = resources
                    .iter()
                    .find(|x| x["type"] == TYPE_IDENTITY && x["name"] == r.identity_name.as_str())
                    .unwrap_or_else(|| panic!("identity of {}", r.key));
                assert_eq!(identity["apiVersion"], "2024-11-30");
                assert_eq!(identity["properties"], json!({}));
                assert_eq!(identity["tags"]["managedBy"], "runnergen");
                assert_eq!(identity["tags"]["environment"], key);
                let fic_name = format!(
                    "[format('{{0}}/{{1}}', '{}', '{}')]",
                    r.identity_name, r.federated_credential_name
                );
                let fic = resources
                    .iter()
                    .find(|x| x["type"] == TYPE_FIC && x["name"] == fic_name.as_str())
                    .unwrap_or_else(|| panic!("federated credential of {}", r.key));
                assert_eq!(fic["properties"]["issuer"], r.oidc_issuer_url.as_str());
                assert_eq!(fic["properties"]["subject"], r.federated_subject.as_str());
                assert_eq!(fic["properties"]["audiences"], json!([facts::FIC_AUDIENCE]));
                let depends: Vec<&str> = fic["dependsOn"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap())
                    .collect();
                assert!(depends.contains(
                    &format!("[resourceId('{TYPE_IDENTITY}', '{}')]", r.identity_name).as_str()
                ));
                // Serial: each credential waits for the one before it.
                if let Some(p) = &previous {
                    assert!(
                        depends.contains(&p.as_str()),
                        "{} not chained: {depends:?}",
                        r.key
                    );
                }
                previous = Some(format!(
                    "[resourceId('{TYPE_FIC}', '{}', '{}')]",
                    r.identity_name, r.federated_credential_name
                ));

                for needle in [
                    format!(
                        "resource {}Identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {{",
                        r.symbol
                    ),
                    format!("  name: {}\n", bicep_string(&r.identity_name)),
                    format!("    purpose: {}\n", bicep_string(&r.purpose)),
                    format!(
                        "  parent: {}Identity\n  name: {}\n",
                        r.symbol,
                        bicep_string(&r.federated_credential_name)
                    ),
                    format!("    issuer: {}\n", bicep_string(&r.oidc_issuer_url)),
                    format!("    subject: {}\n", bicep_string(&r.federated_subject)),
                    format!(
                        "output {} string = {}Identity.properties.clientId\n",
                        r.client_id_output, r.symbol
                    ),
                    format!(
                        "output {} string = {}Identity.properties.principalId\n",
                        r.principal_id_output, r.symbol
                    ),
                ] {
                    assert!(bicep.contains(&needle), "identities.bicep lacks {needle:?}");
                }
            }
            assert_eq!(
                bicep
                    .matches("      'api://AzureADTokenExchange'\n")
                    .count(),
                e.runners.len()
            );
            assert_eq!(
                bicep.matches("  dependsOn: [\n").count(),
                e.runners.len() - 1,
                "FIC chain"
            );
            assert_eq!(
                resources.iter().filter(|x| x["type"] == TYPE_FIC).count(),
                e.runners.len()
            );
        }
    }

    #[test]
    fn role_assignments_agree_between_bicep_json_and_model() {
        for (f, key) in cases() {
            let tree = render_env(&f, key).unwrap();
            let e = env(&f, key);
            let main = json_file(&tree, &format!("{key}/azure/main.json"));
            let bicep = text(&tree, &format!("{key}/azure/main.bicep"));
            let expected = model_pairs(e);
            assert!(!expected.is_empty());
            assert_eq!(json_pairs(&main), expected, "main.json");
            assert_eq!(bicep_pairs(bicep), expected, "main.bicep");
        }
    }

    #[test]
    fn role_assignments_are_idempotent_service_principal_assignments() {
        for (f, key) in cases() {
            let tree = render_env(&f, key).unwrap();
            let main = json_file(&tree, &format!("{key}/azure/main.json"));
            let mut seen = 0;
            for d in main["resources"].as_array().unwrap() {
                let name = d["name"].as_str().unwrap();
                if !name.starts_with("ra-") {
                    continue;
                }
                seen += 1;
                assert!(name.len() <= MAX_DEPLOYMENT_NAME);
                assert_eq!(
                    d["properties"]["expressionEvaluationOptions"]["scope"],
                    "inner"
                );
                let depends = d["dependsOn"][0].as_str().unwrap();
                assert!(
                    depends.contains(&format!("'runnergen-{key}-identities'")),
                    "{depends}"
                );
                let principal = d["properties"]["parameters"]["principalId"]["value"]
                    .as_str()
                    .unwrap();
                assert!(
                    principal.starts_with("[reference(extensionResourceId("),
                    "{principal}"
                );
                let ra = &d["properties"]["template"]["resources"][0];
                assert_eq!(ra["type"], "Microsoft.Authorization/roleAssignments");
                assert_eq!(ra["apiVersion"], facts::API_ROLE_ASSIGNMENT);
                let ra_name = ra["name"].as_str().unwrap();
                assert!(
                    ra_name.starts_with("[guid(") && !ra_name.contains("reference("),
                    "{ra_name}"
                );
                assert!(ra_name.contains("parameters('principalId')"));
                assert_eq!(ra["properties"]["principalType"], "ServicePrincipal");
                assert_eq!(
                    ra["properties"]["roleDefinitionId"],
                    "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', parameters('roleDefinitionIds')[copyIndex()])]"
                );
            }
            assert!(seen > 0);
            for (path, s) in tree.iter() {
                if path.contains("/modules/role-assignments-") {
                    let s = std::str::from_utf8(s).unwrap();
                    assert!(s.contains("  name: guid("), "{path}");
                    assert!(
                        s.contains("    principalType: 'ServicePrincipal'\n"),
                        "{path}"
                    );
                    assert!(s.contains("param principalId string\n"), "{path}");
                }
            }
        }
    }

    #[test]
    fn resource_scoped_modules_use_an_existing_target() {
        let f = fleet(PHASE1);
        let tree = render_env(&f, "dev").unwrap();
        let registries = text(&tree, "dev/azure/modules/role-assignments-registries.bicep");
        assert!(registries.contains(
            "resource target 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {\n  name: resourceName\n}\n"
        ));
        assert!(registries.contains("  name: guid(target.id, principalId, "));
        assert!(registries.contains("  scope: target\n"));
        let subscription = text(
            &tree,
            "dev/azure/modules/role-assignments-subscription.bicep",
        );
        assert!(subscription.contains("\ntargetScope = 'subscription'\n"));
        assert!(subscription.contains("  name: guid(subscription().id, principalId, "));
        // AcrPull and AcrPush on one registry: one module instance with both roles.
        let main = text(&tree, "dev/azure/main.bicep");
        assert_eq!(
            main.matches("'modules/role-assignments-registries.bicep'")
                .count(),
            1
        );
        assert!(main.contains("resourceName: 'acrdev'"));
    }

    #[test]
    fn values_are_escaped() {
        let f = fleet(PHASE1);
        let tree = render_env(&f, "dev").unwrap();
        let purpose = "[it's ${HOME} \\ ok]";
        let identities = text(&tree, "dev/azure/modules/identities.bicep");
        assert!(
            identities.contains(r"    purpose: '[it\'s \${HOME} \\ ok]'"),
            "{identities}"
        );
        let main = json_file(&tree, "dev/azure/main.json");
        let identity = identity_resources(&main)
            .into_iter()
            .find(|r| r["type"] == TYPE_IDENTITY && r["name"] == "neu-dev-msi-gitlab-build-cache")
            .unwrap();
        assert_eq!(
            identity["tags"]["purpose"],
            format!("[{purpose}"),
            "ARM must not read it as an expression"
        );
        let bicep = text(&tree, "dev/azure/main.bicep");
        assert!(bicep.contains(
            r"scope: resourceGroup('11111111-2222-4333-8444-555555555555', 'rg-o\'brien')"
        ));
    }

    #[test]
    fn graph_permissions_have_their_own_deployment() {
        let f = fleet(FIXTURE);
        let tree = render_env(&f, "ss").unwrap();
        let e = env(&f, "ss");
        let tf = e.runners.iter().find(|r| r.key == "tf").unwrap();
        let bicep = text(&tree, "ss/azure/graph.bicep");
        assert!(bicep.contains("\nextension microsoftGraphV1\n"));
        assert!(bicep.contains("AppRoleAssignment.ReadWrite.All"));
        assert!(bicep.contains(&format!(
            "az deployment sub create --name runnergen-ss-graph --subscription {} --location westeurope --template-file graph.json",
            e.identity_subscription_id
        )));
        assert!(bicep.contains("existing = {\n  appId: '00000003-0000-0000-c000-000000000000'\n}"));
        for p in &tf.graph_permissions {
            assert!(bicep.contains(&format!(
                "filter(graphSp.appRoles, r => r.value == '{p}')[0].id"
            )));
        }
        let json = json_file(&tree, "ss/azure/graph.json");
        assert_eq!(json["languageVersion"], "2.0");
        assert_eq!(json["$schema"], SCHEMA_SUBSCRIPTION);
        assert_eq!(
            json["imports"],
            json!({"microsoftGraphV1": {"provider": "MicrosoftGraph", "version": "1.0.0"}})
        );
        let resources = json["resources"].as_object().unwrap();
        assert_eq!(resources["graphSp"]["existing"], true);
        assert_eq!(resources["tfIdentity"]["existing"], true);
        assert_eq!(resources["tfIdentity"]["name"], tf.identity_name.as_str());
        let grants: Vec<&Json> = resources
            .values()
            .filter(|r| r["type"] == "Microsoft.Graph/appRoleAssignedTo@v1.0")
            .collect();
        assert_eq!(grants.len(), tf.graph_permissions.len());
        for g in grants {
            assert_eq!(
                g["properties"]["principalId"],
                "[reference('tfIdentity').principalId]"
            );
            assert_eq!(g["properties"]["resourceId"], "[reference('graphSp').id]");
            let role = g["properties"]["appRoleId"].as_str().unwrap();
            assert!(role.starts_with("[filter(reference('graphSp').appRoles, lambda('r', equals(lambdaVariables('r').value, '"));
        }
        // Graph needs no Azure resource in main: main.json stays array-form.
        let main = text(&tree, "ss/azure/main.bicep");
        assert!(!main.contains("Microsoft.Graph"));
    }

    #[test]
    fn output_is_deterministic() {
        for (f, key) in cases() {
            assert_eq!(render_env(&f, key).unwrap(), render_env(&f, key).unwrap());
        }
    }

    #[test]
    fn unsupported_resource_type_is_rejected_by_the_spec_check() {
        let yaml = PHASE1.replace(
            "/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-dev",
            "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet",
        );
        let diags = crate::spec::load(&yaml).expect_err("unsupported target type");
        assert!(
            diags.iter().any(
                |d| d.code == "E016" && d.message.contains("Microsoft.Network/virtualNetworks")
            ),
            "{diags:?}"
        );
    }

    #[test]
    fn escaping_helpers() {
        assert_eq!(bicep_string(r"it's ${x} $y \ "), r"'it\'s \${x} $y \\ '");
        assert_eq!(bicep_string("a\nb\u{1}"), r"'a\nb\u{1}'");
        assert_eq!(arm_str("o'brien"), "'o''brien'");
        assert_eq!(arm_literal("[x]"), "[[x]");
        assert_eq!(arm_literal("[x] y"), "[x] y");
        assert_eq!(comment_text("a\nb"), "a b");
        assert_eq!(fnv1a32(""), 0x811c_9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
        assert_eq!(
            role_target_type("microsoft.containerregistry/REGISTRIES").map(|t| t.module),
            Some("registries")
        );
        assert!(role_target_type("Microsoft.Storage/storageAccounts/blobServices").is_none());
    }
}
