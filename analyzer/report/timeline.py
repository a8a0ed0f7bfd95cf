"""One session's timeline as inline SVG: what each side sent, and when it went quiet.

Two lanes share one time axis (seconds from the session start): client → server above
the centre line, server → client below. Data frames, KeepAlives (text, and the binary
misuse), and ping/pong are bars whose height grows with the frame count; close frames,
FIN and RST are markers with their code; the silences the rules measured are shaded
with their duration; an idle-timeout finding adds the server's inactivity window.

Frames are binned in polars (time -> pixel column -> counts per lane, kind and column),
then adjacent columns of the same lane, kind and height merge into one bar, and the bin
width doubles until the bars fit MAX_BARS. So a one-hour session of 500k frames draws
as few elements as a short one, and the SVG size is bounded whatever the capture.
No JavaScript: every element carries a <title> tooltip. Text from the capture (close
reasons) is escaped here, since this function returns markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any

import polars as pl

from analyzer.report.timeline_logs import log_marks

WIDTH, LEFT, RIGHT = 960, 112, 24
PLOT = WIDTH - LEFT - RIGHT
UP_TOP, WIRE, LANE = 34, 88, 46  # client->server lane above the wire, server->client below
AXIS = WIRE + 6 + LANE + 18
HEIGHT = AXIS + 22
LEVELS = 6  # bar heights: log-scaled frame counts quantised to this many steps
MAX_BARS = 160  # frame bars per session, after merging
MAX_TROUBLE = 40  # binned retransmission / lost-segment / zero-window ticks
MAX_MARKERS = 2  # close frames, FINs and RSTs drawn per direction (first ones)
BIN_PX = (2, 4, 8, 16, 32)  # bin widths tried, finest first
TROUBLE = ("retransmission", "lost_segment", "zero_window", "out_of_order")
KINDS = {"d": "data", "k": "KeepAlive (text)", "kb": "KeepAlive as binary", "c": "ping/pong"}
DEFAULT_WINDOW_S = 10.0  # Deepgram's inactivity window (NET-0001) when no param says


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _empty_note(session: dict[str, Any]) -> str:
    """Why no frame is drawn: none seen, or none visible to this source."""
    if session.get("kind") == "encrypted":
        return "TLS without keys: frames not visible"
    if session.get("frames_client") is None:  # a HAR without messages, a log: unknown
        return "messages not recorded in this " + (
            "HAR" if session.get("source") == "har" else "log"
        )
    return "no WebSocket frames"


def _dur(seconds: float) -> str:
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
        attr = " ".join(f'{k}="{_e(v)}"' for k, v in attrs.items())
        if tip is None:
            self.parts.append(f"<{tag} {attr}/>")
        else:
            self.parts.append(f"<{tag} {attr}><title>{_e(tip)}</title></{tag}>")

    def text(self, x: float, y: float, label: str, cls: str, anchor: str = "start") -> None:
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{_e(label)}</text>'
        )


def svg(
    session: dict[str, Any],
    frames: pl.DataFrame,
    tcp_events: pl.DataFrame,
    findings: list[dict[str, Any]],
    window_s: float | None = None,
    log_events: pl.DataFrame | None = None,
) -> str:
    """The session's timeline; `frames`/`tcp_events`/`log_events` are that session's rows."""
    canvas = _canvas(session, frames, tcp_events)
    if canvas is None:
        return _untimed(session)
    _frame_lanes(canvas, session)
    _grid(canvas)
    _gaps(canvas, session, frames)
    if any(f["category"] == "idle-timeout" for f in findings):
        _window(canvas, session, window_s or DEFAULT_WINDOW_S)
    _bars(canvas, frames)
    _trouble(canvas, tcp_events)
    _closes(canvas, frames)
    _tcp_markers(canvas, tcp_events)
    if log_events is not None:
        log_marks(canvas, log_events, WIRE + 3)
    if frames.is_empty():
        _handshake(canvas, session)
        canvas.text(LEFT + PLOT / 2, WIRE - 8, _empty_note(session), "tl-note", "middle")
    label = f"Timeline of session {session['id']}: {_dur(canvas.span)}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="timeline" role="img" aria-label="{_e(label)}">' + "".join(canvas.parts) + "</svg>"
    )


def _canvas(session: dict[str, Any], frames: pl.DataFrame, events: pl.DataFrame) -> Canvas | None:
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


def _untimed(session: dict[str, Any]) -> str:
    """A one-line panel instead of a timeline: the session's time is unknown."""
    note = "Time unknown: the " + ("HAR" if session.get("source") == "har" else "log")
    note += " records this session without a usable timestamp, so no timeline is drawn."
    label = f"Timeline of session {session['id']}: time unknown"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 40" '
        f'class="timeline" role="img" aria-label="{_e(label)}">'
        f'<text x="{WIDTH / 2:.1f}" y="24" class="tl-note" text-anchor="middle">{_e(note)}'
        "</text></svg>"
    )


def _frame_lanes(c: Canvas, s: dict[str, Any]) -> None:
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


def _grid(c: Canvas) -> None:
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


def _handshake(c: Canvas, s: dict[str, Any]) -> None:
    """The HTTP request and its answer, for a session that never carried frames."""
    if s.get("request_time") is not None:
        tip = f"{s['method']} {s['uri'] or ''} (frame #{s['request_frame']})"
        _marker(c, c.x(s["request_time"]), True, s["method"] or "request", "tl-http", tip)
    if s.get("response_time") is not None and s.get("status") is not None:
        tip = f"HTTP {s['status']} {s['reason'] or ''} (frame #{s['response_frame']})"
        _marker(c, c.x(s["response_time"]), False, str(s["status"]), "tl-http", tip)


