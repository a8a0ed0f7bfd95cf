"""A network path that dies silently mid-session, for ``silent-path-death``.

The same three namespaces as ``lossy-stream`` (``lossy_path.py``: client, router, server on
127/8 addresses only, capture on the server's ``eth0``), under their own names and
addresses (127.0.0.62-65) so the two scenarios never share anything, and without random
loss (``drop_probability`` 0: the statistic rule matches nothing). A hook then inserts one
rule at the top of the router's FORWARD chain that drops every packet in both directions:
nothing is refused or reset, the path just stops carrying anything, as when a NAT or
firewall loses its state or a link goes dark. Both hosts stay up and keep trying: the
server's retransmissions and pings leave its interface, captured, and are never
acknowledged or answered.
"""

from __future__ import annotations

from .kinds import Hook, RunContext
from .lossy_path import LossyPath

DEAD_PATH = LossyPath(
    drop_probability=0.0,
    server_ns="wsd-dead",
    router_ns="wsd-dead-net",
    client_ns="wsd-dead-client",
    client_addr="127.0.0.62",
    server_addr="127.0.0.63",
    client_gw="127.0.0.64",
    server_gw="127.0.0.65",
)


def cut_path(ctx: RunContext) -> None:
    """Drop everything the router would forward, both ways, from now on (logged)."""
    ctx.run(["iptables", "-I", "FORWARD", "1", "-j", "DROP"], role="router")


def path_dies(at: float) -> Hook:
    """The hook that kills the path ``at`` s after the client's ``open`` line."""
    return Hook("path-dies", at, cut_path)
