"""What a rule is once read: the `Rule` and `Case` records, the vocabularies of a rule's
fields, and the session columns (with typical values) its condition and texts may name.

Reading and checking a rule file is analyzer/rules/parse.py (with metadata.py for the
rule's own fields and cases.py for its tests); rules/README.md describes the format.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.ingest import kinds
from analyzer.schema import ANOMALIES, FRAMES
from analyzer.session_schema import SESSIONS

SEVERITIES = ("info", "low", "medium", "high", "critical")
CONFIDENCES = ("low", "medium", "high")
STATUSES = ("stable", "experimental", "deprecated")
REQUIRED = ("id", "title", "category", "severity", "confidence", "rationale", "when")
REQUIRED += ("summary", "fix", "references", "tests")
OPTIONAL = ("status", "tags", "params", "evidence", "false_positives", "sources")
OPTIONAL += ("defers_to",)
SOURCES = kinds.names()  # the input kinds (analyzer/ingest/kinds.py): capture, har, log
# What a rule reads unless it says: the wire (a capture, or a HAR's frames). Log-only
# sessions fill the close columns from log lines, so wire rules would misread them.
DEFAULT_SOURCES = kinds.wire_names()
ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class Evidence:
    text: str
    frame: str | None = None
    time: str | None = None
    log: str | None = None  # a feature holding "file:line" of a log line


@dataclass(frozen=True)
class Case:
    """A must-hit / must-not-hit example: a sample's input or a hand-written feature row."""

    hit: Any  # list of session ids (sample) or bool (features)
    sample: str | None = None
    input: str | None = None  # a file of the sample folder (capture, log, HAR)
    keys: bool = True
    features: dict[str, Any] | None = None
    line: int = 0
    params: dict[str, Any] | None = None  # the rule's params this case sets


@dataclass
class Rule:
    id: str
    title: str
    category: str
    severity: str
    confidence: str
    rationale: str
    when: Any
    summary: str
    fix: str
    references: list[str]
    tests: list[Case]
    params: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    status: str = "stable"
    tags: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)
    sources: tuple[str, ...] = DEFAULT_SOURCES
    # rules whose finding on a session replaces this rule's (analyzer/rules/precedence.py)
    defers_to: tuple[str, ...] = ()
    defers_lines: tuple[int, ...] = ()  # the line of each id, for messages
    aggregates: list[Any] = field(default_factory=list)
    path: Path | None = None
    line: int = 1
    raw: dict[str, Any] = field(default_factory=dict)


def session_columns() -> dict[str, pl.DataType]:
    """A fresh copy (callers add aggregate columns) of the schema, which is built once."""
    return dict(_session_schema())


@functools.cache
def _session_schema() -> dict[str, pl.DataType]:
    return dict(SESSIONS.polars)


@functools.cache
def empty_table(table: str) -> pl.DataFrame:
    schema = {"sessions": _session_schema(), **tables()}[table]
    return pl.DataFrame(schema=schema)


def tables() -> dict[str, dict[str, pl.DataType]]:
    """A fresh copy of the aggregate tables' schemas, which are built once."""
    return {name: dict(columns) for name, columns in _table_schemas().items()}


@functools.cache
def _table_schemas() -> dict[str, dict[str, pl.DataType]]:
    return {"frames": dict(FRAMES.polars), "anomalies": dict(ANOMALIES.polars)}


def typical_row(columns: dict[str, pl.DataType], params: dict[str, Any]) -> dict[str, Any]:
    """A session where every feature (and aggregate alias) holds a typical value of its type,
    plus the rule's params: rendering a rule's templates against it at validation runs every
    branch that depends on a value being present."""
    base = _typical_sessions()
    return {k: base[k] if k in base else _typical(t) for k, t in columns.items()} | params


@functools.cache
def _typical_sessions() -> dict[str, Any]:
    return {k: _typical(t) for k, t in session_columns().items()}


def _typical(dtype: pl.DataType) -> Any:
    if dtype == pl.Boolean:
        return True
    if dtype.is_integer():
        return 7
    if dtype.is_float():
        return 12.5
    if dtype == pl.String:
        return "example"
    if isinstance(dtype, pl.Datetime):
        return datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    if isinstance(dtype, pl.Duration):
        return timedelta(seconds=12.5)
    if isinstance(dtype, pl.List):
        return [_typical(dtype.inner)]
    if isinstance(dtype, pl.Struct):
        return {f.name: _typical(f.dtype) for f in dtype.fields}
    return None
