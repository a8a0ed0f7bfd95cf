"""Incidents: the root causes of many sessions, grouped by cause.

A capture from a customer's server holds dozens or hundreds of sessions, and most of their
failures share a few causes: a client that reconnects every 97 s and is closed with 1011
each time, a fleet of streams behind one proxy whose idle timer fires. Reading one card
per session hides that; an incident says it once: which sessions, from when to when, how
often, the spread of the measured number, and one fix.

Root-cause findings (`explained_by` null, on a session, low or above, of a cause: not
`capture-quality`, which limits the evidence and explains nothing) form one incident
when they share the rule, the hop (for `proxy-interference`, the proxy's host: two proxies
are two incidents; any other cause is one incident across servers and input files) and,
for a timer, its value (17 s and 60 s idle teardowns are two timers, 10.0 s and 10.1 s
one); a reconnect loop (one client's connections one after another) is split off as an
incident of its own. A finding folded under a root cause (`findings.link`) joins its root's
incident.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import polars as pl

from analyzer.findings import CONFIDENCE, RANK, Finding, connections, worst


@dataclass(frozen=True)
class Measure:
    """The number an incident's sessions are measured by: the first non-null of `columns`."""

    columns: tuple[str, ...]
    name: str
    timer: bool  # a timer's value splits incidents; other numbers only vary


IDLE = Measure(("idle_before_end_s",), "two-way silence before the end", timer=True)
RULE_MEASURES = {
    "proxy-idle-teardown": IDLE,
    "proxy-closed-both-legs": IDLE,
    "proxy-teardown-client-leg": IDLE,
    "no-close-after-idle": IDLE,
    "path-went-dead": Measure(
        ("dead_path_unanswered_s",), "time the sender went unanswered", timer=False
    ),
    "keepalive-too-sparse": Measure(
        ("max_gap_client_s",), "largest gap between the client's frames", timer=False
    ),
}
CATEGORY_MEASURES = {
    "idle-timeout": Measure(
        ("client_quiet_before_server_close_s", "client_quiet_before_end_s"),
        "client silence before the close",
        timer=True,
    ),
}
MEASURED = sorted(
    {c for m in [*RULE_MEASURES.values(), *CATEGORY_MEASURES.values()] for c in m.columns}
)
# Two timer values are one timer when the larger is within this of the smaller.
SAME_TIMER_RATIO, SAME_TIMER_SLACK_S = 1.25, 0.5
LEAST = RANK["low"]  # info findings form no incident
EVIDENCE = "capture-quality"  # what limits the evidence is no cause: it forms no incident
MIN_PERIODIC = 3  # connections before "every N s" means anything
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def measure_of(finding: Finding) -> Measure | None:
    return RULE_MEASURES.get(finding["rule"]) or CATEGORY_MEASURES.get(finding["category"])


def build(findings: list[Finding], sessions: pl.DataFrame) -> list[dict[str, Any]]:
    """The incidents of `findings` (already linked, `findings.link`), most severe first,
    then most connections; sets every finding's `incident` to its incident's id (null for
    capture-level findings, capture-quality ones and those below low)."""
    rows = _rows(sessions)
    conn = connections({s: r["other_leg"] for s, r in rows.items()})
    roots = [
        f
        for f in findings
        if f["explained_by"] is None
        and f["session"] in rows
        and RANK[f["severity"]] >= LEAST
        and f["category"] != EVIDENCE
    ]
    groups: dict[tuple[str, str | None], list[Finding]] = {}
    for f in roots:
        groups.setdefault((f["rule"], _hop(f, rows[f["session"]])), []).append(f)
    clusters = [
        c for g in groups.values() for t in _by_timer(g, rows) for c in _loops(t, rows, conn)
    ]
    members = _members(findings, conn)
    made = [_record(c, loop, members, rows, conn) for c, loop in clusters]
    made.sort(key=lambda m: (-RANK[m[0]["severity"]], -m[0]["connections"], m[0]["first"] or ""))
    for f in findings:
        f["incident"] = None
    for i, (record, found) in enumerate(made, 1):
        record["id"] = f"i{i}"
        for f in found:
            f["incident"] = record["id"]
    return [record for record, _ in made]


def _rows(sessions: pl.DataFrame) -> dict[str, dict[str, Any]]:
    columns = ["id", "start", "end", "client", "server", "hop_leg", "other_leg", *MEASURED]
    return {r["id"]: r for r in sessions.select(columns).iter_rows(named=True)}


