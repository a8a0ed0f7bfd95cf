"""HAR files (browser DevTools exports) -> handshake and frame tables shaped like a capture's.

A HAR is what a browser user can send when a packet capture is impossible. Its WebSocket
entries are turned into the same HANDSHAKES and FRAMES columns the capture path builds, so
the session-feature code runs on both. What a HAR cannot say stays null rather than guessed:
capture frame numbers, RSV/MASK bits, TCP, the client's port.

Formats read:
- Chrome/Edge DevTools ("Save all as HAR", Chrome >= 76): the upgrade entry has
  `_resourceType: "websocket"` and `_webSocketMessages: [{type: send|receive, time: epoch
  seconds, opcode, data}]`; text data as is, binary data base64.
- Firefox (verified on Firefox ESR 153.7.0's DevTools HAR export,
  sample_captures/browser-har/firefox): a WebSocket is an ordinary HTTP entry, `GET ws://…`
  (`httpVersion` HTTP/1.1), with the full upgrade request headers (Upgrade, Connection,
  Sec-WebSocket-Key/-Version/-Protocol/-Extensions, Origin) and the `101 Switching
  Protocols` response headers (Sec-WebSocket-Accept/-Protocol, server headers), an empty
  `text/plain` content, and no `_resourceType`, no `_webSocketMessages`, no
  `serverIPAddress`: nothing after the 101 is written (no message, no close, no end), and
  the entry's `time` is the sum of its `timings` (the upgrade exchange, a few ms), not the
  connection's lifetime. WebSocket entries are therefore also recognised by status 101, an
  `Upgrade: websocket` request header or a ws:// / wss:// URL, and `_webSocketMessages` is
  read whenever it is present (HTTP Toolkit, mitmproxy and others write Chrome's shape).

Chromium reports no close, ping or pong frames to DevTools, so a Chrome HAR never holds a
close even when one was exchanged. An entry without an opcode-8 message is therefore marked
`close_recorded: false` / `har_close_not_recorded: true`: "not recorded", never "not sent".
An entry with no `_webSocketMessages` at all (Firefox) has `messages_recorded: false`:
its message count is null (unknown, not 0) and so is its end: only an entry in Chrome's
shape (`_resourceType: "websocket"` or a `_webSocketMessages` list) has a `time` that spans
the connection.

The file is streamed (analyzer/ingest/har_json.py), so a HAR of millions of messages is
read in bounded memory. Only the fields wsdoctor reads are checked, and only on WebSocket
entries. A required one (startedDateTime, request and its url, response and its status,
the headers lists, a `_webSocketMessages` that is not a list) that is unusable rejects the
file with one line naming the entry and field; an optional one (entry time, timings,
method, statusText, cookies, serverIPAddress, the refusal body, a header item, a message)
is ignored with a warning. Times outside logtime's plausible window count as unusable:
they would wrap polars' nanosecond clock or make sessions decades long.

Everything that can carry a credential (headers, cookies, query values, the token
subprotocol, key-like runs in text) is redacted here with `analyzer.redact`, as for captures.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import SplitResult, parse_qsl, urlsplit

import polars as pl

from analyzer import redact
from analyzer.errors import InputError
from analyzer.ingest import har_json, logtime
from analyzer.ingest.frames import JSON_TYPE_SCAN, PREVIEW_CHARS
from analyzer.ingest.handshakes import (
    request_header_fields,
    response_header_fields,
)
from analyzer.protocol import opcode_name
from analyzer.schema import FRAMES, HANDSHAKES, TS

SNIFF_BYTES = 4096
_JSON_TYPE = re.compile(r'^\s*\{.*?"type"\s*:\s*"([^"\\]{1,64})"', re.S)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TSHARK_ESCAPES = str.maketrans({"\t": "\\t", "\r": "\\r", "\n": "\\n"})
BINARY_JSON_MIN, BINARY_JSON_MAX = 2, 125
DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}
# Messages turned into one polars chunk at a time while a HAR streams in.
CHUNK_MESSAGES = 65536
EARLIEST_S, LATEST_S = logtime.EARLIEST.timestamp(), logtime.LATEST.timestamp()
# Per-session facts a HAR adds to what HANDSHAKES/FRAMES hold (no SESSIONS column yet).
HAR_SESSIONS = pl.Schema(
    {
        "session": pl.String,
        "stream": pl.Int64,
        "source": pl.String,
        "url": pl.String,
        "start": TS,
        "end": TS,
        "messages": pl.Int64,  # null: the entry holds no message list (Firefox)
        "messages_recorded": pl.Boolean,
        "close_recorded": pl.Boolean,
        "har_close_not_recorded": pl.Boolean,
        "note": pl.String,
    }
)
NOT_RECORDED_NOTE = (
    "the HAR records no close frame for this WebSocket (Chromium DevTools never records "
    "close/ping/pong): whether a close was sent is unknown"
)
NO_MESSAGES_NOTE = (
    "the HAR records nothing after the 101 for this WebSocket (Firefox's HAR export writes "
    "no messages, no close and no end time): messages, close and duration are unknown"
)


@dataclass
class HarData:
    """The WebSocket part of one HAR file, in the capture path's table shapes.

    `stream` in `handshakes` and `tcp_stream` in `frames` are the WebSocket's position among
    the file's WebSocket entries (0, 1, ...), the join key a capture's tcp.stream is;
    `frames.session` is a placeholder (`har-<stream>`) until the sessions are numbered.
    """

    path: Path
    handshakes: pl.DataFrame
    frames: pl.DataFrame
    sessions: pl.DataFrame
    creator: str | None = None
    warnings: list[str] = field(default_factory=list)


def looks_like_har(first_bytes: bytes) -> bool:
    """True when a file's first bytes look like a HAR (a JSON object with a `log` key).

    Content-based, so a capture renamed `.har` (or a HAR named `.json`) is still recognised.
    """
    head = first_bytes[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return False
    return re.search(rb'"log"\s*:\s*\{', head) is not None and (
        b'"entries"' in head or b'"version"' in head or b'"creator"' in head
    )


def read_har(path: Path, input_index: int = 0) -> HarData:
    """Stream `path` (analyzer/ingest/har_json.py): a HAR that cannot be read, or a
    WebSocket entry whose required field is unusable, raises InputError naming the file
    and the field; an unusable optional field is ignored with a warning."""
    source = str(path)
    reader = _Reader(source, input_index)
    try:
        with path.open("rb") as fh:
            for kind, value in har_json.walk(fh, source):
                reader.take(kind, value)
    except FileNotFoundError:
        raise InputError("no such file", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=source) from None
    return reader.result(path)


def _show(value: Any) -> str:
    """A field's value for a message: containers by kind, long text cut (never nested
    repr, which recursion would break on)."""
    if isinstance(value, dict):
        return "(an object)"
    if isinstance(value, list | har_json.Nested):
        return "(a list)" if isinstance(value, list) else "(a nested value)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any) -> bool:
    """A JSON number (true/false are ints to Python, not numbers to a HAR)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class _Check:
    """Where an entry's problems are reported: `fail` for a required field (the entry
    cannot be read), `warn` for an optional one (the entry is read without it). Fields
    wsdoctor does not read are never checked."""

    source: str
    where: str
    warnings: list[str]

    def fail(self, name: str, problem: str) -> NoReturn:
        raise InputError(f"{self.where} {name} {problem}", source=self.source)

    def warn(self, name: str, problem: str) -> None:
        self.warnings.append(f"{self.source}: {self.where} {name} {problem}; ignored")


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
class _Messages:
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

    def warn_skipped(self, check: _Check) -> None:
        if self.skipped:
            check.warn(
                "_webSocketMessages",
                f"has {self.skipped} of {self.seen} message(s) wsdoctor cannot use "
                f"(first: {self.first_problem})",
            )


