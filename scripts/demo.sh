#!/usr/bin/env bash
# The main job on a shipped sample: installs what is missing, shows the WebSocket sessions
# of a capture, then diagnoses them: report.html (open it in a browser) plus the Markdown
# summary a support engineer pastes into the ticket.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
capture=${1:-sample_captures/idle-1011/capture.pcap}
.venv/bin/wsdoctor sessions "$capture"
echo
.venv/bin/wsdoctor analyze "$capture" --format html,md -o report
echo
cat report.md
echo
echo "open $(pwd)/report.html"
