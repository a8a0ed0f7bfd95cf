"""What to attach next time, in the Markdown report: what the next capture or log would
settle, from what this one could not show (a key log, the handshake, the proxy's own leg
and logs, the client's log, the request id support asks for)."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from analyzer.pipeline import Analysis
from analyzer.report.json_report import capture_facts
from analyzer.rules.templates import code_span
from analyzer.sessions.correlate import host

MAX_ATTACH = 4
PROXIES = re.compile(r"nginx|haproxy|envoy|squid|traefik|istio|cloudflare|awselb", re.I)


def attach(result: Analysis) -> list[str]:
    """The report's last section: at most MAX_ATTACH things to attach next time."""
    items = _attach_items(result)[:MAX_ATTACH]
    return ["#### Attach next time", "", *(f"- {i}" for i in items)] if items else []


def _attach_items(result: Analysis) -> list[str]:
    """What the next capture or log would settle, from what this one could not show."""
    s = result.data.sessions
    cats = {f["category"] for f in result.findings}
    facts = capture_facts(result.data.captures)
    have = set(result.data.log_events["side"].to_list())  # whose logs are already here
    items = []
    if s.is_empty():
        items.append(
            "a capture that contains the WebSocket connection: started before the client "
            "connects, on the client host, with no port filter that misses a proxy's port"
        )
    if facts["encrypted_sessions"] or "encrypted" in s["kind"].to_list():
        items.append(
            "a TLS key log (`SSLKEYLOGFILE=keys.log` in the client's environment, then "
            "`--keylog keys.log`): encrypted sessions hide their frames"
        )
    if facts["recovered_sessions"] or not all(s["syn_seen"].to_list()):
        items.append("a capture started before the client connects, so it includes the handshake")
    if "proxy-interference" in cats or _proxied(s):
        items += _proxy_items(s, have)
    if facts["lost_segments"] or facts["truncated_packets"]:
        items.append(
            "a capture on the client host itself with `-s 0 -B 16384`: this one lost "
            f"{facts['lost_segments']} segment(s), {facts['truncated_packets']} packet(s) truncated"
        )
    if cats & {"handshake-failure"} and not have & {"server", "proxy"}:
        items.append("the server/proxy access log line for the refused upgrade (status, reason)")
    if cats & {"idle-timeout", "keepalive-misuse", "missing-close", "ping-timeout"} and (
        "client" not in have
    ):
        items.append("the client application's log for the same minutes (SDK debug logging on)")
    if cats & {"server-error", "idle-timeout", "protocol-error"}:
        items += _request_id_items(s)
    if items or have:
        return items  # with logs already here, nothing more to ask for is a real answer
    return ["client and server logs (UTC timestamps) covering the capture's minutes"]


def _proxy_items(sessions: Any, have: set[str]) -> list[str]:
    """What a proxied session still lacks: the proxy's upstream leg, the proxy's logs."""
    wanted = [] if _both_legs(sessions) else ["a capture of the proxy ↔ server leg (same minutes)"]
    wanted += [] if "proxy" in have else [_proxy_logs(sessions)]
    return [" and ".join(wanted)] if wanted else []


def _request_id_items(sessions: Any) -> list[str]:
    """The request id Deepgram support asks for, when a session carries one."""
    column = sessions["dg_request_id"].to_list() if "dg_request_id" in sessions.columns else []
    ids = [i for i in column if i]
    if not ids:
        return []
    return [f"the `dg-request-id` (e.g. {code_span(ids[0])}) when you contact Deepgram support"]


def _software(sessions: Any) -> list[str]:
    return [v for v in sessions["server_software"].to_list() + sessions["via"].to_list() if v]


def _both_legs(sessions: Any) -> bool:
    """The capture holds a proxy's upstream leg too: a session starts at a host that is
    another session's server (the proxy dialling on)."""
    hosts = sessions.select(
        host(pl.col("client")).alias("c"), host(pl.col("server")).alias("s")
    ).drop_nulls()
    return bool(set(hosts["c"]) & set(hosts["s"]))


def _proxied(sessions: Any) -> bool:
    found = any(PROXIES.search(v) for v in _software(sessions))
    return found or "CONNECT" in sessions["method"].to_list()


PROXY_LOGS = {
    "nginx": "nginx's `error.log` at `info` level",
    "haproxy": "HAProxy's log (its termination state says who closed)",
    "squid": "Squid's `access.log`",
    "envoy": "Envoy's access log (response flags)",
}


def _proxy_logs(sessions: Any) -> str:
    seen = " ".join(_software(sessions)).lower()
    named = [hint for name, hint in PROXY_LOGS.items() if name in seen]
    return " and ".join(named) if named else "the proxy's logs for the same minutes"
