#!/usr/bin/env bash
# The fuzz campaign: mutants of real captures (pcap, pcapng), logs, HAR files and rule packs
# run through the real CLI for N minutes (split across the kinds; tests/fuzz/campaign.py),
# checking exit codes, reports, time, memory, secrets and the HTML. Every failure is saved
# as a reproducer under fuzz-findings/<kind>-<hash>/ (input + cmd.sh); the summary at the
# end gives the cases run per kind and the failures saved. Exit 1 if anything failed.
#
#   scripts/fuzz.sh --minutes 30              # the full campaign
#   scripts/fuzz.sh --minutes 5 --kinds log,har
#   WSDOCTOR_FUZZ_ENGINE=/path/to/checkout scripts/fuzz.sh --minutes 5   # fuzz another tree
#
# Environment: WSDOCTOR_FUZZ_TIMEOUT (s per command, 60), WSDOCTOR_FUZZ_AS_MB (address-space
# limit, 2048), WSDOCTOR_FUZZ_SHRINK_S (shrinking time per failure, 90),
# WSDOCTOR_FUZZ_FINDINGS (output folder, fuzz-findings/).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=5
kinds=pcap,pcapng,log,har,rules
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --minutes=*) minutes="${1#*=}"; shift ;;
    --kinds) kinds="$2"; shift 2 ;;
    --kinds=*) kinds="${1#*=}"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1 (--minutes N, --kinds a,b)" >&2; exit 2 ;;
  esac
done

[ -x .venv/bin/python ] || bash scripts/setup.sh
findings="${WSDOCTOR_FUZZ_FINDINGS:-$PWD/fuzz-findings}"
mkdir -p "$findings"
rm -f "$findings/campaign-stats.json"

ids=()
for k in $(echo "$kinds" | tr ',' ' '); do ids+=("tests/hostile/test_fuzz.py::test_fuzz[$k]"); done

echo "fuzz: $minutes minute(s) over $kinds; findings in $findings" >&2
set +e
packs=0
if [[ ",$kinds," == *",rules,"* ]]; then
  # In process, outside the time budget: field-by-field mutants of every rule, log pack
  # and a config file through the loaders (tests/hostile/test_fuzz_packs.py).
  WSDOCTOR_FUZZ_PROFILE=campaign .venv/bin/python -m pytest -q -p no:cacheprovider \
    --no-header -rN --tb=short tests/hostile/test_fuzz_packs.py
  packs=$?
  echo "fuzz packs: ${WSDOCTOR_FUZZ_PACK_EXAMPLES:-3000} in-process mutants of rule packs," \
    "log packs and config: $([ $packs = 0 ] && echo ok || echo FAILED)" >&2
fi
WSDOCTOR_FUZZ_PROFILE=campaign WSDOCTOR_FUZZ_MINUTES="$minutes" WSDOCTOR_FUZZ_KINDS="$kinds" \
  WSDOCTOR_FUZZ_FINDINGS="$findings" \
  .venv/bin/python -m pytest -q -p no:cacheprovider --no-header -rN --tb=line "${ids[@]}"
set -e
PYTHONPATH=tests .venv/bin/python -m fuzz.campaign "$findings/campaign-stats.json"
[ "$packs" = 0 ] || exit 1
