"""HAR ingestion on a HAR recorded from real headless Chromium (sample_captures/browser-har).

Expected numbers are counted here from the raw JSON (plain `json`), never from the parser.
Chromium reports no close frame to DevTools, so the real HAR must come out as "close not
recorded"; the close-decoding path is checked on a copy with a Chrome-encoded close added.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer import redact
from analyzer.errors import InputError
from analyzer.ingest.har import looks_like_har, read_har
from analyzer.schema import FRAMES, HANDSHAKES

from conftest import SAMPLES

HAR = SAMPLES / "browser-har" / "session.har"
FAKE_KEY = "FAKEKEYdeadbeef0123456789abcdef012345678"
NET0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)
OPCODES = {1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def _raw() -> dict[str, Any]:
    return json.loads(HAR.read_text())


def _ws_entry(doc: dict[str, Any]) -> dict[str, Any]:
    (entry,) = [e for e in doc["log"]["entries"] if e.get("_resourceType") == "websocket"]
    return entry


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "copy.har"
    path.write_text(json.dumps(doc))
    return path


def test_recorded_har_is_one_session_with_the_raw_messages() -> None:
    messages = _ws_entry(_raw())["_webSocketMessages"]
    data = read_har(HAR)
    assert data.handshakes.height == 1 and data.sessions.height == 1
    assert data.frames.schema == FRAMES.polars and data.handshakes.schema == HANDSHAKES.polars
    want = Counter((m["type"] == "send", OPCODES[m["opcode"]]) for m in messages)
    got = Counter(zip(data.frames["from_client"], data.frames["opcode"], strict=True))
    assert got == want
    assert want[(True, "binary")] == 15 and want[(True, "text")] == 1
    assert want[(False, "text")] >= 1
    assert data.frames["frame"].null_count() == data.frames.height  # no capture frames
    assert data.frames["fin"].all() and data.frames["session"].unique().to_list() == ["har-0"]
    assert data.sessions["source"].to_list() == ["har"]


def test_payload_lengths_times_and_json_types_follow_the_raw_json() -> None:
    messages = sorted(_ws_entry(_raw())["_webSocketMessages"], key=lambda m: m["time"])
    frames = read_har(HAR).frames
    lengths = [
        len(m["data"].encode()) if m["opcode"] == 1 else len(base64.b64decode(m["data"]))
        for m in messages
    ]
    assert frames["payload_len"].to_list() == lengths
    binary = [n for n, m in zip(lengths, messages, strict=True) if m["opcode"] == 2]
    assert binary == [3200] * 15  # 100 ms of 16 kHz linear16 each
    epoch = frames["time"].dt.epoch("ns").to_list()
    assert all(abs(ns / 1e9 - m["time"]) < 1e-6 for ns, m in zip(epoch, messages, strict=True))
    sent_text = frames.filter(pl.col("from_client") & (pl.col("opcode") == "text"))
    assert sent_text["json_type"].to_list() == ["KeepAlive"]
    received = frames.filter(~pl.col("from_client"))
    assert set(received["json_type"]) == {"Results"}
    assert frames.filter(pl.col("opcode") == "binary")["text_preview"].null_count() == 15


def test_handshake_fields_and_redaction() -> None:
    doc = _raw()
    entry = _ws_entry(doc)
    response = {h["name"].lower(): h["value"] for h in entry["response"]["headers"]}
    row = read_har(HAR).handshakes.row(0, named=True)
    assert row["status"] == entry["response"]["status"] == 101
    assert row["path"] == "/v1/listen" and row["method"] == "GET"
    assert row["dg_request_id"] == response["dg-request-id"]
    assert row["subprotocol_accepted"] == "token" and row["accept_valid"] is True
    assert row["subprotocols_offered"] == ["token", FAKE_KEY[: redact.KEEP] + redact.REDACTED]
    assert row["server"] == entry["request"]["url"].split("/")[2]
    assert FAKE_KEY in HAR.read_text()
    assert FAKE_KEY not in json.dumps(read_har(HAR).handshakes.to_dicts(), default=str)


def test_no_close_in_a_chrome_har_means_not_recorded() -> None:
    """Chromium sent and received close 1011 (server.log), yet DevTools records none."""
    raw = _ws_entry(_raw())
    assert all(m["opcode"] != 8 for m in raw["_webSocketMessages"])
    assert "close 1011 NET-0001" in (HAR.parent / "server.log").read_text()
    session = read_har(HAR).sessions.row(0, named=True)
    assert session["har_close_not_recorded"] is True and session["close_recorded"] is False
    assert "not recorded" in session["note"] or "unknown" in session["note"]
    # the entry `time` (request -> webSocketClosed) carries the end past the last message
    last = max(m["time"] for m in raw["_webSocketMessages"])
    assert session["end"].timestamp() - last > 9.9  # the 10 s inactivity window


def test_truncated_message_list_is_flagged(tmp_path: Path) -> None:
    doc = _raw()
    entry = _ws_entry(doc)
    entry["_webSocketMessages"] = entry["_webSocketMessages"][:5]
    data = read_har(_write(tmp_path, doc))
    assert data.frames.height == 5
    assert data.sessions["har_close_not_recorded"].to_list() == [True]


def test_a_recorded_close_is_decoded(tmp_path: Path) -> None:
    """A close message as Chrome encodes non-text payloads (base64 of code + reason)."""
    doc = _raw()
    entry = _ws_entry(doc)
    last = max(m["time"] for m in entry["_webSocketMessages"])
    payload = (1011).to_bytes(2, "big") + NET0001.encode()
    close = {"opcode": 8, "data": base64.b64encode(payload).decode(), "time": last + 10.01}
    entry["_webSocketMessages"].append({"type": "receive", **close})
    data = read_har(_write(tmp_path, doc))
    closes = data.frames.filter(pl.col("opcode") == "close")
    assert closes.select("from_client", "close_code", "close_reason", "payload_len").rows() == [
        (False, 1011, NET0001, len(payload))
    ]
    assert data.sessions["har_close_not_recorded"].to_list() == [False]


def test_firefox_style_entry_without_resource_type(tmp_path: Path) -> None:
    """Recognised by its 101 alone; no messages is allowed (Firefox writes none)."""
    doc = _raw()
    entry = _ws_entry(doc)
    del entry["_resourceType"]
    del entry["_webSocketMessages"]
    data = read_har(_write(tmp_path, doc))
    assert data.handshakes["status"].to_list() == [101] and data.frames.height == 0
    assert data.sessions["har_close_not_recorded"].to_list() == [True]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\x00\x01garbage\xff", "not UTF-8"),
        (b"hello, not json", "invalid JSON"),
        (b'{"foo": [1, 2]}', "no log.entries"),
        (b"[1, 2, 3]", "no log.entries"),
        (None, "truncated"),
    ],
)
def test_bad_input_is_one_line_input_error(
    tmp_path: Path, content: bytes | None, needle: str
) -> None:
    path = tmp_path / "bad.har"
    path.write_bytes(HAR.read_bytes()[:5000] if content is None else content)
    with pytest.raises(InputError) as err:
        read_har(path)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file_and_malformed_message(tmp_path: Path) -> None:
    """A broken message is skipped with a warning: the rest of the entry still counts."""
    with pytest.raises(InputError, match="no such file"):
        read_har(tmp_path / "missing.har")
    doc = _raw()
    messages = _ws_entry(doc)["_webSocketMessages"]
    messages[0] = {"type": "send", "opcode": "x"}
    data = read_har(_write(tmp_path, doc))
    assert data.frames.height == len(messages) - 1
    (warning,) = data.warnings
    assert f"1 of {len(messages)} message(s)" in warning and "message 0 time" in warning


def test_looks_like_har_sniffs_content() -> None:
    assert looks_like_har(HAR.read_bytes()[:4096])
    assert looks_like_har(b'\xef\xbb\xbf  {"log": {"version": "1.2", "entries": []}}')
    assert not looks_like_har(b'{"foo": 1}')
    assert not looks_like_har(b"\xd4\xc3\xb2\xa1" + b"\x00" * 20)  # a pcap
    assert not looks_like_har((SAMPLES / "idle-1011" / "capture.pcap").read_bytes()[:4096])
