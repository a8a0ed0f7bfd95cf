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

Everything that can carry a credential (headers, cookies, query values, the token
subprotocol, key-like runs in text) is redacted here with `analyzer.redact`, as for captures.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import polars as pl

from analyzer import redact
from analyzer.errors import InputError
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
    """Parse `path`; any unusable content raises InputError (one line, no traceback)."""
    log = _load_log(path)
    entries = [
        (i, e) for i, e in enumerate(log["entries"]) if isinstance(e, dict) and _is_websocket(e)
    ]
    handshakes, frames, sessions = [], [], []
    for stream, (index, entry) in enumerate(entries):
        where = f"entry {index}"
        handshake = _handshake(entry, stream, input_index, where)
        messages = _messages(entry, stream, str(path), where)
        handshakes.append(handshake)
        frames.extend(messages)
        sessions.append(_session(entry, stream, handshake, messages))
    creator = log.get("creator", {}).get("name") if isinstance(log.get("creator"), dict) else None
    warnings = [] if entries else [f"{path}: HAR holds no WebSocket entry"]
    return HarData(
        path,
        pl.DataFrame(handshakes, schema=HANDSHAKES.polars) if handshakes else HANDSHAKES.empty(),
        _frames_table(frames),
        pl.DataFrame(sessions, schema=HAR_SESSIONS),
        creator,
        warnings,
    )


def _load_log(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=source) from None
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError("not a HAR file: not UTF-8 text", source=source) from None
    except json.JSONDecodeError as exc:
        # An error at the very end, or a string still open at EOF: the file was cut short.
        ends = exc.pos >= len(raw.rstrip()) or exc.msg.startswith("Unterminated string")
        cut = " (the file looks truncated)" if ends else ""
        raise InputError(
            f"not a HAR file: invalid JSON at line {exc.lineno} column {exc.colno}{cut}",
            source=source,
        ) from None
    log = doc.get("log") if isinstance(doc, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise InputError("not a HAR file: no log.entries list", source=source)
    return log


def _headers(block: dict[str, Any], where: str) -> list[tuple[str, str]]:
    items = block.get("headers") or []
    if not isinstance(items, list):
        raise InputError(f"not a HAR file: {where} headers is not a list")
    return [
        (str(h.get("name", "")), str(h.get("value", "")))
        for h in items
        if isinstance(h, dict) and h.get("name")
    ]


def _is_websocket(entry: dict[str, Any]) -> bool:
    """Chrome's resource type, a 101, an Upgrade request header, or a ws(s):// URL."""
    request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
    response = entry.get("response") if isinstance(entry.get("response"), dict) else {}
    upgrade = next(
        (
            str(h.get("value", ""))
            for h in request.get("headers") or []
            if isinstance(h, dict) and str(h.get("name", "")).lower() == "upgrade"
        ),
        "",
    )
    return (
        entry.get("_resourceType") == "websocket"
        or response.get("status") == 101
        or "websocket" in upgrade.lower()
        or str(request.get("url", "")).lower().startswith(("ws://", "wss://"))
    )


def _time(value: Any, where: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"not a HAR file: {where} startedDateTime {value!r} is not a date"
        ) from None
    return stamp.astimezone(dt.UTC) if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _handshake(entry: dict[str, Any], stream: int, index: int, where: str) -> dict[str, Any]:
    request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
    started = _time(entry.get("startedDateTime"), where)
    url = str(request.get("url", ""))
    split = urlsplit(url)
    headers = _headers(request, f"{where} request") + _cookies(request, "Cookie")
    query = [(k, redact.query_value(k, v)) for k, v in parse_qsl(split.query, True)]
    row = {
        "input": index,
        "stream": stream,
        "request_frame": None,
        "request_time": started,
        "client": None,  # a HAR does not record the browser's address or port
        "server": _server(entry, split),
        "method": str(request.get("method") or "GET"),
        "path": split.path or "/",
        "query": [{"name": k, "value": v} for k, v in query],
        "uri": (split.path or "/")
        + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else ""),
        **request_header_fields(headers),
        "upgrade_attempts": 1,
        "connect_target": None,
        "connect_status": None,
    }
    row["host"] = row["host"] or split.netloc  # HTTP/2 entries carry :authority instead
    return row | _response(entry, started, row["ws_key"], where)


def _cookies(block: dict[str, Any], header: str) -> list[tuple[str, str]]:
    """HAR `cookies` arrays, as Cookie/Set-Cookie headers so they are redacted the same way;
    only added when the headers list does not already carry that header."""
    if any(str(h.get("name", "")).lower() == header.lower() for h in block.get("headers") or []):
        return []
    cookies = [c for c in block.get("cookies") or [] if isinstance(c, dict) and c.get("name")]
    if not cookies:
        return []
    return [(header, "; ".join(f"{c['name']}={c.get('value', '')}" for c in cookies))]


def _server(entry: dict[str, Any], split: Any) -> str | None:
    host = str(entry.get("serverIPAddress") or split.hostname or "").strip("[]")
    if not host:
        return None
    port = split.port or DEFAULT_PORTS.get(split.scheme.lower())
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _response(
    entry: dict[str, Any], started: dt.datetime, key: str | None, where: str
) -> dict[str, Any]:
    response = entry.get("response") if isinstance(entry.get("response"), dict) else {}
    status = response.get("status")
    status = status if isinstance(status, int) and status > 0 else None  # 0: no response
    headers = _headers(response, f"{where} response") + _cookies(response, "Set-Cookie")
    body = (response.get("content") or {}).get("text") if status not in (None, 101) else None
    return {
        "response_frame": None,
        "response_time": _response_time(entry, started) if status else None,
        "status": status,
        "reason": response.get("statusText") or None,
        **response_header_fields(headers, key, body),
    }


