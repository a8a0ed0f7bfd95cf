"""Markers and shading on a session's timeline: close frames, FIN and RST with their
code, the HTTP exchange of a session without frames, the silences the rules measured,
and an idle-timeout finding's server inactivity window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from analyzer.report.timeline_canvas import LANE, LEFT, PLOT, UP_TOP, WIRE, Canvas, dur, num

MAX_MARKERS = 2  # close frames, FINs and RSTs drawn per direction (first ones)


def draw_handshake(c: Canvas, s: dict[str, Any]) -> None:
    """The HTTP request and its answer, for a session that never carried frames."""
    if s.get("request_time") is not None:
        tip = f"{s['method']} {s['uri'] or ''} (frame #{s['request_frame']})"
        _marker(c, c.x(s["request_time"]), True, s["method"] or "request", "tl-http", tip)
    if s.get("response_time") is not None and s.get("status") is not None:
        tip = f"HTTP {s['status']} {s['reason'] or ''} (frame #{s['response_frame']})"
        _marker(c, c.x(s["response_time"]), False, str(s["status"]), "tl-http", tip)


def draw_closes(c: Canvas, frames: pl.DataFrame) -> None:
    """Close frames: a marker at the time, labelled with the code (first ones per side)."""
    closes = frames.filter(pl.col("opcode") == "close")
    for up in (True, False):
        mine = closes.filter(pl.col("from_client") == up)
        for r in mine.head(MAX_MARKERS).iter_rows(named=True):
            who = "client" if up else "server"
            code = r["close_code"] if r["close_code"] is not None else "(no code)"
            reason = f' "{r["close_reason"]}"' if r["close_reason"] else ""
            extra = f" ({mine.height} close frames from the {who})" if mine.height > 1 else ""
            at = f"at +{num(c.offset(r['time']))} s"  # a log's or HAR's close: no frame #
            at = at if r["frame"] is None else f"frame #{r['frame']} {at}"
            tip = f"{who} close {code}{reason}, {at}{extra}"
            _marker(c, c.x(r["time"]), up, f"close {code}", "tl-close", tip)


def draw_tcp_ends(c: Canvas, events: pl.DataFrame) -> None:
    """FIN and RST: a marker at the first of each kind per side."""
    ends = events.filter(pl.col("kind").is_in(["fin", "rst"])).sort("time")
    for up in (True, False):
        mine = ends.filter(pl.col("from_client") == up).unique("kind", keep="first")
        for r in mine.sort("time").head(MAX_MARKERS).iter_rows(named=True):
            who = "client" if up else "server"
            at = f"frame #{r['frame']} at +{num(c.offset(r['time']))} s"
            tip = f"TCP {r['kind'].upper()} from the {who}, {at}"
            if r["kind"] == "rst" and r["ttl"] is not None:
                tip += f" (TTL {r['ttl']})"
            _marker(c, c.x(r["time"]), up, r["kind"].upper(), f"tl-{r['kind']}", tip)


def _marker(c: Canvas, x: float, up: bool, label: str, cls: str, tip: str) -> None:
    """A vertical tick across the sender's lane with a label on its far edge."""
    y1, y2 = (UP_TOP, WIRE + 3) if up else (WIRE + 3, WIRE + 6 + LANE)
    c.add("line", {"x1": f"{x:.1f}", "y1": y1, "x2": f"{x:.1f}", "y2": y2, "class": cls}, tip)
    near_end = x > LEFT + PLOT * 0.8
    lx = x - 4 if near_end else x + 4
    ly = UP_TOP + 10 if up else WIRE + 6 + LANE - 4
    if cls in ("tl-fin", "tl-rst"):
        ly = WIRE - 3 if up else WIRE + 16
    c.text(lx, ly, label, f"tl-mk {cls}-t", "end" if near_end else "start")


def draw_gaps(c: Canvas, s: dict[str, Any], frames: pl.DataFrame) -> None:
    """The silences rules measure, shaded: the longest first, overlaps dropped."""
    drawn: list[tuple[bool | None, float, float]] = []
    for lane, a, z, label in _gap_spans(s, frames):
        if a is None or z is None:
            continue
        x0, x1 = c.x(a), c.x(z)
        if x1 - x0 < 3 or any(_overlaps(lane, x0, x1, d) for d in drawn):
            continue
        drawn.append((lane, x0, x1))
        _gap(c, lane, x0, x1, label)


def _gap_spans(s: dict[str, Any], frames: pl.DataFrame) -> list[tuple[Any, ...]]:
    """(lane, start, end, label): the silences before a close or teardown always, each
    side's longest data gap only when it is a noticeable share of the session."""
    spans: list[tuple[Any, ...]] = []
    noticeable = max(2.0, 0.05 * (s.get("duration_s") or 0.0))
    quiet = s.get("client_quiet_before_server_close_s")
    if quiet and s.get("close_server_time"):
        end = s["close_server_time"]
        spans.append((True, end - timedelta(seconds=quiet), end, f"client silent {dur(quiet)}"))
    idle = s.get("idle_before_end_s")
    if idle and idle >= 1 and s.get("last_payload_time") and s.get("tcp_end_time"):
        spans.append((None, s["last_payload_time"], s["tcp_end_time"], f"no traffic {dur(idle)}"))
    for side, up in (("client", True), ("server", False)):
        gap = s.get(f"max_gap_{side}_s")
        if gap and gap >= noticeable:
            a = _frame_time(frames, s.get(f"max_gap_{side}_from_frame"))
            z = _frame_time(frames, s.get(f"max_gap_{side}_to_frame"))
            spans.append((up, a, z, f"longest {side} gap {dur(gap)}"))
    return spans


def _frame_time(frames: pl.DataFrame, frame: int | None) -> datetime | None:
    if frame is None:
        return None
    hit = frames.filter(pl.col("frame") == frame)["time"]
    return hit[0] if len(hit) else None


def _overlaps(lane: bool | None, x0: float, x1: float, d: tuple[bool | None, float, float]) -> bool:
    same = lane is None or d[0] is None or lane == d[0]
    inter = min(x1, d[2]) - max(x0, d[1])
    return same and inter > 0.5 * min(x1 - x0, d[2] - d[1])


def _gap(c: Canvas, lane: bool | None, x0: float, x1: float, label: str) -> None:
    y, h = (UP_TOP, LANE) if lane else (WIRE + 6, LANE)
    if lane is None:
        y, h = UP_TOP, WIRE + 6 + LANE - UP_TOP
    attrs = {"x": f"{x0:.1f}", "y": y, "width": f"{x1 - x0:.1f}", "height": h, "class": "tl-gap"}
    c.add("rect", attrs, label)
    if x1 - x0 >= 7 * len(label):
        c.text((x0 + x1) / 2, y + LANE / 2 + 4, label, "tl-gapt", "middle")


def draw_window(c: Canvas, s: dict[str, Any], window_s: float) -> None:
    """The server's inactivity window, as a bracket ending where the server gave up."""
    end = s.get("close_server_time") or s.get("tcp_end_time")
    if end is None:
        return
    x1 = c.x(end)
    x0 = c.x(max(0.0, c.offset(end) - window_s))
    y = UP_TOP - 10
    tip = f"server inactivity window: {num(window_s)} s without client data, then close"
    c.add("path", {"d": f"M{x0:.1f},{y + 5} V{y} H{x1:.1f} V{y + 5}", "class": "tl-win"}, tip)
    label = f"server inactivity window {num(window_s)} s"
    anchor_x = (x0 + x1) / 2
    c.text(min(max(anchor_x, LEFT + 110), LEFT + PLOT - 110), y - 4, label, "tl-wint", "middle")
