"""Tagged packets -> one row per TCP lifecycle or health event (SYN, FIN, RST, loss...)."""

from __future__ import annotations

import polars as pl

from analyzer.schema import TCP_ANALYSIS, TCP_EVENTS


def tcp_events(packets: pl.DataFrame) -> pl.DataFrame:
    kinds = {
        "syn": pl.col("syn") & ~pl.col("ack"),
        "synack": pl.col("syn") & pl.col("ack"),
        "fin": pl.col("fin"),
        "rst": pl.col("rst"),
        **{k: pl.col(k) for k in TCP_ANALYSIS},
    }
    parts = [
        packets.filter(cond).select(
            "session",
            pl.col("frame_no").alias("frame"),
            pl.col("ts").alias("time"),
            "from_client",
            pl.lit(kind).alias("kind"),
            "ttl",
            "ip_id",
        )
        for kind, cond in kinds.items()
    ]
    return TCP_EVENTS.conform(pl.concat(parts)).sort("time", "frame")
