"""A rule's own fields, besides its condition, its texts and its tests: which keys it has,
their types and vocabularies, its params' defaults, and the rules it defers to.

Each check returns problems (`Problem(where, message)`) instead of raising, so a rule
file's every mistake is reported in one round (analyzer/rules/parse.py gathers them).
"""

from __future__ import annotations

import math
import re
from typing import Any

from analyzer.rules.condition import Problem
from analyzer.rules.model import (
    CONFIDENCES,
    DEFAULT_SOURCES,
    ID,
    INT64,
    OPTIONAL,
    REQUIRED,
    SEVERITIES,
    SOURCES,
    STATUSES,
)
from analyzer.schema import CATEGORIES


def field_problems(data: dict[str, Any]) -> list[Problem]:
    """Missing and unknown keys, and every key's type or vocabulary."""
    problems = [Problem((k,), "missing required field") for k in REQUIRED if k not in data]
    problems += [
        Problem((k,), f"unknown field (allowed: {', '.join(REQUIRED + OPTIONAL)})")
        for k in data
        if k not in REQUIRED + OPTIONAL
    ]
    _check_scalars(data, problems)
    return problems + _defers_to(data)


def declared_params(
    data: dict[str, Any], features: tuple[str, ...] | list[str], problems: list[Problem]
) -> dict[str, Any]:
    """The rule's `params` (name -> default); {} when they are not a mapping."""
    params = data.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        problems.append(Problem(("params",), "params must map names to default values"))
        return {}
    problems += [Problem(("params", k), m) for k, v in params.items() if (m := param_problem(v))]
    clash = sorted(set(params) & set(features))
    problems += [Problem(("params", k), "param name shadows a feature") for k in clash]
    return params


def param_problem(value: Any) -> str | None:
    """Why a param's value cannot reach polars and the templates, or None: a finite
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


def same_kind(default: Any, value: Any) -> bool:
    """A value that may replace a param's default: a number for a number, true/false for
    true/false, text for text, a list for a list, a map for a map."""
    number = (int, float)
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, number):
        return isinstance(value, number)
    return isinstance(value, type(default))


def not_finite(value: Any) -> bool:
    """inf and nan (`.inf`, `1.0e+400`): no window or threshold is meant by them."""
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    items = items if isinstance(value, list | dict) else [value]
    return any(isinstance(v, float) and not math.isfinite(v) for v in items)


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


def _defers_to(data: dict[str, Any]) -> list[Problem]:
    """`defers_to`: a list of other rules' ids. Whether they exist, and that no chain of
    them leads back here, is checked across the pack (analyzer/rules/precedence.py)."""
    raw = data.get("defers_to")
    if "defers_to" not in data:
        return []
    if not isinstance(raw, list) or not raw:
        return [Problem(("defers_to",), "defers_to must be a non-empty list of rule ids")]
    out = []
    for i, item in enumerate(raw):
        if not (isinstance(item, str) and ID.fullmatch(item)):
            out.append(Problem(("defers_to", i), "a rule id (lower-case words joined by '-')"))
        elif item == data.get("id"):
            out.append(Problem(("defers_to", i), "a rule cannot defer to itself"))
        elif item in raw[:i]:
            out.append(Problem(("defers_to", i), f"{item!r} is listed twice"))
    return out
