"""The `when` language on small hand-made tables: operators, nulls, params, aggregates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer.rules.compiler import compile_condition
from analyzer.rules.condition import Scope, parse

COLUMNS = {"code": pl.Int64, "reason": pl.String, "gap": pl.Float64, "window": pl.Float64}
TABLE = pl.DataFrame(
    {
        "code": [1011, 1000, None, 1011],
        "reason": ["NET-0001 timeout", None, None, "other"],
        "gap": [10.2, 1.0, None, 59.6],
        "window": [None, None, None, 60.0],
    },
    schema=COLUMNS,
)


def hits(condition: dict[str, Any], params: dict[str, Any] | None = None) -> list[bool]:
    scope = Scope(dict(COLUMNS), params or {}, {}, [], [])
    node = parse(condition, ("when",), scope)
    assert not scope.problems, scope.problems
    return TABLE.select(compile_condition(node, params or {})).to_series().to_list()


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"feature": "code", "eq": 1011}, [True, False, False, True]),
        # a null column makes a leaf false, and `not` of it true
        ({"not": {"feature": "code", "eq": 1011}}, [False, True, True, False]),
        ({"feature": "code", "is_null": True}, [False, False, True, False]),
        ({"feature": "reason", "matches": "net-?0001"}, [True, False, False, False]),
        ({"feature": "reason", "not_matches": "net"}, [False, True, True, True]),
        ({"feature": "code", "in": [1000, 1001]}, [False, True, False, False]),
        ({"feature": "gap", "between": [1.0, 10.2]}, [True, True, False, False]),
        ({"feature": "gap", "near": {"values": [10, 60], "abs": 0.5}}, [True, False, False, True]),
        ({"feature": "gap", "near": {"values": [60], "abs": 0, "rel": 0.001}}, [False] * 4),
        (
            {"any": [{"feature": "code", "eq": 1000}, {"feature": "gap", "gt": 50}]},
            [False, True, False, True],
        ),
    ],
)
def test_operators(condition: dict[str, Any], expected: list[bool]) -> None:
    assert hits(condition) == expected


def test_params_and_value_arithmetic() -> None:
    # window from the row when present, else the param; minus a tolerance
    threshold = {"sub": [{"coalesce": [{"feature": "window"}, {"param": "w"}]}, {"param": "t"}]}
    condition = {"feature": "gap", "ge": threshold}
    assert hits(condition, {"w": 10, "t": 0.5}) == [True, False, False, True]
    assert hits(condition, {"w": 12, "t": 0.5}) == [False, False, False, True]


def test_near_takes_the_keys_of_a_param_map() -> None:
    condition = {"feature": "gap", "near": {"values": {"param": "defaults"}, "rel": 0.02}}
    assert hits(condition, {"defaults": {60: "nginx", 30: "gcp"}}) == [False, False, False, True]


def test_frames_aggregate_counts_matching_rows() -> None:
    from analyzer.rules.compiler import aggregate_columns

    frames = pl.DataFrame(
        {
            "session": ["s1", "s1", "s2"],
            "opcode": ["binary", "text", "binary"],
            "frame": [5, 7, 9],
            "time": pl.Series([1, 2, 3]).cast(pl.Datetime("ns", "UTC")),
        }
    )
    scope = Scope({}, {}, {"frames": dict(frames.schema)}, [], [])
    node = parse(
        {"frames": {"where": {"field": "opcode", "eq": "binary"}, "as": "bins"}}, ("w",), scope
    )
    assert not scope.problems
    cols = aggregate_columns(node, frames, {}).sort("session")
    assert cols["bins_count"].to_list() == [1, 1]
    assert cols["bins_first_frame"].to_list() == [5, 9]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"feature": "nope", "eq": 1}, "unknown feature 'nope'"),
        ({"feature": "code", "equals": 1}, "needs exactly one operator"),
        ({"feature": "code", "matches": "x"}, "need a text column"),
        ({"feature": "reason", "matches": "("}, "invalid regular expression"),
        ({"feature": "reason", "gt": 3}, "needs a numeric or time column"),
        ({"feature": "gap", "ge": {"param": "missing"}}, "unknown param 'missing'"),
        ({"all": []}, "non-empty list"),
        ({"field": "code", "eq": 1}, "use `feature:` here"),
    ],
)
def test_problems_are_reported_not_raised(condition: dict[str, Any], message: str) -> None:
    scope = Scope(dict(COLUMNS), {}, {}, [], [])
    parse(condition, ("when",), scope)
    assert any(message in p.message for p in scope.problems), scope.problems


def test_rule_file_problems_carry_line_and_field(tmp_path: Path) -> None:
    from analyzer.errors import PackError
    from analyzer.rules.loader import load_rules

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: Bad_Id\n"
        "title: t\n"
        "category: idle\n"
        "severity: huge\n"
        "confidence: high\n"
        "rationale: r\n"
        "when:\n"
        "  all:\n"
        "    - feature: close_server_cod\n"
        "      eq: 1011\n"
        "    - feature: close_server_code\n"
        "      approx: 1011\n"
        "summary: '{{ undefined_thing }}'\n"
        "references: [not-a-url]\n"
        "tests: []\n"
        "colour: red\n"
        "title: again\n"
    )
    with pytest.raises(PackError) as err:
        load_rules([bad], builtin=False)
    got = "\n".join(err.value.problems)
    for line, field in [
        (1, "id"),
        (3, "category"),
        (4, "severity"),
        (9, "when.all[0].feature"),
        (11, "when.all[1]"),
        (13, "summary"),
        (14, "references"),
        (16, "colour"),
        (17, "title: duplicate key"),
        (1, "fix: missing required field"),
    ]:
        assert f"{bad}:{line}: {field}" in got, (line, field, got)
