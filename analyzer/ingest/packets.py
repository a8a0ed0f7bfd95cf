"""tshark's all-String packet rows -> one typed packet table (pure polars).

Multi-valued fields stay as `list[str]` (one value per occurrence, in tree order);
`frames.py` zips them into WebSocket frames. Encapsulated traffic (IP-in-IP, VXLAN)
carries several IP headers; the innermost (last) one is the conversation's.
"""

from __future__ import annotations

import polars as pl

from analyzer.ingest.tshark_argv import AGGREGATOR
from analyzer.schema import TCP_ANALYSIS

# Fields that can occur several times in one packet (several frames per segment).
LIST_FIELDS = (
    "ws_fin",
    "ws_rsv",
    "ws_opcode",
    "ws_mask",
    "ws_len7",
    "ws_len16",
    "ws_len64",
    "ws_close_code",
    "tls_content_type",
)
FLAG_FIELDS = (*TCP_ANALYSIS, "ws_decompress_failed")
# The fields only the WebSocket frames are made of (frames.explode_frames): the stages
# after it copy, join and sort the packet rows without them.
FRAME_FIELDS = (
    *(f for f in LIST_FIELDS if f.startswith("ws_")),
    "ws_text",
    "ws_close_reason",
    "ws_binary",
    "ws_decompress_failed",
)


def _last(name: str) -> pl.Expr:
    return pl.col(name).str.split(AGGREGATOR).list.last()


def _first(name: str) -> pl.Expr:
    return pl.col(name).str.split(AGGREGATOR).list.first()


