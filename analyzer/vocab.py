"""Closed vocabularies the stages share, each declared once with its documentation.

A log event kind is what a log pack maps a line to (`rules/logs/*.yaml`, `kind:`); an
anomaly kind names a row of the anomaly table (`analyzer/features/anomalies.py`). Every
list a stage keeps of them (the log-pack loader's allowed kinds, the most-telling order
of `log_source`, the kinds that open a log segment, the timeline's marks, the values a rule
may compare `kind` with, ...) is derived here, so a new kind is one entry below.
"""

from __future__ import annotations

from dataclasses import dataclass

# Who wrote or experienced a log line (LOG_EVENTS.side, SESSIONS.log_source_side).
LOG_SIDES = ("client", "server", "proxy", "unknown")
# What a line's timestamp marks: the moment it describes (most tools), or the start of the
# request it reports on, written when the stream ends (Envoy's default access log).
STAMPED_AT = ("event", "request_start")
ANCHORS = ("peer_close", "own_close", "response", "tcp_end")  # see LogEventKind.anchor
MARKS = ("telling", "other", "routine")  # see LogEventKind.mark


@dataclass(frozen=True)
class LogEventKind:
    """One kind of log event and what each stage needs to know of it.

    - `close_rank`: the line states a close code; lower ranks win when a session's lines
      state several (the peer's close beats our own echo of it).
    - `connection`: the kind shows the log describes a connection, not only frames or a
      proxy's own restart: a segment with one becomes a log-only session.
    - `refusal`: a refused upgrade (its HTTP status is matched against rejected sessions).
    - `opener`: the line starts a new connection's segment when other events precede it.
    - `anchor`: the capture time the line's time is the twin of, to measure a log's clock
      offset: `peer_close` / `own_close` (the close frame of the writer's peer / its own),
      `response` (the upgrade's answer), `tcp_end` (the first FIN/RST).
    - `flag`: sessions get a boolean column `log_<kind>` (the event happened).
    - `mark`: how the timeline ranks its diamond: `telling` (what the log adds to the
      capture: drawn first), `routine` (echoes of traffic already drawn: last), or `other`.
    - `sent`: the direction of the frame a line of this kind may name (its `opcode`):
      true when the writer sent it, false when it received it, None when no frame.
    """

    name: str
    doc: str
    close_rank: int | None = None
    connection: bool = False
    refusal: bool = False
    opener: bool = False
    anchor: str | None = None
    flag: bool = False
    mark: str = "other"
    sent: bool | None = None

    def __post_init__(self) -> None:
        if self.anchor not in (None, *ANCHORS) or self.mark not in MARKS:
            raise ValueError(f"log event kind {self.name!r}: anchor or mark not declared")

    @property
    def label(self) -> str:
        """The kind as the timeline's tooltips write it."""
        return self.name.replace("_", " ")


