#!/usr/bin/env bash
# Build the go-libp2p interop peer (interop/go) once into a cache directory outside the
# repository and print the binary's path on the last line of stdout.
#
#   peer=$(ci/build_go_peer.sh | tail -n 1) && "$peer" listen ...
#
# The binary lives at
#   ${AIOLIBP2P_GO_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/go-peer}/<sha256>/peer
# where <sha256> covers go.mod, go.sum and every *.go file (names and contents), so any
# edit gives a new build and an unchanged tree reuses the old one without running `go`.
# The build uses GOFLAGS=-mod=readonly (go.mod/go.sum must already be complete) and
# -trimpath, and reuses Go's module cache and build cache (GOMODCACHE, GOCACHE).
# Modules come from GOPROXY (default https://proxy.golang.org) on the first build only.
# Everything except the final path goes to stderr. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/interop/go"

die() { echo "build_go_peer: $*" >&2; exit 1; }

[ -f "$src/go.mod" ] && [ -f "$src/go.sum" ] || die "missing $src/go.mod or go.sum"

# the cache key: file names and contents, in a stable order
hash=$(cd "$src" && { printf '%s\n' go.mod go.sum; LC_ALL=C ls -1 -- *.go; } | while read -r f; do
         printf '%s\0' "$f"; cat -- "$f"; printf '\0'
       done | sha256sum | cut -d' ' -f1)
base="${AIOLIBP2P_GO_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/go-peer}"
dir="$base/$hash"
if [ -x "$dir/peer" ]; then
  echo "$dir/peer"
  exit 0
fi

go_bin=$(command -v go || true)
if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go; fi
[ -n "$go_bin" ] || die "go not found on PATH (need Go >= 1.26, see interop/go/README.md)"

mkdir -p "$base"
echo "build_go_peer: building the go-libp2p peer into $dir ($("$go_bin" version))" >&2
tmp=$(mktemp -d "$base/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
run_go=("$go_bin" build -trimpath -o "$tmp/peer" .)
if command -v timeout >/dev/null 2>&1; then run_go=(timeout 1200 "${run_go[@]}"); fi
start=$(date +%s)
(cd "$src" && GOFLAGS=-mod=readonly CGO_ENABLED=0 "${run_go[@]}") >&2 || die "go build failed"
"$tmp/peer" version >/dev/null 2>&1 || die "the built binary does not run"
echo "build_go_peer: built in $(( $(date +%s) - start )) s" >&2
# publish atomically; if another run got there first, keep theirs
if ! mv -T "$tmp" "$dir" 2>/dev/null; then
  [ -x "$dir/peer" ] || { rm -rf "$dir"; mv -T "$tmp" "$dir"; }
fi
rm -rf "$tmp"
trap - EXIT
echo "$dir/peer"
