#!/usr/bin/env python3
"""Small helpers for scripts/validate-output.sh (run with the validators' venv Python).

  syntax TREE LABEL         every .json parses (json), every .toml parses (tomllib), every
                            .yaml/.yml parses (PyYAML, all documents)
  split TREE LABEL OUTDIR CRDS
                            split every YAML file of TREE into one file per document under
                            OUTDIR/docs/<relative path>/doc<N>.json and classify each document:
                              OUTDIR/core.list  core Kubernetes kinds, for kubernetes-validate
                              OUTDIR/crd.tsv    <schema file> TAB <document file>, for check-jsonschema
                              OUTDIR/kustomize.list  directories holding a kustomization.yaml
                            CRD kinds map to CRDS/<group>/<kind>_<version>.json; a CRD kind without
                            such a schema, or a document without apiVersion/kind outside values.yaml,
                            is an error (nothing is skipped silently).
  kubevalidate LIST LABEL SPLITDIR VERSION...
                            validate every JSON document listed in LIST (from `split`) with
                            kubernetes-validate in strict mode for each Kubernetes VERSION (x.y).
                            Same check as `kubernetes-validate --strict -k x.y.0 FILE`, through
                            its Python API with the schema files cached: the CLI re-reads the
                            1.4 MB definitions file for every document and version (10x slower).
                            A document whose kind/apiVersion has no schema fails (the CLI only
                            warns).
  bicep TREE LABEL          parse every .bicep file with pycep-parser; a file failing only on its
                            `extension` line (older pycep releases) is parsed without that line,
                            and the output says so

LABEL is how the tree is named in messages. Each command prints problems as `<path>: <message>`
lines, then one line `SUMMARY <text>`, and exits 0 (ok), 1 (problems found) or 3 (nothing of that
kind in the tree).
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path

import yaml

EXIT_OK, EXIT_FAIL, EXIT_NOTHING = 0, 1, 3

# apiVersion groups whose kinds kubernetes-validate knows (core API: "v1", *.k8s.io except the
# kustomize config kind, which is no API object and is checked by `kubectl kustomize`).
KUSTOMIZE_GROUP = "kustomize.config.k8s.io"


def files(tree: Path, *suffixes: str) -> list[Path]:
    out = []
    for root, dirs, names in os.walk(tree):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(suffixes):
                out.append(Path(root) / name)
    return out


def rel(tree: Path, path: Path) -> str:
    return path.relative_to(tree).as_posix()


class K8sLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, as Kubernetes' YAML-to-JSON step does, so
    every document can be written out as exact JSON, and rejects duplicate mapping keys (PyYAML
    silently keeps the last one; the API server's strict field validation rejects them)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


K8sLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_docs(path: Path) -> list:
    with path.open(encoding="utf-8") as f:
        return list(yaml.load_all(f, Loader=K8sLoader))


def cmd_syntax(tree: Path, label: str) -> int:
    problems = 0
    counts = {"json": 0, "toml": 0, "yaml": 0}
    for path in files(tree, ".json", ".toml", ".yaml", ".yml"):
        shown = f"{label}/{rel(tree, path)}"
        try:
            if path.suffix == ".json":
                counts["json"] += 1
                with path.open(encoding="utf-8") as f:
                    json.load(f)
            elif path.suffix == ".toml":
                counts["toml"] += 1
                with path.open("rb") as f:
                    tomllib.load(f)
            else:
                counts["yaml"] += 1
                load_yaml_docs(path)
        except (ValueError, yaml.YAMLError, UnicodeDecodeError) as e:
            problems += 1
            print(f"{shown}: {type(e).__name__}: {' '.join(str(e).split())}")
    total = sum(counts.values())
    print(f"SUMMARY {counts['json']} json, {counts['toml']} toml, {counts['yaml']} yaml files parse"
          if not problems else f"SUMMARY {problems} of {total} files do not parse")
    if problems:
        return EXIT_FAIL
    return EXIT_OK if total else EXIT_NOTHING


def is_core(api_version: str) -> bool:
    if "/" not in api_version:
        return True  # "v1"
    group = api_version.split("/", 1)[0]
    return group != KUSTOMIZE_GROUP and (group.endswith(".k8s.io") or "." not in group)


def cmd_split(tree: Path, outdir: Path, crds: Path, label: str) -> int:
    problems = 0
    core, crd, kustomize = [], [], []
    docs_dir = outdir / "docs"
    yaml_files = files(tree, ".yaml", ".yml")
    for path in yaml_files:
        shown = f"{label}/{rel(tree, path)}"
        try:
            docs = load_yaml_docs(path)
        except yaml.YAMLError as e:
            problems += 1
            print(f"{shown}: does not parse: {' '.join(str(e).split())}")
            continue
        for n, doc in enumerate(docs, start=1):
            where = f"{shown} (document {n})"
            if doc is None:
                continue  # empty document, e.g. a trailing `---`
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                if path.name in ("values.yaml", "values.yml", "ci-template.yml"):
                    continue  # Helm values or a GitLab CI template, not a Kubernetes object
                problems += 1
                print(f"{where}: not a Kubernetes object (no apiVersion/kind)")
                continue
            api_version, kind = str(doc["apiVersion"]), str(doc["kind"])
            target = docs_dir / rel(tree, path) / f"doc{n}.json"
            if api_version.startswith(KUSTOMIZE_GROUP + "/"):
                if kind != "Kustomization" or path.name != "kustomization.yaml":
                    problems += 1
                    print(f"{where}: {api_version} {kind} outside a kustomization.yaml")
                    continue
                kustomize.append(str(path.parent))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
            if is_core(api_version):
                core.append(str(target))
                continue
            group, _, version = api_version.partition("/")
            schema = crds / group / f"{kind.lower()}_{version}.json"
            if not schema.is_file():
                problems += 1
                print(f"{where}: no vendored CRD schema for {api_version} {kind} "
                      f"(expected {schema})")
                continue
            crd.append(f"{schema}\t{target}")
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "core.list").write_text("".join(f"{p}\n" for p in core))
    (outdir / "crd.tsv").write_text("".join(f"{p}\n" for p in crd))
    (outdir / "kustomize.list").write_text("".join(f"{p}\n" for p in kustomize))
    if not yaml_files:
        print("SUMMARY no YAML files")
        return EXIT_NOTHING
    print(f"SUMMARY {len(core)} core, {len(crd)} CRD documents, "
          f"{len(kustomize)} kustomizations, {problems} unclassifiable")
    return EXIT_FAIL if problems else EXIT_OK


def cmd_kubevalidate(listing: Path, label: str, split: Path, versions: list[str]) -> int:
    import functools
    import re

    import kubernetes_validate.utils as kv

    # validate() looks schema_contents up as a module global on every call: cache it.
    kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
    shipped = {kv.major_minor(v) for v in kv.all_versions()}
    for version in versions:
        if version not in shipped:
            print(f"kubernetes-validate {kv.__version__} has no schemas for Kubernetes {version} "
                  f"(it has {', '.join(sorted(shipped, key=lambda v: tuple(map(int, v.split('.')))))})")
            print("SUMMARY unsupported Kubernetes version")
            return EXIT_FAIL
    docs = [Path(line) for line in listing.read_text().splitlines() if line]
    if not docs:
        print("SUMMARY no core Kubernetes documents")
        return EXIT_NOTHING
    pattern = re.compile(r"^docs/(.+)/doc(\d+)\.json$")
    problems = 0
    for doc_path in docs:
        m = pattern.match(doc_path.relative_to(split).as_posix())
        shown = f"{label}/{m.group(1)} (document {m.group(2)})" if m else str(doc_path)
        with doc_path.open(encoding="utf-8") as f:
            doc = json.load(f)
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        for version in versions:
            try:
                kv.validate(doc, version + ".0", strict=True)
            except kv.ValidationError as e:
                problems += 1
                path = ".".join(str(p) for p in e.path) or "(top level)"
                print(f"{shown}: {name} does not validate against Kubernetes {e.version} "
                      f"(strict): {path}: {e.message}")
            except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
                problems += 1
                print(f"{shown}: {name}: {e.message}")
    if problems:
        print(f"SUMMARY {problems} problem(s) in {len(docs)} documents")
        return EXIT_FAIL
    print(f"SUMMARY {len(docs)} documents ok (kubernetes-validate {kv.__version__}, strict)")
    return EXIT_OK


def cmd_bicep(tree: Path, label: str) -> int:
    from pycep import BicepParser  # imported here: only this command needs it

    problems = ok = workaround = 0
    paths = files(tree, ".bicep")
    for path in paths:
        shown = f"{label}/{rel(tree, path)}"
        text = path.read_text(encoding="utf-8")
        try:
            BicepParser().parse(text=text)
            ok += 1
            continue
        except Exception as e:  # pycep raises lark exceptions of several kinds
            first_error = e
        # Older pycep-parser releases cannot parse `extension <name>` lines (Microsoft Graph
        # Bicep). If the error sits on such a line, blank it out (line numbers stay) and retry.
        lines = text.splitlines(keepends=True)
        err_line = getattr(first_error, "line", None)
        ext_lines = [i for i, l in enumerate(lines, start=1) if l.lstrip().startswith("extension ")]
        if err_line in ext_lines:
            stripped = "".join("\n" if i in ext_lines else l for i, l in enumerate(lines, start=1))
            try:
                BicepParser().parse(text=stripped)
                ok += 1
                workaround += 1
                print(f"{shown}: note: pycep cannot parse `extension` lines; parsed with "
                      f"line(s) {', '.join(map(str, ext_lines))} removed")
                continue
            except Exception as e:
                first_error = e
        problems += 1
        message = " ".join(str(first_error).split())
        print(f"{shown}: {type(first_error).__name__}: {message[:600]}")
    if problems:
        print(f"SUMMARY {problems} of {len(paths)} .bicep files do not parse")
        return EXIT_FAIL
    note = f" ({workaround} without their `extension` line)" if workaround else ""
    print(f"SUMMARY {ok} .bicep files parse{note}")
    return EXIT_OK if paths else EXIT_NOTHING


def main(argv: list[str]) -> int:
    usage = ("usage: validate_helpers.py syntax|bicep TREE LABEL | "
             "split TREE LABEL OUTDIR CRDS | kubevalidate LIST LABEL SPLITDIR VERSION...")
    if len(argv) < 3:
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "kubevalidate" and len(argv) >= 5:
        return cmd_kubevalidate(Path(argv[1]), argv[2], Path(argv[3]), argv[4:])
    cmd, tree, label = argv[0], Path(argv[1]), argv[2]
    if not tree.is_dir():
        print(f"{label}: not a directory", file=sys.stderr)
        return 2
    if cmd == "syntax" and len(argv) == 3:
        return cmd_syntax(tree, label)
    if cmd == "bicep" and len(argv) == 3:
        return cmd_bicep(tree, label)
    if cmd == "split" and len(argv) == 5:
        return cmd_split(tree, Path(argv[3]), Path(argv[4]), label)
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
