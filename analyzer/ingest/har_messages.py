"""A HAR entry's `_webSocketMessages` -> FRAMES rows, in bounded memory.

Each message is checked as it streams in (one that cannot be used is skipped with a
warning, the entry is still read) and kept as a row tuple; every CHUNK_MESSAGES rows
become one polars chunk. Payloads are decoded as Chrome writes them (text as is, binary
and control payloads base64), close codes and reasons read from close payloads, and text
previews redacted a column at a time, as the capture path does. What a HAR cannot know
(frame numbers, RSV, MASK) stays null in FRAMES.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analyzer import redact
from analyzer.ingest import logtime
from analyzer.ingest.frames import JSON_TYPE_SCAN, PREVIEW_CHARS
from analyzer.ingest.har_checks import Check, is_number, show
from analyzer.protocol import opcode_name
from analyzer.schema import FRAMES, TS

_JSON_TYPE = re.compile(r'^\s*\{.*?"type"\s*:\s*"([^"\\]{1,64})"', re.S)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TSHARK_ESCAPES = str.maketrans({"\t": "\\t", "\r": "\\r", "\n": "\\n"})
BINARY_JSON_MIN, BINARY_JSON_MAX = 2, 125
# Messages turned into one polars chunk at a time while a HAR streams in.
CHUNK_MESSAGES = 65536
EARLIEST_S, LATEST_S = logtime.EARLIEST.timestamp(), logtime.LATEST.timestamp()


_MESSAGE_COLUMNS = pl.Schema(
    {
        "time": pl.Int64,
        "from_client": pl.Boolean,
        "opcode": pl.String,
        "message_opcode": pl.String,
        "payload_len": pl.Int64,
        "close_code": pl.Int32,
        "close_reason": pl.String,
        "text_preview": pl.String,
        "json_type": pl.String,
    }
)


@dataclass
class Messages:
    """One entry's messages as they stream in, rows turned into polars chunks every
    CHUNK_MESSAGES: a Python dict per message for 2 million messages was 2 GB."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    chunks: list[pl.DataFrame] = field(default_factory=list)
    seen: int = 0
    skipped: int = 0
    first_problem: str = ""

    def add(self, msg: Any) -> None:
        problem = _message_problem(msg)
        self.seen += 1
        if problem:
            self.skipped += 1
            self.first_problem = self.first_problem or f"message {self.seen - 1} {problem}"
            return
        self.rows.append(_message(msg))
        if len(self.rows) >= CHUNK_MESSAGES:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            chunk = pl.DataFrame(self.rows, schema=_MESSAGE_COLUMNS, orient="row")
            self.chunks.append(chunk.with_columns(_preview_expr(pl.col("text_preview"))))
            self.rows = []

    def table(self) -> pl.DataFrame:
        """The messages in time order (stable: the HAR's order among equal times).

        Chunks are joined without copying, and sorted (a copy) only when the HAR did not
        list them in order already, as browsers do: each copy of 2 million previews is
        350 MB.
        """
        self._flush()
        if not self.chunks:
            return pl.DataFrame(schema=_MESSAGE_COLUMNS)
        table, self.chunks = pl.concat(self.chunks, rechunk=False), []
        if table["time"].is_sorted():
            return table
        return table.sort("time", maintain_order=True)

    def warn_skipped(self, check: Check) -> None:
        if self.skipped:
            check.warn(
                "_webSocketMessages",
                f"has {self.skipped} of {self.seen} message(s) wsdoctor cannot use "
                f"(first: {self.first_problem})",
            )


def _message_problem(msg: Any) -> str:
    """Why a `_webSocketMessages` item cannot be used ("" when it can): it is skipped,
    the entry is still read."""
    if not isinstance(msg, dict):
        return f"{show(msg)} is not an object"
    if msg.get("type") not in ("send", "receive"):
        return f"type {show(msg.get('type'))} is not send/receive"
    time, opcode, data = msg.get("time"), msg.get("opcode"), msg.get("data")
    if not is_number(time) or not EARLIEST_S <= time < LATEST_S:
        return f"time {show(time)} is not epoch seconds {logtime.WINDOW}"
    if not isinstance(opcode, int) or isinstance(opcode, bool) or not 0 <= opcode <= 15:
        return f"opcode {show(opcode)} is not 0-15"
    if not isinstance(data, str | None):
        return f"data {show(data)} is not a string"
    return ""


def _message(msg: dict[str, Any]) -> tuple[Any, ...]:
    """A checked message as a row of _MESSAGE_COLUMNS."""
    opcode = msg["opcode"]
    data = msg.get("data") or ""
    payload = _payload(opcode, data)
    code, reason = _close(payload) if opcode == 8 else (None, None)
    text = data if opcode == 1 else None
    return (
        round(msg["time"] * 1e9),
        msg["type"] == "send",
        opcode_name(opcode),
        opcode_name(opcode) if opcode else None,
        len(payload),
        code,
        _clean(reason) if reason else None,
        _preview_head(text) if text else None,
        _json_type(text, payload if opcode == 2 else b""),
    )


def _payload(opcode: int, data: str) -> bytes:
    """The on-the-wire payload bytes: UTF-8 of text, base64-decoded otherwise (Chrome's
    encoding of binary and control payloads); undecodable data counts as its UTF-8 bytes."""
    if opcode == 1:
        return data.encode()
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data.encode()


def _close(payload: bytes) -> tuple[int | None, str | None]:
    if len(payload) < 2:
        return None, None
    reason = payload[2:].decode("utf-8", "replace")
    return int.from_bytes(payload[:2], "big"), reason or None


def _clean(text: str) -> str:
    return redact.close_reason(_CONTROL_CHARS.sub("\ufffd", text.translate(_TSHARK_ESCAPES)))


def _preview_head(text: str) -> str:
    """What `_preview_expr` needs of a text message: tshark-style \\t\\r\\n escapes
    over no more than the preview and the redaction's slack (escapes only lengthen)."""
    return text[: PREVIEW_CHARS + redact.PREVIEW_SLACK].translate(_TSHARK_ESCAPES)


def _preview_expr(heads: pl.Expr) -> pl.Expr:
    """As the capture path: redact, cut to 160 chars, replace control bytes. A column at a
    time: the per-message Python regex was 90% of reading a big HAR."""
    cut = redact.preview_expr(heads, PREVIEW_CHARS)
    return cut.str.replace_all(_CONTROL_CHARS.pattern, "\ufffd")


def _json_type(text: str | None, binary: bytes) -> str | None:
    if text is not None:
        found = _JSON_TYPE.match(text[:JSON_TYPE_SCAN])
        return found.group(1) if found else None
    if BINARY_JSON_MIN <= len(binary) <= BINARY_JSON_MAX:
        found = _JSON_TYPE.match(binary.decode("ascii", "replace"))
        return found.group(1) if found else None
    return None


def frames_table(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """FRAMES from the entries' message tables: what a HAR cannot know stays null."""
    if not parts:
        return FRAMES.empty()
    unknown = {"frame": None, "rsv": None, "masked": None}
    df = pl.concat(parts, rechunk=False).with_columns(
        pl.col("time").cast(TS),
        *(pl.lit(v).alias(k) for k, v in unknown.items()),
        fin=pl.lit(True),  # a HAR records whole messages
    )
    return FRAMES.conform(df)
