"""A rule file -> a checked `Rule`, or the list of every problem in it with its line.

The checks are the rule format's specification (rules/README.md describes it for
authors): required keys and their types, the contract's category vocabulary, known
features and operators in `when`, declared params, template names, and test cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.rules import templates
from analyzer.rules.condition import Problem, Scope, parse
from analyzer.rules.yamlsource import Source, Where
from analyzer.schema import ANOMALIES, CATEGORIES, FRAMES, SESSIONS

SEVERITIES = ("info", "low", "medium", "high", "critical")
CONFIDENCES = ("low", "medium", "high")
STATUSES = ("stable", "experimental", "deprecated")
REQUIRED = ("id", "title", "category", "severity", "confidence", "rationale", "when")
REQUIRED += ("summary", "fix", "references", "tests")
OPTIONAL = ("status", "tags", "params", "evidence", "false_positives", "sources")
SOURCES = ("capture", "har", "log")
# What a rule reads unless it says: the wire (a capture, or a HAR's frames). Log-only
# sessions fill the close columns from log lines, so wire rules would misread them.
DEFAULT_SOURCES = ("capture", "har")
ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


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
    return dict(SESSIONS.polars)


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
    columns = session_columns()
    clash = sorted(set(params) & set(columns))
    problems += [Problem(("params", k), "param name shadows a feature") for k in clash]
    scope = Scope(columns, params, _tables(), problems, [])
    when = parse(data["when"], ("when",), scope) if "when" in data else None
    known = set(scope.columns) | set(params)
    for key in ("summary", "fix"):
        if key in data and (msg := templates.check(data[key], known)):
            problems.append(Problem((key,), msg))
    evidence = _evidence(data.get("evidence", []), scope.columns, known, problems)
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
    if not (isinstance(sources, list) and sources and set(sources) <= set(SOURCES)):
        bad("sources", f"sources must be a non-empty list of {', '.join(SOURCES)}")
    for key in ("tags", "false_positives"):
        if key in data and not (
            isinstance(data[key], list) and all(isinstance(t, str) for t in data[key])
        ):
            bad(key, "must be a list of strings")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"https?://\S+$", value) is not None


def _evidence(
    raw: Any, columns: dict[str, pl.DataType], known: set[str], problems: list[Problem]
) -> list[Evidence]:
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
        if msg := templates.check(item["text"], known):
            problems.append(Problem((*where, "text"), msg))
        for key, want in (("frame", pl.Int64), ("time", pl.Datetime), ("log", pl.String)):
            name = item.get(key)
            if name is not None and not _column_is(columns.get(name), want):
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
