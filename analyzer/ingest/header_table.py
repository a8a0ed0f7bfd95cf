"""HTTP header lines as a table, one row per header: split, looked up and redacted column
by column for every request or response at once (analyzer/ingest/handshakes.py).

Each step gives what the one-header-at-a-time functions give (`handshakes._headers`,
`handshakes.get_header`, `redact.header_value`), to the character: Python's own notion
of whitespace is stripped, names are lower-cased by Python once per distinct name, and a
value is redacted by polars' form of the text pattern only where both regex engines read
it alike (printable ASCII); the rest go through `redact.header_value` once per distinct
name and value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from analyzer import redact

# Python's whitespace (str.strip, str.isspace): Unicode White_Space plus the four
# information separators U+001C-U+001F, which polars' strip_chars() alone keeps.
PY_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
PY_WHITESPACE += "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def header_table(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """Each row's header lines as (row, name, lname, value), in order, split like
    `handshakes._headers`: tshark's literal `\\r\\n` dropped, at the first colon, both
    sides stripped."""
    line = pl.col("line").str.strip_suffix("\\r\\n").str.strip_suffix("\\n")
    parts = line.str.splitn(":", 2)
    table = (
        rows.select("row", pl.col(column).alias("line"))
        .explode("line")
        .filter(pl.col("line").is_not_null())
        .select(
            "row",
            parts.struct.field("field_0").str.strip_chars(PY_WHITESPACE).alias("name"),
            parts.struct.field("field_1").str.strip_chars(PY_WHITESPACE).alias("value"),
        )
        .filter(pl.col("value").is_not_null())
    )
    return table.with_columns(lname=per_value(table["name"], str.lower))


def first_values(headers: pl.DataFrame, wanted: dict[str, str]) -> pl.DataFrame:
    """Per row, the value of the first header of each wanted name (`get_header`), in a
    column named by `wanted`'s keys; rows without any of them are left out."""
    first = headers.filter(pl.col("lname").is_in(list(wanted.values()))).unique(
        ["row", "lname"], keep="first", maintain_order=True
    )
    out = first.select("row").unique(maintain_order=True)
    for column, name in wanted.items():
        values = first.filter(pl.col("lname") == name).select("row", pl.col("value").alias(column))
        out = out.join(values, on="row", how="left", maintain_order="left")
    return out


def redacted_lists(headers: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per row, its headers as [{name, value}] with values redacted (`handshakes.redacted`)."""
    redacted = headers.with_columns(redacted_values(headers))
    pairs = pl.struct("name", "value").alias(column)
    return redacted.group_by("row", maintain_order=True).agg(pairs)


def redacted_values(headers: pl.DataFrame) -> pl.Series:
    """`redact.header_value` of every header: credentials by name masked, other values
    by polars' form of the text pattern where both regex engines read them alike
    (printable ASCII), the rest (subprotocol lists, other text) by `header_value` itself,
    once per distinct name and value."""
    if not redact.active():
        return headers["value"]
    kind = per_value(headers["name"], _name_kind)
    value = pl.col("value")
    mask = (
        pl.when(value == "")
        .then(value)
        .otherwise(value.str.slice(0, redact.KEEP) + redact.REDACTED)
    )
    scheme, secret = (
        value.str.splitn(" ", 2).struct.field("field_0"),
        value.str.splitn(" ", 2).struct.field("field_1"),
    )
    auth = (
        pl.when(secret.is_not_null() & (secret != ""))
        .then(scheme + " " + secret.str.slice(0, redact.KEEP) + redact.REDACTED)
        .otherwise(mask)
    )
    plain = (pl.col("kind") == "text") & value.str.contains(r"^[ -~]*$")
    vector = (
        pl.when(pl.col("kind") == "secret")
        .then(mask)
        .when(pl.col("kind") == "auth")
        .then(auth)
        .when(plain)
        .then(redact.text_expr(value))
    )
    done = headers.with_columns(kind=kind).select(vector.alias("done"), "name", "value")
    rest = done.filter(pl.col("done").is_null()).unique(["name", "value"])
    fallback = {
        (n, v): redact.header_value(n, v) for n, v in rest.select("name", "value").iter_rows()
    }
    return pl.Series(
        "value",
        [d if d is not None else fallback[(n, v)] for d, n, v in done.iter_rows()],
        pl.String,
    )


def _name_kind(name: str) -> str:
    """How `redact.header_value` treats a header of this name."""
    lname = name.strip().lower()
    if redact.secret_name(lname):
        return "auth" if lname.endswith("authorization") else "secret"
    return "subprotocol" if lname == "sec-websocket-protocol" else "text"


def per_value(values: pl.Series, fn: Callable[[Any], Any], dtype: Any = pl.String) -> pl.Series:
    """`fn` of each value, computed once per distinct value (nulls stay null)."""
    distinct = values.drop_nulls().unique()
    results = pl.Series("result", [fn(v) for v in distinct.to_list()], dtype)
    mapping = pl.DataFrame([distinct.rename("value"), results])
    looked_up = (
        values.rename("value")
        .to_frame()
        .join(mapping, on="value", how="left", maintain_order="left")
    )
    return looked_up["result"].rename(values.name)
