"""Issue 13's recorded situations: each finding states its evidence, not only its category.

test_sample_findings.py checks the categories and severities of every sample; here the
words of the findings that carry the diagnosis are checked against the numbers tshark shows
in each capture (the sample's README, "Verified facts"): the frame numbers, the measured
times and what the engine concludes from them.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import SAMPLES, analysis_of, loaded, loaded_together


def _findings(sample: str, rule: str) -> list[dict[str, Any]]:
    data = loaded(SAMPLES / sample / "capture.pcap")
    return [f for f in analysis_of(data).findings if f["rule"] == rule]


def _missing(text: str, *parts: str) -> list[str]:
    """The parts a finding's text should contain and does not."""
    return [part for part in parts if part not in text]


# (sample, rule, what its summary must say: numbers from tshark, the sample's README)
STATED = [
    # Client close frame 94, client FIN frame 96 3.004 s later: websocket-client's 3 s.
    (
        "close-unanswered",
        "server-no-close-reply",
        ("frame #94", "3.0 s later (FIN, frame #96)", "close timeout ran out", "websocket-client"),
    ),
    # Client's last packet frame 159; the server's ping 161, retransmitted in 162-169, the
    # last 28.37 s after frame 159; no FIN/RST in the capture.
    (
        "silent-path-death",
        "path-went-dead",
        (
            "the client's last packet is frame #159",
            "from frame #161 on was acknowledged: 8 retransmissions",
            "(frames #162 to #169)",
            "28.4 s after the client's last packet",
            "the server's ping in frame #161 was never answered",
        ),
    ),
]


@pytest.mark.parametrize(("sample", "rule", "parts"), STATED, ids=[c[0] for c in STATED])
def test_the_finding_states_its_evidence(sample: str, rule: str, parts: tuple[str, ...]) -> None:
    (finding,) = _findings(sample, rule)
    assert not _missing(finding["summary"], *parts)


def test_silent_path_death_points_at_the_frames() -> None:
    (finding,) = _findings("silent-path-death", "path-went-dead")
    assert {159, 161, 162, 169} <= {e.get("frame") for e in finding["evidence"]}


def test_snaplen_truncated_with_its_log_concludes_from_tcp_timing_and_the_log() -> None:
    """tcpdump -s 96: 26 packets cut to 96 bytes; client audio ends in frame 48 (1.909 s),
    the next client payload is its close reply, frame 54, 10.013 s later; server FIN frame
    55. client.log line 50 is the received close 1011 NET-0001."""
    folder = SAMPLES / "snaplen-truncated"
    data = loaded_together(folder / "capture.pcap", folder / "client.log")
    (session,) = data.sessions.to_dicts()
    assert session["log_source"].endswith("snaplen-truncated/client.log:50")
    analysis = analysis_of(data)
    by_rule = {f["rule"]: f for f in analysis.findings}
    assert set(by_rule) == {"net0001-log-truncated-capture", "capture-truncated-packets"}
    idle = by_rule["net0001-log-truncated-capture"]["summary"]
    assert not _missing(
        idle, "26 packets cut to 96 bytes", "the client sent no payload for 10.0 s", "frame #55"
    )
    cut = by_rule["capture-truncated-packets"]["summary"]
    assert not _missing(cut, "were cut to 96 bytes", "tcpdump -s 96", "client.log:50")


def test_snaplen_truncated_claims_no_missing_close_frame() -> None:
    """The close frames are in cut packets: the verdict must not say there was none."""
    from analyzer.report.verdict import outcome

    (row,) = loaded(SAMPLES / "snaplen-truncated" / "capture.pcap").sessions.to_dicts()
    assert "no close frame" not in outcome(row)
    assert "cut by the snapshot length" in outcome(row)


def test_silent_path_death_is_not_called_an_idle_timer() -> None:
    """The one-line verdict says what happened on the wire, not "an intermediary's idle
    timer": 8 retransmissions, the last 28.37 s after the client's last packet."""
    from analyzer.report.verdict import reason

    (row,) = loaded(SAMPLES / "silent-path-death" / "capture.pcap").sessions.to_dicts()
    text = reason(row, {"rule": "path-went-dead", "category": "proxy-interference"})
    assert text == ", after the server's data went unacknowledged for 28.4 s (8 resends)"


def test_silent_path_death_with_the_server_log_cites_its_ping_timeout() -> None:
    """server.log line 62, `- timed out waiting for keepalive pong`: the give-up whose close
    frame never reached the wire."""
    folder = SAMPLES / "silent-path-death"
    data = loaded_together(folder / "capture.pcap", folder / "server.log")
    (finding,) = [f for f in analysis_of(data).findings if f["rule"] == "path-went-dead"]
    assert "silent-path-death/server.log:62) records the keepalive ping timeout" in (
        finding["summary"].replace("\\_", "_")
    )
    assert any(e.get("log", "").endswith("server.log:62") for e in finding["evidence"])
