"""The Envoy samples: real Envoy 1.40 access-log lines, read alone and with their capture.

Each `sample_captures/envoy-*` folder was recorded with a real Envoy between the client and
the emulator (recorder/scenarios_proxies.py); its `envoy-access.log` is Envoy's default
access-log format, one line per downstream request, written when the stream ends and
stamped with the time the request *started*. These tests pin what Envoy really logged
(response code, response flag, duration) to the pattern of rules/logs/envoy.yaml that must
read it, and check that a capture read together with the client's and Envoy's logs keeps
one session per connection, with every log event attached to one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from analyzer.ingest.logs import read_log
from analyzer.inputs import classify
from analyzer.pipeline import load

from conftest import SAMPLES, loaded


@dataclass(frozen=True)
class Line:
    """What Envoy logged for the scenario's one request, and how the pack must read it."""

    pattern: str
    kind: str
    status: int
    flags: str  # %RESPONSE_FLAGS% as written ("-": none)
    duration_ms: tuple[int, int]  # %DURATION% bounds
    upstream: str | None  # %UPSTREAM_HOST% (None: "-", Envoy never picked one)
    leg: int  # the session (start order, 0 = the client leg) the line must attach to


# Envoy's default format after the start time and the request line.
DEFAULT_FORMAT = re.compile(
    r'^\[(?P<start>[^\]]+)\] "GET /v1/listen\?[^"]* HTTP/1\.1" (?P<status>\d+) (?P<flags>\S+) '
    r"(?P<rx>\d+) (?P<tx>\d+) (?P<duration>\d+) (?P<upstream_time>\S+) "
    r'"(?P<xff>[^"]*)" "(?P<ua>[^"]*)" "(?P<request_id>[^"]*)" "(?P<authority>[^"]*)" '
    r'"(?P<upstream>[^"]*)"$'
)

LINES = {
    # The default stream_idle_timeout (300 s) fired on the upgraded stream: SI on the 101,
    # logged after 300 s of silence plus the 2 s of audio before it.
    "envoy-stream-idle": Line(
        "envoy/timeout", "proxy_timeout", 101, "SI", (301_000, 303_000), "127.0.0.21:8080", 1
    ),
    # No upgrade_configs: Envoy's own 403, no flag at all, no upstream chosen.
    "envoy-no-upgrade": Line("envoy/local-reply", "handshake_failed", 403, "-", (0, 50), None, 0),
    # Nothing listens upstream: 503 with UF, the closed upstream port named.
    "envoy-no-upstream": Line(
        "envoy/upstream-failure", "handshake_failed", 503, "UF", (0, 50), "127.0.0.21:8089", 0
    ),
    # The server's own 1011 NET-0001 after 10 s, then its TCP close: UC on a healthy relay.
    "envoy-idle-1011": Line(
        "envoy/upstream-closed", "proxy_closed", 101, "UC", (11_000, 13_500), "127.0.0.21:8080", 1
    ),
    # The client SIGKILLed 3 s in: DC.
    "envoy-client-killed": Line(
        "envoy/downstream-closed", "proxy_closed", 101, "DC", (2_500, 4_500), "127.0.0.21:8080", 1
    ),
}
NAMES = sorted(LINES)


def _fields(name: str) -> dict[str, str]:
    [text] = (SAMPLES / name / "envoy-access.log").read_text().splitlines()
    found = DEFAULT_FORMAT.match(text)
    assert found, f"not Envoy's default format: {text!r}"
    return found.groupdict()


@pytest.mark.parametrize("name", NAMES)
def test_envoy_wrote_one_default_format_line(name: str) -> None:
    want, got = LINES[name], _fields(name)
    assert (int(got["status"]), got["flags"]) == (want.status, want.flags)
    assert want.duration_ms[0] <= int(got["duration"]) <= want.duration_ms[1]
    assert got["upstream"] == (want.upstream or "-")
    assert got["authority"] == "127.0.0.31:8080" and got["xff"] == "-"
    assert got["ua"] == "Python/3.11 websockets/17.4"


@pytest.mark.parametrize("name", NAMES)
def test_pack_reads_the_line(name: str) -> None:
    want = LINES[name]
    data = read_log(SAMPLES / name / "envoy-access.log")
    assert data.pack == "envoy" and data.lines_total == data.lines_matched == 1
    [event] = data.events.to_dicts()
    assert (event["pattern"], event["kind"], event["status"]) == (
        want.pattern,
        want.kind,
        want.status,
    )
    assert event["line"] == 1 and event["side"] in {"proxy", "client"}
    assert f" {want.status} {want.flags} " in event["text"]
    assert event["request_id"] == _fields(name)["request_id"]
    # The peer the line names: the upstream once a stream was set up, else the authority
    # the client dialled (Envoy itself), so a refused request still finds its client leg.
    assert event["remote"] == (want.upstream if want.leg == 1 else "127.0.0.31:8080")
    assert event["tz_assumed"] is False


