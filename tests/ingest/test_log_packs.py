"""Log pattern packs: every example/counter-example, pack validation, the corpus logs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analyzer.errors import PackError
from analyzer.ingest import logtime
from analyzer.ingest.logpacks import LogPack, load_pack, load_packs
from analyzer.ingest.logs import match_lines, read_log
from analyzer.schema import LOG_EVENTS

from conftest import cli_json, run_cli

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "sample_captures"
PACKS = load_packs()
BY_NAME = {p.name: p for p in PACKS}
# Example field names -> LOG_EVENTS columns.
COLUMN = {"code": "close_code", "reason": "close_reason", "port": "local_port"}


def _match(line: str) -> dict | None:
    lines = pl.DataFrame({"line": [1], "raw": [line]})
    events = match_lines(lines, PACKS)
    return events.row(0, named=True) if events.height else None


def _cases() -> list:
    out = []
    for pack in PACKS:
        for pattern in pack.patterns:
            for i, ex in enumerate(pattern.examples):
                out.append(pytest.param(pack, pattern.id, ex, id=f"{pack.name}/{pattern.id}#{i}"))
    return out


def _counters() -> list:
    return [
        pytest.param(pack, pattern.id, line, id=f"{pack.name}/{pattern.id}!{i}")
        for pack in PACKS
        for pattern in pack.patterns
        for i, line in enumerate(pattern.counter_examples)
    ]


def test_every_pack_loads_and_has_patterns() -> None:
    assert len(PACKS) >= 15
    for pack in PACKS:
        assert pack.patterns or pack.is_jsonl, pack.name


@pytest.mark.parametrize(("pack", "pattern_id", "example"), _cases())
def test_example_matches_its_pattern(pack: LogPack, pattern_id: str, example) -> None:
    event = _match(example.line)
    assert event is not None, f"no pattern matched {example.line!r}"
    assert event["pattern"] == f"{pack.name}/{pattern_id}"
    for key, want in example.fields.items():
        assert event[COLUMN.get(key, key)] == want, key


@pytest.mark.parametrize(("pack", "pattern_id", "line"), _counters())
def test_counter_example_does_not_match(pack: LogPack, pattern_id: str, line: str) -> None:
    event = _match(line)
    assert event is None or event["pattern"] != f"{pack.name}/{pattern_id}"


@pytest.mark.parametrize("example", BY_NAME["jsonl"].examples, ids=lambda e: e.line[:40])
def test_jsonl_lines_are_matched_through_the_field_mapping(example) -> None:
    event = _match(example.line)
    assert event is not None
    for key, want in example.fields.items():
        assert event[COLUMN.get(key, key)] == want
    # A zone-less line (python-json-logger's asctime) says so in its fields.
    assert event["time"] is not None
    assert event["tz_assumed"] is example.fields.get("tz_assumed", False)


def test_jsonl_field_names_are_pack_params(tmp_path: Path) -> None:
    text = (
        (ROOT / "rules/logs/jsonl.yaml")
        .read_text()
        .replace("message_field: message", "message_field: msg")
    )
    custom = tmp_path / "jsonl.yaml"
    custom.write_text(text)
    pack, problems = load_pack(custom)
    assert not problems and pack is not None
    packs = [pack, *(p for p in PACKS if p.name != "jsonl")]
    lines = pl.DataFrame(
        {
            "line": [1],
            "raw": ['{"time": "2026-11-21T21:48:17Z", "msg": "websocket: bad handshake"}'],
        }
    )
    assert match_lines(lines, packs)["kind"].to_list() == ["handshake_failed"]


BAD_PACK = """\
pack: Bad Name
timestamps: [iso8601, sundial]
colour: blue
patterns:
  - id: ok-one
    kind: close_received
    literal: "received "
    regex: 'received (?P<code>\\d{4})'
    examples: ["received 1000"]
  - id: bad
    kind: closed_somehow
    side: middle
    literal: "xyz"
    regex: '(?P<nonsense>a)(b'
    examples: ["no literal here"]
  - id: ok-one
    kind: error
    literal: "(?<=x)"
    regex: '(?<=x)y'
