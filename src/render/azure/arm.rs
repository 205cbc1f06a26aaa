//! The ARM JSON of an environment (main.json, graph.json): what `az deployment sub create`
//! runs, no Bicep CLI needed. Shaped as Bicep compiles the templates next to it; the shapes are
//! from Bicep's `TemplateWriter` and the azure-resource-manager-schemas.

use super::GRAPH_EXTENSION_ALIAS;
use super::GRAPH_EXTENSION_VERSION;
use crate::facts;
use crate::model::{ModuleKind, RoleGroup, Shard};
use crate::render::{RenderError, header};
use crate::vocab::summary;
use serde_json::{Map, Value as Json, json};

/// ARM template schemas (Bicep `TemplateWriter.GetSchema`).
pub const SCHEMA_SUBSCRIPTION: &str =
    "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#";
pub const SCHEMA_RESOURCE_GROUP: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

pub const TYPE_IDENTITY: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";
pub const TYPE_FIC: &str = crate::vocab::FEDERATED_CREDENTIAL_TYPE;
const TYPE_DEPLOYMENT: &str = "Microsoft.Resources/deployments";

/// main.json: the identities' resource group, the nested identities deployment, one nested
/// deployment per role group, and every runner's client and principal IDs as outputs.
pub fn main(shard: &Shard, source: &str) -> Json {
    let rg_id = format!(
        "[subscriptionResourceId('Microsoft.Resources/resourceGroups', {})]",
        arm_str(&shard.env.identity_resource_group)
    );
    // The identities' resource group: declared (created if missing, tagged) only when the spec
    // asks; otherwise it must exist and the deployment leaves it, and its tags, alone.
    let mut resources = Vec::new();
    let mut identities = json!({
        "type": TYPE_DEPLOYMENT,
        "apiVersion": facts::API_DEPLOYMENT,
        "name": arm_literal(&shard.deployments.identities),
        "resourceGroup": arm_literal(&shard.env.identity_resource_group),
        "properties": {
            "expressionEvaluationOptions": {"scope": "inner"},
            "mode": "Incremental",
        },
    });
    if shard.env.create_resource_group {
        resources.push(json!({
            "type": "Microsoft.Resources/resourceGroups",
            "apiVersion": facts::API_RESOURCE_GROUP,
            "name": arm_literal(&shard.env.identity_resource_group),
            "location": arm_literal(&shard.env.location),
            "tags": {"managedBy": "runnergen"},
        }));
        identities["dependsOn"] = json!([rg_id]);
    }
    // Large values are moved in, not written inside `json!` (which copies what it is given).
    identities["properties"]["template"] = identities_template(shard);
    resources.push(identities);
    let identities_id = format!("[{}]", identities_deployment_id(shard));
    let mut outputs = Map::new();
    role_deployments(shard, &identities_id, &mut resources, &mut outputs);
    let meta = main_metadata(shard, source);
    let mut main = json!({
        "$schema": SCHEMA_SUBSCRIPTION,
        "contentVersion": "1.0.0.0",
    });
    main["metadata"] = meta;
    main["resources"] = Json::Array(resources);
    main["outputs"] = Json::Object(outputs);
    main
}

/// One nested deployment per role group of every identity (a runner's, its manager's cache
/// identity, the store's), and each identity's client and principal IDs as outputs.
fn role_deployments(
    shard: &Shard,
    identities_id: &str,
    resources: &mut Vec<Json>,
    outputs: &mut Map<String, Json>,
) {
    let mut output = |name: &str| {
        outputs.insert(
            name.to_owned(),
            json!({"type": "string", "value": identities_output(shard, name)}),
        );
    };
    for r in &shard.runners {
        let n = &r.names;
        for g in r.identity.iter().flat_map(|i| &i.role_groups) {
            resources.push(role_deployment(
                shard,
                &n.principal_id_output,
                g,
                identities_id,
            ));
        }
        let mut ids = vec![&n.client_id_output, &n.principal_id_output];
        if let Some(cache) = &r.cache_identity {
            for g in &cache.role_groups {
                resources.push(role_deployment(
                    shard,
                    &n.cache_principal_id_output,
                    g,
                    identities_id,
                ));
            }
            ids.extend([&n.cache_client_id_output, &n.cache_principal_id_output]);
        }
        ids.into_iter().for_each(|o| output(o));
    }
    if let Some(store) = &shard.store {
        for g in &store.azure.role_groups {
            resources.push(role_deployment(
                shard,
                store.principal_id_output,
                g,
                identities_id,
            ));
        }
        output(store.client_id_output);
        output(store.principal_id_output);
    }
}

