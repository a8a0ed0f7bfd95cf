"""The plain-English verdict: one headline, one sentence per session.

A support engineer reads this first, so every sentence says who closed, how, and why,
with the measured numbers, built from the session row (the facts) and its most severe
finding (the diagnosis). HTML and Markdown share it, so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.findings import RANK, worst
from analyzer.incidents import line, seconds
from analyzer.pipeline import Analysis

FAILED_AT = RANK["medium"]  # contract: a healthy session has no finding at medium or above
MAX_INCIDENTS = 5  # incidents the headline names before "+N more incidents"


@dataclass(frozen=True)
class SessionVerdict:
    session: str
    endpoints: str
    text: str
    severity: str | None
    finding: dict[str, Any] | None
    blind: bool = False  # TLS without keys: judged from TCP timing only
    sni: str | None = None  # the server name a blind session's TLS hello named

    @property
    def failed(self) -> bool:
        return self.severity is not None and RANK[self.severity] >= FAILED_AT

    @property
    def sentence(self) -> str:
        return f"{self.session} {self.endpoints}: {self.text}"


@dataclass(frozen=True)
class Verdict:
    headline: str
    sessions: list[SessionVerdict]
    capture_findings: list[dict[str, Any]]

    @property
    def failed(self) -> list[SessionVerdict]:
        """Failed sessions among those that can be seen (never a TLS connection without
        keys: it may not even be WebSocket)."""
        return [s for s in self.seen if s.failed]

    @property
    def seen(self) -> list[SessionVerdict]:
        return [s for s in self.sessions if not s.blind]

    @property
    def tls(self) -> list[TlsGroup]:
        """The TLS connections without keys, reported apart: one group per SNI."""
        groups: dict[str | None, list[SessionVerdict]] = {}
        for s in self.sessions:
            if s.blind:
                groups.setdefault(s.sni, []).append(s)
        return [
            TlsGroup(sni, [m.session for m in members], _servers(members))
            for sni, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0] or "~"))
        ]


@dataclass(frozen=True)
class TlsGroup:
    """TLS connections that named one server (SNI; None when the hello named none or was
    not captured)."""

    sni: str | None
    sessions: list[str]
    servers: list[str]


def _servers(members: list[SessionVerdict]) -> list[str]:
    """The server endpoints (after the arrow of `client → server`), first seen first."""
    return list(dict.fromkeys(m.endpoints.rpartition(" → ")[2] for m in members))


def build(result: Analysis) -> Verdict:
    by_session: dict[str, list[dict[str, Any]]] = {}
    for f in result.findings:
        by_session.setdefault(f["session"], []).append(f)
    rows = result.data.sessions.iter_rows(named=True)
    sessions = [session_verdict(r, by_session.get(r["id"], [])) for r in rows]
    capture = by_session.get(None, [])  # type: ignore[call-overload]
    return Verdict(headline(sessions, capture, result.incidents), sessions, capture)


def session_verdict(row: dict[str, Any], findings: list[dict[str, Any]]) -> SessionVerdict:
    # The cause speaks, not a symptom it explains on this session (a finding folded under
    # the same rule's on the other leg of a proxied connection is that same cause).
    here = {f.get("fingerprint") for f in findings}
    top = worst(f for f in findings if f.get("explained_by") not in here)
    # A log or a HAR may not name both ends: say which is unknown rather than "None".
    endpoints = f"{row['client'] or 'client ?'} → {row['server'] or 'server ?'}"
    if top is None or RANK[top["severity"]] < FAILED_AT:
        text = healthy(row)
        if top is not None:
            text += f" — {label(top['category'])} noted ({top['severity']})"
        blind = row["kind"] == "encrypted"
        return SessionVerdict(
            row["id"], endpoints, text + ".", top and top["severity"], top, blind, row["sni"]
        )
    if row["source"] == "log":  # no wire facts: the finding's own title says what the log shows
        text = top["title"][:1].lower() + top["title"][1:]
        return SessionVerdict(
            row["id"],
            endpoints,
            f"{text} ({row['log_source']}) — {label(top['category'])}, {top['severity']}.",
            top["severity"],
            top,
            False,
        )
    main, after = close_parts(row)
    why = reason(row, top)
    text = main + (why if why[:1] in (",", ";") else f" {why}" if why else "") + after
    tail = f"{label(top['category'])}, {top['severity']}"
    if top.get("confidence", "high") != "high":
        tail += f" ({top['confidence']} confidence)"
    blind = row["kind"] == "encrypted"
    return SessionVerdict(
        row["id"], endpoints, f"{text} — {tail}.", top["severity"], top, blind, row["sni"]
    )


def label(category: str) -> str:
    return category.replace("-", " ")


def quote(text: str | None, limit: int = 80) -> str:
    if not text:
        return ""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{cut}"'


# Who closed and how: the facts, from the row alone -------------------------------------


def outcome(row: dict[str, Any]) -> str:
    main, after = close_parts(row)
    return main + after


def close_parts(row: dict[str, Any]) -> tuple[str, str]:
    """(what ended the session, what the other side did): the why goes between them."""
    if row["kind"] == "rejected":
        return _rejected(row), ""
    if row["kind"] == "tunnel":
        return _tunnel(row), ""
    if row["kind"] == "unanswered":
        return "the upgrade request got no response", ""
    first = row["close_first_by"]
    if first is None:
        return _tcp_only(row), ""
    other = "server" if first == "client" else "client"
    code, reply = row[f"close_{first}_code"], row[f"close_{other}_code"]
    text = f"the {first} closed with {code}" if code else f"the {first} sent an empty close"
    if row[f"close_{other}_time"] is None:
        return text, f", with no close reply from the {other}"
    if reply != code:
        return text, f" and the {other} answered {reply or 'an empty close'}"
    return text, ""


def _rejected(row: dict[str, Any]) -> str:
    if row["method"] == "CONNECT":
        target = row["connect_target"] or "the target"
        return f"the proxy refused the CONNECT to {target} with {row['connect_status']}"
    if row["status"] is None:  # a log: refused, unreachable, or a library that hides it
        return "the connection attempt failed with no HTTP status on record"
    text = f"the upgrade was refused with HTTP {row['status']} {row['reason'] or ''}".rstrip()
    if row["dg_error"]:
        text += f" (dg-error {quote(row['dg_error'])})"
    return text


def _tunnel(row: dict[str, Any]) -> str:
    """A granted plain CONNECT: tshark leaves the ws:// inside it undissected, so say where
    the frames can be seen instead of calling a working tunnel refused."""
    target = row["connect_target"] or "the target"
    text = f"the proxy opened a CONNECT tunnel to {target} ({row['connect_status']})"
    text += ", whose plain WebSocket tshark does not dissect"
    if row["other_leg_peer"]:
        return text + f" (the proxy's own leg to {row['other_leg_peer']} shows it)"
    return text


def _tcp_only(row: dict[str, Any]) -> str:
    if row["tcp_end"] is None:  # a HAR or a log: no TCP, and no close on record
        source = "the HAR" if row["source"] == "har" else "the log"
        return f"{source} records no close frame and nothing about how the connection ended"
    prefix = ""
    if row["kind"] == "encrypted":
        prefix = f"TLS{' to ' + row['sni'] if row['sni'] else ''} without keys (frames unseen); "
    if row["tcp_end"] == "open":
        return prefix + "the connection was still open when the capture ended"
    how = "a reset" if row["tcp_end"] == "rst" else "a FIN"
    tail = "" if prefix else " and no close frame"
    if row["truncated_packets"] and not prefix:  # a close may hide in a cut packet
        tail = " (close frames unreadable: packets cut by the snapshot length)"
    return f"{prefix}the {row['tcp_ended_by']} side ended TCP with {how}{tail}"


def healthy(row: dict[str, Any]) -> str:
    code_c, code_s = row["close_client_code"], row["close_server_code"]
    if row["close_handshake"] == "complete" and code_c == code_s and code_c is not None:
        how = "closed normally" if code_c in (1000, 1001) else "closed"
        return f"{how} ({code_c} both ways) after {seconds(row['duration_s'])}"
    if row["duration_s"] is None:
        return outcome(row)
    if row["kind"] == "tunnel":  # nothing ended inside it that we could see
        return f"{outcome(row)}; open {seconds(row['duration_s'])}"
    return f"{outcome(row)}, after {seconds(row['duration_s'])}"


# Why: the measured numbers behind the worst finding ------------------------------------


def reason(row: dict[str, Any], finding: dict[str, Any]) -> str:
    """A rule that names its own cause explains itself; otherwise its category does."""
    explain = RULE_REASONS.get(finding.get("rule", "")) or REASONS.get(finding["category"])
    return explain(row) if explain else ""


def _dead_path(row: dict[str, Any]) -> str:
    n, sender = row["dead_path_retransmissions"], row["dead_path_side"]
    unanswered = seconds(row["dead_path_unanswered_s"])
    return f", after the {sender}'s data went unacknowledged for {unanswered} ({n} resends)"


def _idle(row: dict[str, Any]) -> str:
    quiet = row["client_quiet_before_server_close_s"] or row["client_quiet_before_end_s"]
    if row["truncated_packets"] and row["close_server_frame"] is None:  # frames cut: TCP timing
        quiet = row["max_payload_gap_client_s"] or quiet
    text = f"after the client had been silent for {seconds(quiet)}"
    return text + (" (Deepgram's inactivity window)" if row["deepgram"] else "")


def _keepalive(row: dict[str, Any]) -> str:
    if row["keepalive_binary_client"]:
        n = row["keepalive_binary_client"]
        return f"after {n} KeepAlive message{'s' if n != 1 else ''} went out as binary frames"
    if row["empty_binary_client"]:
        frame = row["empty_binary_client_frame"]
        return f"after the client sent an empty binary frame (#{frame}), which ends the stream"
    if row["control_json_binary_client"]:
        return "after control JSON went out as binary frames"
    return f"with KeepAlives too sparse (largest client gap {seconds(row['max_gap_client_s'])})"


def _ping(row: dict[str, Any]) -> str:
    side = "client" if row["unanswered_pings_client"] else "server"
    frame = row[f"first_unanswered_ping_{side}_frame"]
    where = f" (#{frame})" if frame else ""
    whose = "its" if side == row["close_first_by"] else f"the {side}'s"
    return f"after {whose} ping{where} went unanswered"


def _silence(row: dict[str, Any]) -> str:
    idle, side = row["idle_before_end_s"], row["close_first_by"]
    if idle is not None and idle >= 1:
        return f"after {seconds(idle)} of two-way silence"
    if row["tcp_end"] == "rst" and side and side == row["tcp_ended_by"]:
        gap = (row["tcp_end_time"] - row[f"close_{side}_time"]).total_seconds()
        return f"and reset TCP {seconds(max(gap, 0.0))} later"
    return ""


def _proxy(row: dict[str, Any]) -> str:
    side = row["tcp_ended_by"]
    if row["tcp_end"] == "rst" and side and row[f"rst_{side}_ttl_delta"]:
        delta = abs(row[f"rst_{side}_ttl_delta"])
        return f"; the reset was injected by a middlebox (its TTL is {delta} hops off)"
    if row["kind"] == "rejected":
        return ""
    idle = row["idle_before_end_s"]
    if idle is not None and idle >= 1:  # only a silence points at a timer
        return f"{_silence(row)} (an intermediary's idle timer)"
    return _silence(row)


def _hop_ended_both(row: dict[str, Any]) -> str:
    """Both legs ended by the hop: a timer, a reload or a stop; the capture cannot tell which."""
    spread = row["hop_end_spread_s"]
    apart = f" {seconds(spread)} apart" if spread is not None else ""
    return f"{_silence(row)}; the proxy ended both legs{apart} (its idle timer, a reload or a stop)"


def _hop_sent_close(row: dict[str, Any]) -> str:
    behind = "the origin server" if row["close_first_by"] == "server" else "the client behind it"
    return f"(sent by the proxy itself, not {behind})"


def _close_reason(row: dict[str, Any]) -> str:
    first = row["close_first_by"]
    return quote(row[f"close_{first}_reason"]) if first else ""


def _close_unanswered(row: dict[str, Any]) -> str:
    """The wait between an unanswered close and the closer's own TCP end is its close timer."""
    first = row["close_first_by"]
    if first is None or row["tcp_ended_by"] != first or row["tcp_end_time"] is None:
        return _silence(row)
    wait = max((row["tcp_end_time"] - row[f"close_{first}_time"]).total_seconds(), 0.0)
    timer = " (its close timeout)" if wait >= 0.5 else ""
    return f"and ended TCP {seconds(wait)} later{timer}"


