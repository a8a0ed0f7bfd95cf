"""Log lines as evidence, and logs joined with a HAR (issue 13, item 3).

- An evidence row that cites a log line carries that line's own time (on the capture's or
  HAR's clock when the log's offset to it was measured), not the session's start or the
  first log event: the JSON finding and the HTML report's evidence list.
- A HAR never holds a close (Chromium reports no close frame, Firefox no message at all),
  so the server's log of the same session is the only witness of it: the HAR session
  keeps the diagnosis the log alone gives (sample_captures/browser-har: one Chromium and
  one Firefox recording, each with the emulator's own log of the same connections).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES, run_cli

HAR = SAMPLES / "browser-har"
IDLE = SAMPLES / "idle-1011"
REAL = SAMPLES / "real-logs"
ISO = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z")


def _analyze(*inputs: Path, fmt: str = "json") -> Any:
    proc = run_cli("analyze", *inputs, "--format", fmt, "-o", "-")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if fmt == "json" else proc.stdout


def _line_time(ref: str) -> datetime:
    """The ISO 8601 UTC time a cited line (`file:N`) starts with, read here, not by wsdoctor."""
    path, number = ref.rsplit(":", 1)
    text = Path(path).read_text().splitlines()[int(number) - 1]
    day, clock, frac = ISO.match(text).groups()  # type: ignore[union-attr]
    micro = int((frac or "0")[:6].ljust(6, "0"))
    return datetime.fromisoformat(f"{day}T{clock}").replace(microsecond=micro, tzinfo=UTC)


def _log_rows(report: dict) -> list[tuple[dict, dict, dict]]:
    """(finding, its session, evidence row) for every evidence row citing a log line."""
    sessions = {s["id"]: s for s in report["sessions"]}
    return [
        (f, sessions[f["session"]], e)
        for f in report["findings"]
        for e in f["evidence"]
        if e.get("log")
    ]


@pytest.mark.parametrize(
    "inputs",
    [
        (HAR / "server.log",),  # the close is line 53, 11.6 s after the session's start
        (IDLE / "client.log",),
        (IDLE / "server.log",),
        (REAL / "okhttp" / "client.log",),  # nanosecond stamps, five sessions
        (REAL / "dotnet" / "client.log",),
        (IDLE / "capture.pcap", IDLE / "client.log"),  # the log's offset to the capture
        (HAR / "session.har", HAR / "server.log"),  # the log's offset to the HAR
    ],
    ids=lambda p: "+".join(f"{x.parent.name}/{x.name}" for x in p),
)
def test_log_evidence_carries_the_cited_lines_time(inputs: tuple[Path, ...]) -> None:
    rows = _log_rows(_analyze(*inputs))
    assert rows
    for finding, session, row in rows:
        offset = (session.get("log") or {}).get("log_offset_s") or 0.0
        want = _line_time(row["log"]) - timedelta(seconds=offset)
        got = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
        assert abs(got - want) <= timedelta(microseconds=1), (finding["rule"], row)


def test_the_html_evidence_row_shows_the_lines_time() -> None:
    """The close is line 53 (23:48:04.637), not the first event (23:47:53.066)."""
    html = _analyze(HAR / "server.log", fmt="html")
    [item] = re.findall(r'<li><span class="frame"><span class="logref".*?</li>', html)
    assert "server.log:53" in item and "2026-11-21 23:48:04.637 UTC" in item, item


@pytest.mark.parametrize(
    ("har", "log", "idle"),
    [
        # Chromium: one connection, server close 1011 NET-0001 after 10 s of silence
        (HAR / "session.har", HAR / "server.log", [True]),
        # Firefox: A closed 1011 NET-0001, B closed 1000 after CloseStream
        (HAR / "firefox" / "session.har", HAR / "firefox" / "server.log", [True, False]),
    ],
    ids=["chromium", "firefox"],
)
def test_a_har_and_the_servers_log_keep_the_logs_diagnosis(
    har: Path, log: Path, idle: list[bool]
) -> None:
    alone = _analyze(log)
    assert {f["category"] for f in alone["findings"]} >= {"idle-timeout"}
    joined = _analyze(har, log)
    assert [s["source"] for s in joined["sessions"]] == ["har"] * len(idle)
    found = {
        s["id"]: any(
            f["session"] == s["id"] and f["rule"] == "log-net0001-close" for f in joined["findings"]
        )
        for s in joined["sessions"]
    }
    assert list(found.values()) == idle
    [finding] = [f for f in joined["findings"] if f["rule"] == "log-net0001-close"]
    assert finding["category"] == "idle-timeout" and finding["severity"] == "high"
    assert any(e.get("log", "").startswith(str(log)) for e in finding["evidence"])
