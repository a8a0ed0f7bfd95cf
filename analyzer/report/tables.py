"""Plain-text tables for a terminal: one line per session or frame, aligned columns.

Every cell has its control characters written out (`outputs.visible_line`): a request
path, a close reason or a text frame cannot move the cursor, retitle the window, plant a
hyperlink or break a row in two, whatever ingestion let through.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from analyzer.report.outputs import visible_line

MAX_CELL = 60


def _fmt(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    cells = [list(headers)] + [[_cut(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


def _cut(text: str) -> str:
    text = visible_line(text)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _close(code: int | None, reason: str | None) -> str:
    if code is None:
        return "close (no code)"
    return f"{code} {reason}" if reason else str(code)


def _close_summary(r: dict) -> str:
    first = r["close_first_by"]
    if first is None:
        return "not recorded" if r["har_close_not_recorded"] else "no close frame"
    other = "server" if first == "client" else "client"
    text = f"{first} {_close(r[f'close_{first}_code'], None)}"
    if r[f"close_{other}_time"] is not None:
        text += f", {other} {_close(r[f'close_{other}_code'], None)}"
    else:
        text += f", no reply from {other}"
    return text


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)


def _tcp_end(r: dict) -> str:
    if r["tcp_end"] is None:
        return "—"  # a HAR or a log: no TCP seen
    if r["tcp_end"] == "open":
        return "open at capture end"
    return f"{r['tcp_end'].upper()} by {r['tcp_ended_by']}"


def _notes(r: dict) -> str:
    notes = []
    if r["kind"] == "recovered":
        notes.append("handshake not captured")
    elif r["syn_seen"] is False:
        notes.append("started before capture")
    if r["kind"] == "encrypted":
        notes.append(f"TLS {r['sni'] or ''}".strip() + " (no keys)")
    if r["decrypted"]:
        notes.append("decrypted")
    if r["truncated_packets"]:
        notes.append(f"{r['truncated_packets']} packet(s) cut by snaplen")
    if r["lost_segment_count"]:
        notes.append(f"{r['lost_segment_count']} lost segment(s)")
    return "; ".join(notes)


def sessions_table(sessions: pl.DataFrame) -> str:
    rows = []
    for r in sessions.iter_rows(named=True):
        rows.append(
            [
                r["id"],
                f"{r['client'] or '?'} → {r['server'] or '?'}",
                r["kind"],
                r["start"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                "—" if r["duration_s"] is None else f"{r['duration_s']:.3f}s",
                "" if r["status"] is None else str(r["status"]),
                r["uri"] or "",
                f"{_count(r['data_frames_client'])}/{_count(r['data_frames_server'])}",
                _close_summary(r),
                _tcp_end(r),
                _notes(r),
            ]
        )
    headers = [
        "ID",
        "CLIENT → SERVER",
        "KIND",
        "START (UTC)",
        "DURATION",
        "HTTP",
        "PATH",
        "DATA C/S",
        "CLOSE",
        "TCP END",
        "NOTES",
    ]
    return _fmt(rows, headers)


def _frame_detail(r: dict) -> str:
    if r["opcode"] == "close":
        return "(empty)" if r["close_code"] is None else _close(r["close_code"], r["close_reason"])
    return r["json_type"] or r["text_preview"] or ""


def frames_table(frames: pl.DataFrame, sessions: pl.DataFrame) -> str:
    """GAP is the time since the session's previous frame: idle periods stand out."""
    starts = dict(sessions.select("id", "start").iter_rows())
    rows, previous = [], {}
    for r in frames.iter_rows(named=True):
        offset = (r["time"] - starts[r["session"]]).total_seconds()
        before = previous.get(r["session"])
        gap = "" if before is None else f"{(r['time'] - before).total_seconds():.3f}"
        previous[r["session"]] = r["time"]
        direction = "C→S" if r["from_client"] else "S→C"
        rows.append(
            [
                r["session"],
                "-" if r["frame"] is None else str(r["frame"]),  # HAR or log: no capture frame
                f"+{offset:.6f}",
                gap,
                direction,
                r["opcode"],
                "1" if r["fin"] else "0",
                str(r["payload_len"]),
                _frame_detail(r),
            ]
        )
    headers = ["SESSION", "FRAME", "TIME", "GAP", "DIR", "OPCODE", "FIN", "LEN", "DETAIL"]
    return _fmt(rows, headers)
