"""HAR ingestion on a HAR written by real Firefox ESR 153 (sample_captures/browser-har/firefox).

Firefox's DevTools HAR export (recorded by sample_captures/recorder/har_firefox.py) writes a
WebSocket as a plain HTTP entry: the upgrade request and the 101 response, nothing after it
(no messages, no close, an entry `time` that is only the upgrade exchange). Expected values
are read here from the raw JSON with plain `json` and from the emulator's server.log, never
from the parser; the reader must keep "not recorded" apart from "none".
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from analyzer import redact
from analyzer.ingest.har import NO_MESSAGES_NOTE, looks_like_har, read_har

from conftest import SAMPLES, loaded, run_cli

FOLDER = SAMPLES / "browser-har" / "firefox"
HAR = FOLDER / "session.har"
FAKE_KEY = "FAKEKEYdeadbeef0123456789abcdef012345678"
NET0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)
SERIOUS = {"medium", "high", "critical"}


def _raw() -> dict[str, Any]:
    return json.loads(HAR.read_text())


def _ws_entries() -> list[dict[str, Any]]:
    return [e for e in _raw()["log"]["entries"] if e["request"]["url"].startswith("ws://")]


def _headers(block: dict[str, Any]) -> dict[str, str]:
    return {h["name"].lower(): h["value"] for h in block["headers"]}


def _server_closes() -> dict[str, tuple[int, str]]:
    """dg-request-id -> (close code, reason) as the emulator logged each session's end."""
    done = re.findall(
        r"session (\S+) done: .* close_code=(\d+) reason='([^']*)'",
        (FOLDER / "server.log").read_text(),
    )
    return {rid: (int(code), reason) for rid, code, reason in done}


def test_the_file_is_firefox_made_and_has_no_websocket_extras() -> None:
    """What Firefox 153 writes: ordinary entries, none of Chrome's WebSocket fields."""
    log = _raw()["log"]
    assert log["creator"]["name"] == "Firefox" and log["creator"]["version"].startswith("153.")
    entries = _ws_entries()
    assert len(entries) == 2
    for entry in entries:
        assert "_resourceType" not in entry and "_webSocketMessages" not in entry
        assert entry["response"]["status"] == 101
        assert _headers(entry["request"])["upgrade"] == "websocket"
        # entry `time` is the sum of the timings: the upgrade exchange, not the lifetime
        timings = [v for v in entry["timings"].values() if v > 0]
        assert entry["time"] == sum(timings) < 1000
    assert looks_like_har(HAR.read_bytes()[:4096])


def test_two_sessions_from_the_websocket_entries_only() -> None:
    data = read_har(HAR)
    assert data.creator == "Firefox" and data.warnings == []
    assert data.handshakes.height == 2 and data.sessions.height == 2  # not ws.html/favicon
    assert data.frames.height == 0
    assert data.sessions["source"].to_list() == ["har", "har"]
    assert data.handshakes["status"].to_list() == [101, 101]
    assert data.handshakes["reason"].to_list() == ["Switching Protocols"] * 2


def test_handshake_facts_follow_the_raw_headers() -> None:
    data = read_har(HAR)
    for entry, row in zip(_ws_entries(), data.handshakes.iter_rows(named=True), strict=True):
        request, response = _headers(entry["request"]), _headers(entry["response"])
        assert row["method"] == "GET" and row["path"] == "/v1/listen"
        assert {q["name"]: q["value"] for q in row["query"]} == {
            q["name"]: q["value"] for q in entry["request"]["queryString"]
        }
        assert row["server"] == entry["request"]["url"].split("/")[2]
        assert row["client"] is None  # a HAR does not know the browser's port
        assert row["host"] == request["host"] and row["origin"] == request["origin"]
        assert row["ws_key"] == request["sec-websocket-key"] and row["ws_version"] == "13"
        assert "Firefox/153" in row["user_agent"]
        assert row["upgrade_header"] == "websocket" and row["connection_header"] == "Upgrade"
        assert row["subprotocols_offered"] == ["token", FAKE_KEY[: redact.KEEP] + redact.REDACTED]
        assert row["subprotocol_accepted"] == response["sec-websocket-protocol"] == "token"
        assert row["extensions_offered"] == request["sec-websocket-extensions"]
        assert row["extensions_accepted"] is None  # offered, not accepted
        assert row["accept"] == response["sec-websocket-accept"] and row["accept_valid"] is True
        assert row["dg_request_id"] == response["dg-request-id"]
        assert row["server_software"] == response["server"]


