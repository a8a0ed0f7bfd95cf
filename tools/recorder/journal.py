"""record.log and process plumbing: every command exactly as run, and waiting for readiness.

A reader of ``record.log`` should be able to re-type each command, so commands are shown
with repository-relative paths and ``.venv/bin/python`` instead of this machine's paths.
"""

from __future__ import annotations

import datetime as dt
import os
import selectors
import shlex
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from .kinds import PYTHON, REPO


class Journal:
    """record.log: every command exactly as run, with UTC timestamps."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.file = (folder / "record.log").open("w")
        self.lock = threading.Lock()  # hooks note from their own threads

    def note(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self.lock:
            self.file.write(f"{stamp} {text}\n")
            self.file.flush()
        print(f"[{self.name}] {text}", flush=True)

    def command(self, argv: list[str], cwd: Path | None = None) -> None:
        shown = shlex.join(display_argv(argv))
        self.note(f"$ (cd {display_argv([str(cwd)])[0]} && {shown})" if cwd else f"$ {shown}")

    def run(self, argv: list[str], cwd: Path | None = None) -> str:
        """Run a short tool to completion, log it, fail loudly, return its stdout."""
        self.command(argv, cwd)
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def close(self) -> None:
        self.file.close()


def display_argv(argv: list[str]) -> list[str]:
    """Commands as a reader would type them: repo-relative paths, ``python`` for the venv."""
    shown = []
    for arg in argv:
        if arg == PYTHON:
            arg = ".venv/bin/python"
        elif arg.startswith(str(REPO)):
            arg = os.path.relpath(arg, REPO)
        elif arg.startswith(tempfile.gettempdir()):
            arg = "$TMP/" + Path(arg).name
        shown.append(arg)
    return shown


def wait_for_line(
    proc: subprocess.Popen[str], stream: IO[str] | None, prefix: str, timeout: float
) -> str:
    """Block until ``stream`` yields a line starting with ``prefix``; fail loudly otherwise."""
    assert stream is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = stream.readline()
            if line.startswith(prefix):
                return line
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise RuntimeError(f"{proc.args[0]!s}: no {prefix!r} line within {timeout}s")


def drain(stream: IO[str] | None, log: Path) -> threading.Thread:
    """Copy the rest of a process's stdout to ``log`` so a chatty helper never blocks on a
    full pipe; the thread ends with the process."""
    assert stream is not None

    def copy() -> None:
        with log.open("a") as out:
            for line in stream:
                out.write(line)
                out.flush()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread
