"""Hops the corpus did not use before (proxies/hops.py): tinyproxy, Apache httpd, Caddy,
mitmproxy, on addresses of their own (hop_helpers.py): client 127.0.0.40, hop 127.0.0.41,
emulator 127.0.0.42, so they can be recorded beside other recordings.

The same shape as scenarios_proxies.py (its timer switches and finding sets are shared):
both legs are in each capture (the hop's address is a capture host), each leg its own
session, client leg first; the ``-client-leg`` scenarios cut a recording down to the
client's packets, what a capture on the client's machine would hold.
"""

from __future__ import annotations

from .hop_helpers import FORWARD_PROXY, HOP_ADDR, HOP_CLIENT, HOP_SERVER, hop, stop_hop
from .kinds import HEALTHY, AnyScenario, Derived, Findings, Hook, Scenario
from .scenarios_proxies import NO_PINGS, NO_SERVER_TIMERS, TORN_DOWN_BY_PROXY

HOP_URL = f"ws://{HOP_ADDR}:8080/v1/listen?{{query}}"
DIRECT_URL = f"ws://{HOP_SERVER}:8080/v1/listen?{{query}}"
TORN_DOWN_ENCRYPTED = Findings({"proxy-interference": "high", "capture-quality": "low"})
ON_HOP_ADDRESSES = {"client_addr": HOP_CLIENT, "server_addr": HOP_SERVER}

SCENARIOS: list[AnyScenario] = [
    # A healthy plain ws:// session inside an HTTP CONNECT tunnel through tinyproxy 1.11
    # (Proxy-agent: tinyproxy/1.11.1): audio, a KeepAlive, CloseStream, close 1000 both
    # ways. Sessions: the client leg (CONNECT 200, then the WebSocket inside), the server leg.
    Scenario(
        "tinyproxy-connect-ws",
        ("audio:2", "keepalive:3:1", "closestream"),
        client="python-proxy",
        client_args=("--proxy", FORWARD_PROXY),
        url=DIRECT_URL,
        processes=(hop("tinyproxy"),),
        capture_hosts=(HOP_ADDR,),
        require=(
            'http.request.method == "CONNECT"',
            "http.response.code == 200",
            "http.response.code == 101",
            f"ip.src == {HOP_SERVER} and websocket.payload.close.status_code == 1000",
        ),
        expect=(HEALTHY, HEALTHY),
        **ON_HOP_ADDRESSES,
    ),
    # Apache httpd 2.4 (mod_proxy_http, upgrade=websocket) whose backend timeout is 17 s,
    # a value in no vendor's list of defaults; emulator timers off, client silent after 2 s
    # (pings off). After 17 s of two-way silence Apache closes both legs within a
    # millisecond, no close frame: only the hop's address on both FINs shows who did it.
    Scenario(
        "apache-idle-17s",
        ("audio:2", "wait-close:40"),
        server_args=NO_SERVER_TIMERS,
        client_args=NO_PINGS,
        url=HOP_URL,
        processes=(hop("apache", idle=17),),
        capture_hosts=(HOP_ADDR,),
        require=(f"ip.src == {HOP_ADDR} and tcp.flags.fin == 1", "websocket.opcode == 2"),
        expect=(TORN_DOWN_BY_PROXY, TORN_DOWN_BY_PROXY),
        **ON_HOP_ADDRESSES,
    ),
    # mitmproxy 11 as the explicit proxy: it intercepts TLS with its own CA (the client
    # trusts mitmproxy-ca.pem, as a managed desktop trusts its proxy's root) and writes both
    # legs' TLS secrets to keys.log. The client streams 2 s and goes quiet; 5 s after the
    # upgrade the proxy is stopped (SIGINT, its graceful shutdown) with the session open.
    Scenario(
        "mitmproxy-intercept-stop",
        ("audio:2", "wait-close:30"),
        tls=True,
        server_args=NO_SERVER_TIMERS,
        client="python-proxy",
        client_args=(
            "--proxy",
            FORWARD_PROXY,
            "--cafile",
            "{folder}/mitmproxy-ca.pem",
            *NO_PINGS,
        ),
        url=f"wss://{HOP_SERVER}:8443/v1/listen?{{query}}",
        processes=(hop("mitmproxy"),),
        hooks=(Hook("stop-mitmproxy", 5.0, stop_hop),),
        capture_hosts=(HOP_ADDR,),
        require=(
            'http.request.method == "CONNECT"',
            "tls.handshake.type == 1",
            f"ip.src == {HOP_ADDR} and tcp.flags.fin == 1",
        ),
        expect=(
            TORN_DOWN_BY_PROXY,  # with proxy-tls-interception (low) in the same category
            Findings({"proxy-interference": "high", "missing-close": "low"}),
        ),
        expect_without_keys=(TORN_DOWN_ENCRYPTED, TORN_DOWN_ENCRYPTED),
        **ON_HOP_ADDRESSES,
    ),
    # Caddy 2.6 (reverse_proxy, no stream_close_delay) stopped 3 s into a 6 s stream (its
    # graceful stop, SIGINT; a config reload does the same to open streams): Caddy itself
    # sends close 1001 to the client and, in the same millisecond, one to the server (which
    # Caddy 2.6.2 leaves unmasked: the emulator answers 1002), then ends both legs.
    Scenario(
        "caddy-stop-1001",
        ("audio:6", "wait-close:5"),
        url=HOP_URL,
        processes=(hop("caddy"),),
        hooks=(Hook("stop-caddy", 3.0, stop_hop),),
        capture_hosts=(HOP_ADDR,),
        require=(
            f"ip.src == {HOP_ADDR} and websocket.payload.close.status_code == 1001",
            f"ip.dst == {HOP_SERVER} and websocket.payload.close.status_code == 1001",
        ),
        expect=(
            Findings({"proxy-interference": "high"}),
            Findings(
                {"proxy-interference": "high", "protocol-error": "high", "missing-close": "low"}
            ),
        ),
        **ON_HOP_ADDRESSES,
    ),
    # apache-idle-17s as a capture on the client's machine shows it: only the packets to or
    # from the client (tshark keeps them unchanged). No second leg: what is left to say who
    # closed is the handshake (Apache's `Via` on the 101) and the FIN from the hop's address.
    Derived(
        "apache-idle-17s-client-leg",
        "apache-idle-17s",
        "client-leg",
        keep_host=HOP_CLIENT,
        require=(f"ip.src == {HOP_ADDR} and tcp.flags.fin == 1", "http.response.code == 101"),
        expect=(Findings({"proxy-interference": "medium", "missing-close": "high"}),),
    ),
    # caddy-stop-1001 as the client's machine captures it: the 1001 from the proxy's
    # address, and the 101's `Server: Caddy` beside the origin's Server header.
    Derived(
        "caddy-stop-1001-client-leg",
        "caddy-stop-1001",
        "client-leg",
        keep_host=HOP_CLIENT,
        require=(f"ip.src == {HOP_ADDR} and websocket.payload.close.status_code == 1001",),
        expect=(Findings({"proxy-interference": "medium"}),),
    ),
]
