"""Healthy sessions and capture-engine variants (the first samples); see kinds.py to add one.

Each entry says what the client does and what the capture must show; ``expect`` lists the
exact findings per session, category -> severity (``HEALTHY``: no finding at all).
"""

from __future__ import annotations

from kinds import (
    HEALTHY,
    WEBSOCKET_HEURISTIC,
    AnyScenario,
    Derived,
    Findings,
    PlainDownload,
    Scenario,
)
from lossy_path import LossyPath

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
]
