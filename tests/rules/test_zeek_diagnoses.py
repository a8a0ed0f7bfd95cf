"""What the built-in pack concludes about Zeek's real WebSocket traces, and why.

Each entry is the diagnosis (category -> highest severity, per session) a Wireshark
expert should agree with after reading the trace, with the reasoning written next to
it. The frame numbers quoted were read with plain tshark (`-Y websocket -T fields -e
frame.number -e websocket.opcode -e websocket.mask -e websocket.payload_length`), not
with wsdoctor. Healthy sessions must produce nothing at all: a tool that cries wolf on
Zeek's reference traces would not be trusted on a customer's.
"""

from __future__ import annotations

import pytest

from analyzer.rules.engine import evaluate
from analyzer.rules.loader import load_rules

from conftest import ZEEK, diagnosis, loaded

DIAGNOSES: dict[str, tuple[dict[str, str], ...]] = {
    # The client sends close 1000 (frame 18); the server's FIN follows 0.25 ms later with
    # no close frame. RFC 6455 §5.5.1 requires a Close in reply, so the client's library
    # reports an unclean close (python-websockets: "sent 1000 (OK); no close frame
    # received"). The exchange itself finished, hence medium, not high.
    "broker-websocket.pcap": ({"missing-close": "medium"},),
    # The 101 split across two segments is legal; close 1000 both ways, server FIN first.
    "fragmented-http-reply.pcap": ({},),
    # Empty close frames both ways are legal (each side records 1005); server FIN first.
    "jupyter-websocket.pcap": ({},),
    # The server pings with 4 bytes (frame 8); the client closes with 1009 "over size
    # limit (4 > 2 bytes)" (frame 10): its configured 2-byte limit ended the connection.
    "message-too-big-status.pcap": ({"protocol-error": "high"},),
    # The server's close (frame 6) carries 258 payload bytes, over the 125-byte control
    # frame limit (RFC 6455 §5.5). The client then fails the connection without a close
    # reply, which is what §7.1.7 asks of it, so there is no missing-close finding. The
    # server was closing with 1000 anyway: a protocol violation at medium.
    "oversized-close-frame.pcapng": ({"protocol-error": "medium"},),
    # A ping answered by a pong, coalesced with the 101 or not; clean closes.
    "reply-ping-coalesced.pcap": ({},),
    "reply-ping-separate.pcap": ({},),
    # A binary message in two fragments (binary + continuation) is legal framing.
    "two-binary-fragments.pcap": ({},),
    # Sec-WebSocket-Accept "...=-wrong" is not base64(SHA-1(key + GUID)); RFC 6455 §4.1
    # tells the client to fail the connection, which it does (FIN, no frames). The
    # handshake is the finding; the missing close is its correct consequence.
    "wrong-accept-header.pcap": ({"handshake-failure": "high"},),
    # wstunnel's client sends unmasked frames (frames 8 and 10, mask bit 0), violating
    # RFC 6455 §5.1; this server tolerates it, a strict one closes with 1002. Medium.
    "wstunnel-http.pcap": ({"protocol-error": "medium"},),
    "wstunnel-https.pcap": ({},),
    # Both tunnels end with a complete close handshake; the client's RST after the
    # server's close reply only aborts TCP TIME_WAIT. The client's pings every 5 s get no
    # pong, but nobody gave up on them: no ping-timeout.
    "wstunnel-ssh.pcap": ({}, {}),
}


def test_every_trace_has_a_diagnosis() -> None:
    assert {p.name for p in ZEEK.glob("*.pcap*")} == set(DIAGNOSES)


@pytest.mark.parametrize("trace", sorted(DIAGNOSES))
def test_zeek_trace_diagnosis(trace: str) -> None:
    data = loaded(ZEEK / trace)
    findings = evaluate(
        load_rules([]), data.sessions, {"frames": data.frames, "anomalies": data.anomalies}
    )
    ids = data.sessions.sort("start")["id"].to_list()
    assert len(ids) == len(DIAGNOSES[trace])
    got = tuple(diagnosis(findings, s) for s in ids)
    fired = [(f["session"], f["rule"], f["severity"], f["summary"]) for f in findings]
    assert got == DIAGNOSES[trace], fired
