"""HAR files -> session rows and frames, through the same feature functions as a capture.

`read_har` already shapes a HAR's WebSocket entries as HANDSHAKES and FRAMES; here they get
ids and the frame-level features (framing, liveness, closing). What a HAR cannot know (TCP,
the client's port) stays null, and TCP counters are not zero-filled: "no RST seen" would be
a claim a HAR cannot make.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer.features.closing import closing_features
from analyzer.features.framing import framing_features
from analyzer.features.liveness import liveness_features
from analyzer.ingest.har import HarData
from analyzer.schema import FRAMES
from analyzer.sessions.dataset import Dataset
from analyzer.sessions.finish import FRAME_COUNTS, finish_sessions, padded


def add_hars(data: Dataset, hars: list[HarData], first_index: int) -> None:
    """HAR sessions join the capture's: same columns, `source: har`."""
    table, frames = har_tables(hars, first_index)
    data.warnings += [w for h in hars for w in h.warnings]
    data.files["har"] = har_facts(hars)
    if table.height:
        listed = pl.col("messages_recorded")  # Firefox lists no messages: counts unknown
        table = padded(table).with_columns(
            pl.when(listed).then(pl.col(c).fill_null(0)).otherwise(pl.col(c)) for c in FRAME_COUNTS
        )
        data.sessions = pl.concat([data.sessions, finish_sessions(table, counts=[])])
        data.frames = pl.concat([data.frames, frames])


def har_tables(hars: list[HarData], first_index: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(sessions before `finish_sessions`, frames), ids `h<file>-<entry>`.

    Sessions keep `messages_recorded` (false: the HAR lists no messages at all, as Firefox
    writes it), so frame counters are zero-filled only where the HAR did list them.

    `first_index` is the HARs' position after the captures: their `input_index`.
    """
    parts = [_one(h, i, first_index + i) for i, h in enumerate(hars)]
    parts = [p for p in parts if p[0].height]
    if not parts:
        return pl.DataFrame(), FRAMES.empty()
    table = pl.concat([p[0] for p in parts], how="diagonal_relaxed")
    frames = FRAMES.conform(pl.concat([p[1] for p in parts]))
    if frames.height:
        # No feature reads the previews; sorting them along was a copy of every one (350 MB
        # for a HAR of 2 million messages).
        lean = frames.drop("text_preview")
        for part in (framing_features(lean), liveness_features(lean), closing_features(lean)):
            table = table.join(part.rename({"session": "id"}), on="id", how="left")
    return table, frames


def _one(har: HarData, file_no: int, index: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    ident = pl.format("h{}-{}", pl.lit(file_no), pl.col("stream"))
    facts = har.sessions.select(
        "stream", "start", "end", "har_close_not_recorded", "messages_recorded"
    )
    table = (
        har.handshakes.drop("input", "client")
        .join(facts, on="stream", how="left")
        .with_columns(
            ident.alias("id"),
            pl.lit("har").alias("source"),
            pl.lit(str(har.path)).alias("input"),
            pl.lit(index, pl.Int32).alias("input_index"),
            _kind().alias("kind"),
        )
        .drop("stream")
    )
    ids = {f"har-{s}": f"h{file_no}-{s}" for s in har.sessions["stream"].to_list()}
    frames = har.frames.with_columns(pl.col("session").replace_strict(ids, default=None))
    return table, frames


def _kind() -> pl.Expr:
    """The capture vocabulary: a HAR entry is a websocket (101) or a rejected upgrade."""
    return (
        pl.when(pl.col("status") == 101)
        .then(pl.lit("websocket"))
        .when(pl.col("status").is_not_null())
        .then(pl.lit("rejected"))
        .otherwise(pl.lit("unanswered"))
    )


def har_facts(hars: list[HarData]) -> list[dict[str, Any]]:
    """Per-file facts for the report's inputs: what each HAR held."""
    return [
        {
            "path": str(h.path),
            "creator": h.creator,
            "sessions": h.sessions.height,
            "messages": h.frames.height,
            "close_not_recorded": int(h.sessions["har_close_not_recorded"].sum()),
            "matched": None,  # set by har_fold.fold_hars when there is a capture
            "offset_s": None,
        }
        for h in hars
    ]
