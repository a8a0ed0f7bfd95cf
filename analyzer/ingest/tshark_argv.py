"""The argv of every tshark pass: the fields asked for and the dissection options.

tshark does the dissection (TCP reassembly, HTTP, TLS decryption, WebSocket framing and
permessage-deflate); we ask it for a fixed set of fields, one line per packet, which
tshark_run.py streams into polars while tshark is still running.

Facts that shape the command (verified on tshark 4.0.17):
- Several WebSocket frames in one packet come out as one line with each field's values
  joined by the aggregator; values are *not* escaped, so the aggregator is a control
  character (0x1f) that JSON text and HTTP headers cannot contain unescaped.
- Tabs, CR and LF inside values are printed as `\\t`, `\\r`, `\\n`, so one line is one packet.
- `tcp.reassemble_out_of_order` is off by default; without it out-of-order segments hide
  frames. The `websocket_tcp` heuristic recovers sessions whose handshake was not captured.
- Display-filter sets are comma separated (`{1, 2}`): 4.0 rejects the whitespace form.
- A port owned by another dissector (pgsql on 5432, x11 on 6012, ...) hides an HTTP
  upgrade on it, so every pass decodes such ports as HTTP (tshark_ports.py).

Two targeted passes follow only when the first finds a reason (see ingest/capture.py):
streams to re-read as WebSocket (`fields_command(recover=...)`), and the payloads of small
binary frames (`payload_command`).
"""

from __future__ import annotations

from pathlib import Path

from analyzer.ingest.tshark import Tshark, find_tshark
from analyzer.ingest.tshark_ports import foreign_ports

AGGREGATOR = "\x1f"

# column name -> tshark field. Order is the output order.
FIELDS: dict[str, str] = {
    "frame_no": "frame.number",
    "ts": "frame.time_epoch",
    "file_off": "frame.file_off",
    "frame_len": "frame.len",
    "cap_len": "frame.cap_len",
    "ip_src": "ip.src",
    "ip_dst": "ip.dst",
    "ip6_src": "ipv6.src",
    "ip6_dst": "ipv6.dst",
    "ttl": "ip.ttl",
    "hlim": "ipv6.hlim",
    "ip_id": "ip.id",
    "stream": "tcp.stream",
    "sport": "tcp.srcport",
    "dport": "tcp.dstport",
    "tcp_len": "tcp.len",
    "tcp_flags": "tcp.flags",
    "retransmission": "tcp.analysis.retransmission",
    "lost_segment": "tcp.analysis.lost_segment",
    "ack_lost_segment": "tcp.analysis.ack_lost_segment",
    "out_of_order": "tcp.analysis.out_of_order",
    "zero_window": "tcp.analysis.zero_window",
    "keep_alive": "tcp.analysis.keep_alive",
    "http_method": "http.request.method",
    "http_uri": "http.request.uri",
    "http_req_headers": "http.request.line",
    "http_status": "http.response.code",
    "http_phrase": "http.response.phrase",
    "http_resp_headers": "http.response.line",
    "http_request_in": "http.request_in",
    "http_body": "http.file_data",
    "tls_sni": "tls.handshake.extensions_server_name",
    "tls_content_type": "tls.record.content_type",
    "tls_alert": "tls.alert_message.desc",
    "tls_cert": "tls.handshake.certificate",
    # The protocol itself ("tls" when dissected): a lone segment of a record that never
    # completes, or continuation data of a connection joined mid-stream, has no record
    # header field, yet is TLS all the same.
    "tls_seen": "tls",
    "ws_fin": "websocket.fin",
    "ws_rsv": "websocket.rsv",
    "ws_opcode": "websocket.opcode",
    "ws_mask": "websocket.mask",
    "ws_len7": "websocket.payload_length",
    "ws_len16": "websocket.payload_length_ext_16",
    "ws_len64": "websocket.payload_length_ext_64",
    "ws_text": "websocket.payload.text",
    "ws_close_code": "websocket.payload.close.status_code",
    "ws_close_reason": "websocket.payload.close.reason",
    "ws_decompress_failed": "websocket.decompression.failed.expert",
    # SOCKS makes tshark open a TCP conversation for the tunnelled endpoints, which takes
    # a stream number no packet shows: a capture with it is never put back from shards
    # (ingest/sharding.py). Read in ingest/dissect.py, not kept in the packet table.
    "socks": "socks",
}

# The targeted payload pass (`payload_command`): tshark's `data.data` is the unmasked
# payload of a binary message that no subdissector claimed (decompressed under
# permessage-deflate), one occurrence per whole message in tree order.
PAYLOAD_FIELDS: dict[str, str] = {"frame_no": "frame.number", "ws_binary": "data.data"}
# One argv string may not exceed 128 KiB on Linux; a longer frame list becomes this filter,
# which keeps the same packets (the candidates are defined by these very fields).
# Only payloads that may be JSON text are read: one opening with `{` after optional
# whitespace, as ingest/frames.py's `_binary_text` reads them (a packet whose every payload
# opens otherwise gives no JSON type either way). Random audio opens so 1 time in 50.
JSON_START = " || ".join(f"data.data[0] == {b}" for b in ("7b", "20", "09", "0a", "0d"))
SMALL_BINARY_FILTER = (
    "websocket.opcode == 2 && websocket.fin == 1"
    " && websocket.payload_length >= 2 && websocket.payload_length <= 125"
    f" && ({JSON_START})"
)
MAX_FILTER_CHARS = 100_000

