"""Hostile HAR files and log timestamps (../shared/crashers, read in place): every
malformed HAR is either analysed (a broken optional field with a warning) or refused with
one line naming the file and the problem; log times outside the plausible window are
refused with a warning, never wrapped around the nanosecond clock."""

from __future__ import annotations

import ast
import contextlib
import copy
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer import pipeline
from analyzer.cli import main
from analyzer.errors import InputError
from analyzer.ingest import har, har_messages, logtime
from analyzer.ingest.har import read_har
from analyzer.ingest.logs import read_log

from conftest import CRASHERS, SAMPLES, cli_json, run_cli

DEEP = CRASHERS / "D-har-deep-json"
TYPES = CRASHERS / "D-har-wrong-types"
WRAP = CRASHERS / "D-log-timestamp-wrap"


# The 327 wrong-type variants -----------------------------------------------------------


def _har_types_lists() -> dict[str, Any]:
    """BASE, PATHS, VALUES and SPECIAL exactly as har_types.py defines them: only those
    assignments are run (the script itself chdirs into /tmp and runs the campaign)."""
    tree = ast.parse((TYPES / "har_types.py").read_text())
    wanted = {"BASE", "PATHS", "VALUES", "SPECIAL"}
    body = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and {getattr(t, "id", "") for t in node.targets} & wanted
    ]
    space: dict[str, Any] = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), "har_types.py", "exec"), space)
    return space


