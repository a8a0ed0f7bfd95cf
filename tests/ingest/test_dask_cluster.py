"""The dissection tasks run unchanged on a real Dask cluster (issue 15, item 3).

A scheduler and two workers are started on 127.0.0.1 as a user would start them
(`dask scheduler`, `dask worker`), `wsdoctor analyze --scheduler` reads several samples
through them, each cut into shards, and the JSON report must equal the local run's. The
scheduler is then asked whether it ran the dissection tasks, so a run that silently
stayed local cannot pass.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import distributed  # the cluster extra; the test extra has it
import pytest

from conftest import SAMPLES, run_cli

DASK = Path(sys.executable).with_name("dask")
# `--no-dashboard` still serves one on 0.0.0.0:8787 (distributed 2026.8): keep it on
# loopback, as everything a test starts must be.
LOCAL_DASHBOARD = ["--dashboard-address", "127.0.0.1:0"]
PICKS = ["idle-1011", "nginx-read-timeout", "keepalive-binary", "ipv6-cooked"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory) -> Iterator[str]:
    address = f"tcp://127.0.0.1:{_free_port()}"
    logs = tmp_path_factory.mktemp("dask")
    common = {"stdin": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    port = address.rsplit(":", 1)[1]
    procs = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, *LOCAL_DASHBOARD],
            stdout=(logs / "scheduler.log").open("w"),
            **common,
        )
    ]
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 *LOCAL_DASHBOARD, "--name", f"w{i}"],
                stdout=(logs / f"worker{i}.log").open("w"),
                **common,
            )
        )  # fmt: skip
    try:
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _inputs() -> list[str]:
    return [str(next(iter(sorted((SAMPLES / name).glob("capture.pcap*"))))) for name in PICKS]


def _report(*args: str) -> dict:
    out = run_cli("analyze", *_inputs(), "--format", "json", "-o", "-", "-q", *args, check=True)
    return json.loads(out.stdout)


def test_a_dask_cluster_reports_what_a_local_run_reports(scheduler, tmp_path) -> None:
    local = _report("--jobs", "1")
    started = time.monotonic()
    remote = _report("--scheduler", scheduler, "--jobs", "3", "--work-dir", str(tmp_path))
    assert remote == local
    assert time.monotonic() - started < 300
    with distributed.Client(scheduler, timeout="30s") as client:
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
    assert "dissect" in prefixes
    assert list(tmp_path.iterdir()) == []  # the shards are cleaned up


def _dissections(scheduler: str) -> int:
    """How many dissection tasks the cluster has run so far (every state they reached)."""
    with distributed.Client(scheduler, timeout="30s") as client:
        return client.run_on_scheduler(
            lambda dask_scheduler: sum(
                getattr(dask_scheduler.task_prefixes.get("dissect"), "state_counts", {}).values()
            )
        )


@pytest.mark.parametrize("command", ["sessions", "frames"])
def test_sessions_and_frames_dissect_on_the_cluster_too(scheduler, tmp_path, command) -> None:
    local = run_cli(command, *_inputs(), "--format", "json", "--jobs", "1", check=True)
    before = _dissections(scheduler)
    remote = run_cli(command, *_inputs(), "--format", "json", "--scheduler", scheduler,
                     "--jobs", "3", "--work-dir", tmp_path, check=True)  # fmt: skip
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert _dissections(scheduler) > before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["analyze", "sessions", "frames"])
def test_an_unreachable_scheduler_is_one_line_and_exit_2(command: str) -> None:
    out = run_cli(command, _inputs()[0], "--format", "json", "-o", "-",
                  "--scheduler", f"tcp://127.0.0.1:{_free_port()}")  # fmt: skip
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0], out.stderr


@pytest.mark.parametrize("address", ["nonsense", "tcp://127.0.0.1", "127.0.0.1:8786"])
def test_a_malformed_scheduler_address_is_one_line_and_exit_2(address: str) -> None:
    """Before it was checked, distributed took 20 s to give up on `nonsense` and printed a
    traceback from its Client's finaliser."""
    out = run_cli("analyze", _inputs()[0], "--format", "json", "-o", "-", "--scheduler", address)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a scheduler address" in lines[0], out.stderr
