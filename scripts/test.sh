#!/usr/bin/env bash
# The full check: setup, lint, then the test suite against real tshark (and, for the HTML
# report tests, a real headless Chromium: Debian's `chromium`, installed here when missing
# rather than in setup.sh, because only the tests need a browser, not the demo). The suite
# also builds the sdist and wheel, installs the wheel into a clean venv and runs it from
# another folder (tests/project/test_wheel.py), as a user who installs with pip or pipx would.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
install_chromium() {
  command -v chromium >/dev/null 2>&1 && return
  echo "test: installing chromium (apt)" >&2
  # As setup.sh: refresh the package lists once if the install cannot find the package.
  # `env` so the non-interactive frontend survives sudo's environment reset.
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -qq)
  as_root "${apt[@]}" install --no-install-recommends chromium >/dev/null 2>&1 || {
    as_root "${apt[@]}" update >/dev/null
    as_root "${apt[@]}" install --no-install-recommends chromium >/dev/null
  }
}
install_chromium

.venv/bin/ruff check analyzer tests benchmarks sample_captures tools scripts
.venv/bin/ruff format --check analyzer tests benchmarks sample_captures tools scripts
.venv/bin/python -m pytest -q "$@"
