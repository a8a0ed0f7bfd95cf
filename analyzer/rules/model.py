"""A rule file -> a checked `Rule`, or the list of every problem in it with its line.

The checks are the rule format's specification (rules/README.md describes it for
authors): required keys and their types, the contract's category vocabulary, known
features and operators in `when`, declared params, template names, and test cases.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.ingest import kinds
from analyzer.rules import templates
from analyzer.rules.condition import (
    Aggregate,
    Group,
    Leaf,
    Problem,
    Scope,
    compile_condition,
    parse,
)
from analyzer.schema import ANOMALIES, CATEGORIES, FRAMES
from analyzer.session_schema import SESSIONS
from analyzer.yamlsource import Source, Where

SEVERITIES = ("info", "low", "medium", "high", "critical")
CONFIDENCES = ("low", "medium", "high")
STATUSES = ("stable", "experimental", "deprecated")
REQUIRED = ("id", "title", "category", "severity", "confidence", "rationale", "when")
REQUIRED += ("summary", "fix", "references", "tests")
OPTIONAL = ("status", "tags", "params", "evidence", "false_positives", "sources")
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
def _empty(table: str) -> pl.DataFrame:
    schema = {"sessions": _session_schema(), **_tables()}[table]
    return pl.DataFrame(schema=schema)


def parse_rule(source: Source) -> tuple[Rule | None, list[Problem]]:
    """Check every field of one rule file; the Rule only when nothing is wrong."""
    data, problems = source.data, [Problem(w, "duplicate key") for w, _ in source.duplicates]
    if not isinstance(data, dict):
        return None, [Problem((), "a rule file must be a YAML mapping")]
    problems += [Problem((k,), "missing required field") for k in REQUIRED if k not in data]
    problems += [
        Problem((k,), f"unknown field (allowed: {', '.join(REQUIRED + OPTIONAL)})")
        for k in data
        if k not in REQUIRED + OPTIONAL
    ]
    _check_scalars(data, problems)
    params = data.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        problems.append(Problem(("params",), "params must map names to default values"))
        params = {}
    problems += [Problem(("params", k), m) for k, v in params.items() if (m := _param(v))]
    columns = session_columns()
    clash = sorted(set(params) & set(columns))
    problems += [Problem(("params", k), "param name shadows a feature") for k in clash]
    scope = Scope(columns, params, _tables(), problems, [])
    when = parse(data["when"], ("when",), scope) if "when" in data else None
    if when is not None and not problems:
        problems += _type_check(when, scope)
    known = set(scope.columns) | set(params)
    row = typical_row(scope.columns, params) | _when_values(when) | _hit_features(data)
    for key in ("summary", "fix"):
        if key in data and (msg := templates.check(data[key], known, row)):
            problems.append(Problem((key,), msg))
    evidence = _evidence(data.get("evidence", []), scope.columns, (known, row), problems)
    tests = _cases(data.get("tests"), source, problems)
    if problems:
        return None, problems
    rule = Rule(
        **{k: data[k] for k in REQUIRED if k not in ("when", "tests")},
        when=when,
        tests=tests,
        params=params,
        evidence=evidence,
        **{k: data[k] for k in ("status", "tags", "false_positives") if k in data},
        sources=tuple(data.get("sources", DEFAULT_SOURCES)),
        aggregates=scope.aggregates,
        path=source.path,
        line=source.line(("id",)),
        raw=data,
    )
    return rule, []


def _tables() -> dict[str, dict[str, pl.DataType]]:
    return {"frames": dict(FRAMES.polars), "anomalies": dict(ANOMALIES.polars)}


def _param(value: Any) -> str | None:
    """Why a param's default cannot reach polars and the templates, or None: a finite
    number within 64 bits, text, true/false, or a flat list or map of those."""
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    for item in items if isinstance(value, list | dict) else [value]:
        if isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a finite number"
        if isinstance(item, int) and item not in INT64:
            return "integer out of the 64-bit range"
        if not isinstance(item, bool | int | float | str):
            return "a param is a number, text, true/false, or a flat list or map of them"
    return None


def _type_check(when: Any, scope: Scope) -> list[Problem]:
    """Run the compiled condition on empty tables, so polars checks every operand's type
    now: a param of the wrong kind fails `rules validate`, not an analysis."""
    aliases = [pl.Series(k, [], t) for k, t in scope.columns.items() if k not in SESSIONS.columns]
    checks = [(_empty("sessions").with_columns(aliases), when)]
    checks += [(_empty(a.table), a.where) for a in scope.aggregates if a.where is not None]
    for frame, condition in checks:
        try:
            frame.select(compile_condition(condition, scope.params))
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).splitlines()[0].split(" (lhs:")[0]
            return [
                Problem(("when",), f"the condition does not type-check: {reason}{_hint(scope)}")
            ]
    return []


def _hint(scope: Scope) -> str:
    """YAML 1.1 reads `1e400` (no dot) as text: name the params that may be meant as numbers."""
    texts = [k for k, v in scope.params.items() if isinstance(v, str) and _numeric(v)]
    if not texts:
        return ""
    names = ", ".join(texts)
    return f" (param {names} is text; in YAML a number with an exponent needs a dot: 1.0e+3)"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def typical_row(columns: dict[str, pl.DataType], params: dict[str, Any]) -> dict[str, Any]:
    """A session where every feature (and aggregate alias) holds a typical value of its type,
    plus the rule's params: rendering a rule's templates against it at validation runs every
    branch that depends on a value being present."""
    base = _typical_sessions()
    return {k: base[k] if k in base else _typical(t) for k, t in columns.items()} | params


def _when_values(node: Any) -> dict[str, Any]:
    """Values the condition asks for (`eq: 1001`, the first of `in: [...]`), so the row
    looks like a session the rule matches; what a `not` excludes is left alone."""
    if isinstance(node, Group):
        items = node.items if node.kind != "not" else ()
        return {k: v for item in items for k, v in _when_values(item).items()}
    if isinstance(node, Aggregate):
        return {f"{node.alias}_{k}": v for k, v in _when_values(node.count).items()}
    if not isinstance(node, Leaf) or isinstance(node.value, tuple | dict):
        return {}
    listed = node.op in ("in", "between") and isinstance(node.value, list) and node.value
    value = node.value[0] if listed else node.value
    wanted = node.op in ("eq", "ge", "le", "in", "between")
    return {node.column: value} if wanted and not isinstance(value, tuple | list | dict) else {}


def _hit_features(data: dict[str, Any]) -> dict[str, Any]:
    """The first must-hit feature row the rule's tests give: its author's own example."""
    tests = data.get("tests")
    for case in tests if isinstance(tests, list) else []:
        features = case.get("features") if isinstance(case, dict) else None
        if isinstance(features, dict) and case.get("hit") is True:
            return features
    return {}


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


def _check_scalars(data: dict[str, Any], problems: list[Problem]) -> None:
    def bad(key: str, message: str) -> None:
        problems.append(Problem((key,), message))

    if "id" in data and not (isinstance(data["id"], str) and ID.fullmatch(data["id"])):
        bad("id", "id must be lower-case words joined by '-' (e.g. idle-before-1011)")
    for key in ("title", "rationale"):
        if key in data and not (isinstance(data[key], str) and data[key].strip()):
            bad(key, "must be non-empty text")
    choices = {"category": CATEGORIES, "severity": SEVERITIES, "confidence": CONFIDENCES}
    for key, allowed in {**choices, "status": STATUSES}.items():
        if key in data and data[key] not in allowed:
            bad(key, f"{data[key]!r} is not one of {', '.join(allowed)}")
    refs = data.get("references")
    if "references" in data and not (
        isinstance(refs, list) and refs and all(_is_url(r) for r in refs)
    ):
        bad("references", "references must be a non-empty list of http(s) URLs")
    sources = data.get("sources", list(DEFAULT_SOURCES))
    if not (isinstance(sources, list) and sources and all(s in SOURCES for s in sources)):
        bad("sources", f"sources must be a non-empty list of {', '.join(SOURCES)}")
    for key in ("tags", "false_positives"):
        if key in data and not (
            isinstance(data[key], list) and all(isinstance(t, str) for t in data[key])
        ):
            bad(key, "must be a list of strings")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"https?://\S+$", value) is not None


def _evidence(
    raw: Any,
    columns: dict[str, pl.DataType],
    names: tuple[set[str], dict[str, Any]],
    problems: list[Problem],
) -> list[Evidence]:
    """The evidence items; `names` are the template names allowed and a typical row."""
    if not isinstance(raw, list):
        problems.append(Problem(("evidence",), "evidence must be a list"))
        return []
    out = []
    for i, item in enumerate(raw):
        where: Where = ("evidence", i)
        if (
            not isinstance(item, dict)
            or "text" not in item
            or set(item) - {"text", "frame", "time", "log"}
        ):
            problems.append(Problem(where, "an evidence item is {text, frame?, time?, log?}"))
            continue
        if msg := templates.check(item["text"], *names):
            problems.append(Problem((*where, "text"), msg))
        for key, want in (("frame", pl.Int64), ("time", pl.Datetime), ("log", pl.String)):
            name = item.get(key)
            if name is not None and not isinstance(name, str):
                problems.append(Problem((*where, key), f"`{key}` takes a {key} feature's name"))
            elif name is not None and not _column_is(columns.get(name), want):
                problems.append(Problem((*where, key), f"{name!r} is not a {key} feature"))
        out.append(Evidence(item["text"], item.get("frame"), item.get("time"), item.get("log")))
    return out


def _column_is(dtype: pl.DataType | None, want: Any) -> bool:
    if dtype is None:
        return False
    if want is pl.String:
        return dtype == pl.String
    return dtype.is_temporal() if want is pl.Datetime else dtype.is_integer()


def _cases(raw: Any, source: Source, problems: list[Problem]) -> list[Case]:
    if not isinstance(raw, list) or not raw:
        if raw is not None:
            problems.append(Problem(("tests",), "tests must be a non-empty list"))
        return []
    cases = [c for i, item in enumerate(raw) if (c := _case(item, i, source, problems))]
    hits = [c for c in cases if c.hit not in ([], False)]
    if cases and (not hits or len(hits) == len(cases)):
        problems.append(
            Problem(("tests",), "tests need at least one case that must hit and one that must not")
        )
    return cases


def _case(item: Any, i: int, source: Source, problems: list[Problem]) -> Case | None:
    where: Where = ("tests", i)
    line = source.line(where)
    if not isinstance(item, dict) or ("sample" in item) == ("features" in item):
        problems.append(
            Problem(
                where, "a test is {sample: NAME, hit: [ids]} or {features: {...}, hit: true|false}"
            )
        )
        return None
    extra = set(item) - {"sample", "input", "keys", "hit", "features", "note"}
    if extra:
        problems.append(Problem(where, f"unknown test keys {sorted(extra)}"))
    hit = item.get("hit")
    if "sample" in item:
        if not (isinstance(hit, list) and all(isinstance(h, str) for h in hit)):
            problems.append(
                Problem(
                    (*where, "hit"),
                    "a sample test's hit is a list of session ids ([] = must not trigger)",
                )
            )
        return Case(
            hit,
            sample=str(item["sample"]),
            input=item.get("input"),
            keys=item.get("keys", True),
            line=line,
        )
    columns = session_columns()
    feats = item["features"]
    if not isinstance(feats, dict):
        problems.append(Problem((*where, "features"), "features must be a mapping"))
        return None
    aggregate = re.compile(r"[a-z_0-9]+_(count|first_frame|first_time|last_frame|last_time)")
    unknown = [k for k in feats if k not in columns and not aggregate.fullmatch(k)]
    problems += [Problem((*where, "features", k), "unknown feature") for k in unknown]
    if not isinstance(hit, bool):
        problems.append(Problem((*where, "hit"), "a features test's hit is true or false"))
    return Case(hit, features=feats, line=line)
