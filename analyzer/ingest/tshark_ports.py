"""Ports whose owning dissector would hide an HTTP upgrade, and their per-binary cache.

A port owned by another dissector (pgsql on 5432, x11 on 6012, ...) hides an HTTP
upgrade on it, so every pass decodes such ports as HTTP (tshark_argv.py). Which ports a
tshark gives away is read once from `tshark -G decodes` and cached on disk per binary.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from functools import lru_cache
from pathlib import Path

from analyzer.ingest.tshark import Tshark

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
    """(port, dissector) pairs of `tshark -G decodes` (~0.7 s), cached per binary on disk.

    A tshark that cannot list them gets no override: the ports then behave as before.
    """
    stat = os.stat(tshark.path)
    key = f"{tshark.path}|{stat.st_size}|{stat.st_mtime_ns}|{tshark.version_text}"
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wsdoctor"
    cache = cache_dir / f"tcp-ports-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    try:
        return _tcp_port_rows(cache.read_text())
    except OSError:
        pass
    try:
        out = subprocess.run(
            [tshark.path, "-G", "decodes"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    owners = _tcp_port_rows(out)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}")
        partial.write_text("".join(f"tcp.port\t{port}\t{owner}\n" for port, owner in owners))
        partial.replace(cache)
    except OSError:
        pass  # an unwritable cache only costs the next run the same 0.7 s
    return owners


def _tcp_port_rows(text: str) -> list[tuple[str, str]]:
    rows = (line.split("\t") for line in text.splitlines())
    return sorted({(r[1], r[2]) for r in rows if len(r) == 3 and r[0] == "tcp.port"})