# Frames ------------------------------------------------------------------------------


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


def _cells(frames: pl.DataFrame, t0: datetime, span: float, nbins: int) -> pl.DataFrame:
    """Frame time -> pixel column; counts, bytes and time range per lane, kind, column."""
    secs = (pl.col("time") - pl.lit(t0)).dt.total_microseconds() / 1e6
    return (
        frames.filter(pl.col("opcode") != "close")
        .select(
            pl.col("from_client").alias("up"),
            _kind().alias("kind"),
            (secs / span * nbins).floor().clip(0, nbins - 1).cast(pl.Int32).alias("bin"),
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


def _bars(c: Canvas, frames: pl.DataFrame) -> None:
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
    when = f"+{_num(a)} s" if z - a < 0.05 else f"+{_num(a)}–{_num(z)} s"
    tip = (
        f"{'client → server' if b['up'] else 'server → client'} {when}: "
        f"{b['n']:,} {KINDS[b['kind']]} frame{'s' if b['n'] != 1 else ''}, {b['bytes']:,} bytes"
    )
    attrs = {"x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{w:.1f}", "height": f"{h:.1f}"}
    c.add("rect", {**attrs, "class": f"tl-{b['kind']}"}, tip)


def _closes(c: Canvas, frames: pl.DataFrame) -> None:
    """Close frames: a marker at the time, labelled with the code (first ones per side)."""
    closes = frames.filter(pl.col("opcode") == "close")
    for up in (True, False):
        mine = closes.filter(pl.col("from_client") == up)
        for r in mine.head(MAX_MARKERS).iter_rows(named=True):
            who = "client" if up else "server"
            code = r["close_code"] if r["close_code"] is not None else "(no code)"
            reason = f' "{r["close_reason"]}"' if r["close_reason"] else ""
            extra = f" ({mine.height} close frames from the {who})" if mine.height > 1 else ""
            at = f"frame #{r['frame']} at +{_num(c.offset(r['time']))} s"
            tip = f"{who} close {code}{reason}, {at}{extra}"
            _marker(c, c.x(r["time"]), up, f"close {code}", "tl-close", tip)


def _tcp_markers(c: Canvas, events: pl.DataFrame) -> None:
    ends = events.filter(pl.col("kind").is_in(["fin", "rst"])).sort("time")
    for up in (True, False):
        mine = ends.filter(pl.col("from_client") == up).unique("kind", keep="first")
        for r in mine.sort("time").head(MAX_MARKERS).iter_rows(named=True):
            who = "client" if up else "server"
            at = f"frame #{r['frame']} at +{_num(c.offset(r['time']))} s"
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


def _trouble(c: Canvas, events: pl.DataFrame) -> None:
    """Retransmissions, lost segments, zero windows: binned ticks on the centre line."""
    bad = events.filter(pl.col("kind").is_in(TROUBLE))
    if bad.is_empty():
        return
    nbins = PLOT // 4
    secs = (pl.col("time") - pl.lit(c.t0)).dt.total_microseconds() / 1e6
    cells = (
        bad.with_columns(bin=(secs / c.span * nbins).floor().clip(0, nbins - 1).cast(pl.Int32))
        .group_by("bin", "kind")
        .agg(n=pl.len())
        .group_by("bin")
        .agg(what=pl.format("{} {}", pl.col("n"), pl.col("kind").str.replace_all("_", " ")))
        .sort("bin")
        .head(MAX_TROUBLE)
    )
    for r in cells.iter_rows(named=True):
        x = LEFT + r["bin"] * PLOT / nbins
        near = _num((r["bin"] + 0.5) * c.span / nbins)
        tip = f"TCP trouble near +{near} s: {', '.join(sorted(r['what']))}"
        c.add("rect", {"x": f"{x:.1f}", "y": WIRE, "width": 3, "height": 6, "class": "tl-bad"}, tip)


# Silences ----------------------------------------------------------------------------


def _gaps(c: Canvas, s: dict[str, Any], frames: pl.DataFrame) -> None:
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
        spans.append((True, end - timedelta(seconds=quiet), end, f"client silent {_dur(quiet)}"))
    idle = s.get("idle_before_end_s")
    if idle and idle >= 1 and s.get("last_payload_time") and s.get("tcp_end_time"):
        spans.append((None, s["last_payload_time"], s["tcp_end_time"], f"no traffic {_dur(idle)}"))
    for side, up in (("client", True), ("server", False)):
        gap = s.get(f"max_gap_{side}_s")
        if gap and gap >= noticeable:
            a = _frame_time(frames, s.get(f"max_gap_{side}_from_frame"))
            z = _frame_time(frames, s.get(f"max_gap_{side}_to_frame"))
            spans.append((up, a, z, f"longest {side} gap {_dur(gap)}"))
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


def _window(c: Canvas, s: dict[str, Any], window_s: float) -> None:
    """The server's inactivity window, as a bracket ending where the server gave up."""
    end = s.get("close_server_time") or s.get("tcp_end_time")
    if end is None:
        return
    x1 = c.x(end)
    x0 = c.x(max(0.0, c.offset(end) - window_s))
    y = UP_TOP - 10
    tip = f"server inactivity window: {_num(window_s)} s without client data, then close"
    c.add("path", {"d": f"M{x0:.1f},{y + 5} V{y} H{x1:.1f} V{y + 5}", "class": "tl-win"}, tip)
    label = f"server inactivity window {_num(window_s)} s"
    anchor_x = (x0 + x1) / 2
    c.text(min(max(anchor_x, LEFT + 110), LEFT + PLOT - 110), y - 4, label, "tl-wint", "middle")
