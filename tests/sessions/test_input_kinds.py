"""The input-kind registry (analyzer/ingest/kinds.py) is the one list of kinds.

Every registered kind can be sniffed, read and turned into sessions; the CLI's forcing
options, the rules' `sources:` vocabulary and the `source` column's values are the
registry's; and a kind registered at run time flows through classify -> load -> sessions
-> the reports' input list without any other module knowing of it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer import pipeline, session_schema
from analyzer.cli import analyze
from analyzer.errors import InputError, PackError
from analyzer.ingest import kinds
from analyzer.ingest.kinds import InputKind, Reading
from analyzer.inputs import Inputs, classify, input_kind
from analyzer.rules.loader import load_rules
from analyzer.rules.model import DEFAULT_SOURCES, SOURCES
from analyzer.sessions import build
from analyzer.sessions.dataset import Dataset
from analyzer.sessions.finish import finish_sessions

from conftest import REPO, SAMPLES

IDLE = SAMPLES / "idle-1011"
HAR = SAMPLES / "browser-har" / "session.har"
NAMES = kinds.names()


def test_every_kind_can_be_sniffed_read_and_made_into_sessions() -> None:
    assert NAMES[0] == build.BASE  # captures first: the others join and fold into them
    assert len(set(NAMES)) == len(NAMES)
    for kind in kinds.KINDS:
        assert callable(kind.sniff) and callable(kind.read), kind.name
        assert kind.noun and kind.name.isidentifier(), kind.name
        assert bool(kind.option) == bool(kind.help), kind.name
    assert set(build.JOINS) == set(NAMES)
    for name, join in build.JOINS.items():
        assert callable(join.add), name
        assert join.fold is None or callable(join.fold), name
    assert build.JOINS["har"].fold is not None  # the one kind folded into captures today


def test_the_cli_options_forcing_a_kind_are_the_registry_s() -> None:
    forcing = {o for p in analyze.params if p.name.endswith("_files") for o in p.opts}
    assert forcing == {f"--{k.option}" for k in kinds.KINDS if k.option}
    assert {"--log", "--har"} <= forcing  # the contract's options
    assert kinds.listing() in (analyze.help or "")


def test_rule_sources_and_the_source_column_are_the_registry_s(tmp_path: Path) -> None:
    assert SOURCES == NAMES
    assert tuple(k.name for k in kinds.KINDS if k.wire) == DEFAULT_SOURCES
    # The schema sits below ingest and cannot read the registry: it lists them again.
    listed = session_schema.SESSIONS.doc("source").split(":", 1)[1]
    assert tuple(v.strip() for v in listed.split("|")) == NAMES
    assert {s for r in load_rules([]) for s in r.sources} <= set(NAMES)
    rule = (REPO / "rules" / "missing-close" / "close-then-reset.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(rule + "\nsources: [netlog]\n")
    with pytest.raises(PackError) as err:
        load_rules([bad], builtin=False)
    assert f"sources must be a non-empty list of {', '.join(NAMES)}" in str(err.value.problems)


def test_sniffing_asks_the_kinds_in_registry_order(tmp_path: Path) -> None:
    renamed = tmp_path / "trace.har"  # a log whatever its name
    shutil.copy(IDLE / "client.log", renamed)
    as_json = tmp_path / "session.json"
    shutil.copy(HAR, as_json)
    got = [input_kind(p).name for p in (IDLE / "capture.pcap", as_json, renamed)]
    assert got == ["capture", "har", "log"]
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="not a packet capture, a HAR or a log file"):
        input_kind(binary)


def test_inputs_hold_every_kind_in_registry_order() -> None:
    got = classify([IDLE / "client.log", HAR, IDLE / "capture.pcap"])
    assert list(got.files) == list(NAMES)
    assert got.paths() == [IDLE / "capture.pcap", HAR, IDLE / "client.log"]
    with pytest.raises(ValueError, match="unknown input kind"):
        Inputs({"netlog": [HAR]})
    with pytest.raises(InputError, match="no input: give a packet capture, a HAR or a log"):
        classify([])


# --- a kind registered at run time -----------------------------------------------------
# `wstoy`: a text file `#wstoy` then one connection per line, `START END PATH STATUS`.
TOY_MAGIC = b"#wstoy\n"


def _toy_read(paths: list[Path], how: Reading, first: int) -> list[Any]:
    return [(p, p.read_text().splitlines()[1:]) for p in paths]


def _toy_join(data: Dataset, files: list[Any], first: int, keylog: Path | None) -> Dataset:
    rows = []
    for file_no, (path, lines) in enumerate(files):
        for n, line in enumerate(lines):
            start, end, url_path, status = line.split()
            rows.append(
                {
                    "id": f"t{file_no}-{n}",
                    "source": "wstoy",
                    "input": str(path),
                    "input_index": first + file_no,
                    "kind": "websocket" if status == "101" else "rejected",
                    "start": dt.datetime.fromisoformat(start),
                    "end": dt.datetime.fromisoformat(end),
                    "path": url_path,
                    "status": int(status),
                }
            )
    table = pl.DataFrame(rows).with_columns(
        pl.col("start", "end").dt.cast_time_unit("ns"), pl.col("input_index").cast(pl.Int32)
    )
    data.sessions = pl.concat([data.sessions, finish_sessions(table, counts=[])])
    data.files["wstoy"] = [{"path": str(p), "sessions": len(lines)} for p, lines in files]
    return data


TOY = InputKind(
    "wstoy", "a toy trace", lambda head: head.startswith(TOY_MAGIC), _toy_read, wire=False
)


@pytest.fixture
def toy_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered the way a new kind is: a row before `log` (the catch-all) and a join."""
    monkeypatch.setattr(kinds, "KINDS", (*kinds.KINDS[:-1], TOY, kinds.KINDS[-1]))
    monkeypatch.setitem(build.JOINS, "wstoy", build.Join(_toy_join))


