#!/usr/bin/env bash
# Validate rendered runnergen trees with third-party tools, offline.
#
# usage: scripts/validate-output.sh [TREE...]
#   default trees: out plus every example fleet's fixtures/*/expected directory (discovered, not listed here)
#
# Per tree, each validator below is one check; its one-line summary reads
# `<tree>: <validator>: <counts>`; problems are printed above it, naming file and error:
#   syntax               every .json parses (json), .toml (tomllib), .yaml (PyYAML)
#   documents            every YAML document is classified: core kind, CRD with a vendored schema,
#                        kustomize config, or Helm values (values.yaml); anything else fails
#   kubernetes-validate  strict, core kinds (Namespace, ServiceAccount, Role, RoleBinding,
#                        ClusterRoleBinding, ...) one document at a time, for every version below
#                        (its Python API with cached schemas: same check as the CLI's --strict,
#                        10x faster; see validate_helpers.py)
#   check-jsonschema     CRD documents (ExternalSecret, HelmRepository, HelmRelease, Application,
#                        ...) against schema/vendor/crds/<group>/<kind>_<version>.json
#   kustomize            `kubectl kustomize` of every directory holding a kustomization.yaml
#   arm                  scripts/arm_validate.py: every main.json and graph.json (main-NN.json,
#                        graph-NN.json of a sharded environment), resource by
#                        resource and template by template, against schema/vendor/arm
#   pycep                every .bicep parses with pycep-parser
# A validator with nothing to check in a tree prints `skipped` and is not counted.
# The last line is exactly `N passed, M failed` (CI parses it); exit status 1 if M > 0.
#
# Tools come from scripts/install-validators.sh ($RUNNERGEN_TOOLS, default <repo>/.ci-cache);
# the third-party schemas from $RUNNERGEN_SCHEMAS (default <repo>/schema/vendor, vendored with
# their provenance in schema/vendor/README.md).
# Nothing here uses the network: HTTP(S) proxies point at a closed port while validators run.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))
tools=${RUNNERGEN_TOOLS:-$repo_root/.ci-cache}
schemas=${RUNNERGEN_SCHEMAS:-$repo_root/schema/vendor}

# Kubernetes minor versions to validate core kinds against. AKS supports a sliding window of about
# four GA minors (plus LTS); this is the 1.31-1.34 window. kubernetes-validate 1.37.0 (pinned in
# install-validators.sh) ships strict schemas for 1.25-1.37, so all four are real schemas, not a
# fallback to an older one (validate_helpers.py kubevalidate refuses a version it does not ship).
# Override with e.g. RUNNERGEN_KUBE_VERSIONS="1.33 1.34 1.35" when the AKS window moves.
read -r -a kube_versions <<<"${RUNNERGEN_KUBE_VERSIONS:-1.31 1.32 1.33 1.34}"

