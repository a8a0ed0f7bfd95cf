"""HTTP upgrade requests and their responses -> one handshake row per TCP stream.

Built column by column over every request at once: with thousands of connections a
Python pass per request (its headers split, looked up and redacted one by one) cost
seconds. What stays in Python runs once per distinct value (a header name, a URI, a
subprotocol list) or is cheap per row (the accept key's SHA-1). Everything that can carry
a credential is redacted here, at ingestion, so no later stage can leak it by accident.
`request_header_fields` / `response_header_fields` describe one handshake the same way
for HAR files (analyzer/ingest/har_handshake.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import polars as pl

from analyzer import redact
from analyzer.ingest.header_table import first_values, header_table, per_value, redacted_lists
from analyzer.protocol import accept_key
from analyzer.schema import HANDSHAKES, HEADER

BODY_PREVIEW = 300
# HANDSHAKES column -> the request or response header it holds (`request_header_fields`,
# `response_header_fields`).
REQUEST_HEADERS = {
    "host": "host",
    "origin": "origin",
    "user_agent": "user-agent",
    "upgrade_header": "upgrade",
    "connection_header": "connection",
    "ws_version": "sec-websocket-version",
    "ws_key": "sec-websocket-key",
    "extensions_offered": "sec-websocket-extensions",
}
RESPONSE_HEADERS = {
    "subprotocol_accepted": "sec-websocket-protocol",
    "extensions_accepted": "sec-websocket-extensions",
    "accept": "sec-websocket-accept",
    "server_software": "server",
    "via": "via",
    "dg_request_id": "dg-request-id",
    "dg_error": "dg-error",
}
OFFERED = "sec-websocket-protocol"


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
        _microseconds(pl.col("ts")).alias("response_time"),
        "http_status",
        "http_phrase",
        "http_resp_headers",
        "http_body",
    )
    answers = responses.drop("stream", "src", "dst")
    joined = requests.join(
        answers, on=["input", "frame_no"], how="left", maintain_order="left"
    ).sort("input", "frame_no")
    chosen = _chosen(joined.with_row_index("row"))
    requested = _request_columns(chosen)
    keyed = chosen.join(
        requested.select("row", "ws_key"), on="row", how="left", maintain_order="left"
    )
    rows = requested.join(_response_columns(keyed), on="row", how="left", maintain_order="left")
    return pl.concat([_conformed(rows), _conformed(_lone_upgrades(responses, rows))])


def _microseconds(time: pl.Expr) -> pl.Expr:
    """A handshake time cut to whole microseconds, as it always was (the rows used to pass
    through Python datetimes); every measure from it on the report keeps its value."""
    return time.dt.truncate("1us")


def _chosen(joined: pl.DataFrame) -> pl.DataFrame:
    """Per stream with an upgrade attempt (an Upgrade: websocket, a 101, or a CONNECT),
    in the order of each stream's first request: the request that tells the handshake
    (the upgrade answered 101, else the last upgrade, else the last CONNECT) with its
    answer, how many upgrades were tried, and the last CONNECT's target and answer."""
    upgrade = first_values(header_table(joined, "http_req_headers"), {"upgrade": "upgrade"})
    websocket = per_value(upgrade["upgrade"], lambda v: "websocket" in v.lower(), pl.Boolean)
    joined = joined.join(
        upgrade.with_columns(websocket=websocket), on="row", how="left", maintain_order="left"
    )
    connect = pl.col("http_method") == "CONNECT"
    attempt = connect | pl.col("websocket").fill_null(False) | (pl.col("http_status") == 101)
    upgrade_try = attempt & ~connect
    picks = (
        joined.group_by("input", "stream", maintain_order=True)
        .agg(
            pl.coalesce(
                pl.col("row").filter(upgrade_try & (pl.col("http_status") == 101)).first(),
                pl.col("row").filter(upgrade_try).last(),
                pl.col("row").filter(attempt).last(),
            ).alias("row"),
            upgrade_try.sum().cast(pl.Int64).alias("upgrade_attempts"),
            pl.col("http_uri").filter(connect).last().alias("connect_target"),
            pl.col("http_status").filter(connect).last().alias("connect_status"),
        )
        .filter(pl.col("row").is_not_null())
    )
    return picks.drop("input", "stream").join(
        joined.drop("upgrade", "websocket"), on="row", how="left", maintain_order="left"
    )


