"""The SESSIONS table: one row per session, its columns in groups, written down once.

Rules (YAML) read these columns by name; the JSON report nests them by `SESSION_GROUPS`.
Features compute them (analyzer/features/), the sessions stage fills them per source
(analyzer/sessions/); a column not declared here does not leave the pipeline.
"""

from __future__ import annotations

import polars as pl

from analyzer.columns import Table
from analyzer.columns import enumerated as _enum
from analyzer.schema import HANDSHAKES, SIDES, SOURCES, TCP_ANALYSIS, TS, B, F, I, S
from analyzer.vocab import LOG_SIDES


def _sided(template: str, dtype: pl.DataType, doc: str) -> dict[str, tuple[pl.DataType, str]]:
    """The same feature for each direction: `{side}` in the name and the text."""
    return {template.format(side=s): (dtype, doc.format(side=s)) for s in ("client", "server")}


_IDENTITY = dict(
    id=(S, "session id, unique in the result, ordered by start time (s1, s2, ...)"),
    source=_enum(S, SOURCES, "where the session was seen: {values}"),
    input=(S, "input file"),
    input_index=(pl.Int32, "position of the input file on the command line"),
    tcp_stream=(I, "tshark tcp.stream index"),
    client=(S, "client ip:port ([v6]:port for IPv6)"),
    server=(S, "server ip:port"),
    client_evidence=_enum(
        S,
        ("handshake", "syn", "masking", "ports"),
        "how the client side was identified: {values}",
    ),
    kind=_enum(
        S,
        {
            "websocket": "101 seen",
            "rejected": "upgrade or CONNECT refused: non-101 / non-2xx",
            "unanswered": "no response seen",
            "recovered": "frames without a captured handshake",
            "encrypted": "TLS without keys, directly or inside an open CONNECT tunnel",
            "tunnel": "CONNECT granted (2xx), no TLS and no frames seen inside: tshark passes a "
            "plain tunnel to an HTTP port (ws:// through a proxy) on as undissected data",
        },
        "{values}",
    ),
    tls=(B, "the connection carried TLS"),
    decrypted=(B, "an HTTP request was read inside the TLS (key log or embedded secrets)"),
    sni=(S, "TLS server name"),
    start=(TS, "first packet of the connection that carries payload or SYN/FIN/RST"),
    end=(TS, "last such packet (a trailing pure ACK is not read)"),
    duration_s=(F, "end - start in seconds"),
    first_frame=(I, "capture frame of `start`"),
    last_frame=(I, "capture frame of `end`"),
)
_HANDSHAKE = {
    k: v for k, v in HANDSHAKES.columns.items() if k not in ("input", "stream", "client", "server")
}
_HANDSHAKE["handshake_rtt_ms"] = (F, "response time - request time, milliseconds")
_HANDSHAKE["tls_cert_subject"] = (
    S,
    "subject of the leaf certificate the server presented, RFC 4514 (CN=...,O=...); null "
    "when not seen (TLS 1.3 encrypts it: seen only with the key log)",
)
_HANDSHAKE["tls_cert_issuer"] = (S, "issuer of that certificate (a TLS-inspecting proxy's CA)")
_HANDSHAKE["deepgram"] = (
    B,
    "a Deepgram streaming endpoint: dg-request-id present, host or SNI under deepgram.com, "
    "or path /v1/listen, /v1/speak or /v1/agent",
)
_FRAMING = {
    **_sided("frames_{side}", I, "frames sent by the {side}"),
    **_sided("data_frames_{side}", I, "text/binary/continuation frames sent by the {side}"),
    **_sided("control_frames_{side}", I, "close/ping/pong frames sent by the {side}"),
    **_sided("payload_bytes_{side}", I, "sum of on-the-wire payload lengths from the {side}"),
    **_sided("text_frames_{side}", I, "text frames from the {side}"),
    **_sided("binary_frames_{side}", I, "binary frames from the {side}"),
    **_sided("pings_{side}", I, "pings sent by the {side}"),
    **_sided("pongs_{side}", I, "pongs sent by the {side}"),
    **_sided("masked_frames_{side}", I, "frames from the {side} with the MASK bit"),
    **_sided("first_data_time_{side}", TS, "first data frame from the {side}"),
    **_sided("last_data_time_{side}", TS, "last data frame from the {side}"),
    **_sided("last_data_frame_{side}", I, "capture frame of the {side}'s last data frame"),
    **_sided("last_frame_time_{side}", TS, "last frame of any kind from the {side}"),
    "keepalive_client": (I, 'client text frames whose JSON type is "KeepAlive"'),
    "closestream_client": (I, 'client text frames whose JSON type is "CloseStream"'),
    "finalize_client": (I, 'client text frames whose JSON type is "Finalize"'),
    "results_server": (I, 'server text frames whose JSON type is "Results"'),
    "metadata_server": (I, 'server text frames whose JSON type is "Metadata"'),
    "empty_binary_client": (
        I,
        "zero-length binary frames from the client (legacy end-of-stream signal)",
    ),
    "empty_binary_client_frame": (I, "capture frame of the first such frame"),
    "keepalive_binary_client": (
        I,
        'client binary frames whose JSON type is "KeepAlive" (must be text: Deepgram reads '
        "binary as audio)",
    ),
    "keepalive_binary_client_frame": (I, "capture frame of the first such frame"),
    "control_json_binary_client": (
        I,
        "client binary frames carrying control JSON (KeepAlive, CloseStream or Finalize)",
    ),
    "audio_frames_client": (
        I,
        "client binary frames with a payload that are not control JSON: the audio chunks",
    ),
    "compressed": (B, "some frame had RSV1 set (permessage-deflate in use)"),
}
_LIVENESS = {
    **_sided(
        "max_gap_{side}_s",
        F,
        "largest gap in seconds between consecutive data frames from the {side}",
    ),
    **_sided("max_gap_{side}_from_frame", I, "frame that starts the {side}'s largest gap"),
    **_sided("max_gap_{side}_to_frame", I, "frame that ends the {side}'s largest gap"),
    "client_first_data_after_s": (
        F,
        "seconds from the 101 (or start) to the client's first data frame",
    ),
    "client_quiet_before_server_close_s": (
        F,
        "seconds from the client's last data frame (or the 101) to the server's close frame",
    ),
    "client_quiet_before_end_s": (
        F,
        "seconds from the client's last data frame (or the "
        "101) to the first FIN/RST (or the last packet)",
    ),
    "server_quiet_before_end_s": (F, "the same for the server"),
    **_sided("unanswered_pings_{side}", I, "pings from the {side} minus pongs from the other side"),
    **_sided(
        "first_unanswered_ping_{side}_frame",
        I,
        "capture frame of the {side}'s first ping that no later pong from the other side "
        "follows (where a ping timeout starts counting)",
    ),
    **_sided("first_unanswered_ping_{side}_time", TS, "time of that ping"),
    "idle_before_end_s": (
        F,
        "seconds from the last TCP payload in either direction (`last_payload_time`) to the "
        "first FIN/RST: what a proxy's idle timer measures; null while the connection is "
        "open, negative when payload followed that FIN/RST",
    ),
    "session_age_s": (
        F,
        "seconds from the 101 (or the start) to the first FIN/RST (or the last packet): "
        "what a maximum-lifetime timer measures",
    ),
}
_CLOSING = {
    **_sided("close_{side}_time", TS, "the {side}'s first close frame"),
    **_sided("close_{side}_frame", I, "capture frame of the {side}'s close frame"),
    **_sided("close_{side}_code", pl.Int32, "status code in the {side}'s close frame"),
    **_sided("close_{side}_reason", S, "reason text in the {side}'s close frame"),
    **_sided("close_{side}_payload_len", I, "payload length of the {side}'s close frame"),
    **_sided(
        "close_{side}_reason_window_s",
        F,
        "a duration named in the {side}'s close reason ('idle timeout 30s', 'within 10000 "
        "ms'), in seconds; null when it names none",
    ),
    "close_first_by": _enum(S, SIDES, "{values}: who sent a close frame first; null if nobody"),
    "close_handshake": _enum(S, ("complete", "client-only", "server-only", "none"), "{values}"),
    "client_last_data_before_server_close": (
        TS,
        "the client's last data frame before the server's close",
    ),
    "client_last_data_frame_before_server_close": (I, "capture frame of that data frame"),
    "har_close_not_recorded": (
        B,
        "HAR sessions: the HAR holds no close frame (Chromium never records close/ping/pong, "
        "Firefox records no message at all): whether a close was sent is unknown, not 'none'; "
        "null for other sources",
    ),
}
_TCP = {
    "syn_seen": (B, "the SYN was captured (false: the capture started mid-connection)"),
    **_sided("fin_{side}_time", TS, "first FIN from the {side}"),
    **_sided("fin_{side}_frame", I, "capture frame of that FIN"),
    **_sided("rst_{side}_time", TS, "first RST claiming to come from the {side}"),
    **_sided("rst_{side}_frame", I, "capture frame of that RST"),
    **_sided("rst_{side}_ttl", pl.Int32, "IP TTL of that RST"),
    **_sided("rst_{side}_ip_id", pl.Int32, "IP ID of that RST"),
    **_sided("rst_{side}_count", I, "RSTs from the {side}"),
    **_sided("ttl_{side}", pl.Int32, "the {side}'s usual TTL (mode over its non-RST packets)"),
    **_sided(
        "ip_id_before_rst_{side}", pl.Int32, "IP ID of the {side}'s packet before its first RST"
    ),
    **_sided(
        "max_payload_gap_{side}_s",
        F,
        "largest gap in seconds between TCP segments with payload from the {side} "
        "(retransmissions excluded; works without TLS keys)",
    ),
    **_sided(
        "max_payload_gap_{side}_end",
        TS,
        "the {side}'s segment that ended that gap (null with no gap)",
    ),
    **_sided("last_payload_time_{side}", TS, "last TCP segment with payload from the {side}"),
    "last_payload_time": (
        TS,
        "last TCP segment with payload in either direction (retransmissions excluded)",
    ),
    **_sided(
        "rst_{side}_ttl_delta",
        pl.Int32,
        "rst_{side}_ttl - ttl_{side}: nonzero when the RST came from another hop distance "
        "than the {side}'s own packets (injected)",
    ),
    **_sided(
        "ip_id_gap_rst_{side}",
        pl.Int32,
        "rst_{side}_ip_id - ip_id_before_rst_{side} as a signed 16-bit step (small and "
        "positive for the {side}'s own counter; pure ACKs are not read, so a few more than "
        "1; Linux puts IP ID 0 in some RSTs); null for IPv6",
    ),
    **_sided(
        "payload_after_rst_{side}",
        I,
        "segments with payload from the {side} after its first RST: the genuine endpoint "
        "still talking after a forged reset (WSP09 race)",
    ),
    **{f"{k}_count": (I, f"tcp.analysis.{k} events") for k in TCP_ANALYSIS},
    # A path that died silently (analyzer/features/dead_path.py).
    "dead_path_side": _enum(
        S,
        SIDES,
        "{values}: the side whose last segments were all retransmissions after the other "
        "side's last packet (nobody acknowledged them); null if neither",
    ),
    "dead_path_retransmissions": (I, "retransmissions in that unanswered tail"),
    "dead_path_first_unacked_frame": (
        I,
        "capture frame of that side's first segment after the other side's last packet",
    ),
    "dead_path_first_unacked_time": (TS, "time of that segment"),
    "dead_path_first_retrans_frame": (I, "capture frame of the tail's first retransmission"),
    "dead_path_last_retrans_frame": (I, "capture frame of the tail's last retransmission"),
    "dead_path_last_retrans_time": (TS, "time of that retransmission"),
    "dead_path_peer_last_frame": (
        I,
        "capture frame of the other side's last packet (its last ACK the capture shows)",
    ),
    "dead_path_peer_last_time": (TS, "time of that packet"),
    "dead_path_unanswered_s": (
        F,
        "seconds from the other side's last packet to the last retransmission: how long the "
        "sender went unanswered",
    ),
    "truncated_packets": (I, "packets of this connection cut short by the snapshot length"),
    "truncated_to_bytes": (
        I,
        "the most bytes kept of any of those packets: the snapshot length in effect (tcpdump "
        "-s), link header included; null when none was cut",
    ),
    # Both legs of a proxied connection in one capture (analyzer/features/legs.py).
    "hop_leg": _enum(
        S,
        {
            "downstream": "the client's leg: its server is the hop",
            "upstream": "the hop's own leg to the origin: its client is the hop",
        },
        "which leg of a proxied connection this session is, when the capture holds the "
        "other one too: {values}",
    ),
    "other_leg": (
        S,
        "id of the other leg of the same proxied connection: the two are one connection, "
        "reported once (the downstream leg first)",
    ),
    "other_leg_peer": (S, "the other leg's far end (the origin, or the client), ip:port"),
    "other_leg_tcp_end": (S, "how the other leg's TCP ended (fin, rst, open)"),
    "other_leg_end_time": (TS, "the other leg's first FIN/RST"),
    "other_leg_end_frame": (I, "capture frame of that FIN/RST"),
    "other_leg_ended_by_hop": (B, "the hop sent the other leg's first FIN/RST"),
    "hop_end_spread_s": (
        F,
        "seconds between this leg's and the other leg's first FIN/RST (both ended by the "
        "hop within moments: the hop's own decision)",
    ),
    "other_leg_last_payload_time": (TS, "last TCP payload on the other leg, either way"),
    "other_leg_hop_close_code": (
        I,
        "close code the hop sent first on the other leg (null when an endpoint closed first)",
    ),
    "other_leg_hop_close_frame": (I, "capture frame of that close frame"),
    "other_leg_hop_close_time": (TS, "time of that close frame"),
    "other_leg_peer_closed_first": (
        B,
        "the other leg's far end (the origin, or the client) sent that leg's first close "
        "frame: a close on this leg is then relayed, not the hop's own",
    ),
    "tcp_end": _enum(
        S, ("fin", "rst", "open"), "{values}: the first FIN or RST, or neither captured"
    ),
    "tcp_ended_by": _enum(S, SIDES, "{values}: who sent that first FIN/RST"),
    "tcp_end_time": (TS, "time of that FIN/RST"),
    "tcp_end_frame": (I, "capture frame of that FIN/RST"),
}
# Evidence from application/proxy logs correlated to the session (analyzer/correlate.py).
_LOG = {
    "log_events": (I, "log events attached to this session (0 without logs)"),
    "log_source": (
        S,
        "file:line of the most telling log event (handshake failure, proxy or ping timeout, "
        "abnormal close, reset, close received, close sent, ... in that order)",
    ),
    "log_source_side": _enum(
        S, LOG_SIDES, "who wrote that line: {values} (the pack's reading of it)"
    ),
    "log_source_text": (S, "that line's text (credentials redacted, cut to 500 characters)"),
    "log_source_time": (
        TS,
        "that line's own time, on the capture clock (offset applied); null when it has none",
    ),
    "log_close_code": (
        pl.Int32,
        "close code a log names: a close received, else one sent, else an abnormal close",
    ),
    "log_close_reason": (S, "close reason text of that log event (redacted)"),
    "log_abnormal_close": (B, "a log reports the connection closed without a close frame"),
    "log_ping_timeout": (B, "a log reports a keepalive ping that went unanswered"),
    "log_proxy_timeout": (B, "a proxy log reports it timed the connection out"),
    "log_handshake_failed": (
        B,
        "a log reports a failed upgrade or connection attempt (with or without a status)",
    ),
    "log_handshake_status": (pl.Int32, "HTTP status of a handshake failure a log reports"),
    "log_proxy_refused": (
        B,
        "a proxy's log says it answered the upgrade itself (local reply, upstream "
        "unreachable, malformed request) instead of relaying the server's answer",
    ),
    "log_reset": (B, "a log reports a connection reset"),
    "log_first_time": (TS, "first attached log event, on the capture clock (offset applied)"),
    "log_offset_s": (
        F,
        "clock offset of the log file vs the capture (log time - capture time, median over "
        "anchor events), already subtracted from log times; null when none could be measured",
    ),
}
# A HAR entry of the same connection, folded into the capture session (analyzer/har_match.py).
_HAR = {
    "har_input": (S, "HAR file that also recorded this connection; null if none did"),
    "har_match": _enum(S, ("ws_key", "request_id", "url+time"), "how it was matched: {values}"),
    "har_offset_s": (
        F,
        "the HAR file's clock vs the capture (HAR request time - capture request time, "
        "median over its matched sessions)",
    ),
    "har_messages": (I, "data messages the HAR recorded for this connection"),
}
# How a session row nests in JSON: identity at the top, then one object per group.
SESSION_GROUPS: dict[str, list[str]] = {
    "handshake": list(_HANDSHAKE),
    "close": [*_CLOSING, "tcp_end", "tcp_ended_by", "tcp_end_time", "tcp_end_frame"],
    "traffic": list(_FRAMING),
    "liveness": list(_LIVENESS),
    "tcp": [k for k in _TCP if not k.startswith("tcp_end")],
    "log": list(_LOG),
    "har": list(_HAR),
}
SESSIONS = Table(
    "sessions",
    {**_IDENTITY, **_HANDSHAKE, **_FRAMING, **_LIVENESS, **_CLOSING, **_TCP, **_LOG, **_HAR},
)
# Counts are 0, not null, for a session that never sent a frame (e.g. a rejected upgrade).
COUNT_COLUMNS = [
    k
    for k, (t, _) in {**_FRAMING, **_TCP, "log_events": _LOG["log_events"]}.items()
    if t == I
    and "frame"
    not in k.removeprefix("frames_")
    .removeprefix("data_frames_")
    .removeprefix("control_frames_")
    .removeprefix("masked_frames_")
    .removeprefix("text_frames_")
    .removeprefix("binary_frames_")
    .removeprefix("audio_frames_")
]