"""


def test_pack_problems_point_at_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_PACK)
    pack, problems = load_pack(path)
    assert pack is None
    text = "\n".join(problems)
    expect = [
        f"{path}:1: pack: required",
        f"{path}:2: timestamps[1]: unknown format 'sundial'",
        f"{path}:3: colour: unknown field",
        f"{path}:11: patterns[1].kind: must be one of",
        f"{path}:12: patterns[1].side: must be one of",
        f"{path}:14: patterns[1].regex: invalid regex",
        f"{path}:15: patterns[1].examples[0]: does not contain the literal 'xyz'",
        f"{path}:19: patterns[2].regex: invalid regex",
        f"{path}:16: patterns[2].examples: at least one real line",
    ]
    for line in expect:
        assert line in text, (line, text)


def test_load_packs_gathers_every_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_PACK)
    (tmp_path / "syntax.yaml").write_text("pack: x\npatterns: [\n")
    with pytest.raises(PackError) as err:
        load_packs([tmp_path], builtin=False)
    assert any("syntax.yaml:3: YAML syntax" in p for p in err.value.problems)
    assert any("bad.yaml:3: colour" in p for p in err.value.problems)


def test_unknown_group_name_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "pack: g\npatterns:\n  - id: a\n    kind: error\n    literal: a\n"
        "    regex: '(?P<colour>a)(b)'\n    examples: [ab]\n"
    )
    _, problems = load_pack(path)
    assert any(":6: patterns[0].regex: unknown group(s) ['colour']" in p for p in problems)
    assert any("use (?:...)" in p for p in problems)


# --- the corpus: every real log yields events -------------------------------------------

CORPUS_LOGS = sorted(
    p
    for pattern in (
        "*/client.log",
        "*/server.log",
        "*/nginx-*.log",
        "*/haproxy.log",
        "*/squid-access.log",
        "*/client-denied.log",
        "*/envoy-access.log",
        "*/envoy-inner-access.log",
    )
    for p in CORPUS.glob(pattern)
    if p.parent.name != "not-websocket"  # curl -v trace: time of day only, no WS library
)


@pytest.mark.parametrize("path", CORPUS_LOGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_log_parses(path: Path) -> None:
    data = read_log(path, PACKS)
    assert data.events.height >= 1
    assert data.events.schema == LOG_EVENTS.polars
    assert data.events["time"].null_count() == 0
    assert data.lines_total == len(path.read_bytes().splitlines())
    assert not [w for w in data.warnings if "UTF-8" in w or "cut" in w]


def _events(rel: str) -> pl.DataFrame:
    return read_log(CORPUS / rel, PACKS).events


def test_idle_1011_client_log_has_net0001_close() -> None:
    ev = _events("idle-1011/client.log")
    closes = ev.filter(kind="close_received", close_code=1011)
    assert closes.height >= 2  # the DEBUG frame line and the exception text
    assert closes["close_reason"].str.contains("net0001").all()
    assert closes["side"].unique().to_list() == ["client"]
    assert ev.filter(kind="request_id")["request_id"].to_list() == [
        "ad3994ac-426c-4a35-8673-2cb4b3b4d521"
    ]
    assert ev.filter(kind="connection_open", pattern="wsdoctor-lab/lab-connected")[
        "local_port"
    ].to_list() == [37477]


def test_idle_1011_server_log_sees_its_own_close() -> None:
    ev = _events("idle-1011/server.log")
    sent = ev.filter(kind="close_sent", close_code=1011)
    assert sent.height >= 1 and set(sent["side"]) == {"server"}


def test_nginx_read_timeout_yields_proxy_timeout() -> None:
    ev = _events("nginx-read-timeout/nginx-error.log")
    hit = ev.filter(kind="proxy_timeout")
    assert hit.height == 1
    row = hit.row(0, named=True)
    assert (row["side"], row["remote"], row["line"]) == ("proxy", "127.0.0.11", 7)
    assert row["time_local_text"] == "2026/11/21 21:47:38" and row["tz_assumed"] is True


def test_nginx_access_log_times_and_status() -> None:
    ev = _events("nginx-no-upgrade/nginx-access.log")
    assert ev["kind"].to_list() == ["handshake_failed"] and ev["status"].to_list() == [426]
    assert ev["tz_assumed"].to_list() == [False]


def test_haproxy_cd_is_a_tunnel_timeout_with_client_port() -> None:
    ev = _events("haproxy-tunnel-timeout/haproxy.log").filter(kind="proxy_timeout")
    assert ev["local_port"].to_list() == [56345]


def test_squid_epoch_times() -> None:
    ev = _events("squid-connect/squid-access.log")
    assert ev["kind"].to_list() == ["proxy_refused", "proxy_closed"]  # squid's own 403
    assert str(ev["time"][1]) == "2026-11-21 21:49:26.573000+00:00"


@pytest.mark.parametrize(
    ("rel", "kind", "code"),
    [
        ("client-ping-timeout/client.log", "ping_timeout", 1011),
        ("close-and-drop/client.log", "abnormal_close", 1000),
        ("message-too-big-1009/client.log", "close_received", 1009),
        ("data-error-1008/client.log", "close_received", 1008),
        ("node-idle-1011/client.log", "close_received", 1011),
    ],
)
def test_corpus_expected_events(rel: str, kind: str, code: int) -> None:
    ev = _events(rel)
    assert ev.filter(kind=kind, close_code=code).height >= 1


def test_handshake_401_client_log() -> None:
    ev = _events("handshake-401/client.log").filter(kind="handshake_failed")
    assert ev["status"].to_list() == [401]


def test_log_tz_is_applied_to_zoneless_lines() -> None:
    utc = read_log(CORPUS / "nginx-read-timeout/nginx-error.log", PACKS).events
    ber = read_log(CORPUS / "nginx-read-timeout/nginx-error.log", PACKS, tz="Europe/Berlin").events
    assert (utc["time"] - ber["time"]).dt.total_hours().unique().to_list() == [1]


# --- literal lists and the timestamp fast path --------------------------------------------

ANY_OF_PACK = """\
pack: anyof
patterns:
  - id: killed
    kind: reset
    literal: [cD, sD]
    regex: ' (?:cD|sD)-- '
    examples: ["x cD-- y", "x sD-- y"]
  - id: wrong
    kind: reset
    literal: [aa, bb]
    regex: 'c'
    examples: ["c only"]
