"""The contract's JSON report (`wsdoctor.report/1`): what ticket tooling and CI gates parse.

Its records are typed by `json_types` (TypedDicts, keys in the order written) and
published as a JSON Schema in `report.schema.json`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, cast

from analyzer import __version__
from analyzer.pipeline import Analysis
from analyzer.report import json_text
from analyzer.report.json_types import (
    CaptureFacts,
    CaptureFile,
    Finding,
    HarFile,
    Incident,
    Input,
    LogFile,
    Report,
    RuleUsed,
    Severity,
)
from analyzer.report.records import session_records

SCHEMA: Final = "wsdoctor.report/1"
SUMMED = ("packets", "truncated_packets", "lost_segments", "retransmissions", "tcp_connections")
SUMMED += ("sessions", "encrypted_sessions", "recovered_sessions")


def capture_facts(captures: list[dict[str, Any]]) -> CaptureFacts:
    """Quality facts over all capture inputs, with each file's own facts kept under `files`."""
    starts = [c["start"] for c in captures if c.get("start")]
    ends = [c["end"] for c in captures if c.get("end")]
    facts = {
        **{k: sum(c.get(k) or 0 for c in captures) for k in SUMMED},
        "start": _iso(min(starts)) if starts else None,
        "end": _iso(max(ends)) if ends else None,
        "snaplen": min((c["snaplen"] for c in captures if c.get("snaplen")), default=None),
        "damaged": any(c.get("damaged") for c in captures),
        "files": [cast(CaptureFile, _times(c)) for c in captures],
    }
    return cast(CaptureFacts, facts)


def _times(facts: dict[str, Any]) -> dict[str, Any]:
    """A pipeline fact record with its datetimes as ISO text, keys as the pipeline wrote them."""
    return {k: _iso(v) for k, v in facts.items()}


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def report(result: Analysis) -> Report:
    """The pipeline's records pass through as they are (a field the pipeline adds reaches
    the report, and tests/report/test_json_schema.py asks for it to be documented); the TypedDicts
    say what they hold."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "wsdoctor", "version": __version__},
        "redacted": result.redacted,
        "inputs": cast(list[Input], result.inputs),
        "capture": capture_facts(result.data.captures),
        "logs": [cast(LogFile, _times(log)) for log in result.data.logs],
        "hars": cast(list[HarFile], result.data.hars),
        "sessions": session_records(result.data.sessions),
        "findings": cast(list[Finding], result.findings),
        "incidents": cast(list[Incident], result.incidents),
        "warnings": result.data.warnings,
        "rules": [
            RuleUsed(id=r.id, severity=cast(Severity, r.severity), params=r.params)
            for r in result.rules
        ],
    }


def render(result: Analysis) -> bytes:
    """The report as indented JSON text in UTF-8 (json_text)."""
    return json_text.dumps(report(result))
