//! The platform an environment's files are applied on, resolved: the Flux flavour and the
//! versions of the controllers that read runnergen's custom resources, each the spec's (the
//! environment's over the fleet's) or the oldest supported. The renderers ask it what a
//! version has (`retry_on_failure`, `eso_defaults`, …) rather than comparing versions
//! themselves; `tests/it/platforms.rs` holds each answer to the vendored CRDs of the versions.

use crate::spec::{self, Code, FluxFlavour, Problem, types as t};
use serde::Serialize;
use std::fmt;

/// A controller's release, `vMAJOR.MINOR.PATCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// `v1.2.3`, `1.2.3` or `1.2` (patch 0); none when it is not a version.
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.strip_prefix('v').unwrap_or(s).split('.');
        let mut next = || parts.next().map(str::parse::<u32>);
        let (major, minor) = (next()?.ok()?, next()?.ok()?);
        let patch = match next() {
            None => 0,
            Some(p) => p.ok()?,
        };
        parts
            .next()
            .is_none()
            .then_some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The oldest release of each controller runnergen supports, and why.
pub mod oldest {
    use super::Version;
    /// helm-controller v1.0.0 (Flux 2.3) first serves `helm.toolkit.fluxcd.io/v2`.
    pub const HELM_CONTROLLER: Version = Version(1, 0, 0);
    /// source-controller v1.3.0 (Flux 2.3) first serves HelmRepository
    /// `source.toolkit.fluxcd.io/v1` (its v1.2.0 CRD has v1beta1 and v1beta2 only).
    pub const SOURCE_CONTROLLER: Version = Version(1, 3, 0);
    /// External Secrets Operator v0.16.0 promoted `external-secrets.io/v1` (commit 74f0f381).
    pub const EXTERNAL_SECRETS: Version = Version(0, 16, 0);
    /// Argo CD v2.8.0's Application CRD is the first with `spec.source.helm.valuesObject`
    /// (argo-cd `manifests/crds/application-crd.yaml`: absent at v2.7.0).
    pub const ARGOCD: Version = Version(2, 8, 0);
}

/// The default namespace of the AKS extension's Flux configuration (the Azure docs' examples:
/// `az k8s-configuration flux create … --namespace cluster-config`).
pub const FLUX_NAMESPACE: &str = "cluster-config";

#[derive(Clone, Debug, Serialize)]
pub struct Platform {
    pub flux: FluxFlavour,
    /// Where each runner's HelmRepository and HelmRelease go with the AKS extension.
    pub flux_namespace: String,
    pub helm_controller: Version,
    pub source_controller: Version,
    pub external_secrets: Version,
    pub argocd: Version,
}

/// The fields of an ExternalSecret's `remoteRef` whose CRD `default:`s a version has: written
/// out so that an apply-based reconciler (Argo CD) sees no drift (external-secrets
/// `config/crds/bases/external-secrets.io_externalsecrets.yaml`: the three strategies default
/// up to v2.8.x and not from v2.9.0, #6798; `nullBytePolicy` exists from v2.3.0 and defaults to
/// `Ignore` up to v2.6.x, #6453).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EsoDefaults {
    pub strategies: bool,
    pub null_byte_policy: bool,
}

impl Platform {
    /// Whether helm-controller has the `RetryOnFailure` install and upgrade strategy (v1.4.0,
    /// helm-controller CHANGELOG #1281).
    pub fn retry_on_failure(&self) -> bool {
        self.helm_controller >= Version(1, 4, 0)
    }

    /// The `remoteRef` defaults the declared External Secrets Operator's CRD has.
    pub fn eso_defaults(&self) -> EsoDefaults {
        let v = self.external_secrets;
        EsoDefaults {
            strategies: v < Version(2, 9, 0),
            null_byte_policy: (Version(2, 3, 0)..Version(2, 7, 0)).contains(&v),
        }
    }

    /// Whether the Azure Key Vault provider has `useAzureSDK` (from v0.20.0, `default: false`).
    pub fn use_azure_sdk(&self) -> bool {
        self.external_secrets >= Version(0, 20, 0)
    }

