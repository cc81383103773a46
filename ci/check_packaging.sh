#!/usr/bin/env bash
# Packaging as users meet it (issue 17): `python -m build` makes an sdist and, from it, a wheel;
#  1. the wheel installs in a clean venv with no C compiler (CC=false) and runs the compiled twins;
#  2. the sdist installed with no C compiler falls back to pure Python, and `libp2p --version` says so;
#  3. the [uvloop] extra installs uvloop.
# Usage: bash ci/check_packaging.sh [PYTHON]   (default python3). Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-${PYTHON:-python3}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check_packaging: $*" >&2; exit 1; }
# The compiled build may not fall back silently here (.ci/run sets this), except where we ask for it.
unset LIBP2P_NO_EXTENSIONS

"$PYTHON" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --disable-pip-version-check build
echo "== python -m build (sdist, then a wheel built from the sdist)"
"$work/tools/bin/python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; fail "build failed"; }
grep -E '^ *aiolibp2p:' "$work/build.log" | sed 's/^ */  /' || true
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
echo "  $(basename "$wheel") $(basename "$sdist")"

echo "== 1. the wheel in a clean venv without a compiler"
"$PYTHON" -m venv "$work/from-wheel"
CC=false CXX=false "$work/from-wheel/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[uvloop]"
impl=$(cd "$work" && "$work/from-wheel/bin/python" -c 'import libp2p; print(libp2p.IMPLEMENTATION)')
[ "$impl" = cython ] || fail "the wheel runs the $impl twins, not the compiled ones"
(cd "$work" && "$work/from-wheel/bin/libp2p" --version 2>"$work/version.err")
[ ! -s "$work/version.err" ] || fail "libp2p --version complained: $(cat "$work/version.err")"
echo "  IMPLEMENTATION=$impl"
echo "== 3. the [uvloop] extra"
(cd "$work" && "$work/from-wheel/bin/python" -c 'import uvloop') || fail "aiolibp2p[uvloop] did not install uvloop"
echo "  uvloop installed"

echo "== 2. the sdist without a compiler"
"$PYTHON" -m venv "$work/from-sdist"
env -u LIBP2P_REQUIRE_EXTENSIONS CC=false CXX=false \
  "$work/from-sdist/bin/python" -m pip install --quiet --disable-pip-version-check "$sdist"
impl=$(cd "$work" && "$work/from-sdist/bin/python" -c 'import libp2p; print(libp2p.IMPLEMENTATION)')
[ "$impl" = python ] || fail "the sdist built without a compiler runs $impl"
notice=$(cd "$work" && "$work/from-sdist/bin/libp2p" --version 2>&1 >/dev/null)
case "$notice" in *"without the compiled extension"*) ;; *) fail "libp2p --version did not say it runs pure Python: $notice" ;; esac
echo "  IMPLEMENTATION=$impl; libp2p --version says: $notice"
(cd "$work" && "$work/from-sdist/bin/python" -c '
import asyncio, libp2p
async def main():
    async with libp2p.new_host(listen_addrs="/ip4/127.0.0.1/tcp/0") as a, libp2p.new_host() as b:
        assert await b.ping(a.full_addrs()[0]) > 0
asyncio.run(main())') || fail "the pure-Python install cannot ping"
echo "packaging checks passed"
