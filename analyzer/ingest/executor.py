"""Where the dissection tasks run: a pool of threads here, or a Dask cluster.

Both are a `concurrent.futures.Executor`, so the code that submits tasks is the same:
`distributed.Client.get_executor()` gives Dask's the standard interface. Threads suffice
locally because a task's work is a tshark child process plus polars, which releases the
GIL. Dask is an optional extra (`pip install 'wsdoctor[cluster]'`), imported only when a
scheduler is named; its workers must see the inputs (and the shard folder) at the same
paths, i.e. a shared file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager

from analyzer.errors import InputError

CONNECT_TIMEOUT = "10s"


def cores() -> int:
    """The cores this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def executor(jobs: int | None, scheduler: str | None) -> Iterator[Executor]:
    """Threads, `jobs` at a time (default: one per core), or the cluster at `scheduler`."""
    if scheduler is None:
        with ThreadPoolExecutor(max_workers=jobs or cores()) as pool:
            yield pool
        return
    with _client(scheduler) as client:
        yield client.get_executor()


@contextmanager
def _client(scheduler: str) -> Iterator[object]:
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--scheduler needs Dask: pip install 'wsdoctor[cluster]'", source=scheduler
        ) from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler: {exc}", source=scheduler) from None
    with client:
        yield client