_K = LogEventKind
# Most telling first: the order in which `log_source` picks a session's line to read first.
LOG_EVENT_KINDS: tuple[LogEventKind, ...] = (
    _K(
        "proxy_refused",
        "a proxy answered the upgrade itself (a local reply, an unreachable upstream, a "
        "request it would not forward) instead of relaying the server's answer",
        connection=True,
        refusal=True,
        anchor="response",
        flag=True,
        mark="telling",
    ),
    _K(
        "handshake_failed",
        "an upgrade or connection attempt failed, with or without an HTTP status",
        connection=True,
        refusal=True,
        anchor="response",
        mark="telling",
    ),
    _K(
        "proxy_timeout",
        "a proxy timed the connection out (its idle or tunnel timer expired)",
        connection=True,
        anchor="tcp_end",
        flag=True,
        mark="telling",
    ),
    _K(
        "ping_timeout",
        "a keepalive ping went unanswered and the writer gave up on the connection",
        connection=True,
        flag=True,
        mark="telling",
    ),
    _K(
        "abnormal_close",
        "the connection ended without a close frame (code 1006 when the line names one)",
        close_rank=2,
        connection=True,
        flag=True,
        mark="telling",
    ),
    _K(
        "reset",
        "the connection was reset or aborted (ECONNRESET, a RST)",
        connection=True,
        anchor="tcp_end",
        flag=True,
        mark="telling",
    ),
    _K(
        "close_received",
        "a close frame arrived from the peer: its code and reason",
        close_rank=0,
        connection=True,
        anchor="peer_close",
        mark="telling",
        sent=False,
    ),
    _K(
        "close_sent",
        "the writer sent a close frame: its code and reason",
        close_rank=1,
        connection=True,
        anchor="own_close",
        mark="telling",
        sent=True,
    ),
    _K(
        "error",
        "another error the tool reports about the connection (a send after the close, a "
        "parse failure, a proxy's protocol error with the status it answered)",
        mark="telling",
    ),
    _K(
        "proxy_closed",
        "a proxy reports a connection ended (its access line at stream end, a peer that hung "
        "up first) or that it stopped itself",
        mark="telling",
    ),
    _K(
        "connection_closed",
        "the connection reached its closed state (a state change, not its cause)",
        connection=True,
    ),
    _K(
        "connection_open",
        "the connection opened: the upgrade was answered with 101",
        connection=True,
        opener=True,
        anchor="response",
    ),
    _K(
        "request_id",
        "the line names the request id (dg-request-id) of the connection being opened",
        connection=True,
        opener=True,
    ),
    _K("keepalive_sent", "the application sent a KeepAlive message", mark="routine", sent=True),
    _K("frame_received", "a frame arrived (data, ping or pong)", mark="routine", sent=False),
    _K("frame_sent", "the writer sent a frame (data, ping or pong)", mark="routine", sent=True),
)
LOG_KIND = {k.name: k for k in LOG_EVENT_KINDS}
LOG_KINDS = tuple(LOG_KIND)
PRIORITY = list(LOG_KINDS)
# Whose code a log's close line states: lowest close_rank first.
CLOSE_PRIORITY = [
    k.name
    for k in sorted(LOG_EVENT_KINDS, key=lambda k: k.close_rank or 0)
    if k.close_rank is not None
]
CONNECTION_KINDS = [k.name for k in LOG_EVENT_KINDS if k.connection]
# A refused upgrade: told by anyone (handshake_failed), or a proxy saying it answered
# itself instead of relaying the server's answer (proxy_refused).
REFUSALS = [k.name for k in LOG_EVENT_KINDS if k.refusal]
OPENERS = [k.name for k in LOG_EVENT_KINDS if k.opener]
FLAGGED = [k.name for k in LOG_EVENT_KINDS if k.flag]
SENT = [k.name for k in LOG_EVENT_KINDS if k.sent]  # frame lines the writer sent


def anchored(anchor: str) -> list[str]:
    """The kinds whose time is the twin of that capture time (see LogEventKind.anchor)."""
    return [k.name for k in LOG_EVENT_KINDS if k.anchor == anchor]


def marked(mark: str) -> list[str]:
    """The kinds the timeline marks that way (see LogEventKind.mark)."""
    return [k.name for k in LOG_EVENT_KINDS if k.mark == mark]


@dataclass(frozen=True)
class AnomalyKind:
    """One kind of anomaly row (Zeek style): what it means and which table it is read from."""

    name: str
    doc: str
    source: str  # frames | handshakes


_A = AnomalyKind
ANOMALY_KINDS: tuple[AnomalyKind, ...] = (
    _A(
        "ws_control_frame_too_long",
        "a close, ping or pong frame with more than 125 bytes of payload (RFC 6455 §5.5)",
        "frames",
    ),
    _A(
        "ws_frame_length_implausible",
        "a frame claims more than 1 TiB of payload: corrupt or hostile framing, the rest of "
        "that direction is misread",
        "frames",
    ),
    _A(
        "ws_control_frame_fragmented",
        "a close, ping or pong frame without the FIN bit (RFC 6455 §5.5)",
        "frames",
    ),
    _A(
        "ws_unmasked_client_frame",
        "a client frame without the MASK bit (RFC 6455 §5.1)",
        "frames",
    ),
    _A("ws_masked_server_frame", "a server frame with the MASK bit (RFC 6455 §5.1)", "frames"),
    _A("ws_reserved_opcode", "a frame with a reserved opcode (3-7, 11-15)", "frames"),
    _A(
        "ws_invalid_close_code",
        "a close frame whose code must never be sent: 1004-1006, 1015, 1016-2999, below 1000 "
        "or above 4999 (RFC 6455 §7.4)",
        "frames",
    ),
    _A(
        "ws_text_unassigned",
        "text of several frames in one packet could not be matched to its frames: their "
        "previews are left empty rather than guessed",
        "frames",
    ),
    _A(
        "ws_decompression_failed",
        "a permessage-deflate payload did not decompress",
        "frames",
    ),
    _A(
        "ws_data_after_close",
        "a side sent a data frame after its own close frame (RFC 6455 §5.5.1)",
        "frames",
    ),
    _A(
        "ws_accept_key_mismatch",
        "the server's Sec-WebSocket-Accept is not the one the client's key calls for "
        "(RFC 6455 §4.2.2)",
        "handshakes",
    ),
)
ANOMALY_KIND = {a.name: a for a in ANOMALY_KINDS}
