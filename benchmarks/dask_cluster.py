"""A real Dask scheduler and workers on 127.0.0.1, for timing `analyze --scheduler`.

Why: the cluster path is only worth having if it pays off against one machine's cores,
and that is measured against real `dask scheduler` and `dask worker` processes (the
commands a user runs), not an in-process LocalCluster. Everything listens on 127.0.0.1
only, dashboards included (distributed 2026.8 starts them even with --no-dashboard, on
0.0.0.0:8787 unless told otherwise). Each process gets its own session so that stopping
it takes its nanny and worker children with it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType

DASK = Path(sys.executable).with_name("dask")
HOST = "127.0.0.1"
START_TIMEOUT_S = 120
LOG = Path(__file__).resolve().parent / "out" / "dask-cluster.log"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class DaskCluster:
    """`dask scheduler` plus `workers` one-process, one-thread `dask worker`s, as a context.

    `address` is what `analyze --scheduler` takes; `pids` are the processes whose trees
    (nanny, worker, the worker's tshark children) count toward a run's memory.
    """

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self.address = f"tcp://{HOST}:{free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(proc.pid for proc in self.procs)

    def __enter__(self) -> DaskCluster:
        """Start the scheduler and workers (logging to LOG) and wait until all registered."""
        port = self.address.rsplit(":", 1)[1]
        local = ["--host", HOST, "--dashboard-address", f"{HOST}:0"]
        commands = [["scheduler", *local, "--port", port]]
        worker = ["worker", self.address, *local, "--nworkers", "1", "--nthreads", "1"]
        commands += [worker] * self.workers
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with LOG.open("wb") as log:  # the children keep their own copies of the descriptor
            for args in commands:
                self.procs.append(
                    subprocess.Popen(
                        [str(DASK), *args],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        try:
            self._wait_for_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_workers(self) -> None:
        """Block until every worker has registered with the scheduler."""
        from distributed import Client  # the cluster extra; only this line needs it

        with Client(self.address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(self.workers, timeout=START_TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM each process group (workers first), SIGKILL whatever outlives 30 s."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
