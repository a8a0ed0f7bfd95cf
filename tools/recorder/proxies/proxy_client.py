"""client.py's scripted session, but through an explicit HTTP CONNECT proxy (e.g. Squid).

Corporate networks often force WebSocket clients through a forward proxy: the client sends
``CONNECT api.deepgram.test:8443``, the proxy answers ``200 Connection established`` (or
403/407), and TLS then runs inside the tunnel. ``client.py`` pins ``proxy=None`` so that
recordings never pick up ``HTTP(S)_PROXY`` from the environment; this wrapper takes the proxy
explicitly (``--proxy http://127.0.0.31:3128``) and otherwise accepts client.py's options and
steps unchanged, reusing its scripted client, TLS context (``--cafile``, ``--keylog``) and log
format. ``--connect-host`` (which the recorder adds for every TLS scenario) is logged and
ignored: the proxy, not the client, resolves the URL's host and dials the server.

A refused tunnel is a result to record, not a crash: the proxy's status and body are
logged, ``rejected NNN`` is printed (as client.py does for a refused upgrade), exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidProxyStatus, InvalidStatus

from .. import client
from ..logsetup import setup_logging

log = logging.getLogger("client")


def parse_args(argv: list[str] | None) -> tuple[str, argparse.Namespace, list[client.Step]]:
    """``--proxy URL`` is ours; everything else is parsed by client.py itself."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--proxy", required=True, help="http://HOST:PORT of the CONNECT proxy")
    ours, rest = parser.parse_known_args(argv)
    args, steps = client.parse_args(rest)
    return ours.proxy, args, steps


async def run_via_proxy(proxy: str, args: argparse.Namespace, steps: list[client.Step]) -> None:
    """client.run_client with ``proxy=`` set: websockets sends CONNECT, then TLS, then GET."""
    kwargs: dict[str, Any] = {"local_addr": (args.bind, 0)}
    if args.url.startswith("wss"):
        kwargs["ssl"] = client.client_ssl_context(args.cafile, args.keylog)
    headers = {} if args.no_auth else {"Authorization": f"Token {args.token}"}
    if args.connect_host:
        log.info("ignoring --connect-host %s: the proxy dials the server", args.connect_host)
    log.info("connecting through proxy %s", proxy)
    async with connect(
        args.url,
        additional_headers=headers,
        ping_interval=args.ping_interval or None,
        proxy=proxy,
        **kwargs,
    ) as ws:
        local = ws.local_address
        log.info("connected from %s:%s through %s", local[0], local[1], proxy)
        print(f"open {local[0]}:{local[1]}", flush=True)
        await client.ScriptedClient(ws, steps).run()
    log.info("finished: %s", client.describe_close(ws))
    print("closed", flush=True)


def main(argv: list[str] | None = None) -> int:
    proxy, args, steps = parse_args(argv)
    setup_logging(args.log)
    try:
        asyncio.run(run_via_proxy(proxy, args, steps))
    except (InvalidProxyStatus, InvalidStatus) as exc:
        return client.rejected(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
