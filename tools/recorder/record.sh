#!/usr/bin/env bash
# Re-record the sample captures from scratch: bash tools/recorder/record.sh [scenario...]
# (no scenario: all of them; --facts-only rewrites expected.yaml from the committed captures).
#
# Works on a fresh Debian/Ubuntu machine: needs root (tcpdump, network namespaces, raw
# sockets) and re-runs itself with sudo otherwise; installs the tools it needs with apt —
# tcpdump, tshark/dumpcap/editcap/capinfos, openssl, iproute2/iptables/procps (lossy
# namespaces), tcpreplay (tcprewrite), curl (not-websocket), nodejs/npm (Node `ws` client),
# nginx, haproxy, squid, tinyproxy, apache2 and caddy (proxy scenarios) — then the repository's venv via
# scripts/setup.sh, and runs `python -m tools.recorder record` with it (the repository root on
# PYTHONPATH, so it works from any folder). Node's `ws` comes from node/package-lock.json.
set -euo pipefail

if [[ $EUID -ne 0 ]]; then
  exec sudo -E bash "$0" "$@"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

need=()
want() { command -v "$1" >/dev/null || need+=("$2"); }
want tcpdump tcpdump
want openssl openssl
want tshark tshark
want editcap wireshark-common
want dumpcap wireshark-common
want ip iproute2
want iptables iptables
want sysctl procps
want tcprewrite tcpreplay
want curl curl
want node nodejs
want npm npm
want nginx nginx
want haproxy haproxy
want squid squid
want tinyproxy tinyproxy
want apache2 apache2
want caddy caddy
if ((${#need[@]})); then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "installing: ${need[*]}" >&2
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# Debian starts the proxies as system services on install; the recorder runs its own
# instances on 127.0.0.31/.41, which a system squid on *:3128 or tinyproxy on *:8888
# would block.
for service in nginx haproxy squid tinyproxy apache2 caddy; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/$service ]]; then
    "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
done

bash "$repo/scripts/setup.sh"
# The recorder's programs (emulator, client, proxies...) run as modules of tools.recorder,
# in child processes: they find the package through PYTHONPATH whatever the folder.
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$repo/.venv/bin/python" -m tools.recorder record "$@"
