"""Every capture session ends in the contract's TCP domain: `fin`, `rst` or `open`.

Also when the capture holds no SYN, FIN or RST of the connection at all (a capture taken
mid-stream, a trimmed flow): with neither end recorded, the connection was still open when
recording stopped, and nobody "ended" it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EVERY_CAPTURE, EXTERNAL, capture_id, loaded


@pytest.mark.parametrize("path", EVERY_CAPTURE, ids=capture_id)
def test_every_capture_session_has_a_tcp_end_from_the_domain(path: Path) -> None:
    rows = loaded(path).sessions.select("id", "tcp_end", "tcp_ended_by").to_dicts()
    for row in rows:
        assert row["tcp_end"] in ("fin", "rst", "open"), row
        assert (row["tcp_ended_by"] is None) == (row["tcp_end"] == "open"), row


def test_a_connection_with_no_tcp_event_is_open() -> None:
    """nDPI's mid-stream capture holds only payload packets of its one connection."""
    path = EXTERNAL / "ndpi-websocket-midstream.pcap"
    [row] = loaded(path).sessions.select("tcp_end", "tcp_ended_by", "syn_seen").to_dicts()
    assert row["tcp_end"] == "open" and row["tcp_ended_by"] is None


@pytest.mark.parametrize("path", EVERY_CAPTURE, ids=capture_id)
def test_no_silence_is_negative(path: Path) -> None:
    """Payload after the first FIN/RST (a half-closed connection's peer still sending, as in
    Suricata's ping trace and wstunnel's) leaves no silence before the teardown: 0 s."""
    sessions = loaded(path).sessions
    silences = [c for c in sessions.columns if c.endswith("_s") and "offset" not in c]
    for row in sessions.select("id", *silences).to_dicts():
        assert all(v is None or v >= 0 for k, v in row.items() if k != "id"), row
