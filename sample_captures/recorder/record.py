"""Re-record the sample captures from scratch, on loopback only.

For each scenario: start the Deepgram-like emulator (server 127.0.0.21), start tcpdump on
``lo`` and wait until it is really listening, run the scripted client (source 127.0.0.11),
wait for the connection to finish plus a settle delay so FIN/RST and the last ACKs land in
the file, stop tcpdump with SIGINT (so it flushes), then stop the emulator. Logs, the exact
commands and (for TLS) the key log end up next to ``capture.pcap``.

Usage: ``record.py [--out DIR] [scenario ...]`` (default: all scenarios). Needs root for
tcpdump; ``record.sh`` is the wrapper that installs the tools and picks the venv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

RECORDER_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = RECORDER_DIR.parent
PYTHON = sys.executable

SERVER_ADDR = "127.0.0.21"
CLIENT_ADDR = "127.0.0.11"
PLAIN_PORT = 8080
TLS_PORT = 8443
TLS_NAME = "api.deepgram.test"  # RFC 2606 .test: obviously not the real service
QUERY = "encoding=linear16&sample_rate=16000&channels=1&model=nova-3"

SETTLE_SECONDS = 1.0  # after the client is done: let the last FIN/ACK/RST reach the capture
CLIENT_TIMEOUT = 60.0

# Files a recording produces; removed before re-recording so nothing stale survives.
GENERATED = (
    "capture.pcap",
    "capture-with-secrets.pcapng",
    "keys.log",
    "server.log",
    "client.log",
    "tcpdump.log",
    "record.log",
)


@dataclass(frozen=True)
class Scenario:
    """One folder of samples: what the client does, and whether it gets killed."""

    name: str
    steps: tuple[str, ...]
    tls: bool = False
    kill_after: float | None = None  # SIGKILL the client this long after the upgrade
    settle: float = SETTLE_SECONDS
    server_args: tuple[str, ...] = field(default_factory=tuple)


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("clean-close", ("audio:3", "keepalive:7:3", "audio:2", "closestream")),
        Scenario("idle-1011", ("audio:2", "wait-close:30")),
        # The client would stream for a minute; it is killed ~3 s after the upgrade. The
        # longer settle gives the server time to notice and close its side.
        Scenario("client-killed", ("audio:60",), kill_after=3.0, settle=2.0),
        Scenario("wss-keylog", ("audio:3", "keepalive:7:3", "audio:2", "closestream"), tls=True),
    )
}


class Recording:
    """Runs the processes of one scenario and keeps a log of the exact commands."""

    def __init__(self, scenario: Scenario, folder: Path, workdir: Path) -> None:
        self.scenario = scenario
        self.folder = folder
        self.workdir = workdir
        self.journal = (folder / "record.log").open("w")

    def note(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.journal.write(f"{stamp} {text}\n")
        self.journal.flush()
        print(f"[{self.scenario.name}] {text}", flush=True)

    def spawn(self, argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
        self.note("$ " + shlex.join(display_argv(argv)))
        return subprocess.Popen(argv, text=True, **kwargs)  # type: ignore[call-overload]

    def run(self) -> None:
        cert, key = self.make_cert() if self.scenario.tls else (None, None)
        server = self.start_server(cert, key)
        try:
            tcpdump = self.start_tcpdump()
            try:
                self.run_client(cert)
                time.sleep(self.scenario.settle)
            finally:
                self.stop_tcpdump(tcpdump)
        finally:
            self.stop(server, "emulator")
        if self.scenario.tls:
            self.inject_secrets()
        self.journal.close()

    def make_cert(self) -> tuple[Path, Path]:
        """Throwaway self-signed cert for the fake host name; the key never leaves the tmpdir."""
        cert, key = self.workdir / "cert.pem", self.workdir / "key.pem"
        argv = [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", f"/CN={TLS_NAME}", "-addext", f"subjectAltName=DNS:{TLS_NAME}",
        ]  # fmt: skip
        self.note("$ " + shlex.join(display_argv(argv)))
        subprocess.run(argv, check=True, capture_output=True)
        return cert, key

    def start_server(self, cert: Path | None, key: Path | None) -> subprocess.Popen[str]:
        port = TLS_PORT if self.scenario.tls else PLAIN_PORT
        argv = [
            PYTHON, str(RECORDER_DIR / "emulator.py"),
            "--host", SERVER_ADDR, "--port", str(port),
            "--log", str(self.folder / "server.log"),
            *self.scenario.server_args,
        ]  # fmt: skip
        if cert and key:
            argv += ["--tls-cert", str(cert), "--tls-key", str(key)]
        server = self.spawn(argv, stdout=subprocess.PIPE)
        wait_for_line(server, server.stdout, "listening on", timeout=10)
        return server

    def start_tcpdump(self) -> subprocess.Popen[str]:
        """``-U`` writes each packet at once; ``-Z root`` keeps the output file writable."""
        argv = [
            "tcpdump", "-i", "lo", "-U", "-Z", "root",
            "-w", str(self.folder / "capture.pcap"), f"host {SERVER_ADDR}",
        ]  # fmt: skip
        tcpdump = self.spawn(argv, stderr=subprocess.PIPE)
        # tcpdump prints "tcpdump: listening on lo, …" once the filter is attached.
        first = wait_for_line(tcpdump, tcpdump.stderr, "tcpdump: listening on", timeout=10)
        (self.folder / "tcpdump.log").write_text(first)
        time.sleep(0.3)
        return tcpdump

    def client_argv(self, cert: Path | None) -> list[str]:
        argv = [PYTHON, str(RECORDER_DIR / "client.py"), "--bind", CLIENT_ADDR]
        argv += ["--log", str(self.folder / "client.log")]
        if self.scenario.tls:
            # Keep the public-looking name in the URL (Host header, SNI); dial the loopback.
            argv += ["--url", f"wss://{TLS_NAME}:{TLS_PORT}/v1/listen?{QUERY}"]
            argv += ["--connect-host", SERVER_ADDR, "--cafile", str(cert)]
            argv += ["--keylog", str(self.folder / "keys.log")]
        else:
            argv += ["--url", f"ws://{SERVER_ADDR}:{PLAIN_PORT}/v1/listen?{QUERY}"]
        return argv + list(self.scenario.steps)

    def run_client(self, cert: Path | None) -> None:
        client = self.spawn(self.client_argv(cert), stdout=subprocess.PIPE)
        if self.scenario.kill_after is None:
            client.wait(timeout=CLIENT_TIMEOUT)
            self.note(f"client exited with {client.returncode}")
            return
        wait_for_line(client, client.stdout, "open", timeout=10)
        self.note(f"client connected; SIGKILL in {self.scenario.kill_after:.1f}s")
        time.sleep(self.scenario.kill_after)
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=10)
        self.note(f"client pid {client.pid} killed (returncode {client.returncode})")

    def stop_tcpdump(self, tcpdump: subprocess.Popen[str]) -> None:
        """SIGINT, not SIGTERM/kill: tcpdump then flushes and prints its packet counts."""
        tcpdump.send_signal(signal.SIGINT)
        _, stderr = tcpdump.communicate(timeout=10)
        with (self.folder / "tcpdump.log").open("a") as fh:
            fh.write(stderr)
        self.note(f"tcpdump stopped: {' / '.join(stderr.strip().splitlines())}")

    def stop(self, proc: subprocess.Popen[str], name: str) -> None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.note(f"{name} stopped ({proc.returncode})")

    def inject_secrets(self) -> None:
        """A pcapng that decrypts in Wireshark/tshark on its own, no key log option needed."""
        argv = [
            "editcap", "--inject-secrets", "tls,keys.log",
            "capture.pcap", "capture-with-secrets.pcapng",
        ]  # fmt: skip
        self.note("$ (cd " + self.folder.name + " && " + shlex.join(argv) + ")")
        subprocess.run(argv, check=True, cwd=self.folder)


def display_argv(argv: list[str]) -> list[str]:
    """Commands as a reader would type them: repo-relative paths, ``python`` for the venv."""
    repo = RECORDER_DIR.parent.parent
    shown = []
    for arg in argv:
        if arg == PYTHON:
            arg = ".venv/bin/python"
        elif arg.startswith(str(repo)):
            arg = os.path.relpath(arg, repo)
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


def prepare_folder(folder: Path) -> None:
    """Fresh outputs every time, but keep the hand-written README.md."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in GENERATED:
        (folder / name).unlink(missing_ok=True)


def check_tools(scenarios: list[Scenario]) -> None:
    needed = ["tcpdump"] + (["openssl", "editcap"] if any(s.tls for s in scenarios) else [])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)} (record.sh installs them)")
    if os.geteuid() != 0:
        sys.exit("tcpdump needs root (or CAP_NET_RAW); run as root")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of: {' '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="parent of scenario dirs")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    chosen = [SCENARIOS[name] for name in args.scenarios or SCENARIOS]
    check_tools(chosen)
    for scenario in chosen:
        folder = args.out / scenario.name
        prepare_folder(folder)
        with tempfile.TemporaryDirectory(prefix="wsdoctor-rec-") as tmp:
            Recording(scenario, folder, Path(tmp)).run()
        size = (folder / "capture.pcap").stat().st_size
        print(f"[{scenario.name}] capture.pcap {size} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