def _hex(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_prefix("0x").str.to_integer(base=16, strict=False)


MAX_EPOCH_S = 9_223_372_035  # the seconds an Int64 of ns holds either side of 1970


def _epoch_ns(name: str) -> pl.Expr:
    """frame.time_epoch text -> ns since epoch, exactly (a float would lose the ns)."""
    parts = pl.col(name).str.split_exact(".", 1)
    secs = parts.struct.field("field_0").cast(pl.Int64, strict=False)
    frac = parts.struct.field("field_1").fill_null("0").str.pad_end(9, "0").str.slice(0, 9)
    # A pcapng can stamp a packet past 2262 (or before 1677): in ns that wraps Int64 into
    # a made-up date, so such a time is no time at all (the capture drops the packet).
    secs = pl.when(secs.is_between(-MAX_EPOCH_S, MAX_EPOCH_S)).then(secs)
    return secs * 1_000_000_000 + frac.cast(pl.Int64, strict=False)


def _endpoint(ip4: str, ip6: str, port: str) -> pl.Expr:
    return (
        pl.when(pl.col(ip6).is_not_null())
        .then(pl.concat_str(pl.lit("["), _last(ip6), pl.lit("]:"), pl.col(port)))
        .otherwise(pl.concat_str(_last(ip4), pl.lit(":"), pl.col(port)))
    )


def normalise(raw: pl.DataFrame, input_index: int) -> pl.DataFrame:
    """Type every column; one row per packet kept by tshark's display filter."""
    flags = _hex(pl.col("tcp_flags"))
    return raw.select(
        pl.lit(input_index, pl.Int32).alias("input"),
        pl.col("frame_no").cast(pl.Int64),
        pl.from_epoch(_epoch_ns("ts"), time_unit="ns").dt.replace_time_zone("UTC").alias("ts"),
        pl.col("frame_len").cast(pl.Int64, strict=False),
        pl.col("cap_len").cast(pl.Int64, strict=False),
        pl.col("stream").cast(pl.Int64, strict=False),
        _endpoint("ip_src", "ip6_src", "sport").alias("src"),
        _endpoint("ip_dst", "ip6_dst", "dport").alias("dst"),
        pl.col("sport").cast(pl.Int32, strict=False),
        pl.col("dport").cast(pl.Int32, strict=False),
        pl.coalesce(_last("ttl"), _last("hlim")).cast(pl.Int32, strict=False).alias("ttl"),
        _hex(_last("ip_id")).cast(pl.Int32).alias("ip_id"),
        pl.col("tcp_len").cast(pl.Int64, strict=False).fill_null(0),
        (flags & 0x02 > 0).fill_null(False).alias("syn"),
        (flags & 0x10 > 0).fill_null(False).alias("ack"),
        (flags & 0x01 > 0).fill_null(False).alias("fin"),
        (flags & 0x04 > 0).fill_null(False).alias("rst"),
        *[pl.col(f).is_not_null().alias(f) for f in FLAG_FIELDS],
        _first("http_method").alias("http_method"),
        _first("http_uri").alias("http_uri"),
        pl.col("http_req_headers").str.split(AGGREGATOR),
        _first("http_status").cast(pl.Int32, strict=False).alias("http_status"),
        _first("http_phrase").alias("http_phrase"),
        pl.col("http_resp_headers").str.split(AGGREGATOR),
        _first("http_request_in").cast(pl.Int64, strict=False).alias("http_request_in"),
        pl.col("http_body"),
        _first("tls_sni").alias("tls_sni"),
        pl.col("tls_seen").is_not_null().alias("tls"),
        pl.col("tls_alert"),
        # The first certificate of a Certificate message is the sender's own (the leaf).
        _first("tls_cert").alias("tls_cert"),
        *[pl.col(f).str.split(AGGREGATOR) for f in LIST_FIELDS],
        pl.col("ws_text"),
        pl.col("ws_close_reason"),
        # Filled by the targeted payload pass (`attach_payloads`) for the packets it read.
        pl.lit(None, pl.List(pl.String)).alias("ws_binary"),
    )


def worth_a_row(packets: pl.DataFrame) -> pl.DataFrame:
    """The packets later stages read: payload, a TCP state change or a TCP analysis flag
    a rule reads. Pure ACKs only bound their stream's span (`stream_spans`)."""
    return packets.filter(
        (pl.col("tcp_len") > 0)
        | pl.col("syn")
        | pl.col("fin")
        | pl.col("rst")
        | pl.col("lost_segment")
        | pl.col("ack_lost_segment")
        | pl.col("zero_window")
        | pl.col("keep_alive")
    )


def stream_spans(packets: pl.DataFrame) -> pl.DataFrame:
    """(input, stream) -> first/last frame number and earliest/latest time over every
    packet of the TCP connection, pure ACKs included: a session ending with its final ACK
    or a keep-alive ACK ends there, as `tshark -Y tcp.stream==N` shows."""
    return (
        packets.filter(pl.col("stream").is_not_null())
        .group_by("input", "stream")
        .agg(
            pl.col("ts").min().alias("start"),
            pl.col("ts").max().alias("end"),
            pl.col("frame_no").min().alias("first_frame"),
            pl.col("frame_no").max().alias("last_frame"),
        )
    )


def merge_spans(spans: pl.DataFrame) -> pl.DataFrame:
    """Spans taken block by block (a connection can cross blocks) -> one per connection."""
    return spans.group_by("input", "stream").agg(
        pl.col("start").min(),
        pl.col("end").max(),
        pl.col("first_frame").min(),
        pl.col("last_frame").max(),
    )


def payload_rows(raw: pl.DataFrame) -> pl.DataFrame:
    """The payload pass's rows (frame.number, data.data) -> frame_no, list of hex payloads."""
    return raw.select(
        pl.col("frame_no").cast(pl.Int64),
        pl.col("ws_binary").str.split(AGGREGATOR),
    ).filter(pl.col("ws_binary").is_not_null())


def attach_payloads(packets: pl.DataFrame, payloads: pl.DataFrame) -> pl.DataFrame:
    """Fill `ws_binary` for the packets the payload pass read; the column order is kept
    so the packet tables of several captures still stack."""
    return (
        packets.drop("ws_binary")
        .join(payloads.unique("frame_no"), on="frame_no", how="left", maintain_order="left")
        .select(packets.columns)
    )