@dataclass
class _Reader:
    """The HAR's WebSocket entries as they stream in, gathered into HarData's tables."""

    source: str
    input_index: int
    creator: str | None = None
    entries: int = 0
    messages: _Messages = field(default_factory=_Messages)
    handshakes: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    frames: list[pl.DataFrame] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def take(self, kind: str, value: Any) -> None:
        if kind == "message":
            self.messages.add(value)
        elif kind == "entry":
            self._entry(value)
        elif kind == "creator" and isinstance(name := _dict(value).get("name"), str):
            self.creator = name

    def _entry(self, entry: Any) -> None:
        index, messages = self.entries, self.messages
        self.entries, self.messages = index + 1, _Messages()
        if not isinstance(entry, dict):
            self.warnings.append(f"{self.source}: entry {index} is not an object; skipped")
            return
        if not _is_websocket(entry):
            return
        stream = len(self.handshakes)
        check = _Check(self.source, f"entry {index}", self.warnings)
        if not isinstance(entry.get("_webSocketMessages"), list | None):
            check.fail("_webSocketMessages", "is not a list")
        split = _url(entry, check)
        handshake = _handshake(entry, split, stream, self.input_index, check)
        messages.warn_skipped(check)
        frames = messages.table().with_columns(
            session=pl.lit(f"har-{stream}"),
            input=pl.lit(self.source),
            tcp_stream=pl.lit(stream, pl.Int64),
        )
        self.handshakes.append(handshake)
        self.frames.append(frames)
        self.sessions.append(_session(entry, split, stream, handshake, frames, check))

    def result(self, path: Path) -> HarData:
        warnings = self.warnings
        if not self.handshakes:
            warnings = [*warnings, f"{path}: HAR holds no WebSocket entry"]
        handshakes = (
            pl.DataFrame(self.handshakes, schema=HANDSHAKES.polars)
            if self.handshakes
            else HANDSHAKES.empty()
        )
        sessions = pl.DataFrame(self.sessions, schema=HAR_SESSIONS)
        return HarData(
            path, handshakes, _frames_table(self.frames), sessions, self.creator, warnings
        )


