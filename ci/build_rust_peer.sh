#!/usr/bin/env bash
# Build the rust-libp2p interop peer (interop/rust) once and print the path of the binary on the
# last line of stdout.
#
#   peer=$(ci/build_rust_peer.sh | tail -n 1) && "$peer" listen ...
#
# The binary is cached under
#   ${AIOLIBP2P_RUST_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/rust-peer}/<sha256>/peer
# keyed by the sha256 of Cargo.lock, Cargo.toml and every file under src/. Cargo's target directory
# is shared by all keys (${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/rust-target, or
# $AIOLIBP2P_RUST_TARGET_DIR), so a source edit rebuilds only the peer crate itself (~30 s), not
# the ~210 dependencies (~2 min of compiling on 2 cores, plus the first download of the crates). `cargo build --release --locked`:
# Cargo.lock must be up to date. A cached run needs no cargo at all and takes a few milliseconds.
# Everything except the final path goes to stderr. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/interop/rust"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p"
base="${AIOLIBP2P_RUST_PEER_CACHE:-$cache/rust-peer}"
target="${AIOLIBP2P_RUST_TARGET_DIR:-$cache/rust-target}"

die() { echo "build_rust_peer: $*" >&2; exit 1; }

[ -f "$src/Cargo.lock" ] || die "missing $src/Cargo.lock"
hash=$( (cd "$src" && { echo Cargo.lock; echo Cargo.toml; find src -type f | LC_ALL=C sort; } \
        | while read -r f; do printf '%s\0' "$f"; sha256sum < "$f"; done) | sha256sum | cut -d' ' -f1)
dir="$base/$hash"

if [ ! -x "$dir/peer" ]; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH (install Rust >= 1.88 with rustup)"
  echo "build_rust_peer: building the rust peer into $dir (the first build takes several minutes)" >&2
  mkdir -p "$base" "$target"
  run=(cargo build --release --locked --manifest-path "$src/Cargo.toml")
  if command -v timeout >/dev/null 2>&1; then run=(timeout 3000 "${run[@]}"); fi
  # The target directory is shared, and cargo leaves the root package's path out of its
  # fingerprints: after another checkout built this package, cargo may call our build fresh
  # (their sources are unchanged) and leave their binary in place. So the source hash goes
  # into the binary (option_env!, which cargo tracks: a new value rebuilds this crate only),
  # and the copy we publish must report it.
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    start=$(date +%s)
    AIOLIBP2P_PEER_SOURCE_HASH="$hash" CARGO_TARGET_DIR="$target" "${run[@]}" >&2 || die "cargo build failed"
    echo "build_rust_peer: cargo build took $(( $(date +%s) - start )) s" >&2
    [ -x "$target/release/peer" ] || die "cargo build produced no $target/release/peer"
    # publish atomically; the binary is only ever replaced by an identical build
    tmp=$(mktemp "$dir/.peer.XXXXXX")
    cp "$target/release/peer" "$tmp"
    chmod 755 "$tmp"
    if [ "$("$tmp" source-hash 2>/dev/null || true)" = "$hash" ]; then
      mv -f "$tmp" "$dir/peer"
      break
    fi
    rm -f "$tmp"
    echo "build_rust_peer: $target/release/peer is another checkout's build (attempt $attempt); building again" >&2
  done
  [ -x "$dir/peer" ] || die "could not get a build of these sources out of the shared target directory $target"
fi

"$dir/peer" --help >/dev/null 2>&1 || [ $? -eq 2 ] || die "$dir/peer does not run; delete $dir and rerun"
echo "$dir/peer"
