#!/usr/bin/env python3
"""Vendors the CRD schemas of each supported platform version (schema/vendor/crd-versions/).

Usage: python3 scripts/vendor_crds.py <mirrors>   (a folder of bare git mirrors named
<owner>+<repo>/repo, e.g. from `git clone --mirror`)

For each (repository, tag, path) below it reads the CustomResourceDefinition at that tag, takes
the openAPIV3Schema of the API version runnergen writes, and writes it as JSON to
schema/vendor/crd-versions/<group>/<kind>_<apiversion>@<tag>.json with its provenance beside it
in README.md's table. Secret stores keep only the Azure Key Vault provider under
`spec.provider` (the others are hundreds of kilobytes runnergen never writes; dropping them
makes validation stricter, not looser: any other provider key is then an unknown field).
"""
import json
import os
import subprocess
import sys

import yaml  # PyYAML

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "schema", "vendor", "crd-versions")

SOURCES = [
    # (mirror, tag, path, API version)
    ("fluxcd+helm-controller", "v1.0.0", "config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml", "v2"),
    ("fluxcd+helm-controller", "v1.6.3", "config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml", "v2"),
    ("fluxcd+source-controller", "v1.3.0", "config/crd/bases/source.toolkit.fluxcd.io_helmrepositories.yaml", "v1"),
    ("fluxcd+source-controller", "v1.9.1", "config/crd/bases/source.toolkit.fluxcd.io_helmrepositories.yaml", "v1"),
    ("external-secrets+external-secrets", "v0.16.0", "config/crds/bases/external-secrets.io_externalsecrets.yaml", "v1"),
    ("external-secrets+external-secrets", "v0.16.0", "config/crds/bases/external-secrets.io_secretstores.yaml", "v1"),
    ("external-secrets+external-secrets", "v0.16.0", "config/crds/bases/external-secrets.io_clustersecretstores.yaml", "v1"),
    ("external-secrets+external-secrets", "v2.3.0", "config/crds/bases/external-secrets.io_externalsecrets.yaml", "v1"),
    ("external-secrets+external-secrets", "v2.3.0", "config/crds/bases/external-secrets.io_secretstores.yaml", "v1"),
    ("external-secrets+external-secrets", "v2.3.0", "config/crds/bases/external-secrets.io_clustersecretstores.yaml", "v1"),
    ("external-secrets+external-secrets", "v2.9.0", "config/crds/bases/external-secrets.io_externalsecrets.yaml", "v1"),
    ("external-secrets+external-secrets", "v2.9.0", "config/crds/bases/external-secrets.io_secretstores.yaml", "v1"),
    ("external-secrets+external-secrets", "v2.9.0", "config/crds/bases/external-secrets.io_clustersecretstores.yaml", "v1"),
    ("argoproj+argo-cd", "v2.8.0", "manifests/crds/application-crd.yaml", "v1alpha1"),
    ("argoproj+argo-cd", "v3.5.1", "manifests/crds/application-crd.yaml", "v1alpha1"),
]


def main():
    mirrors = sys.argv[1]
    rows = []
    for mirror, tag, path, version in SOURCES:
        git = os.path.join(mirrors, mirror, "repo")
        text = subprocess.run(["git", "--git-dir", git, "show", f"{tag}:{path}"],
                              check=True, capture_output=True, text=True).stdout
        crd = yaml.safe_load(text)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
        if kind in ("SecretStore", "ClusterSecretStore"):
            provider = schema["properties"]["spec"]["properties"]["provider"]
            provider["properties"] = {"azurekv": provider["properties"]["azurekv"]}
        os.makedirs(os.path.join(OUT, group), exist_ok=True)
        name = f"{kind.lower()}_{version}@{tag}.json"
        with open(os.path.join(OUT, group, name), "w") as fh:
            json.dump(schema, fh, sort_keys=True, separators=(",", ":"))
            fh.write("\n")
        repo = mirror.replace("+", "/")
        rows.append(f"| `{group}/{name}` | `{repo}` | `{tag}` | `{path}` |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