def _host(address: str | None) -> str | None:
    return address.rpartition(":")[0] or address if address else None


def _hop(f: Finding, row: dict[str, Any]) -> str | None:
    """The proxy's host for a proxy's doing (the client end of an upstream leg, else the
    server end); None for any other cause, which servers and files do not split."""
    if f["category"] != "proxy-interference":
        return None
    return _host(row["client"] if row["hop_leg"] == "upstream" else row["server"])


def _value(f: Finding, row: dict[str, Any]) -> float | None:
    m = measure_of(f)
    return next((row[c] for c in m.columns if row[c] is not None), None) if m else None


def _by_timer(group: list[Finding], rows: dict[str, dict[str, Any]]) -> list[list[Finding]]:
    """One rule's root findings split by its timer's value (sorted, a new timer where the
    next value is well above the last); no timer, or no value: one cluster."""
    m = measure_of(group[0])
    timed = [(_value(f, rows[f["session"]]), f) for f in group] if m and m.timer else []
    if not any(v is not None for v, _ in timed):
        return [group]
    out: list[list[Finding]] = [[f for v, f in timed if v is None]]
    last = None
    for v, f in sorted(((v, f) for v, f in timed if v is not None), key=lambda p: p[0]):
        if last is None or v > last * SAME_TIMER_RATIO + SAME_TIMER_SLACK_S:
            out.append([])
        out[-1].append(f)
        last = v
    return [c for c in out if c]


def _loops(
    cluster: list[Finding], rows: dict[str, dict[str, Any]], conn: dict[str, str]
) -> list[tuple[list[Finding], bool]]:
    """A reconnect loop is an incident of its own: one client host's connections to one
    server, at least MIN_PERIODIC, each opened after the one before ended (a client that
    retries is one story; a fleet's clients failing alike is another). The rest stay
    together. Each cluster comes with whether it is a loop."""
    by_client: dict[tuple[str | None, str | None], list[Finding]] = {}
    for f in cluster:
        first_leg = rows[conn[f["session"]]]
        key = (_host(first_leg["client"]), first_leg["server"])
        by_client.setdefault(key, []).append(f)
    loops, rest = [], []
    for found in by_client.values():
        spans: dict[str, tuple[datetime, datetime]] = {}
        for f in found:
            row, c = rows[f["session"]], conn[f["session"]]
            start, end = row["start"], row["end"] or row["start"]
            if start is None:
                spans.clear()  # no time, no loop
                break
            old = spans.get(c, (start, end))
            spans[c] = (min(old[0], start), max(old[1], end))
        ordered = sorted(spans.values())
        one_by_one = all(b[0] >= a[1] for a, b in pairwise(ordered))
        if len(ordered) >= MIN_PERIODIC and one_by_one:
            loops.append((found, True))
        else:
            rest.extend(found)
    return [*loops, (rest, False)] if rest else loops


def _members(findings: list[Finding], conn: dict[str, str]) -> dict[int, list[Finding]]:
    """id(root finding) -> the findings folded under it (their `explained_by` is its
    fingerprint, on the same connection)."""
    root = {
        (conn.get(f["session"]), f["fingerprint"]): f
        for f in findings
        if f["explained_by"] is None and f["session"] is not None
    }
    out: dict[int, list[Finding]] = {}
    for f in findings:
        head = root.get((conn.get(f["session"]), f["explained_by"]))
        if f["explained_by"] is not None and head is not None:
            out.setdefault(id(head), []).append(f)
    return out


