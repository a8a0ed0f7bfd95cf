"""Small binary payloads from the first pass itself (issue 15: no second full tshark pass).

A tshark that runs Lua loads analyzer/ingest/small_binary.lua, a WebSocket heuristic that
prints the payloads the targeted payload pass (data.data by display filter) would read.
Every sample capture (with its key log), Zeek trace and external capture is analysed
both ways through the real engine, and the JSON reports must be equal, byte for byte;
the binary KeepAlive sample must show that the first pass found its payloads alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest
from ingest.test_shard_identity import CAPTURES, _name

from analyzer.ingest import dissect, tshark
from analyzer.ingest.dissect import Dissection
from analyzer.inputs import classify
from analyzer.pipeline import load
from analyzer.report import json_report

from conftest import SAMPLES, analysis_of, loaded

KEEPALIVE_BINARY = SAMPLES / "keepalive-binary" / "capture.pcap"


def test_this_tshark_runs_the_script() -> None:
    """Else the tests below compare the payload pass with itself."""
    assert tshark.find_tshark().lua


@pytest.mark.parametrize("case", CAPTURES, ids=map(_name, CAPTURES))
def test_lua_pass_reports_what_the_payload_pass_reports(case, monkeypatch) -> None:
    capture, keylog = case
    with_lua = json_report.render(analysis_of(loaded(capture, keylog)))
    real = tshark.find_tshark
    monkeypatch.setattr(tshark, "find_tshark", lambda *a: dataclasses.replace(real(*a), lua=False))
    without = json_report.render(analysis_of(load(classify([capture]), keylog)))
    assert with_lua == without


def test_the_first_pass_alone_finds_binary_json(monkeypatch) -> None:
    """No payload tshark runs, and the KeepAlive messages sent as binary frames carry
    their JSON payload."""

    def no_payload_pass(*args: object) -> None:
        raise AssertionError("the payload pass ran")

    monkeypatch.setattr(dissect, "_payloads", no_payload_pass)
    job = Dissection(Path(KEEPALIVE_BINARY), None, tshark.find_tshark(), 0)
    result = dissect.dissect(job)
    assert result.payloads
    keepalive = b'{"type": "KeepAlive"}'.hex()
    printed = result.packets["ws_binary"].drop_nulls().explode()
    assert printed.len() > 0 and set(printed) == {keepalive}
    typed = result.frames.filter(pl.col("opcode") == "binary", pl.col("json_type").is_not_null())
    assert typed.height == printed.len() and set(typed["json_type"]) == {"KeepAlive"}


def test_a_tshark_that_cannot_run_it_is_told_apart(tmp_path) -> None:
    """A binary that fails the probe (no Lua, Lua disabled) gets the payload pass."""
    assert tshark._runs_script("/bin/false") is False
    assert tshark._runs_script(str(tmp_path / "missing")) is False


@pytest.mark.parametrize("value", ["true", 1, None, [True]])
def test_a_cached_answer_must_be_a_boolean(value) -> None:
    with pytest.raises(TypeError):
        tshark._flag(value)
