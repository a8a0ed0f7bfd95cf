"""The lifecycle of a scenario's lossy path: build, check, drop rule, always tear down.

The namespaces must never outlive a run (a crashed run's leftovers are deleted first), and
the path is proven to stay inside 127.0.0.0/8 and to carry TCP before any loss is added.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from . import lossy_path
from .journal import Journal, wait_for_line
from .kinds import PLAIN_PORT, module_argv
from .lossy_path import LossyPath


@contextlib.contextmanager
def lossy_namespaces(lossy: LossyPath | None, journal: Journal) -> Iterator[None]:
    """Build the lossy path (if any) and always delete its namespaces, even on failure."""
    if lossy is None:
        yield
        return
    delete_namespaces(lossy, journal)  # left over from a crashed run
    try:
        for argv in lossy.setup_commands():
            journal.run(argv)
        check_path(lossy, journal)
        journal.run(lossy.drop_rule(PLAIN_PORT))
        yield
        counters = journal.run(lossy.counters_command())
        journal.note("iptables counters after the run:\n" + counters.rstrip())
    finally:
        delete_namespaces(lossy, journal)


def delete_namespaces(lossy: LossyPath, journal: Journal) -> None:
    for name in lossy.existing():
        journal.run(["ip", "netns", "del", name])
    if lossy.existing():
        raise RuntimeError(f"namespaces left behind: {lossy.existing()}")


def check_path(lossy: LossyPath, journal: Journal) -> None:
    """Before any loss: only 127/8 addresses and routes, and a real TCP connect works."""
    outside = lossy.outside_loopback()
    if outside:
        raise RuntimeError(f"address or route outside 127.0.0.0/8: {outside}")
    for argv in lossy.state_commands():
        journal.note(journal.run(argv).rstrip())
    listen, connect = lossy.probe_commands(module_argv("lossy_path"), PLAIN_PORT)
    journal.command(listen)
    server = subprocess.Popen(listen, text=True, stdout=subprocess.PIPE)
    try:
        wait_for_line(server, server.stdout, "probe listening", timeout=10)
        journal.note(journal.run(connect).rstrip())
        out, _ = server.communicate(timeout=lossy_path.PROBE_TIMEOUT + 1)
        journal.note(out.rstrip())
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    if server.returncode != 0:
        raise RuntimeError(f"path probe listener exited {server.returncode}")
