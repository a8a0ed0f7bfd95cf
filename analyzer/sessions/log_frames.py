"""The frames a log records, for the sessions only logs tell of.

A library's debug log can print every frame it sends and receives (Python websockets'
`> BINARY ... [3200 bytes]`); its pack's patterns name the `opcode`, `payload_len` and
`fin` of such lines. A log-only session has no other witness of its frames, so these
lines become its FRAMES rows, `frame` null and `time` the line's own (on the log's clock).
A session a capture or HAR also saw keeps that source's frames only: the log would
repeat them less exactly.
"""

from __future__ import annotations

import polars as pl

from analyzer.schema import FRAMES
from analyzer.vocab import SENT


def log_frames(events: pl.DataFrame) -> pl.DataFrame:
    """FRAMES rows of the log-only sessions' frame lines (SESSION_LOG_EVENTS `events`).

    The writer's side gives the direction: a client's sent frame is from the client, a
    server's sent frame from the server (a line whose writer is not known is read as a
    client's, as log-only sessions read its closes). When several logs tell of one
    session (the client's and the server's), the frames come from the one that records
    the most of them: each frame appears once.
    """
    lines = events.filter((pl.col("match") == "log") & pl.col("opcode").is_not_null())
    if lines.is_empty():
        return FRAMES.empty()
    per_input = lines.group_by("session", "input").len()
    fullest = per_input.sort("len", "input", descending=[True, False]).unique(
        "session", keep="first"
    )
    mine = lines.join(fullest.select("session", "input"), on=["session", "input"], how="semi")
    sent = pl.col("kind").is_in(SENT)
    close = pl.col("opcode") == "close"
    rows = mine.sort("session", "line").select(
        "session",
        "time",
        pl.when(pl.col("side") == "server").then(~sent).otherwise(sent).alias("from_client"),
        "fin",
        "opcode",
        "payload_len",
        pl.when(close).then(pl.col("close_code")).alias("close_code"),
        pl.when(close).then(pl.col("close_reason")).alias("close_reason"),
        pl.when(pl.col("kind") == "keepalive_sent").then(pl.lit("KeepAlive")).alias("json_type"),
        "input",
    )
    return FRAMES.conform(rows.with_columns(_message_opcode(), *_unknown(rows.columns)))


def _message_opcode() -> pl.Expr:
    """A continuation frame continues the last text or binary message of its direction."""
    data = pl.when(pl.col("opcode").is_in(["text", "binary"])).then(pl.col("opcode"))
    started = data.forward_fill().over("session", "from_client")
    return (
        pl.when(pl.col("opcode") == "continuation")
        .then(started)
        .otherwise(pl.col("opcode"))
        .alias("message_opcode")
    )


def _unknown(have: list[str]) -> list[pl.Expr]:
    """What a log line does not say (the capture frame number, RSV and MASK bits, ...)."""
    return [
        pl.lit(None, dtype).alias(name)
        for name, (dtype, _) in FRAMES.columns.items()
        if name not in have and name != "message_opcode"
    ]
