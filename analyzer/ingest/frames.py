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

Binary payloads come from a second, targeted pass (`data.data`, one value per whole binary
message, in tree order) and only feed `json_type`; see `_binary_payloads` for how they are
matched to frames.
"""

from __future__ import annotations

import polars as pl

from analyzer import redact
from analyzer.ingest.tshark_argv import AGGREGATOR
from analyzer.protocol import OPCODE_NAMES

PREVIEW_CHARS = 160
JSON_TYPE_SCAN = 4096
# Binary frames whose payload is read for JSON: a control-frame sized message (Deepgram's
# KeepAlive/CloseStream/Finalize are 20-30 bytes); audio chunks are far larger.
BINARY_JSON_MIN, BINARY_JSON_MAX = 2, 125
INT64_MAX = (1 << 63) - 1
_JSON_TYPE = r'^\s*\{.*?"type"\s*:\s*"([^"\\]{1,64})"'
_PRINTABLE_HEX = r"^(?:[2-6][0-9a-fA-F]|7[0-9a-eA-E]|09|0[aAdD])$"
_PACKET = ["input", "frame_no"]
# A frame's packet as one sorted number (the frames of a packet are adjacent rows): the
# windows over a packet group by it far faster than by (input, frame_no).
_PKT = "_pkt"
_HEADER = ("ws_fin", "ws_rsv", "ws_opcode", "ws_mask", "ws_len7")
# Per-packet fields that only some frames carry: matched to frames by rank, never exploded.
_OPTIONAL = ("ws_len16", "ws_len64", "ws_close_code", "ws_close_reason", "ws_text", "ws_binary")
_CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _rank(condition: pl.Expr) -> pl.Expr:
    """0-based rank of this frame among the frames of its packet that satisfy `condition`."""
    return (condition.cast(pl.Int32).cum_sum().over(_PKT) - 1).cast(pl.Int32)


def _count(condition: pl.Expr) -> pl.Expr:
    return condition.cast(pl.Int32).sum().over(_PKT)


def small_binary_packets(packets: pl.DataFrame) -> pl.DataFrame:
    """(frame_no, stream) of packets completing a whole binary message of 2-125 bytes.

    Deciding whether the payload pass is needed; header lists that do not zip are left
    out, as `explode_frames` leaves them out.
    """
    header = ["ws_opcode", "ws_fin", "ws_len7"]
    ws = packets.filter(pl.col("ws_opcode").is_not_null())
    aligned = pl.all_horizontal(
        pl.col(c).list.len() == pl.col("ws_opcode").list.len() for c in header
    )
    length = pl.col("ws_len7").cast(pl.Int64, strict=False)
    return (
        ws.filter(aligned)
        .select("frame_no", "stream", *header)
        .explode(header)
        .filter(
            (pl.col("ws_opcode") == "2")
            & (pl.col("ws_fin") == "1")
            & length.is_between(BINARY_JSON_MIN, BINARY_JSON_MAX)
        )
        .select("frame_no", "stream")
        .unique(maintain_order=True)
    )


def explode_frames(packets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (frames, misaligned packets); the latter become anomalies, never guesses.

    Only the header lists are exploded. The optional fields stay one row per packet and
    reach their frames by a join on (packet, rank): carrying a packet's joined text to each
    of its frames and splitting it there cost O(frames x frames per packet) memory (2.4 GB
    for 300,000 one-byte text frames packed ~466 per segment).
    """
    ws = packets.filter(pl.col("ws_opcode").is_not_null())
    lengths = [pl.col(c).list.len() for c in _HEADER]
    aligned = pl.all_horizontal([n == lengths[0] for n in lengths[1:]])
    bad = ws.filter(~aligned).select("input", "frame_no", "ts", "stream")
    good = ws.filter(aligned)
    frames = (
        good.select(*_PACKET, "ts", "stream", "src", "dst", *_HEADER, "ws_decompress_failed")
        .with_row_index(_PKT)
        .explode(list(_HEADER))
        .with_columns(pl.col(_PKT).set_sorted())
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
    return _payload_fields(frames, good.select(*_PACKET, *_OPTIONAL)), bad


def _payload_fields(frames: pl.DataFrame, extras: pl.DataFrame) -> pl.DataFrame:
    len7 = pl.col("len7")
    frames = (
        frames.pipe(_nth, _values(extras, "ws_len64"), len7 == 127, "_len64")
        .pipe(_nth, _values(extras, "ws_len16"), len7 == 126, "_len16")
        .with_columns(
            pl.when(len7 == 127)
            .then(_saturated(pl.col("_len64")))
            .when(len7 == 126)
            .then(pl.col("_len16").cast(pl.Int64, strict=False))
            .otherwise(len7)
            .alias("payload_len")
        )
    )
    is_close = pl.col("opcode_num") == 8
    has_code = is_close & (pl.col("payload_len") >= 2)
    has_reason = is_close & (pl.col("payload_len") > 2)
    is_text = (pl.col("opcode_num") == 1) & pl.col("fin") & (pl.col("payload_len") > 0)
    flags = extras.select(
        *_PACKET,
        pl.col("ws_text").is_not_null().alias("_has_text"),
        pl.col("ws_binary").list.len().alias("_binary_n"),
        pl.col("ws_binary").list.first().alias("_binary_first"),
    ).filter(pl.col("_has_text") | pl.col("_binary_n").is_not_null())
    return (
        frames.pipe(_nth, _values(extras, "ws_close_code"), has_code, "close_code")
        .with_columns(pl.col("close_code").cast(pl.Int32, strict=False))
        .pipe(_single_or_nth, _values(extras, "ws_close_reason"), has_reason, "close_reason")
        .pipe(_single_or_nth, _values(extras, "ws_text"), is_text, "text")
        .join(flags, on=_PACKET, how="left", maintain_order="left")
        .with_columns((is_text & pl.col("_has_text").fill_null(False)).alias("_text_expected"))
        .pipe(_binary_payloads, extras)
        .pipe(_finish)
    )


def _saturated(length: pl.Expr) -> pl.Expr:
    """A 64-bit length as Int64, clamped: a claim with the top bit set (which RFC 6455
    forbids) stays visible as the largest length instead of vanishing as null."""
    return length.cast(pl.UInt64, strict=False).clip(upper_bound=INT64_MAX).cast(pl.Int64)


def _values(extras: pl.DataFrame, column: str) -> pl.DataFrame:
    """One row per value of a per-packet field: packet, rank `_r`, count `_n`, value `_v`.

    A string column is split at the aggregator here, once per packet; `_whole` keeps the
    unsplit string on rank 0 for `_single_or_nth`.
    """
    value = pl.col(column)
    if extras.schema[column] == pl.String:
        value = value.str.split(AGGREGATOR)
    return (
        extras.select(*_PACKET, pl.col(column).alias("_whole"), value.alias("_v"))
        .filter(pl.col("_v").is_not_null())
        .with_columns(
            pl.col("_v").list.len().alias("_n"),
            pl.int_ranges(0, pl.col("_v").list.len(), dtype=pl.Int32).alias("_r"),
        )
        .explode("_v", "_r")
        .with_columns(pl.when(pl.col("_r") == 0).then(pl.col("_whole")).alias("_whole"))
    )


def _joined(
    frames: pl.DataFrame, values: pl.DataFrame, condition: pl.Expr, counted: bool = True
) -> pl.DataFrame:
    """The frames satisfying `condition` get the value of their rank (`_v`, `_n`, `_whole`)
    and (when `counted`) `_c`, the number of such frames in their packet."""
    count = [_count(condition).alias("_c")] if counted else []
    keyed = frames.with_columns(pl.when(condition).then(_rank(condition)).alias("_r"), *count)
    return keyed.join(values, on=[*_PACKET, "_r"], how="left", maintain_order="left")


def _nth(
    frames: pl.DataFrame, values: pl.DataFrame, condition: pl.Expr, alias: str
) -> pl.DataFrame:
    """The k-th value goes to the k-th frame satisfying `condition` (fields that zip)."""
    if values.height == 0:  # no packet has the field (no 64-bit length, no close code)
        return frames.with_columns(pl.lit(None, values.schema["_v"]).alias(alias))
    return (
        _joined(frames, values, condition, counted=False)
        .with_columns(pl.col("_v").alias(alias))
        .drop("_r", "_v", "_n", "_whole")
    )


def _single_or_nth(
    frames: pl.DataFrame, values: pl.DataFrame, condition: pl.Expr, alias: str
) -> pl.DataFrame:
    """Assign string values only when the candidates and the values agree in number."""
    final_continuations = _count((pl.col("opcode_num") == 0) & pl.col("fin"))
    whole = condition & (pl.col("_c") == 1) & (final_continuations == 0)
    zipped = condition & (pl.col("_n") == pl.col("_c"))
    return (
        _joined(frames, values, condition)
        .with_columns(
            pl.when(whole).then(pl.col("_whole")).when(zipped).then(pl.col("_v")).alias(alias)
        )
        .drop("_r", "_c", "_v", "_n", "_whole")
    )


def _binary_payloads(frames: pl.DataFrame, extras: pl.DataFrame) -> pl.DataFrame:
    """Give each small whole binary frame its payload hex (`binary_hex`) when provable.

    `data.data` has one value per whole binary message, but a fragmented message's value
    sits in its final continuation packet and a subdissector can take a payload, so values
    are not zipped by position. A frame of N bytes takes the k-th value of N bytes when the
    packet has as many such frames as such values (exactly one of each in the common
    case); under permessage-deflate the value is decompressed, so a compressed frame is
    only matched when it is the packet's one message-ending frame and there is one value.
    Anything else stays null: no payload is ever attached to the wrong frame.
    """
    candidate = (
        (pl.col("opcode_num") == 2)
        & pl.col("fin")
        & pl.col("payload_len").is_between(BINARY_JSON_MIN, BINARY_JSON_MAX)
        & pl.col("_binary_n").is_not_null()
    )
    frames = frames.with_row_index("_row")
    by_length = [*_PACKET, "payload_len"]
    ranked = [
        pl.int_range(pl.len()).over(by_length).alias("_rank"),
        pl.len().over(by_length).alias("_n"),
    ]
    values = (
        extras.filter(pl.col("ws_binary").is_not_null())
        .select(*_PACKET, pl.col("ws_binary").alias("binary_hex"))
        .explode("binary_hex")
        .with_columns(
            (pl.col("binary_hex").str.len_bytes() // 2).cast(pl.Int64).alias("payload_len")
        )
    )
    matched = (
        frames.filter(candidate)
        .select("_row", *by_length, *ranked)
        .join(values.with_columns(ranked), on=[*by_length, "_rank", "_n"])
        .select("_row", "binary_hex")
    )
    return frames.join(matched, on="_row", how="left", maintain_order="left").with_columns(
        pl.coalesce("binary_hex", _lone_value(candidate))
    )


def _lone_value(candidate: pl.Expr) -> pl.Expr:
    """The payload of the one message-ending frame of a packet that yielded one value."""
    ends_message = pl.col("fin") & pl.col("opcode_num").is_in([0, 2])
    lone = candidate & (_count(ends_message) == 1) & (pl.col("_binary_n") == 1)
    return pl.when(lone).then(pl.col("_binary_first"))


def _binary_text(hex_payload: pl.Expr) -> pl.Expr:
    """Hex payload -> ASCII text (other bytes as `?`), only for payloads that open with `{`.

    Audio is never JSON, so it never reaches the per-byte list work. polars cannot cast
    invalid UTF-8 to text, and the JSON `type` of a control message is ASCII.
    """
    head = hex_payload.str.slice(0, 2 * BINARY_JSON_MAX)
    pairs = head.str.extract_all(r"[0-9a-fA-F]{2}").list.eval(
        pl.when(pl.element().str.contains(_PRINTABLE_HEX))
        .then(pl.element())
        .otherwise(pl.lit("3f"))
    )
    text = pairs.list.join("").str.decode("hex").cast(pl.String)
    return pl.when(head.str.contains(r"^(?:20|09|0[aAdD])*7[bB]")).then(text)


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
        redact.close_reason_expr(_printable(pl.col("close_reason"))).alias("close_reason"),
        _printable(redact.preview_expr(text, PREVIEW_CHARS)).alias("text_preview"),
        pl.coalesce(
            scan.str.extract(_JSON_TYPE, 1),
            _binary_text(pl.col("binary_hex")).str.extract("(?s)" + _JSON_TYPE, 1),
        ).alias("json_type"),
        (pl.col("_text_expected") & text.is_null()).alias("text_unassigned"),
        pl.col("ws_decompress_failed").alias("decompress_failed"),
    )


def _printable(expr: pl.Expr) -> pl.Expr:
    """tshark escapes tab/CR/LF itself; other control bytes would reach a terminal raw."""
    return expr.str.replace_all(_CONTROL_CHARS, "\ufffd")
