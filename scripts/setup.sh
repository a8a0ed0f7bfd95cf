#!/usr/bin/env bash
# Make this checkout runnable on a fresh Debian/Ubuntu machine: tshark (apt, when
# missing), a virtualenv in .venv and the package with its test extras.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  # Refresh the package lists once if the install cannot find a package.
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || {
    as_root apt-get update -qq >/dev/null
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  }
}

python3 - <<'PY' || { echo "wsdoctor needs Python >= 3.11 (found $(python3 --version 2>&1))" >&2; exit 1; }
import sys; sys.exit(sys.version_info < (3, 11))
PY

if ! command -v tshark >/dev/null 2>&1; then
  echo "setup: installing tshark (apt)" >&2
  # Answer the 'non-root users may capture' question up front so apt never prompts.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | as_root debconf-set-selections
  apt_install tshark
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${pyver}-venv" || apt_install python3-venv
    python3 -m venv .venv
  fi
fi

# Reinstall only when the package metadata changed since the last install.
stamp=.venv/.wsdoctor-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing wsdoctor into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$stamp"
fi
