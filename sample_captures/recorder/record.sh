#!/usr/bin/env bash
# Re-record the sample captures: bash sample_captures/recorder/record.sh [scenario...]
# Installs the tools via apt when missing (tcpdump; openssl; dumpcap/editcap/capinfos and
# tshark; iproute2, iptables and procps for the lossy namespaces; tcpreplay for tcprewrite;
# curl for the not-websocket download),
# then runs record.py with the repository's venv (.venv at the repo root, two levels up).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="$repo/.venv/bin/python"

need=()
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v openssl >/dev/null || need+=(openssl)
command -v editcap >/dev/null || need+=(wireshark-common)
command -v dumpcap >/dev/null || need+=(wireshark-common)
command -v tshark >/dev/null || need+=(tshark)
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v sysctl >/dev/null || need+=(procps)
command -v tcprewrite >/dev/null || need+=(tcpreplay)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "installing: ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

if [[ ! -x "$python" ]]; then
  echo "no venv at $repo/.venv (create it and install websockets: pip install -e '.[test]')" >&2
  exit 2
fi

exec "$python" "$here/record.py" "$@"
