"""The Envoy samples: real Envoy 1.40 access-log lines, read alone and with their capture.

Each `sample_captures/envoy-*` folder was recorded with a real Envoy between the client and
the emulator (recorder/scenarios_proxies.py); its `envoy-access.log` (and, behind two
Envoys, the inner one's `envoy-inner-access.log`) is Envoy's default access-log format, one
line per downstream request, written when the stream ends and stamped with the time the
request *started*. These tests pin what Envoy really logged (response code, response flag,
duration) to the pattern of rules/logs/envoy.yaml that must read it, and check that a
capture read together with the client's and Envoy's logs keeps one session per connection,
with every log event attached to one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from analyzer.ingest.logs import read_log

from conftest import SAMPLES, analysis_of, loaded, loaded_together

ENVOY = "127.0.0.31:8080"  # the (outer) Envoy the client dials: the lines' authority
UA = "Python/3.11 websockets/17.4"

RANKS = ["info", "low", "medium", "high", "critical"]


@dataclass(frozen=True)
class Line:
    """One line Envoy logged, and how the pack must read it."""

    pattern: str
    kind: str
    status: int
    flags: str  # %RESPONSE_FLAGS% as written ("-": none)
    duration_ms: tuple[int, int]  # %DURATION% bounds
    upstream: str | None  # %UPSTREAM_HOST% (None: "-", Envoy never picked one)
    remote: str | None  # the pack's `remote`: the upstream, else the authority, else none
    leg: int | None  # the session (start order, 0 = client leg) it attaches to; None: none
    started: int = 0  # the session whose request the line's start time is
    log: str = "envoy-access.log"
    number: int = 1  # line number in the log
    request_known: bool = True  # False: a codec error, Envoy logged no request headers
    match: str = "remote"  # how correlate.py attaches it

    @property
    def established(self) -> bool:
        return self.upstream is not None and self.status == 101


LINES = {
    # The default stream_idle_timeout (300 s) fired on the upgraded stream: SI on the 101,
    # logged after 300 s of silence plus the 2 s of audio before it.
    "envoy-stream-idle": Line(
        "envoy/timeout",
        "proxy_timeout",
        101,
        "SI",
        (301_000, 303_000),
        "127.0.0.21:8080",
        "127.0.0.21:8080",
        1,
    ),
    # No upgrade_configs: Envoy's own 403, no flag at all, no upstream chosen.
    "envoy-no-upgrade": Line(
        "envoy/local-reply", "proxy_refused", 403, "-", (0, 50), None, ENVOY, 0
    ),
    # Nothing listens upstream: 503 with UF, the closed upstream port named.
    "envoy-no-upstream": Line(
        "envoy/upstream-failure",
        "proxy_refused",
        503,
        "UF",
        (0, 50),
        "127.0.0.21:8089",
        ENVOY,
        0,
    ),
    # The server's own 1011 NET-0001 after 10 s, then its TCP close: UC on a healthy relay.
    "envoy-idle-1011": Line(
        "envoy/upstream-closed",
        "proxy_closed",
        101,
        "UC",
        (11_000, 13_500),
        "127.0.0.21:8080",
        "127.0.0.21:8080",
        1,
    ),
    # The client SIGKILLed 3 s in: DC.
    "envoy-client-killed": Line(
        "envoy/downstream-closed",
        "proxy_closed",
        101,
        "DC",
        (2_500, 4_500),
        "127.0.0.21:8080",
        "127.0.0.21:8080",
        1,
    ),
    # The server stalled 2 s in and was stopped 1 s later, a RST with audio unread: an
    # HTTP/1.1 upstream's RST is "connection termination" to Envoy, UC (not UR).
    "envoy-server-reset": Line(
        "envoy/upstream-closed",
        "proxy_closed",
        101,
        "UC",
        (2_800, 3_500),
        "127.0.0.21:8080",
        "127.0.0.21:8080",
        1,
    ),
    # The same behind two Envoys, HTTP/2 between them: the inner Envoy resets the extended
    # CONNECT stream (RST_STREAM CONNECT_ERROR) and the outer one logs UR, its upstream
    # being the inner Envoy. No capture session has that address:port (the HTTP/2 hop
    # carries no WebSocket upgrade): the line joins the client leg by Envoy's host.
    "envoy-h2-server-reset": Line(
        "envoy/reset", "reset", 101, "UR", (2_800, 3_500), "127.0.0.31:8081", "127.0.0.31:8081", 0
    ),
    # ... and the inner Envoy, like envoy-server-reset's, logs UC for the server's RST.
    "envoy-h2-server-reset/inner": Line(
        "envoy/upstream-closed",
        "proxy_closed",
        101,
        "UC",
        (2_800, 3_500),
        "127.0.0.21:8080",
        "127.0.0.21:8080",
        1,
        started=1,
        log="envoy-inner-access.log",
    ),
    # A healthy session (CloseStream, the server's 1000, its FIN: UC) ...
    "envoy-bad-request": Line(
        "envoy/upstream-closed",
        "proxy_closed",
        101,
        "UC",
        (1_900, 2_600),
        "127.0.0.21:8080",
        "127.0.0.21:8080",
        1,
        number=2,
    ),
    # ... and, 1 s in, a malformed upgrade request on a second connection: Envoy's 400 with
    # DPE, logged first (it ended first). The codec failed before the request was complete:
    # no method, path, user agent, request id or authority; only its status (400) and time
    # name the refused connection.
    "envoy-bad-request/dpe": Line(
        "envoy/protocol-error",
        "error",
        400,
        "DPE",
        (0, 50),
        None,
        None,
        2,
        started=2,
        request_known=False,
        match="status",
    ),
}
NAMES = sorted(LINES)


def _folder(name: str) -> Path:
    return SAMPLES / name.split("/")[0]


# Envoy's default format after the start time.
DEFAULT_FORMAT = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>HTTP/1\.1|HTTP/2)" '
    r"(?P<status>\d+) (?P<flags>\S+) "
    r"(?P<rx>\d+) (?P<tx>\d+) (?P<duration>\d+) (?P<upstream_time>\S+) "
    r'"(?P<xff>[^"]*)" "(?P<ua>[^"]*)" "(?P<request_id>[^"]*)" "(?P<authority>[^"]*)" '
    r'"(?P<upstream>[^"]*)"$'
)


def _fields(name: str) -> dict[str, str]:
    want = LINES[name]
    text = (_folder(name) / want.log).read_text().splitlines()[want.number - 1]
    found = DEFAULT_FORMAT.match(text)
    assert found, f"not Envoy's default format: {text!r}"
    return found.groupdict()


@pytest.mark.parametrize("name", NAMES)
def test_envoy_wrote_a_default_format_line(name: str) -> None:
    want, got = LINES[name], _fields(name)
    assert (int(got["status"]), got["flags"]) == (want.status, want.flags)
    assert want.duration_ms[0] <= int(got["duration"]) <= want.duration_ms[1]
    assert got["upstream"] == (want.upstream or "-")
    assert got["xff"] == "-"
    if want.request_known:
        assert (got["method"], got["path"].split("?")[0]) == ("GET", "/v1/listen")
        assert (got["authority"], got["ua"]) == (ENVOY, UA)
    else:
        request = (got["method"], got["path"], got["ua"], got["request_id"], got["authority"])
        assert request == ("-",) * 5


@pytest.mark.parametrize("name", NAMES)
def test_pack_reads_the_line(name: str) -> None:
    want = LINES[name]
    path = _folder(name) / want.log
    data = read_log(path)
    assert data.pack == "envoy"
    assert data.lines_total == data.lines_matched == len(path.read_text().splitlines())
    [event] = data.events.filter(pl.col("line") == want.number).to_dicts()
    assert (event["pattern"], event["kind"], event["status"]) == (
        want.pattern,
        want.kind,
        want.status,
    )
    assert event["side"] in {"proxy", "client"}
    assert f" {want.status} {want.flags} " in event["text"]
    request_id = _fields(name)["request_id"]
    assert event["request_id"] == (None if request_id == "-" else request_id)
    # The peer the line names: the upstream once a stream was set up, else the authority
    # the client dialled (Envoy itself), so a refused request still finds its client leg;
    # nothing when Envoy could not parse the request.
    assert event["remote"] == want.remote
    assert event["tz_assumed"] is False


@pytest.mark.parametrize("name", NAMES)
def test_line_time_is_the_request_start(name: str) -> None:
    """%START_TIME% is when the downstream request began, not when the line was written:
    within a few ms of that request in the capture (the client's upgrade request; for the
    inner of two Envoys, its own upgrade request to the server)."""
    want = LINES[name]
    [event] = (
        read_log(_folder(name) / want.log).events.filter(pl.col("line") == want.number).to_dicts()
    )
    sessions = loaded(_folder(name) / "capture.pcap").sessions.sort("start")
    request = sessions["request_time"][want.started]
    assert abs(event["time"] - request) < timedelta(milliseconds=5)


def _envoy_events(data, folder: Path, log: str = "envoy-access.log") -> list[tuple]:
    envoy = data.log_events.filter(pl.col("input") == str(folder / log))
    return envoy.sort("line").select("session", "match").rows()


# One folder per test: its client log, every Envoy log, the lines that must attach.
FOLDERS = sorted({name.split("/")[0] for name in NAMES})
ESTABLISHED = [
    f for f in FOLDERS if any(_folder(n).name == f and LINES[n].established for n in NAMES)
]
REFUSED = [f for f in FOLDERS if f not in ESTABLISHED]


@pytest.mark.parametrize("folder_name", ESTABLISHED)
def test_capture_and_all_logs_make_one_session_per_connection(folder_name: str) -> None:
    """Client leg + server leg (+ a refused connection); the client's log joins the client
    leg by its local port, each Envoy line the leg it declares (by the host it names)."""
    folder = SAMPLES / folder_name
    lines = [LINES[n] for n in NAMES if n.split("/")[0] == folder_name]
    logs = sorted({line.log for line in lines})
    capture = folder / "capture.pcap"
    alone = loaded(capture)
    both = loaded_together(capture, folder / "client.log", *(folder / log for log in logs))
    assert both.sessions.height == alone.sessions.height >= 2
    assert set(both.sessions["source"]) == {"capture"}
    ids = both.sessions.sort("start")["id"].to_list()
    for log in logs:
        want = [
            (ids[line.leg], line.match)
            for line in sorted(lines, key=lambda line: line.number)
            if line.log == log and line.leg is not None
        ]
        got = [row for row in _envoy_events(both, folder, log) if row[0] is not None]
        assert got == want
    client = both.log_events.filter(pl.col("input") == str(folder / "client.log"))
    assert client.height > 0 and set(client["session"]) == {ids[0]}
    assert set(client["match"]) <= {"port", "request_id+port"}
    facts = {Path(f["path"]).name: f for f in both.logs}
    for log in logs:
        attached = sum(line.log == log and line.leg is not None for line in lines)
        assert facts[log]["matched"] == attached and facts[log]["log_only_sessions"] == 0
    assert facts["client.log"]["matched"] == facts["client.log"]["events"]
    assert facts["client.log"]["log_only_sessions"] == 0
    # The client log's clock is the capture's (one machine). Envoy's offset is not checked:
    # its time is the request start, which correlate.py's anchors (a proxy timeout or reset
    # <-> the TCP teardown) do not expect, so a long session skews it.
    assert abs(facts["client.log"]["offset_s"]) < 0.5


def test_dpe_line_joins_the_refused_connection() -> None:
    folder = SAMPLES / "envoy-bad-request"
    both = loaded_together(folder / "capture.pcap", folder / "envoy-access.log")
    refused = both.sessions.sort("start")["id"][2]
    assert _envoy_events(both, folder)[0][0] == refused


@pytest.mark.parametrize("name", REFUSED)
def test_refused_request_line_joins_the_client_leg(name: str) -> None:
    """Envoy answered itself, so the capture has the client leg only; the line names the
    authority the client dialled (Envoy's address) and joins that leg."""
    folder = SAMPLES / name
    capture = folder / "capture.pcap"
    both = loaded_together(capture, folder / "envoy-access.log")
    assert both.sessions.height == loaded(capture).sessions.height == 1
    [session] = both.sessions.to_dicts()
    assert (session["source"], session["kind"], session["status"]) == (
        "capture",
        "rejected",
        LINES[name].status,
    )
    assert _envoy_events(both, folder) == [(session["id"], "remote")]
    [facts] = both.logs
    assert facts["matched"] == facts["events"] == 1 and facts["log_only_sessions"] == 0
    assert abs(facts["offset_s"]) < 0.05  # a refusal is anchored on the response time


@pytest.mark.parametrize("name", REFUSED)
def test_refused_client_log_joins_the_client_leg(name: str) -> None:
    folder = SAMPLES / name
    capture = folder / "capture.pcap"
    both = loaded_together(capture, folder / "client.log", folder / "envoy-access.log")
    assert both.sessions.height == 1


@pytest.mark.parametrize("folder_name", ["envoy-stream-idle", "envoy-h2-server-reset"])
def test_envoy_clock_offset_pairs_the_line_with_the_request(folder_name: str) -> None:
    """Envoy stamps a line written at stream end with the request's start (`stamped_at:
    request_start`): paired with the teardown instead, the 300 s session put the log's
    clock 301.9 s off. Both machines' clocks are one here: the offset must be ~0."""
    folder = SAMPLES / folder_name
    logs = sorted(folder.glob("envoy-*access.log"))
    data = loaded_together(folder / "capture.pcap", *logs)
    offsets = {Path(f["path"]).name: f["offset_s"] for f in data.logs}
    assert set(offsets) == {p.name for p in logs}
    assert all(o is not None and abs(o) < 0.05 for o in offsets.values()), offsets


@pytest.mark.parametrize("folder_name", ["envoy-no-upgrade", "envoy-no-upstream"])
def test_envoy_log_alone_finds_what_the_capture_finds(folder_name: str) -> None:
    """The proxy's own refusal, from its access log alone: the same categories and
    severities expected.yaml declares for the captured connection (from plain tshark)."""
    folder = SAMPLES / folder_name
    (declared,) = [
        s["findings"] for s in yaml.safe_load((folder / "expected.yaml").read_text())["sessions"]
    ]
    findings = analysis_of(loaded(folder / "envoy-access.log")).findings
    got: dict[str, str] = {}
    for f in findings:
        got[f["category"]] = max(got.get(f["category"], "info"), f["severity"], key=RANKS.index)
    assert got == declared
    assert any(f["rule"] == "log-proxy-refused" for f in findings)
