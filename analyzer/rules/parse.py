"""A rule file -> a checked `Rule`, or the list of every problem in it with its line.

The checks are the rule format's specification (rules/README.md describes it for
authors): required keys and their types, the contract's category vocabulary
(analyzer/rules/metadata.py), known features and operators in `when` (condition.py),
declared params, template names, and test cases (cases.py). Whether the rules a rule
defers to exist is a question about the whole pack (loader.py, precedence.py).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer.rules import metadata, templates
from analyzer.rules.cases import parse_cases
from analyzer.rules.compiler import compile_condition
from analyzer.rules.condition import Aggregate, Group, Leaf, Problem, Scope, parse
from analyzer.rules.model import (
    DEFAULT_SOURCES,
    REQUIRED,
    Evidence,
    Rule,
    empty_table,
    session_columns,
    tables,
    typical_row,
)
from analyzer.session_schema import SESSIONS
from analyzer.yamlsource import Source, Where

KEPT = ("status", "tags", "false_positives")  # optional fields the Rule takes as written


def parse_rule(source: Source, checked: bool = False) -> tuple[Rule | None, list[Problem]]:
    """Check every field of one rule file; the Rule only when nothing is wrong.

    `checked`: this very text passed every check before (analyzer/rules/checked.py), so
    the two costly ones, type-checking the condition with polars and compiling and
    rendering the templates, are skipped; the rest (which build the Rule) still run."""
    data = source.data
    if not isinstance(data, dict):
        return None, [Problem((), "a rule file must be a YAML mapping")]
    problems = [Problem(w, "duplicate key") for w, _ in source.duplicates]
    problems += metadata.field_problems(data)
    params = metadata.declared_params(data, SESSIONS.columns, problems)
    scope = Scope(session_columns(), params, tables(), problems, [], checked=checked)
    when = parse(data["when"], ("when",), scope) if "when" in data else None
    if when is not None and not problems and not checked:
        problems += _type_check(when, scope)
    evidence = _texts(data, when, scope, checked)
    tests = parse_cases(data.get("tests"), source, (scope.columns, params), problems)
    if problems:
        return None, problems
    defers_to = data.get("defers_to", [])
    return Rule(
        **{k: data[k] for k in REQUIRED if k not in ("when", "tests")},
        when=when,
        tests=tests,
        params=params,
        evidence=evidence,
        **{k: data[k] for k in KEPT if k in data},
        sources=tuple(data.get("sources", DEFAULT_SOURCES)),
        defers_to=tuple(defers_to),
        defers_lines=tuple(source.line(("defers_to", i)) for i in range(len(defers_to))),
        aggregates=scope.aggregates,
        path=source.path,
        line=source.line(("id",)),
        raw=data,
    ), []


def _texts(data: dict[str, Any], when: Any, scope: Scope, checked: bool) -> list[Evidence]:
    """Check the summary, fix and evidence templates against the names the rule may use,
    rendered on a typical session the rule matches (unless `checked`); the evidence items."""
    if checked:
        return _evidence(data.get("evidence", []), scope.columns, None, scope.problems)
    known = set(scope.columns) | set(scope.params)
    row = typical_row(scope.columns, scope.params) | _when_values(when) | _hit_features(data)
    for key in ("summary", "fix"):
        if key in data and (msg := templates.check(data[key], known, row)):
            scope.fail((key,), msg)
    return _evidence(data.get("evidence", []), scope.columns, (known, row), scope.problems)


def _type_check(when: Any, scope: Scope) -> list[Problem]:
    """Run the compiled condition on empty tables, so polars checks every operand's type
    now: a param of the wrong kind fails `rules validate`, not an analysis."""
    aliases = [pl.Series(k, [], t) for k, t in scope.columns.items() if k not in SESSIONS.columns]
    checks = [(empty_table("sessions").with_columns(aliases), when)]
    checks += [(empty_table(a.table), a.where) for a in scope.aggregates if a.where is not None]
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


def _evidence(
    raw: Any,
    columns: dict[str, pl.DataType],
    names: tuple[set[str], dict[str, Any]] | None,
    problems: list[Problem],
) -> list[Evidence]:
    """The evidence items; `names` are the template names allowed and a typical row
    (None: the texts passed before, unchanged)."""
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
        if names is not None and (msg := templates.check(item["text"], *names)):
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
