"""Misbehaving clients and servers: protocol errors, unanswered pings, resets, rejections.

Append yours to ``SCENARIOS`` (how: the docstring of kinds.py). Names must be unique
across all scenario modules; registry.py fails loudly otherwise.

Every scenario here is real traffic between real programs on loopback: the emulator's
switches and the client's steps are documented in ``emulator.py`` / ``client.py`` (with the
reference tag behind each behaviour), the forged RST comes from ``inject.py``, and the Node
scenarios run ``node/client.mjs`` on the pinned ``ws`` (``node/setup.sh`` runs ``npm ci``
first, as a helper process whose ready line the recorder waits for).
"""

from __future__ import annotations

from .dead_path import DEAD_PATH, path_dies
from .kinds import AnyScenario, Findings, Process, Scenario

# The Node client needs its node_modules (never committed): npm ci, before the capture.
NODE_DEPS = Process(
    "node-deps",
    ("bash", "{recorder}/node/setup.sh"),
    ready="node deps ready",
    ready_timeout=300.0,
)
# The middlebox: sniffs from before the client connects, resets the client 3 s after the 101.
FORGED_RST = Process(
    "inject",
    (
        "{python}", "-m", "{package}.inject",
        "--server", "{server_addr}:{port}", "--client", "{client_addr}",
        "--after", "3", "--ttl", "47",
    ),
    ready="watching",
)  # fmt: skip
# Container mode: no ``encoding`` (nor ``sample_rate``, only read with it), so the emulator
# must recognise a file format in the first audio bytes (DATA-0000 otherwise).
NO_ENCODING = ("--drop-param", "encoding", "--drop-param", "sample_rate")

SCENARIOS: list[AnyScenario] = [
    # KeepAlive JSON in BINARY frames while audio pauses (the old .NET/Go SDK bug): they
    # keep NET-0001 away but are neither KeepAlive nor audio, so after 30 s without any
    # response the server closes 1011 NET-0000 (GH deepgram-dotnet-sdk#131/#133).
    Scenario(
        "keepalive-binary",
        ("audio:2", "keepalive-binary:36:3", "wait-close:10"),
        require=(
            "websocket.opcode == 2 and tcp.len < 40",
            "websocket.payload.close.status_code == 1011",
        ),
        expect=(Findings({"keepalive-misuse": "high"}),),
    ),
    # A zero-length binary frame mid-stream (iOS Safari's empty chunk): the legacy end of
    # stream, so the server sends final Results + Metadata and closes 1000 although the
    # client meant to go on streaming.
    Scenario(
        "empty-binary",
        ("audio:2", "empty:0", "audio:3"),
        require=("websocket.opcode == 2 and websocket.payload_length == 0",),
        expect=(Findings({"keepalive-misuse": "high"}),),
    ),
    # No encoding declared and an HTML error page streamed as "audio": no container to
    # detect, close 1008 DATA-0000.
    Scenario(
        "data-error-1008",
        ("bad-audio:2", "wait-close:10"),
        client_args=NO_ENCODING,
        require=("websocket.payload.close.status_code == 1008",),
        expect=(Findings({"protocol-error": "high"}),),
    ),
    # A whole 4 s recording in one 128000-byte message against a 64 KiB limit: the server's
    # websockets fails the connection with 1009.
    Scenario(
        "message-too-big-1009",
        ("audio:1", "big:128000", "wait-close:10"),
        server_args=("--max-message-size", "65536"),
        require=("websocket.payload.close.status_code == 1009",),
        expect=(Findings({"protocol-error": "high"}),),
    ),
    # No Authorization header: 401 INVALID_AUTH with dg-error and dg-request-id.
    Scenario(
        "handshake-401",
        ("audio:1",),
        client_args=("--no-auth",),
        require=("http.response.code == 401",),
        expect=(Findings({"handshake-failure": "high"}),),
    ),
    # An invalid query value (the reference's language=english): 400 Bad Request.
    Scenario(
        "handshake-400",
        ("audio:1",),
        client_args=("--param", "language=english"),
        require=("http.response.code == 400",),
        expect=(Findings({"handshake-failure": "high"}),),
    ),
    # The client sends its close frame and resets the connection (SO_LINGER 0) at once:
    # the server's close reply meets a dead socket.
    Scenario(
        "close-and-drop",
        ("audio:2", "close-and-drop"),
        require=("websocket.payload.close.status_code == 1000", "tcp.flags.reset == 1"),
        expect=(Findings({"missing-close": "medium"}),),
    ),
    # A middlebox (inject.py) resets the client 3 s into the stream with a RST that claims
    # to come from the server but has TTL 47, no DF and an unrelated IP ID.
    Scenario(
        "forged-rst",
        ("audio:10", "closestream"),
        processes=(FORGED_RST,),
        require=("tcp.flags.reset == 1 and ip.ttl == 47", "websocket.opcode == 2"),
        expect=(Findings({"proxy-interference": "high", "missing-close": "high"}),),
    ),
    # The server stops reading 6 s in (no pongs); the client pings every 4 s, gives up 4 s
    # after an unanswered ping with its own 1011 "keepalive ping timeout", waits its 10 s
    # close timeout and drops the TCP connection. Pauses audio with text KeepAlives meanwhile.
    Scenario(
        "client-ping-timeout",
        ("audio:3", "keepalive:30:3"),
        server_args=("--stall-after", "6"),
        client_args=("--ping-interval", "4", "--ping-timeout", "4"),
        require=("websocket.opcode == 9", "websocket.payload.close.status_code == 1011"),
        expect=(Findings({"ping-timeout": "high"}),),
    ),
    # The Node ws client goes silent after 2 s of audio: the real 10 s window, 1011 NET-0001.
    Scenario(
        "node-idle-1011",
        ("audio:2", "wait-close:30"),
        client="node",
        processes=(NODE_DEPS,),
        require=("websocket.payload.close.status_code == 1011",),
        expect=(Findings({"idle-timeout": "high"}),),
    ),
    # The Node ws client SIGKILLed ~3 s into a one-minute stream: no close frame either way.
    Scenario(
        "node-client-killed",
        ("audio:60",),
        client="node",
        processes=(NODE_DEPS,),
        kill_after=3.0,
        settle=2.0,
        require=("websocket.opcode == 2", "tcp.flags.fin == 1"),
        expect=(Findings({"missing-close": "high"}),),
    ),
]

