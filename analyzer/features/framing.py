"""What each side sent: frame counts, bytes, message kinds, Deepgram JSON message types."""

from __future__ import annotations

import polars as pl

from analyzer.features.common import SIDES, is_data, saturating_sum, side

CLIENT_TYPES = {"keepalive": "KeepAlive", "closestream": "CloseStream", "finalize": "Finalize"}
SERVER_TYPES = {"results": "Results", "metadata": "Metadata"}
# Deepgram's documented client control messages: all must be text frames.
CONTROL_JSON = tuple(CLIENT_TYPES.values())


def _per_side(name: str, is_client: bool) -> list[pl.Expr]:
    s = side(is_client)
    op = pl.col("opcode")
    data = s & is_data()
    return [
        s.sum().alias(f"frames_{name}"),
        data.sum().alias(f"data_frames_{name}"),
        (s & ~is_data()).sum().alias(f"control_frames_{name}"),
        saturating_sum(pl.col("payload_len").filter(s)).alias(f"payload_bytes_{name}"),
        (s & (op == "text")).sum().alias(f"text_frames_{name}"),
        (s & (op == "binary")).sum().alias(f"binary_frames_{name}"),
        (s & (op == "ping")).sum().alias(f"pings_{name}"),
        (s & (op == "pong")).sum().alias(f"pongs_{name}"),
        pl.col("time").filter(data).min().alias(f"first_data_time_{name}"),
        pl.col("time").filter(data).max().alias(f"last_data_time_{name}"),
        pl.col("frame").filter(data).max().alias(f"last_data_frame_{name}"),
        pl.col("time").filter(s).max().alias(f"last_frame_time_{name}"),
        (s & pl.col("masked")).sum().alias(f"masked_frames_{name}"),
    ]


def _json_counts(types: dict[str, str], is_client: bool, suffix: str) -> list[pl.Expr]:
    s = side(is_client) & (pl.col("opcode") == "text")
    return [(s & (pl.col("json_type") == t)).sum().alias(f"{k}_{suffix}") for k, t in types.items()]


def _binary_json(client_binary: pl.Expr) -> list[pl.Expr]:
    """Control JSON in binary frames (an SDK bug Deepgram reads as audio), and real audio.

    `json_type` of a binary frame is known only for payloads of 2-125 bytes that the
    payload pass could attribute (see ingest/frames.py); a larger frame counts as audio.
    """
    keepalive = client_binary & (pl.col("json_type") == "KeepAlive").fill_null(False)
    control = client_binary & pl.col("json_type").is_in(CONTROL_JSON).fill_null(False)
    return [
        keepalive.sum().alias("keepalive_binary_client"),
        pl.col("frame").filter(keepalive).min().alias("keepalive_binary_client_frame"),
        control.sum().alias("control_json_binary_client"),
        (client_binary & (pl.col("payload_len") > 0) & ~control).sum().alias("audio_frames_client"),
    ]


def framing_features(frames: pl.DataFrame) -> pl.DataFrame:
    client = side(True)
    binary = pl.col("opcode") == "binary"
    return frames.group_by("session").agg(
        *[e for name, c in SIDES for e in _per_side(name, c)],
        *_json_counts(CLIENT_TYPES, True, "client"),
        *_json_counts(SERVER_TYPES, False, "server"),
        *_binary_json(client & binary),
        (client & binary & (pl.col("payload_len") == 0)).sum().alias("empty_binary_client"),
        pl.col("frame")
        .filter(client & binary & (pl.col("payload_len") == 0))
        .min()
        .alias("empty_binary_client_frame"),
        (pl.col("rsv") & 4 > 0).any().alias("compressed"),
    )
