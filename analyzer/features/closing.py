"""The close handshake (RFC 6455 §5.5.1, §7): who closed first, codes each way, the reply."""

from __future__ import annotations

import polars as pl

from analyzer.features.common import SIDES, is_data, side


def _first_close(name: str, is_client: bool) -> list[pl.Expr]:
    c = side(is_client) & (pl.col("opcode") == "close")
    return [
        pl.col("time").filter(c).first().alias(f"close_{name}_time"),
        pl.col("frame").filter(c).first().alias(f"close_{name}_frame"),
        pl.col("close_code").filter(c).first().alias(f"close_{name}_code"),
        pl.col("close_reason").filter(c).first().alias(f"close_{name}_reason"),
        pl.col("payload_len").filter(c).first().alias(f"close_{name}_payload_len"),
    ]


def closing_features(frames: pl.DataFrame) -> pl.DataFrame:
    closes = (
        frames.sort("session", "time", "frame")
        .group_by("session")
        .agg(*[e for name, c in SIDES for e in _first_close(name, c)])
    )
    client_t, server_t = pl.col("close_client_time"), pl.col("close_server_time")
    first_by = (
        pl.when(client_t.is_not_null() & (server_t.is_null() | (client_t <= server_t)))
        .then(pl.lit("client"))
        .when(server_t.is_not_null())
        .then(pl.lit("server"))
    )
    handshake = (
        pl.when(client_t.is_not_null() & server_t.is_not_null())
        .then(pl.lit("complete"))
        .when(client_t.is_not_null())
        .then(pl.lit("client-only"))
        .when(server_t.is_not_null())
        .then(pl.lit("server-only"))
        .otherwise(pl.lit("none"))
    )
    return closes.with_columns(
        first_by.alias("close_first_by"), handshake.alias("close_handshake")
    ).join(_before_server_close(frames, closes), on="session", how="left")


def _before_server_close(frames: pl.DataFrame, closes: pl.DataFrame) -> pl.DataFrame:
    """The client's last data frame before the server's close: the start of its silence."""
    tagged = frames.join(closes.select("session", "close_server_time"), on="session")
    before = side(True) & is_data() & (pl.col("time") <= pl.col("close_server_time"))
    return tagged.group_by("session").agg(
        pl.col("time").filter(before).max().alias("client_last_data_before_server_close"),
        pl.col("frame").filter(before).max().alias("client_last_data_frame_before_server_close"),
    )
