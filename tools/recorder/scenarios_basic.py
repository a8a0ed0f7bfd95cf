"""Healthy sessions and capture-engine variants (the first samples); see kinds.py to add one.

Each entry says what the client does and what the capture must show; ``expect`` lists the
exact findings per session, category -> severity (``HEALTHY``: no finding at all).
"""

from __future__ import annotations

from .kinds import (
    HEALTHY,
    WEBSOCKET_HEURISTIC,
    AnyScenario,
    BrowserRun,
    Derived,
    Findings,
    PlainDownload,
    Scenario,
)
from .lossy_path import LossyPath

# The report's own attack surface: everything here is text an attacker (or a careless app)
# controls and a report displays. A fake 40-hex key (the shape of a real Deepgram key) in
# the Authorization header, in the browser-style `Sec-WebSocket-Protocol: token, <key>` and
# pasted into a text message, so redaction is proven on a capture that really carries it;
# markup that runs if a report inserts it unescaped (it sets `data-pwned` on <body>); and
# markup in the server's close reason, which the client echoes. The session is healthy.
HOSTILE_KEY = "0badc0de" * 5  # 40 hex digits like a real key; obviously fake
HOSTILE_TEXTS = (
    "<script>document.body.setAttribute('data-pwned','1')</script>",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">",
    '{"type":"KeepAlive","note":"key=' + HOSTILE_KEY + '"}',
)
HOSTILE_CLOSE_REASON = "<svg onload=alert(1)>"


def _literal(text: str) -> str:
    """Protect braces from the recorder's ``{placeholder}`` expansion of client_args."""
    return text.replace("{", "{{").replace("}", "}}")


HOSTILE_CLIENT_ARGS = (
    "--token", HOSTILE_KEY,
    "--subprotocol", "token", "--subprotocol", HOSTILE_KEY,
    *(arg for text in HOSTILE_TEXTS for arg in ("--text", _literal(text))),
)  # fmt: skip

SCENARIOS: list[AnyScenario] = [
    Scenario(
        "clean-close",
        ("audio:3", "keepalive:7:3", "audio:2", "closestream"),
        expect=(HEALTHY,),
    ),
    Scenario(
        "idle-1011",
        ("audio:2", "wait-close:30"),
        expect=(Findings({"idle-timeout": "high"}),),
    ),
    # The client would stream for a minute; it is killed ~3 s after the upgrade. The
    # longer settle gives the server time to notice and close its side.
    Scenario(
        "client-killed",
        ("audio:60",),
        kill_after=3.0,
        settle=2.0,
        expect=(Findings({"missing-close": "high"}),),
    ),
    Scenario(
        "wss-keylog",
        ("audio:3", "keepalive:7:3", "audio:2", "closestream"),
        tls=True,
        expect=(HEALTHY,),
        expect_without_keys=(Findings({"capture-quality": "low"}),),
    ),
    # permessage-deflate negotiated (Deepgram itself declines it): compressed text frames
    # with RSV1 set, whose JSON only a decompressing dissector can read.
    Scenario(
        "deflate-stream",
        ("audio:2", "keepalive:4:2", "closestream"),
        server_args=("--deflate",),
        require=("websocket.pmc == 1", "websocket.opcode == 8"),
        expect=(HEALTHY,),
    ),
    # IPv6 loopback captured on the "any" pseudo-interface: Linux cooked v2, pcapng.
    Scenario(
        "ipv6-cooked",
        ("audio:3", "closestream"),
        server_addr="::1",
        client_addr="::1",
        capture="dumpcap-any",
        require=("ipv6", "sll", "websocket.opcode == 8"),
        expect=(HEALTHY,),
    ),
    # Real kernel retransmissions: a router namespace drops 5 % of client->server
    # packets; tcpdump runs on the server, downstream of the loss (see lossy_path.py).
    # The session closed cleanly and the capture (downstream of the loss) is complete: the
    # retransmissions are context, not a finding.
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
        expect=(HEALTHY,),
    ),
    Derived(
        "vlan-tagged",
        "clean-close",
        "vlan",
        require=("vlan.id == 42", "websocket"),
        expect=(HEALTHY,),
    ),
    Derived(
        "mid-session",
        "clean-close",
        "late-start",
        require=("websocket.opcode == 2", "websocket.opcode == 8"),
        tshark_args=WEBSOCKET_HEURISTIC,
        expect=(Findings({"capture-quality": "low"}),),
    ),
    # The negative case: mid-stream TCP that is not WebSocket; nothing may be recovered.
    PlainDownload(
        "not-websocket",
        require=("tcp.len > 0", "tcp.flags.fin == 1"),
        # Not "websocket": tshark's weak heuristic (two header bytes) takes one of ~20 random
        # 64 KB segments for a frame in most takes; that is the harder case for the engine,
        # which must still reject the bytes, so such a take is kept, not re-recorded.
        forbid=("tcp.flags.syn == 1", "http.request", "http.response"),
        tshark_args=WEBSOCKET_HEURISTIC,
    ),
    # Hostile text end to end (see HOSTILE_KEY above): audio, the three text messages,
    # audio, CloseStream; the server's close 1000 carries HOSTILE_CLOSE_REASON.
    Scenario(
        "hostile-text",
        ("audio:2", "text", "audio:1", "closestream"),
        server_args=("--close-reason", HOSTILE_CLOSE_REASON),
        client_args=HOSTILE_CLIENT_ARGS,
        require=(
            'websocket.payload.text contains "<script>"',
            f'websocket.payload.text contains "{HOSTILE_KEY}"',
            f'websocket.payload.close.reason == "{HOSTILE_CLOSE_REASON}"',
        ),
        expect=(HEALTHY,),
    ),
    # A browser's own connection as HAR + capture + server log (HAR/capture folding).
    BrowserRun("browser-har-capture", expect=(Findings({"idle-timeout": "high"}),)),
]
