"""The HTML report's incidents: one row of the incident table and one card each.

An incident is one cause across sessions and input files (analyzer/incidents.py). Its
card carries what every session of it shares, once: the fix, the reasoning, the
references, and one session's evidence as an example. The sessions table links back.
"""

from __future__ import annotations

from typing import Any

from analyzer.incidents import seconds
from analyzer.report import markup
from analyzer.report.html_findings import Cards, references
from analyzer.report.html_text import span

MAX_IDS = 60  # session ids listed in an incident card before "+N more"
FIXES_BUDGET = 150_000  # bytes of fixes repeated for one rule's further incidents
MAX_CARDS = 150  # incidents with a card; the rest (least severe, smallest): a table row


def incident_views(incidents: list[dict[str, Any]], cards: Cards) -> list[dict[str, Any]]:
    """Cards in incident order. One rule's incidents (one per proxy, or per timer) share
    a rationale, written out once; an identical fix is too. A fix that differs only in
    its values is written out while FIXES_BUDGET lasts, then links to the rule's first
    (a fleet can hold a hundred incidents of a dozen rules)."""
    views, fixes, whys, spent = [], {}, {}, 0
    for incident in incidents:
        first = whys.setdefault(incident["rule"], incident["id"]) == incident["id"]
        view = _view(incident, cards, first)
        view["same_why_as"] = whys[incident["rule"]]
        view["same_fix_as"] = fixes.setdefault(incident.get("fix") or "", incident["id"])
        view["own_values"] = False
        view["card"] = len(views) < MAX_CARDS
        if view["same_fix_as"] == incident["id"] and not first:
            spent += len(view["fix"])
            if spent > FIXES_BUDGET:  # the rule's fix is shown, with another's values
                view["same_fix_as"], view["own_values"] = whys[incident["rule"]], True
        if view["same_fix_as"] != incident["id"]:
            view["fix"] = ""
        views.append(view)
    return views


def _view(incident: dict[str, Any], cards: Cards, first: bool) -> dict[str, Any]:
    """`first`: the first incident of its rule, which shows the rule's reasoning,
    references and an example's evidence; the others link to it."""
    example = _example(incident, cards) if first else None
    sessions = incident["sessions"]
    return {
        **{k: incident[k] for k in ("id", "rule", "category", "severity", "confidence")},
        "cause": incident["cause"][:1].upper() + incident["cause"][1:],
        "connections": incident["connections"],
        "sessions": sessions[:MAX_IDS],
        "sessions_omitted": max(0, len(sessions) - MAX_IDS),
        "session_count": len(sessions),
        "when": span(incident["first"], incident["last"]),
        "measure": measure(incident.get("measure")),
        "numbers": numbers(incident.get("measure")),
        "every": f"every {seconds(incident['every_s'])}" if incident.get("every_s") else "",
        "fix": markup.render(incident.get("fix")),
        "example": cards.card(example) if example else None,
        "why": markup.render(example.get("rationale")) if example else "",
        "false_positives": [markup.inline(t) for t in (example or {}).get("false_positives", [])],
        "references": references(example) if example else [],
    }


def _example(incident: dict[str, Any], cards: Cards) -> dict[str, Any] | None:
    """The root finding of the incident's first session (or of its other leg)."""
    found = (
        cards.finding(sid, p) for sid in incident["sessions"][:2] for p in incident["findings"]
    )
    return next((f for f in found if f is not None and cards.root_of(f) is None), None)


def measure(m: dict[str, Any] | None) -> str:
    """`client silence before the close: 10.0–10.1 s (median 10.0)`."""
    return f"{m['name']}: {numbers(m)}" if m else ""


def numbers(m: dict[str, Any] | None) -> str:
    """`10.0–10.1 s (median 10.0)`; one value when all agree."""
    if not m:
        return ""
    unit = f" {m['unit']}" if m.get("unit") else ""
    low, mid, high = (f"{m[k]:,.1f}" for k in ("min", "median", "max"))
    return f"{low}{unit}" if low == high else f"{low}–{high}{unit} (median {mid})"
