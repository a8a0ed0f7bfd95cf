"""Frame bars and TCP-trouble ticks on a session's timeline, binned in polars.

Frames are binned (time -> pixel column -> counts per lane, kind and column), then
adjacent columns of the same lane, kind and height merge into one bar, and the bin width
doubles until the bars fit MAX_BARS. So a one-hour session of 500k frames draws as few
elements as a short one, and the SVG size is bounded whatever the capture. Data frames,
KeepAlives (text, and the binary misuse) and ping/pong are bars whose height grows with
the frame count.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import polars as pl

from analyzer.report.timeline_canvas import LANE, LEFT, PLOT, UP_TOP, WIRE, Canvas, num

LEVELS = 6  # bar heights: log-scaled frame counts quantised to this many steps
MAX_BARS = 160  # frame bars per session, after merging
MAX_TROUBLE = 40  # binned retransmission / lost-segment / zero-window ticks
BIN_PX = (2, 4, 8, 16, 32)  # bin widths tried, finest first
TROUBLE = ("retransmission", "lost_segment", "zero_window", "out_of_order")
KINDS = {"d": "data", "k": "KeepAlive (text)", "kb": "KeepAlive as binary", "c": "ping/pong"}


def _kind() -> pl.Expr:
    op, jt = pl.col("opcode"), pl.col("json_type")
    return (
        pl.when(op.is_in(["ping", "pong"]))
        .then(pl.lit("c"))
        .when((jt == "KeepAlive") & (op == "binary"))
        .then(pl.lit("kb"))
        .when(jt == "KeepAlive")
        .then(pl.lit("k"))
        .otherwise(pl.lit("d"))
    )


def _column(t0: datetime, span: float, nbins: int) -> pl.Expr:
    """A row's time -> its pixel column of `nbins` over `span` seconds from `t0`."""
    secs = (pl.col("time") - pl.lit(t0)).dt.total_microseconds() / 1e6
    return (secs / span * nbins).floor().clip(0, nbins - 1).cast(pl.Int32)


def _cells(frames: pl.DataFrame, t0: datetime, span: float, nbins: int) -> pl.DataFrame:
    """Frame time -> pixel column; counts, bytes and time range per lane, kind, column."""
    return (
        frames.filter(pl.col("opcode") != "close")
        .select(
            pl.col("from_client").alias("up"),
            _kind().alias("kind"),
            _column(t0, span, nbins).alias("bin"),
            "time",
            "payload_len",
        )
        .group_by("up", "kind", "bin")
        .agg(
            n=pl.len(),
            bytes=pl.col("payload_len").sum(),
            first=pl.col("time").min(),
            last=pl.col("time").max(),
        )
    )


def binned(frames: pl.DataFrame, t0: datetime, span: float, bin_px: int) -> pl.DataFrame:
    """Frame bars: one row per run of adjacent bins with the same lane, kind and height
    (heights are log-scaled counts, quantised to LEVELS steps so steady traffic merges)."""
    nbins = max(1, PLOT // bin_px)
    cells = _cells(frames, t0, span, nbins)
    top = max(int(cells["n"].max() or 1), 1)
    level = (pl.col("n").log1p() / math.log1p(top) * LEVELS).ceil().clip(1, LEVELS)
    lane = ("up", "kind")
    step = (pl.col("bin").diff().over(lane) != 1) | (pl.col("level").diff().over(lane) != 0)
    return (
        cells.with_columns(level=level)
        .sort("up", "kind", "bin")
        .with_columns(run=step.fill_null(True).cast(pl.Int32).cum_sum().over(lane))
        .group_by("up", "kind", "run")
        .agg(
            b0=pl.col("bin").min(),
            b1=pl.col("bin").max() + 1,
            n=pl.col("n").sum(),
            bytes=pl.col("bytes").sum(),
            first=pl.col("first").min(),
            last=pl.col("last").max(),
            level=pl.col("level").first(),
        )
        .with_columns(px=pl.lit(PLOT / nbins))
    )


def draw_bars(c: Canvas, frames: pl.DataFrame) -> None:
    """The frames as at most MAX_BARS bars, at the finest bin width that fits."""
    if frames.is_empty():
        return
    for bin_px in BIN_PX:
        bars = binned(frames, c.t0, c.span, bin_px)
        if bars.height <= MAX_BARS:
            break
    dropped = max(0, bars.height - MAX_BARS)
    # Tallest first: a smaller kind in the same slice is drawn in front, so both show.
    # Total orders (group_by gives rows in any order): the same input, the same SVG.
    order = ["up", "kind", "b0"]
    bars = (
        bars.sort(["n", *order], descending=[True, True, False, False])
        .head(MAX_BARS)
        .sort(["level", *order], descending=[True, True, False, False])
    )
    for b in bars.iter_rows(named=True):
        _bar(c, b)
    if dropped:
        c.text(LEFT + PLOT, UP_TOP - 4, f"{dropped} small bars omitted", "tl-sub", "end")


def _bar(c: Canvas, b: dict[str, Any]) -> None:
    h = max(4.0, LANE * b["level"] / LEVELS)
    y = UP_TOP + LANE - h if b["up"] else WIRE + 6
    x, w = LEFT + b["b0"] * b["px"], max(1.5, (b["b1"] - b["b0"]) * b["px"] - 0.4)
    a, z = c.offset(b["first"]), c.offset(b["last"])
    when = f"+{num(a)} s" if z - a < 0.05 else f"+{num(a)}–{num(z)} s"
    tip = (
        f"{'client → server' if b['up'] else 'server → client'} {when}: "
        f"{b['n']:,} {KINDS[b['kind']]} frame{'s' if b['n'] != 1 else ''}, {b['bytes']:,} bytes"
    )
    attrs = {"x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{w:.1f}", "height": f"{h:.1f}"}
    c.add("rect", {**attrs, "class": f"tl-{b['kind']}"}, tip)


def draw_trouble(c: Canvas, events: pl.DataFrame) -> None:
    """Retransmissions, lost segments, zero windows: binned ticks on the centre line."""
    bad = events.filter(pl.col("kind").is_in(TROUBLE))
    if bad.is_empty():
        return
    nbins = PLOT // 4
    cells = (
        bad.with_columns(bin=_column(c.t0, c.span, nbins))
        .group_by("bin", "kind")
        .agg(n=pl.len())
        .group_by("bin")
        .agg(what=pl.format("{} {}", pl.col("n"), pl.col("kind").str.replace_all("_", " ")))
        .sort("bin")
        .head(MAX_TROUBLE)
    )
    for r in cells.iter_rows(named=True):
        x = LEFT + r["bin"] * PLOT / nbins
        near = num((r["bin"] + 0.5) * c.span / nbins)
        tip = f"TCP trouble near +{near} s: {', '.join(sorted(r['what']))}"
        c.add("rect", {"x": f"{x:.1f}", "y": WIRE, "width": 3, "height": 6, "class": "tl-bad"}, tip)
