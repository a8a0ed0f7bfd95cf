"""A rule's `tests:`: must-hit and must-not-hit cases, checked against the rule itself.

A case names a sample's input (`sample:`, `input:`, `keys:`) or writes a session row by
hand (`features:`); either may set some of the rule's params for that case (`params:`).
analyzer/rule_tests.py runs them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer.rules.condition import Problem
from analyzer.rules.metadata import param_problem, same_kind
from analyzer.rules.model import Case
from analyzer.yamlsource import Source, Where

CASE_KEYS = {"sample", "input", "keys", "hit", "features", "params", "note"}
SHAPE = "a test is {sample: NAME, hit: [ids]} or {features: {...}, hit: true|false}"


def parse_cases(
    raw: Any,
    source: Source,
    rule: tuple[dict[str, pl.DataType], dict[str, Any]],
    problems: list[Problem],
) -> list[Case]:
    """The cases; `rule` is what a case may name: the rule's session columns (features and
    its own aggregate aliases) and its params with their defaults."""
    if not isinstance(raw, list) or not raw:
        if raw is not None:
            problems.append(Problem(("tests",), "tests must be a non-empty list"))
        return []
    cases = [c for i, item in enumerate(raw) if (c := _case(item, i, source, rule, problems))]
    hits = [c for c in cases if c.hit not in ([], False)]
    if cases and (not hits or len(hits) == len(cases)):
        problems.append(
            Problem(("tests",), "tests need at least one case that must hit and one that must not")
        )
    return cases


def _case(
    item: Any,
    i: int,
    source: Source,
    rule: tuple[dict[str, pl.DataType], dict[str, Any]],
    problems: list[Problem],
) -> Case | None:
    where: Where = ("tests", i)
    if not isinstance(item, dict) or ("sample" in item) == ("features" in item):
        problems.append(Problem(where, SHAPE))
        return None
    extra = set(item) - CASE_KEYS
    if extra:
        problems.append(Problem(where, f"unknown test keys {sorted(extra)}"))
    columns, declared = rule
    params = _params(item.get("params"), (*where, "params"), declared, problems)
    hit, line = item.get("hit"), source.line(where)
    if "sample" in item:
        if not (isinstance(hit, list) and all(isinstance(h, str) for h in hit)):
            message = "a sample test's hit is a list of session ids ([] = must not trigger)"
            problems.append(Problem((*where, "hit"), message))
        sample, keys = str(item["sample"]), item.get("keys", True)
        return Case(hit, sample, item.get("input"), keys, line=line, params=params)
    feats = item["features"]
    if not isinstance(feats, dict):
        problems.append(Problem((*where, "features"), "features must be a mapping"))
        return None
    unknown = [k for k in feats if k not in columns]
    problems += [Problem((*where, "features", k), "unknown feature") for k in unknown]
    if not isinstance(hit, bool):
        problems.append(Problem((*where, "hit"), "a features test's hit is true or false"))
    return Case(hit, features=feats, line=line, params=params)


def _params(
    raw: Any, where: Where, declared: dict[str, Any], problems: list[Problem]
) -> dict[str, Any] | None:
    """A case's `params:`: some of the rule's declared params, each like its default."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        problems.append(Problem(where, "params must map some of the rule's params to values"))
        return None
    names = ", ".join(declared) or "none"
    for name, value in raw.items():
        if name not in declared:
            problems.append(Problem((*where, name), f"unknown param (the rule has: {names})"))
        elif message := param_problem(value):
            problems.append(Problem((*where, name), message))
        elif not same_kind(declared[name], value):
            default = declared[name]
            problems.append(Problem((*where, name), f"must be like its default {default!r}"))
    return raw
