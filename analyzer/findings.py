"""Findings as a set: their order, stable fingerprints and the exit status they imply."""

from __future__ import annotations

import hashlib
from typing import Any

from analyzer.rules.model import SEVERITIES

RANK = {s: i for i, s in enumerate(SEVERITIES)}


def order(findings: list[dict[str, Any]], starts: dict[str, Any]) -> list[dict[str, Any]]:
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


def fingerprint(finding: dict[str, Any], session: dict[str, Any] | None) -> str:
    """Same rule on the same connection of the same capture -> same id across runs."""
    where = (
        f"{session.get('input')}|{session.get('tcp_stream')}|{session.get('client')}"
        if session
        else ""
    )
    return hashlib.sha256(f"{finding['rule']}|{where}".encode()).hexdigest()[:16]


def at_or_above(findings: list[dict[str, Any]], threshold: str | None) -> list[dict[str, Any]]:
    if threshold is None:
        return []
    return [f for f in findings if RANK[f["severity"]] >= RANK[threshold]]


def exit_status(findings: list[dict[str, Any]], fail_on: str | None) -> int:
    """0: nothing at or above --fail-on; 1: something is (contract exit codes)."""
    return 1 if at_or_above(findings, fail_on) else 0
