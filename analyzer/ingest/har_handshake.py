"""A HAR entry's request and response -> one HANDSHAKES row, shaped like a capture's.

The URL, startedDateTime, the headers lists and response.status are required; method,
statusText, cookies, serverIPAddress, timings and the refusal body are optional
(analyzer/ingest/har_checks.py says what each outcome means). Headers and cookies go
through the capture path's header fields, so they are redacted the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from analyzer import redact
from analyzer.ingest import logtime
from analyzer.ingest.handshakes import (
    request_header_fields,
    response_header_fields,
)
from analyzer.ingest.har_checks import Check, as_dict, duration_ms, is_number, show

DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def request_url(entry: dict[str, Any], check: Check) -> SplitResult:
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


def handshake_row(
    entry: dict[str, Any], split: SplitResult, stream: int, index: int, check: Check
) -> dict[str, Any]:
    """The entry's HANDSHAKES row (`split` is its checked `request_url`): what a HAR does
    not record (frame numbers, the client's address) stays null."""
    request = entry["request"]
    started = _started(entry, check)
    headers = _headers(request, "request", check)
    headers += _cookies(request, headers, "request", "Cookie", check)
    query = [(k, redact.query_value(k, v)) for k, v in parse_qsl(split.query, True)]
    method = request.get("method")
    if not isinstance(method, str | None):
        check.warn("request.method", f"{show(method)} is not a string")
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
    row["host"] = row["host"] or netloc(split)  # HTTP/2 entries carry :authority instead
    return row | _response(entry, started, row["ws_key"], check)


def netloc(split: SplitResult) -> str:
    """Host and port of the URL without its `user:password@`."""
    return split.netloc.rpartition("@")[2]


def _started(entry: dict[str, Any], check: Check) -> dt.datetime:
    """startedDateTime, required: every time of the session hangs off it."""
    value = entry.get("startedDateTime")
    if not isinstance(value, str):
        check.fail("startedDateTime", f"{show(value)} is not a date")
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        check.fail("startedDateTime", f"{show(value)} is not an ISO 8601 date")
    try:
        stamp = stamp.astimezone(dt.UTC) if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    except OverflowError:  # 9999-12-31 at -10:00 is past datetime's range once in UTC
        stamp = logtime.LATEST  # outside the window either way
    if not logtime.EARLIEST <= stamp < logtime.LATEST:
        check.fail("startedDateTime", f"{show(value)} is not a date {logtime.WINDOW}")
    return stamp


def _headers(block: dict[str, Any], name: str, check: Check) -> list[tuple[str, str]]:
    """`headers`, required as a list; an item that is not {name, value} strings is
    skipped with a warning."""
    items = block.get("headers")
    if items is None:
        return []
    if not isinstance(items, list):
        check.fail(f"{name}.headers", "is not a list")
    return [(n, v) for n, v in _pairs(items, f"{name}.headers", check) if n]


def _pairs(items: list[Any], name: str, check: Check) -> list[tuple[str, str]]:
    """The {name, value} records of a headers or cookies list; the others are skipped with
    a warning."""
    pairs = [p for item in items if (p := _pair(item)) is not None]
    if len(pairs) < len(items):
        check.warn(name, f"has {len(items) - len(pairs)} item(s) that are not name/value strings")
    return pairs


def _pair(item: Any) -> tuple[str, str] | None:
    """A HAR {name, value} record (header or cookie); a missing value is empty."""
    if not isinstance(item, dict):
        return None
    name, value = item.get("name"), item.get("value", "")
    value = "" if value is None else value
    return (name, value) if isinstance(name, str) and isinstance(value, str) else None


def _cookies(
    block: dict[str, Any], headers: list[tuple[str, str]], name: str, header: str, check: Check
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
    cookies = [f"{n}={v}" for n, v in _pairs(items, f"{name}.cookies", check) if n]
    return [(header, "; ".join(cookies))] if cookies else []


def _server(entry: dict[str, Any], split: SplitResult, check: Check) -> str | None:
    address = entry.get("serverIPAddress")
    if not isinstance(address, str | None):
        check.warn("serverIPAddress", f"{show(address)} is not a string")
        address = None
    host = (address or split.hostname or "").strip("[]")
    if not host:
        return None
    port = split.port or DEFAULT_PORTS.get(split.scheme.lower())
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _response(
    entry: dict[str, Any], started: dt.datetime, key: str | None, check: Check
) -> dict[str, Any]:
    response = entry.get("response")
    if not isinstance(response, dict):
        check.fail("response", "is not an object")
    status = _status(response.get("status"), check)
    headers = _headers(response, "response", check)
    headers += _cookies(response, headers, "response", "Set-Cookie", check)
    reason = response.get("statusText")
    if not isinstance(reason, str | None):
        check.warn("response.statusText", f"{show(reason)} is not a string")
        reason = None
    body = _body(response, check) if status not in (None, 101) else None
    return {
        "response_frame": None,
        "response_time": _response_time(entry, started, check) if status else None,
        "status": status,
        "reason": reason or None,
        **response_header_fields(headers, key, body),
    }


def _status(value: Any, check: Check) -> int | None:
    """response.status, required: 101 or not decides what the session is. 0 or absent:
    no response (HAR's way to write a request that got none)."""
    if value is None or (is_number(value) and value <= 0):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 999:
        check.fail("response.status", f"{show(value)} is not an HTTP status")
    return value


def _body(response: dict[str, Any], check: Check) -> str | None:
    """The response body of a refused upgrade (its error text), optional."""
    content = response.get("content")
    if not isinstance(content, dict | None):
        check.warn("response.content", f"{show(content)} is not an object")
        return None
    text = as_dict(content).get("text")
    if not isinstance(text, str | None):
        check.warn("response.content.text", f"{show(text)} is not a string")
        return None
    return text


def _response_time(entry: dict[str, Any], started: dt.datetime, check: Check) -> dt.datetime:
    """startedDateTime + the recorded send/wait/receive timings (HAR: -1 = not applicable)."""
    timings = entry.get("timings")
    if not isinstance(timings, dict | None):
        check.warn("timings", f"{show(timings)} is not an object")
    ms = sum(
        duration_ms(as_dict(timings).get(k), started, f"timings.{k}", check)
        for k in ("blocked", "dns", "connect", "send", "wait", "receive")
    )
    return started + dt.timedelta(milliseconds=duration_ms(ms, started, "timings", check))
