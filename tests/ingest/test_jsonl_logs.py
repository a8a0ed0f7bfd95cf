"""The `jsonl` pack on REAL JSON-lines logs (pino, python-json-logger) and its params."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from analyzer.ingest import logtime
from analyzer.ingest.logpacks import load_pack, load_packs
from analyzer.ingest.logs import match_lines, read_log

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "sample_captures" / "real-logs"
PINO = REAL / "pino" / "client.log"
PJL = REAL / "python-json-logger" / "client.log"
JSONL = ROOT / "rules" / "logs" / "jsonl.yaml"
PACKS = load_packs()
NET0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


# --- pino 9 (real) ---------------------------------------------------------------------------


def test_pino_close_1011_with_utc_time_from_epoch_ms() -> None:
    events = read_log(PINO, PACKS).events
    close = events.filter(kind="close_received")
    assert close["close_code"].to_list() == [1011]
    assert close["close_reason"].to_list() == [NET0001]
    assert close["pattern"].to_list() == ["jsonl/app-close"]
    line = _line_of(PINO, "websocket closed: 1011")
    assert close["line"].to_list() == [line]
    raw = json.loads(PINO.read_text().splitlines()[line - 1])
    want = datetime.fromtimestamp(raw["time"] / 1000, UTC)
    assert close["time"].to_list() == [want] and close["tz_assumed"].to_list() == [False]
    assert events["time"].null_count() == 0


def test_pino_401_refused_and_1006() -> None:
    events = read_log(PINO, PACKS).events
    failed = events.filter(kind="handshake_failed")
    assert failed["pattern"].to_list() == ["node-ws/unexpected-response", "node-ws/econnrefused"]
    assert failed["status"].to_list() == [401, None]
    assert failed["remote"][1].startswith("127.0.0.21:")
    # ws reports 1006 for the 401, the refused connect and the abrupt drop
    assert events.filter(kind="abnormal_close")["close_code"].to_list() == [1006] * 3


# --- python-json-logger (real) -----------------------------------------------------------------


def test_python_json_logger_lines() -> None:
    events = read_log(PJL, PACKS).events
    assert events["time"].null_count() == 0 and events["tz_assumed"].all()  # asctime: no zone
    frame = events.filter(pattern="python-websockets/frame-close-received")
    assert frame["close_code"].to_list() == [1011]
    assert frame["close_reason"].str.ends_with("https://dpgr.am/net0001").all()
    exc = events.filter(pattern="python-websockets/exc-received-then-sent")
    assert exc["close_code"].to_list() == [1011] and exc["close_reason"].to_list() == [NET0001]
    refused = events.filter(kind="handshake_failed")
    assert refused["status"].to_list() == [401, None]  # the 401, then the refused connect
    assert refused["remote"].to_list() == [None, "127.0.0.21:45193"]  # the address tuple
    assert events.filter(kind="abnormal_close").height == 1  # abrupt: no close frame
    line = _line_of(PJL, "< CLOSE 1011")
    asctime = json.loads(PJL.read_text().splitlines()[line - 1])["asctime"]
    want = datetime.strptime(asctime, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
    assert frame["time"].to_list() == [want]  # read in the default --log-tz UTC


def test_python_json_logger_asctime_in_log_tz() -> None:
    events = read_log(PJL, PACKS, tz="Europe/Berlin").events
    close = events.filter(pattern="python-websockets/frame-close-received")
    utc = read_log(PJL, PACKS).events.filter(pattern="python-websockets/frame-close-received")
    assert (utc["time"][0] - close["time"][0]).total_seconds() == 3600  # CET in November


# --- params: lists, strings, problems ----------------------------------------------------------


def _pack_with(tmp_path: Path, params: str) -> tuple[object, list[str], Path]:
    text = JSONL.read_text()
    start, end = text.index("params:\n"), text.index("patterns:\n")
    path = tmp_path / "jsonl.yaml"
    path.write_text(text[:start] + params + text[end:])
    pack, problems = load_pack(path)
    return pack, problems, path


def _events(line: str, packs: list) -> pl.DataFrame:
    return match_lines(pl.DataFrame({"line": [1], "raw": [line]}), packs)


def test_params_are_candidate_lists() -> None:
    (pack,) = (p for p in PACKS if p.name == "jsonl")
    assert pack.params["message_field"][:2] == ("message", "msg")
    assert "asctime" in pack.params["time_field"] and "levelname" in pack.params["level_field"]
    # Logstash/ECS-style keys
    line = '{"@timestamp": "2026-11-22T01:41:20.388Z", "@message": "websocket: bad handshake"}'
    hit = _events(line, PACKS)
    assert hit["kind"].to_list() == ["handshake_failed"]
    assert hit["time"].to_list() == [datetime(2026, 11, 22, 1, 41, 20, 388000, UTC)]


def test_first_present_key_wins(tmp_path: Path) -> None:
    pack, problems, _ = _pack_with(tmp_path, "params:\n  message_field: [note, msg]\n")
    assert not problems and pack is not None
    packs = [pack, *(p for p in PACKS if p.name != "jsonl")]
    both = '{"note": "websocket: bad handshake", "msg": "Unexpected server response: 401"}'
    assert _events(both, packs)["pattern"].to_list() == ["go/gorilla-bad-handshake"]
    only_msg = '{"msg": "Unexpected server response: 401"}'
    assert _events(only_msg, packs)["status"].to_list() == [401]


def test_a_string_param_still_works(tmp_path: Path) -> None:
    params = "params:\n  time_field: time\n  level_field: level\n  message_field: msg\n"
    pack, problems, _ = _pack_with(tmp_path, params)
    assert not problems and pack is not None
    assert pack.params["message_field"] == ("msg",)
    packs = [pack, *(p for p in PACKS if p.name != "jsonl")]
    line = PINO.read_text().splitlines()[_line_of(PINO, "websocket closed: 1011") - 1]
    assert _events(line, packs)["close_code"].to_list() == [1011]
    # `message` is no longer a candidate: patterns see `msg`
    line = '{"msg": "retrying", "message": "Unexpected server response: 401"}'
    assert _events(line, packs).is_empty()


def test_a_line_without_mapped_fields_keeps_its_text() -> None:
    # the JS SDK's real console.error object dump opens with a bare `{` line
    lines = pl.DataFrame(
        {"line": [1, 2], "raw": ["{", '{"msg": "Unexpected server response: 401"}']}
    )
    assert match_lines(lines, PACKS)["line"].to_list() == [2]
    dump = '{ code: 1011, reason: "x" } websocket: bad handshake'  # not JSON: its own text
    assert _events(dump, PACKS)["pattern"].to_list() == ["go/gorilla-bad-handshake"]


def test_a_dotted_key_reads_a_nested_field(tmp_path: Path) -> None:
    pack, problems, _ = _pack_with(tmp_path, "params:\n  message_field: [err.message]\n")
    assert not problems and pack is not None
    packs = [pack, *(p for p in PACKS if p.name != "jsonl")]
    line = '{"err": {"message": "Unexpected server response: 401"}, "msg": "ws error"}'
    assert _events(line, packs)["status"].to_list() == [401]


@pytest.mark.parametrize(
    ("params", "line", "message"),
    [
        ("params:\n  message_field: {a: b}\n", 2, "params.message_field: must be a JSON key"),
        ("params:\n  message_field: 42\n", 2, "params.message_field: must be a JSON key"),
        ("params:\n  message_field: []\n", 2, "params.message_field: an empty list"),
        ("params:\n  message_field:\n  - msg\n  - 7\n", 4, "params.message_field[1]: must be"),
        ('params:\n  message_field: "it\'s"\n', 2, "params.message_field: a JSON key without"),
        ("params:\n  colour_field: x\n  message_field: m\n", 2, "params.colour_field: unknown"),
        ("params: [msg]\n", 1, "params: must map a param"),
    ],
)
def test_bad_params_are_file_line_problems(
    tmp_path: Path, params: str, line: int, message: str
) -> None:
    _, problems, path = _pack_with(tmp_path, params)
    start = JSONL.read_text()[: JSONL.read_text().index("params:\n")].count("\n")
    want = f"{path}:{start + line}: {message}"
    assert any(p.startswith(want) for p in problems), (want, problems)


# --- timestamps: epoch milliseconds ------------------------------------------------------------


def test_epoch_reads_13_digit_milliseconds() -> None:
    df = pl.DataFrame({"m": ["1795311672411 30 x", "1795297766.573 y", "17953116724110 z"]})
    got = logtime.parse(df, "m", ["epoch"])
    assert got["time"].to_list() == [
        datetime(2026, 11, 22, 1, 41, 12, 411000, UTC),
        datetime(2026, 11, 21, 21, 49, 26, 573000, UTC),
        None,  # 14 digits: neither seconds nor milliseconds
    ]
    assert got["tz_assumed"].to_list() == [False, False, None]


# --- plain text is untouched -------------------------------------------------------------------


def test_plain_text_lines_do_not_reach_the_json_patterns() -> None:
    node = REAL / "node-ws" / "client.log"
    events = read_log(node, PACKS).events
    assert not events["pattern"].str.starts_with("jsonl/").any()
    mixed = pl.DataFrame(
        {
            "line": [1, 2],
            "raw": [
                "2026-11-22T00:29:08.859Z idle close 1011 Deepgram did not receive audio",
                PINO.read_text().splitlines()[_line_of(PINO, "websocket closed: 1011") - 1],
            ],
        }
    )
    hit = match_lines(mixed, PACKS)  # the plain line is node-ws's own, not jsonl's
    assert hit["pattern"].to_list() == ["node-ws/app-close", "jsonl/app-close"]
    assert hit["close_code"].to_list() == [1011, 1011]


# --- the CLI, log alone ----------------------------------------------------------------------


def test_cli_pino_log_alone_finds_the_idle_timeout(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = run_cli("analyze", PINO, "--format", "json", "-o", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert [i["kind"] for i in report["inputs"]] == ["log"]
    sessions = [s for s in report["sessions"] if s["log"]["log_close_code"] == 1011]
    assert len(sessions) == 1
    s = sessions[0]
    assert s["log"]["log_close_reason"] == NET0001
    found = {(f["rule"], f["session"]) for f in report["findings"]}
    assert ("log-net0001-close", s["id"]) in found
    idle = [f for f in report["findings"] if f["category"] == "idle-timeout"]
    assert [f["session"] for f in idle] == [s["id"]]


def test_an_eleven_digit_number_is_not_an_epoch() -> None:
    """Seconds since 1970 have 10 digits until 2286; 11 would overflow the ns clock and
    wrap to a made-up date (1954 for 17953116674)."""
    df = pl.DataFrame({"m": ["17953116674 GET /", "1795311667 GET /", "1795311667476 x"]})
    times = logtime.parse(df, "m", ["epoch"])["time"].to_list()
    assert times[0] is None
    assert str(times[1]) == "2026-11-22 01:41:07+00:00"
    assert str(times[2]) == "2026-11-22 01:41:07.476000+00:00"