def _record(
    cluster: list[Finding],
    loop: bool,
    members: dict[int, list[Finding]],
    rows: dict[str, dict[str, Any]],
    conn: dict[str, str],
) -> tuple[dict[str, Any], list[Finding]]:
    """(the incident, every finding in it) for one cluster of root findings."""
    top = worst(cluster)
    assert top is not None
    found = [m for f in cluster for m in (f, *members.get(id(f), []))]
    order = {s: i for i, s in enumerate(rows)}
    ids = sorted({f["session"] for f in found}, key=order.__getitem__)
    starts: dict[str, datetime | None] = {}
    for s in ids:  # a connection starts with its first leg (a start is never null, but
        at = rows[s]["start"]  # a damaged HAR or log must not crash the report)
        starts[conn[s]] = min((t for t in (starts.get(conn[s]), at) if t), default=None)
    begun = sorted(t for t in starts.values() if t)
    ends = [t for s in ids if (t := rows[s]["end"] or rows[s]["start"])]
    values = [v for f in cluster if (v := _value(f, rows[f["session"]])) is not None]
    measure = measure_of(top)
    record = {
        "id": "",
        "rule": top["rule"],
        "category": top["category"],
        "severity": max((f["severity"] for f in cluster), key=RANK.__getitem__),
        "confidence": _majority(f.get("confidence", "low") for f in cluster),
        "cause": _cause(top, measure, values),
        "sessions": ids,
        "connections": len(starts),
        "clients": len({_host(rows[c]["client"]) for c in starts}),
        "first": begun[0].strftime(ISO) if begun else None,
        "last": max(ends).strftime(ISO) if ends else None,
        "measure": _spread(measure, values),
        "every_s": _every(begun),
        "loop": loop,
        "findings": [f["fingerprint"] for f in found],
        "fix": top["fix"],
    }
    return record, found


def _majority(confidences: Iterable[str]) -> str:
    """The most common confidence; a tie goes to the higher one."""
    counts = Counter(confidences)
    return max(counts, key=lambda c: (counts[c], CONFIDENCE.get(c, 0)))


def _spread(measure: Measure | None, values: list[float]) -> dict[str, Any] | None:
    if measure is None or not values:
        return None
    return {
        "name": measure.name,
        "unit": "s",
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def _every(starts: list[datetime]) -> float | None:
    """Mean interval between the connections' starts: a loop or a schedule shows in it."""
    if len(starts) < MIN_PERIODIC:
        return None
    return round((starts[-1] - starts[0]).total_seconds() / (len(starts) - 1), 1)


def _cause(top: Finding, measure: Measure | None, values: list[float]) -> str:
    """The worst finding's title, with the measured number when the cause has one."""
    text = lower_first(top["title"])
    spread = _spread(measure, values)
    if spread is None:
        return text
    low, mid, high = (seconds(spread[k]) for k in ("min", "median", "max"))
    numbers = low if low == high else f"{low} to {high}, median {mid}"
    return f"{text} ({spread['name']}: {numbers})"


def lower_first(text: str) -> str:
    """'The client went silent…' reads better mid-sentence as 'the client went silent…'."""
    first, _, rest = text.partition(" ")
    return f"{first.lower()} {rest}" if first in ("The", "A", "An") else text


def seconds(value: float | None) -> str:
    """Durations as people say them: 10.0 s, 0.25 s, 0.6 ms, 61 min."""
    if value is None:
        return "?"
    if value >= 600:
        return f"{value / 60:.0f} min"
    if value >= 1:
        return f"{value:.1f} s"
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def line(incident: dict[str, Any], max_ids: int = 6) -> str:
    """The incident in one line, as the verdict, the terminal and Markdown print it:
    "37 sessions: <cause> (s1, s3, … +31 more) — 12:00:03 to 12:59:51, every 97 s on
    average (a reconnect loop)"."""
    ids = incident["sessions"]
    named = ", ".join(ids[:max_ids]) + (
        f" +{len(ids) - max_ids} more" if len(ids) > max_ids else ""
    )
    text = f"{incident['cause']} ({named}) — {_when(incident['first'], incident['last'], len(ids))}"
    n = incident["connections"]
    if len(ids) > 1:
        count = (
            f"{n} session{'s' if n > 1 else ''}"
            if n == len(ids)
            else f"{n} connection{'s' if n > 1 else ''} ({len(ids)} legs)"
        )
        text = f"{count}: {text}"
    if incident["every_s"] is not None:
        text += f", every {seconds(incident['every_s'])} on average"
        text += " (a reconnect loop)" if incident["loop"] else ""
    return text


def _when(first: str | None, last: str | None, sessions: int) -> str:
    """'at 12:00:03' or '12:00:03 to 12:59:51' (UTC; with the dates when they differ)."""
    if first is None or last is None:
        return "time unknown"
    if sessions == 1:
        return f"at {first[11:19]} UTC"
    if first[:10] != last[:10]:
        return f"{first[:10]} {first[11:19]} to {last[:10]} {last[11:19]} UTC"
    return f"{first[11:19]} to {last[11:19]} UTC"
