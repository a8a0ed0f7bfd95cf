"""What the scenarios through ``proxies/hops.py`` share: addresses, the helper, the stop hook.

Those hops (tinyproxy, Apache httpd, Caddy, mitmproxy) run on their own addresses, so
they can be recorded while other recordings use 127.0.0.11/21/31: client 127.0.0.40, hop
127.0.0.41, emulator 127.0.0.42 (``proxies/hops.py`` binds the hop there).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from .kinds import Process, RunContext, module_argv

HOP_CLIENT = "127.0.0.40"
HOP_ADDR = "127.0.0.41"
HOP_SERVER = "127.0.0.42"
FORWARD_PROXY = f"http://{HOP_ADDR}:8888"  # tinyproxy and mitmproxy listen there
HOPS_MODULE = module_argv("proxies.hops")[-1].encode()
# mitmproxy's first start installs it with pip into its own venv: a long ready wait.
INSTALL_WAIT = 600.0


def hop(name: str, idle: int | None = None) -> Process:
    """The hop ``name`` of proxies/hops.py for the whole recording, its log ``proxy.log``;
    ``idle``: its idle limit in seconds, where the hop has one."""
    extra = ("--idle", str(idle)) if idle is not None else ()
    argv = ("{python}", "-m", "{package}.proxies.hops", "run", name, "--folder", "{folder}")
    return Process("proxy", (*argv, *extra), ready="listening on", ready_timeout=INSTALL_WAIT)


def hops_pid() -> int:
    """The hops.py helper this recorder started (a child of this process running it)."""
    me = str(os.getpid())
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError):
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            if ppid == me and HOPS_MODULE in (proc / "cmdline").read_bytes().split(b"\0"):
                found.append(int(proc.name))
    if len(found) != 1:
        raise RuntimeError(f"expected one hops.py child of pid {me}, found {found}")
    return found[0]


def stop_hop(ctx: RunContext) -> None:
    """Stop the hop now with its own graceful stop (SIGHUP to hops.py, which forwards it):
    what a reload or a shutdown of the proxy does to the sessions it carries."""
    pid = hops_pid()
    ctx.journal.note(f"stopping the hop: SIGHUP to hops.py (pid {pid})")
    os.kill(pid, signal.SIGHUP)