# Every TCP packet gets a row: a connection's first and last packet (a final ACK, a
# keep-alive ACK) bound its session, so pure ACKs are read too. Measured on a 73 MB,
# 105,500-packet capture (40% pure ACKs): +53% output bytes, tshark CPU 4.5 -> 5.2 s, the
# whole capture load 5.3 -> 5.7 s CPU (+7%). They are counted into each stream's span
# and then dropped (packets.worth_a_row), so no later stage sees them.
DISPLAY_FILTER = "tcp"

# Work tshark does by default that no field above reads: bytes in flight and TCP time
# deltas (tcp.analysis.bytes_in_flight, tcp.time_*), relative sequence numbers, summary
# text on the IP/IPv6/TCP/VLAN tree items, GeoIP look-ups, the frame's bits fields. Each
# leaves every pass's output byte-identical on every sample, Zeek and external capture
# (tests/ingest/test_tshark_prefs.py) and on the 241 MB, 200-session benchmark capture
# (first pass, each alone and all together; data.data of its 66,000 binary frames).
# Measured there by benchmarks/bench_tshark_prefs.py (first-pass argv, medians of 3
# alternating runs; load average 12-21 from other work, so CPU differences of a few % are
# noise): max RSS 580 MB -> 468 MB all together (bytes in flight alone -91 MB, TCP
# timestamps -21 MB, each other one +-0); tshark CPU 13.45 s -> 13.55 s, and 13.53 s ->
# 13.38 s over 4 more pairs at load 4-5: no CPU difference measurable on this machine.
UNREAD_WORK_OFF = (
    "tcp.track_bytes_in_flight:FALSE",
    "tcp.calculate_timestamps:FALSE",
    "tcp.relative_sequence_numbers:FALSE",
    "tcp.summary_in_tree:FALSE",
    "ip.summary_in_tree:FALSE",
    "ipv6.summary_in_tree:FALSE",
    "vlan.summary_in_tree:FALSE",
    "ip.use_geoip:FALSE",
    "ipv6.use_geoip:FALSE",
    "frame.generate_bits_field:FALSE",
)


def fields_command(
    capture: Path | str,
    keylog: Path | str | None = None,
    tshark: Tshark | None = None,
    recover: dict[int, list[int]] | None = None,
) -> list[str]:
    """The exact argv the engine runs; the benchmark times it alone.

    `recover` maps TCP streams that the first pass left undecoded to their ports: the
    second pass decodes those ports as WebSocket (Decode As) and keeps only those streams.
    That is how a capture started after the handshake on a port another dissector owns
    (8080 is HTTP's) still yields its frames.
    """
    display = DISPLAY_FILTER
    if recover:
        streams = ", ".join(map(str, sorted(recover)))
        display = f"({DISPLAY_FILTER}) && tcp.stream in {{{streams}}}"
    return _command(capture, keylog, tshark, recover, display, FIELDS)


def payload_command(
    capture: Path | str,
    frames: list[int] | None,
    keylog: Path | str | None = None,
    tshark: Tshark | None = None,
    recover: dict[int, list[int]] | None = None,
) -> list[str]:
    """argv of the targeted pass: the unmasked payloads of the given packets' binary frames
    (None: of every packet carrying a small binary frame, by SMALL_BINARY_FILTER).

    Only such packets are asked for, so the output stays tiny; tshark must still dissect
    the whole file (TCP reassembly), which is why the caller runs this only when such
    frames exist, beside the first pass. Set elements are comma separated: tshark 4.0
    rejects the whitespace-only form 3.6 deprecated.
    """
    listed = "" if frames is None else f"frame.number in {{{', '.join(map(str, sorted(frames)))}}}"
    display = listed if 0 < len(listed) <= MAX_FILTER_CHARS else SMALL_BINARY_FILTER
    return _command(capture, keylog, tshark, recover, display, PAYLOAD_FIELDS)


def _command(
    capture: Path | str,
    keylog: Path | str | None,
    tshark: Tshark | None,
    recover: dict[int, list[int]] | None,
    display: str,
    fields: dict[str, str],
) -> list[str]:
    """Dissection options shared by every pass, so all passes see the same frames."""
    found = tshark or find_tshark()
    binary = found.path
    flags = [
        "-n", "-Q",
        "-o", "tcp.desegment_tcp_streams:TRUE",
        "-o", "tcp.reassemble_out_of_order:TRUE",
        "-o", "frame.show_file_off:TRUE",
        "-o", "websocket.decompress:TRUE",
        "--enable-heuristic", "websocket_tcp",
    ]  # fmt: skip
    flags += [arg for pref in UNREAD_WORK_OFF for arg in ("-o", pref)]
    recovered = sorted({port for pair in (recover or {}).values() for port in pair})
    as_http = sorted(set(foreign_ports(found)) - set(recovered))
    flags += [arg for port in as_http for arg in ("-d", f"tcp.port=={port},http")]
    flags += [arg for port in recovered for arg in ("-d", f"tcp.port=={port},websocket")]
    if keylog is not None:
        flags += ["-o", f"tls.keylog_file:{keylog}"]
    output = ["-T", "fields", "-E", "separator=/t", "-E", "quote=n", "-E", "occurrence=a",
              "-E", f"aggregator={AGGREGATOR}"]  # fmt: skip
    names = [arg for name in fields.values() for arg in ("-e", name)]
    return [binary, "-r", str(capture), *flags, "-Y", display, *output, *names]
