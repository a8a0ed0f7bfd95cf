#!/usr/bin/env bash
# Re-record the sample captures: bash sample_captures/recorder/record.sh [scenario...]
# Installs tcpdump/openssl/editcap via apt when missing, then runs record.py with the
# repository's venv (.venv at the repo root, two levels above this script).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="$repo/.venv/bin/python"

need=()
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v openssl >/dev/null || need+=(openssl)
command -v editcap >/dev/null || need+=(wireshark-common)
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

if [[ ! -x "$python" ]]; then
  echo "no venv at $repo/.venv (create it and install websockets: pip install -e '.[test]')" >&2
  exit 2
fi

exec "$python" "$here/record.py" "$@"