def _toy_file(tmp_path: Path) -> Path:
    toy = tmp_path / "trace.txt"
    toy.write_bytes(
        TOY_MAGIC + b"2024-05-01T10:00:00+00:00 2024-05-01T10:00:09+00:00 /v1/listen 101\n"
        b"2099-01-01T00:00:00+00:00 2099-01-01T00:00:01+00:00 /v1/speak 403\n"
    )
    return toy


def test_a_kind_registered_at_run_time_flows_through_to_the_reports(
    toy_kind: None, tmp_path: Path
) -> None:
    toy = _toy_file(tmp_path)
    inputs = classify([IDLE / "client.log", toy, IDLE / "capture.pcap"])
    assert inputs["wstoy"] == [toy]
    data = pipeline.load(inputs)
    mine = data.sessions.filter(pl.col("source") == "wstoy")
    assert mine["path"].to_list() == ["/v1/listen", "/v1/speak"]
    assert mine["input_index"].to_list() == [1, 1]  # after the capture, before the log
    assert data.sessions["id"].to_list() == [f"s{i}" for i in range(1, data.sessions.height + 1)]
    assert data.sessions["source"].to_list()[-1] == "wstoy"  # 2099: the last to start
    described = [(Path(i["path"]).name, i["kind"]) for i in pipeline.describe_inputs(data)]
    assert described == [("capture.pcap", "pcap"), ("trace.txt", "wstoy"), ("client.log", "log")]
    assert data.files["wstoy"] == [{"path": str(toy), "sessions": 2}]
    rules = load_rules([])
    found = pipeline.diagnose(rules, data)  # no rule reads a kind its sources do not name
    toy_ids = set(mine["id"].to_list())
    assert not [f for f in found if f["session"] in toy_ids]


def test_a_run_time_kind_alone_needs_no_other_kind(toy_kind: None, tmp_path: Path) -> None:
    data = pipeline.load(classify([_toy_file(tmp_path)]))
    assert data.sessions["id"].to_list() == ["s1", "s2"]
    assert not data.captures and not data.hars and not data.logs