def test_times_come_from_started_date_time_and_timings() -> None:
    data = read_har(HAR)
    for entry, row in zip(_ws_entries(), data.handshakes.iter_rows(named=True), strict=True):
        started = dt.datetime.fromisoformat(entry["startedDateTime"])
        assert row["request_time"] == started
        spent = sum(v for v in entry["timings"].values() if v > 0)
        assert row["response_time"] == started + dt.timedelta(milliseconds=spent)
    assert data.sessions["start"].to_list() == data.handshakes["request_time"].to_list()


def test_nothing_after_the_101_is_claimed() -> None:
    """Both connections were closed (1011 and 1000, server.log); the HAR says neither."""
    closes = _server_closes()
    rids = [_headers(e["response"])["dg-request-id"] for e in _ws_entries()]
    assert [closes[r] for r in rids] == [(1011, NET0001), (1000, "")]
    sessions = read_har(HAR).sessions
    assert sessions["messages_recorded"].to_list() == [False, False]
    assert sessions["messages"].to_list() == [None, None]  # unknown, not 0
    assert sessions["close_recorded"].to_list() == [False, False]
    assert sessions["har_close_not_recorded"].to_list() == [True, True]
    assert sessions["end"].to_list() == [None, None]  # `time` is not a lifetime here
    assert sessions["note"].to_list() == [NO_MESSAGES_NOTE] * 2


def test_dataset_rows_state_no_close_and_no_duration() -> None:
    sessions = loaded(HAR).sessions
    assert sessions.height == 2
    assert set(sessions["source"]) == {"har"} and set(sessions["kind"]) == {"websocket"}
    assert sessions["status"].to_list() == [101, 101]
    assert sessions["har_close_not_recorded"].to_list() == [True, True]
    assert sessions["duration_s"].null_count() == 2
    assert sessions.select(pl.col("^close_(client|server)_code$")).null_count().row(0) == (2, 2)
    assert sessions["tcp_end"].null_count() == 2  # no TCP claim from a HAR


def _analyze(tmp_path: Path, fmt: str) -> str:
    out = tmp_path / f"report.{fmt}"
    proc = run_cli("analyze", HAR, "--format", fmt, "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


def test_analyze_json_is_sensible_and_redacted(tmp_path: Path) -> None:
    text = _analyze(tmp_path, "json")
    report = json.loads(text)
    assert [i["kind"] for i in report["inputs"]] == ["har"]
    sessions = report["sessions"]
    assert [s["source"] for s in sessions] == ["har", "har"]
    assert [s["handshake"]["status"] for s in sessions] == [101, 101]
    assert all(s["close"]["har_close_not_recorded"] is True for s in sessions)
    assert all(s["close"]["close_server_code"] is None for s in sessions)
    assert all(s["duration_s"] is None for s in sessions)
    serious = [f for f in report["findings"] if f["severity"] in SERIOUS]
    assert serious == [], [(f["rule"], f["summary"]) for f in serious]
    assert FAKE_KEY not in text and FAKE_KEY[: redact.KEEP] + redact.REDACTED in text


def test_analyze_html_is_redacted(tmp_path: Path) -> None:
    text = _analyze(tmp_path, "html")
    assert "127.0.0.21" in text and FAKE_KEY not in text


def test_verdict_makes_no_tcp_claim(tmp_path: Path) -> None:
    text = _analyze(tmp_path, "md")
    assert "FIN" not in text and "None side" not in text
    assert "the HAR records no close frame" in text


def test_sessions_table_says_unknown_not_zero() -> None:
    out = run_cli("sessions", HAR, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("s")]
    assert len(rows) == 2
    assert all("?/?" in r and "not recorded" in r and "None" not in r for r in rows)


def test_html_says_what_a_har_cannot_show(tmp_path: Path) -> None:
    text = _analyze(tmp_path, "html")
    assert "No packet capture among the inputs" in text
    assert text.count("messages not recorded in this HAR") == 2  # one per timeline
    assert "not recorded: a HAR holds none" in text
    assert "after ?" not in text and "Packets" not in text
    md = _analyze(tmp_path, "md")
    assert "no capture, 2 session(s)" in md and "0 packets" not in md
