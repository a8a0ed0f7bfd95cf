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
    """Per-session count / first / last of the rows an aggregate leaf selects (the sessions
    with none are left out)."""
    return (
        table.group_by("session").agg(aggregate_exprs(agg, params)).drop_nulls(f"{agg.alias}_count")
    )


def aggregate_exprs(
    agg: Aggregate, params: dict[str, Any], names: Mapping[str, str] | None = None
) -> list[pl.Expr]:
    """An aggregate leaf's columns as expressions over one session's rows of its table, so
    the selections of every rule are computed in one `group_by` of that table: the count
    of the rows it selects (null when none, as for a session without rows), and the
    first / last frame and time among them. `names`: the column each AGG_COLUMNS key is
    written to (default `{alias}_{key}`)."""
    picked = compile_condition(agg.where, params) if agg.where is not None else None

    def rows(column: str) -> pl.Expr:
        return pl.col(column) if picked is None else pl.col(column).filter(picked)

    count = pl.len() if picked is None else rows("session").len()
    columns = {
        "count": pl.when(count > 0).then(count),
        "first_frame": rows("frame").min(),
        "first_time": rows("time").min(),
        "last_frame": rows("frame").max(),
        "last_time": rows("time").max(),
    }
    names = names or {c: f"{agg.alias}_{c}" for c in columns}
    return [columns[c].alias(name) for c, name in names.items()]
