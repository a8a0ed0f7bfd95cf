"""Zeek-style anomaly rows on the Zeek traces, whose oddities were read from the bytes.

Expected rows come from reading the payload hex (see test_zeek_conformance.py's
HAND_CHECKED notes), not from running the engine.
"""

from __future__ import annotations

import pytest

from analyzer.pipeline import load

from conftest import ZEEK

EXPECTED = {
    # 0x88 0x7f + 64-bit length 258: close code 1000 and 256 x "C" — over the 125-byte limit.
    "oversized-close-frame.pcapng": {(6, "ws_control_frame_too_long")},
    # The 101 carries an accept value with "-wrong" appended to the correct one.
    "wrong-accept-header.pcap": {(6, "ws_accept_key_mismatch")},
    # wstunnel's client sends its binary frame (8) and close (10) with the MASK bit clear.
    "wstunnel-http.pcap": {(8, "ws_unmasked_client_frame"), (10, "ws_unmasked_client_frame")},
}
CLEAN = [
    "broker-websocket.pcap",
    "fragmented-http-reply.pcap",
    "jupyter-websocket.pcap",
    "message-too-big-status.pcap",
    "reply-ping-coalesced.pcap",
    "two-binary-fragments.pcap",
]


@pytest.mark.parametrize("trace", sorted(EXPECTED))
def test_odd_traffic_becomes_named_anomalies(trace: str) -> None:
    found = load([ZEEK / trace]).anomalies
    assert set(found.select("frame", "kind").iter_rows()) == EXPECTED[trace]
    assert found["session"].to_list() == ["s1"] * found.height


@pytest.mark.parametrize("trace", CLEAN)
def test_conformant_traces_have_no_anomalies(trace: str) -> None:
    assert load([ZEEK / trace]).anomalies.height == 0
