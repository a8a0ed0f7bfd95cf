"""The HTML report's finding cards: one per root cause, its symptoms folded inside.

A finding whose `explained_by` names another (a missing close that a proxy's idle
teardown explains; the upstream leg's copy of a cause seen on both legs) is no card of
its own: it is listed under its root's card as "also seen". A card's fix is its
incident's (shown once, in the incident); only a finding outside every incident (info,
capture-level) carries its own fix.

Full cards (evidence, symptoms with their summaries) go to the incidents' examples and
to the rows drawn with timelines; evidence is shown within FINDINGS_BUDGET bytes over
the whole report, in that order, and past it a card says the JSON report has it. The
other rows show each root finding as one line (`Cards.line`): a thousand sessions stay
a few MB.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from analyzer.findings import RANK
from analyzer.report import markup
from analyzer.report.html_text import MAX_VALUE, clock, cut

FINDINGS_BUDGET = 500_000  # bytes of evidence and fix HTML over every card
MAX_EVIDENCE = 12  # evidence lines per finding
MAX_LINE = 160  # characters of a summary in a one-line finding
MAX_ALSO = 12  # symptoms listed under one root cause


class Cards:
    """Findings by session and by fingerprint, and the cards they make."""

    def __init__(
        self,
        found: list[dict[str, Any]],
        starts: dict[str, datetime | None],
        other_leg: dict[str, str | None],
    ) -> None:
        self.starts = starts  # session start: evidence offsets
        self.other_leg = other_leg
        self.index = {id(f): i for i, f in enumerate(found)}
        self.by_session: dict[str | None, list[dict[str, Any]]] = {}
        self.by_print: dict[tuple[str | None, str], dict[str, Any]] = {}
        for f in found:
            self.by_session.setdefault(f["session"], []).append(f)
            self.by_print.setdefault((f["session"], f.get("fingerprint") or ""), f)
        self.symptoms: dict[int, list[dict[str, Any]]] = {}
        for f in found:
            if root := self.root_of(f):
                self.symptoms.setdefault(id(root), []).append(f)
        self.spent = 0

    def root_of(self, f: dict[str, Any]) -> dict[str, Any] | None:
        """The finding that explains `f` (on its session or its other leg), or None when
        `f` is a root cause itself."""
        cause = f.get("explained_by")
        if not cause:
            return None
        for sid in (f["session"], self.other_leg.get(f["session"])):
            root = self.by_print.get((sid, cause))
            if root is not None and root is not f:
                return root
        return None

    def finding(self, sid: str, fingerprint: str) -> dict[str, Any] | None:
        return self.by_print.get((sid, fingerprint))

    def findings_of(self, sid: str | None) -> list[dict[str, Any]]:
        return self.by_session.get(sid, [])

    def for_session(self, sid: str | None, full: bool = True) -> list[dict[str, Any]]:
        """The session's root findings as cards, most severe first; not `full`: one line
        each (title, summary, symptoms by name), for rows past the detailed ones."""
        roots = [f for f in self.findings_of(sid) if self.root_of(f) is None]
        roots.sort(key=lambda f: -RANK[f["severity"]])
        return [self.card(f) if full else self.line(f) for f in roots]

    def line(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.symptom(f),
            "summary": brief(f.get("summary"), MAX_LINE),
            "compact": True,
            "incident": f.get("incident"),
            "also": self.also(f),
        }

    def also(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        """The symptoms `f` explains, one line each (a connection has a handful)."""
        return [self.symptom(s) for s in self.symptoms.get(id(f), [])[:MAX_ALSO]]

    def card(self, f: dict[str, Any]) -> dict[str, Any]:
        evidence = [self.evidence(e, f["session"]) for e in f.get("evidence", [])[:MAX_EVIDENCE]]
        own_fix = markup.render(f.get("fix")) if not f.get("incident") else Markup("")
        cost = len(own_fix) + sum(len(e["text"]) + 120 for e in evidence)
        kept = self.spent + cost <= FINDINGS_BUDGET
        self.spent += cost if kept else 0
        return {
            "anchor": f"finding-{self.index[id(f)] + 1}",
            "compact": False,
            **{k: f.get(k) for k in ("rule", "category", "severity", "confidence", "title")},
            "session": f["session"],
            "incident": f.get("incident"),
            "summary": markup.inline(f.get("summary")),
            "evidence": evidence if kept else [],
            "evidence_omitted": len(f.get("evidence", [])) - (len(evidence) if kept else 0),
            "fix": own_fix if kept else Markup(""),
            "references": [] if f.get("incident") else references(f),
            "also": self.also(f),
        }

    def symptom(self, f: dict[str, Any]) -> dict[str, Any]:
        """A finding folded under its root: one line, with its own numbers."""
        return {
            "anchor": f"finding-{self.index[id(f)] + 1}",
            "severity": f["severity"],
            "title": f["title"],
            "session": f["session"],
            "rule": f["rule"],
            "summary": brief(f.get("summary")),
        }

    def evidence(self, e: dict[str, Any], sid: str | None) -> dict[str, Any]:
        start = self.starts.get(sid) if sid else None
        offset = ""
        if e.get("time") and start is not None:
            offset = f"+{(datetime.fromisoformat(e['time']) - start).total_seconds():.3f} s"
        return {
            "time": clock(e.get("time")),
            "offset": offset,
            "frame": e.get("frame"),
            "log": e.get("log"),
            "log_name": _log_name(e.get("log")),
            "text": markup.inline(e["text"]),
        }


def references(f: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"url": u, "safe": markup.safe_url(u)} for u in f.get("references", [])]


def brief(summary: str | None, limit: int = MAX_VALUE) -> str:
    """The summary as plain text for a one-line mention, cut; only its head is rendered,
    since a one-liner never shows more (a 20k-character header costs nothing here)."""
    return cut(markup.plain((summary or "")[: 4 * limit]), limit)


def _log_name(ref: str | None) -> str | None:
    """`/long/path/client.log:53` -> `client.log:53`: the column is narrow; the full
    reference stays in the title and in the finding's text."""
    return Path(ref).name if ref else None
