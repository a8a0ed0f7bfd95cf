"""The live recording procedure of one :class:`Scenario`.

Start the Deepgram-like emulator (server 127.0.0.21, or ``::1``) and wait until it listens,
start the scenario's helper processes (proxies), start the capture (tcpdump on ``lo``, or
dumpcap on ``any`` for a Linux cooked pcapng) and wait until it is really listening, run the
scripted client (source 127.0.0.11, or ``::1``) with its hooks, wait for it plus a settle
delay so FIN/RST and the last ACKs land in the file, stop the capture with SIGINT (so it
flushes), then the helpers and the emulator. Logs, the exact commands and (for TLS) the key
log end up next to the capture. On a lossy path every process runs in its namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .capture import start_capture, stop_capture
from .evidence import frames_completed_out_of_order, missing_evidence
from .journal import Journal, drain, wait_for_line
from .kinds import (
    CLIENT_COMMANDS,
    GENERATED,
    PLAIN_PORT,
    QUERY,
    TLS_NAME,
    TLS_PORT,
    Hook,
    Process,
    RunContext,
    Scenario,
    module_argv,
    url_host,
)
from .lossy_path import Role
from .namespaces import lossy_namespaces


class Recording:
    """Runs the processes of one scenario and keeps a log of the exact commands."""

    def __init__(self, scenario: Scenario, folder: Path, workdir: Path) -> None:
        self.scenario = scenario
        self.folder = folder
        self.workdir = workdir
        self.journal = Journal(scenario.name, folder)
        self.ctx = RunContext(scenario, folder, workdir, self.journal, scenario.port)
        self.hook_errors: list[BaseException] = []

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
            with lossy_namespaces(self.scenario.lossy, self.journal):
                self.record()
        finally:
            self.journal.close()

    def record(self) -> None:
        cert, key = self.make_cert() if self.scenario.tls else (None, None)
        server = self.start_server(cert, key)
        helpers: list[tuple[str, subprocess.Popen[str]]] = []
        try:
            for spec in self.scenario.processes:
                helpers.append((spec.name, self.start_process(spec)))
            capture = start_capture(self.scenario, self.folder, self.spawn)
            try:
                self.run_client(cert)
                time.sleep(self.scenario.settle)
            finally:
                stop_capture(self.scenario, self.folder, capture, self.journal)
        finally:
            for name, proc in reversed(helpers):
                self.stop(proc, name)
            self.stop(server, "emulator")
        if self.scenario.tls:
            self.inject_secrets()

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
        argv = [
            *module_argv("emulator"),
            "--host", self.scenario.server_addr, "--port", str(self.scenario.port),
            "--log", str(self.folder / "server.log"),
            *self.scenario.server_args,
        ]  # fmt: skip
        if cert and key:
            argv += ["--tls-cert", str(cert), "--tls-key", str(key)]
        server = self.spawn(argv, "server", stdout=subprocess.PIPE)
        wait_for_line(server, server.stdout, "listening on", timeout=10)
        return server

    def start_process(self, spec: Process) -> subprocess.Popen[str]:
        """A helper (e.g. a proxy): stderr and, after its ready line, stdout to its log."""
        log = self.folder / f"{spec.name}.log"
        log.write_text("")
        argv = self.ctx.expand(spec.argv)
        with log.open("a") as err:
            proc = self.spawn(argv, spec.role, stdout=subprocess.PIPE, stderr=err)
        if spec.ready is not None:
            line = wait_for_line(proc, proc.stdout, spec.ready, timeout=spec.ready_timeout)
            self.note(f"{spec.name} ready: {line.strip()}")
        drain(proc.stdout, log)
        return proc

    def client_argv(self, cert: Path | None) -> list[str]:
        argv = [*CLIENT_COMMANDS[self.scenario.client], "--bind", self.scenario.client_addr]
        argv += ["--log", str(self.folder / "client.log")]
        if self.scenario.tls:
            # Keep the public-looking name in the URL (Host header, SNI); dial the loopback.
            argv += ["--url", self.url(f"wss://{TLS_NAME}:{TLS_PORT}/v1/listen?{QUERY}")]
            argv += ["--connect-host", self.scenario.server_addr, "--cafile", str(cert)]
            argv += ["--keylog", str(self.folder / "keys.log")]
        else:
            host = url_host(self.scenario.server_addr)
            argv += ["--url", self.url(f"ws://{host}:{PLAIN_PORT}/v1/listen?{QUERY}")]
        argv += self.ctx.expand(self.scenario.client_args)
        return argv + list(self.scenario.steps)

    def url(self, default: str) -> str:
        """The scenario's URL template (e.g. a proxy's address) or the emulator's URL."""
        return self.ctx.expand((self.scenario.url,))[0] if self.scenario.url else default

    def run_client(self, cert: Path | None) -> None:
        client = self.spawn(self.client_argv(cert), "client", stdout=subprocess.PIPE)
        self.ctx.client_pid = client.pid
        if self.scenario.kill_after is None and not self.scenario.hooks:
            client.wait(timeout=self.scenario.client_timeout)
            self.note(f"client exited with {client.returncode}")
            return
        wait_for_line(client, client.stdout, "open", timeout=10)
        threads = [self.start_hook(hook, time.monotonic()) for hook in self.scenario.hooks]
        try:
            if self.scenario.kill_after is None:
                client.wait(timeout=self.scenario.client_timeout)
                self.note(f"client exited with {client.returncode}")
            else:
                self.kill_client(client, self.scenario.kill_after)
        finally:
            for thread in threads:
                thread.join()
        if self.hook_errors:
            raise RuntimeError(f"hook failed: {self.hook_errors[0]!r}") from self.hook_errors[0]

    def kill_client(self, client: subprocess.Popen[str], after: float) -> None:
        self.note(f"client connected; SIGKILL in {after:.1f}s")
        time.sleep(after)
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=10)
        self.note(f"client pid {client.pid} killed (returncode {client.returncode})")

    def start_hook(self, hook: Hook, opened: float) -> threading.Thread:
        """Run ``hook`` ``hook.at`` s after ``opened`` in a thread; keep its exception."""

        def run() -> None:
            time.sleep(max(0.0, opened + hook.at - time.monotonic()))
            self.note(f"hook {hook.name} (t+{hook.at:.1f}s after open)")
            try:
                hook.action(self.ctx)
            except BaseException as exc:  # reported by run_client, after the client is done
                self.note(f"hook {hook.name} failed: {exc!r}")
                self.hook_errors.append(exc)

        thread = threading.Thread(target=run, name=f"hook-{hook.name}", daemon=True)
        thread.start()
        return thread

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


def prepare_folder(folder: Path, extra: tuple[str, ...] = ()) -> None:
    """Fresh outputs every time, but keep the hand-written README.md."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*GENERATED, *extra):
        (folder / name).unlink(missing_ok=True)


def record(scenario: Scenario, folder: Path) -> None:
    """Record until the capture shows what the scenario is for (``require``)."""
    helper_logs = tuple(f"{spec.name}.log" for spec in scenario.processes)
    for attempt in range(1, scenario.attempts + 1):
        prepare_folder(folder, helper_logs)
        with tempfile.TemporaryDirectory(prefix="wsdoctor-rec-") as tmp:
            Recording(scenario, folder, Path(tmp)).run()
        capture = folder / scenario.capture_file
        missing = missing_evidence(capture, scenario.require, scenario.tshark_args)
        if scenario.reordered_frames and not frames_completed_out_of_order(capture):
            missing.append("a WebSocket frame completed by out-of-order reassembly")
        if not missing:
            return
        print(f"[{scenario.name}] attempt {attempt}: no packet matches {missing}", flush=True)
    raise SystemExit(f"{scenario.name}: required evidence missing after {scenario.attempts} runs")
