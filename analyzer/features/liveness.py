"""Silence: the gaps in each side's data, the quiet before a close, unanswered pings.

Deepgram resets its inactivity timer on any data frame from the client (audio or a text
message such as KeepAlive), so a gap is measured between data frames; pings do not count.
"""

from __future__ import annotations

import polars as pl

from analyzer.features.common import SIDES, is_data, seconds, side


def _gaps(frames: pl.DataFrame, name: str, is_client: bool) -> pl.DataFrame:
    data = frames.filter(is_data() & (pl.col("from_client") == is_client)).sort("session", "time")
    gapped = data.with_columns(
        seconds(pl.col("time").diff().over("session")).alias("gap"),
        pl.col("frame").shift(1).over("session").alias("gap_from"),
    )
    idx = pl.col("gap").arg_max()
    return gapped.group_by("session").agg(
        pl.col("gap").max().alias(f"max_gap_{name}_s"),
        pl.col("gap_from").get(idx).alias(f"max_gap_{name}_from_frame"),
        pl.col("frame").get(idx).alias(f"max_gap_{name}_to_frame"),
    )


def liveness_features(frames: pl.DataFrame) -> pl.DataFrame:
    out = frames.select("session").unique()
    for name, is_client in SIDES:
        out = out.join(_gaps(frames, name, is_client), on="session", how="left")
    return out.join(_unanswered_pings(frames), on="session", how="left")


def _unanswered_pings(frames: pl.DataFrame) -> pl.DataFrame:
    """Each side's first ping that no later pong from the other side follows.

    A pong answers the most recent ping (RFC 6455 §5.5.3 lets it skip older ones), so a
    ping is unanswered exactly when it comes after the other side's last pong. The first
    such ping is when a ping timeout started counting.
    """
    aggs = []
    for name, is_client in SIDES:
        last_pong = pl.col("frame").filter(side(not is_client) & (pl.col("opcode") == "pong")).max()
        late = side(is_client) & (pl.col("opcode") == "ping")
        late = late & ((pl.col("frame") > last_pong) | last_pong.is_null())
        aggs += [
            pl.col("frame").filter(late).min().alias(f"first_unanswered_ping_{name}_frame"),
            pl.col("time").filter(late).min().alias(f"first_unanswered_ping_{name}_time"),
        ]
    return frames.group_by("session").agg(aggs)


def quiet_features(sessions: pl.DataFrame) -> pl.DataFrame:
    """Gaps that need the handshake and close times: before the first data, before close.

    "No data since the open" is a measurement only where every frame was seen: a log
    need not print its frames, so a log-only session's quiet stays unknown (null).
    """
    opened = pl.when(pl.col("source") != "log").then(pl.coalesce("response_time", "start"))
    client_last = pl.coalesce("last_data_time_client", opened)
    before_close = pl.coalesce("client_last_data_before_server_close", opened)
    ended = pl.coalesce("tcp_end_time", "end")
    return sessions.select(
        "id",
        seconds(pl.col("first_data_time_client") - opened).alias("client_first_data_after_s"),
        seconds(pl.col("close_server_time") - before_close).alias(
            "client_quiet_before_server_close_s"
        ),
        seconds(ended - client_last).alias("client_quiet_before_end_s"),
        seconds(ended - pl.coalesce("last_data_time_server", opened)).alias(
            "server_quiet_before_end_s"
        ),
        (pl.col("pings_client") - pl.col("pongs_server")).clip(0).alias("unanswered_pings_client"),
        (pl.col("pings_server") - pl.col("pongs_client")).clip(0).alias("unanswered_pings_server"),
    )
