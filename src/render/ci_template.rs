//! `ci-template.yml`: the pipeline side of the seed. A hidden job that selects the runner by
//! its tags and signs in to Azure as the runner's managed identity, so that a project only
//! writes `extends:`. The workload-identity webhook puts `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`
//! and `AZURE_FEDERATED_TOKEN_FILE` into the job pod (Azure/azure-workload-identity,
//! pkg/webhook); the template hands them to the Azure CLI (`az login --federated-token`) and to
//! Terraform's azurerm provider (`ARM_USE_OIDC`, `ARM_OIDC_TOKEN_FILE_PATH`: registry
//! terraform azurerm docs, "Authenticating using OpenID Connect").

use super::{Cx, RenderError, Rendered, yaml_file};
use crate::layout::{self, RunnerFile};
use crate::tree::Tree;
use serde_json::json;

/// The runner's `ci-template.yml`.
pub fn render(cx: Cx) -> Result<Rendered, RenderError> {
    let mut files = Tree::new();
    let r = cx.runner;
    // Terraform needs a subscription: the identity's `subscription`, else the environment's
    // identities subscription; never derived from the roles, so it stays put as they change.
    let subscription = r.ci_subscription_id.as_str();
    let job = json!({
        r.names.ci_job.clone(): {
            "tags": r.tags,
            "variables": {
                "ARM_USE_OIDC": "true",
                "ARM_SUBSCRIPTION_ID": subscription,
            },
            "before_script": [
                "export ARM_CLIENT_ID=\"$AZURE_CLIENT_ID\" ARM_TENANT_ID=\"$AZURE_TENANT_ID\" ARM_OIDC_TOKEN_FILE_PATH=\"$AZURE_FEDERATED_TOKEN_FILE\"",
                "if command -v az >/dev/null; then az login --service-principal -u \"$AZURE_CLIENT_ID\" --tenant \"$AZURE_TENANT_ID\" --federated-token \"$(cat \"$AZURE_FEDERATED_TOKEN_FILE\")\" --allow-no-subscriptions --output none; fi",
            ],
        }
    });
    let mut text = yaml_file(cx.source, [&job]);
    // How to use it, after the header (a comment keeps the file one YAML document).
    let usage = format!(
        "#\n# Jobs on runner `{runner}` of environment `{env}`, signed in to Azure as its managed identity.\n# In a project of {path}:\n#\n#   include:\n#     - project: <the repository that holds this file>\n#       file: {file}\n#   deploy:\n#     extends: {job}\n#     script: [terraform apply -auto-approve]\n",
        runner = r.key,
        env = cx.env.key,
        path = r.path,
        file = layout::runner_file(&cx.env.key, &r.key, RunnerFile::CiTemplate),
        job = r.names.ci_job,
    );
    let header_end = text.find('\n').map_or(0, |i| i + 1);
    // Runner keys, environment keys and GitLab paths are single-line by the spec's rules.
    text.insert_str(header_end, &usage);
    files.insert(cx.path(RunnerFile::CiTemplate), text)?;
    Ok(Rendered::files(files))
}

#[cfg(test)]
mod tests;
