#!/usr/bin/env bash
# Make the Node client runnable: node and npm (Debian packages) and the pinned `ws` from
# package-lock.json (npm ci). The recorder runs this before every Node scenario and waits for
# the "node deps ready" line; node_modules/ is never committed (see .gitignore).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing: nodejs npm" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
fi

cd "$here"
pinned="$(node -p "require('./package-lock.json').packages['node_modules/ws'].version")"
installed="$(node -p "try { require('./node_modules/ws/package.json').version } catch { '' }")"
if [[ "$installed" != "$pinned" ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
echo "node deps ready: node $(node --version), ws $(node -p "require('./node_modules/ws/package.json').version")"
