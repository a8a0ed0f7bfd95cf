"""The close handshake (RFC 6455 §5.5.1, §7): who closed first, codes each way, the reply."""

from __future__ import annotations

import polars as pl

from analyzer.features.common import SIDES, is_data, side

# A duration stated in a close reason ("idle timeout 30s", "no data for 30 seconds",
# "within 10000 ms"). `\b` before the number keeps "net0001" in a URL from matching.
REASON_WINDOW = (
    r"(?i)\b(\d+(?:\.\d+)?)\s*"
    r"(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b"
)


def reason_window_s(reason: pl.Expr) -> pl.Expr:
    """The first duration a close reason names, in seconds; null when it names none.

    A proxy or server that states its timer in the reason tells a rule which window ran
    out; Deepgram's NET-0000/NET-0001 texts name no number.
    """
    parts = reason.str.extract_groups(REASON_WINDOW)
    unit = parts.struct.field("2").str.to_lowercase()
    scale = (
        pl.when(unit.str.starts_with("ms") | unit.str.starts_with("milli"))
        .then(0.001)
        .when(unit.str.starts_with("s"))
        .then(1.0)
        .when(unit.str.starts_with("m"))
        .then(60.0)
        .otherwise(3600.0)
    )
    return parts.struct.field("1").cast(pl.Float64, strict=False) * scale


def _first_close(name: str, is_client: bool) -> list[pl.Expr]:
    c = side(is_client) & (pl.col("opcode") == "close")
    return [
        pl.col("time").filter(c).first().alias(f"close_{name}_time"),
        pl.col("frame").filter(c).first().alias(f"close_{name}_frame"),
        pl.col("close_code").filter(c).first().alias(f"close_{name}_code"),
        pl.col("close_reason").filter(c).first().alias(f"close_{name}_reason"),
        pl.col("payload_len").filter(c).first().alias(f"close_{name}_payload_len"),
    ]


def close_summary(client: pl.Expr, server: pl.Expr) -> list[pl.Expr]:
    """close_first_by and close_handshake from when (or in which order) each side's close
    was seen; null means that side sent none. Frames and log lines state them alike."""
    first_by = (
        pl.when(client.is_not_null() & (server.is_null() | (client <= server)))
        .then(pl.lit("client"))
        .when(server.is_not_null())
        .then(pl.lit("server"))
    )
    handshake = (
        pl.when(client.is_not_null() & server.is_not_null())
        .then(pl.lit("complete"))
        .when(client.is_not_null())
        .then(pl.lit("client-only"))
        .when(server.is_not_null())
        .then(pl.lit("server-only"))
        .otherwise(pl.lit("none"))
    )
    return [first_by.alias("close_first_by"), handshake.alias("close_handshake")]


def closing_features(frames: pl.DataFrame) -> pl.DataFrame:
    closes = (
        frames.sort("session", "time", "frame")
        .group_by("session")
        .agg(*[e for name, c in SIDES for e in _first_close(name, c)])
    )
    return closes.with_columns(
        *close_summary(pl.col("close_client_time"), pl.col("close_server_time")),
        *[
            reason_window_s(pl.col(f"close_{name}_reason")).alias(f"close_{name}_reason_window_s")
            for name, _ in SIDES
        ],
    ).join(_before_server_close(frames, closes), on="session", how="left")


def _before_server_close(frames: pl.DataFrame, closes: pl.DataFrame) -> pl.DataFrame:
    """The client's last data frame before the server's close: the start of its silence."""
    tagged = frames.join(closes.select("session", "close_server_time"), on="session")
    before = side(True) & is_data() & (pl.col("time") <= pl.col("close_server_time"))
    return tagged.group_by("session").agg(
        pl.col("time").filter(before).max().alias("client_last_data_before_server_close"),
        pl.col("frame").filter(before).max().alias("client_last_data_frame_before_server_close"),
    )
