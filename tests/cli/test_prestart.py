"""tshark started before the engine is imported (issue 15: start tshark first).

The console script guesses the first pass's argv from the command line
(analyzer/ingest/prestart.py); the engine adopts the process only for exactly that argv.
Real tshark on real samples: an adopted guess reports what a run without one reports, a
wrong guess is killed, and no guess is made for a run that is not one capture read in
one piece.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest

from analyzer.cli import cli
from analyzer.ingest import prestart, tshark_argv
from analyzer.ingest.capture import Parallel
from analyzer.ingest.tshark import find_tshark
from analyzer.inputs import classify
from analyzer.pipeline import load
from analyzer.report import json_report

from conftest import EXTERNAL, SAMPLES, analysis_of, loaded

IDLE = SAMPLES / "idle-1011" / "capture.pcap"
WSS = SAMPLES / "wss-keylog" / "capture.pcap"
WSS_KEYS = SAMPLES / "wss-keylog" / "keys.log"
# Its first pass prints 210 KB: more than a pipe holds, so its tshark cannot end unread.
BIG = EXTERNAL / "pcapplusplus-650HttpResponses.pcap"


@pytest.fixture
def adopted(monkeypatch) -> list[bool]:
    """Whether each dissection of the test found its guess."""
    seen: list[bool] = []
    real = prestart.adopt

    def spy(argv: list[str]) -> subprocess.Popen[bytes] | None:
        proc = real(argv)
        seen.append(proc is not None)
        return proc

    monkeypatch.setattr(prestart, "adopt", spy)
    return seen


def test_the_options_taking_a_value_are_the_clis() -> None:
    """Else a value would be taken for an input (or an input for a value)."""
    command = cli.commands["analyze"]
    valued = {
        name
        for p in command.params
        if isinstance(p, click.Option) and not p.is_flag
        for name in p.opts
    }
    assert valued == prestart.VALUED


@pytest.mark.parametrize(
    ("args", "keylog"),
    [
        ([str(IDLE), "--jobs", "1"], None),
        (["-q", str(WSS), "--keylog", str(WSS_KEYS), "-j1", "--format", "json"], WSS_KEYS),
    ],
)
def test_an_adopted_guess_reports_alike(args, keylog, adopted) -> None:
    prestart.speculate(["analyze", *args])
    capture = next(Path(a) for a in args if a.endswith(".pcap"))
    data = load(classify([capture]), keylog, parallel=Parallel(jobs=1))
    assert adopted == [True]
    report = json_report.render(analysis_of(data))
    assert report == json_report.render(analysis_of(loaded(capture, keylog)))


def test_a_wrong_guess_is_killed(adopted) -> None:
    prestart.speculate(["analyze", str(BIG), "--jobs", "1"])
    [guess] = prestart._STARTED.values()
    data = load(classify([WSS]), WSS_KEYS, parallel=Parallel(jobs=1))
    assert adopted == [False] and guess.returncode == -signal.SIGKILL and not prestart._STARTED
    report = json_report.render(analysis_of(data))
    assert report == json_report.render(analysis_of(loaded(WSS, WSS_KEYS)))


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", str(IDLE)],  # not analyze
        ["analyze"],
        ["analyze", str(IDLE.parent)],  # a folder: its files are found by the engine
        ["analyze", str(IDLE), str(WSS)],  # two captures
        ["analyze", str(IDLE), "--scheduler", "tcp://127.0.0.1:1"],  # on a cluster
        ["analyze", str(IDLE), "--jobs", "2"],  # cut into shards
        ["analyze", str(IDLE.parent / "missing.pcap")],
        ["analyze", "-"],  # standard input
        ["analyze", str(IDLE), "--jobs", "x"],  # the CLI refuses it
        ["analyze", str(IDLE), "--tshark", "/nonexistent/tshark"],
        ["analyze", str(SAMPLES / "browser-har" / "session.har")],  # a HAR: no tshark
        ["analyze", str(SAMPLES / "idle-1011" / "client.log")],  # a log
    ],
)
def test_no_guess_for_any_other_run(args) -> None:
    prestart.speculate(args)
    assert not prestart._STARTED


@pytest.mark.parametrize(
    "jobs", [["-j1"], ["-j", "1"], ["--jobs=1"], ["--jobs", "1"], ["--", str(IDLE)], []]
)
def test_every_spelling_of_the_command_line_is_read(jobs) -> None:
    """IDLE is small, so the default reads it in one piece too; after `--` every
    argument is an input."""
    args = ["analyze", "-o", "out.html", *jobs]
    args += [] if "--" in jobs else [str(IDLE)]
    assert prestart.guess(args) == tshark_argv.fields_command(IDLE, None, find_tshark())


def test_a_guess_nobody_adopts_is_killed_at_exit() -> None:
    code = (
        "from analyzer.ingest import prestart; "
        f"prestart.speculate(['analyze', {str(BIG)!r}]); "
        "print(list(prestart._STARTED.values())[0].pid)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    pid = int(done.stdout)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_guess_imports_no_polars() -> None:
    """The point of guessing: tshark starts before the heavy imports."""
    code = "import sys, analyzer.launch; print(sorted(m for m in sys.modules if 'polars' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("config", "flags", "guessed"),
    [
        ("jobs: 2\n", [], False),  # the file cuts it into shards
        ("jobs: 2\n", ["--jobs", "1"], True),  # the flag wins
        ("jobs: 1\nfail_on: high\n", [], True),
        ("scheduler: tcp://127.0.0.1:1\n", [], False),  # on a cluster
        ("jobs: 0\n", [], False),  # the engine refuses it
        ("jobs: true\n", [], False),
        ("- a list\n", [], False),
        ("jobs: [\n", [], False),  # not YAML
    ],
)
def test_the_config_files_jobs_and_scheduler_count(
    config, flags, guessed, tmp_path, monkeypatch
) -> None:
    (tmp_path / "wsdoctor.yaml").write_text(config, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    prestart.speculate(["analyze", str(IDLE), *flags])
    started = list(prestart._STARTED)
    prestart.discard()
    assert started == (
        [tuple(tshark_argv.fields_command(IDLE, None, find_tshark()))] if guessed else []
    )


def test_the_config_named_by_the_flag_counts(tmp_path, monkeypatch) -> None:
    named = tmp_path / "team.yaml"
    named.write_text("jobs: 2\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert prestart.guess(["analyze", str(IDLE), "--config", str(named)]) is None
    assert prestart.guess(["analyze", str(IDLE)]) is not None  # the same folder, unnamed