@pytest.mark.parametrize("name", NAMES)
def test_line_time_is_the_request_start(name: str) -> None:
    """%START_TIME% is when the downstream request began, not when the line was written:
    within a few ms of the client leg's upgrade request in the capture."""
    [event] = read_log(SAMPLES / name / "envoy-access.log").events.to_dicts()
    sessions = loaded(SAMPLES / name / "capture.pcap").sessions.sort("start")
    request = sessions["request_time"][0]
    assert abs(event["time"] - request) < timedelta(milliseconds=5)


ESTABLISHED = [name for name in NAMES if LINES[name].leg == 1]
REFUSED = [name for name in NAMES if LINES[name].leg == 0]


def _envoy_event(data, folder: Path) -> tuple[str, str]:
    envoy = data.log_events.filter(pl.col("input") == str(folder / "envoy-access.log"))
    [row] = envoy.select("session", "match").rows()
    return row


@pytest.mark.parametrize("name", ESTABLISHED)
def test_capture_and_both_logs_make_one_session_per_connection(name: str) -> None:
    """Client leg + server leg; the client's log joins the client leg by its local port,
    Envoy's line the server leg by the upstream host it names."""
    folder = SAMPLES / name
    capture = folder / "capture.pcap"
    alone = loaded(capture)
    both = load(classify([capture, folder / "client.log", folder / "envoy-access.log"]))
    assert both.sessions.height == alone.sessions.height == 2
    assert set(both.sessions["source"]) == {"capture"}
    assert both.log_events["session"].null_count() == 0
    assert set(both.log_events["match"]) <= {"port", "remote", "request_id", "request_id+port"}
    client_leg, server_leg = both.sessions.sort("start")["id"].to_list()
    assert _envoy_event(both, folder) == (server_leg, "remote")
    client = both.log_events.filter(pl.col("input") == str(folder / "client.log"))
    assert client.height > 0 and set(client["session"]) == {client_leg}
    facts = {Path(f["path"]).name: f for f in both.logs}
    assert facts["envoy-access.log"]["matched"] == facts["envoy-access.log"]["events"] == 1
    assert facts["client.log"]["matched"] == facts["client.log"]["events"]
    assert facts["envoy-access.log"]["log_only_sessions"] == 0
    assert facts["client.log"]["log_only_sessions"] == 0
    # The client log's clock is the capture's (one machine). Envoy's offset is not checked:
    # its time is the request start, which correlate.py's anchors (a proxy timeout <-> the
    # TCP teardown) do not expect, so a long session skews it.
    assert abs(facts["client.log"]["offset_s"]) < 0.5


@pytest.mark.parametrize("name", REFUSED)
def test_refused_request_line_joins_the_client_leg(name: str) -> None:
    """Envoy answered itself, so the capture has the client leg only; the line names the
    authority the client dialled (Envoy's address) and joins that leg."""
    folder = SAMPLES / name
    capture = folder / "capture.pcap"
    both = load(classify([capture, folder / "envoy-access.log"]))
    assert both.sessions.height == loaded(capture).sessions.height == 1
    [session] = both.sessions.to_dicts()
    assert (session["source"], session["kind"], session["status"]) == (
        "capture",
        "rejected",
        LINES[name].status,
    )
    assert _envoy_event(both, folder) == (session["id"], "remote")
    [facts] = both.logs
    assert facts["matched"] == facts["events"] == 1 and facts["log_only_sessions"] == 0
    assert abs(facts["offset_s"]) < 0.05  # a refusal is anchored on the response time


@pytest.mark.parametrize("name", REFUSED)
def test_refused_client_log_joins_the_client_leg(name: str) -> None:
    folder = SAMPLES / name
    capture = folder / "capture.pcap"
    both = load(classify([capture, folder / "client.log", folder / "envoy-access.log"]))
    assert both.sessions.height == 1
    client = both.log_events.filter(pl.col("input") == str(folder / "client.log"))
    refusal = client.filter(pl.col("kind") == "handshake_failed")
    assert refusal["session"].to_list() == ["s1"] * refusal.height and refusal.height >= 1
    assert set(refusal["match"]) == {"status"}
    (facts,) = [f for f in both.logs if f["path"] == str(folder / "client.log")]
    assert facts["offset_s"] is not None and abs(facts["offset_s"]) < 0.5
