"""A table's columns written down: name, polars type and meaning, and for a text column
whose values come from a closed set, that set (analyzer/schema.py declares the tables)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


class Enumerated(tuple):  # type: ignore[type-arg]
    """A column entry, (dtype, doc) like any other, whose values come from a closed set:
    `values` lists them (nulls aside)."""

    values: tuple[str, ...]


def enumerated(
    dtype: pl.DataType, values: tuple[str, ...] | dict[str, str], doc: str
) -> Enumerated:
    """A column of closed values; `{values}` in `doc` becomes `a | b | c`, each value
    followed by its meaning in parentheses when `values` maps values to meanings."""
    named = values if isinstance(values, dict) else dict.fromkeys(values, "")
    listed = " | ".join(f"{v} ({m})" if m else v for v, m in named.items())
    entry = Enumerated((dtype, doc.format(values=listed)))
    entry.values = tuple(named)
    return entry


@dataclass(frozen=True)
class Table:
    """A table's columns in order: name -> (polars type, meaning)."""

    name: str
    columns: dict[str, tuple[pl.DataType, str]]

    @property
    def values(self) -> dict[str, tuple[str, ...]]:
        """The closed value sets of the columns that declare one (`enumerated`)."""
        return {k: c.values for k, c in self.columns.items() if isinstance(c, Enumerated)}

    @property
    def polars(self) -> pl.Schema:
        return pl.Schema({k: t for k, (t, _) in self.columns.items()})

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars)

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Select exactly the declared columns, cast to the declared types."""
        return df.select([pl.col(k).cast(t) for k, (t, _) in self.columns.items()])

    def doc(self, column: str) -> str:
        return self.columns[column][1]
