//! Installing the chart the GitOps way: Flux `HelmRepository` + `HelmRelease`, or an Argo CD
//! `Application`, or nothing (`plain`); and one `kustomization.yaml` per environment listing every
//! Kubernetes file, so `kubectl apply -k out/<env>` and a Flux Kustomization take the folder as is.

use super::{RenderError, yaml_file};
use crate::model::{Environment, Fleet, Runner, TokenSource};
use crate::spec::GitopsEngine;
use crate::tree::Tree;
use serde_json::{Value, json};

fn metadata(name: &str, namespace: &str, r: &Runner) -> Value {
    json!({ "name": name, "namespace": namespace, "labels": r.labels })
}

/// The file of a runner that installs the chart, if the engine has one.
pub fn install_file(engine: GitopsEngine) -> Option<&'static str> {
    match engine {
        GitopsEngine::Flux => Some("helmrelease.yaml"),
        GitopsEngine::Argocd => Some("application.yaml"),
        GitopsEngine::Plain => None,
    }
}

pub fn render(
    fleet: &Fleet,
    r: &Runner,
    source: &str,
    values: &Value,
    tree: &mut Tree,
) -> Result<(), RenderError> {
    let dir = format!("{}/{}", r.environment, r.key);
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
                "metadata": metadata(&r.helm_repository, &r.namespace, r),
                "spec": repo_spec,
            });
            // helm.toolkit.fluxcd.io/v2 HelmRelease with the values inline.
            let release = json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                "kind": "HelmRelease",
                "metadata": metadata(&r.helm_release, &r.namespace, r),
                "spec": {
                    "interval": "10m",
                    "releaseName": r.helm_release,
                    "chart": {
                        "spec": {
                            "chart": "gitlab-runner",
                            "version": chart.version,
                            "sourceRef": { "kind": "HelmRepository", "name": r.helm_repository, "namespace": r.namespace },
                        },
                    },
                    "install": { "remediation": { "retries": 3 } },
                    "upgrade": { "remediation": { "retries": 3, "remediateLastFailure": true } },
                    "values": values,
                },
            });
            tree.insert(
                format!("{dir}/helmrelease.yaml"),
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
                "metadata": metadata(&r.helm_release, &fleet.gitops.argocd_namespace, r),
                "spec": {
                    "project": fleet.gitops.argocd_project,
                    "source": {
                        "repoURL": repo_url,
                        "chart": "gitlab-runner",
                        "targetRevision": chart.version,
                        "helm": { "releaseName": r.helm_release, "valuesObject": values },
                    },
                    "destination": { "server": "https://kubernetes.default.svc", "namespace": r.namespace },
                    "syncPolicy": { "automated": { "prune": true, "selfHeal": true } },
                },
            });
            tree.insert(format!("{dir}/application.yaml"), yaml_file(source, &[app]))?;
        }
        GitopsEngine::Plain => {}
    }
    Ok(())
}

/// The Kubernetes files of a ready runner, in apply order, relative to the environment folder.
pub fn kubernetes_files(fleet: &Fleet, r: &Runner) -> Vec<String> {
    let mut files = vec!["namespace.yaml", "serviceaccounts.yaml", "rbac.yaml"];
    if matches!(fleet.token, TokenSource::ExternalSecret { .. }) {
        files.push("externalsecret.yaml");
    }
    files.extend(install_file(fleet.gitops.engine));
    files
        .into_iter()
        .map(|f| format!("{}/{f}", r.key))
        .collect()
}

pub fn render_kustomization(
    fleet: &Fleet,
    env: &Environment,
    source: &str,
    tree: &mut Tree,
) -> Result<(), RenderError> {
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
    tree.insert(
        format!("{}/kustomization.yaml", env.key),
        yaml_file(source, &[k]),
    )?;
    Ok(())
}
