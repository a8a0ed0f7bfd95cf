"""More real hops for the proxy samples: tinyproxy, Apache httpd, Caddy and mitmproxy.

``servers.py`` runs the corpus's first proxies (nginx, HAProxy, Squid, Envoy) on
127.0.0.31. The hops here are software the corpus did not use before, on their own
addresses so they can be recorded beside other recordings: the client is 127.0.0.40, the
hop 127.0.0.41 and the emulator 127.0.0.42. Each runs as a foreground child of this script,
configured from a template next to it (``@NAME@`` placeholders) or, for mitmproxy, from
its command line, with its logs in the scenario folder and the rendered config copied there.

* tinyproxy 1.11 (Debian ``tinyproxy``): forward proxy, CONNECT to the API port only;
* Apache httpd 2.4 (Debian ``apache2``): ``mod_proxy_http`` ``upgrade=websocket`` reverse
  proxy whose backend ``timeout`` is the idle limit of the tunnel;
* Caddy 2.6 (Debian ``caddy``): ``reverse_proxy``; on stop it ends open WebSockets itself;
* mitmproxy 11 (PyPI ``mitmproxy``, installed on first use into its own venv under
  ``/tmp/wsdoctor-mitmproxy``, never globally): an explicit proxy that intercepts TLS
  with its own CA and writes the TLS secrets of both legs to the scenario's ``keys.log``.

``run NAME --folder DIR [--idle S]`` prints ``listening on ...`` once the hop's socket
listens (read from ``ss``: no probe connection reaches the capture). SIGHUP stops the
hop *now* (its own graceful stop: what a reload or a shutdown does to open sessions) while
this script stays up, so the recorder's helper is still there to stop at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .servers import StderrJournal, process_tree, readable, sockets_of, wait_listening

HERE = Path(__file__).resolve().parent
CLIENT_ADDR = "127.0.0.40"
HOP_ADDR = "127.0.0.41"
SERVER_ADDR = "127.0.0.42"
SERVER_PORT = 8080
TLS_PORT = 8443
START_TIMEOUT = 20.0
STOP_TIMEOUT = 8.0
MITM_PIN = "mitmproxy==11.0.2"
MITM_VENV = Path(tempfile.gettempdir()) / "wsdoctor-mitmproxy" / "venv"
MITM_INSTALL_TIMEOUT = 600.0


@dataclass(frozen=True)
class Hop:
    """One hop set-up: program, config template (None: command line only), port, logs."""

    name: str
    program: str
    template: str | None
    port: int
    logs: tuple[str, ...]
    config_copy: str | None
    stop_signal: signal.Signals = signal.SIGTERM
    log_owner: str | None = None  # the user the program writes its logs as


HOPS: dict[str, Hop] = {
    hop.name: hop
    for hop in (
        Hop("tinyproxy", "tinyproxy", "tinyproxy.conf.tmpl", 8888, ("tinyproxy.log",),
            "tinyproxy.conf", log_owner="nobody"),
        # Apache: SIGWINCH is its graceful stop (SIGTERM would kill the children at once).
        Hop("apache", "apache2", "apache-ws.conf.tmpl", SERVER_PORT,
            ("apache-error.log", "apache-access.log"), "apache2.conf", signal.SIGWINCH),
        Hop("caddy", "caddy", "Caddyfile.tmpl", SERVER_PORT, ("caddy.log",), "Caddyfile",
            signal.SIGINT),
        Hop("mitmproxy", "mitmdump", None, 8888, ("mitmproxy.log",), None, signal.SIGINT),
    )
}  # fmt: skip


def mitmdump() -> str:
    """The pinned mitmdump, installed into MITM_VENV when missing."""
    binary = MITM_VENV / "bin" / "mitmdump"
    pip = MITM_VENV / "bin" / "pip"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MITM_VENV)], check=True)
        argv = [str(pip), "install", "-q", "--disable-pip-version-check", MITM_PIN]
        subprocess.run(argv, check=True, timeout=MITM_INSTALL_TIMEOUT)
    return str(binary)


def version(hop: Hop) -> str:
    """The program's own version line, for the helper log and the README."""
    argv = {
        "tinyproxy": ["tinyproxy", "-v"],
        "apache2": ["apache2", "-v"],
        "caddy": ["caddy", "version"],
        "mitmdump": [mitmdump(), "--version"],
    }[hop.program]
    out = subprocess.run(argv, capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0]


