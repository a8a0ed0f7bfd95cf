"""A second Python client library for the corpus: ``websocket-client`` (synchronous).

The corpus's own client (``client.py``) is ``websockets``; this one is the other widely used
Python library, with other defaults worth recording: ``WebSocket.close()`` sends the close
frame, waits **3 s** (its ``timeout`` default) for the peer's close, then shuts the socket
down (FIN) whether or not an answer came (websocket-client ``_core.py``, ``close``).

Run from the repository root as ``python -m tools.recorder.wsclient`` (the recorder's
``client="websocket-client"``): under the repository's venv it installs the pinned
``websocket-client`` into a throwaway venv (``WSCLIENT_VENV``) when missing and re-executes
this file there, so the library never enters the project's own dependencies. Steps:

    audio:SECONDS   stream 100 ms linear16 chunks (a quiet sine), paced in real time
    close[:CODE]    close from the client with the library's own close timeout (3 s)

It takes the recorder's client command line (``--bind``, ``--log``, ``--url``) and logs, in
the recorder's UTC format, the library's trace (``enableTrace``: the upgrade request and
response, ``++Sent raw``/``++Sent decoded`` of each frame; a line over 200 characters, i.e.
an audio frame, is cut to its first 120 with its length noted) plus one line per step.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

PIN = "websocket-client==1.9.2"
WSCLIENT_VENV = Path(os.environ.get("WSDOCTOR_WSCLIENT_VENV", "/tmp/wsdoctor-wsclient"))
FAKE_TOKEN = "dg_test_0123456789abcdef"  # obviously fake; never a real key
CHUNK_SECONDS = 0.1
SAMPLES_PER_CHUNK = 1600  # 100 ms of 16 kHz mono linear16: 3200 bytes
TONE = 2 * math.pi * 440.0 / 16000
LINE_MAX, LINE_KEEP = 200, 120  # client.log: long trace lines (audio frames) are cut

log = logging.getLogger("client")


def venv_python() -> Path:
    """The throwaway venv's Python with the pinned library, installed on first use."""
    python = WSCLIENT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(WSCLIENT_VENV)], check=True)
    have = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('websocket-client'))"],
        capture_output=True,
        text=True,
    )
    if have.stdout.strip() != PIN.split("==")[1]:
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", PIN]
        subprocess.run(pip, check=True, stdout=sys.stderr)
    return python


def setup_logging(path: str) -> None:
    """The recorder's log format (logsetup.py), repeated: this file runs outside the package."""
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.FileHandler(path)
    handler.setFormatter(formatter)
    handler.addFilter(shorten)
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)


def shorten(record: logging.LogRecord) -> bool:
    """The trace prints every audio frame twice in full (~10 KB a line): keep the first
    LINE_KEEP characters of a long line and say how long it was, so client.log stays small."""
    text = record.getMessage()
    if len(text) > LINE_MAX:
        record.msg, record.args = f"{text[:LINE_KEEP]}... [{len(text)} chars]", ()
    return True


def chunks() -> object:
    """Endless phase-continuous 100 ms chunks of a quiet sine."""
    position = 0
    while True:
        samples = (round(600 * math.sin(TONE * (position + i))) for i in range(SAMPLES_PER_CHUNK))
        position += SAMPLES_PER_CHUNK
        yield struct.pack(f"<{SAMPLES_PER_CHUNK}h", *samples)


def connect(url: str, bind: str) -> object:
    """Open the WebSocket over our own socket, so its source address is ``bind``."""
    import websocket  # the throwaway venv's library

    # The trace's records reach the root handler once (its own handler would repeat them).
    websocket.enableTrace(True, handler=logging.NullHandler())
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port or 80), source_address=(bind, 0))
    ws = websocket.create_connection(
        url, socket=sock, header=[f"Authorization: Token {FAKE_TOKEN}"]
    )
    log.info("websocket-client %s connected from %s:%d", websocket.__version__, *sock.getsockname())
    print(f"open {parts.hostname}:{parts.port}", flush=True)
    return ws


def run(ws: object, steps: list[str]) -> None:
    """Each step in order; ``close`` is the library's ``close()`` with its default timeout."""
    audio = chunks()
    for step in steps:
        kind, _, arg = step.partition(":")
        log.info("step %s", step)
        if kind == "audio":
            deadline = time.monotonic()
            for _ in range(round(float(arg) / CHUNK_SECONDS)):
                ws.send_binary(next(audio))  # type: ignore[attr-defined]
                deadline += CHUNK_SECONDS
                time.sleep(max(0.0, deadline - time.monotonic()))
        elif kind == "close":
            started = time.monotonic()
            ws.close(status=int(arg or 1000))  # type: ignore[attr-defined]
            answer = ws.close_frame  # type: ignore[attr-defined]
            log.info(
                "close returned after %.3f s; peer close frame: %s",
                time.monotonic() - started,
                "none" if answer is None else answer.data[:2].hex(),
            )
        else:
            raise SystemExit(f"unknown step {step!r} (audio:SECONDS, close[:CODE])")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("steps", nargs="+")
    parser.add_argument("--url", required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    setup_logging(args.log)
    run(connect(args.url, args.bind), args.steps)
    return 0


if __name__ == "__main__":
    if __package__:  # the repository's venv: continue in the library's own venv
        python = str(venv_python())
        os.execv(python, [python, __file__, *sys.argv[1:]])
    sys.exit(main(sys.argv[1:]))