    /// Whether a runner's Flux objects go into the Flux configuration's namespace (the AKS
    /// extension's multi-tenancy: helm-controller impersonates `flux-applier` of the
    /// HelmRelease's namespace, which exists only there).
    pub fn flux_in_config_namespace(&self) -> bool {
        self.flux == FluxFlavour::AksExtension
    }
}

/// Environment `ek`'s platform: its own `platform` over the fleet's, versions below the
/// oldest supported refused (E005) where they are written.
pub(super) fn resolve(
    s: &t::Spec,
    ek: &str,
    e: &t::Environment,
    diags: &mut Vec<Problem>,
) -> Platform {
    let p = s.platform.merged(e.platform.as_ref());
    let at = |field: &str, env_has: bool| {
        if env_has {
            format!("/environments/{}/platform/{field}", spec::ptr_key(ek))
        } else {
            format!("/platform/{field}")
        }
    };
    let own = e.platform.as_ref();
    let mut version = |field: &str,
                       what: &str,
                       value: &Option<String>,
                       env_value: Option<&Option<String>>,
                       oldest: Version| {
        let Some(text) = value else {
            return oldest;
        };
        let pointer = at(field, env_value.is_some_and(Option::is_some));
        match Version::parse(text) {
            Some(v) if v >= oldest => v,
            _ => {
                diags.push(
                    Problem::error(
                        Code::E005,
                        pointer,
                        format!("{what} `{text}` is older than {oldest}, the oldest runnergen supports"),
                    )
                    .hint(format!("the cluster runs a release that cannot apply runnergen's files; upgrade it, or declare its version if `{text}` is a typo (`{oldest}` or later)")),
                );
                oldest
            }
        }
    };
    Platform {
        flux: p.flux.unwrap_or_default(),
        flux_namespace: p
            .flux_namespace
            .clone()
            .unwrap_or_else(|| FLUX_NAMESPACE.into()),
        helm_controller: version(
            "helmController",
            "helm-controller",
            &p.helm_controller,
            own.map(|o| &o.helm_controller),
            oldest::HELM_CONTROLLER,
        ),
        source_controller: version(
            "sourceController",
            "source-controller",
            &p.source_controller,
            own.map(|o| &o.source_controller),
            oldest::SOURCE_CONTROLLER,
        ),
        external_secrets: version(
            "externalSecrets",
            "External Secrets Operator",
            &p.external_secrets,
            own.map(|o| &o.external_secrets),
            oldest::EXTERNAL_SECRETS,
        ),
        argocd: version(
            "argocd",
            "Argo CD",
            &p.argocd,
            own.map(|o| &o.argocd),
            oldest::ARGOCD,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("v1.4.0"), Some(Version(1, 4, 0)));
        assert_eq!(Version::parse("2.3"), Some(Version(2, 3, 0)));
        assert_eq!(Version::parse("v1.4.0.1"), None);
        assert_eq!(Version::parse("v1.x"), None);
        assert!(Version(0, 20, 0) > Version(0, 16, 2));
        assert_eq!(Version(1, 0, 0).to_string(), "v1.0.0");
    }

    #[test]
    fn eso_defaults_follow_the_crds() {
        let p = |v| Platform {
            flux: FluxFlavour::AksExtension,
            flux_namespace: FLUX_NAMESPACE.into(),
            helm_controller: oldest::HELM_CONTROLLER,
            source_controller: oldest::SOURCE_CONTROLLER,
            external_secrets: v,
            argocd: oldest::ARGOCD,
        };
        let d = |v| p(v).eso_defaults();
        assert_eq!(
            d(Version(0, 16, 0)),
            EsoDefaults {
                strategies: true,
                null_byte_policy: false
            }
        );
        assert_eq!(
            d(Version(2, 3, 0)),
            EsoDefaults {
                strategies: true,
                null_byte_policy: true
            }
        );
        assert_eq!(
            d(Version(2, 7, 0)),
            EsoDefaults {
                strategies: true,
                null_byte_policy: false
            }
        );
        assert_eq!(
            d(Version(2, 9, 0)),
            EsoDefaults {
                strategies: false,
                null_byte_policy: false
            }
        );
        assert!(!p(Version(0, 19, 2)).use_azure_sdk());
        assert!(p(Version(0, 20, 0)).use_azure_sdk());
    }
}
