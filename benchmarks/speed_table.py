"""bench_speed.py's result table: medians, ratios to tshark alone and the bars, side by side.

One set of cells per line feeds both renderings (a fixed-width table for the terminal,
Markdown for benchmarks/README.md), so the two can never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_engine import SAMPLE_INTERVAL_S, Row

COLUMNS = ("line", "wall s", "runs s", "x tshark", "bar", "peak MiB", "x tshark", "bar", "tsharks")
WIDTHS = (30, 7, 20, 8, 17, 8, 8, 17, 7)


@dataclass(frozen=True)
class Bar:
    """An upper bound on a ratio to tshark alone; `cores` when it only holds for that many."""

    max_ratio: float
    cores: int | None = None

    def verdict(self, ratio: float | None) -> str:
        text = f"<= {self.max_ratio:g}x "
        if ratio is None:
            return text + "n/a"
        text += "met" if ratio <= self.max_ratio else "MISSED"
        if self.cores and self.cores != os.cpu_count():
            text += f" ({self.cores}-core bar)"
        return text


@dataclass
class CaptureResult:
    """One capture's measured lines, the load average around them and the code measured."""

    name: str
    path: Path
    packets: int | None
    load: tuple[float, float]  # 1-minute load average before and after the runs
    code: str  # the commit and the engine files' fingerprint (bench_speed.revision)
    rows: dict[str, Row]

    def heading(self) -> str:
        size = self.path.stat().st_size / 1e6
        packets = f"{self.packets:,} packets" if self.packets else "? packets"
        before, after = self.load
        return (
            f"{self.name} ({size:,.0f} MB, {packets}; load {before:.2f} -> {after:.2f}; "
            f"{self.code})"
        )


def wall(row: Row | None) -> float | None:
    if row is None or not (row.ok or row.wall_override is not None):
        return None
    return row.wall


def peak_mib(row: Row | None) -> float | None:
    if row is None or not row.ok or row.wall_override is not None:
        return None
    return row.median("tree_kib") / 1024


def ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def cells(result: CaptureResult, key: str, bars: dict[tuple[str, str, str], Bar]) -> list[str]:
    """The line's label, then wall and memory each with ratio and bar; or why it has none."""
    row = result.rows[key]
    base = result.rows.get("tshark")
    if wall(row) is None:
        return [row.label, "n/a", row.note or "not run", "", "", "", "", "", ""]
    out = [row.label, fmt(wall(row), ".2f")]
    out.append(" ".join(f"{run.wall_s:.2f}" for run in row.runs) or "(computed)")
    for kind, value, den in (
        ("wall", wall(row), wall(base)),
        ("memory", peak_mib(row), peak_mib(base)),
    ):
        r = ratio(value, den)
        bar = bars.get((result.name, key, kind))
        if kind == "memory":
            out.append(fmt(value, ".0f"))
        out += [fmt(r, ".2f", "x"), bar.verdict(r) if bar else ""]
    most = max((run.tsharks_at_once for run in row.runs), default=0)
    return [*out, str(most) if row.runs else "-"]


def aligned(line: Sequence[str]) -> str:
    return "  ".join(f"{c:<{w}}" for c, w in zip(line, WIDTHS, strict=True)).rstrip()


def print_text(
    results: list[CaptureResult], bars: dict[tuple[str, str, str], Bar], repeats: int
) -> None:
    print(f"\nmedian of {repeats} round-robin run(s) per line; cpus: {os.cpu_count()}")
    for result in results:
        print(f"\n{result.heading()}")
        print(aligned(COLUMNS))
        for key in result.rows:
            line = cells(result, key, bars)
            if line[1] == "n/a":
                print(f"{line[0]:<{WIDTHS[0]}}  n/a      {line[2]}")
            else:
                print(aligned(line))


def print_markdown(results: list[CaptureResult], bars: dict[tuple[str, str, str], Bar]) -> None:
    """The same cells as a Markdown table, capture and load in the first column."""
    header = ("capture", "line", "wall s", "runs s", "× tshark", "bar", "peak MiB", "× tshark")
    print("\n| " + " | ".join((*header, "bar", "tsharks")) + " |")
    print("|" + "---|" * (len(header) + 2))
    for result in results:
        for n, key in enumerate(result.rows):
            first = result.heading() if n == 0 else ""
            print("| " + " | ".join([first, *cells(result, key, bars)]) + " |")


def print_legend(repeats: int, pyshark_packets: int) -> None:
    ms = f"{SAMPLE_INTERVAL_S * 1000:.0f} ms"
    print(
        f"""
what is measured (each line a subprocess run {repeats}x per capture, round-robin):
  tshark alone   analyzer.ingest.tshark_argv.fields_command(CAPTURE), the engine's own
                 argv, stdout to /dev/null.
  analyze ...    python -m analyzer analyze CAPTURE --format json -o /dev/null -q
                 [--jobs 1 | nothing | --scheduler tcp://127.0.0.1:P].
  --scheduler    a real `dask scheduler` and two `dask worker --nworkers 1 --nthreads 1`
                 on 127.0.0.1, started before the first capture; its peak memory sums
                 the scheduler's and workers' trees with analyze's, so it includes the
                 idle cluster's footprint printed when the cluster started.
  pyshark        FileCapture(keep_packets=False) over the first {pyshark_packets} packets,
                 extrapolated to the whole capture (computed, not run; no memory).
  wall s         spawn to reap, median of the runs listed under `runs s`.
  peak MiB       max over {ms} samples of the summed VmRSS of the process and all its
                 descendants (wsdoctor + its tshark/capinfos children), median of runs.
  x tshark       the line's median divided by tshark alone's, for wall and for memory.
  tsharks        the most tshark processes seen alive in one sample (any run): more than
                 one means the capture was dissected in shards.
  load           1-minute load average before and after the capture's runs; above the
                 cpu count the absolute times are inflated (ratios hold up better)."""
    )
