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
