#!/usr/bin/env bash
# The main job on a shipped sample: installs what is missing, shows the WebSocket sessions
# of a capture, then diagnoses them (JSON report written next to the terminal digest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
capture=${1:-sample_captures/idle-1011/capture.pcap}
report=${TMPDIR:-/tmp}/wsdoctor-report.json
.venv/bin/wsdoctor sessions "$capture"
echo
.venv/bin/wsdoctor analyze "$capture" -o "$report"
# A digest for the terminal; the report itself is the contract's JSON.
.venv/bin/python - "$report" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["findings"]:
    print(f"\n[{f['severity'].upper()}] {f['session']} {f['category']}: {f['title']}")
    print(f"  {f['summary']}")
    for e in f["evidence"]:
        print(f"    frame {e['frame']}  {e['time']}  {e['text']}")
PY
