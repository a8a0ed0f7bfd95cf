"""What a sample folder is made of: the scenario kinds, and the constants they share.

How to add a scenario
---------------------
1. Pick the registry module of its group and append one object to its ``SCENARIOS`` list:
   ``scenarios_basic.py`` (healthy sessions, capture-engine variants), ``scenarios_faults.py``
   (misbehaving clients and servers), ``scenarios_proxies.py`` (intermediaries),
   ``scenarios_hops.py`` (the hops of proxies/hops.py on 127.0.0.40-42). The name is
   the folder under ``sample_captures/``; names must be unique across the three modules
   (``registry.py`` fails loudly on a duplicate). Several people can add scenarios at once
   because nobody edits a shared table.
2. Live traffic is a :class:`Scenario`: the emulator (``server_args``: any ``emulator.py``
   switch) and a scripted client (``steps``: ``client.py`` steps; ``client="node"`` runs
   ``node/client.mjs`` with the same command line). ``processes`` start after the server and
   before the capture (a proxy: give its ``ready`` line, let the client dial it with ``url``
   or ``client_args``, and add its address to ``capture_hosts``). ``hooks`` run while the
   client is connected (inject a packet, kill a socket), timed from the client's ``open``
   line. Strings in ``argv``/``url``/``client_args`` may use the placeholders of
   :meth:`RunContext.placeholders`; a callable gets the :class:`RunContext` instead.
   The recorder waits ``client_timeout`` (default CLIENT_TIMEOUT, 120 s) for the client to
   exit: raise it for a scenario that waits out a longer real timeout.
3. Rewriting another scenario's capture is a :class:`Derived`; not-WebSocket traffic a
   :class:`PlainDownload`.
4. Declare, per session in start order, exactly the findings it must produce: each contract
   category that must fire, with the highest severity among that session's findings in it,
   ``expect=(Findings({"idle-timeout": "high"}),)``; a category left out must not fire at
   all, and ``HEALTHY`` (``Findings()``) means no finding whatsoever. The number of entries is
   checked against the sessions tshark finds; ``tests/rules/test_sample_findings.py`` runs the
   built-in rule pack and requires exactly this, category by category and severity by severity.
5. ``bash tools/recorder/record.sh NAME`` records, checks ``require`` and writes
   ``expected.yaml`` from plain tshark (``expected.py``); then write the folder's README.md
   (``facts.sh`` prints the numbers it quotes).

Every recording talks only to 127.0.0.0/8 or ``::1``: keep new addresses there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from analyzer.rules.model import SEVERITIES
from analyzer.schema import CATEGORIES  # one vocabulary for the product and its corpus

from .lossy_path import LossyPath, Role

if TYPE_CHECKING:
    from .journal import Journal

RECORDER_DIR = Path(__file__).resolve().parent
REPO = RECORDER_DIR.parents[1]
DEFAULT_OUT = REPO / "sample_captures"
PYTHON = sys.executable
# The recorder's own programs run as modules of this package (``python -m tools.recorder.X``),
# so every child needs the repository root on its path: run the recorder from there.
PACKAGE = __package__


def module_argv(module: str) -> tuple[str, ...]:
    """The command that runs ``module`` of this package (``emulator``, ``proxies.servers``)."""
    return (PYTHON, "-m", f"{PACKAGE}.{module}")


SERVER_ADDR = "127.0.0.21"
CLIENT_ADDR = "127.0.0.11"
PLAIN_PORT = 8080
TLS_PORT = 8443
TLS_NAME = "api.deepgram.test"  # RFC 2606 .test: obviously not the real service
QUERY = "encoding=linear16&sample_rate=16000&channels=1&model=nova-3"

SETTLE_SECONDS = 1.0  # after the client is done: let the last FIN/ACK/RST reach the capture
# The default wait for a client to exit (Scenario.client_timeout): > the longest real
# timeout most scenarios wait out (nginx: 60 s); a longer one is set per scenario.
CLIENT_TIMEOUT = 120.0
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

# Port 8080 belongs to HTTP, whose dissector is tried before any heuristic.
WEBSOCKET_HEURISTIC = ("-o", "tcp.try_heuristic_first:TRUE", "--enable-heuristic", "websocket_tcp")

CaptureTool = Literal["tcpdump", "dumpcap-any"]
ClientKind = Literal["python", "python-proxy", "node", "websocket-client"]
# The scripted clients; both take client.py's command line and print "open HOST:PORT" once
# connected (the recorder times kills and hooks from that line).
CLIENT_COMMANDS: dict[str, tuple[str, ...]] = {
    "python": module_argv("client"),
    "node": ("node", str(RECORDER_DIR / "node" / "client.mjs")),
    # client.py pins proxy=None; through a CONNECT proxy, the wrapper that sets --proxy.
    "python-proxy": module_argv("proxies.proxy_client"),
    # Python websocket-client 1.9 in its own venv (wsclient.py): audio and close steps only.
    "websocket-client": module_argv("wsclient"),
}


def url_host(addr: str) -> str:
    """An address as it appears in a URL: IPv6 literals go in brackets (RFC 3986)."""
    return f"[{addr}]" if ":" in addr else addr


@dataclass(frozen=True)
class Findings:
    """Exactly the findings one session must produce: contract category -> severity.

    The severity is the highest among the session's findings in that category (several
    rules may share one). A category that is not listed must produce no finding at any
    severity; ``Findings()`` (``HEALTHY``) means the session must produce none at all.
    The vocabularies are the rule format's (analyzer.schema, analyzer.rules.model).
    """

    severities: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [c for c in self.severities if c not in CATEGORIES]
        bad = {c: s for c, s in self.severities.items() if s not in SEVERITIES}
        if unknown or bad:
            raise ValueError(
                f"findings: unknown categories {unknown}, invalid severities {bad} "
                f"(categories: {', '.join(CATEGORIES)}; severities: {', '.join(SEVERITIES)})"
            )
        # Read-only, so a shared declaration (HEALTHY, a module constant) stays as declared.
        object.__setattr__(self, "severities", MappingProxyType(dict(self.severities)))

    def __hash__(self) -> int:
        return hash(tuple(self.severities.items()))

    def as_dict(self) -> dict[str, str]:
        """Category -> severity, in declaration order (expected.yaml's ``findings``)."""
        return dict(self.severities)


HEALTHY = Findings()


@dataclass
class RunContext:
    """What a process spec, a hook or a template sees of the running recording."""

    scenario: Scenario
    folder: Path
    workdir: Path
    journal: Journal
    port: int
    client_pid: int | None = None

    def placeholders(self) -> dict[str, str]:
        """``{name}`` placeholders for string argv/url/client_args of a scenario."""
        return {
            "python": PYTHON,
            "recorder": str(RECORDER_DIR),
            "package": PACKAGE,
            "folder": str(self.folder),
            "workdir": str(self.workdir),
            "server_addr": self.scenario.server_addr,
            "server_host": url_host(self.scenario.server_addr),
            "client_addr": self.scenario.client_addr,
            "port": str(self.port),
            "query": QUERY,
        }

    def expand(self, argv: Sequence[str] | Callable[[RunContext], Sequence[str]]) -> list[str]:
        """A template argv with its placeholders filled in, or what the callable returns."""
        if callable(argv):
            return list(argv(self))
        values = self.placeholders()
        return [arg.format_map(values) for arg in argv]

    def run(self, argv: list[str], role: Role = "server") -> str:
        """Run a short command (in the role's namespace on a lossy path), logged; its stdout."""
        lossy = self.scenario.lossy
        return self.journal.run([*lossy.exec_prefix(role), *argv] if lossy else argv)


ArgvSpec = tuple[str, ...] | Callable[[RunContext], Sequence[str]]


@dataclass(frozen=True)
class Process:
    """A helper process (e.g. a proxy) running from before the capture until after it.

    ``ready``: a stdout line prefix that says it is listening (None: do not wait). Its
    stderr, and its stdout after that line, go to ``<name>.log`` in the scenario folder.
    """

    name: str
    argv: ArgvSpec
    ready: str | None = None
    role: Role = "server"
    ready_timeout: float = 10.0


@dataclass(frozen=True)
class Hook:
    """An action during the recording, ``at`` seconds after the client's ``open`` line.

    It runs in its own thread (several hooks run side by side); an exception fails the
    recording once the client is done. Use ``ctx.run(argv)`` so the command is logged.
    """

    name: str
    at: float
    action: Callable[[RunContext], None]


@dataclass(frozen=True)
class Scenario:
    """One folder of samples recorded live: emulator, optional helpers, client, capture."""

    name: str
    steps: tuple[str, ...]
    tls: bool = False
    kill_after: float | None = None  # SIGKILL the client this long after the upgrade
    # How long the recorder waits for the client to exit on its own (a client it kills
    # is waited for ``kill_after`` instead): raise it for a scenario that waits out a
    # timeout longer than CLIENT_TIMEOUT (e.g. Envoy's 300 s stream_idle_timeout).
    client_timeout: float = CLIENT_TIMEOUT
    settle: float = SETTLE_SECONDS
    server_args: tuple[str, ...] = field(default_factory=tuple)
    server_addr: str = SERVER_ADDR
    client_addr: str = CLIENT_ADDR
    client: ClientKind = "python"
    client_args: tuple[str, ...] = ()  # more client options (placeholders allowed)
    url: str | None = None  # client URL template; default: the emulator's /v1/listen
    processes: tuple[Process, ...] = ()  # started after the server, before the capture
    hooks: tuple[Hook, ...] = ()
    capture_hosts: tuple[str, ...] = ()  # more hosts for the capture filter (e.g. a proxy)
    capture: CaptureTool = "tcpdump"
    snaplen: int | None = None  # tcpdump -s: keep only this many bytes of each packet
    lossy: LossyPath | None = None  # run in three namespaces with loss on the router
    # Display filters that must each match at least one packet, or the recording is redone
    # (up to ``attempts`` times): for randomness that cannot be seeded, such as packet loss.
    require: tuple[str, ...] = ()
    attempts: int = 1
    # Also required: a WebSocket frame that only out-of-order reassembly completes.
    reordered_frames: bool = False
    tshark_args: tuple[str, ...] = ()  # for ``require`` and expected.yaml (e.g. "-d ...")
    expect: tuple[Findings, ...] = ()  # per session, in start order
    expect_without_keys: tuple[Findings, ...] = ()  # TLS only: the capture without keys

    @property
    def capture_file(self) -> str:
        return "capture.pcapng" if self.capture == "dumpcap-any" else "capture.pcap"

    @property
    def capture_iface(self) -> str:
        return self.lossy.capture_iface if self.lossy else "lo"

    @property
    def port(self) -> int:
        return TLS_PORT if self.tls else PLAIN_PORT


@dataclass(frozen=True)
class Derived:
    """A scenario made from another scenario's real capture, rewritten; no new traffic.

    ``vlan``: tcprewrite adds an 802.1Q tag to every packet (a trunk-port capture).
    ``late-start``: editcap keeps the packets from the first client audio frame at or after
    ``start_after`` seconds to the end (tcpdump started late: no SYN, no handshake).
    ``client-leg``: tshark keeps only the packets to or from ``keep_host`` (the client of
    a proxied recording): what a capture on the client's machine shows of it.
    """

    name: str
    source: str
    transform: Literal["vlan", "late-start", "client-leg"]
    vlan_tag: int = 42
    start_after: float = 2.0
    keep_host: str | None = None  # client-leg: the one host whose packets stay
    require: tuple[str, ...] = ()
    tshark_args: tuple[str, ...] = ()  # for ``require`` and expected.yaml (e.g. a heuristic)
    capture_file: str = "capture.pcap"
    expect: tuple[Findings, ...] = ()


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
    expect: tuple[Findings, ...] = ()
    attempts: int = 5  # takes until require/forbid hold (the cut point is random)


@dataclass(frozen=True)
class BrowserRun:
    """Headless Chromium's own WebSocket, recorded three ways in one run by
    ``har_chromium.py --capture``: the DevTools HAR, tcpdump on ``lo`` and the emulator's
    log. The page is har_chromium's (audio, one KeepAlive, silence until the 1011)."""

    name: str
    tshark_args: tuple[str, ...] = ()
    capture_file: str = "capture.pcap"
    expect: tuple[Findings, ...] = ()


AnyScenario = Scenario | Derived | PlainDownload | BrowserRun
