"""The HTML report: one self-contained file a support engineer opens or attaches.

Self-contained and inert by construction: inline CSS and SVG only, no JavaScript, a CSP
that forbids scripts and every other origin, and Jinja2 autoescaping for every value
(capture and log bytes are hostile input). The rules' fix Markdown goes through
markup.py, which escapes before it adds tags.

Size is bounded whatever the capture (≤ 2 MB for 500k frames): frames are never listed,
each timeline is binned (timeline.py), and the caps below limit how many sessions get a
full section, how many findings are shown in full, and how many table rows are written.
Whatever a cap leaves out is counted in the report, never silently dropped.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from analyzer import __version__, resources
from analyzer.findings import RANK
from analyzer.pipeline import Analysis
from analyzer.report import markup, timeline, verdict
from analyzer.report.json_report import capture_facts
from analyzer.rules.model import SEVERITIES

MAX_SESSION_SECTIONS = 50  # per-session sections (timeline + details), most severe first
SESSIONS_BUDGET = 700_000  # bytes of those sections (SVG + facts); the rest: table only
MAX_FULL_FINDINGS = 100  # findings shown with evidence, fix and references
MAX_FULL_PER_RULE = 5  # of those, per rule: repeats of one rule go to the one-line list
FINDINGS_BUDGET = 450_000  # bytes of fix HTML + evidence text over those findings
MAX_BRIEF_FINDINGS = 300  # further findings listed one line each
MAX_EVIDENCE = 12  # evidence lines per finding
MAX_TABLE_ROWS = 500  # rows of the sessions table
MAX_VERDICT_LINES = 60  # verdict sentences (failed sessions first)
VERDICT_OPEN = 8  # of those, shown before a "more" toggle
MAX_HEADERS = 40  # request/response headers shown per session
MAX_VALUE = 300  # characters of one header value, reason or body preview
MAX_WARNINGS = 50
ISO_SHORT = "%Y-%m-%d %H:%M:%S.%f"


def render(result: Analysis) -> str:
    env = Environment(
        loader=FileSystemLoader(resources.templates_dir()),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(cut=_cut, clock=clock, secs=_secs, plural=_plural)
    env.globals["MAX_HEADERS"] = MAX_HEADERS
    return env.get_template("report.html.j2").render(**context(result))


def context(result: Analysis) -> dict[str, Any]:
    """Everything the template shows, already capped and formatted."""
    judged = verdict.build(result)
    rows = {r["id"]: r for r in result.data.sessions.iter_rows(named=True)}
    worst = {s.session: s for s in judged.sessions}
    detailed = _detailed_sessions(result, judged, rows)
    shown = {s["id"] for s in detailed}
    full, brief, omitted = _findings(result.findings, rows, shown)
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
            _table_row(r, worst[r["id"]], shown) for r in list(rows.values())[:MAX_TABLE_ROWS]
        ],
        "table_omitted": max(0, len(rows) - MAX_TABLE_ROWS),
        "capture": _capture(result),
        "logs": result.data.logs[:MAX_WARNINGS],
        "hars": result.data.hars[:MAX_WARNINGS],
        "warnings": [_cut(w) for w in result.data.warnings[:MAX_WARNINGS]],
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


def _cut(text: Any, limit: int = MAX_VALUE) -> str:
    if isinstance(text, Markup):  # already-escaped output of a macro: cutting it could
        return text  # split an entity, and str() would make autoescape escape it twice
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clock(value: Any) -> str:
    """UTC wall-clock time to the millisecond: what people line up with their logs."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return ""
    return value.strftime(ISO_SHORT)[:-3] + " UTC"


def _state(judged: verdict.Verdict) -> str:
    """bad: something failed; unknown: TLS without keys or no session; ok otherwise."""
    if judged.failed or any(
        RANK[f["severity"]] >= verdict.FAILED_AT for f in judged.capture_findings
    ):
        return "bad"
    return "unknown" if not judged.sessions or any(s.blind for s in judged.sessions) else "ok"


def _verdict(judged: verdict.Verdict) -> dict[str, Any]:
    failed = [s for s in judged.sessions if s.failed][:MAX_VERDICT_LINES]
    healthy = [s for s in judged.sessions if not s.failed]
    room = max(0, MAX_VERDICT_LINES - len(failed))
    return {
        "headline": judged.headline,
        "state": _state(judged),
        "failed": failed,
        "healthy": healthy[:room],
        "omitted": len(judged.sessions) - len(failed) - min(room, len(healthy)),
        "open": VERDICT_OPEN,
    }


# Findings ----------------------------------------------------------------------------