die() { echo "validate-output: error: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

py=$tools/venv/bin/python
cj=$tools/venv/bin/check-jsonschema
kubectl=$tools/bin/kubectl
for tool in "$py" "$cj" "$kubectl"; do
  [[ -x $tool ]] || die "$tool missing: run scripts/install-validators.sh first"
done
[[ -d $schemas/crds && -d $schemas/arm ]] \
  || die "vendored schemas not found at $schemas (set RUNNERGEN_SCHEMAS)"
schemas=$(cd "$schemas" && pwd)

for version in "${kube_versions[@]}"; do
  [[ $version =~ ^1\.[0-9]+$ ]] || die "Kubernetes version $version: expected <major>.<minor>"
done
kube_label="${kube_versions[0]}-${kube_versions[-1]}"
((${#kube_versions[@]} > 1)) || kube_label=${kube_versions[0]}

# ---- trees --------------------------------------------------------------------------------------
trees=()
if (($#)); then
  trees=("$@")
else
  trees=("$repo_root/out")
  for dir in "$repo_root"/fixtures/*/expected; do
    # An example fleet's tree (fixtures/import/expected holds what import writes, no tree).
    [[ -d $dir && -f $dir/../runners.yaml ]] && trees+=("$dir")
  done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/runnergen-validate.XXXXXX")
trap 'rm -rf "$work"' EXIT

# No network for the validators.
export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
export HTTP_PROXY=$http_proxy HTTPS_PROXY=$https_proxy no_proxy='' NO_PROXY=''
export PIP_NO_INDEX=1 PYTHONDONTWRITEBYTECODE=1 KUBECONFIG=/dev/null

passed=0
failed=0
total_seconds=0

# check LABEL NAME COMMAND...: run one validator. The command prints problems, then a last
# `SUMMARY <text>` line; it exits 0 (ok), 3 (nothing to check) or anything else (failed).
check() {
  local label=$1 name=$2 out rc=0 summary details start=$EPOCHREALTIME elapsed
  shift 2
  out=$("$@" 2>&1) || rc=$?
  elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  total_seconds=$(awk -v a="$total_seconds" -v b="$elapsed" 'BEGIN { printf "%.1f", a + b }')
  summary=$(sed -n 's/^SUMMARY //p' <<<"$out" | tail -n 1)
  details=$(grep -v '^SUMMARY ' <<<"$out" || true)
  if [[ -n $details ]]; then sed 's/^/  /' <<<"$details"; fi  # indent every line
  case $rc in
    0) echo "$label: $name: ${summary:-ok} [${elapsed}s]"; passed=$((passed + 1)) ;;
    3) echo "$label: $name: skipped (${summary:-nothing to check}) [${elapsed}s]" ;;
    *) echo "$label: $name: FAILED (exit $rc): ${summary:-see above} [${elapsed}s]"; failed=$((failed + 1)) ;;
  esac
}

# Split documents live at <split>/docs/<relative path>/doc<N>.json; show them as the source file.
unsplit() { sed -E "s|$1/docs/([^ :]+)/doc([0-9]+)\.json|$2/\1 (document \2)|g"; }

run_kubernetes_validate() {
  "$py" "$script_dir/validate_helpers.py" kubevalidate "$1/core.list" "$2" "$1" "${kube_versions[@]}"
}

run_check_jsonschema() {
  local split=$1 label=$2 rc=0 out n=0 schemas=0 kinds=()
  if [[ ! -s $split/crd.tsv ]]; then echo "SUMMARY no CRD documents"; return 3; fi
  while IFS= read -r schema; do
    mapfile -t docs < <(awk -F'\t' -v s="$schema" '$1 == s { print $2 }' "$split/crd.tsv")
    n=$((n + ${#docs[@]}))
    schemas=$((schemas + 1))
    kinds+=("$(basename "$(dirname "$schema")")/$(basename "$schema" .json)")
    if ! out=$("$cj" --color never --schemafile "$schema" "${docs[@]}" 2>&1); then
      rc=1
      echo "schema ${schema#"$schemas"/}:"
      unsplit "$split" "$label" <<<"$out"
    fi
  done < <(cut -f1 "$split/crd.tsv" | sort -u)
  if ((rc)); then echo "SUMMARY problems in CRD documents ($n documents, $schemas schemas)"; return 1; fi
  echo "SUMMARY $n documents ok against $schemas CRD schemas (${kinds[*]})"
}

run_kustomize() {
  local split=$1 label=$2 tree=$3 rc=0 n=0 out dir
  if [[ ! -s $split/kustomize.list ]]; then echo "SUMMARY no kustomization.yaml"; return 3; fi
  while IFS= read -r dir; do
    n=$((n + 1))
    if ! out=$("$kubectl" kustomize "$dir" 2>&1 >/dev/null); then
      rc=1
      echo "$label/${dir#"$tree"/}/kustomization.yaml: kubectl kustomize failed: $out"
    fi
  done <"$split/kustomize.list"
  if ((rc)); then echo "SUMMARY kubectl kustomize failed"; return 1; fi
  echo "SUMMARY $n kustomization(s) build"
}

if ((${#trees[@]} == 0)); then die "no trees to validate"; fi

# The per-runner GitLab CI templates of a tree, against GitLab CI's own schema.
run_ci_templates() {
  local tree=$1 files
  mapfile -t files < <(find "$tree" -name ci-template.yml -type f | sort)
  if ((${#files[@]} == 0)); then echo "SUMMARY no ci-template.yml (no runner has a client ID)"; return 3; fi
  "$cj" --builtin-schema vendor.gitlab-ci "${files[@]}" || return 1
  echo "SUMMARY ${#files[@]} ci-template.yml valid"
}

index=0
for tree in "${trees[@]}"; do
  index=$((index + 1))
  if [[ ! -d $tree ]]; then
    echo "$tree: not a directory"
    failed=$((failed + 1))
    continue
  fi
  tree=$(cd "$tree" && pwd)
  label=${tree#"$repo_root"/}
  split=$work/$index
  mkdir -p "$split"

  check "$label" syntax "$py" "$script_dir/validate_helpers.py" syntax "$tree" "$label"
  check "$label" documents "$py" "$script_dir/validate_helpers.py" split "$tree" "$label" "$split" "$schemas/crds"
  touch "$split/core.list" "$split/crd.tsv" "$split/kustomize.list"
  check "$label" "kubernetes-validate $kube_label" run_kubernetes_validate "$split" "$label"
  check "$label" check-jsonschema run_check_jsonschema "$split" "$label"
  check "$label" "kubectl kustomize" run_kustomize "$split" "$label" "$tree"
  check "$label" arm "$py" "$script_dir/arm_validate.py" --schemas "$schemas/arm" "$tree" "$label"
  check "$label" pycep "$py" "$script_dir/validate_helpers.py" bicep "$tree" "$label"
  check "$label" "gitlab-ci templates" run_ci_templates "$tree"
done

# The GitLab CI template (each of its documents: the `spec:` header and the jobs) and the child
# pipelines it triggers, against GitLab CI's own schema (check-jsonschema's vendor.gitlab-ci).
run_gitlab_ci() {
  local dir=$work/gitlab-ci
  mkdir -p "$dir"
  "$py" -c 'import sys; docs = open(sys.argv[1]).read().split("\n---\n"); [open(f"{sys.argv[2]}/runnergen-{i}.yml", "w").write(d + "\n") for i, d in enumerate(docs)]' \
    "$repo_root/templates/runnergen.yml" "$dir"
  "$cj" --builtin-schema vendor.gitlab-ci "$dir"/runnergen-*.yml "$repo_root"/ci/*.yml
  echo "SUMMARY templates/runnergen.yml (2 documents) and ci/*.yml valid"
}
check "templates/runnergen.yml" "gitlab-ci schema" run_gitlab_ci
# The pre-commit hooks' manifest, against pre-commit's own schema.
run_pre_commit_manifest() {
  "$tools/venv/bin/pre-commit" validate-manifest "$repo_root/.pre-commit-hooks.yaml" || return 1
  echo "SUMMARY .pre-commit-hooks.yaml valid"
}
check ".pre-commit-hooks.yaml" "pre-commit manifest" run_pre_commit_manifest

echo "validate-output: ${#trees[@]} tree(s), checks took ${total_seconds}s"
echo "$passed passed, $failed failed"
((failed == 0))
