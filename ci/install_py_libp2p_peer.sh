#!/usr/bin/env bash
# Install the py-libp2p 0.8.1 interop peer (interop/py-libp2p) into its own virtual environment
# outside the repository and print that directory on the last line of stdout.
#
#   dir=$(ci/install_py_libp2p_peer.sh | tail -n 1) && "$dir/venv/bin/python" -I "$dir/peer.py" listen ...
#
# py-libp2p's import name is `libp2p`, the same as aiolibp2p's, so it never goes into our venv.
# The cache is keyed by the sha256 of interop/py-libp2p/requirements.txt:
#   ${AIOLIBP2P_PY_LIBP2P_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/py-libp2p}/<sha256>/
# holding venv/ (python3 -m venv + pip install --no-deps -r requirements.txt, once: a .installed
# marker records success and the directory is published by an atomic rename), and the program
# (peer.py, pubsub_role.py) in programs/<sha256 of them>/ beside a venv symlink, so edits take
# effect and checkouts with different programs never overwrite each other's; that is printed. A cached run does not invoke pip or python.
# PYTHON selects the interpreter (default python3; py-libp2p 0.8.1 needs >= 3.10).
# Everything except the final path goes to stderr. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/interop/py-libp2p"
python="${PYTHON:-python3}"

die() { echo "install_py_libp2p_peer: $*" >&2; exit 1; }

[ -f "$src/requirements.txt" ] || die "missing $src/requirements.txt"
[ -f "$src/peer.py" ] || die "missing $src/peer.py"

hash=$(sha256sum "$src/requirements.txt" | cut -d' ' -f1)
base="${AIOLIBP2P_PY_LIBP2P_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiolibp2p/py-libp2p}"
dir="$base/$hash"

if [ ! -f "$dir/.installed" ]; then
  command -v "$python" >/dev/null 2>&1 || die "$python not found on PATH"
  "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "py-libp2p 0.8.1 needs Python >= 3.10, found $("$python" --version 2>&1)"
  mkdir -p "$base"
  echo "install_py_libp2p_peer: installing py-libp2p peer into $dir" >&2
  tmp=$(mktemp -d "$base/.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # the venv is built under the temporary name and renamed with it: venv/bin/python (a symlink
  # plus pyvenv.cfg) works from any path; only the console scripts' shebangs keep the old path,
  # so use "$dir/venv/bin/python -m pip", never "$dir/venv/bin/pip"
  cp "$src/requirements.txt" "$tmp/"
  "$python" -m venv "$tmp/venv" >&2 || die "python -m venv failed"
  run_pip=("$tmp/venv/bin/python" -m pip install --no-deps --disable-pip-version-check --no-input
           --quiet -r "$tmp/requirements.txt")
  if command -v timeout >/dev/null 2>&1; then run_pip=(timeout 900 "${run_pip[@]}"); fi
  "${run_pip[@]}" >&2 || die "pip install failed (network? see above)"
  (cd / && "$tmp/venv/bin/python" -I -c \
     'import libp2p, trio, redis; assert libp2p.__version__ == "0.8.1", libp2p.__version__') >&2 \
    || die "py-libp2p does not import in the new venv"
  touch "$tmp/.installed"
  # publish atomically; if another run got there first, keep theirs
  if ! mv -T "$tmp" "$dir" 2>/dev/null; then
    [ -f "$dir/.installed" ] || { rm -rf "$dir"; mv -T "$tmp" "$dir"; }
  fi
  rm -rf "$tmp"
  trap - EXIT
fi

# the program files go into programs/<sha256 of them>/ with a venv symlink to ../../venv:
# worktrees sharing requirements.txt but holding different programs each get their own copy
# instead of overwriting each other's. Published by a rename; that directory is printed.
prog_hash=$(cd "$src" && for f in peer.py pubsub_role.py; do printf '%s\0' "$f"; sha256sum < "$f"; done \
            | sha256sum | cut -d' ' -f1)
prog="$dir/programs/$prog_hash"
if [ ! -d "$prog" ]; then
  mkdir -p "$dir/programs"
  ptmp=$(mktemp -d "$dir/programs/.tmp.XXXXXX") && chmod 755 "$ptmp"
  cp "$src/peer.py" "$src/pubsub_role.py" "$ptmp/"
  ln -s ../../venv "$ptmp/venv"
  mv -T "$ptmp" "$prog" 2>/dev/null || rm -rf "$ptmp"
fi

echo "$prog"
