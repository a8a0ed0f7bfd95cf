"""Declared polars schemas: every table column, its type and meaning, written down once.

Rules (YAML) read session columns by these names; the JSON outputs serialise them. A
column not declared here does not leave the pipeline. A text column whose values come
from a closed set declares them (`_enum`): its doc names them, and `rules validate`
rejects a rule that compares the column with anything else.
"""

from __future__ import annotations

import polars as pl

from analyzer.columns import Table
from analyzer.columns import enumerated as _enum
from analyzer.protocol import opcode_name
from analyzer.vocab import ANOMALY_KINDS, LOG_KINDS, LOG_SIDES, STAMPED_AT

# The contract's category vocabulary (/work/shared/contract.md).
CATEGORIES = (
    "idle-timeout",
    "keepalive-misuse",
    "ping-timeout",
    "missing-close",
    "proxy-interference",
    "handshake-failure",
    "protocol-error",
    "server-error",
    "capture-quality",
)
TS = pl.Datetime("ns", "UTC")
# tshark's tcp.analysis.* flags wsdoctor keeps, by their column / event / feature name.
TCP_ANALYSIS = (
    "retransmission",
    "lost_segment",
    "ack_lost_segment",
    "out_of_order",
    "zero_window",
    "keep_alive",
)
HEADER = pl.List(pl.Struct({"name": pl.String, "value": pl.String}))
# Every opcode's name (RFC 6455 §5.2: 4 bits; the unassigned ones are reserved-N).
OPCODES = tuple(opcode_name(i) for i in range(16))
SOURCES = ("capture", "har", "log")  # where a session was seen
SIDES = ("client", "server")


def _t(name: str, **cols: tuple[pl.DataType, str]) -> Table:
    return Table(name, cols)


S, I, F, B = pl.String, pl.Int64, pl.Float64, pl.Boolean  # noqa: E741

FRAMES = _t(
    "frames",
    session=(S, "session id"),
    time=(TS, "capture time of the packet that completed the frame"),
    frame=(I, "capture frame number of that packet"),
    from_client=(B, "sent by the client (the side that opened TCP / sent the upgrade)"),
    fin=(B, "FIN bit: last frame of a message"),
    rsv=(pl.Int8, "RSV1-3 bits as a number (4 = RSV1, the permessage-deflate flag)"),
    opcode=_enum(S, OPCODES, "{values}"),
    message_opcode=_enum(
        S, OPCODES, "for continuation frames the opcode of the message they continue: {values}"
    ),
    payload_len=(I, "payload length on the wire (compressed length under permessage-deflate)"),
    masked=(B, "MASK bit (clients must mask, servers must not)"),
    close_code=(pl.Int32, "close status code; null for non-close frames or an empty close"),
    close_reason=(S, "close reason text (control bytes replaced)"),
    text_preview=(
        S,
        "first 160 characters of a text message, decompressed; tshark writes "
        "tab/CR/LF as \\t \\r \\n; null when fragmented or not assignable",
    ),
    json_type=(
        S,
        "value of the JSON `type` key (KeepAlive, Results, ...) of a text message, or of a "
        "binary frame of 2-125 bytes (an SDK bug: control JSON sent as binary); null for a "
        "binary frame whose payload could not be attributed (several such frames of one "
        "size in one packet)",
    ),
    input=(S, "capture file the frame came from"),
    tcp_stream=(I, "tshark tcp.stream index within that file"),
)

HANDSHAKES = _t(
    "handshakes",
    input=(pl.Int32, "input index"),
    stream=(I, "tcp.stream"),
    request_frame=(I, "frame of the upgrade request"),
    request_time=(TS, "time of the upgrade request"),
    client=(S, "request sender ip:port"),
    server=(S, "request receiver ip:port"),
    method=(S, "HTTP method (GET for an upgrade, CONNECT for a proxy tunnel)"),
    path=(S, "request path without the query"),
    query=(HEADER, "query parameters, credentials redacted"),
    uri=(S, "path and query, credentials redacted"),
    request_headers=(HEADER, "request headers, credentials redacted"),
    host=(S, "Host header"),
    origin=(S, "Origin header"),
    user_agent=(S, "User-Agent header"),
    upgrade_header=(S, "Upgrade header as sent"),
    connection_header=(S, "Connection header as sent"),
    ws_version=(S, "Sec-WebSocket-Version"),
    ws_key=(S, "Sec-WebSocket-Key"),
    subprotocols_offered=(pl.List(S), "Sec-WebSocket-Protocol entries, credentials redacted"),
    extensions_offered=(S, "Sec-WebSocket-Extensions offered"),
    response_frame=(I, "frame of the HTTP response, null when none was seen"),
    response_time=(TS, "time of the HTTP response"),
    status=(pl.Int32, "HTTP status (101 = upgraded), null when no response was seen"),
    reason=(S, "HTTP reason phrase"),
    response_headers=(HEADER, "response headers, credentials redacted"),
    subprotocol_accepted=(S, "Sec-WebSocket-Protocol chosen by the server"),
    extensions_accepted=(S, "Sec-WebSocket-Extensions accepted by the server"),
    accept=(S, "Sec-WebSocket-Accept"),
    accept_valid=(B, "Accept equals base64(sha1(key + GUID)); null if either is missing"),
    server_software=(S, "Server header"),
    via=(S, "Via header (set by proxies)"),
    dg_request_id=(S, "Deepgram dg-request-id header"),
    dg_error=(S, "Deepgram dg-error header"),
    body_preview=(S, "first 300 characters of a non-101 response body, redacted"),
    upgrade_attempts=(I, "upgrade requests seen on this TCP connection"),
    connect_target=(S, "CONNECT target when the connection went through a forward proxy"),
    connect_status=(pl.Int32, "proxy's answer to the CONNECT"),
)

