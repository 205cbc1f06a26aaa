//! `registration.json`: the runner as GitLab's `POST /api/v4/user/runners` takes it
//! (gitlab-org/gitlab#390427), with the group or project path in place of its numeric ID, and
//! where the pipeline stores the `glrt-` token it gets back.

use super::{Cx, RenderError, Rendered, to_json};
use crate::layout::RunnerFile;
use crate::model::TokenSource;
use crate::spec::{AccessLevel, RestartOnRotation};
use crate::tree::Tree;
use crate::vocab;
use serde_json::json;

/// The runner's `registration.json`.
pub fn render(cx: Cx) -> Result<Rendered, RenderError> {
    let mut files = Tree::new();
    let (fleet, env, r) = (cx.fleet, cx.env, cx.runner);
    let (runner_type, path_key) = vocab::registration_type(r.runner_type);
    let mut body = json!({
        "runner_type": runner_type,
        path_key: r.path,
        "description": r.names.description,
        "tag_list": r.tags,
        "run_untagged": r.run_untagged,
        "locked": r.locked,
        "access_level": vocab::registration_access_level(r.access_level == AccessLevel::RefProtected),
        "paused": false,
        "maintenance_note": r.names.gitlab_marker,
        "gitlab_url": fleet.gitlab_url,
    });
    // Where the manager runs, for `register --rotate`'s restart: the manager reads its token
    // once, at start; with Reloader the Deployment restarts itself when the Secret changes.
    body["manager"] = json!({
        "namespace": r.names.namespace,
        "deployment": r.names.manager_deployment,
        "restarts_on_rotation": fleet.restart_on_rotation == RestartOnRotation::Reloader,
    });
    if let Some(t) = r.maximum_timeout {
        body["maximum_timeout"] = json!(t);
    }
    match &fleet.token {
        TokenSource::ExternalSecret { .. } => {
            body["token_destination"] = json!({
                "key_vault": env.key_vault,
                "secret": r.names.key_vault_secret,
            });
        }
        TokenSource::ExistingSecret => {
            body["token_destination"] = json!({
                "kubernetes_secret": { "namespace": r.names.namespace, "name": r.names.token_secret },
            });
        }
    }
    files.insert(cx.path(RunnerFile::Registration), to_json(&body))?;
    Ok(Rendered::files(files))
}

#[cfg(test)]
mod tests;
