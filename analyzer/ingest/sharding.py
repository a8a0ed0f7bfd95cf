"""The shards' rows put back into the whole's (how many shards: shard_plan.py).

Shards are cut by TCP connection (ingest/shards.py) and dissected apart; their rows are
then the rows one tshark would have printed for the whole file, once three numbers are
mapped back: the frame number (and `http.request_in`, which names one), and the TCP
stream index, which tshark gives each connection in the order of its first packet.
"""

from __future__ import annotations

from array import array

import polars as pl

from analyzer.ingest.dissect import Dissected

TABLES = ("packets", "spans", "frames", "misaligned")  # the tables of a Dissected


def merge(parts: list[Dissected], originals: list[array]) -> Dissected | None:
    """The shards' results as the whole file's: frame numbers, streams, rows in order.
    `originals`: per shard, the original frame number of its n-th packet (shards.Cut).

    None when a dissector opened a TCP conversation of its own, which took a stream
    number no packet shows, so where it falls among the other shards' connections cannot
    be told: SOCKS does, for the endpoints it tunnels to; a gap in a shard's stream
    numbers shows any other that does."""
    if any(p.socks for p in parts) or not all(_contiguous(p.spans) for p in parts):
        return None
    tables: dict[str, list[pl.DataFrame]] = {}
    for shard, (part, numbers) in enumerate(zip(parts, originals, strict=True)):
        lookup = pl.Series("frame", numbers, dtype=pl.Int64)
        for name in TABLES:
            tables.setdefault(name, []).append(_frames_back(getattr(part, name), lookup, shard))
    streams = _stream_numbers(pl.concat(tables["spans"]))
    whole = {name: _restream(pl.concat(pieces), streams) for name, pieces in tables.items()}
    return Dissected(
        whole["packets"].sort("frame_no"),
        whole["spans"].sort("input", "stream"),
        # a packet's frames keep tshark's (wire) order
        whole["frames"].sort("frame_no", maintain_order=True),
        whole["misaligned"].sort("frame_no", maintain_order=True),
        sum(p.timeless for p in parts),
        max(p.returncode for p in parts),
        [line for p in parts for line in p.messages],
    )


def _contiguous(spans: pl.DataFrame) -> bool:
    streams = spans["stream"].drop_nulls()
    return streams.n_unique() == len(streams) and (streams.max() or 0) + 1 == len(streams)


def _frames_back(table: pl.DataFrame, lookup: pl.Series, shard: int) -> pl.DataFrame:
    """Shard frame numbers -> the original file's (the n-th packet of the shard is
    lookup[n - 1]); a number the shard cannot hold becomes null rather than wrong."""
    mapped = {
        name: pl.when(pl.col(name).is_between(1, lookup.len()))
        .then(pl.lit(lookup).gather(pl.col(name).clip(1, lookup.len()) - 1))
        .alias(name)
        for name in ("frame_no", "http_request_in", "first_frame", "last_frame")
        if name in table.columns
    }
    return table.with_columns(*mapped.values(), pl.lit(shard, pl.Int32).alias("_shard"))


def _stream_numbers(spans: pl.DataFrame) -> pl.DataFrame:
    """(shard, shard's stream) -> the whole file's stream: tshark numbers connections in
    the order of their first packet, and every TCP packet is in the spans."""
    return (
        spans.select("_shard", "stream", "first_frame")
        .sort("first_frame")
        .with_row_index("_whole")
        .select("_shard", "stream", pl.col("_whole").cast(pl.Int64))
    )


def _restream(table: pl.DataFrame, streams: pl.DataFrame) -> pl.DataFrame:
    columns = table.columns
    return (
        table.join(streams, on=["_shard", "stream"], how="left")
        .with_columns(pl.col("_whole").alias("stream"))
        .select([c for c in columns if c != "_shard"])
    )