TCP_EVENTS = _t(
    "tcp_events",
    session=(S, "session id"),
    frame=(I, "capture frame number"),
    time=(TS, "capture time"),
    from_client=(B, "sent by the client"),
    kind=_enum(S, ("syn", "synack", "fin", "rst", *TCP_ANALYSIS), "{values}"),
    ttl=(pl.Int32, "IP TTL / hop limit of the packet"),
    ip_id=(pl.Int32, "IPv4 identification (null for IPv6)"),
)

ANOMALIES = _t(
    "anomalies",
    session=(S, "session id, null for capture-level anomalies"),
    frame=(I, "capture frame number"),
    time=(TS, "capture time"),
    kind=_enum(
        S,
        tuple(a.name for a in ANOMALY_KINDS),
        "anomaly name (Zeek style; analyzer/vocab.py says what each means): {values}",
    ),
    detail=(S, "what was measured"),
)


# One row per application/proxy log line a log pack recognised (analyzer/ingest/logs.py).
# Times are UTC; a line written without a zone was read in the --log-tz zone (tz_assumed).
LOG_EVENTS = _t(
    "log_events",
    input=(S, "log file the line came from"),
    line=(I, "1-based line number in that file"),
    time=(TS, "the line's timestamp in UTC; null when the line had none the pack could read"),
    time_local_text=(S, "the timestamp exactly as written in the line"),
    tz_assumed=(B, "the timestamp had no zone and was read in the --log-tz zone"),
    kind=_enum(S, LOG_KINDS, "{values} (analyzer/vocab.py says what each means)"),
    side=_enum(S, LOG_SIDES, "who wrote or experienced the event: {values}"),
    close_code=(pl.Int32, "WebSocket close code the line names (1006 for no close frame)"),
    close_reason=(S, "close reason text the line names (redacted)"),
    opcode=_enum(S, OPCODES, "opcode of the WebSocket frame the line names: {values}"),
    payload_len=(I, "payload length of the frame the line names"),
    fin=(B, "FIN bit of the frame the line names: false when the line marks a fragment"),
    status=(pl.Int32, "HTTP status (handshake failures, proxy access logs)"),
    request_id=(S, "request id the line names (dg-request-id, proxy request id)"),
    local_port=(pl.Int32, "client TCP port the line names, to join with captured sessions"),
    remote=(
        S,
        "the writer's peer (a client's server, a proxy's or server's client) the line "
        "names, as host or host:port (a URL or a Python address tuple written as host:port)",
    ),
    local=(S, "the writer's own address the line names (host, or host:port), if any"),
    path=(S, "request path (no query) the line names, to join with captured sessions' path"),
    pattern=(S, "<pack>/<pattern id> that matched"),
    stamped_at=_enum(
        S,
        STAMPED_AT,
        "{values}: what the line's time marks (Envoy stamps its access line, written at "
        "stream end, with the request's start)",
    ),
    text=(S, "the line, key-like runs redacted, cut to 500 characters"),
)

# LOG_EVENTS as the pipeline keeps them: each event tied to a session (or not) and placed
# on the capture's clock.
SESSION_LOG_EVENTS = Table(
    "session_log_events",
    {
        **LOG_EVENTS.columns,
        "session": (S, "session id the event was attached to; null when none"),
        "aligned_time": (TS, "`time` minus the file's clock offset: on the capture clock"),
        "match": _enum(
            S,
            {
                **dict.fromkeys(("request_id+port", "port", "request_id", "remote", "path"), ""),
                "status": "a refusal's HTTP status",
                "log": "a log-only session",
            },
            "how it was attached: {values}",
        ),
    },
)
