"""Incidents (analyzer/incidents.py) and which finding explains which (findings.link).

Many sessions failing for one cause read as one incident: the same rule, the same proxy,
the same timer, across sessions and input files. One connection tells one story: a
missing close folds under the cause beside it, the same rule on both legs of a proxied
connection is one card. The pure functions are shown on small tables; then the samples,
and captures merged from them with tshark's mergecap.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer import findings, incidents
from analyzer.findings import RANK

from conftest import SAMPLES, analysis_of, loaded_together, sample

T0 = datetime(2026, 12, 7, 12, 0, 3, tzinfo=UTC)


def finding(session: str, rule: str, category: str, severity: str = "high") -> dict[str, Any]:
    return {
        "session": session,
        "rule": rule,
        "category": category,
        "severity": severity,
        "confidence": "high",
        "title": f"The {rule} happened",
        "fix": f"fix {rule}",
        "fingerprint": f"{session}-{rule}",
    }


def linked(found: list[dict[str, Any]], legs: dict[str, tuple[str | None, str | None]]) -> dict:
    """`findings.link` over sessions given as id -> (other_leg, hop_leg); fingerprint ->
    explained_by."""
    findings.link(found, {s: {"other_leg": o, "hop_leg": h} for s, (o, h) in legs.items()})
    return {f["fingerprint"]: f["explained_by"] for f in found}


PAIR = {"s1": ("s2", "downstream"), "s2": ("s1", "upstream")}


def test_a_missing_close_folds_under_the_cause_on_either_leg() -> None:
    found = [
        finding("s1", "no-close-after-idle", "missing-close"),
        finding("s2", "no-close-after-idle", "missing-close"),
        finding("s2", "proxy-idle-teardown", "proxy-interference", "medium"),
    ]
    assert linked(found, PAIR) == {
        "s1-no-close-after-idle": "s2-proxy-idle-teardown",
        "s2-no-close-after-idle": "s2-proxy-idle-teardown",
        "s2-proxy-idle-teardown": None,
    }


def test_a_missing_close_alone_or_beside_a_low_cause_stays_a_root() -> None:
    found = [
        finding("s1", "no-close-client-fin", "missing-close"),
        finding("s1", "proxy-tls-interception", "proxy-interference", "low"),
    ]
    assert set(linked(found, {"s1": (None, None)}).values()) == {None}


def test_the_same_rule_on_both_legs_is_the_downstream_legs_card() -> None:
    found = [
        finding("s2", "idle-before-1011", "idle-timeout"),
        finding("s1", "idle-before-1011", "idle-timeout"),
    ]
    assert linked(found, PAIR) == {
        "s2-idle-before-1011": "s1-idle-before-1011",
        "s1-idle-before-1011": None,
    }


def test_separate_sessions_never_fold_into_each_other() -> None:
    found = [
        finding("s1", "idle-before-1011", "idle-timeout"),
        finding("s2", "idle-before-1011", "idle-timeout"),
        finding("s2", "no-close-client-fin", "missing-close"),
    ]
    legs = {"s1": (None, None), "s2": (None, None)}
    assert linked(found, legs) == {
        "s1-idle-before-1011": None,
        "s2-idle-before-1011": None,
        "s2-no-close-client-fin": "s2-idle-before-1011",
    }


def test_a_refused_handshake_folds_under_the_proxy_that_refused_it() -> None:
    """One refusal, one card: the proxy's (its fix holds the proxy's settings); the
    handshake failure it caused is a line under it (squid-connect). A handshake failure
    with no proxy finding, or with only a weaker guess at one (a medium
    proxy-response-without-request-id beside a high 401), stays a cause of its own."""
    found = [
        finding("s1", "handshake-proxy-refused-tunnel", "handshake-failure"),
        finding("s1", "proxy-connect-refused", "proxy-interference"),
        finding("s2", "handshake-401-unauthorized", "handshake-failure"),
        finding("s3", "handshake-401-unauthorized", "handshake-failure"),
        finding("s3", "proxy-response-without-request-id", "proxy-interference", "medium"),
    ]
    sessions = {s: (None, None) for s in ("s1", "s2", "s3")}
    assert linked(found, sessions) == {
        "s1-handshake-proxy-refused-tunnel": "s1-proxy-connect-refused",
        "s1-proxy-connect-refused": None,
        "s2-handshake-401-unauthorized": None,
        "s3-handshake-401-unauthorized": None,
        "s3-proxy-response-without-request-id": None,
    }


def test_a_lesser_card_of_the_same_category_folds_under_the_worst() -> None:
    found = [
        finding("s1", "unmasked-client-frame", "protocol-error", "medium"),
        finding("s1", "close-1002-protocol-error", "protocol-error", "high"),
        finding("s1", "reserved-opcode", "protocol-error", "low"),
    ]
    assert linked(found, {"s1": (None, None)}) == {
        "s1-unmasked-client-frame": "s1-close-1002-protocol-error",
        "s1-close-1002-protocol-error": None,
        "s1-reserved-opcode": None,  # a note, not a card
    }


def test_connections_follow_other_leg_through_two_hops() -> None:
    # s2 is the middle leg: upstream of s1 and downstream of s3.
    legs = {"s1": "s2", "s2": "s3", "s3": "s2", "s4": None}
    assert findings.connections(legs) == {"s1": "s1", "s2": "s1", "s3": "s1", "s4": "s4"}


# incidents.build on a small sessions table --------------------------------------------


def table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Sessions with the columns incidents.build reads; ids in start order."""
    base = {
        "end": None,
        "client": "127.0.0.11:40000",
        "server": "127.0.0.21:8080",
        "hop_leg": None,
        "other_leg": None,
    }
    full = [{**base, **{c: None for c in incidents.MEASURED}, **r} for r in rows]
    for r in full:
        r["end"] = r["end"] or r["start"] + timedelta(seconds=12)
    schema = {c: pl.Float64 for c in incidents.MEASURED} | {"other_leg": pl.String}
    schema |= {"hop_leg": pl.String}
    return pl.DataFrame(full, schema_overrides=schema)


