"""The not-WebSocket sample: an ordinary HTTP download, captured as if tcpdump started late.

A diagnosis tool must say "no WebSocket here" about mid-stream TCP that merely looks like
it could be anything; this records real traffic of that kind (``http.server`` to curl on
``lo``) into a scratch file and keeps only its tail, cut with editcap.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .evidence import missing_evidence, present_evidence
from .journal import Journal, wait_for_line
from .kinds import (
    CAPTURE_BUFFER_KIB,
    CLIENT_ADDR,
    CLIENT_TIMEOUT,
    PLAIN_PORT,
    PYTHON,
    SERVER_ADDR,
    PlainDownload,
)
from .recording import prepare_folder


class DownloadRecording:
    """Records a ``PlainDownload``: http.server, tcpdump on lo, curl, then the editcap cut."""

    def __init__(self, scenario: PlainDownload, folder: Path, workdir: Path) -> None:
        self.scenario = scenario
        self.folder = folder
        self.workdir = workdir
        self.journal = Journal(scenario.name, folder)
        self.env = {**os.environ, "TZ": "UTC"}  # log times in UTC, like the other samples

    def run(self) -> None:
        try:
            full = self.workdir / "full.pcap"
            self.record(full)
            self.cut(full)
        finally:
            self.journal.close()

    def record(self, full: Path) -> None:
        served = self.write_body(self.workdir / "www" / "download.bin")
        server = self.start_server(served.parent)
        try:
            tcpdump = self.start_tcpdump(full)
            try:
                self.download(served)
                time.sleep(self.scenario.settle)
            finally:
                self.stop_tcpdump(tcpdump)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=10)
            self.journal.note(f"http.server stopped ({server.returncode})")

    def write_body(self, path: Path) -> Path:
        """Seeded, so every re-recording serves the same bytes."""
        path.parent.mkdir()
        body = random.Random(self.scenario.seed).randbytes(self.scenario.body_bytes)
        path.write_bytes(body)
        digest = hashlib.sha256(body).hexdigest()
        self.journal.note(
            f"wrote {path.name}: random.Random({self.scenario.seed}).randbytes"
            f"({self.scenario.body_bytes}), sha256 {digest}"
        )
        return path

    def start_server(self, root: Path) -> subprocess.Popen[str]:
        argv = [
            PYTHON, "-u", "-m", "http.server", str(PLAIN_PORT),
            "--bind", SERVER_ADDR, "--directory", str(root),
        ]  # fmt: skip
        self.journal.command(argv)
        with (self.folder / "server.log").open("w") as log:
            server = subprocess.Popen(
                argv, text=True, stdout=subprocess.PIPE, stderr=log, env=self.env
            )
        wait_for_line(server, server.stdout, "Serving HTTP on", timeout=10)
        return server

    def start_tcpdump(self, full: Path) -> subprocess.Popen[str]:
        argv = [
            "tcpdump", "-i", "lo", "-U", "-Z", "root", "-B", str(CAPTURE_BUFFER_KIB),
            "-w", str(full), f"host {SERVER_ADDR} and tcp port {PLAIN_PORT}",
        ]  # fmt: skip
        self.journal.command(argv)
        tcpdump = subprocess.Popen(argv, text=True, stderr=subprocess.PIPE)
        first = wait_for_line(tcpdump, tcpdump.stderr, "tcpdump: listening on", timeout=10)
        (self.folder / "tcpdump.log").write_text(first)
        time.sleep(0.3)
        return tcpdump

    def stop_tcpdump(self, tcpdump: subprocess.Popen[str]) -> None:
        """SIGINT so tcpdump flushes and prints its counters; a packet the kernel dropped
        would be a hole the download never had, so that fails the recording."""
        tcpdump.send_signal(signal.SIGINT)
        _, stderr = tcpdump.communicate(timeout=10)
        with (self.folder / "tcpdump.log").open("a") as fh:
            fh.write(stderr)
        self.journal.note(f"tcpdump stopped: {' / '.join(stderr.strip().splitlines())}")
        if "\n0 packets dropped by kernel" not in f"\n{stderr}":
            raise RuntimeError("tcpdump dropped packets: the capture is incomplete")

    def download(self, served: Path) -> None:
        """curl from 127.0.0.11, never through a proxy; the copy must equal the original."""
        received = self.workdir / "received.bin"
        argv = [
            "curl", "-sS", "-v", "--trace-time", "--noproxy", "*",
            "--interface", CLIENT_ADDR, "-o", str(received),
            f"http://{SERVER_ADDR}:{PLAIN_PORT}/{served.name}",
        ]  # fmt: skip
        self.journal.command(argv)
        with (self.folder / "client.log").open("w") as log:
            proc = subprocess.run(argv, stderr=log, env=self.env, timeout=CLIENT_TIMEOUT)
        if proc.returncode != 0 or received.read_bytes() != served.read_bytes():
            raise RuntimeError(f"curl exited {proc.returncode} or the download differs")
        self.journal.note(f"curl exited 0; {received.stat().st_size} bytes, identical")

    def cut(self, full: Path) -> None:
        """Keep the server's data packet at or past response byte ``keep_from`` (relative
        tcp.seq - 1) and everything after it, as pcap (editcap's default is pcapng)."""
        stats = self.journal.run(["capinfos", "-c", "-s", "-H", "-M", str(full)])
        self.journal.note("whole download (scratch file, not kept):\n" + stats.rstrip())
        argv = [
            "tshark", "-r", str(full), "-Y", f"tcp.srcport == {PLAIN_PORT} and tcp.len > 0",
            "-T", "fields", "-e", "frame.number", "-e", "tcp.seq",
        ]  # fmt: skip
        rows = [line.split("\t") for line in self.journal.run(argv).splitlines()]
        first, seq = next(
            (int(n), int(s)) for n, s in rows if int(s) - 1 >= self.scenario.keep_from
        )
        count = self.journal.run(["capinfos", "-c", "-M", "-T", "-r", str(full)])
        last = int(count.split()[-1])
        self.journal.note(
            f"first server data packet at response byte >= {self.scenario.keep_from}: "
            f"{first} (starts at response byte {seq - 1}, headers included)"
        )
        out = str(self.folder / self.scenario.capture_file)
        self.journal.run(["editcap", "-F", "pcap", "-r", str(full), out, f"{first}-{last}"])


def record_download(scenario: PlainDownload, folder: Path) -> None:
    """Record, cut, and check that the cut is what it claims: mid-stream, and not WebSocket.

    The body is random, so a cut can by chance start a segment with bytes a WebSocket
    heuristic accepts; such a take proves nothing about rejection and is recorded again.
    """
    for attempt in range(1, scenario.attempts + 1):
        prepare_folder(folder)
        with tempfile.TemporaryDirectory(prefix="wsdoctor-rec-") as tmp:
            DownloadRecording(scenario, folder, Path(tmp)).run()
        capture = folder / scenario.capture_file
        missing = missing_evidence(capture, scenario.require, scenario.tshark_args)
        found = present_evidence(capture, scenario.forbid, scenario.tshark_args)
        if not (missing or found):
            return
        print(
            f"[{scenario.name}] take {attempt}: no packet matches {missing}; some match {found}",
            flush=True,
        )
    raise SystemExit(f"{scenario.name}: no clean take in {scenario.attempts} attempts")
