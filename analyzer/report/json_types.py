"""The JSON report's records (`wsdoctor.report/1`, /work/shared/contract.md) as TypedDicts.

Each record declares its keys in the order the report writes them; `json_report` returns
these types, and `report.schema.json` beside this file publishes the same shape as a JSON
Schema (draft 2020-12). tests/report/test_json_schema.py keeps them in step: the schema's
properties and types against these declarations, the vocabularies (Literal types)
against analyzer/schema.py, analyzer/session_schema.py and analyzer/rules/model.py, and
every sample's report against the schema, closed: a key the report writes must be
declared here and there.

A session's groups mirror `analyzer.session_schema.SESSION_GROUPS` column for column (a column's
polars type decides its Python type; every column may be null). Times are ISO 8601 UTC
strings with microseconds: `2026-11-22T01:24:20.652471Z`.
"""

# No `from __future__ import annotations`: Python 3.11 reads NotRequired only from evaluated
# annotations (Evidence.log would count as required).
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, Literal, NotRequired, TypedDict

Time = str  # ISO 8601 UTC, microseconds, "Z"
Category = Literal[
    "idle-timeout",
    "keepalive-misuse",
    "ping-timeout",
    "missing-close",
    "proxy-interference",
    "handshake-failure",
    "protocol-error",
    "server-error",
    "capture-quality",
]
Severity = Literal["info", "low", "medium", "high", "critical"]
Confidence = Literal["low", "medium", "high"]
Source = Literal["capture", "har", "log"]
InputKind = Literal["pcap", "pcapng", "har", "log"]


def schema_file() -> Traversable:
    """The published JSON Schema of the report (`report.schema.json` in this package)."""
    return files("analyzer.report") / "report.schema.json"


class Tool(TypedDict):
    name: Literal["wsdoctor"]
    version: str


class Input(TypedDict):
    """One input file as given: captures first, then HAR files, then logs."""

    path: str
    kind: InputKind
    sha256: str
    size_bytes: int


class CaptureFile(TypedDict):
    """One capture file's own quality facts (ingest/capture.py, pipeline)."""

    path: str
    format: Literal["pcap", "pcapng"]
    gzip: bool
    size_bytes: int
    link_types: list[str]
    snaplen: int | None
    damaged: bool
    packets_examined: int
    start: Time | None
    end: Time | None
    truncated_packets: int
    lost_segments: int
    retransmissions: int
    tcp_connections: int
    packets: int
    sessions: int
    encrypted_sessions: int
    recovered_sessions: int


class CaptureFacts(TypedDict):
    """Quality facts over every capture input (zero / null when there is none)."""

    packets: int
    truncated_packets: int
    lost_segments: int
    retransmissions: int
    tcp_connections: int
    sessions: int
    encrypted_sessions: int
    recovered_sessions: int
    start: Time | None
    end: Time | None
    snaplen: int | None
    damaged: bool
    files: list[CaptureFile]


class LogFile(TypedDict):
    path: str
    kind: Literal["log"]
    size_bytes: int
    lines: int
    events: int
    matched: int
    log_only_sessions: int
    offset_s: float | None
    tz_assumed: bool
    pack: str | None


class HarFile(TypedDict):
    path: str
    creator: str | None
    sessions: int
    messages: int
    close_not_recorded: int
    matched: int | None
    offset_s: float | None


class NameValue(TypedDict):
    """An HTTP header or query parameter."""

    name: str
    value: str


class Handshake(TypedDict):
    request_frame: int | None
    request_time: Time | None
    method: str | None
    path: str | None
    query: list[NameValue] | None
    uri: str | None
    request_headers: list[NameValue] | None
    host: str | None
    origin: str | None
    user_agent: str | None
    upgrade_header: str | None
    connection_header: str | None
    ws_version: str | None
    ws_key: str | None
    subprotocols_offered: list[str] | None
    extensions_offered: str | None
    response_frame: int | None
    response_time: Time | None
    status: int | None
    reason: str | None
    response_headers: list[NameValue] | None
    subprotocol_accepted: str | None
    extensions_accepted: str | None
    accept: str | None
    accept_valid: bool | None
    server_software: str | None
    via: str | None
    dg_request_id: str | None
    dg_error: str | None
    body_preview: str | None
    upgrade_attempts: int | None
    connect_target: str | None
    connect_status: int | None
    handshake_rtt_ms: float | None
    tls_cert_subject: str | None
    tls_cert_issuer: str | None
    deepgram: bool | None