def _is_websocket(entry: dict[str, Any]) -> bool:
    """Chrome's resource type, a 101, an Upgrade request header, or a ws(s):// URL."""
    request, response = _dict(entry.get("request")), _dict(entry.get("response"))
    upgrade = any(
        str(h.get("name", "")).lower() == "upgrade" and "websocket" in str(h.get("value")).lower()
        for h in _list(request.get("headers"))
        if isinstance(h, dict)
    )
    url = request.get("url")
    return (
        entry.get("_resourceType") == "websocket"
        or response.get("status") == 101
        or upgrade
        or (isinstance(url, str) and url.lower().startswith(("ws://", "wss://")))
    )


def _url(entry: dict[str, Any], check: _Check) -> SplitResult:
    """The request URL, required: the session's server, path and query come from it. Its
    value is never echoed (a token in the query would leak into the message)."""
    request = entry.get("request")
    if not isinstance(request, dict):
        check.fail("request", "is not an object")
    url = request.get("url")
    if not isinstance(url, str):
        check.fail("request.url", "is not a string")
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as exc:
        check.fail("request.url", f"is not a URL ({exc})")
    if port == 0:
        check.fail("request.url", "has port 0")
    return split


def _started(entry: dict[str, Any], check: _Check) -> dt.datetime:
    """startedDateTime, required: every time of the session hangs off it."""
    value = entry.get("startedDateTime")
    if not isinstance(value, str):
        check.fail("startedDateTime", f"{_show(value)} is not a date")
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        check.fail("startedDateTime", f"{_show(value)} is not an ISO 8601 date")
    try:
        stamp = stamp.astimezone(dt.UTC) if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    except OverflowError:  # 9999-12-31 at -10:00 is past datetime's range once in UTC
        stamp = logtime.LATEST  # outside the window either way
    if not logtime.EARLIEST <= stamp < logtime.LATEST:
        check.fail("startedDateTime", f"{_show(value)} is not a date {logtime.WINDOW}")
    return stamp


def _duration_ms(value: Any, started: dt.datetime, name: str, check: _Check) -> float:
    """A HAR duration in ms, optional: 0 when absent, -1 (HAR: not applicable) or
    unusable (warned about), so no time can run past the plausible window."""
    if value is None or (_number(value) and value <= 0):
        return 0.0
    if not _number(value):
        check.warn(name, f"{_show(value)} is not a number of ms")
        return 0.0
    if value >= (logtime.LATEST - started).total_seconds() * 1000:
        check.warn(name, f"{_show(value)} ms ends past {logtime.END_YEAR - 1}")
        return 0.0
    return float(value)


