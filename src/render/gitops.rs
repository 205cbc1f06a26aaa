//! Installing the chart the GitOps way: Flux `HelmRepository` + `HelmRelease`, or an Argo CD
//! `Application`, or nothing (`plain`); and one `kustomization.yaml` per environment listing every
//! Kubernetes file, so `kubectl apply -k out/<env>` and a Flux Kustomization take the folder as is.

use super::{Cx, EnvCx, RenderError, yaml_file};
use crate::layout::{self, RunnerFile};
use crate::model::{Fleet, Runner, TokenSource};
use crate::spec::GitopsEngine;
use crate::tree::Tree;
use serde_json::{Value, json};

fn metadata(name: &str, namespace: &str, r: &Runner) -> Value {
    json!({ "name": name, "namespace": namespace, "labels": r.labels })
}

/// The file of a runner that installs the chart, if the engine has one.
pub fn install_file(engine: GitopsEngine) -> Option<RunnerFile> {
    match engine {
        GitopsEngine::Flux => Some(RunnerFile::HelmRelease),
        GitopsEngine::Argocd => Some(RunnerFile::Application),
        GitopsEngine::Plain => None,
    }
}

pub fn render(cx: Cx, values: &Value, tree: &mut Tree) -> Result<(), RenderError> {
    let (fleet, r, source) = (cx.fleet, cx.runner, cx.source);
    let n = &r.names;
    let chart = &fleet.chart;
    match fleet.gitops.engine {
        GitopsEngine::Flux => {
            // source.toolkit.fluxcd.io/v1 HelmRepository; `type: oci` for OCI registries.
            let mut repo_spec = json!({ "url": chart.repository, "interval": "1h" });
            if chart.is_oci {
                repo_spec["type"] = json!("oci");
            }
            let repo = json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "HelmRepository",
                "metadata": metadata(&n.helm_repository, &n.namespace, r),
                "spec": repo_spec,
            });
            // helm.toolkit.fluxcd.io/v2 HelmRelease with the values inline.
            let release = json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                "kind": "HelmRelease",
                "metadata": metadata(&n.helm_release, &n.namespace, r),
                "spec": {
                    "interval": "10m",
                    "releaseName": n.helm_release,
                    "chart": {
                        "spec": {
                            "chart": "gitlab-runner",
                            "version": chart.version,
                            "sourceRef": { "kind": "HelmRepository", "name": n.helm_repository, "namespace": n.namespace },
                        },
                    },
                    "install": { "remediation": { "retries": 3 } },
                    "upgrade": { "remediation": { "retries": 3, "remediateLastFailure": true } },
                    "values": values,
                },
            });
            tree.insert(
                cx.path(RunnerFile::HelmRelease),
                yaml_file(source, &[repo, release]),
            )?;
        }
        GitopsEngine::Argocd => {
            // argoproj.io/v1alpha1 Application; OCI Helm repositories are given without scheme.
            let repo_url = chart
                .repository
                .strip_prefix("oci://")
                .unwrap_or(&chart.repository);
            let app = json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": metadata(&n.helm_release, &fleet.gitops.argocd_namespace, r),
                "spec": {
                    "project": fleet.gitops.argocd_project,
                    "source": {
                        "repoURL": repo_url,
                        "chart": "gitlab-runner",
                        "targetRevision": chart.version,
                        "helm": { "releaseName": n.helm_release, "valuesObject": values },
                    },
                    "destination": { "server": "https://kubernetes.default.svc", "namespace": n.namespace },
                    "syncPolicy": { "automated": { "prune": true, "selfHeal": true } },
                },
            });
            tree.insert(cx.path(RunnerFile::Application), yaml_file(source, &[app]))?;
        }
        GitopsEngine::Plain => {}
    }
    Ok(())
}

/// The Kubernetes files of a ready runner, in apply order, relative to the environment folder.
pub fn kubernetes_files(fleet: &Fleet, r: &Runner) -> Vec<String> {
    let mut files = vec![
        RunnerFile::Namespace,
        RunnerFile::ServiceAccounts,
        RunnerFile::Rbac,
    ];
    if matches!(fleet.token, TokenSource::ExternalSecret { .. }) {
        files.push(RunnerFile::ExternalSecret);
    }
    files.extend(install_file(fleet.gitops.engine));
    files
        .into_iter()
        .map(|f| layout::runner_file_in_env(&r.key, f))
        .collect()
}

pub fn render_kustomization(cx: EnvCx, tree: &mut Tree) -> Result<(), RenderError> {
    let (fleet, env, source) = (cx.fleet, cx.env, cx.source);
    let resources: Vec<String> = env
        .ready_runners()
        .flat_map(|r| kubernetes_files(fleet, r))
        .collect();
    if resources.is_empty() {
        return Ok(());
    }
    let k = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    tree.insert(layout::kustomization(&env.key), yaml_file(source, &[k]))?;
    Ok(())
}

#[cfg(test)]
mod tests;
