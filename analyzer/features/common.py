"""Expression helpers shared by the feature modules."""

from __future__ import annotations

import polars as pl

SIDES = (("client", True), ("server", False))
DATA_OPCODES = ("text", "binary", "continuation")
INT64_MAX = (1 << 63) - 1


def seconds(delta: pl.Expr) -> pl.Expr:
    """A Duration expression in float seconds."""
    return (delta.dt.total_microseconds() / 1e6).round(6)


def side(is_client: bool) -> pl.Expr:
    return pl.col("from_client") == is_client


def is_data() -> pl.Expr:
    return pl.col("opcode").is_in(DATA_OPCODES)


def saturating_sum(lengths: pl.Expr) -> pl.Expr:
    """Sum of Int64 lengths that stops at the Int64 maximum instead of wrapping negative.

    A frame header may claim up to 2^63-1 bytes; two such claims (or one and any other
    frame) overflow Int64, and polars wraps silently.
    """
    return lengths.cast(pl.Int128).sum().clip(upper_bound=INT64_MAX).cast(pl.Int64)