"""


def test_literal_may_be_a_list_any_of_which_a_match_contains(tmp_path: Path) -> None:
    path = tmp_path / "anyof.yaml"
    path.write_text(ANY_OF_PACK)
    _, problems = load_pack(path)
    assert problems == [
        f"{path}:12: patterns[1].examples[0]: does not contain the literal any of ['aa', 'bb']"
    ]
    pack, problems = load_pack(_without_wrong(path))
    assert not problems and pack is not None
    lines = pl.DataFrame({"line": [1, 2, 3], "raw": ["a cD-- b", "a sD-- b", "a xD-- b"]})
    assert match_lines(lines, [pack])["line"].to_list() == [1, 2]


def _without_wrong(path: Path) -> Path:
    path.write_text(ANY_OF_PACK.split("  - id: wrong")[0])
    return path


@pytest.mark.parametrize(
    "head",
    [
        "2026-11-21T20:25:49.603Z",  # the fast shape
        "2026-11-21T20:25:49.6031Z",  # one digit more: regex path
        "2026-11-21T20:25:49.603+01:00",
        "2026-02-30T20:25:49.603Z",  # no such day: null either way
        "x 2026-11-21T20:25:49.603Z",  # not at the start
        "2026-11-21 20:25:51,504",
    ],
)
def test_iso_fast_shape_parses_exactly_like_the_regex(head: str) -> None:
    df = pl.DataFrame({"m": [f"{head} INFO client: hello", "no time here"]})
    slow = logtime._parse_one(df, "m", "iso8601", "Europe/Berlin")
    fast = logtime.parse(df, "m", ["iso8601", "python-logging"], "Europe/Berlin")
    assert_frame_equal(fast, slow)


# --- real client logs (sample_captures/recorder/real_logs.py) ------------------------------

REAL_LOGS = CORPUS / "real-logs"
REAL_LOG_FILES = sorted(p for p in REAL_LOGS.rglob("*") if p.is_file() and p.name != "README.md")
# file -> (a substring of its key line, the event kind that line must yield)
REAL_KEY_LINES = {
    "browser/console.log": ("failed: HTTP Authentication failed", "handshake_failed"),
    "browser/cdp-console.json": ("net::ERR_CONNECTION_REFUSED", "handshake_failed"),
    "node-ws/client.log": ("error: Error: Unexpected server response: 401", "handshake_failed"),
    "deepgram-python-sdk/client.log": (
        "ConnectionClosed in AbstractSyncWebSocketClient._listening with code 1011",
        "close_received",
    ),
    "deepgram-js-sdk/client.log": ("(Status: 401, Request ID: ", "handshake_failed"),
    "go/client.log": ("websocket: close 1011 (internal server error): Deepgram", "close_received"),
    "okhttp/client.log": (
        "Expected HTTP 101 response but was '401 Unauthorized' (",
        "handshake_failed",
    ),
    "dotnet/client.log": (
        "CloseStatus=InternalServerError (1011), CloseStatusDesc",
        "close_received",
    ),
    "pino/client.log": ('"msg":"websocket closed: 1011 Deepgram did not', "close_received"),
    "python-json-logger/client.log": (
        '"message": "< CLOSE 1011 (internal error) Deepgram did not',
        "close_received",
    ),
}


def test_every_real_log_has_a_key_line() -> None:
    rels = {p.relative_to(REAL_LOGS).as_posix() for p in REAL_LOG_FILES}
    assert rels == set(REAL_KEY_LINES)


@pytest.mark.parametrize("path", REAL_LOG_FILES, ids=lambda p: str(p.relative_to(REAL_LOGS)))
def test_real_log_parses_and_its_key_line_yields_the_kind(path: Path) -> None:
    needle, kind = REAL_KEY_LINES[path.relative_to(REAL_LOGS).as_posix()]
    events = read_log(path, PACKS).events
    assert events.height >= 1
    lines = path.read_text().splitlines()
    numbers = [i for i, text in enumerate(lines, 1) if needle in text]
    assert numbers, f"key line {needle!r} is not in {path}"
    hit = events.filter(pl.col("line").is_in(numbers))
    assert hit.height >= 1 and kind in hit["kind"].to_list(), hit


def test_real_logs_key_fields() -> None:
    def ev(rel: str) -> pl.DataFrame:
        return read_log(REAL_LOGS / rel, PACKS).events

    browser = ev("browser/console.log")
    assert browser.filter(kind="close_received", close_code=1011).height == 2
    assert browser.filter(kind="abnormal_close", close_code=1006).height == 4
    node = ev("node-ws/client.log").filter(kind="handshake_failed")
    assert set(node["status"].drop_nulls().to_list()) == {401}
    js = ev("deepgram-js-sdk/client.log").filter(kind="handshake_failed", status=401)
    assert js["request_id"].drop_nulls().unique().len() == 1
    py = ev("deepgram-python-sdk/client.log")
    assert py.filter(kind="handshake_failed", status=401).height >= 1
    assert py.filter(kind="close_received", close_code=1011).height >= 1
    go = ev("go/client.log")
    assert go["time"].null_count() == 0 and go["tz_assumed"].all()  # Go's `log` has no zone
    assert go.filter(kind="handshake_failed", status=401)["pattern"].to_list() == ["go/coder-dial"]
    assert go.filter(kind="handshake_failed", pattern="go/gorilla-bad-handshake").height == 1
    refused = go.filter(kind="handshake_failed", pattern="go/dial-refused")
    assert refused.height == 2 and refused["remote"].str.starts_with("127.0.0.21:").all()
    closes = go.filter(kind="close_received")
    assert closes["close_code"].to_list() == [1011, 1011]  # coder prints the code's name
    assert closes["close_reason"].str.contains("dpgr.am/net0001").all()
    net0001 = "Deepgram did not receive audio data or a text message within the timeout window."

    # OkHttp 3.13.1: each Throwable twice (the app's onFailure line, the trace's head line)
    ok = ev("okhttp/client.log")
    timed = ok.filter(pl.col("time").is_not_null())
    assert timed.height == 9 and ok.filter(pl.col("time").is_null()).height == 4
    assert ok.filter(kind="handshake_failed", status=401).height == 2
    refused = ok.filter(kind="handshake_failed", pattern="okhttp/failed-to-connect")
    assert refused.height == 2 and refused["remote"].str.starts_with("127.0.0.21:").all()
    assert ok.filter(kind="connection_open").height == 3  # idle, abrupt, reset
    close = ok.filter(kind="close_received")
    assert close["close_code"].to_list() == [1011]
    assert close["close_reason"].str.starts_with(net0001).all()
    assert ok.filter(kind="connection_closed")["close_code"].to_list() == [1011]  # onClosed
    assert ok.filter(kind="abnormal_close")["pattern"].to_list() == ["okhttp/eof"] * 2  # FIN
    assert ok.filter(kind="reset")["pattern"].to_list() == ["okhttp/connection-reset"] * 2

    # Mono 6.8 ClientWebSocket: the 401 is only "Unable to connect to the remote server"
    dn = ev("dotnet/client.log")
    failed = dn.filter(kind="handshake_failed")
    assert failed.height == 4 and failed["status"].null_count() == 4  # no status in Mono's text
    assert failed["pattern"].to_list() == ["dotnet/connect-failed"] * 3 + ["dotnet/connect-refused"]
    assert dn.filter(kind="connection_open").height == 3
    close = dn.filter(kind="close_received")
    assert close["close_code"].to_list() == [1011]  # from `(int)CloseStatus`
    assert close["close_reason"].str.starts_with(net0001).all()
    abrupt = dn.filter(kind="abnormal_close")  # abrupt: e.Message + e; reset: e.Message
    assert abrupt.height == 3 and (abrupt["pattern"] == "dotnet/premature-close").all()
    assert dn.filter(kind="reset")["pattern"].to_list() == ["dotnet/connection-reset"]


def test_stamped_at_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "pack: s\nstamped_at: whenever\npatterns:\n  - id: a\n    kind: error\n"
        "    literal: a\n    regex: 'a'\n    examples: [a]\n"
    )
    _, problems = load_pack(path)
    assert problems == [f"{path}:2: stamped_at: must be one of event, request_start"]
    path.write_text(path.read_text().replace("whenever", "request_start"))
    pack, problems = load_pack(path)
    assert not problems and pack is not None and pack.stamped_at == "request_start"


# --- a user's own packs: `--rules DIR` with DIR/logs/*.yaml ------------------------------

USER_PACK = """\
pack: myapp
title: An app that logs JSON with its own field names
params:
  time_field: when
  message_field: text
