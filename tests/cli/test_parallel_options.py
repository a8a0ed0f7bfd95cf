"""`sessions` and `frames` dissect as `analyze` does: `--jobs`, `--scheduler`, `--work-dir`
and the config file's `jobs` reach the dissection (the cluster runs: test_dask_cluster.py).

The commands run in-process here so the shard plan can be watched: the real function is
called through, only its arguments are kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.ingest import shard_plan

from conftest import SAMPLES, run_cli

CAPTURE = SAMPLES / "keepalive-binary" / "capture.pcap"


@pytest.fixture
def plans(monkeypatch) -> list[int | None]:
    """The `jobs` every capture's shard plan was asked with."""
    seen: list[int | None] = []
    real = shard_plan.shard_count

    def watched(size: int, jobs: int | None, cores: int) -> int:
        seen.append(jobs)
        return real(size, jobs, cores)

    monkeypatch.setattr(shard_plan, "shard_count", watched)
    return seen


def _invoke(*args: str | Path) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", ["sessions", "frames"])
def test_jobs_reaches_the_dissection(command: str, plans, tmp_path) -> None:
    one = _invoke(command, CAPTURE, "--format", "json", "--jobs", "1")
    cut = _invoke(command, CAPTURE, "--format", "json", "-j", "3", "--work-dir", tmp_path)
    assert plans == [1, 3]
    assert json.loads(cut) == json.loads(one)
    assert list(tmp_path.iterdir()) == []  # the shards are cleaned up


@pytest.mark.parametrize("command", ["sessions", "frames"])
def test_the_config_files_jobs_reaches_the_dissection(command: str, plans, tmp_path) -> None:
    config = tmp_path / "wsdoctor.yaml"
    config.write_text("jobs: 2\n", encoding="utf-8")
    _invoke(command, CAPTURE, "--format", "json", "--config", config)
    _invoke(command, CAPTURE, "--format", "json", "--config", config, "--jobs", "1")
    assert plans == [2, 1]  # the flag overrides the file


@pytest.mark.parametrize("command", ["sessions", "frames"])
def test_a_bad_jobs_in_the_config_is_one_line_and_exit_2(command: str, tmp_path) -> None:
    config = tmp_path / "wsdoctor.yaml"
    config.write_text("jobs: many\n", encoding="utf-8")
    out = run_cli(command, CAPTURE, "--config", config)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a number of jobs" in lines[0] and str(config) in lines[0]