def _headers(block: dict[str, Any], name: str, check: _Check) -> list[tuple[str, str]]:
    """`headers`, required as a list; an item that is not {name, value} strings is
    skipped with a warning."""
    items = block.get("headers")
    if items is None:
        return []
    if not isinstance(items, list):
        check.fail(f"{name}.headers", "is not a list")
    pairs = [p for h in items if (p := _pair(h)) is not None]
    if len(pairs) < len(items):
        check.warn(
            f"{name}.headers",
            f"has {len(items) - len(pairs)} item(s) that are not name/value strings",
        )
    return [(n, v) for n, v in pairs if n]


def _pair(item: Any) -> tuple[str, str] | None:
    """A HAR {name, value} record (header or cookie); a missing value is empty."""
    if not isinstance(item, dict):
        return None
    name, value = item.get("name"), item.get("value", "")
    value = "" if value is None else value
    return (name, value) if isinstance(name, str) and isinstance(value, str) else None


def _handshake(
    entry: dict[str, Any], split: SplitResult, stream: int, index: int, check: _Check
) -> dict[str, Any]:
    request = entry["request"]
    started = _started(entry, check)
    headers = _headers(request, "request", check)
    headers += _cookies(request, headers, "request", "Cookie", check)
    query = [(k, redact.query_value(k, v)) for k, v in parse_qsl(split.query, True)]
    method = request.get("method")
    if not isinstance(method, str | None):
        check.warn("request.method", f"{_show(method)} is not a string")
    row = {
        "input": index,
        "stream": stream,
        "request_frame": None,
        "request_time": started,
        "client": None,  # a HAR does not record the browser's address or port
        "server": _server(entry, split, check),
        "method": method if isinstance(method, str) and method else "GET",
        "path": split.path or "/",
        "query": [{"name": k, "value": v} for k, v in query],
        "uri": (split.path or "/")
        + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else ""),
        **request_header_fields(headers),
        "upgrade_attempts": 1,
        "connect_target": None,
        "connect_status": None,
    }
    row["host"] = row["host"] or _netloc(split)  # HTTP/2 entries carry :authority instead
    return row | _response(entry, started, row["ws_key"], check)


def _netloc(split: SplitResult) -> str:
    """Host and port of the URL without its `user:password@`."""
    return split.netloc.rpartition("@")[2]


def _cookies(
    block: dict[str, Any], headers: list[tuple[str, str]], name: str, header: str, check: _Check
) -> list[tuple[str, str]]:
    """HAR `cookies` arrays, as Cookie/Set-Cookie headers so they are redacted the same way;
    only added when the headers list does not already carry that header."""
    if any(n.lower() == header.lower() for n, _ in headers):
        return []
    items = block.get("cookies")
    if items is None:
        return []
    if not isinstance(items, list):
        check.warn(f"{name}.cookies", "is not a list")
        return []
    pairs = [p for c in items if (p := _pair(c)) is not None]
    if len(pairs) < len(items):
        check.warn(
            f"{name}.cookies",
            f"has {len(items) - len(pairs)} item(s) that are not name/value strings",
        )
    cookies = [f"{n}={v}" for n, v in pairs if n]
    return [(header, "; ".join(cookies))] if cookies else []


def _server(entry: dict[str, Any], split: SplitResult, check: _Check) -> str | None:
    address = entry.get("serverIPAddress")
    if not isinstance(address, str | None):
        check.warn("serverIPAddress", f"{_show(address)} is not a string")
        address = None
    host = (address or split.hostname or "").strip("[]")
    if not host:
        return None
    port = split.port or DEFAULT_PORTS.get(split.scheme.lower())
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _response(
    entry: dict[str, Any], started: dt.datetime, key: str | None, check: _Check
) -> dict[str, Any]:
    response = entry.get("response")
    if not isinstance(response, dict):
        check.fail("response", "is not an object")
    status = _status(response.get("status"), check)
    headers = _headers(response, "response", check)
    headers += _cookies(response, headers, "response", "Set-Cookie", check)
    reason = response.get("statusText")
    if not isinstance(reason, str | None):
        check.warn("response.statusText", f"{_show(reason)} is not a string")
        reason = None
    body = _body(response, check) if status not in (None, 101) else None
    return {
        "response_frame": None,
        "response_time": _response_time(entry, started, check) if status else None,
        "status": status,
        "reason": reason or None,
        **response_header_fields(headers, key, body),
    }


