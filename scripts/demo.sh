#!/usr/bin/env bash
# The main job on a shipped sample: installs what is missing, then shows the WebSocket
# sessions of a capture and the frame timeline of the one that died.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
capture=${1:-sample_captures/idle-1011/capture.pcap}
.venv/bin/wsdoctor sessions "$capture"
echo
.venv/bin/wsdoctor frames "$capture"
