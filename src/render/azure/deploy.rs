//! The Azure CLI commands that deploy a shard's templates and read its outputs back: main.bicep
//! names them in its header, and the CLI's rollout notes repeat them.

use crate::model::Shard;

/// Deploys the shard's main template as a deployment stack, so that what the template no
/// longer declares is deleted from Azure: `deleteResources` deletes removed resources (role
/// assignments, identities) and detaches resource groups; deny settings stay off, so the
/// runners' own pipelines are not blocked (Azure docs, deployment stacks).
pub fn stack_create(shard: &Shard, template: &str) -> String {
    format!(
        "az stack sub create --name {} --subscription {} --location {} --template-file {template} --action-on-unmanage deleteResources --deny-settings-mode none --yes",
        shard.deployments.main, shard.env.identity_subscription_id, shard.env.location
    )
}

/// Prints the stack's outputs in the shape `identityOutputs` reads.
pub fn stack_outputs(shard: &Shard) -> String {
    format!(
        "az stack sub show --name {} --subscription {} --query outputs",
        shard.deployments.main, shard.env.identity_subscription_id
    )
}

/// Deploys graph.json. Deployment stacks do not support the Microsoft Graph Bicep extension
/// (deployment-stacks-known-issues), so this is a plain deployment.
pub fn graph_create(shard: &Shard, template: &str) -> String {
    format!(
        "az deployment sub create --name {} --subscription {} --location {} --template-file {template}",
        shard.deployments.graph, shard.env.identity_subscription_id, shard.env.location
    )
}