def _status(value: Any, check: _Check) -> int | None:
    """response.status, required: 101 or not decides what the session is. 0 or absent:
    no response (HAR's way to write a request that got none)."""
    if value is None or (_number(value) and value <= 0):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 999:
        check.fail("response.status", f"{_show(value)} is not an HTTP status")
    return value


def _body(response: dict[str, Any], check: _Check) -> str | None:
    """The response body of a refused upgrade (its error text), optional."""
    content = response.get("content")
    if not isinstance(content, dict | None):
        check.warn("response.content", f"{_show(content)} is not an object")
        return None
    text = _dict(content).get("text")
    if not isinstance(text, str | None):
        check.warn("response.content.text", f"{_show(text)} is not a string")
        return None
    return text


def _response_time(entry: dict[str, Any], started: dt.datetime, check: _Check) -> dt.datetime:
    """startedDateTime + the recorded send/wait/receive timings (HAR: -1 = not applicable)."""
    timings = entry.get("timings")
    if not isinstance(timings, dict | None):
        check.warn("timings", f"{_show(timings)} is not an object")
    ms = sum(
        _duration_ms(_dict(timings).get(k), started, f"timings.{k}", check)
        for k in ("blocked", "dns", "connect", "send", "wait", "receive")
    )
    return started + dt.timedelta(milliseconds=_duration_ms(ms, started, "timings", check))


def _message_problem(msg: Any) -> str:
    """Why a `_webSocketMessages` item cannot be used ("" when it can): it is skipped,
    the entry is still read."""
    if not isinstance(msg, dict):
        return f"{_show(msg)} is not an object"
    if msg.get("type") not in ("send", "receive"):
        return f"type {_show(msg.get('type'))} is not send/receive"
    time, opcode, data = msg.get("time"), msg.get("opcode"), msg.get("data")
    if not _number(time) or not EARLIEST_S <= time < LATEST_S:
        return f"time {_show(time)} is not epoch seconds {logtime.WINDOW}"
    if not isinstance(opcode, int) or isinstance(opcode, bool) or not 0 <= opcode <= 15:
        return f"opcode {_show(opcode)} is not 0-15"
    if not isinstance(data, str | None):
        return f"data {_show(data)} is not a string"
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


def _frames_table(parts: list[pl.DataFrame]) -> pl.DataFrame:
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


def _session(
    entry: dict[str, Any],
    split: SplitResult,
    stream: int,
    handshake: dict[str, Any],
    frames: pl.DataFrame,
    check: _Check,
) -> dict[str, Any]:
    closed = bool((frames["opcode"] == "close").any())
    recorded = isinstance(entry.get("_webSocketMessages"), list)
    start = handshake["request_time"]
    last = frames["time"].max()
    end = dt.datetime.fromtimestamp(last / 1e9, dt.UTC) if last is not None else None
    # Chrome's entry `time` spans the request to the WebSocket's close: the only trace of
    # when the connection ended (the close frame itself is never recorded). Firefox's is
    # the sum of its timings, the upgrade exchange only: no end is known there.
    if recorded or entry.get("_resourceType") == "websocket":
        lifetime = _duration_ms(entry.get("time"), start, "time", check)
        end = max(end or start, start + dt.timedelta(milliseconds=lifetime))
    note = None if closed else NOT_RECORDED_NOTE if recorded else NO_MESSAGES_NOTE
    return {
        "session": f"har-{stream}",
        "stream": stream,
        "source": "har",
        "url": f"{split.scheme}://{_netloc(split)}{handshake['uri']}",
        "start": start,
        "end": max(end, start) if end else None,
        "messages": frames.height if recorded else None,
        "messages_recorded": recorded,
        "close_recorded": closed,
        "har_close_not_recorded": not closed,
        "note": note,
    }