def render(hop: Hop, workdir: Path, folder: Path, idle: int) -> str:
    """The template with its placeholders filled; a leftover one is a template bug."""
    assert hop.template is not None
    values = {
        "HOP_ADDR": HOP_ADDR, "PORT": str(hop.port), "CLIENT_ADDR": CLIENT_ADDR,
        "SERVER_ADDR": SERVER_ADDR, "SERVER_PORT": str(SERVER_PORT), "IDLE_S": str(idle),
        "WORKDIR": str(workdir), "LOGDIR": str(folder),
    }  # fmt: skip
    text = (HERE / hop.template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if "@" in "".join(line for line in text.splitlines() if not line.startswith("#")):
        raise ValueError(f"{hop.template}: unfilled placeholder in {text!r}")
    return text


def commands(hop: Hop, conf: Path, workdir: Path, folder: Path) -> tuple[list[str], list[str]]:
    """(syntax check or [], foreground run) for the hop."""
    if hop.program == "tinyproxy":
        return [], ["tinyproxy", "-d", "-c", str(conf)]
    if hop.program == "apache2":
        return ["apache2", "-t", "-f", str(conf)], ["apache2", "-DFOREGROUND", "-f", str(conf)]
    if hop.program == "caddy":
        args = ["--config", str(conf), "--adapter", "caddyfile"]
        return ["caddy", "validate", *args], ["caddy", "run", *args]
    # mitmproxy: explicit proxy on the hop address, its CA in the scratch confdir; the
    # emulator's self-signed certificate is accepted upstream (ssl_insecure).
    return [], [
        mitmdump(), "--listen-host", HOP_ADDR, "--listen-port", str(hop.port),
        "--set", f"confdir={workdir}", "--set", "ssl_insecure=true",
        "--set", "connection_strategy=lazy", "--flow-detail", "2",
    ]  # fmt: skip


def environment(hop: Hop, workdir: Path, folder: Path) -> dict[str, str]:
    """UTC clocks; Caddy's state in the scratch dir; mitmproxy's TLS secrets to keys.log."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "TZ": "UTC"}
    env |= {"HOME": str(workdir), "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    if hop.program == "mitmdump":
        env["MITMPROXY_SSLKEYLOGFILE"] = str(folder / "keys.log")
    return env


class RunningHop:
    """One started hop: render, check, launch, wait for its socket; stop on demand."""

    def __init__(self, hop: Hop, folder: Path, idle: int) -> None:
        self.hop, self.folder, self.idle = hop, folder, idle
        self.workdir = Path(tempfile.mkdtemp(prefix=f"wsdoctor-{hop.name}-"))
        self.workdir.chmod(0o755)
        self.journal = StderrJournal()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.journal.note(f"{self.hop.name}: {version(self.hop)}")
        for name in self.hop.logs:
            (self.folder / name).unlink(missing_ok=True)
            (self.folder / name).touch()
            if self.hop.log_owner:
                entry = pwd.getpwnam(self.hop.log_owner)
                os.chown(self.folder / name, entry.pw_uid, entry.pw_gid)
        conf = self.workdir / (self.hop.config_copy or "none")
        if self.hop.template:
            text = render(self.hop, self.workdir, self.folder, self.idle)
            conf.write_text(text)
            (self.folder / str(self.hop.config_copy)).write_text(readable(text, self.workdir))
        check, run = commands(self.hop, conf, self.workdir, self.folder)
        env = environment(self.hop, self.workdir, self.folder)
        if check:
            self.journal.command(self.shown(check))
            done = subprocess.run(check, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise RuntimeError(f"{self.hop.name}: config check failed: {done.stderr.strip()}")
        self.journal.command(self.shown(run))
        log = (self.folder / self.hop.logs[0]).open("ab")
        with log:  # mitmproxy's flow dump and tinyproxy/caddy chatter go to stderr
            out = log if self.hop.program == "mitmdump" else None
            self.proc = subprocess.Popen(run, stdin=subprocess.DEVNULL, stdout=out, env=env)
        wait_listening(self.proc, HOP_ADDR, self.hop.port, START_TIMEOUT)
        sockets = sockets_of(process_tree(self.proc.pid))
        stray = [str(s) for s in sockets if not s.local.startswith(f"{HOP_ADDR}:")]
        if stray:
            self.stop()
            raise RuntimeError(f"{self.hop.name}: socket outside {HOP_ADDR}: {stray}")
        self.journal.note(f"{self.hop.name} sockets: " + "; ".join(map(str, sockets)))

    def shown(self, argv: list[str]) -> list[str]:
        return [readable(arg, self.workdir).replace(str(MITM_VENV), "$MITM_VENV") for arg in argv]

    def stop(self) -> None:
        """The program's own graceful stop, SIGKILL if it lingers (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(self.hop.stop_signal)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None:
            self.journal.note(f"{self.hop.name} stopped ({proc.returncode})")
            for name in self.hop.logs:
                with contextlib.suppress(FileNotFoundError):
                    os.chown(self.folder / name, 0, 0)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def on_signal(action: Callable[[], None]) -> Callable[[int, object], None]:
    return lambda signum, frame: action()


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one hop until SIGINT/SIGTERM; SIGHUP stops the hop")
    run.add_argument("name", choices=sorted(HOPS))
    run.add_argument("--folder", type=Path, required=True, help="where its logs go")
    run.add_argument("--idle", type=int, default=600, help="idle limit where the hop has one")
    args = parser.parse_args(argv)
    hop = RunningHop(HOPS[args.name], args.folder.resolve(), args.idle)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    try:
        hop.start()
        if hop.hop.program == "mitmdump":  # the client must trust the interception CA
            shutil.copy(hop.workdir / "mitmproxy-ca-cert.pem", args.folder / "mitmproxy-ca.pem")
        signal.signal(signal.SIGHUP, on_signal(hop.stop))
        print(f"listening on {HOP_ADDR}:{hop.hop.port} ({hop.hop.name})", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        hop.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
