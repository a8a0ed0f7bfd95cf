"""Plain-text tables for a terminal: one line per session, frame or finding, aligned.

Every cell has its control characters written out (`outputs.visible_line`): a request
path, a close reason or a text frame cannot move the cursor, retitle the window, plant a
hyperlink or break a row in two, whatever ingestion let through.

A table given a width (the terminal's, or `COLUMNS`) fits it, because a wrapped row reads
as two: free text (a path, a close summary, a frame's text) is cut with an ellipsis,
widest column first; if that is not enough, whole columns go, least useful first. Ids,
frame numbers, endpoints and severities are never cut. Without a width (a pipe, a file)
every column stays and a free-text cell is cut at MAX_CELL, as before.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from analyzer.report.outputs import visible_line

MAX_CELL = 60
GAP = "  "


@dataclass(frozen=True)
class Column:
    """`keep`: the higher, the later the column goes when the table cannot fit (None:
    never). `least`: the narrowest a free-text column is cut to before columns go;
    `most`: the widest it is without a terminal (None: whole)."""

    header: str
    keep: int | None = None
    free: bool = False
    least: int = 10
    most: int | None = MAX_CELL


def fmt(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None) -> str:
    """The table, fitted to `width` columns of terminal (None: no limit)."""
    cells = [[visible_line(c) for c in r] for r in rows]
    shown = [i for i, c in enumerate(columns) if width is None or any(r[i] for r in cells)]
    while True:
        widths = _fitted(columns, cells, shown, width)
        if widths is not None or not _droppable(columns, shown):
            break
        shown.remove(min(_droppable(columns, shown), key=lambda i: columns[i].keep or 0))
    if widths is None:  # nothing left to drop: the narrowest layout, cut at the edge
        widths = {i: _least(columns[i], cells, i) for i in shown}
    lines = []
    for row in [[c.header for c in columns], *cells]:
        line = GAP.join(_pad(cut(row[i], widths[i]), widths[i]) for i in shown).rstrip()
        lines.append(line if width is None else cut(line, width))
    return "\n".join(lines) + "\n"


def _droppable(columns: Sequence[Column], shown: list[int]) -> list[int]:
    return [i for i in shown if columns[i].keep is not None]


def _natural(cells: list[list[str]], header: str, i: int) -> int:
    return max([span(header), *(span(r[i]) for r in cells)])


def _least(column: Column, cells: list[list[str]], i: int) -> int:
    natural = _natural(cells, column.header, i)
    return min(natural, max(column.least, span(column.header))) if column.free else natural


def _fitted(
    columns: Sequence[Column], cells: list[list[str]], shown: list[int], width: int | None
) -> dict[int, int] | None:
    """Each shown column's width, free text cut widest first; None if it cannot fit."""
    natural = {i: _natural(cells, columns[i].header, i) for i in shown}
    free = [i for i in shown if columns[i].free]
    if width is None:
        return {i: min(w, columns[i].most or w) if i in free else w for i, w in natural.items()}
    room = width - len(GAP) * (len(shown) - 1) - sum(natural[i] for i in shown if i not in free)
    if sum(_least(columns[i], cells, i) for i in free) > room:
        return None
    least = {i: _least(columns[i], cells, i) for i in free}
    cap = max((natural[i] for i in free), default=0)
    while sum(max(min(natural[i], cap), least[i]) for i in free) > room:
        cap -= 1  # the widest give way first; it ends by cap 0, since the least fit
    return {i: max(min(w, cap), least[i]) if i in free else w for i, w in natural.items()}


def span(text: str) -> int:
    """Terminal cells a text takes: wide (CJK, most emoji) count two, combining marks none."""
    return sum(_char_span(c) for c in text)


def _char_span(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cut(text: str, room: int) -> str:
    """`text` in at most `room` cells, an ellipsis marking the cut."""
    if span(text) <= room:
        return text
    kept, used = [], 0
    for char in text:
        used += _char_span(char)
        if used > room - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _pad(text: str, room: int) -> str:
    return text + " " * (room - span(text))


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


# Keep order when a terminal is narrow (higher stays longer): who talked to whom, for how
# long and how it ended, before when, what was asked and how many frames.
SESSION_COLUMNS = (
    Column("ID"),
    Column("SEVERITY", keep=90),
    Column("CLIENT → SERVER"),
    Column("KIND", keep=10),
    Column("START (UTC)", keep=50),
    Column("DURATION", keep=80),
    Column("HTTP", keep=30),
    Column("PATH", keep=40, free=True),
    Column("DATA C/S", keep=20),
    Column("CLOSE", keep=70, free=True),
    Column("TCP END", keep=60),
    Column("NOTES", keep=55, free=True),
)


def sessions_table(
    sessions: pl.DataFrame, width: int | None = None, worst: dict[str, str] | None = None
) -> str:
    """`worst`: each session's most severe finding, when the findings were computed (the
    SEVERITY column; a session without one shows "none")."""
    rows = []
    for r in sessions.iter_rows(named=True):
        rows.append(
            [
                r["id"],
                *([] if worst is None else [worst.get(r["id"], "none")]),
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
    columns = [c for c in SESSION_COLUMNS if worst is not None or c.header != "SEVERITY"]
    return fmt(columns, rows, width)


def _frame_detail(r: dict) -> str:
    if r["opcode"] == "close":
        return "(empty)" if r["close_code"] is None else _close(r["close_code"], r["close_reason"])
    return r["json_type"] or r["text_preview"] or ""


FRAME_COLUMNS = (
    Column("SESSION"),
    Column("FRAME"),
    Column("TIME"),
    Column("GAP", keep=40),
    Column("DIR"),
    Column("OPCODE"),
    Column("FIN", keep=20),
    Column("LEN", keep=30),
    Column("DETAIL", keep=10, free=True),
)


def frames_table(frames: pl.DataFrame, sessions: pl.DataFrame, width: int | None = None) -> str:
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
    return fmt(FRAME_COLUMNS, rows, width)
