"""The HTML report's sessions: a section (timeline and facts) for the most severe ones
within MAX_SESSION_SECTIONS and SESSIONS_BUDGET, and a row of the sessions table each.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from analyzer.findings import RANK
from analyzer.pipeline import Analysis
from analyzer.report import timeline, verdict
from analyzer.report.html_text import MAX_VALUE

MAX_SESSION_SECTIONS = 50  # per-session sections (timeline + details), most severe first
SESSIONS_BUDGET = 700_000  # bytes of those sections (SVG + facts); the rest: table only
MAX_TABLE_ROWS = 500  # rows of the sessions table
MAX_HEADERS = 40  # request/response headers shown per session


def detailed_sessions(
    result: Analysis, judged: verdict.Verdict, rows: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Sections for the most severe sessions first, within MAX_SESSION_SECTIONS and the
    byte budget; shown back in start order."""
    order = sorted(
        enumerate(judged.sessions),
        key=lambda p: (-(RANK[p[1].severity] if p[1].severity else -1), p[0]),
    )
    frames = result.data.frames.partition_by("session", as_dict=True, maintain_order=True)
    events = result.data.tcp_events.partition_by("session", as_dict=True, maintain_order=True)
    logs = result.data.log_events.partition_by("session", as_dict=True, maintain_order=True)
    windows = _windows(result)
    by_session: dict[str, list[dict[str, Any]]] = {}
    for i, f in enumerate(result.findings):
        by_session.setdefault(f["session"], []).append({**f, "_index": i})
    sections, spent = [], 0
    for index, judged_session in order[:MAX_SESSION_SECTIONS]:
        sid = judged_session.session
        mine = by_session.get(sid, [])
        svg = timeline.svg(
            rows[sid],
            frames.get((sid,), result.data.frames.clear()),
            events.get((sid,), result.data.tcp_events.clear()),
            mine,
            _window_for(mine, windows),
            logs.get((sid,)),
        )
        cost = len(svg) + _details_cost(rows[sid])
        if spent + cost > SESSIONS_BUDGET:
            break
        spent += cost
        sections.append((index, _session(rows[sid], judged_session, svg, mine)))
    return [s for _, s in sorted(sections, key=lambda p: p[0])]


def _details_cost(row: dict[str, Any]) -> int:
    """Bytes a section's facts take besides the SVG: headers and texts dominate."""
    headers = (row["request_headers"] or [])[:MAX_HEADERS] + (row["response_headers"] or [])[
        :MAX_HEADERS
    ]
    texts = [
        row["uri"],
        row["body_preview"],
        row["close_client_reason"],
        row["close_server_reason"],
    ]
    cells = sum(
        min(len(h["name"] or ""), 80) + min(len(h["value"] or ""), MAX_VALUE) for h in headers
    )
    return 3000 + 40 * len(headers) + cells + sum(min(len(t or ""), MAX_VALUE) for t in texts)


def _windows(result: Analysis) -> dict[str, float]:
    """Each rule's inactivity window param, as in effect for this run."""
    return {
        r.id: float(r.params["inactivity_window_s"])
        for r in result.rules
        if isinstance(r.params.get("inactivity_window_s"), int | float)
    }


def _window_for(findings: list[dict[str, Any]], windows: dict[str, float]) -> float | None:
    return next((windows[f["rule"]] for f in findings if f["rule"] in windows), None)


def _session(
    row: dict[str, Any], judged: verdict.SessionVerdict, svg: str, mine: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": row["id"],
        "endpoints": judged.endpoints,
        "outcome": judged.text,
        "severity": judged.severity,
        "failed": judged.failed,
        "svg": Markup(svg),  # timeline.svg escapes every text it writes
        "findings": [(f["severity"], f["title"], f"finding-{f['_index'] + 1}") for f in mine],
        "row": row,  # handshake, close and traffic facts: templates/session.html.j2
    }


def _close_codes(r: dict[str, Any]) -> str:
    if r["close_first_by"] is None:
        return "—"
    c = r["close_client_code"] if r["close_client_time"] else "·"
    s = r["close_server_code"] if r["close_server_time"] else "·"
    return f"{c or '∅'} / {s or '∅'}"


def table_row(r: dict[str, Any], judged: verdict.SessionVerdict, shown: set[str]) -> dict[str, Any]:
    tcp = (
        "open"
        if r["tcp_end"] == "open"
        else f"{(r['tcp_end'] or '').upper()} {r['tcp_ended_by'] or ''}"
    )
    return {
        "id": r["id"],
        "link": r["id"] in shown,
        "endpoints": judged.endpoints,
        "kind": r["kind"],
        "status": r["status"] if r["status"] is not None else "—",
        "close": _close_codes(r),
        "tcp": tcp.strip(),
        "duration": verdict.seconds(r["duration_s"]),
        "severity": judged.severity,
        "worst": judged.finding["title"] if judged.finding else "",
    }