def _response_time(entry: dict[str, Any], started: dt.datetime) -> dt.datetime:
    """startedDateTime + the recorded send/wait/receive timings (HAR: -1 = not applicable)."""
    timings = entry.get("timings") if isinstance(entry.get("timings"), dict) else {}
    ms = sum(
        v
        for k, v in timings.items()
        if k in ("blocked", "dns", "connect", "send", "wait", "receive")
        and isinstance(v, int | float)
        and v > 0
    )
    return started + dt.timedelta(milliseconds=ms)


def _messages(entry: dict[str, Any], stream: int, source: str, where: str) -> list[dict[str, Any]]:
    raw = entry.get("_webSocketMessages") or []
    if not isinstance(raw, list):
        raise InputError(f"not a HAR file: {where} _webSocketMessages is not a list", source=source)
    rows = [_message(m, f"{where} message {i}", source) for i, m in enumerate(raw)]
    for row in rows:
        row |= {"session": f"har-{stream}", "input": source, "tcp_stream": stream}
    return sorted(rows, key=lambda r: r["time"])


def _message(msg: Any, where: str, source: str) -> dict[str, Any]:
    if not isinstance(msg, dict) or msg.get("type") not in ("send", "receive"):
        raise InputError(f"not a HAR file: {where} has no type send/receive", source=source)
    time, opcode = msg.get("time"), msg.get("opcode")
    if not isinstance(time, int | float) or not isinstance(opcode, int) or opcode < 0:
        raise InputError(f"not a HAR file: {where} lacks a numeric time/opcode", source=source)
    data = msg.get("data")
    data = "" if data is None else str(data)
    payload = _payload(opcode, data)
    code, reason = _close(payload) if opcode == 8 else (None, None)
    text = data if opcode == 1 else None
    return {
        "time": round(time * 1e9),
        "frame": None,
        "from_client": msg["type"] == "send",
        "fin": True,  # a HAR records whole messages
        "rsv": None,
        "opcode": opcode_name(opcode),
        "message_opcode": opcode_name(opcode) if opcode else None,
        "payload_len": len(payload),
        "masked": None,
        "close_code": code,
        "close_reason": _clean(reason) if reason else None,
        "text_preview": _preview(text) if text else None,
        "json_type": _json_type(text, payload if opcode == 2 else b""),
    }


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


def _preview(text: str) -> str:
    """As the capture path: tshark-style \\t\\r\\n escapes, 160 chars, control bytes, redact."""
    escaped = redact.preview(text.translate(_TSHARK_ESCAPES), PREVIEW_CHARS)
    return _CONTROL_CHARS.sub("\ufffd", escaped)


def _json_type(text: str | None, binary: bytes) -> str | None:
    if text is not None:
        found = _JSON_TYPE.match(text[:JSON_TYPE_SCAN])
        return found.group(1) if found else None
    if BINARY_JSON_MIN <= len(binary) <= BINARY_JSON_MAX:
        found = _JSON_TYPE.match(binary.decode("ascii", "replace"))
        return found.group(1) if found else None
    return None


def _frames_table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {**FRAMES.polars, "time": pl.Int64}
    df = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return FRAMES.conform(df.with_columns(pl.col("time").cast(TS)))


def _session(
    entry: dict[str, Any], stream: int, handshake: dict[str, Any], frames: list[dict[str, Any]]
) -> dict[str, Any]:
    closed = any(f["opcode"] == "close" for f in frames)
    recorded = isinstance(entry.get("_webSocketMessages"), list)
    start = handshake["request_time"]
    last = max((f["time"] for f in frames), default=None)
    end = dt.datetime.fromtimestamp(last / 1e9, dt.UTC) if last is not None else None
    # Chrome's entry `time` spans the request to the WebSocket's close: the only trace of
    # when the connection ended (the close frame itself is never recorded). Firefox's is
    # the sum of its timings, the upgrade exchange only: no end is known there.
    lifetime = entry.get("time")
    if recorded or entry.get("_resourceType") == "websocket":
        end = end or start
        if isinstance(lifetime, int | float) and lifetime > 0:
            end = max(end, start + dt.timedelta(milliseconds=lifetime))
    note = None if closed else NOT_RECORDED_NOTE if recorded else NO_MESSAGES_NOTE
    return {
        "session": f"har-{stream}",
        "stream": stream,
        "source": "har",
        "url": handshake["path"] and _redacted_url(entry, handshake),
        "start": start,
        "end": max(end, start) if end else None,
        "messages": len(frames) if recorded else None,
        "messages_recorded": recorded,
        "close_recorded": closed,
        "har_close_not_recorded": not closed,
        "note": note,
    }


def _redacted_url(entry: dict[str, Any], handshake: dict[str, Any]) -> str:
    split = urlsplit(str((entry.get("request") or {}).get("url", "")))
    return f"{split.scheme}://{split.netloc}{handshake['uri']}"
