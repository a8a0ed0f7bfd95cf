"""Shared pieces of the real-log recorders (``real_logs.py`` and its per-tool modules).

``abrupt_emulator`` runs one more emulator for the ``abrupt`` and ``reset`` cases:
``--stall-after`` makes it stop reading a connection, and stopping that emulator (SIGTERM)
aborts the stalled connection (``DeepgramEmulator.abort_stalled``: ``transport.abort()``).
The client sees the TCP connection end without any close frame: with a FIN when it sent
nothing after the stall (``abrupt``: 1 s of audio), with a RST when the kernel still holds
audio the stalled server never read (``reset``: audio keeps flowing past the stall).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .har_chromium import EMULATOR, free_port, wait_line

HOST = "127.0.0.21"
QUERY = "encoding=linear16&sample_rate=16000&channels=1&model=nova-3"
FAKE_KEY = "FAKEKEYdeadbeef0123456789abcdef012345678"  # obviously fake
IDLE = 4.0  # emulator inactivity window (Deepgram's is 10 s; the reason text is the same)
STALL = 2.0  # abrupt case: the emulator stops reading 2 s after the upgrade...
DROP = 0.5  # ...and is stopped (the connection aborted) 0.5 s after that


def emulator(port: int, log: Path, *extra: str) -> subprocess.Popen[str]:
    """The emulator on HOST:port, once it is listening."""
    proc = subprocess.Popen(
        [*EMULATOR, "--host", HOST, "--port", str(port),
         "--inactivity-timeout", str(IDLE), "--log", str(log), *extra],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_line(proc, "listening on")
    return proc


@contextlib.contextmanager
def abrupt_emulator(work: Path, name: str) -> Iterator[int]:
    """A port whose first upgraded connection is dropped without a close frame."""
    port, log = free_port(HOST), work / f"emulator-{name}.log"
    log.unlink(missing_ok=True)
    proc = emulator(port, log, "--stall-after", str(STALL))
    done = threading.Event()

    def drop() -> None:
        while not done.wait(0.1):
            if log.exists() and "stalling after" in log.read_text():
                time.sleep(DROP)
                proc.terminate()  # abort_stalled(): the stalled connection is aborted
                return

    watcher = threading.Thread(target=drop, daemon=True)
    watcher.start()
    try:
        yield port
    finally:
        done.set()
        watcher.join()
        proc.terminate()
        proc.wait(timeout=10)


def run_logged(argv: list[str], log: Path, cwd: Path, timeout: float) -> None:
    """Run a client with stdout and stderr interleaved into one file (as a terminal)."""
    with log.open("w") as fh:
        subprocess.run(argv, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)


def deb_version(pkg: str) -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def npm_install(work: Path, *specs: str) -> bool:
    """`npm install` the specs into `work` (never globally) unless all are there already;
    False (and a message) when npm fails. A spec is `name@range` or `@scope/name@range`."""
    names = [s.rsplit("@", 1)[0] if s.count("@") > (s[0] == "@") else s for s in specs]
    if all((work / "node_modules" / n / "package.json").exists() for n in names):
        return True
    work.mkdir(parents=True, exist_ok=True)
    argv = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(work), *specs]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    if done.returncode:
        print(f"npm install {specs} failed, skipping:\n{done.stderr[-400:]}", file=sys.stderr)
    return done.returncode == 0


def venv_python(venv: Path, imports: str, packages: list[str]) -> Path | None:
    """The Python of a throwaway venv that can `import <imports>`, pip-installing
    `packages` into it first when it cannot; None (and a message) when pip fails."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(py), "-c", f"import {imports}"], capture_output=True).returncode:
        pip = [str(venv / "bin" / "pip"), "install", "-q", *packages]
        if subprocess.run(pip, timeout=300).returncode:
            print(f"pip install {' '.join(packages)} failed, skipping", file=sys.stderr)
            return None
    return py


def build(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> bool:
    """Compile a client (go build, javac, mcs); False (and the compiler's tail) on failure."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stdout + done.stderr)[-400:]
        print(f"{argv[0]} failed, skipping:\n{tail}", file=sys.stderr)
    return done.returncode == 0


def apt_install(debs: tuple[str, ...]) -> bool:
    """Install the missing Debian packages (root only); False (and a message) otherwise."""
    missing = [p for p in debs if not deb_version(p)]
    if not missing:
        return True
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if os.geteuid() != 0 or subprocess.run(apt, env=env, timeout=900).returncode:
        print(f"cannot install {missing} (needs root and apt), skipping", file=sys.stderr)
        return False
    return True
