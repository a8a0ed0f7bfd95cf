"""Ports whose owning dissector would hide an HTTP upgrade, and their per-binary cache.

A port owned by another dissector (pgsql on 5432, x11 on 6012, ...) hides an HTTP
upgrade on it, so every pass decodes such ports as HTTP (tshark_argv.py). Which ports a
tshark gives away is read once from `tshark -G decodes` and cached on disk per binary.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from typing import Any

from analyzer.ingest.tshark import Tshark
from analyzer.ingest.tshark_cache import cached

# Port owners that stay: HTTP carries the upgrade, TLS wss://, WebSocket itself, and SOCKS
# and HTTP/2 tunnel them. The ports of every other owner are read as HTTP (`foreign_ports`).
PORT_OWNERS_KEPT = frozenset({"http", "http2", "tls", "ssl", "websocket", "socks"})


def foreign_ports(tshark: Tshark) -> tuple[int, ...]:
    """TCP ports this tshark gives to a dissector WebSocket cannot ride on.

    A dissector that owns a port takes every stream on it before any heuristic: pgsql on
    5432, x11 on 6012 or cops on 2126 read an HTTP upgrade as their own protocol (or wait
    for a PDU that never completes), so the session vanished. Every pass decodes these
    ports as HTTP instead (Decode As, only in the TCP port table: GTP over UDP or any
    other use of those dissectors is untouched); HTTP shows nothing for their real
    traffic, and bare frames on them are recovered like on 8080.
    """
    return tuple(int(port) for port, owner in _port_owners(tshark) if owner not in PORT_OWNERS_KEPT)


@lru_cache(maxsize=4)
def _port_owners(tshark: Tshark) -> list[tuple[str, str]]:
    """(port, dissector) pairs of `tshark -G decodes` (0.2-0.7 s), cached per binary on disk.

    A tshark that cannot list them gets no override: the ports then behave as before.
    """
    return cached(tshark.path, "tcp-ports", lambda: _ask_port_owners(tshark), _owner_pairs)


def _ask_port_owners(tshark: Tshark) -> list[tuple[str, str]]:
    """The tcp.port rows of `tshark -G decodes`; none when tshark cannot list them."""
    try:
        out = subprocess.run(
            [tshark.path, "-G", "decodes"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = (line.split("\t") for line in out.splitlines())
    return sorted({(r[1], r[2]) for r in rows if len(r) == 3 and r[0] == "tcp.port"})


def _owner_pairs(data: Any) -> list[tuple[str, str]]:
    """The cached JSON list of [port, dissector] back as pairs; raises on any other shape
    and on an empty list (a tshark that could not answer is asked again next run)."""
    pairs = [(str(int(port)), str(owner)) for port, owner in data]
    if not pairs:
        raise ValueError("no port owners")
    return pairs
