"""A log-only session claims no silence it did not measure.

idle-1011's client went quiet for 10.0 s before Deepgram's 1011 (the capture: last audio
frame at 1.909 s, close at 11.9 s). Its client log alone knows the open and the close, so
"client silent since the open" would say 11.9 s: a number no witness measured.
"""

from __future__ import annotations

import pytest

from conftest import SAMPLES, loaded, sample

QUIET = ["client_quiet_before_server_close_s", "client_quiet_before_end_s"]


def test_the_capture_measures_the_silence() -> None:
    [row] = sample("idle-1011").sessions.select(QUIET).rows()
    assert row[0] == pytest.approx(10.0, abs=0.05)


def test_a_log_alone_leaves_it_unknown() -> None:
    sessions = loaded(SAMPLES / "idle-1011" / "client.log").sessions
    assert sessions["source"].to_list() == ["log"]
    assert sessions.select(QUIET).rows() == [(None, None)]
