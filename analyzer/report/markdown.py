"""`--format md`: the report as a ticket comment (GitHub, GitLab, Jira Markdown).

What a reader of a ticket needs: the verdict (its lead and its incidents, one line each),
every input file, one line per failed connection (the two legs of a proxied connection
are one line), then the findings one block per cause (markdown_findings.py), then what to
attach next time. Escaping and fixes: markdown_text.py.
"""

from __future__ import annotations

from typing import Any

from analyzer import __version__
from analyzer.findings import RANK
from analyzer.incidents import line as incident_line
from analyzer.pipeline import Analysis
from analyzer.report import verdict
from analyzer.report.json_report import capture_facts
from analyzer.report.markdown_attach import attach
from analyzer.report.markdown_findings import top_findings
from analyzer.report.markdown_text import escape, proxies_seen
from analyzer.rules.templates import code_span

# A ticket comment, not a report: room for the top findings' evidence and whole fixes.
MAX_LINES = 200
MAX_INCIDENT_LINES = 5  # as the verdict: a handful of incidents, then "… and N more"
MAX_SESSION_LINES = 8  # failed connections listed one line each
MAX_WARNINGS = 3  # capture-quality warnings quoted (each cut to 200 characters)
MAX_TLS_LINES = 3  # server names of TLS connections without keys, one line each


def render(result: Analysis) -> str:
    judged = verdict.build(result)
    named = verdict.named_incidents(judged.failed, result.incidents)
    head = _header(result, judged, named) + _incidents(named)
    attached = attach(result)
    sessions = _sessions(judged, _legs(result))
    room = MAX_LINES - len(head) - len(sessions) - len(attached)
    found = top_findings(result.findings, room, proxies_seen(result))
    lines = head + sessions + found + attached
    return "\n".join(lines).rstrip() + "\n"


def _volume(result: Analysis, facts: dict) -> str:
    """Packets when there is a capture; else how many sessions the logs and HARs gave."""
    if result.data.captures:
        return f"{facts['packets']:,} packets"
    return f"no capture, {result.data.sessions.height} session(s) from logs/HAR files"


def _header(result: Analysis, judged: verdict.Verdict, named: list[dict[str, Any]]) -> list[str]:
    facts = capture_facts(result.data.captures)
    when = ""
    if facts["start"] and facts["end"]:
        end = facts["end"][11:19] if facts["end"][:10] == facts["start"][:10] else facts["end"]
        when = f" · {facts['start'][:19].replace('T', ' ')} → {end[:19].replace('T', ' ')} UTC"
    lines = [
        f"### wsdoctor: {escape(_lead(judged, named))}",
        "",
        f"{_volume(result, facts)}{when} · wsdoctor {__version__} · inputs:",
        "",
        *(f"- {code_span(i['path'])} ({escape(i['kind'])})" for i in result.inputs),
        "",
    ]
    warnings = result.data.warnings
    for w in warnings[:MAX_WARNINGS]:
        lines.append(f"> ⚠ {escape(w if len(w) <= 200 else w[:199] + '…')}")
    if len(warnings) > MAX_WARNINGS:
        lines.append(f"> … and {len(warnings) - MAX_WARNINGS} more warnings")
    return [*lines, ""] if warnings else lines


def _lead(judged: verdict.Verdict, named: list[dict[str, Any]]) -> str:
    """The verdict; with more than one incident, without them (they follow as a list)."""
    if len(named) <= 1:
        return judged.headline
    return verdict.headline(judged.sessions, judged.capture_findings, [])


def _incidents(named: list[dict[str, Any]]) -> list[str]:
    """More than one incident: one line each, most severe and largest first; their fixes
    are in the findings below (one block per cause)."""
    if len(named) <= 1:
        return []
    lines = [
        f"{n}. **{i['severity'].upper()}** {escape(incident_line(i))} (`{i['rule']}`)"
        for n, i in enumerate(named[:MAX_INCIDENT_LINES], 1)
    ]
    if rest := named[MAX_INCIDENT_LINES:]:
        k = len({s for i in rest for s in i["sessions"]})
        lines.append(f"- … and {len(rest)} more incidents ({k} sessions): HTML or JSON report")
    return ["#### Incidents", "", *lines, ""]


def _legs(result: Analysis) -> dict[str, str]:
    """Upstream leg id -> its downstream leg's id, for every proxied connection."""
    rows = result.data.sessions.select("id", "other_leg", "hop_leg").iter_rows()
    return {sid: other for sid, other, hop in rows if other and hop == "upstream"}


def _sessions(judged: verdict.Verdict, legs: dict[str, str]) -> list[str]:
    """One line per failed connection: a proxied connection's two legs are one line, told
    from the client's leg; healthy ones are named (legs joined) on one line."""
    ups = {down: up for up, down in legs.items()}
    failed = sorted(  # most severe first, then in start order
        (s for s in judged.failed if s.session not in legs),
        key=lambda s: -RANK[s.severity or "info"],
    )
    lines = [_line(s, _joined(s.session, legs, ups)) for s in failed]
    if len(lines) > MAX_SESSION_LINES:
        rest = len(lines) - MAX_SESSION_LINES + 1
        lines = [*lines[: MAX_SESSION_LINES - 1], f"- … and {rest} more failed connections"]
    healthy = [_joined(s.session, legs, ups) for s in judged.seen if not s.failed]
    healthy = [h for h in healthy if h]
    if not failed and len(healthy) <= 3:  # nothing failed: say how each one ended
        lines = [
            _line(s, _joined(s.session, legs, ups)) for s in judged.seen if s.session not in legs
        ]
    elif healthy:
        named = ", ".join(healthy[:8]) + (f" +{len(healthy) - 8} more" if len(healthy) > 8 else "")
        lines.append(f"- healthy: {escape(named)}")
    lines += _tls(judged)
    return ["#### Sessions", "", *lines, ""] if lines else []


def _joined(session: str, legs: dict[str, str], ups: dict[str, str]) -> str:
    """'s1 ⇄ s2' for a downstream leg with its upstream leg; '' for an upstream leg (its
    connection is named from the downstream one); the id alone otherwise."""
    if session in legs:
        return ""
    return f"{session} ⇄ {ups[session]}" if session in ups else session


def _line(s: verdict.SessionVerdict, name: str) -> str:
    return f"- **{escape(name)}** {escape(s.sentence[len(s.session) + 1 :])}"


def _tls(judged: verdict.Verdict) -> list[str]:
    """TLS connections without keys, apart from the sessions: one line per server name."""
    groups = judged.tls
    if not groups:
        return []
    k = sum(len(g.sessions) for g in groups)
    lines = [f"- **TLS connections (possibly wss)**: {k} not decrypted (pass `--keylog`)"]
    for g in groups[:MAX_TLS_LINES]:
        ids = ", ".join(g.sessions[:6]) + (
            f" +{len(g.sessions) - 6} more" if len(g.sessions) > 6 else ""
        )
        name = f"SNI {g.sni}" if g.sni else "no SNI"
        lines.append(f"  - {escape(name)}: {len(g.sessions)} ({escape(ids)})")
    if len(groups) > MAX_TLS_LINES:
        lines.append(f"  - … and {len(groups) - MAX_TLS_LINES} more server names")
    return lines
