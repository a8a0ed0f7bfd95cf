"""What each preference in tshark_argv.UNREAD_WORK_OFF saves, and that it changes nothing.

Runs the engine's first-pass argv on one capture with none of the preferences, each one
alone, and all of them (the argv as the engine builds it), in alternating rounds, under
`/usr/bin/time`: wall, tshark CPU (user+sys) and max RSS, medians over the rounds. The
output of every run is hashed as it streams, and the script says whether every
configuration printed exactly what the run without preferences printed. The numbers
beside UNREAD_WORK_OFF come from this script on benchmarks/out/large.pcap.

Usage: .venv/bin/python benchmarks/bench_tshark_prefs.py CAPTURE [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import tempfile

from analyzer.ingest.tshark import find_tshark
from analyzer.ingest.tshark_argv import UNREAD_WORK_OFF, fields_command


def with_only(argv: list[str], prefs: list[str]) -> list[str]:
    """`argv` with UNREAD_WORK_OFF's `-o` pairs replaced by `prefs`."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "-o" and argv[i + 1] in UNREAD_WORK_OFF:
            skip = True
        else:
            out.append(arg)
    at = out.index("-Y")
    return out[:at] + [a for pref in prefs for a in ("-o", pref)] + out[at:]


def measure(argv: list[str]) -> tuple[str, float, float, float]:
    """(sha256 of stdout, wall s, CPU s, max RSS MB) of one run."""
    with tempfile.NamedTemporaryFile("r") as times:
        timed = ["/usr/bin/time", "-o", times.name, "-f", "%e %U %S %M", *argv]
        proc = subprocess.Popen(timed, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        digest = hashlib.sha256()
        while chunk := proc.stdout.read(1 << 20):
            digest.update(chunk)
        proc.wait()
        wall, user, system, rss = times.read().split()
    return digest.hexdigest(), float(wall), float(user) + float(system), int(rss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("capture")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = fields_command(args.capture, None, find_tshark())
    configs = {"none": [], **{p.split(":")[0]: [p] for p in UNREAD_WORK_OFF}}
    configs["all"] = list(UNREAD_WORK_OFF)
    runs: dict[str, list[tuple[str, float, float, float]]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, prefs in configs.items():
            runs[name].append(measure(with_only(base, prefs)))
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.rounds} alternating runs")
    print(f"{'config':32} {'wall s':>7} {'CPU s':>7} {'RSS MB':>7}  output")
    reference = {r[0] for r in runs["none"]}
    for name, rows in runs.items():
        wall, cpu, rss = (statistics.median(r[i] for r in rows) for i in (1, 2, 3))
        same = "identical" if {r[0] for r in rows} == reference else "DIFFERS"
        print(f"{name:32} {wall:7.2f} {cpu:7.2f} {rss:7.0f}  {same}")


if __name__ == "__main__":
    main()
