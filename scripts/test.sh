#!/usr/bin/env bash
# The full check: setup, lint, then the test suite against real tshark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check analyzer tests benchmarks sample_captures
.venv/bin/ruff format --check analyzer tests benchmarks sample_captures
.venv/bin/python -m pytest -q "$@"