def session(i: int, at_s: float, **columns: Any) -> dict[str, Any]:
    return {"id": f"s{i}", "start": T0 + timedelta(seconds=at_s), **columns}


def built(rows: list[dict[str, Any]], found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sessions = table(rows)
    legs = {r["id"]: r for r in sessions.select("id", "other_leg", "hop_leg").to_dicts()}
    findings.link(found, legs)
    return incidents.build(found, sessions)


def test_one_timer_is_one_incident_and_two_timers_are_two() -> None:
    quiet = "client_quiet_before_server_close_s"
    rows = [
        session(1, 0, **{quiet: 10.0}, client="127.0.0.11:40001"),
        session(2, 5, **{quiet: 10.1}, client="127.0.0.12:40002", server="127.0.0.22:8080"),
        session(3, 7, **{quiet: 30.0}, client="127.0.0.13:40003"),
    ]
    found = [finding(f"s{i}", "idle-before-1011", "idle-timeout") for i in (1, 2, 3)]
    made = built(rows, found)
    assert [m["sessions"] for m in made] == [["s1", "s2"], ["s3"]]  # servers do not split
    assert made[0]["measure"] == {
        "name": "client silence before the close",
        "unit": "s",
        "min": 10.0,
        "median": 10.05,
        "max": 10.1,
    }
    assert [f["incident"] for f in found] == ["i1", "i1", "i2"]


def test_proxy_findings_split_by_the_proxys_host() -> None:
    rows = [
        session(1, 0, server="127.0.0.31:8080"),
        session(2, 1, server="127.0.0.31:8080", client="127.0.0.12:1"),
        session(3, 2, server="127.0.0.32:8080", client="127.0.0.13:1"),
    ]
    found = [finding(f"s{i}", "proxy-forged-rst-server", "proxy-interference") for i in (1, 2, 3)]
    assert [m["sessions"] for m in built(rows, found)] == [["s1", "s2"], ["s3"]]


def test_an_incident_counts_a_connection_once_and_takes_its_symptoms() -> None:
    rows = [
        session(1, 0, other_leg="s2", hop_leg="downstream", idle_before_end_s=60.0),
        session(2, 0.01, other_leg="s1", hop_leg="upstream", client="127.0.0.31:5"),
        session(3, 200, client="127.0.0.14:1", idle_before_end_s=60.2),
    ]
    found = [
        finding("s1", "proxy-idle-teardown", "proxy-interference"),
        finding("s2", "proxy-idle-teardown", "proxy-interference"),
        finding("s2", "no-close-after-idle", "missing-close"),
        finding("s3", "proxy-idle-teardown", "proxy-interference"),
    ]
    [made] = built(rows, found)
    assert made["sessions"] == ["s1", "s2", "s3"]
    assert made["connections"] == 2 and made["clients"] == 2
    assert made["findings"] == [
        "s1-proxy-idle-teardown",
        "s2-proxy-idle-teardown",
        "s2-no-close-after-idle",
        "s3-proxy-idle-teardown",
    ]
    assert {f["incident"] for f in found} == {"i1"}
    assert made["first"] == "2026-12-07T12:00:03.000000Z"
    assert made["last"] == "2026-12-07T12:03:35.000000Z"
    assert made["fix"] == "fix proxy-idle-teardown"


def test_a_reconnect_loop_is_its_own_incident_with_its_period() -> None:
    """One client's connections one after another, every 97 s; other clients' failures of
    the same rule at the same moments stay one incident apart from the loop."""
    quiet = "client_quiet_before_server_close_s"
    loop = [session(i, 97.0 * i, **{quiet: 10.0}, client=f"127.0.0.11:{i}") for i in range(1, 6)]
    fleet = [
        session(i, 97.0 * (i - 5) + 1, **{quiet: 10.0}, client=f"127.{i}.0.11:1")
        for i in range(6, 10)
    ]
    found = [finding(r["id"], "idle-before-1011", "idle-timeout") for r in [*loop, *fleet]]
    made = built(sorted([*loop, *fleet], key=lambda r: r["start"]), found)
    assert [(m["connections"], m["clients"], m["every_s"], m["loop"]) for m in made] == [
        (5, 1, 97.0, True),
        (4, 4, 97.0, False),
    ]
    assert incidents.line(made[0]).startswith("5 sessions: the idle-before-1011 happened")
    assert incidents.line(made[0]).endswith(
        "— 12:01:40 to 12:08:20 UTC, every 97.0 s on average (a reconnect loop)"
    )
    assert "reconnect loop" not in incidents.line(made[1])


def test_one_clients_connections_to_different_servers_are_no_loop() -> None:
    """client-killed, envoy-client-killed (through the proxy) and node-client-killed one
    after another from one host: one incident, one client, but not a reconnect loop."""
    servers = ["127.0.0.21:8080", "127.0.0.31:8080", "127.0.0.21:8080"]
    rows = [session(i, 100.0 * i, server=servers[i - 1]) for i in (1, 2, 3)]
    found = [finding(r["id"], "no-close-client-fin", "missing-close") for r in rows]
    [made] = built(rows, found)
    assert (made["clients"], made["every_s"], made["loop"]) == (1, 100.0, False)
    assert incidents.line(made).endswith("every 100.0 s on average")


def test_incidents_are_ordered_by_severity_then_connections() -> None:
    rows = [session(i, i, client=f"127.0.0.{i}:1") for i in range(1, 5)]
    found = [
        finding("s1", "a", "server-error", "medium"),
        finding("s2", "a", "server-error", "medium"),
        finding("s3", "b", "server-error", "medium"),
        finding("s4", "c", "server-error", "high"),
        finding("s4", "d", "server-error", "info"),
        finding("s3", "capture-started-mid-session", "capture-quality", "low"),
    ]
    made = built(rows, found)
    assert [m["rule"] for m in made] == ["c", "a", "b"]  # info and the evidence's limits: none
    assert [f["incident"] for f in found[-2:]] == [None, None]


# the samples -----------------------------------------------------------------------------


def test_nginx_read_timeout_is_one_connection_one_incident() -> None:
    result = analysis_of(sample("nginx-read-timeout"))
    legs = result.data.sessions.select("id", "hop_leg", "other_leg").rows()
    assert legs == [("s1", "downstream", "s2"), ("s2", "upstream", "s1")]
    [cause] = [f for f in result.findings if f["explained_by"] is None]
    assert (cause["rule"], cause["session"]) == ("proxy-idle-teardown", "s1")
    missing = [f for f in result.findings if f["category"] == "missing-close"]
    assert len(missing) == 2
    assert {f["explained_by"] for f in missing} == {cause["fingerprint"]}
    [incident] = result.incidents
    assert incident["sessions"] == ["s1", "s2"] and incident["connections"] == 1
    assert incident["findings"][0] == cause["fingerprint"]
    assert 59.5 < incident["measure"]["median"] < 60.5  # nginx's proxy_read_timeout 60s
    assert {f["incident"] for f in result.findings} == {"i1"}


SAMPLE_NAMES = sorted(p.parent.name for p in SAMPLES.glob("*/capture.pcap*"))


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_no_session_has_two_cards_for_one_cause(name: str) -> None:
    """Issue 14's bar: a session's root findings at medium or above are of distinct
    categories, and a proxied pair has at most one root finding per rule."""
    result = analysis_of(sample(name))
    roots = [f for f in result.findings if f["explained_by"] is None and f["session"]]
    cards = [f for f in roots if RANK[f["severity"]] >= RANK["medium"]]
    by_session: dict[str, list[str]] = {}
    for f in cards:
        by_session.setdefault(f["session"], []).append(f["category"])
    assert all(len(c) == len(set(c)) for c in by_session.values()), by_session
    pairs = result.data.sessions.filter(pl.col("hop_leg") == "downstream")
    for down, up in pairs.select("id", "other_leg").rows():
        rules = [f["rule"] for f in roots if f["session"] in (down, up)]
        assert len(rules) == len(set(rules)), (down, up, rules)
    causes = [f for f in roots if f["category"] != "capture-quality"]
    assert all(f["incident"] for f in causes if RANK[f["severity"]] >= RANK["low"])


def merged(out: Path, *names: str) -> Path:
    """tshark's mergecap of sample captures (chronological)."""
    paths = [str(SAMPLES / n / "capture.pcap") for n in names]
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(out), *paths], check=True)
    return out


