"""Log events on a session's timeline: where the application's log says what it saw.

Drawn as small diamonds on the wire line at the event's time on the capture clock (the
log's estimated offset removed). Events that fall in one column share a diamond whose
tooltip lists them, most telling first. Columns start one pixel wide and double until at
most MAX_MARKS diamonds remain, so a session with any number of log events draws a
bounded SVG in which every event is counted in some diamond.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from analyzer.vocab import LOG_KIND, marked

MAX_MARKS = 40
MAX_LINES = 4  # tooltip lines per diamond
SIZE = 4.5
# What the log adds to the capture comes first; echoes of traffic already drawn last
# (each kind's `mark`, analyzer/vocab.py).
TELLING = marked("telling")
ROUTINE = marked("routine")


def log_marks(canvas: Any, events: pl.DataFrame, wire_y: float) -> None:
    """Add one diamond per pixel column that holds log events to `canvas`."""
    if events.is_empty():
        return
    rank = pl.when(pl.col("kind").is_in(TELLING)).then(0)
    rank = rank.when(pl.col("kind").is_in(ROUTINE)).then(2).otherwise(1)
    rows = (
        events.with_columns(at=pl.coalesce("aligned_time", "time"), rank=rank)
        .filter(pl.col("at").is_not_null())
        .sort("rank", "at", "line")
    )
    placed = [(canvas.x(r["at"]), r) for r in rows.iter_rows(named=True)]
    for x, group in _columns(placed).items():
        _diamond(canvas, x, wire_y, group)


def _columns(placed: list[tuple[float, dict[str, Any]]]) -> dict[float, list[dict[str, Any]]]:
    """Events grouped by column (keeping their order), the column width doubled until at
    most MAX_MARKS columns hold events; each diamond sits at its events' mean x."""
    width = 1.0
    while True:
        columns: dict[int, list[tuple[float, dict[str, Any]]]] = {}
        for x, r in placed:
            columns.setdefault(round(x / width), []).append((x, r))
        if len(columns) <= MAX_MARKS:
            break
        width *= 2
    return {sum(x for x, _ in g) / len(g): [r for _, r in g] for g in columns.values()}


def _diamond(canvas: Any, x: float, y: float, group: list[dict[str, Any]]) -> None:
    points = f"{x:.1f},{y - SIZE} {x + SIZE:.1f},{y} {x:.1f},{y + SIZE} {x - SIZE:.1f},{y}"
    cls = "tl-log" if group[0]["rank"] < 2 else "tl-log tl-log-routine"
    tips = [_tip(r, canvas) for r in group[:MAX_LINES]]
    if len(group) > MAX_LINES:
        tips.append(f"… {len(group) - MAX_LINES} more log event(s) here")
    canvas.add("polygon", {"points": points, "class": cls}, "\n".join(tips))


def _tip(r: dict[str, Any], canvas: Any) -> str:
    kind = LOG_KIND.get(r["kind"])
    what = kind.label if kind else r["kind"].replace("_", " ")
    if r.get("close_code") is not None:
        what += f" {r['close_code']}"
    if r.get("close_reason"):
        what += f' "{r["close_reason"]}"'
    if r.get("status") is not None:
        what += f" (HTTP {r['status']})"
    where = f"{Path(r['input']).name}:{r['line']}"
    return f"log {where} at +{canvas.offset(r['at']):.3f} s: {what}"