def _setp(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _variants() -> list[tuple[str, str]]:
    """(tag, file text) for the whole family har_types.py generates, in its order."""
    lists = _har_types_lists()
    base, paths = lists["BASE"], lists["PATHS"]
    out = [("base", json.dumps(base))]
    for path in paths:
        for value in lists["VALUES"] + lists["SPECIAL"].get(path, []):
            doc = copy.deepcopy(base)
            _setp(doc, path, value)
            out.append((f"t{len(out) - 1}", json.dumps(doc)))
    for j, value in enumerate([None, 0, "str", [], {}]):
        doc = copy.deepcopy(base)
        for path in paths[5:]:
            with contextlib.suppress(TypeError, KeyError, IndexError):
                _setp(doc, path, copy.deepcopy(value))
        out.append((f"all{j}", json.dumps(doc)))
    raw = json.dumps(base)
    out.append(("nan", raw.replace('"time": 1795311950.1', '"time": NaN')))
    out.append(("inf", raw.replace('"time": 1795311950.1', '"time": Infinity')))
    out.append(("nan2", raw.replace('"time": 12000.5', '"time": NaN')))
    return out


def _run(argv: list[str]) -> tuple[int, str]:
    """The CLI in-process, as har_types.py ran it: (exit code, stderr)."""
    err = io.StringIO()
    code: Any = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code or 0
    return code, err.getvalue()


def test_the_family_is_the_reproducer_s_327_and_keeps_its_samples() -> None:
    variants = dict(_variants())
    assert len(variants) == 327
    for kept in TYPES.glob("t*.har"):  # the folder's samples are members of the family
        assert json.loads(kept.read_text()) == json.loads(variants[kept.stem]), kept.name


def test_every_wrong_type_variant_is_a_report_or_one_named_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, JSON only and the rules loaded once (three quarters of a run), to stay
    quick: the rules do not depend on the HAR; the kept samples below get every format."""
    rules: list[Any] = []
    load = pipeline.select_rules

    def once(settings: Any) -> list[Any]:
        if not rules:
            rules.extend(load(settings))
        return rules

    monkeypatch.setattr(pipeline, "select_rules", once)
    failures = []
    for tag, text in _variants():
        path = tmp_path / f"{tag}.har"
        path.write_text(text)
        out = tmp_path / f"{tag}.json"
        code, err = _run(["analyze", str(path), "--format", "json", "-o", str(out)])
        lines = [line for line in err.splitlines() if line.strip()]
        if code in (0, 1):
            ok = out.is_file() and "Traceback" not in err
        else:
            ok = code == 2 and len(lines) == 1 and str(path) in lines[0]
            ok = ok and "internal error" not in err
        if not ok:
            failures.append((tag, code, lines[-3:]))
    assert not failures, failures


def test_the_kept_samples_from_the_folder(tmp_path: Path) -> None:
    """Each file the reproducer kept, through the real CLI in a subprocess."""
    for path in sorted(TYPES.glob("*.har")):
        out = tmp_path / path.stem
        proc = run_cli("analyze", path, "--format", "html,md,json", "-o", out)
        lines = proc.stderr.splitlines()
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
        if proc.returncode == 2:
            assert len(lines) == 1 and str(path) in lines[0], (path.name, lines)
        else:
            written = {p.suffix for p in tmp_path.glob(f"{path.stem}.*")}
            assert proc.returncode == 0 and written == {".html", ".md", ".json"}, path.name


# Policy per field ----------------------------------------------------------------------


def _base() -> dict[str, Any]:
    return copy.deepcopy(_har_types_lists()["BASE"])


def _entry(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["log"]["entries"][0]


def _read(tmp_path: Path, doc: dict[str, Any]) -> har.HarData:
    path = tmp_path / "x.har"
    path.write_text(json.dumps(doc))
    return read_har(path)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        (("startedDateTime",), None, "entry 0 startedDateTime None is not a date"),
        (("startedDateTime",), "9999-12-31T23:59:59-10:00", "not a date between 2000 and"),
        (("startedDateTime",), "2026-13-45T99:99:99Z", "is not an ISO 8601 date"),
        (("startedDateTime",), "1970-01-01T00:00:00Z", "not a date between 2000 and 2099"),
        (("request",), "str", "entry 0 request is not an object"),
        (("request", "url"), "ws://h:99999/", "request.url is not a URL (Port out of range"),
        (("request", "url"), "ws://[::1/", "request.url is not a URL"),
        (("request", "headers"), {}, "request.headers is not a list"),
        (("response",), [], "entry 0 response is not an object"),
        (("response", "status"), 99999, "response.status 99999 is not an HTTP status"),
        (("response", "status"), "101", "response.status '101' is not an HTTP status"),
        (("_webSocketMessages",), "str", "_webSocketMessages is not a list"),
    ],
)
def test_a_broken_required_field_is_refused_by_name(
    tmp_path: Path, field: tuple[str, ...], value: Any, needle: str
) -> None:
    doc = _base()
    _setp(_entry(doc), field, value)
    with pytest.raises(InputError) as err:
        _read(tmp_path, doc)
    assert needle in str(err.value) and str(tmp_path / "x.har") in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        (("time",), 1e300, "entry 0 time 1e+300 ms ends past 2099"),
        (("time",), "str", "entry 0 time 'str' is not a number of ms"),
        (("timings", "wait"), 1e20, "entry 0 timings.wait 1e+20 ms ends past 2099"),
        (("timings",), [], "entry 0 timings (a list) is not an object"),
        (("request", "method"), 0, "entry 0 request.method 0 is not a string"),
        (("request", "cookies"), "str", "entry 0 request.cookies is not a list"),
        (("request", "headers", 0), None, "request.headers has 1 item(s) that are not"),
        (("response", "statusText"), [], "response.statusText (a list) is not a string"),
        (("serverIPAddress",), 0, "entry 0 serverIPAddress 0 is not a string"),
        (("_webSocketMessages", 0, "time"), 1e11, "1 of 2 message(s) wsdoctor cannot use"),
        (("_webSocketMessages", 0, "opcode"), 255, "message 0 opcode 255 is not 0-15"),
        (("_webSocketMessages", 0, "data"), {}, "message 0 data (a nested value) is not a"),
    ],
)
def test_a_broken_optional_field_is_a_warning_and_the_entry_is_read(
    tmp_path: Path, field: tuple[str, ...], value: Any, needle: str
) -> None:
    doc = _base()
    _setp(_entry(doc), field, value)
    data = _read(tmp_path, doc)
    assert data.sessions.height == 1
    (warning,) = [w for w in data.warnings if needle in w]
    assert warning.startswith(str(tmp_path / "x.har")) and warning.endswith("; ignored")


def test_unused_fields_are_not_checked(tmp_path: Path) -> None:
    """A field wsdoctor never reads may hold anything, and so may non-WebSocket entries."""
    doc = _base()
    _entry(doc)["cache"] = [None, {"a": [1, [2, [3]]]}]
    doc["log"]["pages"] = "str"
    doc["log"]["entries"].append({"request": 0, "response": "x", "startedDateTime": None})
    data = _read(tmp_path, doc)
    assert data.sessions.height == 1 and data.warnings == []


def test_credentials_in_the_url_authority_stay_out_of_the_session(tmp_path: Path) -> None:
    doc = _base()
    _entry(doc)["request"]["url"] = "wss://user:abcdLEAKP@api.example.com:8443/v1/listen"
    data = _read(tmp_path, doc)
    assert data.sessions["url"].to_list() == ["wss://api.example.com:8443/v1/listen"]
    assert "LEAK" not in str(data.handshakes.to_dicts())


# Deep nesting and JSON-level problems --------------------------------------------------


@pytest.mark.parametrize("name", ["H1-deep-array.har", "H1b-deep-object.har"])
def test_deep_nesting_is_one_line_naming_the_file(name: str) -> None:
    proc = run_cli("analyze", DEEP / name, "--format", "json", "-o", "-")
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert str(DEEP / name) in line and "nested more than 512 levels deep in entry 0" in line


def test_deep_values_in_unread_fields_are_skipped_not_built(tmp_path: Path) -> None:
    """Chrome's `_initiator` stacks nest a few dozen levels: fine, and never built."""
    doc = _base()
    deep: Any = {}
    for _ in range(200):
        deep = {"parent": deep}
    _entry(doc)["_initiator"] = deep
    assert _read(tmp_path, doc).sessions.height == 1


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ('"time": NaN', "invalid JSON in entry 0 _webSocketMessages item 0"),
        ('"time": 1000000000000000000000000000000', "integer overflow"),
    ],
)
def test_what_is_not_json_names_the_entry_and_field(tmp_path: Path, raw: str, needle: str) -> None:
    path = tmp_path / "x.har"
    path.write_text(json.dumps(_base()).replace('"time": 1795311950.1', raw))
    with pytest.raises(InputError) as err:
        read_har(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


# Streaming -----------------------------------------------------------------------------


def test_messages_across_chunks_come_out_whole_and_in_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunked buffering (CHUNK_MESSAGES) loses and reorders nothing; an out-of-order
    message list is sorted by time, ties kept in file order."""
    monkeypatch.setattr(har_messages, "CHUNK_MESSAGES", 3)
    doc = _base()
    times = [1795311950.0 + t for t in (5, 1, 3, 3, 2, 9, 0)]
    _entry(doc)["_webSocketMessages"] = [
        {"type": "send", "time": t, "opcode": 1, "data": f'{{"type":"m{i}"}}'}
        for i, t in enumerate(times)
    ]
    frames = _read(tmp_path, doc).frames
    want = sorted(range(len(times)), key=lambda i: times[i])
    assert frames["json_type"].to_list() == [f"m{i}" for i in want]
    assert frames["time"].is_sorted() and frames.height == len(times)


def test_the_sample_har_reads_the_same_through_the_cli() -> None:
    report = cli_json("analyze", SAMPLES / "browser-har" / "session.har")
    assert [s["source"] for s in report["sessions"]] == ["har"]


# Log timestamps ------------------------------------------------------------------------


def _parse(line: str, formats: list[str]) -> dict[str, Any]:
    return logtime.parse(pl.DataFrame({"m": [line]}), "m", formats).row(0, named=True)


@pytest.mark.parametrize(
    ("line", "formats", "text"),
    [
        ("9999-12-31T20:25:49.598Z x", ["iso8601"], "9999-12-31T20:25:49.598Z"),  # fast path
        ("0001-01-01 20:25:49,598 x", ["python-logging"], "0001-01-01 20:25:49,598"),
        ("1970-01-01T00:00:00+02:00 x", ["iso8601"], "1970-01-01T00:00:00+02:00"),
        ("9999/12/31 20:25:49 [error]", ["nginx"], "9999/12/31 20:25:49"),
        ("[31/Dec/9999:20:25:49 +0000] GET", ["clf"], "[31/Dec/9999:20:25:49 +0000]"),
        ("9999999999.5 GET /", ["epoch"], "9999999999.5"),
        ("0946684799 GET /", ["epoch"], "0946684799"),  # 1999-12-31
    ],
)
def test_a_timestamp_outside_the_window_is_found_and_refused(
    line: str, formats: list[str], text: str
) -> None:
    row = _parse(line, [*formats, "epoch"])
    assert row["time"] is None and row["time_local_text"] == text


def test_the_window_edges_are_read() -> None:
    first = _parse("2000-01-01T00:00:00.000Z x", ["iso8601"])["time"]
    last = _parse("2099/12/31 23:59:59 x", ["nginx"])["time"]
    assert first == dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert last == dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


@pytest.mark.parametrize("name", ["L7a-year9999.log", "L7c-year0001.log"])
def test_a_log_of_impossible_years_has_no_times_and_says_so(name: str) -> None:
    data = read_log(WRAP / name)
    timed = data.events["time"].drop_nulls()
    assert timed.is_empty(), timed.to_list()  # was 1816 / 1754 (wrapped)
    (warning,) = [w for w in data.warnings if "timestamp not between" in w]
    assert warning.startswith(f"{WRAP / name}: {data.events.height} line(s)")


def test_mixed_years_keep_only_the_plausible_times() -> None:
    """One real 2026 session among 9999, 1970 and 0001 lines: its duration is seconds,
    not the 8.6e9 s the wrapped times made."""
    report = cli_json("analyze", WRAP / "L7d-mixed-years.log")
    (session,) = report["sessions"]
    assert session["start"].startswith("2026-11-21") and session["duration_s"] < 60
    data = read_log(WRAP / "L7d-mixed-years.log")
    times = data.events["time"].drop_nulls()
    assert times.dt.year().unique().to_list() == [2026]
    refused = data.events["time"].null_count()
    assert any(f": {refused} line(s) have a timestamp not between" in w for w in data.warnings)
