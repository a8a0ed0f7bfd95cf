"""Session ids s1.. by start time, over every source."""

from __future__ import annotations

import polars as pl

from analyzer.ingest import kinds
from analyzer.sessions.dataset import Dataset


def renumber(data: Dataset) -> None:
    """Ids s1.. by start time over every source; ties go by input kind (the registry's
    order), then by the source's own number (capture ids keep their order)."""
    order_of = {name: i for i, name in enumerate(kinds.names())}  # captures, HARs, logs
    rank = pl.col("source").replace_strict(order_of, default=len(order_of), return_dtype=pl.Int32)
    seq = pl.col("id").str.extract(r"(\d+)$", 1).cast(pl.Int64, strict=False)
    order = data.sessions.with_columns(rank.alias("_r"), seq.alias("_q")).sort(
        "start", "_r", "_q", nulls_last=True, maintain_order=True
    )
    new = [f"s{i}" for i in range(1, order.height + 1)]
    mapping = dict(zip(order["id"].to_list(), new, strict=True))
    if all(k == v for k, v in mapping.items()):
        return
    remap = pl.col("session").replace_strict(mapping, default=None, return_dtype=pl.String)
    data.sessions = order.drop("_r", "_q").with_columns(
        pl.col("id").replace_strict(mapping, return_dtype=pl.String),
        pl.col("other_leg").replace_strict(mapping, default=None, return_dtype=pl.String),
    )
    data.frames = data.frames.with_columns(remap)
    data.tcp_events = data.tcp_events.with_columns(remap)
    data.anomalies = data.anomalies.with_columns(remap)
    data.log_events = data.log_events.with_columns(remap)