RULE_REASONS = {
    "path-went-dead": _dead_path,  # a dead path, not an intermediary's timer
    "proxy-closed-both-legs": _hop_ended_both,
    "proxy-sent-close": _hop_sent_close,
    "server-no-close-reply": _close_unanswered,
}
REASONS = {
    "idle-timeout": _idle,
    "keepalive-misuse": _keepalive,
    "ping-timeout": _ping,
    "missing-close": _silence,
    "proxy-interference": _proxy,
    "protocol-error": _close_reason,
    "server-error": _close_reason,
}


# The headline ------------------------------------------------------------------------


def headline(
    sessions: list[SessionVerdict], capture: list[dict[str, Any]], incidents: list[dict[str, Any]]
) -> str:
    """What failed among the sessions that can be seen, told as its incidents (at most
    MAX_INCIDENTS, in their order: most severe, then most connections), so a thousand
    sessions read as a handful of causes; TLS connections without keys are counted apart
    (possibly wss, possibly not WebSocket at all): never "failed"."""
    seen = [s for s in sessions if not s.blind]
    n = len(seen)
    failed = [s for s in seen if s.failed]
    noun = "session" if n == 1 else "sessions"
    if failed:
        named = _incidents(failed, incidents)
        text = f"{len(failed):,} of {n:,} {noun} failed{': ' if named else ''}{named}."
    elif n:
        text = f"{'The' if n == 1 else f'All {n:,}'} {noun} look{'s' if n == 1 else ''} healthy"
        text += ": no finding at medium or above."
    elif not sessions:
        text = "No WebSocket session was found in the input."
    else:
        text = "No WebSocket session can be seen without the TLS keys."
    if blind := [s for s in sessions if s.blind]:
        text += " " + _blind(blind)
    serious = [f for f in capture if RANK[f["severity"]] >= FAILED_AT]
    if serious:
        text += f" Capture-level: {serious[0]['title']}" + (
            f" (+{len(serious) - 1} more)." if len(serious) > 1 else "."
        )
    return text


