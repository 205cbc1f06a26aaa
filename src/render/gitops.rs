//! Installing the chart the GitOps way: Flux `HelmRepository` + `HelmRelease`, or an Argo CD
//! `Application`, or nothing (`plain`); and one `kustomization.yaml` per environment listing every
//! Kubernetes file, so `kubectl apply -k out/<env>` and a Flux Kustomization take the folder as is.

use super::{Cx, EnvCx, RenderError, Rendered, yaml_file};
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

/// The runner's install file: HelmRepository and HelmRelease for Flux, an Application for
/// Argo CD, nothing for `plain`.
pub fn render(cx: Cx, values: &Value) -> Result<Rendered, RenderError> {
    let source = cx.source;
    let mut tree = Tree::new();
    match cx.fleet.gitops.engine {
        GitopsEngine::Flux => {
            let [repo, release] = flux(cx, values);
            tree.insert(
                cx.path(RunnerFile::HelmRelease),
                yaml_file(source, [&repo, &release]),
            )?;
        }
        GitopsEngine::Argocd => {
            let app = argocd(cx, values);
            tree.insert(cx.path(RunnerFile::Application), yaml_file(source, [&app]))?;
        }
        GitopsEngine::Plain => {}
    }
    Ok(Rendered::files(tree))
}

/// Flux's HelmRepository and HelmRelease with the values inline.
fn flux(cx: Cx, values: &Value) -> [Value; 2] {
    let (r, chart) = (cx.runner, &cx.fleet.chart);
    let n = &r.names;
    // source.toolkit.fluxcd.io/v1 HelmRepository; `type: oci` for OCI registries. The
    // provider (CRD default `generic`) is written out; `azure` makes source-controller
    // sign in to Azure Container Registry with its own identity (source-controller
    // docs/spec/v1/helmrepositories.md: "supported only for Helm OCI repositories").
    let mut repo_spec = json!({
        "url": chart.repository,
        "interval": "1h",
        "provider": chart.provider.name(),
    });
    if chart.is_oci {
        repo_spec["type"] = json!("oci");
    }
    if let Some(secret) = &chart.secret_ref {
        repo_spec["secretRef"] = json!({ "name": secret });
    }
    let repo = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": metadata(&n.helm_repository, &n.flux_namespace, r),
        "spec": repo_spec,
    });
    // helm.toolkit.fluxcd.io/v2 HelmRelease with the values inline.
    let mut release = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": metadata(&n.helm_release, &n.flux_namespace, r),
        "spec": {
            "interval": "10m",
            "releaseName": n.helm_release,
            "chart": {
                // reconcileStrategy is the CRD's default, written out (helm.toolkit.fluxcd.io
                // v2 CRD `default: ChartVersion`).
                "spec": {
                    "chart": "gitlab-runner",
                    "version": chart.version,
                    "reconcileStrategy": "ChartVersion",
                    "sourceRef": { "kind": "HelmRepository", "name": n.helm_repository, "namespace": n.flux_namespace },
                },
            },
            "values": values,
        },
    });
    let spec = &mut release["spec"];
    // The release is applied before the runner is registered and its token is in Key Vault,
    // so the manager pod cannot start at first. With the default strategy the install is
    // remediated `retries` times and then stalls for good (Stalled=True, RetriesExceeded;
    // only a spec change or `flux reconcile --reset` retries). RetryOnFailure retries a failed
    // install as an upgrade every retryInterval, without limit, and upgrades without rolling
    // back, so Flux converges by itself once the token Secret exists (helm-controller
    // docs/spec/v2/helmreleases.md, strategy since v1.4.0 / Flux 2.7). Before v1.4.0 the
    // field does not exist (an older CRD rejects it); there, remediation retries without
    // limit (`retries` below zero, helm-controller `api/v2/helmrelease_types.go`) keep it
    // trying.
    if cx.env.platform.retry_on_failure() {
        spec["install"] =
            json!({ "strategy": { "name": "RetryOnFailure", "retryInterval": "2m" } });
        spec["upgrade"] =
            json!({ "strategy": { "name": "RetryOnFailure", "retryInterval": "5m" } });
    } else {
        spec["install"] = json!({ "remediation": { "retries": -1 } });
        spec["upgrade"] = json!({ "remediation": { "retries": -1 } });
    }
    // The AKS extension applies a HelmRelease in the Flux configuration's namespace only:
    // the release and its storage go to the runner's namespace from there (helm-controller
    // `targetNamespace`, `storageNamespace`).
    if n.flux_namespace != n.namespace {
        spec["targetNamespace"] = json!(n.namespace);
        spec["storageNamespace"] = json!(n.namespace);
    }
    [repo, release]
}

/// Argo CD's Application with the values inline.
fn argocd(cx: Cx, values: &Value) -> Value {
    let (fleet, r, chart) = (cx.fleet, cx.runner, &cx.fleet.chart);
    let n = &r.names;
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
    app
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

/// Argo CD's repository Secret for an OCI chart: `type: helm`, `enableOCI: "true"` and the
/// registry path without scheme (argo-cd docs operator-manual/declarative-setup.md, user-guide
/// helm.md). It carries no credentials: a registry that needs them gets a second Secret of the
/// same shape with `username`/`password` (docs/platforms.md, "Private chart registries").
fn render_chart_repository(cx: EnvCx) -> Result<Rendered, RenderError> {
    let (fleet, env) = (cx.fleet, cx.env);
    let mut files = Tree::new();
    if fleet.gitops.engine != GitopsEngine::Argocd || !fleet.chart.is_oci {
        return Ok(Rendered::files(files));
    }
    let url = fleet
        .chart
        .repository
        .strip_prefix("oci://")
        .unwrap_or(&fleet.chart.repository);
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "runnergen-gitlab-runner-chart",
            "namespace": fleet.gitops.argocd_namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "runnergen",
                "argocd.argoproj.io/secret-type": "repository",
            },
        },
        "type": "Opaque",
        "stringData": {
            "name": "gitlab-runner-chart",
            "type": "helm",
            "url": url,
            "enableOCI": "true",
        },
    });
    files.insert(
        layout::chart_repository(&env.key),
        yaml_file(cx.source, [&secret]),
    )?;
    Ok(Rendered::files(files))
}

/// The environment's kustomization.yaml and the files of the environment's own it lists; its
/// facts are the secret store's accounts, for the invariants.
pub fn render_kustomization(
    cx: EnvCx,
) -> Result<Rendered<Vec<crate::vocab::Account>>, RenderError> {
    let (fleet, env, source) = (cx.fleet, cx.env, cx.source);
    let mut tree = render_chart_repository(cx)?.files;
    let store = super::kubernetes::render_store(cx)?;
    // The environment's own files first (the chart repository, the store), then the runners'.
    let own: Vec<String> = tree
        .paths()
        .chain(store.files.paths())
        .map(layout::env_relative)
        .collect();
    let accounts = store.add_to(&mut tree)?;
    let resources: Vec<String> = own
        .into_iter()
        .chain(env.ready_runners().flat_map(|r| kubernetes_files(fleet, r)))
        .collect();
    if resources.is_empty() {
        return Ok(Rendered {
            files: tree,
            facts: accounts,
        });
    }
    let k = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    tree.insert(layout::kustomization(&env.key), yaml_file(source, [&k]))?;
    Ok(Rendered {
        files: tree,
        facts: accounts,
    })
}

#[cfg(test)]
mod tests;
