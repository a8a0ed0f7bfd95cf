"""One session's timeline as inline SVG: what each side sent, and when it went quiet.

Two lanes share one time axis (seconds from the session start): client → server above
the centre line, server → client below (timeline_canvas.py). Data frames, KeepAlives
(text, and the binary misuse), and ping/pong are bars whose height grows with the frame
count (timeline_bars.py); close frames, FIN and RST are markers with their code; the
silences the rules measured are shaded with their duration; an idle-timeout finding adds
the server's inactivity window (timeline_marks.py); log events are diamonds on the wire
(timeline_logs.py).

Frames are binned in polars, so a one-hour session of 500k frames draws as few elements
as a short one, and the SVG size is bounded whatever the capture. No JavaScript: every
element carries a <title> tooltip. Text from the capture (close reasons) is escaped,
since this function returns markup.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer.report.timeline_bars import draw_bars, draw_trouble
from analyzer.report.timeline_canvas import (
    HEIGHT,
    LEFT,
    PLOT,
    WIDTH,
    WIRE,
    canvas_for,
    draw_grid,
    draw_lanes,
    dur,
    esc,
)
from analyzer.report.timeline_logs import log_marks
from analyzer.report.timeline_marks import (
    draw_closes,
    draw_gaps,
    draw_handshake,
    draw_tcp_ends,
    draw_window,
)

DEFAULT_WINDOW_S = 10.0  # Deepgram's inactivity window (NET-0001) when no param says


def svg(
    session: dict[str, Any],
    frames: pl.DataFrame,
    tcp_events: pl.DataFrame,
    findings: list[dict[str, Any]],
    window_s: float | None = None,
    log_events: pl.DataFrame | None = None,
) -> str:
    """The session's timeline; `frames`/`tcp_events`/`log_events` are that session's rows."""
    canvas = canvas_for(session, frames, tcp_events)
    if canvas is None:
        return _untimed(session)
    draw_lanes(canvas, session)
    draw_grid(canvas)
    draw_gaps(canvas, session, frames)
    if any(f["category"] == "idle-timeout" for f in findings):
        draw_window(canvas, session, window_s or DEFAULT_WINDOW_S)
    draw_bars(canvas, frames)
    draw_trouble(canvas, tcp_events)
    draw_closes(canvas, frames)
    draw_tcp_ends(canvas, tcp_events)
    if log_events is not None:
        log_marks(canvas, log_events, WIRE + 3)
    if frames.is_empty():
        draw_handshake(canvas, session)
        canvas.text(LEFT + PLOT / 2, WIRE - 8, _empty_note(session), "tl-note", "middle")
    label = f"Timeline of session {session['id']}: {dur(canvas.span)}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="timeline" role="img" aria-label="{esc(label)}">' + "".join(canvas.parts) + "</svg>"
    )


def _untimed(session: dict[str, Any]) -> str:
    """A one-line panel instead of a timeline: the session's time is unknown."""
    note = "Time unknown: the " + ("HAR" if session.get("source") == "har" else "log")
    note += " records this session without a usable timestamp, so no timeline is drawn."
    label = f"Timeline of session {session['id']}: time unknown"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 40" '
        f'class="timeline" role="img" aria-label="{esc(label)}">'
        f'<text x="{WIDTH / 2:.1f}" y="24" class="tl-note" text-anchor="middle">{esc(note)}'
        "</text></svg>"
    )


def _empty_note(session: dict[str, Any]) -> str:
    """Why no frame is drawn: none seen, or none visible to this source."""
    if session.get("kind") == "encrypted":
        return "TLS without keys: frames not visible"
    if session.get("frames_client") is None:  # a HAR without messages, a log: unknown
        return "messages not recorded in this " + (
            "HAR" if session.get("source") == "har" else "log"
        )
    return "no WebSocket frames"
