"""Logs and HAR files as INPUT of every command (issue 13, item 3).

`sessions` and `frames` take what `analyze` takes (contract.md: INPUT is a capture, a HAR
or a log, sniffed from content), and a text file is read as a log only when it looks like
one: a README or a config file is one line on stderr and exit 2, unless `--log` says it
is a log (then a warning, as for any log that matched nothing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, SAMPLES, run_cli

IDLE = SAMPLES / "idle-1011"
REAL = SAMPLES / "real-logs"
BOTH = SAMPLES / "browser-har-capture"


def _json(*args: str | Path) -> list[dict]:
    proc = run_cli(*args, "--format", "json", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# --- a text file is a log only when it looks like one ------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        # Markdown: headings and code blocks, which no log has
        (REPO / "README.md", "a Markdown document"),
        # quotes Envoy's real access-log lines, timestamps and all, inside code blocks
        (SAMPLES / "envoy-idle-1011" / "README.md", "a Markdown document"),
        # quotes OkHttp's real log strings, never with a timestamp
        (REAL / "okhttp" / "README.md", "none with a timestamp"),
        # a proxy's configuration file: no line of it is a log event
        (SAMPLES / "nginx-idle-1011" / "nginx.conf", "none of its"),
        # a TLS key log: text, but nothing a log pack knows
        (SAMPLES / "wss-keylog" / "keys.log", "none of its"),
    ],
    ids=["README.md", "envoy-README.md", "okhttp-README.md", "nginx.conf", "keys.log"],
)
@pytest.mark.parametrize("command", ["analyze", "sessions", "frames"])
def test_a_text_file_that_is_no_log_is_one_line_and_exit_2(
    path: Path, why: str, command: str
) -> None:
    proc = run_cli(command, path, "--format", "json", "-o", "-")
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert str(path) in line and "not a log" in line and why in line, line
    assert "--log" in line and proc.stdout == ""


def test_log_forces_a_text_file_as_a_log_with_a_warning() -> None:
    proc = run_cli("analyze", "--log", REPO / "README.md", "--format", "json", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert "matched a log pack" in proc.stderr
    assert json.loads(proc.stdout)["sessions"] == []


@pytest.mark.parametrize(
    ("log", "sessions"),
    [
        # 26 lines: two Node stack traces and an object dump around 6 timed lines
        (REAL / "node-ws" / "client.log", 3),
        # 178 lines, nearly all the SDK's object dumps: a 401, then an idle close
        (REAL / "deepgram-js-sdk" / "client.log", 2),
        # JSON lines, epoch-millisecond times
        (REAL / "pino" / "client.log", 4),
    ],
    ids=["node-ws", "deepgram-js-sdk", "pino"],
)
def test_a_real_log_with_many_other_lines_is_still_a_log(log: Path, sessions: int) -> None:
    got = _json("sessions", log)
    assert len(got) == sessions and {s["source"] for s in got} == {"log"}


# --- sessions and frames read logs and HAR files (contract.md, Commands) -----------------


def test_sessions_lists_a_log_only_session_as_analyze_does() -> None:
    log = IDLE / "client.log"
    listed = _json("sessions", log)
    reported = _json("analyze", log)["sessions"]  # type: ignore[call-overload]
    assert [s["id"] for s in listed] == [s["id"] for s in reported] == ["s1"]
    [session] = listed
    assert session["source"] == "log"
    assert session["start"] == reported[0]["start"] == "2026-11-21T20:25:49.602000Z"
    table = run_cli("sessions", log)
    assert table.returncode == 0 and "s1" in table.stdout, table.stderr


def test_sessions_and_frames_join_a_capture_its_har_and_its_log() -> None:
    """One connection recorded three ways is one session, the capture's, in both
    commands; its frames are the capture's (numbered), none duplicated from the HAR."""
    inputs = (BOTH / "capture.pcap", BOTH / "session.har", BOTH / "server.log")
    [session] = _json("sessions", *inputs)
    assert session["source"] == "capture" and session["log"]["log_events"] > 0
    assert session["har"]["har_match"] == "ws_key"
    frames = _json("frames", *inputs)
    alone = _json("frames", BOTH / "capture.pcap")
    assert frames == alone
    assert {f["session"] for f in frames} == {session["id"]}


def test_frames_of_a_har_or_a_log_have_no_frame_number() -> None:
    """A log's frames: tests/ingest/test_log_frames.py checks them line by line."""
    frames = _json("frames", SAMPLES / "browser-har" / "session.har")
    assert len(frames) == 17 and all(f["frame"] is None for f in frames)
    logged = _json("frames", IDLE / "client.log")
    assert len(logged) == 24 and all(f["frame"] is None for f in logged)
    table = run_cli("frames", IDLE / "client.log", "--session", "s1")
    assert table.returncode == 0, table.stderr
