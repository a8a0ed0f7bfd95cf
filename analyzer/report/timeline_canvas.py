"""A session timeline's drawing surface: its geometry, time -> x, and the frame around
the plot (the two lanes, the wire between them and the time axis).

Two lanes share one time axis (seconds from the session start): client → server above
the centre line, server → client below. Every element carries a <title> tooltip, and
`Canvas` escapes every text and attribute it writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

import polars as pl

WIDTH, LEFT, RIGHT = 960, 112, 24
PLOT = WIDTH - LEFT - RIGHT
UP_TOP, WIRE, LANE = 34, 88, 46  # client->server lane above the wire, server->client below
AXIS = WIRE + 6 + LANE + 18
HEIGHT = AXIS + 22


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def dur(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


@dataclass
class Canvas:
    """Time -> x mapping of one session and the SVG elements drawn so far."""

    t0: datetime
    span: float  # seconds shown
    parts: list[str] = field(default_factory=list)

    def offset(self, t: datetime) -> float:
        return (t - self.t0).total_seconds()

    def x(self, t: datetime | float) -> float:
        sec = t if isinstance(t, float | int) else self.offset(t)
        return LEFT + max(0.0, min(1.0, sec / self.span)) * PLOT

    def add(self, tag: str, attrs: dict[str, object], tip: str | None = None) -> None:
        attr = " ".join(f'{k}="{esc(v)}"' for k, v in attrs.items())
        if tip is None:
            self.parts.append(f"<{tag} {attr}/>")
        else:
            self.parts.append(f"<{tag} {attr}><title>{esc(tip)}</title></{tag}>")

    def text(self, x: float, y: float, label: str, cls: str, anchor: str = "start") -> None:
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">'
            f"{esc(label)}</text>"
        )


def canvas_for(
    session: dict[str, Any], frames: pl.DataFrame, events: pl.DataFrame
) -> Canvas | None:
    """Time range: the earliest to the last thing seen (start, end, frame or TCP event).

    None when nothing carries a time: a log line without a usable timestamp gives a
    session with no start, and an axis drawn anyway would invent when it happened."""
    starts = _times(session["start"], frames["time"].min(), events["time"].min())
    ends = _times(session["end"], session.get("response_time"), frames["time"].max())
    ends += _times(events["time"].max())
    if not starts + ends:
        return None
    t0 = min(starts or ends)
    t1 = max([*ends, t0])
    return Canvas(t0, max((t1 - t0).total_seconds(), 1e-3))


def _times(*values: Any) -> list[datetime]:
    return [v for v in values if isinstance(v, datetime)]


def draw_lanes(c: Canvas, s: dict[str, Any]) -> None:
    """The two lanes, labelled with their direction and endpoint, and the wire between."""
    for y, who, label in (
        (UP_TOP, "client", "client → server"),
        (WIRE + 6, "server", "server → client"),
    ):
        c.add("rect", {"x": LEFT, "y": y, "width": PLOT, "height": LANE, "class": "tl-lane"})
        c.text(LEFT - 8, y + LANE / 2, label, "tl-lab", "end")
        c.text(LEFT - 8, y + LANE / 2 + 13, _tail(s[who]), "tl-sub", "end")
    wire = {"x1": LEFT, "y1": WIRE + 3, "x2": LEFT + PLOT, "y2": WIRE + 3}
    c.add("line", {**wire, "class": "tl-wire"})


def _tail(endpoint: str | None, limit: int = 19) -> str:
    """An endpoint fitted to the margin: a long IPv6 address keeps its end and port."""
    text = endpoint or ""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def draw_grid(c: Canvas) -> None:
    """Axis with 'nice' ticks (1-2-5 steps) from the session start: seconds, or
    milliseconds for a sub-second session (a refused upgrade)."""
    scale, unit = (1000.0, "ms") if c.span < 1 else (1.0, "s")
    raw = c.span * scale / 8
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    c.add("line", {"x1": LEFT, "y1": AXIS, "x2": LEFT + PLOT, "y2": AXIS, "class": "tl-axis"})
    n = 0
    while n * step <= c.span * scale * 1.0001 and n <= 12:
        x = c.x(n * step / scale)
        grid = {"x1": f"{x:.1f}", "y1": UP_TOP, "x2": f"{x:.1f}", "y2": AXIS + 4}
        c.add("line", {**grid, "class": "tl-grid"})
        c.text(x, AXIS + 16, _tick(n * step, step), "tl-tick", "middle")
        n += 1
    c.text(LEFT - 18, AXIS + 16, unit, "tl-sub", "end")


def _tick(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{digits}f}"