/// main.json's metadata: the generator, every runner's access summary, and which identity the
/// store's client ID belongs to, like the runners' (identities.rs).
fn main_metadata(shard: &Shard, source: &str) -> Json {
    let mut meta = metadata(source);
    meta["runnergen"][summary::RUNNERS] = access_summary(shard);
    if let Some(store) = &shard.store {
        let id = identity_summary(shard, &store.identity, store.azure.client_id.as_deref());
        meta["runnergen"][summary::STORE] = json!({ summary::IDENTITY: id });
    }
    meta
}

/// The nested deployment of one role group.
fn role_deployment(shard: &Shard, principal: &str, g: &RoleGroup, identities_id: &str) -> Json {
    let mut parameters = Map::new();
    parameters.insert(
        "principalId".into(),
        json!({"value": identities_output(shard, principal)}),
    );
    parameters.insert(
        "roleDefinitionIds".into(),
        json!({"value": g.roles.iter().map(|role| arm_literal(&role.id)).collect::<Vec<_>>()}),
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
        },
        "dependsOn": [identities_id],
    });
    deployment["properties"]["parameters"] = Json::Object(parameters);
    deployment["properties"]["template"] = role_assignment_template(g.kind);
    match g.kind {
        // A subscription-level deployment needs a location for its metadata.
        ModuleKind::Subscription => {
            deployment["location"] = json!(arm_literal(&shard.env.location))
        }
        _ => deployment["resourceGroup"] = json!(arm_literal(&g.resource_group)),
    }
    deployment
}

/// `[reference(<identities deployment>).outputs.<output>.value]`: how Bicep compiles
/// `identities.outputs.<output>` of an RG-scoped module in a subscription-scope template.
fn identities_output(shard: &Shard, output: &str) -> String {
    format!(
        "[reference({}, '{}').outputs.{output}.value]",
        identities_deployment_id(shard),
        facts::API_DEPLOYMENT
    )
}

fn identities_deployment_id(shard: &Shard) -> String {
    format!(
        "extensionResourceId(format('/subscriptions/{{0}}/resourceGroups/{{1}}', subscription().subscriptionId, {}), '{TYPE_DEPLOYMENT}', {})",
        arm_str(&shard.env.identity_resource_group),
        arm_str(&shard.deployments.identities)
    )
}

/// One user-assigned identity and its one federated credential, as modules/identities.bicep
/// declares them.
struct IdentityDecl<'a> {
    purpose: &'a str,
    identity: &'a str,
    credential: &'a str,
    subject: &'a str,
    client_id_output: &'a str,
    principal_id_output: &'a str,
}

