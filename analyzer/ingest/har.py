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
read in bounded memory. This module walks the entries and builds each WebSocket's session
facts; har_handshake.py reads an entry's request and response, har_messages.py its
messages, and har_checks.py judges their fields. Only the fields wsdoctor reads are
checked, and only on WebSocket entries. A required one (startedDateTime, request and its
url, response and its status, the headers lists, a `_webSocketMessages` that is not a
list) that is unusable rejects the file with one line naming the entry and field; an
optional one (entry time, timings, method, statusText, cookies, serverIPAddress, the
refusal body, a header item, a message) is ignored with a warning. Times outside
logtime's plausible window count as unusable: they would wrap polars' nanosecond clock or
make sessions decades long.

Everything that can carry a credential (headers, cookies, query values, the token
subprotocol, key-like runs in text) is redacted on the way in with `analyzer.redact`, as
for captures.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

import polars as pl

from analyzer.errors import InputError
from analyzer.ingest import har_json
from analyzer.ingest.har_checks import Check, as_dict, as_list, duration_ms
from analyzer.ingest.har_handshake import handshake_row, netloc, request_url
from analyzer.ingest.har_messages import Messages, frames_table
from analyzer.schema import HANDSHAKES, TS

SNIFF_BYTES = 4096
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


@dataclass
class _Reader:
    """The HAR's WebSocket entries as they stream in, gathered into HarData's tables."""

    source: str
    input_index: int
    creator: str | None = None
    entries: int = 0
    messages: Messages = field(default_factory=Messages)
    handshakes: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    frames: list[pl.DataFrame] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def take(self, kind: str, value: Any) -> None:
        if kind == "message":
            self.messages.add(value)
        elif kind == "entry":
            self._entry(value)
        elif kind == "creator" and isinstance(name := as_dict(value).get("name"), str):
            self.creator = name

    def _entry(self, entry: Any) -> None:
        index, messages = self.entries, self.messages
        self.entries, self.messages = index + 1, Messages()
        if not isinstance(entry, dict):
            self.warnings.append(f"{self.source}: entry {index} is not an object; skipped")
            return
        if not _is_websocket(entry):
            return
        stream = len(self.handshakes)
        check = Check(self.source, f"entry {index}", self.warnings)
        if not isinstance(entry.get("_webSocketMessages"), list | None):
            check.fail("_webSocketMessages", "is not a list")
        split = request_url(entry, check)
        handshake = handshake_row(entry, split, stream, self.input_index, check)
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
            path, handshakes, frames_table(self.frames), sessions, self.creator, warnings
        )


def _is_websocket(entry: dict[str, Any]) -> bool:
    """Chrome's resource type, a 101, an Upgrade request header, or a ws(s):// URL."""
    request, response = as_dict(entry.get("request")), as_dict(entry.get("response"))
    upgrade = any(
        str(h.get("name", "")).lower() == "upgrade" and "websocket" in str(h.get("value")).lower()
        for h in as_list(request.get("headers"))
        if isinstance(h, dict)
    )
    url = request.get("url")
    return (
        entry.get("_resourceType") == "websocket"
        or response.get("status") == 101
        or upgrade
        or (isinstance(url, str) and url.lower().startswith(("ws://", "wss://")))
    )


def _session(
    entry: dict[str, Any],
    split: SplitResult,
    stream: int,
    handshake: dict[str, Any],
    frames: pl.DataFrame,
    check: Check,
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
        lifetime = duration_ms(entry.get("time"), start, "time", check)
        end = max(end or start, start + dt.timedelta(milliseconds=lifetime))
    note = None if closed else NOT_RECORDED_NOTE if recorded else NO_MESSAGES_NOTE
    return {
        "session": f"har-{stream}",
        "stream": stream,
        "source": "har",
        "url": f"{split.scheme}://{netloc(split)}{handshake['uri']}",
        "start": start,
        "end": max(end, start) if end else None,
        "messages": frames.height if recorded else None,
        "messages_recorded": recorded,
        "close_recorded": closed,
        "har_close_not_recorded": not closed,
        "note": note,
    }
