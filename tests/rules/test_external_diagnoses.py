"""What the built-in pack concludes about the public captures of ../shared/external-captures,
and why: per WebSocket session (keyed by tshark's tcp.stream), the diagnosis (category ->
highest severity) with the session facts it rests on (kind, TCP end, who ended TCP, close
codes, close handshake).

Frame numbers quoted were read with plain tshark (`-Y websocket -T fields -e frame.number
-e websocket.opcode -e websocket.mask ...`, and `-Y "tcp.flags.fin==1 || tcp.flags.reset==1"`
for the TCP ends), not with wsdoctor. A `capture-quality: low` alone is what a healthy
session looks like in a capture that began after it or ended before it: these are test-suite
snippets, most of them cut around the part their project tests.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from analyzer.rules.engine import evaluate
from analyzer.rules.loader import load_rules

from conftest import EXTERNAL, diagnosis, loaded

OPEN_AT_END = {"capture-quality": "low"}  # healthy, the capture ended first
# (diagnosis, kind, tcp_end, tcp_ended_by, client close code, server close code, handshake)
Facts = tuple[dict[str, str], str, str, str | None, int | None, int | None, str | None]

DIAGNOSES: dict[str, dict[int, Facts]] = {
    # The server closes with 1000 "bye-split" (frame 833, unmasked); the client never sends
    # its close reply and ends TCP with a FIN (835) 100 ms later. RFC 6455 §5.5.1 wants the
    # reply; the exchange itself finished (the fragment + ping + continuation of 827-829 are
    # legal framing), so the missing reply is medium, as for Zeek's broker trace.
    "arkime-synthetic.pcap": {
        89: ({"missing-close": "medium"}, "websocket", "fin", "client", None, 1000, "server-only"),
    },
    # A chat on :12345, two messages each way, TCP keep-alives at 61 s and 122 s, no FIN:
    # a healthy session the capture stopped watching (its last packet is the keep-alive ACK,
    # frame 19).
    "arkime-websocket.pcap": {0: (OPEN_AT_END, "websocket", "open", None, None, None, "none")},
    # Three trimmed flows of request + 101 only (frames 1033-1038): upgraded, then nothing.
    # No frame, no close: nothing to judge but that the capture stops.
    "ndpi-1kxun.pcap": {
        30: (OPEN_AT_END, "websocket", "open", None, None, None, None),
        31: (OPEN_AT_END, "websocket", "open", None, None, None, None),
        32: (OPEN_AT_END, "websocket", "open", None, None, None, None),
    },
    # Plain ws on port 443 inside GTP-U: SYN, request (3), 101 (4). The tunnel is not the
    # session's business; a healthy upgrade cut by the capture's end.
    "ndpi-false_positives.pcapng": {0: (OPEN_AT_END, "websocket", "open", None, None, None, None)},
    # GTP-U: an Origin that differs from Host is ordinary for a browser page on another
    # site; the server said 101, so it accepted the Origin. Request + 101, nothing after.
    "ndpi-http_origin_different_than_host.pcap": {
        0: (OPEN_AT_END, "websocket", "open", None, None, None, None)
    },
    # v2ray vmess over ws on :1234: 3 client and 13 server binary frames, all masked/unmasked
    # as they must be; still open at the end. The 2 TLS connections are counted apart.
    "ndpi-vmess-websocket.pcapng": {
        1: (OPEN_AT_END, "websocket", "open", None, None, None, "none")
    },
    # Five text frames of a session whose handshake is not in the file (read as WebSocket
    # only with Decode As on 12345): started before the capture, open after it.
    "ndpi-websocket-midstream.pcap": {
        0: (OPEN_AT_END, "recovered", "open", None, None, None, "none")
    },
    # Stream 0 is the tail of a session: the client's close 1001 (frame 1, masked), the
    # server's 1001 (3), the server's FIN first (4), then the client's (7). A complete,
    # clean close of a session whose start the capture missed. Stream 1 is a new session
    # with large binary frames over several segments, open at the end.
    "pcap2har-ipv4-websocket-segmented.pcap": {
        0: ({"capture-quality": "low"}, "recovered", "fin", "server", 1001, 1001, "complete"),
        1: (OPEN_AT_END, "websocket", "open", None, None, None, "none"),
    },
    # Server-to-client packets only: a lone 101 (frame 475) whose request was never seen.
    # It is a session with the response's facts; nothing says the handshake failed, so no
    # handshake finding (the request's absence is the capture's, not the client's).
    "pcapplusplus-650HttpResponses.pcap": {
        207: (OPEN_AT_END, "websocket", "open", None, None, None, None)
    },
    # websocketstest.com: the 101 and the server's first text frame share packet 5; 3 client
    # and 14 server text frames; open at the end.
    "sv-basic_websockets.pcap": {0: (OPEN_AT_END, "websocket", "open", None, None, None, "none")},
    # An upgrade request (frame 4) and its ACK, 3 ms of capture: unanswered only because the
    # capture stops; claiming a handshake failure would be inventing it.
    "sv-http-request-header-multi.pcap": {
        0: (OPEN_AT_END, "unanswered", "open", None, None, None, None)
    },
    # permessage-deflate: 10 compressed (RSV1) server text frames, legal with the extension
    # negotiated; open at the end.
    "sv-websocket-compressed.pcap": {
        0: (OPEN_AT_END, "websocket", "open", None, None, None, "none")
    },
    # A text message in two fragments (8, 12) with a ping between them (10), answered by a
    # pong (14): control frames may interleave a fragmented message (RFC 6455 §5.4).
    "sv-websocket-control-frag.pcap": {
        0: (OPEN_AT_END, "websocket", "open", None, None, None, "none")
    },
    # monit's health check. The client's ping (frame 8) is unmasked: RFC 6455 §5.1 makes
    # the server fail such a connection, this one tolerated it, so medium (as for wstunnel's
    # unmasked client in the Zeek traces). The server answers with a text frame first (9),
    # and 59 us later the client ends TCP with a FIN (10) without a close frame, before its
    # ping was answered: the pong (11) lands on a closed socket and draws the RST (12). The
    # client gave up 1 ms into the session with neither side's close: not a healthy
    # session, and the missing close (1006 at both ends) is the finding that says so.
    "sv-websocket-ping.pcap": {
        0: (
            {"missing-close": "high", "protocol-error": "medium"},
            *("websocket", "fin", "client", None, None, "none"),
        )
    },
    # websocket.org echo: text and binary both ways, empty close frames both ways (21, 22;
    # each side records 1005), the server's FIN first (24): a clean session.
    "zeek-http-websocket.pcap": {0: ({}, "websocket", "fin", "server", None, None, "complete")},
}


def _findings(name: str) -> list[dict[str, Any]]:
    data = loaded(EXTERNAL / name)
    return evaluate(
        load_rules([]), data.sessions, {"frames": data.frames, "anomalies": data.anomalies}
    )


def test_every_external_capture_has_a_diagnosis() -> None:
    assert {p.name for p in EXTERNAL.glob("*.pcap*")} == set(DIAGNOSES)


@pytest.mark.parametrize("name", sorted(DIAGNOSES))
def test_external_capture_diagnosis(name: str) -> None:
    data = loaded(EXTERNAL / name)
    findings = _findings(name)
    got = {}
    for r in data.sessions.filter(pl.col("kind") != "encrypted").iter_rows(named=True):
        facts = (r["kind"], r["tcp_end"], r["tcp_ended_by"], r["close_client_code"])
        facts += (r["close_server_code"], r["close_handshake"])
        got[r["tcp_stream"]] = (diagnosis(findings, r["id"]), *facts)
    fired = [(f["session"], f["rule"], f["severity"], f["summary"]) for f in findings]
    assert got == DIAGNOSES[name], fired


@pytest.mark.parametrize("name", sorted(DIAGNOSES))
def test_tls_connections_without_keys_are_only_capture_quality(name: str) -> None:
    """Without keys a TLS connection can only be judged from TCP timing: never more than a
    low capture-quality note (it may not even be WebSocket)."""
    data = loaded(EXTERNAL / name)
    findings = _findings(name)
    blind = set(data.sessions.filter(pl.col("kind") == "encrypted")["id"])
    assert {(f["category"], f["severity"]) for f in findings if f["session"] in blind} <= {
        ("capture-quality", "low")
    }
