"""The HTML report: one self-contained file a support engineer opens or attaches.

Self-contained and inert by construction: inline CSS and SVG only, no JavaScript, a CSP
that forbids scripts and every other origin, and Jinja2 autoescaping for every value
(capture and log bytes are hostile input). The rules' fix Markdown goes through
markup.py, which escapes before it adds tags.

Size is bounded whatever the capture (≤ 2 MB for 500k frames): frames are never listed,
each timeline is binned (timeline.py), and caps limit how many sessions get a full
section and how many table rows are written (html_sessions.py), how many findings are
shown in full (html_findings.py), and how many verdict lines and warnings are shown
(below). Whatever a cap leaves out is counted in the report, never silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from analyzer import __version__, resources
from analyzer.findings import RANK
from analyzer.pipeline import Analysis
from analyzer.report import verdict
from analyzer.report.html_findings import MAX_FULL_FINDINGS, MAX_FULL_PER_RULE, finding_cards
from analyzer.report.html_sessions import (
    MAX_HEADERS,
    MAX_SESSION_SECTIONS,
    MAX_TABLE_ROWS,
    detailed_sessions,
    table_row,
)
from analyzer.report.html_text import clock, cut, plural, secs
from analyzer.report.json_report import capture_facts
from analyzer.rules.model import SEVERITIES

MAX_VERDICT_LINES = 60  # verdict sentences (failed sessions first)
VERDICT_OPEN = 8  # of those, shown before a "more" toggle
MAX_WARNINGS = 50


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
    rows = {r["id"]: r for r in result.data.sessions.iter_rows(named=True)}
    worst = {s.session: s for s in judged.sessions}
    detailed = detailed_sessions(result, judged, rows)
    shown = {s["id"] for s in detailed}
    full, brief, omitted = finding_cards(result.findings, rows, shown)
    _link_findings(detailed, {v["anchor"] for group in full.values() for v in group})
    return {
        "version": __version__,
        "title": _title(result),
        "redacted": result.redacted,
        "verdict": _verdict(judged),
        "severities": list(reversed(SEVERITIES)),
        "findings": full,
        "brief_findings": brief,
        "omitted_findings": omitted,
        "finding_count": len(result.findings),
        "sessions": detailed,
        "shown": shown,
        "omitted_sessions": len(rows) - len(detailed),
        "table": [
            table_row(r, worst[r["id"]], shown) for r in list(rows.values())[:MAX_TABLE_ROWS]
        ],
        "table_omitted": max(0, len(rows) - MAX_TABLE_ROWS),
        "capture": _capture(result),
        "logs": result.data.logs[:MAX_WARNINGS],
        "hars": result.data.hars[:MAX_WARNINGS],
        "warnings": [cut(w) for w in result.data.warnings[:MAX_WARNINGS]],
        "warnings_omitted": max(0, len(result.data.warnings) - MAX_WARNINGS),
        "inputs": result.inputs,
        "rules": _rules(result),
        "caps": {
            "sessions": MAX_SESSION_SECTIONS,
            "findings": MAX_FULL_FINDINGS,
            "per_rule": MAX_FULL_PER_RULE,
        },
    }


def _link_findings(sections: list[dict[str, Any]], anchors: set[str]) -> None:
    """A session's list of findings links only to those shown in full."""
    for section in sections:
        section["findings"] = [
            (s, t, a if a in anchors else None) for s, t, a in section["findings"]
        ]


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


def _verdict(judged: verdict.Verdict) -> dict[str, Any]:
    failed = judged.failed[:MAX_VERDICT_LINES]
    healthy = [s for s in judged.seen if not s.failed]
    room = max(0, MAX_VERDICT_LINES - len(failed))
    return {
        "headline": judged.headline,
        "state": _state(judged),
        "failed": failed,
        "healthy": healthy[:room],
        "omitted": len(judged.seen) - len(failed) - min(room, len(healthy)),
        "open": VERDICT_OPEN,
        # TLS connections without keys: their own section, never among the sessions above.
        "tls": judged.tls,
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
