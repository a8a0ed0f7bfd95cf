"""The contract's JSON report (`wsdoctor.report/1`): what ticket tooling and CI gates parse."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from analyzer import __version__
from analyzer.pipeline import Analysis
from analyzer.report.records import session_records

SCHEMA = "wsdoctor.report/1"
SUMMED = ("packets", "truncated_packets", "lost_segments", "retransmissions", "tcp_connections")
SUMMED += ("sessions", "encrypted_sessions", "recovered_sessions")


def capture_facts(captures: list[dict[str, Any]]) -> dict[str, Any]:
    """Quality facts over all capture inputs, with each file's own facts kept under `files`."""
    starts = [c["start"] for c in captures if c.get("start")]
    ends = [c["end"] for c in captures if c.get("end")]
    return {
        **{k: sum(c.get(k) or 0 for c in captures) for k in SUMMED},
        "start": _iso(min(starts)) if starts else None,
        "end": _iso(max(ends)) if ends else None,
        "snaplen": min((c["snaplen"] for c in captures if c.get("snaplen")), default=None),
        "damaged": any(c.get("damaged") for c in captures),
        "files": [{k: _iso(v) for k, v in c.items()} for c in captures],
    }


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def report(result: Analysis) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "tool": {"name": "wsdoctor", "version": __version__},
        "redacted": result.redacted,
        "inputs": result.inputs,
        "capture": capture_facts(result.data.captures),
        "logs": [{k: _iso(v) for k, v in log.items()} for log in result.data.logs],
        "hars": result.data.hars,
        "sessions": session_records(result.data.sessions),
        "findings": result.findings,
        "warnings": result.data.warnings,
        "rules": [{"id": r.id, "severity": r.severity, "params": r.params} for r in result.rules],
    }


def render(result: Analysis) -> str:
    return json.dumps(report(result), indent=2, ensure_ascii=False) + "\n"
