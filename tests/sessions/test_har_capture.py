"""A HAR and a capture of the same connection make one session (analyzer/har_match.py).

sample_captures/browser-har-capture was recorded in one run by `har_chromium.py --capture`:
headless Chromium's WebSocket to the emulator, its HAR, tcpdump on lo, and the emulator's
log. Expected values are read from the raw files here (json, tshark), not from the engine.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from analyzer.sessions.har_fold import TOLERANCE_S, match_hars

from conftest import SAMPLES, analysis_of, loaded_together

FOLDER = SAMPLES / "browser-har-capture"
HAR, PCAP, LOG = FOLDER / "session.har", FOLDER / "capture.pcap", FOLDER / "server.log"


def _entry() -> dict:
    (entry,) = json.loads(HAR.read_text())["log"]["entries"]
    return entry


def _tshark(field: str, display: str) -> list[str]:
    out = subprocess.run(
        ["tshark", "-n", "-r", str(PCAP), "-Y", display, "-T", "fields", "-e", field],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [v for v in out.split() if v]


def test_har_and_capture_of_one_connection_are_one_session() -> None:
    data = loaded_together(PCAP, HAR, LOG)
    (row,) = data.sessions.iter_rows(named=True)
    assert row["source"] == "capture"
    assert (row["har_input"], row["har_match"]) == (str(HAR), "ws_key")
    assert row["har_messages"] == len(_entry()["_webSocketMessages"])
    # The HAR's start (ms precision) and the request packet are the same instant.
    assert abs(row["har_offset_s"]) < 0.01
    # Frames are the capture's only: one per WebSocket frame tshark decodes.
    assert data.frames.height == len(_tshark("frame.number", "websocket"))
    assert data.frames["frame"].null_count() == 0
    # The close is the capture's (the HAR cannot record one); no "not recorded" left.
    assert row["close_handshake"] == "complete" and row["har_close_not_recorded"] is None
    # The emulator's log goes to the one session too.
    assert data.log_events["session"].unique().to_list() == [row["id"]]
    assert data.hars[0]["matched"] == 1 and data.hars[0]["offset_s"] == row["har_offset_s"]


def test_folded_session_is_diagnosed_once() -> None:
    findings = analysis_of(loaded_together(PCAP, HAR)).findings
    idle = [f for f in findings if f["category"] == "idle-timeout"]
    assert len(idle) == 1 and idle[0]["severity"] == "high"
    assert {f["session"] for f in findings} == {"s1"}


def test_har_of_another_run_is_not_folded() -> None:
    other = SAMPLES / "browser-har" / "session.har"
    data = loaded_together(PCAP, other)
    assert sorted(data.sessions["source"].to_list()) == ["capture", "har"]
    assert data.sessions["har_input"].null_count() == 2
    assert data.hars[0]["matched"] == 0 and data.hars[0]["offset_s"] is None


def test_report_shows_the_har_file_and_offset() -> None:
    from analyzer.report import html

    page = html.render(analysis_of(loaded_together(PCAP, HAR, LOG)))
    assert "HAR files" in page and "Also in HAR" in page
    assert "matched by ws_key" in page
    # A log cited as evidence: its name in the narrow column, the full path in the title.
    assert re.search(
        rf'<span class="logref" title="{re.escape(str(LOG))}:\d+">server\.log:\d+<', page
    )


def test_a_server_log_is_cited_as_the_server_s() -> None:
    findings = analysis_of(loaded_together(PCAP, LOG)).findings
    (idle,) = [f for f in findings if f["rule"] == "idle-before-1011"]
    cited = [e for e in idle["evidence"] if e.get("log")]
    assert cited and cited[0]["text"].startswith("The server's log (")
    line = int(cited[0]["log"].rsplit(":", 1)[1])
    assert "1011" in LOG.read_text().splitlines()[line - 1]


# --- match_hars on small tables (pure function) -------------------------------------------

T0 = datetime(2026, 11, 22, 1, 0, 0, tzinfo=UTC)


def _rows(prefix: str, rows: list[dict]) -> pl.DataFrame:
    base = {"input": "x.har", "ws_key": None, "dg_request_id": None, "host": "h", "path": "/p"}
    full = [base | {"id": f"{prefix}{i}"} | r for i, r in enumerate(rows, 1)]
    for r in full:
        r.setdefault("start", r["request_time"])
    schema = {k: pl.String for k in ("id", "input", "ws_key", "dg_request_id", "host", "path")}
    schema |= {k: pl.Datetime("us", "UTC") for k in ("request_time", "start")}
    return pl.DataFrame(full, schema=schema)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _pairs(har: list[dict], cap: list[dict]) -> dict[str, tuple[str, str]]:
    pairs, _ = match_hars(_rows("h", har), _rows("c", cap))
    return {r["har_id"]: (r["id"], r["har_match"]) for r in pairs.iter_rows(named=True)}


def test_key_beats_url_and_the_first_proxy_leg_wins() -> None:
    har = [{"ws_key": "k1", "request_time": _at(0.0)}]
    cap = [
        {"ws_key": "k1", "request_time": _at(0.2)},  # browser -> proxy
        {"ws_key": "k1", "request_time": _at(0.3)},  # proxy -> server: same key forwarded
        {"request_time": _at(0.0)},  # same URL, same time, no key
    ]
    assert _pairs(har, cap) == {"h1": ("c1", "ws_key")}


def test_request_id_when_the_key_is_missing() -> None:
    har = [{"dg_request_id": "r", "request_time": _at(5.0)}]
    cap = [{"dg_request_id": "r", "request_time": _at(0.0), "path": "/other"}]
    assert _pairs(har, cap) == {"h1": ("c1", "request_id")}


def test_url_and_time_use_the_offset_learnt_from_keyed_pairs() -> None:
    # The browser's clock is 30 s ahead: the keyed pair says so, the URL pair then fits.
    har = [{"ws_key": "k", "request_time": _at(30.0)}, {"request_time": _at(90.2)}]
    cap = [{"ws_key": "k", "request_time": _at(0.0)}, {"request_time": _at(60.0)}]
    pairs, offsets = match_hars(_rows("h", har), _rows("c", cap))
    assert {r["har_id"]: r["id"] for r in pairs.iter_rows(named=True)} == {"h1": "c1", "h2": "c2"}
    assert offsets["x.har"] == pytest.approx(30.1)


def test_url_outside_the_tolerance_or_on_another_path_is_not_a_match() -> None:
    har = [{"request_time": _at(TOLERANCE_S + 0.5)}, {"request_time": _at(0.0), "path": "/q"}]
    cap = [{"request_time": _at(0.0)}]
    assert _pairs(har, cap) == {}


def test_a_capture_session_takes_at_most_one_har_session() -> None:
    har = [{"request_time": _at(0.1)}, {"request_time": _at(0.5)}]
    cap = [{"request_time": _at(0.0)}]
    assert _pairs(har, cap) == {"h1": ("c1", "url+time")}
