"""HTTP upgrade requests and their responses -> one handshake row per TCP stream.

There is one upgrade per WebSocket connection, so headers are parsed in Python per
handshake (a few rows), not per packet. Everything that can carry a credential is
redacted here, at ingestion, so no later stage can leak it by accident.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import polars as pl

from analyzer import redact
from analyzer.protocol import accept_key
from analyzer.schema import HANDSHAKES

BODY_PREVIEW = 300


def _headers(lines: list[str] | None) -> list[tuple[str, str]]:
    """tshark prints each header line with a literal `\\r\\n` suffix."""
    out = []
    for line in lines or []:
        name, sep, value = line.removesuffix("\\r\\n").removesuffix("\\n").partition(":")
        if sep:
            out.append((name.strip(), value.strip()))
    return out


def get_header(headers: list[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    return next((v for n, v in headers if n.lower() == wanted), None)


def _is_attempt(method: str | None, headers: list[tuple[str, str]], status: int | None) -> bool:
    upgrade = (get_header(headers, "upgrade") or "").lower()
    return method == "CONNECT" or "websocket" in upgrade or status == 101


def handshake_rows(packets: pl.DataFrame) -> pl.DataFrame:
    """One row per stream that attempted an upgrade (or a CONNECT through a proxy)."""
    requests = packets.filter(pl.col("http_method").is_not_null()).select(
        "input",
        "stream",
        "frame_no",
        "ts",
        "src",
        "dst",
        "http_method",
        "http_uri",
        "http_req_headers",
    )
    responses = packets.filter(pl.col("http_status").is_not_null()).select(
        "input",
        "stream",
        "src",
        "dst",
        pl.col("http_request_in").alias("frame_no"),
        pl.col("frame_no").alias("response_frame"),
        pl.col("ts").alias("response_time"),
        "http_status",
        "http_phrase",
        "http_resp_headers",
        "http_body",
    )
    answers = responses.drop("stream", "src", "dst")
    joined = requests.join(answers, on=["input", "frame_no"], how="left")
    by_stream: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in joined.sort("input", "frame_no").iter_rows(named=True):
        by_stream.setdefault((row["input"], row["stream"]), []).append(row)
    rows = [r for reqs in by_stream.values() if (r := _stream_handshake(reqs))]
    rows += _lone_upgrades(responses, {(r["input"], r["stream"]) for r in rows})
    return pl.DataFrame(rows, schema=HANDSHAKES.polars) if rows else HANDSHAKES.empty()


def _lone_upgrades(responses: pl.DataFrame, known: set[tuple[int, int]]) -> list[dict[str, Any]]:
    """A 101 on a connection where no upgrade request was seen (a capture of the server's
    packets only, or one that starts between request and response) is still a WebSocket
    session: what its response says is known, the request is not. The receiver of the 101
    is the client."""
    lone = (
        responses.filter(pl.col("http_status") == 101)
        .sort("input", "response_frame")
        .unique(["input", "stream"], keep="first", maintain_order=True)
    )
    rows = []
    for r in lone.iter_rows(named=True):
        if (r["input"], r["stream"]) in known:
            continue
        row = dict.fromkeys(HANDSHAKES.polars, None) | _response_fields(r, None)
        rows.append(row | {"input": r["input"], "stream": r["stream"], "client": r["dst"],
                           "server": r["src"], "upgrade_attempts": 0})  # fmt: skip
    return rows


def _stream_handshake(requests: list[dict[str, Any]]) -> dict[str, Any] | None:
    parsed = [(r, _headers(r["http_req_headers"])) for r in requests]
    attempts = [(r, h) for r, h in parsed if _is_attempt(r["http_method"], h, r["http_status"])]
    if not attempts:
        return None
    upgrades = [(r, h) for r, h in attempts if r["http_method"] != "CONNECT"]
    connects = [r for r, _ in attempts if r["http_method"] == "CONNECT"]
    chosen = next((a for a in upgrades if a[0]["http_status"] == 101), None)
    req, headers = chosen or (upgrades[-1] if upgrades else attempts[-1])
    row = _request_fields(req, headers)
    row |= _response_fields(req, row["ws_key"])
    row["upgrade_attempts"] = len(upgrades)
    row["connect_target"] = connects[-1]["http_uri"] if connects else None
    row["connect_status"] = connects[-1]["http_status"] if connects else None
    return row


def _request_fields(req: dict[str, Any], headers: list[tuple[str, str]]) -> dict[str, Any]:
    uri = req["http_uri"] or ""
    # A CONNECT target is authority-form (host:port, RFC 9110 §9.3.6), not a URL.
    split = urlsplit("" if req["http_method"] == "CONNECT" else uri)
    query = [(k, redact.query_value(k, v)) for k, v in parse_qsl(split.query, True)]
    return {
        "input": req["input"],
        "stream": req["stream"],
        "request_frame": req["frame_no"],
        "request_time": req["ts"],
        "client": req["src"],
        "server": req["dst"],
        "method": req["http_method"],
        "path": split.path or uri,
        "query": [{"name": k, "value": v} for k, v in query],
        "uri": _redacted_uri(split.path or uri, query),
        **request_header_fields(headers),
    }


def request_header_fields(headers: list[tuple[str, str]]) -> dict[str, Any]:
    """The HANDSHAKES columns read from an upgrade request's headers, redacted; shared by
    captures and HAR files."""
    return {
        "request_headers": redacted(headers),
        "host": get_header(headers, "host"),
        "origin": get_header(headers, "origin"),
        "user_agent": get_header(headers, "user-agent"),
        "upgrade_header": get_header(headers, "upgrade"),
        "connection_header": get_header(headers, "connection"),
        "ws_version": get_header(headers, "sec-websocket-version"),
        "ws_key": get_header(headers, "sec-websocket-key"),
        "subprotocols_offered": redact.subprotocols(
            get_header(headers, "sec-websocket-protocol") or ""
        ),
        "extensions_offered": get_header(headers, "sec-websocket-extensions"),
    }


def _response_fields(req: dict[str, Any], key: str | None) -> dict[str, Any]:
    return {
        "response_frame": req["response_frame"],
        "response_time": req["response_time"],
        "status": req["http_status"],
        "reason": req["http_phrase"],
        **response_header_fields(_headers(req["http_resp_headers"]), key, req["http_body"]),
    }


def response_header_fields(
    headers: list[tuple[str, str]], key: str | None, body: str | None
) -> dict[str, Any]:
    """The HANDSHAKES columns read from a response's headers and body, redacted; shared
    by captures and HAR files so both describe a response the same way."""
    accept = get_header(headers, "sec-websocket-accept")
    return {
        "response_headers": redacted(headers),
        "subprotocol_accepted": get_header(headers, "sec-websocket-protocol"),
        "extensions_accepted": get_header(headers, "sec-websocket-extensions"),
        "accept": accept,
        "accept_valid": (accept == accept_key(key)) if (accept and key) else None,
        "server_software": get_header(headers, "server"),
        "via": get_header(headers, "via"),
        "dg_request_id": get_header(headers, "dg-request-id"),
        "dg_error": get_header(headers, "dg-error"),
        "body_preview": redact.free_text(str(body)[:BODY_PREVIEW]) if body else None,
    }


def redacted(headers: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": n, "value": redact.header_value(n, v)} for n, v in headers]


def _redacted_uri(path: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return path
    return path + "?" + "&".join(f"{k}={v}" if v else k for k, v in query)
