"""HAR sessions -> the capture sessions of the same connections: one session per connection.

A browser's HAR and a capture taken at the same time describe each connection twice: the
capture as the wire saw it (every frame, the close handshake, TCP), the HAR as the browser
reported it (data messages only, its own clock). Left apart they would double every
finding, and the HAR half would wrongly say "no close recorded" about a connection whose
close is in the capture. So a HAR session that matches a capture session is folded into it:
the capture row stays (it is the better witness) and records where the HAR saw it.

Keys, strongest first:

0. `Sec-WebSocket-Key`: 16 random bytes per upgrade request, identical in both;
1. the response's `dg-request-id`;
2. the URL (Host and path) with the request times within TOLERANCE_S once the HAR file's
   clock offset is applied.

A proxy forwards the key and the request id to its upstream leg too, so the earliest leg
(the browser's own connection) wins. The offset per HAR file is the median of `HAR request
time - capture request time` over the key matches (0 when there is none), restated from all
matches at the end.
"""

from __future__ import annotations

import polars as pl

from analyzer.features.common import seconds
from analyzer.session_schema import SESSION_GROUPS, SESSIONS
from analyzer.sessions.dataset import Dataset

TOLERANCE_S = 2.0
NAMES = {0: "ws_key", 1: "request_id", 2: "url+time"}
_EMPTY = {"har_id": pl.String, "id": pl.String, "har_input": pl.String, "har_match": pl.String}


def _side(sessions: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return sessions.select(
        pl.col("id").alias(f"{prefix}id"),
        pl.col("input").alias(f"{prefix}input"),
        pl.col("ws_key").alias(f"{prefix}ws_key"),
        pl.col("dg_request_id").alias(f"{prefix}rid"),
        (pl.col("host").str.to_lowercase() + pl.col("path")).alias(f"{prefix}url"),
        pl.col("request_time").alias(f"{prefix}t"),
        pl.col("start").alias(f"{prefix}start"),
    )


def _pick(cands: pl.DataFrame) -> pl.DataFrame:
    """Best pair per HAR session, then at most one HAR session per capture session."""
    return (
        cands.sort("tier", "rank", nulls_last=True)
        .unique("h_id", keep="first", maintain_order=True)
        .unique("c_id", keep="first", maintain_order=True)
    )


def _offsets(pairs: pl.DataFrame) -> dict[str, float]:
    found = (
        pairs.filter(pl.col("h_t").is_not_null() & pl.col("c_t").is_not_null())
        .group_by("h_input")
        .agg(seconds(pl.col("h_t") - pl.col("c_t")).median().alias("d"))
    )
    return dict(zip(found["h_input"].to_list(), found["d"].to_list(), strict=True))


def match_hars(har: pl.DataFrame, capture: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, float]]:
    """(pairs har_id/id/har_input/har_match, offset in seconds per HAR file with a match)."""
    h, c = _side(har, "h_"), _side(capture, "c_")
    if h.is_empty() or c.is_empty():
        return pl.DataFrame(schema=_EMPTY), {}
    keyed = pl.concat(
        [
            h.join(c, left_on="h_ws_key", right_on="c_ws_key").with_columns(tier=pl.lit(0)),
            h.join(c, left_on="h_rid", right_on="c_rid").with_columns(tier=pl.lit(1)),
        ],
        how="diagonal_relaxed",
    ).with_columns(rank=pl.col("c_start").dt.epoch("ns"))
    first = _pick(keyed)
    shift = pl.col("h_input").replace_strict(_offsets(first), default=0.0, return_dtype=pl.Float64)
    gap = (seconds(pl.col("h_t") - pl.col("c_t")) - shift).abs()
    by_url = (
        h.join(c, left_on="h_url", right_on="c_url")
        .with_columns(tier=pl.lit(2), rank=(gap * 1e9).cast(pl.Int64))
        .filter(gap <= TOLERANCE_S)
    )
    pairs = _pick(pl.concat([keyed, by_url], how="diagonal_relaxed"))
    out = pairs.select(
        pl.col("h_id").alias("har_id"),
        pl.col("c_id").alias("id"),
        pl.col("h_input").alias("har_input"),
        pl.col("tier").replace_strict(NAMES, return_dtype=pl.String).alias("har_match"),
    )
    return out, _offsets(pairs)


def fold_hars(data: Dataset) -> None:
    """Fold every HAR session that matches a capture session into it (see the module doc);
    each HAR file's facts say how many of its sessions matched, at which clock offset."""
    is_har = pl.col("source") == "har"
    pairs, offsets = match_hars(data.sessions.filter(is_har), data.sessions.filter(~is_har))
    folded = pairs["har_id"].implode()
    gone = pl.col("session").is_in(folded)
    counts = data.frames.filter(gone).group_by("session").agg(pl.len().alias("har_messages"))
    facts = pairs.join(counts, left_on="har_id", right_on="session", how="left").select(
        "id",
        "har_input",
        "har_match",
        pl.col("har_input")
        .replace_strict(offsets, default=None, return_dtype=pl.Float64)
        .alias("har_offset_s"),
        pl.col("har_messages").fill_null(0),
    )
    kept = data.sessions.filter(~pl.col("id").is_in(folded))
    data.sessions = SESSIONS.conform(
        kept.drop(SESSION_GROUPS["har"]).join(facts, on="id", how="left")
    )
    data.frames = data.frames.filter(~gone)
    for facts_of_file in data.hars:
        path = facts_of_file["path"]
        facts_of_file["matched"] = pairs.filter(pl.col("har_input") == path).height
        facts_of_file["offset_s"] = offsets.get(path)
