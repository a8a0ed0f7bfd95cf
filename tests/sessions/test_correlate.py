"""Captures + logs + HAR together: correlation, clock offsets, log-only and HAR sessions.

All inputs are the recorded corpus (sample_captures/*): real python-websockets client and
server logs, real nginx logs, a HAR from real headless Chromium.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from analyzer.inputs import Inputs, classify
from analyzer.pipeline import load
from analyzer.schema import SESSION_LOG_EVENTS
from analyzer.session_schema import SESSION_GROUPS, SESSIONS
from analyzer.sessions.correlate import match

from conftest import SAMPLES, run_cli

IDLE = SAMPLES / "idle-1011"
NGINX = SAMPLES / "nginx-read-timeout"
HAR = SAMPLES / "browser-har" / "session.har"


@functools.cache
def _load(captures: tuple[Path, ...], logs: tuple[Path, ...] = (), hars: tuple[Path, ...] = ()):
    return load(Inputs({"capture": captures, "har": hars, "log": logs}))


def _line(ref: str) -> str:
    path, line = ref.rsplit(":", 1)
    return Path(path).read_text().splitlines()[int(line) - 1]


def test_capture_and_its_client_log_make_no_extra_session() -> None:
    alone = _load((IDLE / "capture.pcap",))
    data = _load((IDLE / "capture.pcap",), (IDLE / "client.log",))
    assert data.sessions.height == alone.sessions.height == 1
    row = data.sessions.row(0, named=True)
    assert row["source"] == "capture" and row["id"] == "s1"
    assert row["log_close_code"] == 1011 and "net0001" in row["log_close_reason"].lower()
    assert row["log_events"] == data.log_events.height > 0
    assert data.log_events["session"].to_list() == ["s1"] * data.log_events.height
    assert abs(row["log_offset_s"]) < 0.5
    (facts,) = data.logs
    assert facts["offset_s"] is not None and abs(facts["offset_s"]) < 0.5
    assert facts["matched"] == facts["events"] == row["log_events"]
    # log_source names a real line of client.log, and it is the close the server sent.
    assert row["log_source"].startswith(str(IDLE / "client.log") + ":")
    assert "CLOSE 1011" in _line(row["log_source"])
    assert data.log_events.schema == SESSION_LOG_EVENTS.polars
    assert data.sessions.schema == SESSIONS.polars


def test_client_and_server_logs_attach_to_the_same_session() -> None:
    data = _load((IDLE / "capture.pcap",), (IDLE / "client.log", IDLE / "server.log"))
    assert data.sessions.height == 1
    assert set(data.log_events["session"]) == {"s1"}
    assert all(abs(f["offset_s"]) < 0.5 for f in data.logs)
    assert set(data.log_events["match"]) <= {"request_id", "request_id+port", "port"}


def test_client_log_alone_is_one_log_only_session() -> None:
    data = _load((), (IDLE / "client.log",))
    assert data.sessions.height == 1 and not data.captures
    row = data.sessions.row(0, named=True)
    assert (row["source"], row["id"], row["kind"]) == ("log", "s1", "websocket")
    assert row["input"] == str(IDLE / "client.log")
    assert row["close_server_code"] == row["close_client_code"] == 1011
    assert "net0001" in row["close_server_reason"].lower()
    assert row["close_first_by"] == "server" and row["close_handshake"] == "complete"
    assert row["client"] == "127.0.0.11:37477"
    assert row["start"] <= row["end"] and row["log_offset_s"] is None
    # Unknown, not zero: a log does not list every frame.
    assert row["audio_frames_client"] is None and row["keepalive_client"] is None
    assert set(data.log_events["match"]) == {"log"}


def test_nginx_error_log_marks_the_client_facing_leg() -> None:
    data = _load((NGINX / "capture.pcap",), (NGINX / "nginx-error.log", NGINX / "client.log"))
    rows = {r["client"]: r for r in data.sessions.iter_rows(named=True)}
    assert len(rows) == 2 and all(r["source"] == "capture" for r in rows.values())
    leg = rows["127.0.0.11:56413"]  # client -> nginx
    upstream = next(r for c, r in rows.items() if c != "127.0.0.11:56413")
    assert leg["log_proxy_timeout"] is True and upstream["log_proxy_timeout"] is not True
    assert "upstream timed out" in _line(leg["log_source"])
    assert leg["log_abnormal_close"] is True  # the client's "no close frame received"
    error = next(f for f in data.logs if f["path"].endswith("nginx-error.log"))
    assert error["tz_assumed"] is True and error["matched"] >= 1


def test_har_alone_is_one_har_session_with_frame_features() -> None:
    data = _load((), (), (HAR,))
    assert data.sessions.height == 1
    row = data.sessions.row(0, named=True)
    assert (row["source"], row["id"], row["status"]) == ("har", "s1", 101)
    assert row["har_close_not_recorded"] is True and row["close_handshake"] == "none"
    assert row["binary_frames_client"] == 15 and row["keepalive_client"] == 1
    assert row["syn_seen"] is None and row["rst_client_count"] is None  # no TCP in a HAR
    assert set(data.frames["session"]) == {"s1"} and data.frames["frame"].null_count() > 0


def test_capture_only_rows_have_empty_log_columns() -> None:
    data = _load((IDLE / "capture.pcap",))
    row = data.sessions.row(0, named=True)
    assert row["log_events"] == 0
    assert all(row[c] is None for c in SESSION_GROUPS["log"] if c != "log_events")
    assert row["har_close_not_recorded"] is None and data.log_events.height == 0


def test_inputs_are_sniffed_by_content(tmp_path: Path) -> None:
    renamed = tmp_path / "trace.pcap"
    renamed.write_bytes((IDLE / "client.log").read_bytes())
    har_as_json = tmp_path / "export.json"
    har_as_json.write_bytes(HAR.read_bytes())
    got = classify([IDLE / "capture.pcap", renamed, har_as_json])
    assert got.files == {"capture": [IDLE / "capture.pcap"], "har": [har_as_json], "log": [renamed]}


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("core.log", bytes(range(256)) * 64, "does not look like a text log"),
        ("empty.log", b"", "empty log file"),
        ("prose.log", b"hello\nworld\n", "matched a log pack"),
    ],
)
def test_bad_forced_logs_are_warnings(
    tmp_path: Path, name: str, content: bytes, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    proc = run_cli("analyze", "--log", path, "--format", "json", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and words in proc.stderr
    report = json.loads(proc.stdout)
    assert report["sessions"] == [] and any(words in w for w in report["warnings"])


def test_binary_input_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 64)
    proc = run_cli("analyze", path, "--format", "json", "-o", "-")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "blob.bin" in proc.stderr


def test_cli_log_alone_writes_every_format(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = run_cli("analyze", IDLE / "client.log", "--format", "html,md,json", "-o", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert [s["source"] for s in report["sessions"]] == ["log"]
    assert report["sessions"][0]["log"]["log_close_code"] == 1011
    assert [i["kind"] for i in report["inputs"]] == ["log"]
    assert out.with_suffix(".html").stat().st_size > 0 and out.with_suffix(".md").stat().st_size


def test_cli_capture_log_and_har_together() -> None:
    proc = run_cli(
        "analyze",
        IDLE / "capture.pcap",
        HAR,
        "--log",
        IDLE / "client.log",
        "--log-tz",
        "Europe/Berlin",
        "--format",
        "json",
        "-o",
        "-",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [s["id"] for s in report["sessions"]] == ["s1", "s2"]
    assert sorted(s["source"] for s in report["sessions"]) == ["capture", "har"]
    assert [i["kind"] for i in report["inputs"]] == ["pcap", "har", "log"]


def test_sessions_command_reads_har_and_logs() -> None:
    """contract.md: INPUT of every command is a capture, a HAR or a log."""
    proc = run_cli("sessions", HAR, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert [s["source"] for s in json.loads(proc.stdout)] == ["har"]
    log = run_cli("sessions", IDLE / "client.log", "--format", "json")
    assert log.returncode == 0, log.stderr
    assert [s["source"] for s in json.loads(log.stdout)] == ["log"]


# --- the path key on small tables (correlate.match is a pure function) ---------------------


def _segs(**cols: object) -> pl.DataFrame:
    base = {"segment": [1], "request_id": [None], "local_port": [None], "remote_host": [None]}
    base |= {"path": [None], "status": [None], "side": ["proxy"]}
    base |= {"t0": [T0], "t1": [T0 + timedelta(seconds=1)]}
    return pl.DataFrame(base | {k: [v] for k, v in cols.items()}).cast(
        {
            "request_id": pl.String,
            "local_port": pl.Int32,
            "remote_host": pl.String,
            "path": pl.String,
            "status": pl.Int32,
        }
    )


def _keys(rows: list[dict]) -> pl.DataFrame:
    full = [
        {
            "dg_request_id": None,
            "port": None,
            "client_host": "127.0.0.11",
            "server_host": "127.0.0.21",
            "refused_status": None,
        }
        | r
        for r in rows
    ]
    schema = {"id": pl.String, "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")}
    schema |= {"dg_request_id": pl.String, "port": pl.Int32, "client_host": pl.String}
    schema |= {"server_host": pl.String, "session_path": pl.String, "refused_status": pl.Int32}
    return pl.DataFrame(full, schema=schema)


T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


def _session(sid: str, start_s: float, path: str, **more: object) -> dict:
    start = T0 + timedelta(seconds=start_s)
    return (
        {"id": sid, "start": start, "end": start + timedelta(seconds=30)}
        | {"session_path": path}
        | more
    )


def test_a_path_names_the_session_in_time_on_that_path() -> None:
    keys = _keys([_session("a", -5, "/v1/speak"), _session("b", -3, "/v1/listen")])
    got = match(_segs(path="/v1/listen"), keys, timed=True)
    assert got.rows() == [(1, "b", "path")]
    assert match(_segs(path="/v1/listen"), keys, timed=False).is_empty()  # time is required
    late = _keys([_session("b", 100, "/v1/listen")])
    assert match(_segs(path="/v1/listen"), late, timed=True).is_empty()


def test_an_address_beats_a_path() -> None:
    keys = _keys([_session("a", 0, "/v1/listen"), _session("b", 0, "/x", client_host="127.0.0.99")])
    got = match(_segs(path="/v1/listen", remote_host="127.0.0.99"), keys, timed=True)
    assert got.rows() == [(1, "b", "remote")]


@pytest.mark.parametrize("tool", ["okhttp", "dotnet"])
def test_a_stack_trace_under_the_app_line_is_not_another_attempt(tool: str) -> None:
    """Real OkHttp / Mono logs print each failure on a timed app line and again at the
    head of an untimed stack trace: one connection, one session (five cases recorded)."""
    log = SAMPLES / "real-logs" / tool / "client.log"
    data = _load((), (log,))
    assert data.sessions.height == 5
    assert data.sessions["start"].null_count() == 0
    assert data.sessions["kind"].to_list() == ["rejected"] * 2 + ["websocket"] * 3


def test_client_and_server_logs_alone_naming_one_request_id_are_one_session() -> None:
    logs = (IDLE / "client.log", IDLE / "server.log")
    data = _load((), logs)
    assert data.sessions.height == 1
    row = data.sessions.row(0, named=True)
    assert row["dg_request_id"] == "ad3994ac-426c-4a35-8673-2cb4b3b4d521"
    assert row["log_events"] == sum(f["events"] for f in data.logs)
    assert set(data.log_events["input"]) == {str(p) for p in logs}


def test_a_refusal_names_the_earliest_rejected_leg_with_its_status() -> None:
    keys = _keys(
        [
            _session("ok", -1, "/v1/listen"),
            _session("leg1", 0, "/v1/listen", refused_status=403),
            _session("leg2", 0.2, "/v1/listen", refused_status=403),
            _session("other", 0, "/v1/listen", refused_status=401),
        ]
    )
    seg = _segs(status=403, side="client")
    assert match(seg, keys, timed=True).rows() == [(1, "leg1", "status")]
    assert match(seg, keys, timed=False).is_empty()  # time is required


def test_a_file_named_twice_is_read_once() -> None:
    log = IDLE / "client.log"
    named = [IDLE / "capture.pcap", log, IDLE / ".." / "idle-1011" / "client.log"]
    inputs = classify(named, {"log": [log]})
    assert inputs["capture"] == [IDLE / "capture.pcap"] and inputs["log"] == [log]


@pytest.mark.parametrize(
    ("tool", "kinds"),
    [
        # gorilla 401, refused, idle (NET-0001); nhooyr the same: Go's clients log no open
        ("go", ["rejected", "rejected", "websocket"] * 2),
        ("node-ws", ["rejected", "rejected", "websocket"]),
        ("pino", ["rejected", "rejected", "websocket", "websocket"]),  # + abrupt
        ("python-json-logger", ["rejected", "rejected", "websocket", "websocket"]),
    ],
)
def test_a_refused_upgrade_and_a_later_close_are_two_sessions(tool: str, kinds: list) -> None:
    """Each recorded case of sample_captures/real-logs is one log-only session: a refusal
    ends its attempt, so the NET-0001 close a later line reports is another session's,
    and only the sessions that were open have a close code."""
    data = _load((), (SAMPLES / "real-logs" / tool / "client.log",))
    rows = data.sessions.sort("start", "id").to_dicts()
    assert [r["kind"] for r in rows] == kinds
    assert all(r["close_server_code"] is None for r in rows if r["kind"] == "rejected")
    net0001 = [r for r in rows if r["close_server_code"] == 1011]
    assert net0001 and all(r["kind"] == "websocket" for r in net0001)


def _expected_first_leg(sample: str) -> tuple[str, str]:
    """The client-facing session's client and server from the sample's expected.yaml
    (written from plain tshark by the recorder, never by the engine)."""
    import yaml

    facts = yaml.safe_load((SAMPLES / sample / "expected.yaml").read_text())["sessions"][0]
    return facts["facts"]["client"], facts["facts"]["server"]


@pytest.mark.parametrize(
    ("sample", "log"),
    [
        # the client's line `connected from 127.0.0.11:37477 to ('127.0.0.21', 8080)`
        ("idle-1011", "client.log"),
        # HAProxy's access line names its client and the client's port
        ("haproxy-tunnel-timeout", "haproxy.log"),
    ],
)
def test_a_log_only_session_has_client_and_server_the_right_way_round(
    sample: str, log: str
) -> None:
    """A log alone gives the session the addresses the capture of the same connection
    shows: the client's own address and port as the client, the peer it names as the
    server (a client's log); a proxy's log names the client as its peer."""
    client, server = _expected_first_leg(sample)
    data = _load((), (SAMPLES / sample / log,))
    row = data.sessions.row(0, named=True)
    assert row["source"] == "log" and row["client"] == client
    if sample == "idle-1011":
        assert row["server"] == server
    else:  # the access line does not name the proxy's own listening address
        assert row["server"] is None


def test_a_url_or_address_tuple_names_the_server_as_host_and_port() -> None:
    """Chromium names the refused server by URL; it is the server `host:port`."""
    data = _load((), (SAMPLES / "real-logs" / "browser" / "console.log",))
    servers = data.sessions.sort("start")["server"].to_list()
    assert servers[:2] == ["127.0.0.21:47095", "127.0.0.21:35743"]
