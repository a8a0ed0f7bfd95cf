"""Findings as a set: their order, stable fingerprints, which explains which, and the exit
status they imply."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from analyzer.rules.model import SEVERITIES

RANK = {s: i for i, s in enumerate(SEVERITIES)}
CONFIDENCE = {"low": 0, "medium": 1, "high": 2}
# Tie-break between equally severe findings: causes before symptoms (a missing close
# frame is what an idle proxy or a forged reset leaves behind, not why it happened).
CAUSE_FIRST = (
    "handshake-failure",
    "idle-timeout",
    "keepalive-misuse",
    "ping-timeout",
    "proxy-interference",
    "protocol-error",
    "server-error",
    "missing-close",
    "capture-quality",
)
CARD = RANK["medium"]  # at or above: a failure the reports show as a card of its own
SYMPTOM = "missing-close"  # what any cause on the connection leaves behind
CAUSES = frozenset(CAUSE_FIRST) - {SYMPTOM, "capture-quality"}

Finding = dict[str, Any]


def order(findings: list[Finding], starts: dict[str, Any]) -> list[Finding]:
    """Most severe first; then by session start, so a ticket reads top-down."""
    return sorted(
        findings,
        key=lambda f: (
            -RANK[f["severity"]],
            f["session"] is not None,
            str(starts.get(f["session"], "")),
            f["rule"],
        ),
    )


def worst(findings: Iterable[Finding]) -> Finding | None:
    """Most severe, then most confident, then the likeliest cause; None without findings."""
    ranked = sorted(findings, key=_rank)
    return ranked[0] if ranked else None


def _rank(f: Finding) -> tuple[int, int, int]:
    category = f["category"]
    cause = CAUSE_FIRST.index(category) if category in CAUSE_FIRST else len(CAUSE_FIRST)
    return -RANK[f["severity"]], -CONFIDENCE.get(f.get("confidence", "low"), 0), cause


def fingerprint(finding: Finding, session: dict[str, Any] | None) -> str:
    """Same rule on the same connection of the same capture -> same id across runs."""
    where = (
        f"{session.get('input')}|{session.get('tcp_stream')}|{session.get('client')}"
        if session
        else ""
    )
    return hashlib.sha256(f"{finding['rule']}|{where}".encode()).hexdigest()[:16]


def connections(other_leg: dict[str, str | None]) -> dict[str, str]:
    """Each session id -> its connection's id: the session itself, or for the legs of one
    proxied connection (linked by `other_leg`, through any number of hops) the first of
    them in `other_leg`'s order (the sessions' start order)."""
    root: dict[str, str] = {}

    def find(s: str) -> str:
        while root.get(s, s) != s:
            s = root[s]
        return s

    for s, other in other_leg.items():
        if other is not None and other in other_leg:
            a, b = find(s), find(other)
            if a != b:
                first, second = sorted((a, b), key=list(other_leg).index)
                root[second] = first
    return {s: find(s) for s in other_leg}


def link(findings: list[Finding], legs: dict[str, dict[str, Any]]) -> None:
    """Set every finding's `explained_by`: the fingerprint of its root cause's finding, or
    None for a root cause. `legs`: each session id -> its `other_leg` and `hop_leg`, in
    start order.

    One connection (a session, or both legs of a proxied one) tells one story, so it gets
    one card per cause: the same rule on both legs folds under the downstream leg's finding;
    a missing close folds under the connection's worst cause at medium or above (a proxy's
    idle teardown explains it); a handshake failure folds under a proxy finding at medium
    or above that is as severe and as confident (the proxy that refused the upgrade or the
    CONNECT is the cause, and its fix holds the proxy's settings: one card, one fix); a
    weaker guess at a proxy does not outrank a refusal the capture shows; of what is left at
    medium or above, a lesser finding of the same category folds under the worst one.
    """
    conn = connections({s: row["other_leg"] for s, row in legs.items()})
    by_conn: dict[str, list[Finding]] = {}
    for f in findings:
        f["explained_by"] = None
        if f["session"] is not None:
            by_conn.setdefault(conn.get(f["session"], f["session"]), []).append(f)
    seq = {s: i for i, s in enumerate(legs)}

    def downstream_first(f: Finding) -> tuple[bool, int]:
        row = legs.get(f["session"], {})
        return row.get("hop_leg") == "upstream", seq.get(f["session"], len(seq))

    for group in by_conn.values():
        _fold(group, downstream_first)


def _fold(group: list[Finding], downstream_first: Callable[[Finding], Any]) -> None:
    """`link` for the findings of one connection."""
    under: dict[int, Finding] = {}  # id(finding) -> the finding it folds under
    same_rule: dict[str, Finding] = {}
    for f in sorted(group, key=downstream_first):
        head = same_rule.setdefault(f["rule"], f)
        if head is not f:
            under[id(f)] = head
    ranked = sorted(
        (f for f in group if id(f) not in under), key=lambda f: (_rank(f), downstream_first(f))
    )
    cards = [f for f in ranked if RANK[f["severity"]] >= CARD]
    cause = next((c for c in cards if c["category"] in CAUSES), None)
    for f in ranked:
        if f["category"] == SYMPTOM and cause is not None:
            under[id(f)] = cause
    proxy = next((c for c in cards if c["category"] == "proxy-interference"), None)
    for f in cards:  # a refused upgrade whose refusal a proxy finding names, as surely
        if (
            f["category"] == "handshake-failure"
            and proxy is not None
            and id(f) not in under
            and _rank(proxy)[:2] <= _rank(f)[:2]
        ):
            under[id(f)] = proxy
    same_category: dict[str, Finding] = {}
    for f in cards:
        if id(f) not in under:
            head = same_category.setdefault(f["category"], f)
            if head is not f:
                under[id(f)] = head
    for f in group:
        head = f
        while id(head) in under:
            head = under[id(head)]
        f["explained_by"] = None if head is f else head["fingerprint"]


def at_or_above(findings: list[Finding], threshold: str | None) -> list[Finding]:
    if threshold is None:
        return []
    return [f for f in findings if RANK[f["severity"]] >= RANK[threshold]]


def exit_status(findings: list[Finding], fail_on: str | None) -> int:
    """0: nothing at or above --fail-on; 1: something is (contract exit codes)."""
    return 1 if at_or_above(findings, fail_on) else 0