# Issue 13's scenarios, on 127.0.0.60-79 (another recording group uses 127.0.0.40-59).
# The Python websocket-client library (not websockets) closes 1000 after 4 s of audio into a
# server that stopped reading 3 s in: the server's kernel ACKs the close, nobody answers it,
# and the library's close timeout (3 s, its ``close()`` default) ends TCP with a FIN.
SCENARIOS.append(
    Scenario(
        "close-unanswered",
        ("audio:4", "close:1000"),
        client="websocket-client",
        server_addr="127.0.0.61",
        client_addr="127.0.0.60",
        server_args=("--stall-after", "3"),
        require=(
            "websocket.payload.close.status_code == 1000 and ip.src == 127.0.0.60",
            "tcp.flags.fin == 1 and ip.src == 127.0.0.60",
        ),
        expect=(Findings({"missing-close": "medium"}),),
    )
)

# The path dies silently 3 s into a stream (dead_path.py: the router of a three-namespace
# path drops everything, both ways; capture on the server's interface). The server's next
# ping (every 4 s) is never acknowledged: the kernel retransmits it with exponential backoff
# and sends nothing new, so the 1011 "keepalive ping timeout" close that websockets queues
# 20 s later, and its FIN, never reach the wire (server.log has them). Emulator timers off,
# so only the ping notices; the client is SIGKILLed at 50 s, unseen behind the dead path.
SCENARIOS.append(
    Scenario(
        "silent-path-death",
        ("audio:60",),
        server_addr=DEAD_PATH.server_addr,
        client_addr=DEAD_PATH.client_addr,
        lossy=DEAD_PATH,
        hooks=(path_dies(3.0),),
        kill_after=50.0,
        settle=2.0,
        server_args=(
            "--ping-interval", "4",
            "--inactivity-timeout", "600", "--response-timeout", "600",
        ),
        require=(
            "tcp.analysis.retransmission and ip.src == 127.0.0.63",
            "websocket.opcode == 9 and ip.src == 127.0.0.63",
        ),
        expect=(Findings({"proxy-interference": "high", "capture-quality": "low"}),),
    )
)  # fmt: skip

# idle-1011 captured with ``tcpdump -s 96``: each packet keeps its Ethernet, IP and TCP
# headers (66 bytes with timestamps) and the first 30 bytes of payload, so the upgrade, the
# audio frames and the close frame are cut; the client's log (kept as client.log) has them.
# Alone the capture only says so (capture-quality); with client.log the session is an
# idle-timeout (tests/rules/test_new_situations.py reads them together).
SCENARIOS.append(
    Scenario(
        "snaplen-truncated",
        ("audio:2", "wait-close:30"),
        server_addr="127.0.0.67",
        client_addr="127.0.0.66",
        snaplen=96,
        require=("frame.cap_len < frame.len", "tcp.flags.fin == 1"),
        expect=(Findings({"capture-quality": "low"}),),
    )
)
