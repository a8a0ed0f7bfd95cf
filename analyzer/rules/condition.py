"""The `when` language: a condition tree that is data, parsed once here and compiled to
polars by analyzer/rules/compiler.py.

A closed set of node kinds and operators, so a rule pack can be checked completely
before it runs and nothing in it is ever evaluated as code:

    all: [...] | any: [...] | not: {...}
    {feature: NAME, OP: VALUE}                   a session column
    {frames: {where: ..., count: {OP: N}, as: ALIAS}}     frames of the session
    {anomalies: {where: ..., count: {OP: N}, as: ALIAS}}  anomaly rows of the session

Inside `where`, leaves name table columns with `field:` instead of `feature:`. A VALUE
is a literal, `{param: P}`, `{feature: F}`, `{add|sub|mul: [V, V]}`, `{coalesce: [...]}`
or `{seconds: [FROM, TO]}` (TO - FROM of two time features, in seconds). A column whose
values come from a closed set (analyzer/schema.py `_enum`) is compared only with those.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analyzer.schema import ANOMALIES, FRAMES
from analyzer.session_schema import SESSIONS
from analyzer.yamlsource import Where

COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
OPERATORS = (*COMPARE, "between", "in", "not_in", "is_null", "matches", "not_matches", "near")
ARITH = ("add", "sub", "mul")
AGGREGATES = ("frames", "anomalies")
# The closed value sets of each aggregate table's columns (`opcode`, anomaly `kind`, ...).
TABLE_VALUES = {"frames": FRAMES.values, "anomalies": ANOMALIES.values}
SESSION_VALUES = SESSIONS.values  # built once: every rule's scope reads it
# Operators whose literals must be among an enumerated column's values.
ENUM_OPS = ("eq", "ne", "in", "not_in")
# Columns every aggregate leaf adds to the session row under its alias.
AGG_COLUMNS = {
    "count": pl.Int64,
    "first_frame": pl.Int64,
    "first_time": pl.Datetime("ns", "UTC"),
    "last_frame": pl.Int64,
    "last_time": pl.Datetime("ns", "UTC"),
}


@dataclass(frozen=True)
class Problem:
    where: Where
    message: str


@dataclass(frozen=True)
class Leaf:
    column: str
    op: str
    value: Any  # a Value tree: literal | ("param", P) | ("feature", F) | (arith, [..])


@dataclass(frozen=True)
class Aggregate:
    table: str  # frames | anomalies
    where: Any  # a condition over that table's columns, or None for every row
    count: Leaf  # compared against the matching row count
    alias: str


@dataclass(frozen=True)
class Group:
    kind: str  # all | any | not
    items: tuple[Any, ...]


@dataclass
class Scope:
    """What names a condition may use: columns with their dtypes, params, and problems;
    `values`: the closed value sets of its columns (the session table's by default)."""

    columns: dict[str, pl.DataType]
    params: dict[str, Any]
    tables: dict[str, dict[str, pl.DataType]]
    problems: list[Problem]
    aggregates: list[Aggregate]
    key: str = "feature"
    values: dict[str, tuple[str, ...]] = field(default_factory=lambda: SESSION_VALUES)
    # the rule's text passed every check before (analyzer/rules/checked.py): polars is not
    # asked again whether its regular expressions compile
    checked: bool = False

    def fail(self, where: Where, message: str) -> None:
        self.problems.append(Problem(where, message))


def parse(node: Any, where: Where, scope: Scope) -> Any:
    """A condition tree from YAML data; problems are recorded in `scope`, never raised."""
    if not isinstance(node, dict) or not node:
        scope.fail(where, "a condition must be a mapping (all/any/not, a leaf or an aggregate)")
        return None
    groups = [k for k in ("all", "any", "not") if k in node]
    if groups:
        if len(node) != 1:
            scope.fail(where, f"`{groups[0]}` must be the only key of its mapping")
        return _group(groups[0], node[groups[0]], (*where, groups[0]), scope)
    tables = [k for k in AGGREGATES if k in node]
    if tables:
        return _aggregate(tables[0], node[tables[0]], (*where, tables[0]), scope)
    return _leaf(node, where, scope)


def _group(kind: str, body: Any, where: Where, scope: Scope) -> Group | None:
    if kind == "not":
        item = parse(body, where, scope)
        return Group("not", (item,)) if item is not None else None
    if not isinstance(body, list) or not body:
        scope.fail(where, f"`{kind}` needs a non-empty list of conditions")
        return None
    items = tuple(parse(item, (*where, i), scope) for i, item in enumerate(body))
    return Group(kind, items) if all(i is not None for i in items) else None


def _leaf(node: dict[str, Any], where: Where, scope: Scope) -> Leaf | None:
    other = "field" if scope.key == "feature" else "feature"
    if other in node and scope.key not in node:
        scope.fail((*where, other), f"use `{scope.key}:` here (`{other}:` is for the other level)")
        return None
    name = node.get(scope.key)
    ops = [k for k in node if k != scope.key]
    if name is not None and not isinstance(name, str):
        scope.fail((*where, scope.key), f"`{scope.key}:` takes a {scope.key} name")
        return None
    if name is None:
        scope.fail(
            where,
            f"unknown condition keys {sorted(map(str, node))}: expected "
            f"all/any/not, frames/anomalies, or `{scope.key}:` with one operator",
        )
        return None
    if name not in scope.columns:
        scope.fail((*where, scope.key), f"unknown {scope.key} {name!r}{_suggest(name, scope)}")
        return None
    if len(ops) != 1 or ops[0] not in OPERATORS:
        scope.fail(
            where,
            f"{scope.key} {name!r} needs exactly one operator of "
            f"{', '.join(OPERATORS)} (got {', '.join(map(str, ops)) or 'none'})",
        )
        return None
    op = ops[0]
    value = _operand(op, node[op], scope.columns[name], (*where, op), scope)
    if op in ENUM_OPS and name in scope.values:
        _enumerated(name, value, (*where, op), scope)
    return Leaf(name, op, value)


def _enumerated(name: str, value: Any, where: Where, scope: Scope) -> None:
    """Each text literal (or a param's default) compared with a closed-set column must be
    one of its values: `close_first_by: sever` would silently never match."""
    allowed = scope.values[name]
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    for i, item in items:
        at, said = ((*where, i) if i is not None else where), ""
        if isinstance(item, tuple) and item[0] == "param":
            said, item = f"param {item[1]!r}: ", scope.params.get(item[1])
        if isinstance(item, str) and item not in allowed:
            close = difflib.get_close_matches(item, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(allowed)}"
            scope.fail(at, f"{said}unknown value {item!r} for {name} ({hint})")


def _suggest(name: str, scope: Scope) -> str:
    close = difflib.get_close_matches(str(name), list(scope.columns), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _aggregate(table: str, body: Any, where: Where, scope: Scope) -> Aggregate | None:
    if not isinstance(body, dict) or set(body) - {"where", "count", "as"}:
        scope.fail(where, f"`{table}` takes `where`, `count` and `as`")
        return None
    values = TABLE_VALUES.get(table, {})
    inner = Scope(
        scope.tables[table], scope.params, {}, scope.problems, [], "field", values, scope.checked
    )
    cond = parse(body["where"], (*where, "where"), inner) if "where" in body else None
    count_spec = body.get("count", {"ge": 1})
    alias = body.get("as", f"_{table}{len(scope.aggregates) + 1}")  # generated: not checked
    if "as" in body and not (isinstance(alias, str) and re.fullmatch(r"[a-z][a-z0-9_]*", alias)):
        scope.fail((*where, "as"), "`as` must be a lower_snake_case name")
        return None
    if any(f"{alias}_{c}" in scope.columns for c in AGG_COLUMNS):
        scope.fail((*where, "as"), f"alias {alias!r} clashes with an existing feature")
        return None
    counter = Scope({"count": pl.Int64}, scope.params, {}, scope.problems, [], "field", {})
    count = (
        _leaf({"field": "count", **count_spec}, (*where, "count"), counter)
        if isinstance(count_spec, dict)
        else None
    )
    if count is None:
        scope.fail((*where, "count"), "`count` must be one operator, e.g. {ge: 1}")
        return None
    agg = Aggregate(table, cond, count, alias)
    scope.aggregates.append(agg)
    scope.columns.update({f"{alias}_{c}": t for c, t in AGG_COLUMNS.items()})
    return agg


def _operand(op: str, raw: Any, dtype: pl.DataType, where: Where, scope: Scope) -> Any:
    """Check an operator's argument against the column's type."""
    numeric = dtype.is_numeric() or dtype.is_temporal()
    if op in ("lt", "le", "gt", "ge") and not numeric:
        scope.fail(where, f"`{op}` needs a numeric or time column, not {dtype}")
    if op in ("matches", "not_matches"):
        return _regex(raw, dtype, where, scope)
    if op == "is_null":
        if not isinstance(raw, bool):
            scope.fail(where, "`is_null` takes true or false")
        return raw
    if op in ("in", "not_in"):
        if not raw or not _literal_list(raw):
            scope.fail(where, f"`{op}` takes a non-empty list of texts, numbers or booleans")
        return raw
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            scope.fail(where, "`between` takes [low, high]")
            return raw
        if not all(_value_like(v) for v in raw):
            scope.fail(where, "`between` bounds are numbers or {param|feature}")
            return raw
        return [_value(v, (*where, i), scope) for i, v in enumerate(raw)]
    if op == "near":
        return _near(raw, dtype, where, scope)
    if not _value_like(raw) and not (isinstance(dtype, pl.List) and _literal_list(raw)):
        scope.fail(where, f"`{op}` takes a text, a number, a boolean or a {{param|feature}}")
    return _value(raw, where, scope)


def _literal_list(raw: Any) -> bool:
    """A list of literals of one kind (empty allowed): `in: [...]`, or `eq: []` for a
    list column; polars builds such a list as one Series."""
    kinds = {_kind(v) for v in raw} if isinstance(raw, list) else {None}
    return None not in kinds and len(kinds) <= 1


def _value_like(raw: Any) -> bool:
    """A literal or a {param|feature|...} value; whether the mapping is valid, `_value`
    decides."""
    return isinstance(raw, dict) or _kind(raw) is not None


def _kind(value: Any) -> type | None:
    """The kind of a literal a column can be compared with (None: not a literal): polars
    builds a list operand as one Series, so its items must be of one kind."""
    if isinstance(value, bool | str):
        return type(value)
    return float if isinstance(value, int | float) else None


def _regex(raw: Any, dtype: pl.DataType, where: Where, scope: Scope) -> Any:
    if dtype != pl.String:
        scope.fail(where, f"regular expressions need a text column, not {dtype}")
    if not isinstance(raw, str):
        scope.fail(where, "a regular expression must be a string")
        return raw
    if scope.checked:
        return raw
    try:
        pl.Series([""]).str.contains(raw)  # polars' (Rust) regex dialect decides
    except pl.exceptions.PolarsError as exc:
        scope.fail(where, f"invalid regular expression: {str(exc).splitlines()[0]}")
    return raw


def _near(raw: Any, dtype: pl.DataType, where: Where, scope: Scope) -> Any:
    if not dtype.is_numeric():
        scope.fail(where, "`near` needs a numeric column")
    if not isinstance(raw, dict) or "values" not in raw or set(raw) - {"values", "abs", "rel"}:
        scope.fail(where, "`near` takes {values: [...] or {param: P}, abs: S, rel: R}")
        return raw
    values = _value(raw["values"], (*where, "values"), scope)
    resolved = scope.params.get(values[1]) if isinstance(values, tuple) else values
    if isinstance(resolved, dict):
        resolved = list(resolved)
    if not isinstance(resolved, list) or not all(_is_number(v) for v in resolved):
        scope.fail(
            (*where, "values"),
            "`near` values must be a list of numbers (or a map whose keys are numbers)",
        )
    for key in ("abs", "rel"):
        if key in raw and not _is_number(raw[key]):
            scope.fail((*where, key), f"`{key}` must be a number")
    return {"values": values, "abs": raw.get("abs", 0), "rel": raw.get("rel", 0)}


def _value(raw: Any, where: Where, scope: Scope) -> Any:
    """A literal as is, or the tree of a {param|feature|add|sub|mul|coalesce|seconds}
    mapping: ("param", P), ("column", F) or (kind, [values])."""
    if not isinstance(raw, dict):
        return raw
    if len(raw) != 1:
        scope.fail(
            where,
            "a value is a literal or one of {param}, {feature}, "
            "{add|sub|mul: [a, b]}, {coalesce: [...]}, {seconds: [from, to]}",
        )
        return None
    ((kind, arg),) = raw.items()
    if kind in ("param", "feature", "field"):
        return _named(kind, arg, where, scope)
    if kind == "seconds":
        return _seconds(arg, where, scope)
    if kind in (*ARITH, "coalesce"):
        return _combined(kind, arg, where, scope)
    scope.fail(where, f"unknown value kind {kind!r}")
    return None


def _named(kind: str, arg: Any, where: Where, scope: Scope) -> tuple[str, str] | None:
    """`{param: P}`, or `{feature: F}` / `{field: F}` (a column of the same table)."""
    if not isinstance(arg, str):
        scope.fail(where, f"`{kind}:` takes a name")
        return None
    if kind == "param":
        if arg not in scope.params:
            scope.fail(where, f"unknown param {arg!r} (declare it under `params`)")
        return ("param", arg)
    if arg not in scope.columns:
        scope.fail(where, f"unknown {kind} {arg!r}{_suggest(arg, scope)}")
    return ("column", arg)


def _seconds(arg: Any, where: Where, scope: Scope) -> tuple[str, list[Any]] | None:
    """`{seconds: [FROM, TO]}`: two time columns."""
    if not isinstance(arg, list) or len(arg) != 2:
        scope.fail(where, "`seconds` takes [from, to]: two times")
        return None
    parts = [_value(v, (*where, "seconds", i), scope) for i, v in enumerate(arg)]
    for i, part in enumerate(parts):
        column = part[1] if isinstance(part, tuple) and part[0] == "column" else None
        dtype = scope.columns.get(column) if column is not None else None
        if dtype is None or not dtype.is_temporal():
            scope.fail((*where, "seconds", i), "`seconds` needs time features")
    return ("seconds", parts)


def _combined(kind: str, arg: Any, where: Where, scope: Scope) -> tuple[str, list[Any]] | None:
    """`{add|sub|mul|coalesce: [V, V, ...]}`."""
    if not isinstance(arg, list) or len(arg) < 2:
        scope.fail(where, f"`{kind}` takes a list of at least two values")
        return None
    if not all(_value_like(v) for v in arg):
        scope.fail(where, f"`{kind}` takes numbers, texts or {{param|feature}} values")
        return None
    return (kind, [_value(v, (*where, kind, i), scope) for i, v in enumerate(arg)])


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