patterns:
- id: gone
  kind: abnormal_close
  literal: socket gone
  regex: socket gone
  examples:
  - '{"when": "2026-11-22T01:00:00Z", "text": "socket gone"}'
"""


def test_a_rules_folder_brings_its_own_log_packs(tmp_path: Path) -> None:
    (tmp_path / "mine" / "logs").mkdir(parents=True)
    (tmp_path / "mine" / "logs" / "myapp.yaml").write_text(USER_PACK)
    log = tmp_path / "app.log"
    log.write_text(
        '{"when": "2026-11-22T01:00:00Z", "text": "connecting"}\n'
        '{"when": "2026-11-22T01:00:05Z", "text": "socket gone"}\n'
    )
    without = run_cli("analyze", log, "--format", "json", "-o", "-")  # no pack reads it
    assert without.returncode == 2 and "not a log wsdoctor reads" in without.stderr
    report = cli_json("analyze", log, "--rules", tmp_path / "mine")
    (session,) = report["sessions"]
    assert session["start"] == "2026-11-22T01:00:05.000000Z"
    assert [f["rule"] for f in report["findings"]] == ["log-abnormal-close"]
    ok = run_cli("rules", "validate", tmp_path / "mine", check=True)
    assert ok.stdout.strip() == f"ok: 0 rule(s), 1 log pack(s) in {tmp_path / 'mine'}"
    (tmp_path / "mine" / "logs" / "myapp.yaml").write_text(
        USER_PACK.replace("kind: abnormal_close", "kind: vanished")
    )
    bad = run_cli("rules", "validate", tmp_path / "mine")
    assert bad.returncode == 2 and "myapp.yaml:8: patterns[0].kind: must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr
