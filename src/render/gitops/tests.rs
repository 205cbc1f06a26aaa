//! How each GitOps engine installs the chart: Flux HelmRepository + HelmRelease, an Argo CD
//! Application, or nothing; and the environment's kustomization.

use crate::testing::{docs, read, render, seed};
use crate::tree::Tree;
use serde_json::Value;

fn values(t: &Tree, dir: &str) -> Value {
    docs(t, &format!("{dir}/values.yaml")).remove(0)
}

/// The seed spec with `platform:` added.
fn seed_on(platform: &str) -> Tree {
    let text = read("fixtures/ascode/runners.yaml").replacen(
        "\nenvironments:",
        &format!("\nplatform: {platform}\nenvironments:"),
        1,
    );
    crate::compile::compile("fixtures/ascode/runners.yaml", &text).unwrap()
}

/// On the AKS extension (the default), whose multi-tenancy applies a HelmRelease only in the
/// Flux configuration's namespace, both objects are there, named per runner, and the release
/// goes to the runner's namespace; on helm-controller before v1.4.0, remediation retries
/// without limit stand in for `RetryOnFailure`, which that CRD lacks.
#[test]
fn flux_installs_the_chart_from_the_configuration_namespace_by_default() {
    let t = seed();
    let d = docs(&t, "ss/tf/helmrelease.yaml");
    let (repo, release) = (&d[0], &d[1]);
    assert_eq!(repo["kind"], "HelmRepository");
    assert_eq!(repo["apiVersion"], "source.toolkit.fluxcd.io/v1");
    assert_eq!(repo["spec"]["url"], "https://charts.gitlab.io");
    assert!(
        repo["spec"].get("type").is_none(),
        "an https repository is not OCI"
    );
    assert_eq!(release["kind"], "HelmRelease");
    assert_eq!(release["apiVersion"], "helm.toolkit.fluxcd.io/v2");
    let ns = release["metadata"]["namespace"].clone();
    assert_eq!(ns, "cluster-config");
    assert_eq!(repo["metadata"]["namespace"], ns);
    assert_eq!(repo["metadata"]["name"], release["metadata"]["name"]);
    assert_eq!(release["spec"]["targetNamespace"], "gitlab-tf");
    assert_eq!(release["spec"]["storageNamespace"], "gitlab-tf");
    let chart = &release["spec"]["chart"]["spec"];
    assert_eq!(chart["chart"], "gitlab-runner");
    assert_eq!(chart["version"], "0.86.0");
    assert_eq!(
        chart["sourceRef"],
        serde_json::json!({"kind": "HelmRepository", "name": repo["metadata"]["name"], "namespace": ns})
    );
    assert_eq!(release["spec"]["releaseName"], release["metadata"]["name"]);
    // Installed before its token exists: retried until it works, never stalled.
    let forever = serde_json::json!({"remediation": {"retries": -1}});
    assert_eq!(release["spec"]["install"], forever);
    assert_eq!(release["spec"]["upgrade"], forever);
    // The values Flux installs are exactly the reviewed values.yaml.
    assert_eq!(release["spec"]["values"], values(&t, "ss/tf"));
}

/// Upstream Flux keeps each runner's objects in its own namespace; helm-controller v1.4.0 and
/// later retry with `RetryOnFailure`.
#[test]
fn upstream_flux_installs_from_the_runners_namespace_and_retries_on_failure() {
    let t = seed_on("{flux: upstream, helmController: v1.4.0}");
    let d = docs(&t, "ss/tf/helmrelease.yaml");
    let (repo, release) = (&d[0], &d[1]);
    assert_eq!(release["metadata"]["namespace"], "gitlab-tf");
    assert_eq!(repo["metadata"]["namespace"], "gitlab-tf");
    assert_eq!(repo["metadata"]["name"], "gitlab");
    assert!(release["spec"].get("targetNamespace").is_none());
    assert_eq!(
        release["spec"]["install"],
        serde_json::json!({"strategy": {"name": "RetryOnFailure", "retryInterval": "2m"}})
    );
    assert_eq!(
        release["spec"]["upgrade"]["strategy"]["name"],
        "RetryOnFailure"
    );
}

/// A version older than runnergen supports is refused where it is written.
#[test]
fn a_controller_older_than_supported_is_refused() {
    let text = read("fixtures/ascode/runners.yaml").replacen(
        "\nenvironments:",
        "\nplatform: {helmController: v0.37.4}\nenvironments:",
        1,
    );
    let e = crate::compile::compile("runners.yaml", &text).unwrap_err();
    assert!(
        e.contains("error[E005]: helm-controller `v0.37.4` is older than v1.0.0, the oldest runnergen supports"),
        "{e}"
    );
}

#[test]
fn argocd_installs_the_oci_chart_with_inline_values() {
    let t = render("fixtures/argocd/runners.yaml");
    let app = &docs(&t, "ss/deploy/application.yaml")[0];
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    assert_eq!(
        app["metadata"]["namespace"], "argo",
        "gitops.argocdNamespace"
    );
    assert_eq!(app["spec"]["project"], "platform", "gitops.argocdProject");
    let source = &app["spec"]["source"];
    // Argo CD takes OCI Helm repositories without the scheme (argo-cd docs, helm.md).
    assert_eq!(source["repoURL"], "acrweussascode.azurecr.io/helm");
    assert_eq!(source["chart"], "gitlab-runner");
    assert_eq!(source["targetRevision"], "0.86.0");
    assert_eq!(source["helm"]["releaseName"], app["metadata"]["name"]);
    assert_eq!(source["helm"]["valuesObject"], values(&t, "ss/deploy"));
    let ns = &docs(&t, "ss/deploy/namespace.yaml")[0]["metadata"]["name"];
    assert_eq!(app["spec"]["destination"]["namespace"], *ns);
    assert_eq!(
        app["spec"]["destination"]["server"],
        "https://kubernetes.default.svc"
    );
    assert_eq!(
        app["spec"]["syncPolicy"]["automated"],
        serde_json::json!({"prune": true, "selfHeal": true})
    );
    assert!(t.get("ss/deploy/helmrelease.yaml").is_none());
    let kustomization = t.get_str("ss/kustomization.yaml").unwrap();
    assert!(kustomization.contains("deploy/application.yaml"));
    // The repository Secret Argo CD needs for an OCI chart, applied with the rest.
    let repo = &docs(&t, "ss/chart-repository.yaml")[0];
    assert_eq!(repo["metadata"]["namespace"], "argo");
    assert_eq!(
        repo["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
        "repository"
    );
    assert_eq!(
        repo["stringData"],
        serde_json::json!({"name": "gitlab-runner-chart", "type": "helm", "url": "acrweussascode.azurecr.io/helm", "enableOCI": "true"})
    );
    assert!(kustomization.contains("- chart-repository.yaml"));
}

/// A chart mirrored in Azure Container Registry: Flux signs in with Azure by default, or with a
/// Secret the spec names.
#[test]
fn a_private_oci_chart_in_acr_authenticates() {
    let acr = read("fixtures/ascode/runners.yaml").replace(
        "chart:\n  version: 0.86.0\n",
        "chart:\n  version: 0.86.0\n  repository: oci://myacr.azurecr.io/helm/\n",
    );
    let t = crate::compile("fleet.yaml", &acr).unwrap();
    let repo = &docs(&t, "ss/tf/helmrelease.yaml")[0];
    assert_eq!(repo["spec"]["type"], "oci");
    assert_eq!(repo["spec"]["provider"], "azure");
    assert_eq!(repo["spec"]["url"], "oci://myacr.azurecr.io/helm");
    let with_secret = acr.replace(
        "  repository: oci://myacr.azurecr.io/helm/\n",
        "  repository: oci://myacr.azurecr.io/helm/\n  provider: generic\n  secretRef: acr-pull\n",
    );
    let t = crate::compile("fleet.yaml", &with_secret).unwrap();
    let repo = &docs(&t, "ss/tf/helmrelease.yaml")[0];
    assert_eq!(repo["spec"]["provider"], "generic");
    assert_eq!(repo["spec"]["secretRef"]["name"], "acr-pull");
    // The seed's public https repository stays `generic`.
    assert_eq!(
        docs(&seed(), "ss/tf/helmrelease.yaml")[0]["spec"]["provider"],
        "generic"
    );
    // `azure` is refused for an https repository, at its line.
    let wrong = read("fixtures/ascode/runners.yaml").replace(
        "chart:\n  version: 0.86.0\n",
        "chart:\n  version: 0.86.0\n  provider: azure\n",
    );
    let err = crate::compile("fleet.yaml", &wrong).unwrap_err();
    assert!(
        err.contains("error[E005]: `provider: azure` needs an `oci://` chart repository"),
        "{err}"
    );
}

#[test]
fn plain_renders_no_installer() {
    let spec = read("fixtures/ascode/runners.yaml").replace(
        "chart:\n  version: 0.86.0\n",
        "chart:\n  version: 0.86.0\ngitops:\n  engine: plain\n",
    );
    let t = crate::compile("fleet.yaml", &spec).unwrap();
    assert!(t.get("ss/tf/values.yaml").is_some());
    assert!(
        !t.paths()
            .any(|p| p.ends_with("helmrelease.yaml") || p.ends_with("application.yaml"))
    );
    let k = &docs(&t, "ss/kustomization.yaml")[0];
    // The Key Vault store, then each runner's four files.
    assert_eq!(k["resources"].as_array().unwrap().len(), 13);
}

#[test]
fn kustomization_lists_every_kubernetes_file_and_nothing_else() {
    let t = seed();
    let k = &docs(&t, "ss/kustomization.yaml")[0];
    let listed: Vec<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for r in ["tf", "packer", "images"] {
        for f in [
            "namespace.yaml",
            "serviceaccounts.yaml",
            "rbac.yaml",
            "externalsecret.yaml",
            "helmrelease.yaml",
        ] {
            assert!(listed.contains(&format!("{r}/{f}").as_str()), "{r}/{f}");
        }
    }
    assert!(!listed.iter().any(|p| p.ends_with("values.yaml")));
    assert_eq!(listed[0], "secret-store.yaml");
    assert_eq!(listed.len(), 16);
}