/// The inner template of the identities deployment (modules/identities.bicep).
fn identities_template(shard: &Shard) -> Json {
    let mut resources = Vec::new();
    let mut outputs = Map::new();
    let mut previous_fic: Option<String> = None;
    for r in &shard.runners {
        let n = &r.names;
        let job = IdentityDecl {
            purpose: &r.purpose,
            identity: &n.identity,
            credential: &n.federated_credential,
            subject: &n.federated_subject,
            client_id_output: &n.client_id_output,
            principal_id_output: &n.principal_id_output,
        };
        // FIC writes under one identity must not run concurrently (entra-docs
        // workload-identity-federation-considerations.md): chain every runner's FIC after the
        // previous runner's.
        let fic = identity(
            shard,
            &r.oidc_issuer_url,
            &job,
            previous_fic.as_deref(),
            &mut resources,
            &mut outputs,
        );
        previous_fic = Some(fic);
        if r.cache_identity.is_some() {
            let purpose = format!("Signs the blob cache's SAS for runner {}", r.key);
            let cache = IdentityDecl {
                purpose: &purpose,
                identity: &n.cache_identity,
                credential: &n.federated_credential,
                subject: &n.cache_federated_subject,
                client_id_output: &n.cache_client_id_output,
                principal_id_output: &n.cache_principal_id_output,
            };
            identity(
                shard,
                &r.oidc_issuer_url,
                &cache,
                None,
                &mut resources,
                &mut outputs,
            );
        }
    }
    store_identity(shard, &mut resources, &mut outputs);
    let mut template = json!({
        "$schema": SCHEMA_RESOURCE_GROUP,
        "contentVersion": "1.0.0.0",
    });
    template["resources"] = Json::Array(resources);
    template["outputs"] = Json::Object(outputs);
    template
}

/// The Key Vault store's identity: several credentials under one identity, each waiting for
/// the one before it.
fn store_identity(shard: &Shard, resources: &mut Vec<Json>, outputs: &mut Map<String, Json>) {
    let Some(store) = &shard.store else {
        return;
    };
    // Several credentials under one identity: each waits for the one before it.
    let mut previous: Option<String> = None;
    for (i, c) in store.credentials.iter().enumerate() {
        let decl = IdentityDecl {
            purpose: "Reads the runner tokens for External Secrets Operator",
            identity: &store.identity,
            credential: &c.name,
            subject: &c.subject,
            client_id_output: store.client_id_output,
            principal_id_output: store.principal_id_output,
        };
        let fic = if i == 0 {
            identity(
                shard,
                &shard.env.oidc_issuer_url,
                &decl,
                None,
                resources,
                outputs,
            )
        } else {
            credential(
                &shard.env.oidc_issuer_url,
                &decl,
                previous.as_deref(),
                resources,
            )
        };
        previous = Some(fic);
    }
}

/// Adds one identity, its credential and its outputs; returns the credential's resource ID.
fn identity(
    shard: &Shard,
    issuer: &str,
    d: &IdentityDecl,
    after: Option<&str>,
    resources: &mut Vec<Json>,
    outputs: &mut Map<String, Json>,
) -> String {
    let identity_id = format!("resourceId('{TYPE_IDENTITY}', {})", arm_str(d.identity));
    resources.push(json!({
        "type": TYPE_IDENTITY,
        "apiVersion": facts::API_IDENTITY,
        "name": arm_literal(d.identity),
        "location": arm_literal(&shard.env.location),
        "tags": {
            "purpose": arm_literal(d.purpose),
            "managedBy": "runnergen",
            "environment": arm_literal(&shard.env.key),
        },
        // The 2024-11-30 schema requires `properties` (azure-resource-manager-schemas).
        "properties": {},
    }));
    for (output, property) in [
        (d.client_id_output, "clientId"),
        (d.principal_id_output, "principalId"),
    ] {
        outputs.insert(
            output.to_owned(),
            json!({
                "type": "string",
                "value": format!("[reference({identity_id}, '{}').{property}]", facts::API_IDENTITY),
            }),
        );
    }
    credential(issuer, d, after, resources)
}