def _request_columns(req: pl.DataFrame) -> pl.DataFrame:
    """The request's HANDSHAKES columns (as `request_header_fields` gives them)."""
    headers = header_table(req, "http_req_headers")
    named = first_values(headers, REQUEST_HEADERS | {"offered": OFFERED})
    offered = per_value(named["offered"].fill_null(""), redact.subprotocols, pl.List(pl.String))
    seen: dict[tuple[str, str | None], tuple[str, list[tuple[str, str]], str]] = {}
    uris = [
        seen.get((m, u)) or seen.setdefault((m, u), _uri_fields(m, u))
        for m, u in req.select("http_method", "http_uri").iter_rows()
    ]
    return (
        req.select(
            "row",
            "input",
            "stream",
            pl.col("frame_no").alias("request_frame"),
            _microseconds(pl.col("ts")).alias("request_time"),
            pl.col("src").alias("client"),
            pl.col("dst").alias("server"),
            pl.col("http_method").alias("method"),
            pl.Series("path", [u[0] for u in uris], pl.String),
            _query_lists([u[1] for u in uris]),
            pl.Series("uri", [u[2] for u in uris], pl.String),
            "upgrade_attempts",
            "connect_target",
            "connect_status",
        )
        .join(
            redacted_lists(headers, "request_headers"), on="row", how="left", maintain_order="left"
        )
        .join(
            named.with_columns(subprotocols_offered=offered),
            on="row",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            pl.col("request_headers").fill_null(pl.lit([], dtype=HEADER)),
            pl.col("subprotocols_offered").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
    )


def _uri_fields(method: str, uri: str | None) -> tuple[str, list[tuple[str, str]], str]:
    """Path, redacted query parameters and redacted URI of a request."""
    uri = uri or ""
    # A CONNECT target is authority-form (host:port, RFC 9110 §9.3.6), not a URL.
    split = urlsplit("" if method == "CONNECT" else uri)
    query = [(k, redact.query_value(k, v)) for k, v in parse_qsl(split.query, True)]
    path = split.path or uri
    return path, query, _redacted_uri(path, query)


def _query_lists(queries: list[list[tuple[str, str]]]) -> pl.Series:
    """[{name, value}] per row, built as one long table (a Series of nested dicts costs a
    conversion per row)."""
    long = pl.DataFrame(
        [(i, k, v) for i, query in enumerate(queries) for k, v in query],
        schema={"i": pl.Int64, "name": pl.String, "value": pl.String},
        orient="row",
    )
    lists = long.group_by("i").agg(pl.struct("name", "value").alias("query"))
    rows = pl.DataFrame({"i": range(len(queries))}, schema={"i": pl.Int64})
    joined = rows.join(lists, on="i", how="left", maintain_order="left")
    return joined["query"].fill_null(pl.lit([], dtype=HEADER)).cast(HEADER)


def _response_columns(rows: pl.DataFrame) -> pl.DataFrame:
    """A response's HANDSHAKES columns (as `response_header_fields` gives them), keyed by
    `row`; `rows` has the request's Sec-WebSocket-Key as `ws_key` when it was seen."""
    headers = header_table(rows, "http_resp_headers")
    named = first_values(headers, RESPONSE_HEADERS)
    keys = rows.select("row", "ws_key", "http_body").join(
        named, on="row", how="left", maintain_order="left"
    )
    valid = [
        (accept == accept_key(key)) if (accept and key) else None
        for accept, key in zip(keys["accept"], keys["ws_key"], strict=True)
    ]
    body = [redact.free_text(str(b)[:BODY_PREVIEW]) if b else None for b in keys["http_body"]]
    return (
        rows.select(
            "row",
            "response_frame",
            "response_time",
            pl.col("http_status").alias("status"),
            pl.col("http_phrase").alias("reason"),
        )
        .join(
            redacted_lists(headers, "response_headers"),
            on="row",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("response_headers").fill_null(pl.lit([], dtype=HEADER)))
        .join(named, on="row", how="left", maintain_order="left")
        .with_columns(
            accept_valid=pl.Series(valid, dtype=pl.Boolean),
            body_preview=pl.Series(body, dtype=pl.String),
        )
    )


def _lone_upgrades(responses: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """A 101 on a connection where no upgrade request was seen (a capture of the server's
    packets only, or one that starts between request and response) is still a WebSocket
    session: what its response says is known, the request is not. The receiver of the 101
    is the client."""
    lone = (
        responses.filter(pl.col("http_status") == 101)
        .sort("input", "response_frame")
        .unique(["input", "stream"], keep="first", maintain_order=True)
        .join(known.select("input", "stream"), on=["input", "stream"], how="anti")
        .with_columns(ws_key=pl.lit(None, pl.String))
        .with_row_index("row")
    )
    return lone.select(
        "row",
        "input",
        "stream",
        pl.col("dst").alias("client"),
        pl.col("src").alias("server"),
        upgrade_attempts=pl.lit(0, pl.Int64),
    ).join(_response_columns(lone), on="row", how="left", maintain_order="left")


def _conformed(rows: pl.DataFrame) -> pl.DataFrame:
    """The HANDSHAKES columns, in order and type; the ones a row cannot know are null."""
    missing = [pl.lit(None).alias(c) for c in HANDSHAKES.columns if c not in rows.columns]
    return HANDSHAKES.conform(rows.with_columns(missing))


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
