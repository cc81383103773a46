#!/usr/bin/env bash
# Build the page into dist/ (index.html + app.js) from the pinned package-lock.json:
#   examples/browser-chat/build.sh
# then serve dist/ over HTTP and open index.html?peer=<a Python node's /ws multiaddr>.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v npm >/dev/null 2>&1 || { echo "build.sh: npm not found on PATH" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error >&2
rm -rf dist && mkdir -p dist
npm run --silent build >&2
cp index.html dist/
echo "$(pwd)/dist"
