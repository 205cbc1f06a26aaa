//! The platform the rendered files are applied on: how Flux is installed and the versions of
//! the controllers that read runnergen's custom resources. Every rendered field is one the
//! declared versions have (`model::Platform` resolves the defaults; `tests/it/platforms.rs`
//! validates each supported platform against its vendored CRDs).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The target platform. Fleet-wide under `platform:`, and per environment under
/// `environments.<env>.platform`, which overrides it field by field. Unset versions are the
/// oldest runnergen supports, so a spec that says nothing works on a cluster installed long
/// ago: Flux 2.3 (helm-controller v1.0.0, source-controller v1.3.0: the first to serve the
/// HelmRelease `v2` and HelmRepository `v1` APIs runnergen writes), External Secrets Operator
/// v0.16.0 (the first to serve `external-secrets.io/v1`), Argo CD v2.8.0 (the first whose
/// Application has `helm.valuesObject`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Platform {
    /// How Flux is installed, with `gitops.engine: flux`: `aks-extension` (default: the AKS
    /// GitOps extension `microsoft.flux`, whose multi-tenancy applies a HelmRelease only in the
    /// Flux configuration's namespace) or `upstream` (`flux bootstrap`).
    pub flux: Option<FluxFlavour>,
    /// The Flux configuration's namespace (`az k8s-configuration flux create --namespace`),
    /// where each runner's HelmRepository and HelmRelease go with `flux: aks-extension`.
    /// Default `cluster-config`.
    #[schemars(pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub flux_namespace: Option<String>,
    /// Flux helm-controller version (`v1.0.0` or later). Default `v1.0.0`. From v1.4.0 a
    /// HelmRelease retries a failed install with the `RetryOnFailure` strategy; before, with
    /// unlimited remediation retries.
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub helm_controller: Option<String>,
    /// Flux source-controller version (`v1.3.0` or later). Default `v1.3.0`.
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub source_controller: Option<String>,
    /// External Secrets Operator version (`v0.16.0` or later). Default `v0.16.0`. The
    /// ExternalSecret and the store write exactly the fields that version's CRDs have and
    /// default.
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub external_secrets: Option<String>,
    /// Argo CD version (`v2.8.0` or later), with `gitops.engine: argocd`. Default `v2.8.0`.
    #[schemars(pattern(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"))]
    pub argocd: Option<String>,
}

/// How Flux is installed on the cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FluxFlavour {
    /// The AKS GitOps extension (`microsoft.flux`), multi-tenancy on (its default).
    #[default]
    AksExtension,
    /// Flux installed with `flux bootstrap` or its manifests.
    Upstream,
}

impl Platform {
    /// `over` field by field over `self`.
    pub fn merged(&self, over: Option<&Platform>) -> Platform {
        let Some(o) = over else {
            return self.clone();
        };
        Platform {
            flux: o.flux.or(self.flux),
            flux_namespace: o.flux_namespace.clone().or(self.flux_namespace.clone()),
            helm_controller: o.helm_controller.clone().or(self.helm_controller.clone()),
            source_controller: o
                .source_controller
                .clone()
                .or(self.source_controller.clone()),
            external_secrets: o.external_secrets.clone().or(self.external_secrets.clone()),
            argocd: o.argocd.clone().or(self.argocd.clone()),
        }
    }
}
