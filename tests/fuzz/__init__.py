"""The fuzz campaign: structure-aware mutators of real inputs and the oracle that checks
wsdoctor's promises on each mutant.

- `seeds`: the real files mutated (sample captures, logs, HARs, rule packs, ../shared traces).
- `captures`: pcap / pcapng models and their mutations (headers, record and block lengths,
  link types, snaplen, timestamps, WebSocket frame headers in TCP payloads, gzip).
- `texts`: logs, HAR files and rule packs.
- `oracle`: runs the real CLI in a subprocess under a time and address-space limit, checks
  the exit code contract, the reports, secrets and the HTML, and writes reproducers to
  `fuzz-findings/`.
- `campaign`: the long-running driver behind `scripts/fuzz.sh --minutes N`.

`tests/hostile/test_fuzz.py` runs a small deterministic budget of the same properties in CI.
"""