class Close(TypedDict):
    close_client_time: Time | None
    close_server_time: Time | None
    close_client_frame: int | None
    close_server_frame: int | None
    close_client_code: int | None
    close_server_code: int | None
    close_client_reason: str | None
    close_server_reason: str | None
    close_client_payload_len: int | None
    close_server_payload_len: int | None
    close_client_reason_window_s: float | None
    close_server_reason_window_s: float | None
    close_first_by: Literal["client", "server"] | None
    close_handshake: Literal["complete", "client-only", "server-only", "none"] | None
    client_last_data_before_server_close: Time | None
    client_last_data_frame_before_server_close: int | None
    har_close_not_recorded: bool | None
    tcp_end: Literal["fin", "rst", "open"] | None
    tcp_ended_by: Literal["client", "server"] | None
    tcp_end_time: Time | None
    tcp_end_frame: int | None


class Traffic(TypedDict):
    frames_client: int | None
    frames_server: int | None
    data_frames_client: int | None
    data_frames_server: int | None
    control_frames_client: int | None
    control_frames_server: int | None
    payload_bytes_client: int | None
    payload_bytes_server: int | None
    text_frames_client: int | None
    text_frames_server: int | None
    binary_frames_client: int | None
    binary_frames_server: int | None
    pings_client: int | None
    pings_server: int | None
    pongs_client: int | None
    pongs_server: int | None
    masked_frames_client: int | None
    masked_frames_server: int | None
    first_data_time_client: Time | None
    first_data_time_server: Time | None
    last_data_time_client: Time | None
    last_data_time_server: Time | None
    last_data_frame_client: int | None
    last_data_frame_server: int | None
    last_frame_time_client: Time | None
    last_frame_time_server: Time | None
    keepalive_client: int | None
    closestream_client: int | None
    finalize_client: int | None
    results_server: int | None
    metadata_server: int | None
    empty_binary_client: int | None
    empty_binary_client_frame: int | None
    keepalive_binary_client: int | None
    keepalive_binary_client_frame: int | None
    control_json_binary_client: int | None
    audio_frames_client: int | None
    compressed: bool | None


class Liveness(TypedDict):
    max_gap_client_s: float | None
    max_gap_server_s: float | None
    max_gap_client_from_frame: int | None
    max_gap_server_from_frame: int | None
    max_gap_client_to_frame: int | None
    max_gap_server_to_frame: int | None
    client_first_data_after_s: float | None
    client_quiet_before_server_close_s: float | None
    client_quiet_before_end_s: float | None
    server_quiet_before_end_s: float | None
    unanswered_pings_client: int | None
    unanswered_pings_server: int | None
    first_unanswered_ping_client_frame: int | None
    first_unanswered_ping_server_frame: int | None
    first_unanswered_ping_client_time: Time | None
    first_unanswered_ping_server_time: Time | None
    idle_before_end_s: float | None
    session_age_s: float | None


class Tcp(TypedDict):
    syn_seen: bool | None
    fin_client_time: Time | None
    fin_server_time: Time | None
    fin_client_frame: int | None
    fin_server_frame: int | None
    rst_client_time: Time | None
    rst_server_time: Time | None
    rst_client_frame: int | None
    rst_server_frame: int | None
    rst_client_ttl: int | None
    rst_server_ttl: int | None
    rst_client_ip_id: int | None
    rst_server_ip_id: int | None
    rst_client_count: int | None
    rst_server_count: int | None
    ttl_client: int | None
    ttl_server: int | None
    ip_id_before_rst_client: int | None
    ip_id_before_rst_server: int | None
    max_payload_gap_client_s: float | None
    max_payload_gap_server_s: float | None
    max_payload_gap_client_end: Time | None
    max_payload_gap_server_end: Time | None
    last_payload_time_client: Time | None
    last_payload_time_server: Time | None
    last_payload_time: Time | None
    rst_client_ttl_delta: int | None
    rst_server_ttl_delta: int | None
    ip_id_gap_rst_client: int | None
    ip_id_gap_rst_server: int | None
    payload_after_rst_client: int | None
    payload_after_rst_server: int | None
    retransmission_count: int | None
    lost_segment_count: int | None
    ack_lost_segment_count: int | None
    out_of_order_count: int | None
    zero_window_count: int | None
    keep_alive_count: int | None
    dead_path_side: Literal["client", "server"] | None
    dead_path_retransmissions: int | None
    dead_path_first_unacked_frame: int | None
    dead_path_first_unacked_time: Time | None
    dead_path_first_retrans_frame: int | None
    dead_path_last_retrans_frame: int | None
    dead_path_last_retrans_time: Time | None
    dead_path_peer_last_frame: int | None
    dead_path_peer_last_time: Time | None
    dead_path_unanswered_s: float | None
    truncated_packets: int | None
    truncated_to_bytes: int | None
    hop_leg: Literal["downstream", "upstream"] | None
    other_leg: str | None
    other_leg_peer: str | None
    other_leg_tcp_end: str | None
    other_leg_end_time: Time | None
    other_leg_end_frame: int | None
    other_leg_ended_by_hop: bool | None
    hop_end_spread_s: float | None
    other_leg_last_payload_time: Time | None
    other_leg_hop_close_code: int | None
    other_leg_hop_close_frame: int | None
    other_leg_hop_close_time: Time | None
    other_leg_peer_closed_first: bool | None


