"""Packet rows -> one row per WebSocket frame.

tshark prints each field's occurrences in tree order, so the always-present header fields
(fin, rsv, opcode, mask, 7-bit length) zip positionally. Optional fields are matched to
frames by rank among the frames that must carry them, following the 4.0 dissector:
- `payload_length_ext_16` / `_ext_64` exist iff the 7-bit length is 126 / 127;
- a close status code exists iff the close payload has >= 2 bytes, a reason iff > 2;
- text exists for an unfragmented text frame with a payload, unless a subdissector took
  it or permessage-deflate failed. Text is only assigned when the number of values equals
  the number of such frames in the packet; otherwise it is left null and reported as the
  `ws_text_unassigned` anomaly (a preview is never attached to the wrong frame).
Values are not escaped by tshark, so a lone candidate takes the whole unsplit string.
"""

from __future__ import annotations

import polars as pl

from analyzer import redact
from analyzer.ingest.tshark import AGGREGATOR
from analyzer.protocol import OPCODE_NAMES

PREVIEW_CHARS = 160
JSON_TYPE_SCAN = 4096
_HEADER = ("ws_fin", "ws_rsv", "ws_opcode", "ws_mask", "ws_len7")
_CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _rank(condition: pl.Expr) -> pl.Expr:
    """0-based rank of this frame among the frames of its packet that satisfy `condition`."""
    return condition.cast(pl.Int32).cum_sum().over("input", "frame_no") - 1


def _count(condition: pl.Expr) -> pl.Expr:
    return condition.cast(pl.Int32).sum().over("input", "frame_no")


def _nth(column: str, condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(pl.col(column).list.get(_rank(condition), null_on_oob=True))


def explode_frames(packets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (frames, misaligned packets); the latter become anomalies, never guesses."""
    ws = packets.filter(pl.col("ws_opcode").is_not_null())
    lengths = [pl.col(c).list.len() for c in _HEADER]
    aligned = pl.all_horizontal([n == lengths[0] for n in lengths[1:]])
    bad = ws.filter(~aligned).select("input", "frame_no", "ts", "stream")
    frames = (
        ws.filter(aligned)
        .select(
            "input",
            "frame_no",
            "ts",
            "stream",
            "src",
            "dst",
            *_HEADER,
            "ws_len16",
            "ws_len64",
            "ws_close_code",
            "ws_close_reason",
            "ws_text",
            "ws_decompress_failed",
        )
        .explode(list(_HEADER))
        .with_columns(
            (pl.col("ws_fin") == "1").alias("fin"),
            pl.col("ws_rsv")
            .str.strip_prefix("0x")
            .str.to_integer(base=16, strict=False)
            .cast(pl.Int8)
            .alias("rsv"),
            pl.col("ws_opcode").cast(pl.Int8, strict=False).alias("opcode_num"),
            (pl.col("ws_mask") == "1").alias("masked"),
            pl.col("ws_len7").cast(pl.Int64, strict=False).alias("len7"),
        )
    )
    return _payload_fields(frames), bad


def _payload_fields(frames: pl.DataFrame) -> pl.DataFrame:
    len7 = pl.col("len7")
    frames = frames.with_columns(
        pl.when(len7 == 127)
        .then(_nth("ws_len64", len7 == 127).cast(pl.Int64, strict=False))
        .when(len7 == 126)
        .then(_nth("ws_len16", len7 == 126).cast(pl.Int64, strict=False))
        .otherwise(len7)
        .alias("payload_len")
    )
    is_close = pl.col("opcode_num") == 8
    has_code = is_close & (pl.col("payload_len") >= 2)
    has_reason = is_close & (pl.col("payload_len") > 2)
    is_text = (pl.col("opcode_num") == 1) & pl.col("fin") & (pl.col("payload_len") > 0)
    return frames.with_columns(
        _nth("ws_close_code", has_code).cast(pl.Int32, strict=False).alias("close_code"),
        _single_or_nth("ws_close_reason", has_reason).alias("close_reason"),
        _single_or_nth("ws_text", is_text).alias("text"),
        (is_text & pl.col("ws_text").is_not_null()).alias("_text_expected"),
    ).pipe(_finish)


def _single_or_nth(column: str, condition: pl.Expr) -> pl.Expr:
    """Assign string values only when the candidates and the values agree in number."""
    values = pl.col(column).str.split(AGGREGATOR)
    candidates = _count(condition)
    final_continuations = _count((pl.col("opcode_num") == 0) & pl.col("fin"))
    whole = condition & (candidates == 1) & (final_continuations == 0)
    zipped = condition & (values.list.len() == candidates)
    return (
        pl.when(whole)
        .then(pl.col(column))
        .when(zipped)
        .then(values.list.get(_rank(condition), null_on_oob=True))
    )


def _finish(frames: pl.DataFrame) -> pl.DataFrame:
    text = pl.col("text")
    scan = text.str.slice(0, JSON_TYPE_SCAN)
    return frames.select(
        "input",
        "frame_no",
        "ts",
        "stream",
        "src",
        "dst",
        "fin",
        "rsv",
        "opcode_num",
        pl.col("opcode_num")
        .replace_strict(
            OPCODE_NAMES,
            default=pl.concat_str(pl.lit("reserved-"), pl.col("opcode_num")),
            return_dtype=pl.String,
        )
        .alias("opcode"),
        "masked",
        "payload_len",
        "close_code",
        _printable(pl.col("close_reason")).alias("close_reason"),
        _printable(text.str.slice(0, PREVIEW_CHARS))
        .str.replace_all(redact.KEY_PATTERN, redact.KEY_REPLACEMENT_POLARS)
        .alias("text_preview"),
        scan.str.extract(r'^\s*\{.*?"type"\s*:\s*"([^"\\]{1,64})"', 1).alias("json_type"),
        (pl.col("_text_expected") & text.is_null()).alias("text_unassigned"),
        pl.col("ws_decompress_failed").alias("decompress_failed"),
    )


def _printable(expr: pl.Expr) -> pl.Expr:
    """tshark escapes tab/CR/LF itself; other control bytes would reach a terminal raw."""
    return expr.str.replace_all(_CONTROL_CHARS, "\ufffd")
