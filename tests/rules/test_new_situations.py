"""Issue 13's recorded situations: each finding states its evidence, not only its category.

test_sample_findings.py checks the categories and severities of every sample; here the
words of the findings that carry the diagnosis are checked against the numbers tshark shows
in each capture (the sample's README, "Verified facts"): the frame numbers, the measured
times and what the engine concludes from them.
"""

from __future__ import annotations

from typing import Any

from conftest import SAMPLES, analysis_of, loaded


def _findings(sample: str, rule: str) -> list[dict[str, Any]]:
    data = loaded(SAMPLES / sample / "capture.pcap")
    return [f for f in analysis_of(data).findings if f["rule"] == rule]


def test_close_unanswered_names_the_close_frame_the_wait_and_the_close_timeout() -> None:
    """Client close frame 94, client FIN frame 96 3.004 s later: websocket-client's 3 s."""
    (finding,) = _findings("close-unanswered", "server-no-close-reply")
    summary = finding["summary"]
    assert "frame #94" in summary
    assert "3.0 s later (FIN, frame #96)" in summary
    assert "close timeout ran out" in summary
    assert "websocket-client (Python)" in summary


def test_silent_path_death_gives_the_retransmission_evidence() -> None:
    """Client's last packet frame 159; server ping 161, retransmitted in 162-169, the last
    28.37 s after frame 159; no FIN/RST in the capture."""
    (finding,) = _findings("silent-path-death", "path-went-dead")
    summary = finding["summary"]
    assert "the client's last packet is frame #159" in summary
    assert "from frame #161 on was acknowledged: 8 retransmissions" in summary
    assert "(frames #162 to #169)" in summary
    assert "28.4 s after the client's last packet" in summary
    assert "the server's ping in frame #161 was never answered" in summary
    assert {159, 161, 162, 169} <= {e.get("frame") for e in finding["evidence"]}
