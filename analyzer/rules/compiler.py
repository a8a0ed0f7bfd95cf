"""A parsed condition (analyzer/rules/condition.py) -> one polars boolean expression.

`names` maps a session column a rule reads to the column that holds it for that rule:
a rule's aggregate aliases (`binary_keepalive_count`, ...) are its own, so the engine
stores them under the rule's id and each rule's condition reads only its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from analyzer.rules.condition import COMPARE, Aggregate, Group, Leaf

Names = Mapping[str, str]
NO_NAMES: Names = {}


def compile_condition(node: Any, params: dict[str, Any], names: Names = NO_NAMES) -> pl.Expr:
    """A boolean expression; null (unknown) counts as false at each leaf."""
    if isinstance(node, Group):
        parts = [compile_condition(i, params, names) for i in node.items]
        if node.kind == "not":
            return ~parts[0]
        return pl.all_horizontal(parts) if node.kind == "all" else pl.any_horizontal(parts)
    if isinstance(node, Aggregate):
        count = _col(f"{node.alias}_count", names).fill_null(0)
        return _compare(count, node.count, params, names).fill_null(False)
    return _compare(_col(node.column, names), node, params, names).fill_null(False)


def _col(name: str, names: Names) -> pl.Expr:
    return pl.col(names.get(name, name))


def _compare(col: pl.Expr, leaf: Leaf, params: dict[str, Any], names: Names) -> pl.Expr:
    op, v = leaf.op, leaf.value
    if op in COMPARE:
        return getattr(col, op)(_expr(v, params, names))
    if op == "between":
        return col.is_between(_expr(v[0], params, names), _expr(v[1], params, names))
    if op == "in":
        return col.is_in(v)
    if op == "not_in":
        return ~col.is_in(v)
    if op == "is_null":
        return col.is_null() if v else col.is_not_null()
    if op == "matches":
        return col.str.contains(f"(?i){v}")
    if op == "not_matches":
        return ~col.str.contains(f"(?i){v}").fill_null(False)
    # near: within max(abs, rel * value) of any listed value
    hits = [(col - c).abs() <= max(v["abs"], v["rel"] * c) for c in _resolve(v["values"], params)]
    return pl.any_horizontal(hits)


def _resolve(values: Any, params: dict[str, Any]) -> list[float]:
    resolved = params[values[1]] if isinstance(values, tuple) else values
    return [float(v) for v in resolved]  # a map's keys, or a list


def _expr(v: Any, params: dict[str, Any], names: Names) -> pl.Expr:
    if not isinstance(v, tuple):
        return pl.lit(v)
    kind, arg = v
    if kind == "param":
        return pl.lit(params[arg])
    if kind == "column":
        return _col(arg, names)
    parts = [_expr(a, params, names) for a in arg]
    if kind == "seconds":  # to - from, as float seconds
        return (parts[1] - parts[0]).dt.total_microseconds() / 1e6
    if kind == "coalesce":
        return pl.coalesce(parts)
    out = parts[0]
    for p in parts[1:]:
        out = out + p if kind == "add" else out - p if kind == "sub" else out * p
    return out


def params_used(node: Any) -> set[str]:
    """The params a condition (or a value inside it) reads."""
    if isinstance(node, Group):
        return {p for item in node.items for p in params_used(item)}
    if isinstance(node, Aggregate):
        return params_used(node.where) | params_used(node.count)
    if isinstance(node, Leaf):
        return params_used(node.value)
    if isinstance(node, tuple) and len(node) == 2 and node[0] == "param":
        return {node[1]}
    if isinstance(node, tuple | list):
        return {p for item in node for p in params_used(item)}
    return params_used(list(node.values())) if isinstance(node, dict) else set()


def aggregate_columns(agg: Aggregate, table: pl.DataFrame, params: dict[str, Any]) -> pl.DataFrame:
    """Per-session count / first / last of the rows an aggregate leaf selects."""
    rows = table if agg.where is None else table.filter(compile_condition(agg.where, params))
    a = agg.alias
    return rows.group_by("session").agg(
        pl.len().alias(f"{a}_count"),
        pl.col("frame").min().alias(f"{a}_first_frame"),
        pl.col("time").min().alias(f"{a}_first_time"),
        pl.col("frame").max().alias(f"{a}_last_frame"),
        pl.col("time").max().alias(f"{a}_last_time"),
    )
