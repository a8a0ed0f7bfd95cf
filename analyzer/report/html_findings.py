"""The HTML report's findings: full cards within a count and byte budget, then one-liners.

Full findings are grouped by severity and capped (MAX_FULL_FINDINGS, FINDINGS_BUDGET,
MAX_FULL_PER_RULE per rule); the rest are listed one line each up to MAX_BRIEF_FINDINGS,
and what is left is counted, never silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from analyzer.report import markup
from analyzer.report.html_text import MAX_VALUE, clock, cut
from analyzer.rules.model import SEVERITIES

MAX_FULL_FINDINGS = 100  # findings shown with evidence, fix and references
MAX_FULL_PER_RULE = 5  # of those, per rule: repeats of one rule go to the one-line list
FINDINGS_BUDGET = 450_000  # bytes of fix HTML + evidence text over those findings
MAX_BRIEF_FINDINGS = 300  # further findings listed one line each
MAX_EVIDENCE = 12  # evidence lines per finding


def finding_cards(
    found: list[dict[str, Any]], rows: dict[str, dict[str, Any]], shown: set[str]
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], int]:
    """Full findings grouped by severity (within a byte budget), then one-liners.

    A fix identical to one already shown becomes a link to it; the fix of a rule already
    shown for another session starts collapsed, and its rationale links to the first card
    that shows it; past MAX_FULL_PER_RULE a rule's findings are listed one line each, so a
    rare rule is never crowded out by a frequent one."""
    full: dict[str, list[dict[str, Any]]] = {s: [] for s in reversed(SEVERITIES)}
    brief: list[dict[str, Any]] = []
    fixes: dict[str, str] = {}  # fix text -> anchor of the finding that shows it
    per_rule: dict[str, int] = {}
    whys: dict[str, str] = {}  # rule -> anchor of the finding that shows its rationale
    spent = 0
    for i, f in enumerate(found):
        view = _finding(i, f, rows.get(f["session"]), shown, fixes)
        first = f["rule"] not in per_rule  # its rationale is shown once, with its first card
        why_cost = view.pop("why_cost")
        cost = view.pop("cost") + (why_cost if first else 0)
        room = sum(map(len, full.values())) < MAX_FULL_FINDINGS and spent + cost <= FINDINGS_BUDGET
        if room and per_rule.get(f["rule"], 0) < MAX_FULL_PER_RULE:
            spent += cost
            view["fix_open"] = first
            view["same_why_as"] = None if first else whys[f["rule"]]
            whys.setdefault(f["rule"], view["anchor"])
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
    why = markup.render(f.get("rationale"))  # the rule's own Markdown, made inert as the fix
    doubts = [markup.inline(t) for t in f.get("false_positives", [])]
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
        "why": why,
        "false_positives": doubts,
        "tags": list(f.get("tags", [])),
        "same_why_as": None,
        "why_cost": len(why) + sum(map(len, doubts)),
        "cost": len(fix_html)
        + len(f.get("summary", ""))
        + sum(len(e["text"]) + 80 for e in evidence)
        + 800,
    }


def _brief(summary: str | None) -> str:
    """The summary as plain text for the one-line list, cut; only its head is rendered,
    since a one-liner never shows more (a 20k-character header costs nothing here)."""
    return cut(markup.plain((summary or "")[: 4 * MAX_VALUE]))


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
