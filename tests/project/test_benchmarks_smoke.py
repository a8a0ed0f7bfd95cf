"""benchmarks/bench_speed.py still runs against the engine it measures (issue 15, item 5).

The benchmark imports the engine's tshark argv and drives the CLI, so a rename in either
would only show up when someone next needs the numbers. One round on a small real sample
capture keeps it honest: the table must hold tshark alone and analyze with their medians,
and each ratio must be the line's median over tshark's (recomputed here from the printed
walls, not taken from the script).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from conftest import REPO, SAMPLES

SCRIPT = REPO / "benchmarks" / "bench_speed.py"


def markdown_rows(stdout: str) -> dict[str, list[str]]:
    """The Markdown table's cells by line label (the second column)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 10 and cells[1] not in ("line", "---"):
            rows[cells[1]] = cells
    return rows


def test_one_round_on_a_sample_prints_medians_and_ratios() -> None:
    capture = SAMPLES / "clean-close" / "capture.pcap"
    argv = [sys.executable, str(SCRIPT), "--captures", str(capture), "--repeat", "1"]
    argv += ["--lines", "tshark,default", "--markdown"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = markdown_rows(done.stdout)
    assert set(rows) == {"tshark alone", "analyze (default)"}, done.stdout
    tshark, analyze = float(rows["tshark alone"][2]), float(rows["analyze (default)"][2])
    # The walls are printed to 0.01 s, so the ratio is only known within their rounding.
    low, high = (analyze - 0.005) / (tshark + 0.005), (analyze + 0.005) / (tshark - 0.005)
    assert low - 0.005 <= float(rows["analyze (default)"][4].rstrip("x")) <= high + 0.005
    assert float(rows["analyze (default)"][6]) > 0  # peak MiB of the process tree
    assert int(rows["analyze (default)"][9]) >= 1  # its tshark child was seen


def test_an_option_the_cli_lacks_is_a_row_note_not_a_crash() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from bench_speed import analyze_row
    finally:
        sys.path.remove(str(SCRIPT.parent))
    args = argparse.Namespace(python=sys.executable, help_text="Options:\n  --jobs N  ...")
    row = analyze_row("analyze --scheduler", REPO / "x.pcap", ["--scheduler", "tcp://h:1"], args)
    assert row.note == "analyze: option --scheduler not available in this build"
    assert analyze_row("analyze --jobs 1", REPO / "x.pcap", ["--jobs", "1"], args).note == ""
