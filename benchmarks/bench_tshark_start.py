"""How soon after `wsdoctor analyze` starts does its tshark start? (issue 15: start tshark
first). The console script (`python -m analyzer`, analyzer/launch.py) starts the guessed
tshark before importing the engine; `analyzer.cli.main` called directly is the old order,
the engine imported first. Both run alternately; a tshark child is looked for every 2 ms.

    .venv/bin/python benchmarks/bench_tshark_start.py [CAPTURE] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_captures" / "idle-1011" / "capture.pcap"
POLL_S = 0.002


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
    except OSError:  # the process is gone
        pass
    return found


def _is_tshark(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip() == "tshark"
    except OSError:
        return False


def run_once(argv: list[str]) -> tuple[float | None, float]:
    """(seconds until a tshark child was seen, seconds until the run ended)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO)
    seen = None
    while proc.poll() is None:
        if seen is None and any(_is_tshark(c) for c in _children(proc.pid)):
            seen = time.perf_counter() - start
        time.sleep(POLL_S)
    return seen, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", nargs="?", default=str(SAMPLE))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    analyze = ["analyze", args.capture, "-j", "1", "--format", "json", "-o", "/dev/null", "-q"]
    lines = {
        "console script (tshark first)": [sys.executable, "-m", "analyzer", *analyze],
        "engine imported first": [
            sys.executable, "-c", "from analyzer.cli import main; main()", *analyze,
        ],
    }  # fmt: skip
    runs: dict[str, list[tuple[float | None, float]]] = {name: [] for name in lines}
    for _ in range(args.repeat):
        for name, argv in lines.items():
            runs[name].append(run_once(argv))
    print(f"{args.capture}: medians of {args.repeat} alternating runs")
    for name, got in runs.items():
        starts = [s for s, _ in got if s is not None]
        start = f"{statistics.median(starts):.3f} s" if starts else "never seen"
        print(f"  {name:32} tshark at {start}, run {statistics.median(w for _, w in got):.2f} s")


if __name__ == "__main__":
    main()