def test_incidents_group_sessions_across_two_merged_files(tmp_path: Path) -> None:
    """Two inputs, each a mergecap of samples: one incident per cause over both files (the
    Deepgram idle close from three clients, two of them behind proxies; a client killed
    on its own and behind envoy), and one per proxy timer."""
    first = merged(tmp_path / "a.pcap", "idle-1011", "client-killed", "nginx-read-timeout")
    second = merged(tmp_path / "b.pcap", "node-idle-1011", "nginx-idle-1011", "envoy-client-killed")
    result = analysis_of(loaded_together(first, second))
    inputs = dict(result.data.sessions.select("id", "input_index").rows())
    by_rule = {i["rule"]: i for i in result.incidents}
    assert sorted(by_rule) == ["idle-before-1011", "no-close-client-fin", "proxy-idle-teardown"]
    idle = by_rule["idle-before-1011"]
    assert (idle["connections"], len(idle["sessions"])) == (3, 4)
    assert {inputs[s] for s in idle["sessions"]} == {0, 1}
    killed = by_rule["no-close-client-fin"]
    assert (killed["connections"], len(killed["sessions"])) == (2, 3)
    assert {inputs[s] for s in killed["sessions"]} == {0, 1}
    assert by_rule["proxy-idle-teardown"]["connections"] == 1
    assert len(result.incidents) == 3


def test_a_session_without_times_makes_an_incident_without_them() -> None:
    """A damaged HAR or log may leave a session without a start: no crash, no time."""
    row = {"id": "s1", "start": None, "end": None, "client": None, "server": None}
    sessions = pl.DataFrame(
        [row | {"hop_leg": None, "other_leg": None}],
        schema_overrides={"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")}
        | {c: pl.String for c in ("client", "server", "hop_leg", "other_leg")},
    ).with_columns(pl.lit(None, pl.Float64).alias(c) for c in incidents.MEASURED)
    found = [finding("s1", "idle-before-1011", "idle-timeout")]
    findings.link(found, {"s1": {"other_leg": None, "hop_leg": None}})
    [made] = incidents.build(found, sessions)
    assert (made["first"], made["last"], made["every_s"]) == (None, None, None)
    assert incidents.line(made).endswith("(s1) — time unknown")
