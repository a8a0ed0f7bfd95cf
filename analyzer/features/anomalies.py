"""Odd traffic as data (Zeek style): named anomaly rows that rules can match on.

Each detector is a filter over frames or handshakes; nothing here raises on data. The
kinds, and what each means, are declared in analyzer/vocab.py (ANOMALY_KINDS): rules may
only name declared ones, so a detector must emit nothing else.
"""

from __future__ import annotations

import polars as pl

from analyzer.protocol import MAX_CONTROL_PAYLOAD
from analyzer.schema import ANOMALIES
from analyzer.vocab import ANOMALY_KIND

CONTROL = ("close", "ping", "pong")
# 1 TiB: far beyond any server's message limit (typically 1-100 MB); a longer claim means
# the length field is corrupt or hostile and the rest of that direction is misread.
MAX_PLAUSIBLE_PAYLOAD = 1 << 40
# RFC 6455 §7.4: 1004-1006 and 1015 are reserved, 1016-2999 unassigned, <1000 unused.
VALID_CLOSE = (
    pl.col("close_code").is_between(1000, 1003)
    | pl.col("close_code").is_between(1007, 1014)
    | pl.col("close_code").is_between(3000, 4999)
)


def _declared(kind: str) -> pl.Expr:
    if kind not in ANOMALY_KIND:  # a programming error: declare it in analyzer/vocab.py
        raise KeyError(f"anomaly kind {kind!r} is not declared in analyzer/vocab.py")
    return pl.lit(kind).alias("kind")


_OP, _LEN = pl.col("opcode"), pl.col("payload_len").cast(pl.String)
_CONTROL = _OP.is_in(CONTROL)
# kind -> (the frames it flags, what its detail says); rows come out in this order.
FRAME_CHECKS: dict[str, tuple[pl.Expr, pl.Expr]] = {
    "ws_control_frame_too_long": (
        _CONTROL & (pl.col("payload_len") > MAX_CONTROL_PAYLOAD),
        pl.format("{} payload of {} bytes (limit 125)", _OP, _LEN),
    ),
    "ws_frame_length_implausible": (
        pl.col("payload_len") > MAX_PLAUSIBLE_PAYLOAD,
        pl.format("{} frame claims {} bytes: corrupt or hostile framing", _OP, _LEN),
    ),
    "ws_control_frame_fragmented": (
        _CONTROL & ~pl.col("fin"),
        pl.format("{} frame without FIN", _OP),
    ),
    "ws_unmasked_client_frame": (
        pl.col("from_client") & ~pl.col("masked"),
        pl.format("client {} frame not masked", _OP),
    ),
    "ws_masked_server_frame": (
        ~pl.col("from_client") & pl.col("masked"),
        pl.format("server {} frame masked", _OP),
    ),
    "ws_reserved_opcode": (_OP.str.starts_with("reserved"), pl.format("opcode {}", _OP)),
    "ws_invalid_close_code": (
        pl.col("close_code").is_not_null() & ~VALID_CLOSE,
        pl.format("close code {}", pl.col("close_code")),
    ),
    "ws_text_unassigned": (
        pl.col("text_unassigned"),
        pl.lit(
            "text of several frames in one packet could not be "
            "matched to frames; preview left empty"
        ),
    ),
    "ws_decompression_failed": (
        pl.col("decompress_failed"),
        pl.lit("permessage-deflate payload did not decompress"),
    ),
}


def _rows(df: pl.DataFrame, kind: str, detail: pl.Expr) -> pl.DataFrame:
    return df.select("session", "frame", "time", _declared(kind), detail.alias("detail"))


def frame_anomalies(frames: pl.DataFrame) -> list[pl.DataFrame]:
    """Rows of each FRAME_CHECKS kind, then the data frames sent after a close."""
    out = [
        _rows(frames.filter(cond), kind, detail) for kind, (cond, detail) in FRAME_CHECKS.items()
    ]
    out.append(_after_close(frames))
    return out


def _after_close(frames: pl.DataFrame) -> pl.DataFrame:
    """A side must not send data frames after its own close frame (RFC 6455 §5.5.1)."""
    closed_at = (
        pl.col("time").filter(pl.col("opcode") == "close").min().over("session", "from_client")
    )
    late = frames.filter(
        pl.col("opcode").is_in(["text", "binary", "continuation"]) & (pl.col("time") > closed_at)
    )
    return _rows(
        late, "ws_data_after_close", pl.format("{} frame after this side's close", pl.col("opcode"))
    )


def handshake_anomalies(sessions: pl.DataFrame) -> list[pl.DataFrame]:
    bad_accept = sessions.filter(pl.col("accept_valid") == False)  # noqa: E712
    return [
        bad_accept.select(
            pl.col("id").alias("session"),
            pl.col("response_frame").alias("frame"),
            pl.col("response_time").alias("time"),
            _declared("ws_accept_key_mismatch"),
            pl.format(
                "Sec-WebSocket-Accept {} does not match the key {}",
                pl.col("accept"),
                pl.col("ws_key"),
            ).alias("detail"),
        )
    ]


def collect(parts: list[pl.DataFrame]) -> pl.DataFrame:
    return ANOMALIES.conform(pl.concat(parts)) if parts else ANOMALIES.empty()
