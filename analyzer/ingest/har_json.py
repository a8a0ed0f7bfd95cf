"""A HAR's JSON, streamed: one entry, one WebSocket message at a time.

A HAR of an hour-long transcription holds millions of `_webSocketMessages`; read whole
with `json.loads` a 500 MB file took 3 GB and a 10^5-deep array a RecursionError. Here
yajl (ijson's C backend) tokenises the file and only what the HAR reader looks at is
built: the creator, each entry down to ENTRY_LEVELS levels, each message's top-level
members. Deeper values (Chrome's `_initiator` stacks, hostile nesting) are skipped by a
counter, and `NESTED` stands in for them; nothing recurses with the file's depth.

Every way the JSON can be unusable (invalid, truncated, not UTF-8, nested beyond
MAX_DEPTH, no `log.entries` list) is one InputError naming the file and, once the entries
have begun, the entry and field. yajl is stricter than Python's json, as JSON itself is:
NaN, Infinity and integers beyond 64 bits are errors (no browser writes them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import ijson

from analyzer.errors import InputError

# An entry's fields the reader uses are at most 4 levels down: entry > request > headers >
# header > name. Deeper containers are not built.
ENTRY_LEVELS = 4
# Real HARs stay under ~50 levels (Chrome's async `_initiator` stacks chain `parent`s);
# anything deeper is not a HAR but a parser attack.
MAX_DEPTH = 512
BUF_BYTES = 64 * 1024
SNIFF_BYTES = 4096
_BOM = b"\xef\xbb\xbf"
_OPEN = ("start_map", "start_array")
_CLOSE = ("end_map", "end_array")
Event = tuple[str, Any]


class Nested:
    """Stands for a container the reader did not build: never a str, number, list or dict,
    so every type check rejects it."""

    def __repr__(self) -> str:
        return "a nested value"


NESTED = Nested()


class _TooDeep(Exception):
    """Nesting beyond MAX_DEPTH: raised where it is met, worded by `walk`."""


@dataclass
class _Where:
    """How far the walk got, so a JSON error can name the entry and field it is in."""

    entry: int | None = None
    key: str = ""
    message: int | None = None

    def __str__(self) -> str:
        if self.entry is None:
            return ""
        item = f" item {self.message}" if self.message is not None else ""
        return f" in entry {self.entry} {self.key}{item}".rstrip()


class _Counted:
    """The file, counting bytes handed to the parser so an error can say where it is."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.consumed = 0
        self.last = 0

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.last = len(data)
        self.consumed += len(data)
        return data


def walk(fh: BinaryIO, source: str) -> Iterator[Event]:
    """("creator", value), ("message", value) and ("entry", value) in file order.

    A "message" belongs to the "entry" that follows it (messages are read while their
    entry is still open). InputError for anything that is not a HAR's JSON.
    """
    _start(fh, source)
    counted, at = _Counted(fh), _Where()
    events = ijson.basic_parse(counted, use_float=True, buf_size=BUF_BYTES)
    try:
        found = yield from _document(events, at)
    except ijson.JSONError as exc:
        raise InputError(_json_problem(exc, counted, at), source=source) from None
    except _TooDeep:
        problem = f"JSON nested more than {MAX_DEPTH} levels deep{at}"
        raise InputError(f"not a HAR file: {problem}", source=source) from None
    if not found:
        raise InputError("not a HAR file: no log.entries list", source=source)


def _start(fh: BinaryIO, source: str) -> None:
    """Past a UTF-8 BOM (yajl rejects one); a head that is not UTF-8 is a binary file
    passed as a HAR, better named so than as a JSON syntax error."""
    head = fh.read(SNIFF_BYTES)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not merely a character cut short
            raise InputError("not a HAR file: not UTF-8 text", source=source) from None
    fh.seek(len(_BOM) if head.startswith(_BOM) else 0)


def _json_problem(exc: Exception, counted: _Counted, at: _Where) -> str:
    """yajl's first line (`parse error: integer overflow`), the entry and field and the
    bytes it was in, and whether the file simply stops: a cut download is the common case.
    """
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "UTF8" in first:
        return f"not a HAR file: not UTF-8 text{at}"
    cut = " (the file looks truncated)" if "premature EOF" in first else ""
    span = f"bytes {counted.consumed - counted.last}-{counted.consumed}"
    return f"not a HAR file: invalid JSON{at} ({span}): {first}{cut}"