def named_incidents(
    failed: list[SessionVerdict], incidents: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The incidents any failed session is in, in their order (most severe, then largest):
    what the verdict names, in every report."""
    ids = {s.session for s in failed}
    return [i for i in incidents if ids.intersection(i["sessions"])]


def _incidents(failed: list[SessionVerdict], incidents: list[dict[str, Any]]) -> str:
    """The incidents any failed session is in, the first MAX_INCIDENTS as one line each,
    then how many more and how many failed sessions they hold."""
    ids = {s.session for s in failed}
    named = named_incidents(failed, incidents)
    text = "; ".join(line(i) for i in named[:MAX_INCIDENTS])
    if rest := named[MAX_INCIDENTS:]:
        k = len(ids.intersection(s for i in rest for s in i["sessions"]))
        more = f"incident{'s' if len(rest) > 1 else ''}"
        text += f"; +{len(rest)} more {more} ({k} session{'s' if k != 1 else ''})"
    return text


def _blind(blind: list[SessionVerdict]) -> str:
    names = sorted({s.sni for s in blind if s.sni})
    sni = f"; SNI {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}" if names else ""
    k = len(blind)
    return (
        f"{k} TLS connection{'s' if k > 1 else ''} (possibly wss{sni}) could not be "
        "decrypted: judged from TCP timing only (pass --keylog)."
    )
