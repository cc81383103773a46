#!/usr/bin/env bash
# The test command: install the project (Cython build included) with its test and docs extras
# into .venv, type-check the package and the examples, build the docs site (warnings fail it),
# and run the whole suite twice: with the compiled twins, and again with LIBP2P_NO_EXTENSIONS=1.
# Fails if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# -v lets setup.py's "built the Cython extension" / "installed as pure Python" line through.
log=$(mktemp)
if ! "$VENV/bin/python" -m pip install -v -e ".[test,bench,docs]" >"$log" 2>&1; then
  tail -n 50 "$log"; rm -f "$log"; exit 1
fi
grep -E '^ *aiolibp2p:' "$log" | sed 's/^ *//' || true
rm -f "$log"
"$VENV/bin/python" -c 'import libp2p; print("aiolibp2p implementation in use:", libp2p.IMPLEMENTATION)'

echo "== mypy"
"$VENV/bin/python" -m mypy

echo "== docs (mkdocs build --strict: a warning fails the build)"
site=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true "$VENV/bin/mkdocs" build --strict --quiet -d "$site"
rm -rf "$site"

status=0
echo "== tests with the compiled twins"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@" || status=1
echo "== tests with LIBP2P_NO_EXTENSIONS=1 (pure Python)"
# twin_pinned tests run only programs that pick their twin themselves: this pass would repeat them.
LIBP2P_NO_EXTENSIONS=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not twin_pinned" "$@" || status=1
exit $status
