"""Re-record the sample captures from scratch, on loopback or in private namespaces only.

For each recorded scenario: start the Deepgram-like emulator (server 127.0.0.21, or ``::1``),
start the capture (tcpdump on ``lo``, or dumpcap on ``any`` for a Linux cooked pcapng) and
wait until it is really listening, run the scripted client (source 127.0.0.11, or ``::1``),
wait for the connection to finish plus a settle delay so FIN/RST and the last ACKs land in
the file, stop the capture with SIGINT (so it flushes), then stop the emulator. Logs, the
exact commands and (for TLS) the key log end up next to the capture.

A scenario may run across three private network namespaces (client, router, server; built
and always deleted here, addresses in 127.0.0.0/8 only, see ``lossy_path.py``) whose router
drops a random share of client->server packets with iptables, so the real kernel has to
retransmit. Derived scenarios record no traffic: they rewrite another scenario's real
capture (an 802.1Q tag, a late capture start) with tcprewrite/editcap. The plain-TCP
scenario records an ordinary HTTP download (not WebSocket) on ``lo`` into a scratch file and
keeps only its tail, cut with editcap, as a late capture would.

Usage: ``record.py [--out DIR] [scenario ...]`` (default: all scenarios, derived ones after
their source). Needs root for the capture and the namespace; ``record.sh`` is the wrapper
that installs the tools and picks the venv.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import os
import random
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import lossy_path
from lossy_path import LossyPath, Role

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
# tcpdump -B for the plain download: 2 MB arrive within a few ms as 64 KB loopback packets,
# which overflow tcpdump's default 2 MB buffer now and then ("packets dropped by kernel").
CAPTURE_BUFFER_KIB = 16384

# Files a recording produces; removed before re-recording so nothing stale survives.
GENERATED = (
    "capture.pcap",
    "capture.pcapng",
    "capture-with-secrets.pcapng",
    "keys.log",
    "server.log",
    "client.log",
    "tcpdump.log",
    "dumpcap.log",
    "record.log",
)

CaptureTool = Literal["tcpdump", "dumpcap-any"]


@dataclass(frozen=True)
class Scenario:
    """One folder of samples: what the client does, and whether it gets killed."""

    name: str
    steps: tuple[str, ...]
    tls: bool = False
    kill_after: float | None = None  # SIGKILL the client this long after the upgrade
    settle: float = SETTLE_SECONDS
    server_args: tuple[str, ...] = field(default_factory=tuple)
    server_addr: str = SERVER_ADDR
    client_addr: str = CLIENT_ADDR
    capture: CaptureTool = "tcpdump"
    lossy: LossyPath | None = None  # run in three namespaces with loss on the router
    # Display filters that must each match at least one packet, or the recording is redone
    # (up to ``attempts`` times): for randomness that cannot be seeded, such as packet loss.
    require: tuple[str, ...] = ()
    attempts: int = 1
    # Also required: a WebSocket frame that only out-of-order reassembly completes.
    reordered_frames: bool = False

    @property
    def capture_file(self) -> str:
        return "capture.pcapng" if self.capture == "dumpcap-any" else "capture.pcap"

    @property
    def capture_iface(self) -> str:
        return self.lossy.capture_iface if self.lossy else "lo"


@dataclass(frozen=True)
class Derived:
    """A scenario made from another scenario's real capture, rewritten; no new traffic.

    ``vlan``: tcprewrite adds an 802.1Q tag to every packet (a trunk-port capture).
    ``late-start``: editcap keeps the packets from the first client audio frame at or after
    ``start_after`` seconds to the end (tcpdump started late: no SYN, no handshake).
    """

    name: str
    source: str
    transform: Literal["vlan", "late-start"]
    vlan_tag: int = 42
    start_after: float = 2.0
    require: tuple[str, ...] = ()
    tshark_args: tuple[str, ...] = ()  # for the ``require`` check (e.g. a heuristic)
    capture_file: str = "capture.pcap"


@dataclass(frozen=True)
class PlainDownload:
    """Not WebSocket at all: an HTTP download, captured as if tcpdump had started mid-body.

    ``python -m http.server`` (127.0.0.21:8080) serves ``body_bytes`` of seeded pseudo-random
    data (as incompressible as a .gz) to curl (127.0.0.11); tcpdump on ``lo`` records the
    whole download into a scratch file, and editcap keeps the packets from the first server
    data packet at or past response byte ``keep_from`` to the end: no SYN, no request, no
    response headers. Only that tail is kept (the whole would not fit the < 1 MB budget).
    ``require`` filters must match, ``forbid`` filters must not (plain tshark + ``tshark_args``).
    """

    name: str
    body_bytes: int = 2_000_000
    keep_from: int = 1_300_000
    seed: int = 6455
    settle: float = SETTLE_SECONDS
    require: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    tshark_args: tuple[str, ...] = ()
    capture_file: str = "capture.pcap"


AnyScenario = Scenario | Derived | PlainDownload
# Port 8080 belongs to HTTP, whose dissector is tried before any heuristic.
WEBSOCKET_HEURISTIC = ("-o", "tcp.try_heuristic_first:TRUE", "--enable-heuristic", "websocket_tcp")

SCENARIOS: dict[str, AnyScenario] = {
    s.name: s
    for s in (
        Scenario("clean-close", ("audio:3", "keepalive:7:3", "audio:2", "closestream")),
        Scenario("idle-1011", ("audio:2", "wait-close:30")),
        # The client would stream for a minute; it is killed ~3 s after the upgrade. The
        # longer settle gives the server time to notice and close its side.
        Scenario("client-killed", ("audio:60",), kill_after=3.0, settle=2.0),
        Scenario("wss-keylog", ("audio:3", "keepalive:7:3", "audio:2", "closestream"), tls=True),
        # permessage-deflate negotiated (Deepgram itself declines it): compressed text frames
        # with RSV1 set, whose JSON only a decompressing dissector can read.
        Scenario(
            "deflate-stream",
            ("audio:2", "keepalive:4:2", "closestream"),
            server_args=("--deflate",),
            require=("websocket.pmc == 1", "websocket.opcode == 8"),
        ),
        # IPv6 loopback captured on the "any" pseudo-interface: Linux cooked v2, pcapng.
        Scenario(
            "ipv6-cooked",
            ("audio:3", "closestream"),
            server_addr="::1",
            client_addr="::1",
            capture="dumpcap-any",
            require=("ipv6", "sll", "websocket.opcode == 8"),
        ),
        # Real kernel retransmissions: a router namespace drops 5 % of client->server
        # packets; tcpdump runs on the server, downstream of the loss (see lossy_path.py).
        Scenario(
            "lossy-stream",
            ("audio:5", "closestream"),
            server_addr=LossyPath().server_addr,
            client_addr=LossyPath().client_addr,
            lossy=LossyPath(drop_probability=0.05),
            require=(
                "tcp.analysis.lost_segment",
                "tcp.analysis.retransmission or tcp.analysis.fast_retransmission",
                "tcp.analysis.out_of_order or tcp.analysis.retransmission",
                "websocket.opcode == 8",
            ),
            attempts=5,
            reordered_frames=True,
        ),
        Derived("vlan-tagged", "clean-close", "vlan", require=("vlan.id == 42", "websocket")),
        Derived(
            "mid-session",
            "clean-close",
            "late-start",
            require=("websocket.opcode == 2", "websocket.opcode == 8"),
            tshark_args=WEBSOCKET_HEURISTIC,
        ),
        # The negative case: mid-stream TCP that is not WebSocket; nothing may be recovered.
        PlainDownload(
            "not-websocket",
            require=("tcp.len > 0", "tcp.flags.fin == 1"),
            forbid=("tcp.flags.syn == 1", "http.request", "http.response", "websocket"),
            tshark_args=WEBSOCKET_HEURISTIC,
        ),
    )
}


def url_host(addr: str) -> str:
    """An address as it appears in a URL: IPv6 literals go in brackets (RFC 3986)."""
    return f"[{addr}]" if ":" in addr else addr


class Journal:
    """record.log: every command exactly as run, with UTC timestamps."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.file = (folder / "record.log").open("w")

    def note(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
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


class Recording:
    """Runs the processes of one scenario and keeps a log of the exact commands."""

    def __init__(self, scenario: Scenario, folder: Path, workdir: Path) -> None:
        self.scenario = scenario
        self.folder = folder
        self.workdir = workdir
        self.journal = Journal(scenario.name, folder)

    def note(self, text: str) -> None:
        self.journal.note(text)

    def wrap(self, argv: list[str], role: Role) -> list[str]:
        """Inside the role's namespace when the scenario has a lossy path."""
        lossy = self.scenario.lossy
        return [*lossy.exec_prefix(role), *argv] if lossy else argv

    def spawn(self, argv: list[str], role: Role, **kwargs: object) -> subprocess.Popen[str]:
        argv = self.wrap(argv, role)
        self.journal.command(argv)
        return subprocess.Popen(argv, text=True, **kwargs)  # type: ignore[call-overload]

    def run(self) -> None:
        try:
            with self.namespace():
                self.record()
        finally:
            self.journal.close()

    def record(self) -> None:
        cert, key = self.make_cert() if self.scenario.tls else (None, None)
        server = self.start_server(cert, key)
        try:
            capture = self.start_capture()
            try:
                self.run_client(cert)
                time.sleep(self.scenario.settle)
            finally:
                self.stop_capture(capture)
        finally:
            self.stop(server, "emulator")
        if self.scenario.tls:
            self.inject_secrets()

    @contextlib.contextmanager
    def namespace(self) -> Iterator[None]:
        """Build the lossy path (if any) and always delete its namespaces, even on failure."""
        lossy = self.scenario.lossy
        if lossy is None:
            yield
            return
        self.delete_namespaces(lossy)  # left over from a crashed run
        try:
            for argv in lossy.setup_commands():
                self.journal.run(argv)
            self.check_path(lossy)
            self.journal.run(lossy.drop_rule(PLAIN_PORT))
            yield
            counters = self.journal.run(lossy.counters_command())
            self.note("iptables counters after the run:\n" + counters.rstrip())
        finally:
            self.delete_namespaces(lossy)

    def delete_namespaces(self, lossy: LossyPath) -> None:
        for name in lossy.existing():
            self.journal.run(["ip", "netns", "del", name])
        if lossy.existing():
            raise RuntimeError(f"namespaces left behind: {lossy.existing()}")

    def check_path(self, lossy: LossyPath) -> None:
        """Before any loss: only 127/8 addresses and routes, and a real TCP connect works."""
        outside = lossy.outside_loopback()
        if outside:
            raise RuntimeError(f"address or route outside 127.0.0.0/8: {outside}")
        for argv in lossy.state_commands():
            self.note(self.journal.run(argv).rstrip())
        listen, connect = lossy.probe_commands(
            PYTHON, str(RECORDER_DIR / "lossy_path.py"), PLAIN_PORT
        )
        self.journal.command(listen)
        server = subprocess.Popen(listen, text=True, stdout=subprocess.PIPE)
        try:
            wait_for_line(server, server.stdout, "probe listening", timeout=10)
            self.note(self.journal.run(connect).rstrip())
            out, _ = server.communicate(timeout=lossy_path.PROBE_TIMEOUT + 1)
            self.note(out.rstrip())
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        if server.returncode != 0:
            raise RuntimeError(f"path probe listener exited {server.returncode}")

    def make_cert(self) -> tuple[Path, Path]:
        """Throwaway self-signed cert for the fake host name; the key never leaves the tmpdir."""
        cert, key = self.workdir / "cert.pem", self.workdir / "key.pem"
        argv = [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", f"/CN={TLS_NAME}", "-addext", f"subjectAltName=DNS:{TLS_NAME}",
        ]  # fmt: skip
        self.journal.command(argv)
        subprocess.run(argv, check=True, capture_output=True)
        return cert, key

    def start_server(self, cert: Path | None, key: Path | None) -> subprocess.Popen[str]:
        port = TLS_PORT if self.scenario.tls else PLAIN_PORT
        argv = [
            PYTHON, str(RECORDER_DIR / "emulator.py"),
            "--host", self.scenario.server_addr, "--port", str(port),
            "--log", str(self.folder / "server.log"),
            *self.scenario.server_args,
        ]  # fmt: skip
        if cert and key:
            argv += ["--tls-cert", str(cert), "--tls-key", str(key)]
        server = self.spawn(argv, "server", stdout=subprocess.PIPE)
        wait_for_line(server, server.stdout, "listening on", timeout=10)
        return server

    def start_capture(self) -> subprocess.Popen[str]:
        """Start tcpdump or dumpcap and return once its filter is attached."""
        if self.scenario.capture == "dumpcap-any":
            return self.start_dumpcap()
        return self.start_tcpdump()

    def start_tcpdump(self) -> subprocess.Popen[str]:
        """``-U`` writes each packet at once; ``-Z root`` keeps the output file writable."""
        argv = [
            "tcpdump", "-i", self.scenario.capture_iface, "-U", "-Z", "root",
            "-w", str(self.folder / "capture.pcap"), f"host {self.scenario.server_addr}",
        ]  # fmt: skip
        tcpdump = self.spawn(argv, "server", stderr=subprocess.PIPE)
        # tcpdump prints "tcpdump: listening on lo, …" once the filter is attached.
        first = wait_for_line(tcpdump, tcpdump.stderr, "tcpdump: listening on", timeout=10)
        (self.folder / "tcpdump.log").write_text(first)
        time.sleep(0.3)
        return tcpdump

    def start_dumpcap(self) -> subprocess.Popen[str]:
        """``-i any`` sees loopback as a Linux cooked capture; ``-y LINUX_SLL2`` picks v2,
        which is what tcpdump 4.99 writes for ``-i any`` too. dumpcap writes pcapng; ``-q``
        keeps its running packet counter out of the log."""
        port = TLS_PORT if self.scenario.tls else PLAIN_PORT
        argv = [
            "dumpcap", "-q", "-i", "any", "-y", "LINUX_SLL2",
            "-w", str(self.folder / "capture.pcapng"),
            "-f", f"host {self.scenario.server_addr} and tcp port {port}",
        ]  # fmt: skip
        dumpcap = self.spawn(argv, "server", stderr=subprocess.PIPE)
        first = wait_for_line(dumpcap, dumpcap.stderr, "Capturing on", timeout=10)
        (self.folder / "dumpcap.log").write_text(first)
        time.sleep(0.5)
        return dumpcap

    def client_argv(self, cert: Path | None) -> list[str]:
        argv = [PYTHON, str(RECORDER_DIR / "client.py"), "--bind", self.scenario.client_addr]
        argv += ["--log", str(self.folder / "client.log")]
        if self.scenario.tls:
            # Keep the public-looking name in the URL (Host header, SNI); dial the loopback.
            argv += ["--url", f"wss://{TLS_NAME}:{TLS_PORT}/v1/listen?{QUERY}"]
            argv += ["--connect-host", self.scenario.server_addr, "--cafile", str(cert)]
            argv += ["--keylog", str(self.folder / "keys.log")]
        else:
            host = url_host(self.scenario.server_addr)
            argv += ["--url", f"ws://{host}:{PLAIN_PORT}/v1/listen?{QUERY}"]
        return argv + list(self.scenario.steps)

    def run_client(self, cert: Path | None) -> None:
        client = self.spawn(self.client_argv(cert), "client", stdout=subprocess.PIPE)
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

    def stop_capture(self, capture: subprocess.Popen[str]) -> None:
        """SIGINT, not SIGTERM/kill: tcpdump/dumpcap then flush and print packet counts."""
        capture.send_signal(signal.SIGINT)
        _, stderr = capture.communicate(timeout=10)
        stderr = stderr.replace("\r", "")  # dumpcap rewrites its counter line in place
        log = "dumpcap.log" if self.scenario.capture == "dumpcap-any" else "tcpdump.log"
        with (self.folder / log).open("a") as fh:
            fh.write(stderr)
        tool = log.removesuffix(".log")
        self.note(f"{tool} stopped: {' / '.join(stderr.strip().splitlines())}")

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
        self.journal.command(argv, cwd=self.folder)
        subprocess.run(argv, check=True, cwd=self.folder)


class Derivation:
    """Makes a derived scenario's capture from its source scenario's capture.pcap."""

    def __init__(self, derived: Derived, folder: Path, source: Path) -> None:
        self.derived = derived
        self.folder = folder
        self.source = source
        self.journal = Journal(derived.name, folder)

    def run(self) -> None:
        try:
            if not (self.source / "capture.pcap").is_file():
                raise RuntimeError(f"record {self.derived.source} first: no {self.source}")
            src = os.path.relpath(self.source / "capture.pcap", self.folder)
            self.journal.note(f"derived from {self.derived.source}/capture.pcap (real traffic)")
            if self.derived.transform == "vlan":
                self.add_vlan_tag(src)
            else:
                self.cut_late_start(src)
            for log in ("client.log", "server.log"):
                shutil.copyfile(self.source / log, self.folder / log)
            self.journal.note(f"copied client.log and server.log from {self.derived.source}")
        finally:
            self.journal.close()

    def add_vlan_tag(self, src: str) -> None:
        """The same packets with an 802.1Q header (priority 0, CFI 0) after the MAC addresses."""
        tag = self.derived.vlan_tag
        argv = [
            "tcprewrite", "--enet-vlan=add", f"--enet-vlan-tag={tag}",
            "--enet-vlan-cfi=0", "--enet-vlan-pri=0",
            f"--infile={src}", f"--outfile={self.derived.capture_file}",
        ]  # fmt: skip
        self.journal.run(argv, cwd=self.folder)

    def cut_late_start(self, src: str) -> None:
        """Keep packets from the first client audio frame at or after ``start_after`` s (as
        pcap: editcap would write pcapng by default)."""
        argv = [
            "tshark", "-r", src, "-Y", "websocket.opcode == 2 and websocket.mask == 1",
            "-T", "fields", "-e", "frame.number", "-e", "frame.time_relative",
        ]  # fmt: skip
        fields = self.journal.run(argv, cwd=self.folder)
        rows = [line.split("\t") for line in fields.splitlines()]
        first = next(int(n) for n, t in rows if float(t) >= self.derived.start_after)
        count = self.journal.run(["capinfos", "-c", "-M", "-T", "-r", src], cwd=self.folder)
        last = int(count.split()[-1])
        self.journal.note(f"first client audio frame at >= {self.derived.start_after}s: {first}")
        argv = ["editcap", "-F", "pcap", "-r", src, self.derived.capture_file, f"{first}-{last}"]
        self.journal.run(argv, cwd=self.folder)


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


def missing_evidence(capture: Path, filters: tuple[str, ...], extra: tuple[str, ...]) -> list[str]:
    """The required display filters that match no packet of ``capture`` (plain tshark)."""
    missing = []
    for display_filter in filters:
        argv = ["tshark", "-r", str(capture), *extra, "-Y", display_filter]
        out = subprocess.run(
            [*argv, "-T", "fields", "-e", "frame.number"], capture_output=True, text=True
        )
        if out.returncode != 0 or not out.stdout.strip():
            missing.append(display_filter)
    return missing


def frames_completed_out_of_order(capture: Path) -> list[int]:
    """Packets that complete a WebSocket frame some of whose later bytes arrived earlier.

    With ``tcp.reassemble_out_of_order`` on, tshark lists a reassembled frame's segments in
    sequence order; when a retransmission fills a hole, the packet that completes the frame is
    not the last segment listed. A decoder without out-of-order reassembly loses these frames.
    """
    argv = [
        "tshark", "-r", str(capture), "-o", "tcp.reassemble_out_of_order:TRUE",
        "-Y", "websocket", "-T", "fields", "-e", "frame.number", "-e", "tcp.segment",
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return [int(frame) for frame, segments in rows if segments.split(",")[-1] not in ("", frame)]


def present_evidence(capture: Path, filters: tuple[str, ...], extra: tuple[str, ...]) -> list[str]:
    """The display filters that do match some packet of ``capture``."""
    missing = missing_evidence(capture, filters, extra)
    return [display_filter for display_filter in filters if display_filter not in missing]


def prepare_folder(folder: Path) -> None:
    """Fresh outputs every time, but keep the hand-written README.md."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in GENERATED:
        (folder / name).unlink(missing_ok=True)


def required_tools(scenario: AnyScenario) -> list[str]:
    """The external programs a scenario runs (record.sh installs them)."""
    if isinstance(scenario, PlainDownload):
        return ["tcpdump", "curl", "editcap", "capinfos", "tshark"]
    if isinstance(scenario, Derived):
        rewrite = "tcprewrite" if scenario.transform == "vlan" else "editcap"
        return [rewrite, "tshark", "capinfos"]
    tools = ["dumpcap" if scenario.capture == "dumpcap-any" else "tcpdump"]
    tools += ["openssl", "editcap"] if scenario.tls else []
    tools += ["ip", "iptables", "sysctl"] if scenario.lossy else []
    return tools + (["tshark"] if scenario.require else [])


def check_tools(scenarios: list[AnyScenario]) -> None:
    needed = sorted({tool for s in scenarios for tool in required_tools(s)})
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)} (record.sh installs them)")
    if os.geteuid() != 0 and not all(isinstance(s, Derived) for s in scenarios):
        sys.exit("capturing (and network namespaces) need root; run as root")


def record(scenario: Scenario, folder: Path) -> None:
    """Record until the capture shows what the scenario is for (``require``)."""
    for attempt in range(1, scenario.attempts + 1):
        prepare_folder(folder)
        with tempfile.TemporaryDirectory(prefix="wsdoctor-rec-") as tmp:
            Recording(scenario, folder, Path(tmp)).run()
        capture = folder / scenario.capture_file
        missing = missing_evidence(capture, scenario.require, ())
        if scenario.reordered_frames and not frames_completed_out_of_order(capture):
            missing.append("a WebSocket frame completed by out-of-order reassembly")
        if not missing:
            return
        print(f"[{scenario.name}] attempt {attempt}: no packet matches {missing}", flush=True)
    raise SystemExit(f"{scenario.name}: required evidence missing after {scenario.attempts} runs")


def derive(derived: Derived, folder: Path, out: Path) -> None:
    """Rewrite the source scenario's capture and check the result still shows the point."""
    prepare_folder(folder)
    Derivation(derived, folder, out / derived.source).run()
    capture = folder / derived.capture_file
    missing = missing_evidence(capture, derived.require, derived.tshark_args)
    if missing:
        raise SystemExit(f"{derived.name}: no packet matches {missing}")


def record_download(scenario: PlainDownload, folder: Path) -> None:
    """Record, cut, and check that the cut is what it claims: mid-stream, and not WebSocket."""
    prepare_folder(folder)
    with tempfile.TemporaryDirectory(prefix="wsdoctor-rec-") as tmp:
        DownloadRecording(scenario, folder, Path(tmp)).run()
    capture = folder / scenario.capture_file
    missing = missing_evidence(capture, scenario.require, scenario.tshark_args)
    found = present_evidence(capture, scenario.forbid, scenario.tshark_args)
    if missing or found:
        raise SystemExit(f"{scenario.name}: no packet matches {missing}; some match {found}")


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
    # Table order, whatever the command line's: derived scenarios come after their source.
    chosen = [s for name, s in SCENARIOS.items() if not args.scenarios or name in args.scenarios]
    check_tools(chosen)
    for scenario in chosen:
        folder = args.out / scenario.name
        if isinstance(scenario, Derived):
            derive(scenario, folder, args.out)
        elif isinstance(scenario, PlainDownload):
            record_download(scenario, folder)
        else:
            record(scenario, folder)
        size = (folder / scenario.capture_file).stat().st_size
        print(f"[{scenario.name}] {scenario.capture_file} {size} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