def _findings(
    found: list[dict[str, Any]], rows: dict[str, dict[str, Any]], shown: set[str]
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], int]:
    """Full findings grouped by severity (within a byte budget), then one-liners.

    A fix identical to one already shown becomes a link to it; the fix of a rule already
    shown for another session starts collapsed; past MAX_FULL_PER_RULE a rule's findings
    are listed one line each, so a rare rule is never crowded out by a frequent one."""
    full: dict[str, list[dict[str, Any]]] = {s: [] for s in reversed(SEVERITIES)}
    brief: list[dict[str, Any]] = []
    fixes: dict[str, str] = {}  # fix text -> anchor of the finding that shows it
    per_rule: dict[str, int] = {}
    spent = 0
    for i, f in enumerate(found):
        view = _finding(i, f, rows.get(f["session"]), shown, fixes)
        cost = view.pop("cost")
        room = sum(map(len, full.values())) < MAX_FULL_FINDINGS and spent + cost <= FINDINGS_BUDGET
        if room and per_rule.get(f["rule"], 0) < MAX_FULL_PER_RULE:
            spent += cost
            view["fix_open"] = f["rule"] not in per_rule
            per_rule[f["rule"]] = per_rule.get(f["rule"], 0) + 1
            if view["same_fix_as"] is None:
                fixes.setdefault(f.get("fix") or "", view["anchor"])
            full[f["severity"]].append(view)
        elif len(brief) < MAX_BRIEF_FINDINGS:
            brief.append(view)
    omitted = len(found) - sum(map(len, full.values())) - len(brief)
    return {k: v for k, v in full.items() if v}, brief, omitted


def _finding(
    i: int,
    f: dict[str, Any],
    row: dict[str, Any] | None,
    shown: set[str],
    fixes: dict[str, str],
) -> dict[str, Any]:
    same = fixes.get(f.get("fix") or "")
    fix_html = Markup("") if same else markup.render(f.get("fix"))
    evidence = [_evidence(e, row) for e in f.get("evidence", [])[:MAX_EVIDENCE]]
    return {
        "anchor": f"finding-{i + 1}",
        **{k: f.get(k) for k in ("rule", "category", "severity", "confidence", "title")},
        "summary": markup.inline(f.get("summary")),
        "summary_text": _brief(f.get("summary")),
        "session": f["session"],
        "session_link": f["session"] in shown,
        "evidence": evidence,
        "evidence_omitted": max(0, len(f.get("evidence", [])) - MAX_EVIDENCE),
        "fix": fix_html,
        "same_fix_as": same,
        "references": [{"url": u, "safe": markup.safe_url(u)} for u in f.get("references", [])],
        "cost": len(fix_html)
        + len(f.get("summary", ""))
        + sum(len(e["text"]) + 80 for e in evidence)
        + 800,
    }


def _brief(summary: str | None) -> str:
    """The summary as plain text for the one-line list, cut; only its head is rendered,
    since a one-liner never shows more (a 20k-character header costs nothing here)."""
    return _cut(markup.plain((summary or "")[: 4 * MAX_VALUE]))


def _evidence(e: dict[str, Any], row: dict[str, Any] | None) -> dict[str, Any]:
    offset = ""
    if e.get("time") and row is not None and row["start"] is not None:
        sec = (datetime.fromisoformat(e["time"]) - row["start"]).total_seconds()
        offset = f"+{sec:.3f} s"
    return {
        "time": clock(e.get("time")),
        "offset": offset,
        "frame": e.get("frame"),
        "log": e.get("log"),
        "log_name": _log_name(e.get("log")),
        "text": markup.inline(e["text"]),
    }


def _log_name(ref: str | None) -> str | None:
    """`/long/path/client.log:53` -> `client.log:53`: the column is narrow; the full
    reference stays in the title and in the finding's text."""
    return Path(ref).name if ref else None


# Sessions ----------------------------------------------------------------------------


def _detailed_sessions(
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


def _pairs(items: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Label/value rows without the empty ones."""
    return [(k, _cut(v)) for k, v in items if v not in (None, "", [])]


def _secs(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f} s"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _close_codes(r: dict[str, Any]) -> str:
    if r["close_first_by"] is None:
        return "—"
    c = r["close_client_code"] if r["close_client_time"] else "·"
    s = r["close_server_code"] if r["close_server_time"] else "·"
    return f"{c or '∅'} / {s or '∅'}"


def _table_row(
    r: dict[str, Any], judged: verdict.SessionVerdict, shown: set[str]
) -> dict[str, Any]:
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


# Capture, rules ----------------------------------------------------------------------


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
            ("WebSocket sessions", facts["sessions"]),
            ("Encrypted (no keys)", facts["encrypted_sessions"] or None),
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
                "params": [(k, _cut(_param(v), 160)) for k, v in by_id[rid].params.items()]
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
