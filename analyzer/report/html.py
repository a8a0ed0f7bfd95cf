"""The HTML report: one self-contained file a support engineer opens or attaches.

Self-contained and inert by construction: inline CSS and SVG only, no JavaScript, a CSP
that forbids scripts and every other origin, and Jinja2 autoescaping for every value
(capture and log bytes are hostile input). The rules' fix Markdown goes through
markup.py, which escapes before it adds tags.

Read from the top, it scales from one session to thousands: the verdict, then the
incidents (one cause each, its fix shown once), then the sessions table, most severe
first, healthy sessions collapsed, each row's details on demand (`<details>`, no
script). Print and phone layouts keep that order (templates/report.css).

Size is bounded whatever the capture: frames are never listed, each timeline is binned
(timeline.py), and caps limit how many connections get timelines and facts and how many
rows are written (html_sessions.py), how much evidence is shown (html_findings.py), and
how many warnings are shown (below). Whatever a cap leaves out is counted in the report,
never silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from analyzer import __version__, incidents, resources
from analyzer.findings import RANK
from analyzer.pipeline import Analysis
from analyzer.report import verdict
from analyzer.report.html_findings import Cards
from analyzer.report.html_incidents import incident_views
from analyzer.report.html_sessions import (
    MAX_DETAILED,
    MAX_HEADERS,
    MAX_ROWS,
    OPEN_UP_TO,
    Connection,
    add_details,
    connections,
    incidents_by_session,
    row_view,
)
from analyzer.report.html_text import clock, cut, plural, secs
from analyzer.report.json_report import capture_facts

MAX_WARNINGS = 50
MAX_VERDICT_INCIDENTS = 5  # incidents the verdict lists, as the headline names them


def render(result: Analysis) -> str:
    env = Environment(
        loader=FileSystemLoader(resources.templates_dir()),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(cut=cut, clock=clock, secs=secs, plural=plural)
    env.globals["MAX_HEADERS"] = MAX_HEADERS
    return env.get_template("report.html.j2").render(**context(result))


def context(result: Analysis) -> dict[str, Any]:
    """Everything the template shows, already capped and formatted."""
    judged = verdict.build(result)
    legs = result.data.sessions.select("id", "start", "other_leg").iter_rows(named=True)
    starts, other = {}, {}
    for r in legs:
        starts[r["id"]], other[r["id"]] = r["start"], r["other_leg"]
    cards = Cards(result.findings, starts, other)
    cases = incident_views(result.incidents, cards)
    incidents_of = incidents_by_session(result.incidents)
    rows = connections(result, judged, incidents_of)
    shown = rows[:MAX_ROWS]
    drawn = add_details(result, shown, cards)
    sessions = _groups(shown, incidents_of)
    below = {sid for r in sessions["failed"] for sid in r["ids"]} if sessions["open"] else set()
    for i in cases:  # the example is left out when its session's card is open below
        i["example_below"] = i["example"] is not None and i["example"]["session"] in below
    return {
        "version": __version__,
        "title": _title(result),
        "redacted": result.redacted,
        "verdict": _verdict(judged, rows, result.incidents),
        "incidents": cases,
        "sessions": sessions,
        "rows_omitted": len(rows) - len(shown),
        "session_count": len(result.data.sessions),
        "drawn": drawn,
        "capture_cards": cards.for_session(None),
        "has_findings": bool(result.findings),
        "capture": _capture(result),
        "logs": result.data.logs[:MAX_WARNINGS],
        "hars": result.data.hars[:MAX_WARNINGS],
        "warnings": [cut(w) for w in result.data.warnings[:MAX_WARNINGS]],
        "warnings_omitted": max(0, len(result.data.warnings) - MAX_WARNINGS),
        "inputs": result.inputs,
        "rules": _rules(result),
        "caps": {"detailed": MAX_DETAILED, "rows": MAX_ROWS},
    }


def _groups(rows: list[Connection], incidents_of: dict[str, list[str]]) -> dict[str, Any]:
    """Failed rows (open when there are few), then the healthy and the undecryptable
    ones, each group collapsed: they are what nobody needs to read first."""
    groups: dict[str, list[dict[str, Any]]] = {"failed": [], "healthy": [], "blind": []}
    for conn in rows:
        view = row_view(conn, incidents_of)
        kind = "failed" if view["failed"] else "blind" if conn.legs[0].blind else "healthy"
        groups[kind].append(view)
    return {**groups, "open": len(groups["failed"]) <= OPEN_UP_TO}


def _title(result: Analysis) -> str:
    names = [Path(i["path"]).name for i in result.inputs]
    return ", ".join(names[:3]) + (f" +{len(names) - 3} more" if len(names) > 3 else "")


def _state(judged: verdict.Verdict) -> str:
    """bad: something failed; unknown: TLS without keys or no session; ok otherwise."""
    if judged.failed or any(
        RANK[f["severity"]] >= verdict.FAILED_AT for f in judged.capture_findings
    ):
        return "bad"
    return "unknown" if not judged.sessions or any(s.blind for s in judged.sessions) else "ok"


def _verdict(
    judged: verdict.Verdict, rows: list[Connection], found: list[dict[str, Any]]
) -> dict[str, Any]:
    """The counts, and the incidents of the failed sessions one line each (as the
    headline names them, but as a list a person can scan, each linking to its card)."""
    failed = {s.session for s in judged.failed}
    named = verdict.named_incidents(judged.failed, found)
    rest = named[MAX_VERDICT_INCIDENTS:]
    seen = [c for c in rows if not c.legs[0].blind]
    return {
        "headline": judged.headline,
        "state": _state(judged),
        "incidents": [
            (i["id"], i["severity"], incidents.line(i)) for i in named[:MAX_VERDICT_INCIDENTS]
        ],
        "more": len(rest),
        "more_sessions": len(failed.intersection(s for i in rest for s in i["sessions"])),
        "connections": len(seen),
        "sessions": len(judged.seen),
        "failed": sum(c.worst.failed for c in seen),
        "failed_sessions": len(failed),
        "proxied": sum(len(c.legs) == 2 for c in seen),
        # TLS connections without keys: their own section, never among the sessions above.
        "tls": judged.tls,
        "tls_count": sum(len(g.sessions) for g in judged.tls),
    }


def _capture(result: Analysis) -> list[tuple[str, str]]:
    if not result.data.captures:
        return []
    facts = capture_facts(result.data.captures)
    files = facts["files"]
    links = sorted({lt for f in files for lt in f.get("link_types") or []})
    return _pairs(
        [
            ("Packets", f"{facts['packets']:,}"),
            ("From", clock(facts["start"])),
            ("To", clock(facts["end"])),
            ("TCP connections", facts["tcp_connections"]),
            # TLS without keys is counted apart: it may not be WebSocket at all.
            ("WebSocket sessions", facts["sessions"] - facts["encrypted_sessions"]),
            ("TLS connections (possibly wss, no keys)", facts["encrypted_sessions"] or None),
            ("Recovered (handshake not captured)", facts["recovered_sessions"] or None),
            ("Lost segments", facts["lost_segments"]),
            ("Retransmissions", facts["retransmissions"]),
            ("Truncated packets", facts["truncated_packets"]),
            ("Snapshot length", facts["snaplen"]),
            ("Link types", ", ".join(links)),
            ("Damaged file", "yes: read up to the damage" if facts["damaged"] else None),
        ]
    )


def _rules(result: Analysis) -> dict[str, Any]:
    fired = list(dict.fromkeys(f["rule"] for f in result.findings))
    by_id = {r.id: r for r in result.rules}
    return {
        "count": len(result.rules),
        "fired": [
            {
                "id": rid,
                "severity": by_id[rid].severity if rid in by_id else "",
                "params": [(k, cut(_param(v), 160)) for k, v in by_id[rid].params.items()]
                if rid in by_id
                else [],
            }
            for rid in fired
        ],
    }


def _param(value: Any) -> str:
    if isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _pairs(items: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Label/value rows without the empty ones."""
    return [(k, cut(v)) for k, v in items if v not in (None, "", [])]
