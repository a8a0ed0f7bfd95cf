"""Expression helpers shared by the feature modules."""

from __future__ import annotations

import polars as pl

SIDES = (("client", True), ("server", False))
DATA_OPCODES = ("text", "binary", "continuation")


def seconds(delta: pl.Expr) -> pl.Expr:
    """A Duration expression in float seconds."""
    return (delta.dt.total_microseconds() / 1e6).round(6)


def side(is_client: bool) -> pl.Expr:
    return pl.col("from_client") == is_client


def is_data() -> pl.Expr:
    return pl.col("opcode").is_in(DATA_OPCODES)
