"""The HTML report's sessions table: one row per connection, details on demand.

A connection is a session plus its other leg when a proxy sat in between (`other_leg`):
the two legs are one story, so they share one row ("s1 ⇄ s2 via 127.0.0.31", downstream
leg first). Rows come most severe first, healthy and undecryptable ones in their own
collapsed groups, so the page (and its print) grows with the failures, not the sessions.

Each row is a `<details>`: its summary is the row, its body the legs' timelines, findings
and facts. Timelines and facts are drawn for the most severe connections within
MAX_DETAILED and SESSIONS_BUDGET; the rest keep their findings only. Rows past MAX_ROWS
are counted, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from analyzer.findings import RANK
from analyzer.pipeline import Analysis
from analyzer.report import timeline, verdict
from analyzer.report.html_findings import Cards
from analyzer.report.html_text import MAX_VALUE

MAX_DETAILED = 25  # connections drawn with timelines and facts, most severe first
SESSIONS_BUDGET = 450_000  # bytes of those timelines and facts; the rest: findings only
MAX_ROWS = 1_500  # rows of the sessions table (connections)
MAX_HEADERS = 40  # request/response headers shown per session
OPEN_UP_TO = 3  # with this few failed connections, their details start open


@dataclass
class Connection:
    """One row: its legs (downstream first) and what the row shows."""

    legs: list[verdict.SessionVerdict]
    order: int  # start order of its first leg
    incident: int  # position of its first incident (rows of one incident stay together)
    via: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def worst(self) -> verdict.SessionVerdict:
        return max(self.legs, key=lambda s: RANK[s.severity] if s.severity else -1)

    @property
    def rank(self) -> int:
        return RANK[self.worst.severity] if self.worst.severity else -1


def connections(
    result: Analysis, judged: verdict.Verdict, incidents: dict[str, list[str]]
) -> list[Connection]:
    """Every session once, legs of one proxied connection together, most severe first,
    then by incident (`incidents`: session id -> its incidents' ids, in their order)."""
    rows = {r["id"]: r for r in result.data.sessions.iter_rows(named=True)}
    position = {i["id"]: n for n, i in enumerate(result.incidents)}
    incident_of = {sid: position[ids[0]] for sid, ids in incidents.items()}
    by_id = {s.session: s for s in judged.sessions}
    out, seen = [], set()
    for order, s in enumerate(judged.sessions):
        if s.session in seen:
            continue
        legs = [leg for leg in _legs(rows, by_id, s) if leg.session not in seen]
        seen.update(leg.session for leg in legs)
        ranks = [incident_of.get(leg.session, len(incident_of) + 1) for leg in legs]
        conn = Connection(legs, order, min(ranks))
        if len(legs) == 2:
            conn.via = _host(rows[legs[0].session]["server"])
        out.append(conn)
    return sorted(out, key=lambda c: (-c.rank, c.incident, c.order))


def _legs(
    rows: dict[str, dict[str, Any]],
    by_id: dict[str, verdict.SessionVerdict],
    s: verdict.SessionVerdict,
) -> list[verdict.SessionVerdict]:
    """The session and its other leg, the downstream leg (client → proxy) first; a leg
    is paired only when the pairing is mutual."""
    other = rows[s.session].get("other_leg")
    if other not in by_id or rows[other].get("other_leg") != s.session:
        return [s]
    pair = [s, by_id[other]]
    return sorted(pair, key=lambda leg: rows[leg.session]["hop_leg"] != "downstream")


def incidents_by_session(incidents: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Session id -> the ids of the incidents it is in, in incident order."""
    out: dict[str, list[str]] = {}
    for incident in incidents:
        for sid in incident["sessions"]:
            out.setdefault(sid, []).append(incident["id"])
    return out


def _host(endpoint: str | None) -> str | None:
    """`127.0.0.31:8080` -> `127.0.0.31`; `[::1]:80` -> `::1`."""
    if not endpoint:
        return None
    host = endpoint.rpartition(":")[0] or endpoint
    return host.strip("[]")


def add_details(result: Analysis, rows: list[Connection], cards: Cards) -> int:
    """Fill each row's legs: findings always; timelines and facts for the first rows (the
    most severe) until MAX_DETAILED or the byte budget runs out. Returns how many rows
    got timelines."""
    draw = _Timelines(result, cards)
    spent, drawn = 0, 0
    facts = {r["id"]: r for r in result.data.sessions.iter_rows(named=True)}
    for conn in rows:
        svgs: dict[str, str] = {}
        if drawn < MAX_DETAILED and spent <= SESSIONS_BUDGET:
            svgs = {leg.session: draw(facts[leg.session]) for leg in conn.legs}
            spent += sum(len(v) + _facts_cost(facts[sid]) for sid, v in svgs.items())
            svgs = svgs if spent <= SESSIONS_BUDGET else {}
            drawn += bool(svgs)
        conn.details = [_leg(facts[leg.session], leg, svgs, cards) for leg in conn.legs]
    return drawn


class _Timelines:
    """One session's timeline SVG from its frames, TCP events, log events and findings."""

    def __init__(self, result: Analysis, cards: Cards) -> None:
        data = result.data
        self.frames = data.frames.partition_by("session", as_dict=True, maintain_order=True)
        self.events = data.tcp_events.partition_by("session", as_dict=True, maintain_order=True)
        self.logs = data.log_events.partition_by("session", as_dict=True, maintain_order=True)
        self.no_frames, self.no_events = data.frames.clear(), data.tcp_events.clear()
        self.windows = _windows(result)
        self.cards = cards

    def __call__(self, row: dict[str, Any]) -> str:
        sid = row["id"]
        mine = self.cards.findings_of(sid)
        return timeline.svg(
            row,
            self.frames.get((sid,), self.no_frames),
            self.events.get((sid,), self.no_events),
            mine,
            _window_for(mine, self.windows),
            self.logs.get((sid,)),
        )


def _leg(
    row: dict[str, Any], judged: verdict.SessionVerdict, svgs: dict[str, str], cards: Cards
) -> dict[str, Any]:
    sid = row["id"]
    drawn = bool(svgs)
    return {
        "id": sid,
        "hop_leg": row.get("hop_leg"),
        "endpoints": judged.endpoints,
        "outcome": judged.text,
        "severity": judged.severity,
        "svg": Markup(svgs[sid]) if drawn else None,  # timeline.svg escapes its text
        "cards": cards.for_session(sid, full=drawn),
        "row": row if drawn else None,  # facts: templates/session.html.j2
    }


def _facts_cost(row: dict[str, Any]) -> int:
    """Bytes a leg's facts take besides the SVG: headers and texts dominate."""
    headers = (row["request_headers"] or [])[:MAX_HEADERS] + (row["response_headers"] or [])[
        :MAX_HEADERS
    ]
    texts = [
        row["uri"],
        row["body_preview"],
        row["close_client_reason"],
        row["close_server_reason"],
    ]
    cells = sum(
        min(len(h["name"] or ""), 80) + min(len(h["value"] or ""), MAX_VALUE) for h in headers
    )
    return 3000 + 40 * len(headers) + cells + sum(min(len(t or ""), MAX_VALUE) for t in texts)


def _windows(result: Analysis) -> dict[str, float]:
    """Each rule's inactivity window param, as in effect for this run."""
    return {
        r.id: float(r.params["inactivity_window_s"])
        for r in result.rules
        if isinstance(r.params.get("inactivity_window_s"), int | float)
    }


def _window_for(findings: list[dict[str, Any]], windows: dict[str, float]) -> float | None:
    return next((windows[f["rule"]] for f in findings if f["rule"] in windows), None)


def row_view(conn: Connection, incidents_of: dict[str, list[str]]) -> dict[str, Any]:
    """What a row's summary shows: severity, legs, endpoints, outcome, incident links."""
    worst = conn.worst
    first = conn.legs[0]
    endpoints = first.endpoints
    if len(conn.legs) == 2:  # client → proxy → server
        endpoints += " → " + conn.legs[1].endpoints.rpartition(" → ")[2]
    incidents = [i for leg in conn.legs for i in incidents_of.get(leg.session, [])]
    return {
        "ids": [leg.session for leg in conn.legs],
        "via": conn.via,
        "endpoints": endpoints,
        "severity": worst.severity,
        "failed": worst.failed,
        "outcome": worst.text,
        "incidents": list(dict.fromkeys(incidents)),
        "legs": conn.details,
        "more": any(leg["svg"] or leg["cards"] for leg in conn.details),
    }
