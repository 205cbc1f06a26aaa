# Sourced by the install scripts: fetching one pinned npm package, checked.
#
# npm_pack_verified PACKAGE VERSION INTEGRITY DIR: `npm pack` PACKAGE@VERSION into DIR (no
# install script runs), check the tarball against the pinned dist.integrity (`npm view
# PACKAGE@VERSION dist.integrity`, a base64 sha512), and print the tarball's path. On any
# failure it says why on stderr and returns 1.
npm_pack_verified() {
  local pkg=$1 version=$2 integrity=$3 dir=$4 tgz got
  echo "npm-pack: fetching $pkg@$version with npm pack" >&2
  (cd "$dir" && npm pack --silent --ignore-scripts "$pkg@$version" >/dev/null) \
    || { echo "npm-pack: npm pack $pkg@$version failed" >&2; return 1; }
  tgz=$(find "$dir" -maxdepth 1 -name '*.tgz' -print -quit)
  [[ -n $tgz ]] || { echo "npm-pack: npm pack $pkg@$version produced no tarball" >&2; return 1; }
  got="sha512-$(python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1],"rb").read()).digest()).decode())' "$tgz")"
  [[ $got == "$integrity" ]] \
    || { echo "npm-pack: integrity mismatch for $pkg@$version: got $got, expected $integrity" >&2; return 1; }
  echo "$tgz"
}