/// Adds the federated credential `d` names under its identity; returns its resource ID.
fn credential(
    issuer: &str,
    d: &IdentityDecl,
    after: Option<&str>,
    resources: &mut Vec<Json>,
) -> String {
    let identity_id = format!("resourceId('{TYPE_IDENTITY}', {})", arm_str(d.identity));
    // Child names are `<parent>/<child>`, emitted as format() like Bicep does: the schema's
    // name pattern rejects a literal with '/' (schema/vendor/arm).
    let mut depends = vec![format!("[{identity_id}]")];
    if let Some(prev) = after {
        depends.push(format!("[{prev}]"));
    }
    resources.push(json!({
        "type": TYPE_FIC,
        "apiVersion": facts::API_IDENTITY,
        "name": format!(
            "[format('{{0}}/{{1}}', {}, {})]",
            arm_str(d.identity),
            arm_str(d.credential)
        ),
        "properties": {
            "issuer": arm_literal(issuer),
            "subject": arm_literal(d.subject),
            "audiences": [facts::FIC_AUDIENCE],
        },
        "dependsOn": depends,
    }));
    format!(
        "resourceId('{TYPE_FIC}', {}, {})",
        arm_str(d.identity),
        arm_str(d.credential)
    )
}

fn role_assignment_template(kind: ModuleKind) -> Json {
    let role = "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', parameters('roleDefinitionIds')[copyIndex()])";
    let (schema, scope_id) = match kind {
        ModuleKind::Subscription => (SCHEMA_SUBSCRIPTION, "subscription().id".to_owned()),
        ModuleKind::ResourceGroup => (SCHEMA_RESOURCE_GROUP, "resourceGroup().id".to_owned()),
        // What Bicep emits for `scope: target` of an `existing` resource (Bicep `TemplateWriter`).
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

/// graph.json: languageVersion 2.0 with the Graph extension import, object-form resources keyed
/// by symbol (what Bicep emits for `extension`: Bicep `TemplateWriter.cs`).
pub fn graph(shard: &Shard, source: &str) -> Json {
    let mut resources = Map::new();
    resources.insert(
        "graphSp".into(),
        json!({
            "existing": true,
            "import": GRAPH_EXTENSION_ALIAS,
            "type": "Microsoft.Graph/servicePrincipals@v1.0",
            "properties": {"appId": facts::GRAPH_APP_ID},
        }),
    );
    for r in shard.runners.iter().filter(|r| !r.graph.is_empty()) {
        let identity = &r.names.identity_symbol;
        resources.insert(
            identity.clone(),
            json!({
                "existing": true,
                "type": TYPE_IDENTITY,
                "apiVersion": facts::API_IDENTITY,
                "subscriptionId": arm_literal(&shard.env.identity_subscription_id),
                "resourceGroup": arm_literal(&shard.env.identity_resource_group),
                "name": arm_literal(&r.names.identity),
            }),
        );
        for grant in &r.graph {
            resources.insert(
                grant.symbol.clone(),
                json!({
                    "import": GRAPH_EXTENSION_ALIAS,
                    "type": "Microsoft.Graph/appRoleAssignedTo@v1.0",
                    "properties": {
                        "appRoleId": format!(
                            "[filter(reference('graphSp').appRoles, lambda('r', equals(lambdaVariables('r').value, {})))[0].id]",
                            arm_str(&grant.permission)
                        ),
                        "principalId": format!("[reference('{identity}').principalId]"),
                        "resourceId": "[reference('graphSp').id]",
                    },
                    "dependsOn": ["graphSp", identity],
                }),
            );
        }
    }
    json!({
        "$schema": SCHEMA_SUBSCRIPTION,
        "languageVersion": "2.0",
        "contentVersion": "1.0.0.0",
        "metadata": metadata(source),
        "imports": {GRAPH_EXTENSION_ALIAS: {"provider": "MicrosoftGraph", "version": GRAPH_EXTENSION_VERSION}},
        "resources": resources,
    })
}

/// ARM's template limits (azure-docs templates/best-practices.md, "Template limits"): 64
/// outputs, 800 resources (each copy instance counts), 4 MB after expansion. A template that
/// would break one is refused, never rendered to fail at deployment.
pub fn check_limits(path: &str, template: &Json, bytes: usize) -> Result<(), RenderError> {
    const MAX_OUTPUTS: usize = 64;
    const MAX_RESOURCES: usize = 800;
    const MAX_BYTES: usize = 4 * 1024 * 1024;
    let outputs = template["outputs"].as_object().map_or(0, |o| o.len());
    let resources = match &template["resources"] {
        Json::Array(a) => a.len(),
        Json::Object(o) => o.len(),
        _ => 0,
    };
    let problem = if outputs > MAX_OUTPUTS {
        Some(format!("{outputs} outputs (ARM allows {MAX_OUTPUTS})"))
    } else if resources > MAX_RESOURCES {
        Some(format!(
            "{resources} resources (ARM allows {MAX_RESOURCES})"
        ))
    } else if bytes > MAX_BYTES {
        Some(format!("{bytes} bytes (ARM allows 4 MB)"))
    } else {
        None
    };
    // The nested templates (identities, role assignments) have the same limits.
    for nested in template["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.pointer("/properties/template"))
    {
        check_limits(path, nested, 0)?;
    }
    match problem {
        Some(p) => Err(RenderError::Limit(format!(
            "{path} would hold {p}; split the roles of a runner over fewer scopes, or the environment's runners over more environments"
        ))),
        None => Ok(()),
    }
}

fn metadata(source: &str) -> Json {
    json!({"_generator": {"name": "runnergen"}, "description": header(source)})
}

/// What each runner's identity may do, in plain data: `metadata.runnergen.runners` of
/// main.json. ARM ignores template metadata; `readback::access` reads it for the directory's
/// side of a diff without reverse-engineering the deployment's expressions.
fn access_summary(shard: &Shard) -> Json {
    let mut runners = Map::new();
    for r in &shard.runners {
        let graph: Vec<&str> = r.graph_permissions().collect();
        // Which identity the runner's client ID belongs to: a later render refuses a client
        // ID that this ties to another identity name (a renamed identity is a new one).
        let identity = identity_summary(shard, &r.names.identity, r.client_id());
        let mut facts = json!({"graphPermissions": graph});
        facts["roles"] = roles_summary(r.roles());
        facts["identity"] = identity;
        // The manager's cache identity, when it has one: reviewed like the job identity.
        if let Some(c) = &r.cache_identity {
            facts["managerRoles"] = roles_summary(&c.roles);
            facts["managerIdentity"] =
                identity_summary(shard, &r.names.cache_identity, c.client_id.as_deref());
        }
        runners.insert(r.key.clone(), facts);
    }
    Json::Object(runners)
}

/// An identity in the access summary: name, resource group, subscription and, once known, its
/// client ID (read back by `readback::access` and `identities::committed`).
fn identity_summary(shard: &Shard, name: &str, client_id: Option<&str>) -> Json {
    let mut id = json!({
        "name": name,
        "resourceGroup": shard.env.identity_resource_group,
        "subscriptionId": shard.env.identity_subscription_id,
    });
    if let Some(client) = client_id {
        id[summary::CLIENT_ID] = json!(client);
    }
    id
}

/// Role assignments in the access summary.
fn roles_summary(roles: &[crate::model::RoleAssignment]) -> Json {
    roles
        .iter()
        .map(|ra| {
            json!({
                summary::ROLE: ra.display_name(),
                summary::ROLE_DEFINITION_ID: ra.role_definition_id,
                summary::SCOPE: ra.scope.id(),
            })
        })
        .collect()
}

/// A string literal inside an ARM template expression: single quotes, `'` doubled
/// (azure-docs template-expressions.md, "Escape characters").
pub fn arm_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A literal JSON string value ARM must not read as an expression: one that starts with `[`
/// and ends with `]` gets a second `[` (azure-docs template-expressions.md, "Escape characters").
pub fn arm_literal(s: &str) -> String {
    if s.starts_with('[') && s.ends_with(']') {
        format!("[{s}")
    } else {
        s.to_owned()
    }
}
