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
from analyzer.ingest.tshark import AGGREGATOR
from analyzer.protocol import OPCODE_NAMES

PREVIEW_CHARS = 160
JSON_TYPE_SCAN = 4096
# Binary frames whose payload is read for JSON: a control-frame sized message (Deepgram's
# KeepAlive/CloseStream/Finalize are 20-30 bytes); audio chunks are far larger.
BINARY_JSON_MIN, BINARY_JSON_MAX = 2, 125
_JSON_TYPE = r'^\s*\{.*?"type"\s*:\s*"([^"\\]{1,64})"'
_PRINTABLE_HEX = r"^(?:[2-6][0-9a-fA-F]|7[0-9a-eA-E]|09|0[aAdD])$"
_PACKET = ["input", "frame_no"]
_HEADER = ("ws_fin", "ws_rsv", "ws_opcode", "ws_mask", "ws_len7")
_CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _rank(condition: pl.Expr) -> pl.Expr:
    """0-based rank of this frame among the frames of its packet that satisfy `condition`."""
    return condition.cast(pl.Int32).cum_sum().over("input", "frame_no") - 1


def _count(condition: pl.Expr) -> pl.Expr:
    return condition.cast(pl.Int32).sum().over("input", "frame_no")


def _nth(column: str, condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(pl.col(column).list.get(_rank(condition), null_on_oob=True))


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
            "ws_binary",
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
    return (
        frames.with_columns(
            _nth("ws_close_code", has_code).cast(pl.Int32, strict=False).alias("close_code"),
            _single_or_nth("ws_close_reason", has_reason).alias("close_reason"),
            _single_or_nth("ws_text", is_text).alias("text"),
            (is_text & pl.col("ws_text").is_not_null()).alias("_text_expected"),
        )
        .pipe(_binary_payloads)
        .pipe(_finish)
    )


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


def _binary_payloads(frames: pl.DataFrame) -> pl.DataFrame:
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
        & pl.col("ws_binary").is_not_null()
    )
    frames = frames.with_row_index("_row")
    by_length = [*_PACKET, "payload_len"]
    ranked = [
        pl.int_range(pl.len()).over(by_length).alias("_rank"),
        pl.len().over(by_length).alias("_n"),
    ]
    values = (
        frames.filter(pl.col("ws_binary").is_not_null())
        .unique(_PACKET, maintain_order=True)
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
    lone = candidate & (_count(ends_message) == 1) & (pl.col("ws_binary").list.len() == 1)
    return pl.when(lone).then(pl.col("ws_binary").list.first())


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