class SessionLog(TypedDict):
    log_events: int | None
    log_source: str | None
    log_source_side: Literal["client", "server", "proxy", "unknown"] | None
    log_source_text: str | None
    log_source_time: Time | None
    log_close_code: int | None
    log_close_reason: str | None
    log_abnormal_close: bool | None
    log_ping_timeout: bool | None
    log_proxy_timeout: bool | None
    log_handshake_failed: bool | None
    log_handshake_status: int | None
    log_proxy_refused: bool | None
    log_reset: bool | None
    log_first_time: Time | None
    log_offset_s: float | None


class SessionHar(TypedDict):
    har_input: str | None
    har_match: Literal["ws_key", "request_id", "url+time"] | None
    har_offset_s: float | None
    har_messages: int | None


class Session(TypedDict):
    """One WebSocket session: identity at the top, then one object per column group."""

    id: str
    source: Source
    input: str | None
    input_index: int | None
    tcp_stream: int | None
    client: str | None
    server: str | None
    client_evidence: Literal["handshake", "syn", "masking", "ports"] | None
    kind: Literal["websocket", "rejected", "unanswered", "recovered", "encrypted", "tunnel"] | None
    tls: bool | None
    decrypted: bool | None
    sni: str | None
    start: Time | None
    end: Time | None
    duration_s: float | None
    first_frame: int | None
    last_frame: int | None
    handshake: Handshake
    close: Close
    traffic: Traffic
    liveness: Liveness
    tcp: Tcp
    log: SessionLog
    har: SessionHar


class Evidence(TypedDict):
    time: Time | None
    frame: int | None
    text: str
    log: NotRequired[str]  # "file:line" of the log line the row rests on, when it rests on one


class Finding(TypedDict):
    rule: str
    category: Category
    severity: Severity
    confidence: Confidence
    session: str | None
    title: str
    summary: str
    evidence: list[Evidence]
    fix: str  # Markdown
    references: list[str]
    fingerprint: str
    rationale: str  # Markdown: why the evidence means what the title says
    false_positives: list[str]  # known ways the rule can be wrong (Markdown, each)
    tags: list[str]  # the rule's free labels
    explained_by: str | None  # the fingerprint of this finding's root cause; null: a root
    incident: str | None  # the id of the incident it belongs to (docs/json-report.md)


class IncidentMeasure(TypedDict):
    """The number an incident's sessions were measured by, over its root findings."""

    name: str
    unit: Literal["s"]
    min: float
    median: float
    max: float


class Incident(TypedDict):
    """Root causes of many sessions grouped by cause (analyzer/incidents.py)."""

    id: str
    rule: str
    category: Category
    severity: Severity
    confidence: Confidence
    cause: str
    sessions: list[str]
    connections: int
    clients: int
    first: Time | None
    last: Time | None
    measure: IncidentMeasure | None
    every_s: float | None
    loop: bool
    findings: list[str]
    fix: str  # Markdown


class RuleUsed(TypedDict):
    """A rule that ran, with the parameters it ran with."""

    id: str
    severity: Severity
    params: dict[str, Any]


class Report(TypedDict):
    schema: Literal["wsdoctor.report/1"]
    tool: Tool
    redacted: bool
    inputs: list[Input]
    capture: CaptureFacts
    logs: list[LogFile]
    hars: list[HarFile]
    sessions: list[Session]
    findings: list[Finding]
    incidents: list[Incident]
    warnings: list[str]
    rules: list[RuleUsed]
