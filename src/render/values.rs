//! Helm values for the gitlab-runner chart (keys of chart ≥ 0.66: `serviceAccount.*`, not the
//! deprecated `rbac.serviceAccountName` the seed uses). Chart facts: the chart's `values.yaml`
//! and templates (`gitlab-org/charts/gitlab-runner`).
//!
//! Tags, run-untagged, locked, access level and maximum timeout are deliberately absent: with
//! `glrt-` tokens the runner refuses them as "reserved" (runner `commands/register.go`); they
//! belong to the GitLab registration (`registration.json`).

use super::{Cx, RenderError, Rendered, yaml_file};
use crate::facts;
use crate::layout::RunnerFile;
use crate::tree::Tree;
use serde_json::{Value, json};

/// The runner's `values.yaml`; its facts are the values, which the install file embeds and the
/// invariants read.
pub fn render(cx: Cx, config_toml: &str) -> Result<Rendered<Value>, RenderError> {
    let values = build(cx, config_toml);
    let mut files = Tree::new();
    files.insert(cx.path(RunnerFile::Values), yaml_file(cx.source, [&values]))?;
    Ok(Rendered {
        files,
        facts: values,
    })
}

/// The chart values of a runner: what runnergen sets, with the spec's extra values over them.
pub fn build(cx: Cx, config_toml: &str) -> Value {
    let (fleet, r) = (cx.fleet, cx.runner);
    let mut values = crate::vocab::chart_value_defaults();
    values["gitlabUrl"] = json!(fleet.gitlab_url);
    values["terminationGracePeriodSeconds"] = json!(r.termination_grace_period_seconds);
    values["concurrent"] = json!(r.concurrent);
    values["checkInterval"] = json!(r.check_interval);
    values["serviceAccount"]["name"] = json!(r.names.manager_service_account);
    values["runners"] = json!({
        "name": r.names.runner_name,
        "secret": r.names.token_secret,
        "config": config_toml,
    });
    values["deploymentLabels"] = json!({ "deployment_repository": r.repository_label });
    if r.shared_service_account || r.cache_identity.is_some() {
        // One account for manager and jobs (the seed's layout), or the manager's own cache
        // identity: the manager pod signs in to Azure, so it gets the workload-identity label
        // (azure-workload-identity pkg/webhook: the label is on the pod).
        values["podLabels"] = json!({ facts::WI_USE_LABEL: "true" });
    }
    if fleet.restart_on_rotation == crate::spec::RestartOnRotation::Reloader {
        // The manager reads its token once, at start, and the chart's `checksum/secrets` does
        // not change with an existing Secret (chart templates/deployment.yaml), so a rotated
        // token needs a rollout: stakater Reloader does it for the Secret named here
        // (internal/pkg/options/flags.go; on the Deployment, hence deploymentAnnotations).
        values["deploymentAnnotations"] =
            json!({ "secret.reloader.stakater.com/reload": r.names.token_secret });
    }
    if let Some(image) = &fleet.chart.image {
        values["image"] =
            json!({ "registry": image.registry, "image": image.repository, "tag": image.tag });
    }
    // The spec's extra chart values, over these: none is one runnergen sets (spec::escape).
    if let Value::Object(ours) = &mut values {
        crate::spec::instances::deep_merge(ours, &r.chart_values);
    }
    values
}

#[cfg(test)]
mod tests;