def _document(events: Iterator[Event], at: _Where) -> Iterator[Event]:
    """The top-level object's `log`; True when it held an entries list."""
    found = False
    first = next(events, None)
    if first is not None and first[0] == "start_map":
        for key in _members(events):
            if key == "log":
                found = yield from _log(events, next(events), at)
            else:
                _skip(events, next(events), 1)
    elif first is not None:
        _skip(events, first, 0)
    for _ in events:  # nothing may follow the document: trailing garbage is a JSON error
        pass
    return found


def _log(events: Iterator[Event], first: Event, at: _Where) -> Iterator[Event]:
    """The `log` object's entries and creator; True when it held an entries list."""
    found = False
    if first[0] != "start_map":
        _skip(events, first, 1)
        return found
    for key in _members(events):
        event = next(events)
        if key == "entries" and event[0] == "start_array":
            found = True
            yield from _entries(events, at)
        elif key == "creator":
            yield "creator", _build(events, event, 2, 1)
        else:
            _skip(events, event, 2)
    return found


def _entries(events: Iterator[Event], at: _Where) -> Iterator[Event]:
    for index, event in enumerate(events):  # each turn consumes one whole entry
        if event[0] == "end_array":
            at.entry = None
            return
        at.entry, at.key, at.message = index, "", None
        if event[0] == "start_map":
            yield from _entry(events, at)
        else:
            yield "entry", _build(events, event, 3)


def _entry(events: Iterator[Event], at: _Where) -> Iterator[Event]:
    """The entry's messages as they come, then the entry, its message list left empty."""
    entry: dict[str, Any] = {}
    for key in _members(events):
        at.key, at.message = key, None
        event = next(events)
        if key == "_webSocketMessages" and event[0] == "start_array":
            yield from _messages(events, at)
            entry[key] = []
        else:
            entry[key] = _build(events, event, 4, ENTRY_LEVELS - 1)
    yield "entry", entry


def _messages(events: Iterator[Event], at: _Where) -> Iterator[Event]:
    """Each message as a flat dict: a container inside one becomes NESTED.

    The hot loop of a big HAR (millions of messages), hence written out by hand.
    """
    for index, (event, value) in enumerate(events):  # each turn consumes one message
        if event == "end_array":
            at.message = None
            return
        at.message = index
        if event != "start_map":
            yield "message", _build(events, (event, value), 5)
            continue
        message: dict[str, Any] = {}
        key = ""
        for event, value in events:
            if event == "map_key":
                key = value
            elif event == "end_map":
                break
            elif event in _OPEN:
                message[key] = _build(events, (event, value), 6)
            else:
                message[key] = value
        yield "message", message


def _members(events: Iterator[Event]) -> Iterator[str]:
    """The keys of the map being read; the caller consumes each key's value in between."""
    for event, value in events:
        if event == "end_map":
            return
        yield value


def _build(events: Iterator[Event], first: Event, depth: int, levels: int = 0) -> Any:
    """The value starting with `first` (`depth` containers enclose it), containers built
    `levels` deep and NESTED below. Recursion is bounded by `levels`, never by the file.
    """
    event, value = first
    if event not in _OPEN:
        return value
    if levels <= 0:
        _skip(events, first, depth)
        return NESTED
    if event == "start_array":
        items = []
        for item in events:
            if item[0] == "end_array":
                break
            items.append(_build(events, item, depth + 1, levels - 1))
        return items
    return {key: _build(events, next(events), depth + 1, levels - 1) for key in _members(events)}


def _skip(events: Iterator[Event], first: Event, depth: int) -> None:
    """Consume the value starting with `first` without building it (a counter, no stack)."""
    if first[0] not in _OPEN:
        return
    level = 1
    for event, _ in events:
        if event in _OPEN:
            level += 1
            if depth + level > MAX_DEPTH:
                raise _TooDeep
        elif event in _CLOSE:
            level -= 1
            if level == 0:
                return
