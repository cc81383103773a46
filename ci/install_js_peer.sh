#!/usr/bin/env bash
# Install the js-libp2p interop peer (interop/js) into a cache directory outside the
# repository and print that directory on the last line of stdout.
#
#   dir=$(ci/install_js_peer.sh | tail -n 1) && node "$dir/peer.mjs" listen ...
#
# The cache is keyed by the sha256 of interop/js/package-lock.json:
#   ${AIOLIBP2P_JS_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/js-peer}/<sha256>/
# holding package.json, package-lock.json and node_modules/ (from `npm ci`, once per lock file;
# a .installed marker records success), and the program's *.mjs files in
# programs/<sha256 of the *.mjs files>/ (so edits take effect, and checkouts with different
# programs never overwrite each other's). That directory is what gets printed. ESM ignores
# NODE_PATH, so the program must live below node_modules' directory.
# Everything except the final path goes to stderr. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/interop/js"

die() { echo "install_js_peer: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found on PATH (need Node.js >= 20)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 required, found $(node --version)"
[ -f "$src/package-lock.json" ] || die "missing $src/package-lock.json"

hash=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
base="${AIOLIBP2P_JS_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/js-peer}"
dir="$base/$hash"
mkdir -p "$base"

if [ ! -f "$dir/.installed" ]; then
  echo "install_js_peer: installing js-libp2p peer into $dir" >&2
  tmp=$(mktemp -d "$base/.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  cp "$src/package.json" "$src/package-lock.json" "$tmp/"
  run_npm=(npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  if command -v timeout >/dev/null 2>&1; then run_npm=(timeout 900 "${run_npm[@]}"); fi
  (cd "$tmp" && "${run_npm[@]}") >&2 || die "npm ci failed"
  touch "$tmp/.installed"
  # publish atomically; if another run got there first, keep theirs
  if ! mv -T "$tmp" "$dir" 2>/dev/null; then
    [ -f "$dir/.installed" ] || { rm -rf "$dir"; mv -T "$tmp" "$dir"; }
  fi
  rm -rf "$tmp"
  trap - EXIT
fi

# the program files go into programs/<sha256 of them>/, below node_modules' directory (ESM resolves
# bare imports by walking up to it): worktrees sharing one lock file but holding different *.mjs
# files each get their own copy instead of overwriting each other's. Published by a rename.
prog_hash=$(cd "$src" && for f in *.mjs; do printf '%s\0' "$f"; sha256sum < "$f"; done | sha256sum | cut -d' ' -f1)
prog="$dir/programs/$prog_hash"
if [ ! -d "$prog" ]; then
  mkdir -p "$dir/programs"
  ptmp=$(mktemp -d "$dir/programs/.tmp.XXXXXX") && chmod 755 "$ptmp"
  cp "$src"/*.mjs "$ptmp/"
  ln -s ../../node_modules "$ptmp/node_modules"  # for readers of node_modules/<pkg>/package.json
  mv -T "$ptmp" "$prog" 2>/dev/null || rm -rf "$ptmp"
fi

# sanity check: the dependencies resolve from the program's directory
(cd "$prog" && node --input-type=module -e "import('libp2p').then(() => {})") >&2 \
  || die "installed peer in $dir does not load; delete it and rerun"

echo "$prog"
