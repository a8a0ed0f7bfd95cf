"""The verdict's headline tells a capture of a thousand sessions as a handful of incidents.

The fleet capture (benchmarks/make_fleet.py: every Ethernet sample 24 times, each copy in
its own 127.k.0.0/16, and idle-1011 replayed 40 times from one client every 97 s) is
written once for this module and analysed once.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from analyzer.incidents import line
from analyzer.report import verdict
from analyzer.report.verdict import MAX_INCIDENTS, SessionVerdict

from conftest import REPO, analysis_of, loaded


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("fleet") / "fleet.pcap"
    script = REPO / "benchmarks" / "make_fleet.py"
    subprocess.run([sys.executable, script, "-o", out], check=True, capture_output=True)
    return analysis_of(loaded(out))


def test_the_fleet_headline_names_at_most_five_incidents(fleet: Any) -> None:
    judged = verdict.build(fleet)
    head, failed = judged.headline, {s.session for s in judged.failed}
    shown = [i for i in fleet.incidents if line(i) in head]
    assert len(shown) == MAX_INCIDENTS == 5
    assert shown == fleet.incidents[:MAX_INCIDENTS]  # most severe, then largest, first
    rest = [i for i in fleet.incidents[MAX_INCIDENTS:] if failed.intersection(i["sessions"])]
    k = len(failed.intersection(s for i in rest for s in i["sessions"]))
    assert f"; +{len(rest)} more incidents ({k} sessions)." in head
    assert head.startswith(f"{len(failed):,} of {len(judged.seen):,} sessions failed: ")
    assert len(head) < 1_500


def test_the_reconnect_loop_is_one_incident_every_97_s(fleet: Any) -> None:
    [loop] = [i for i in fleet.incidents if i["loop"]]
    assert (loop["rule"], loop["clients"]) == ("idle-before-1011", 1)
    assert loop["connections"] == len(loop["sessions"]) == 40
    assert 96.5 <= loop["every_s"] <= 97.5
    assert 9.9 <= loop["measure"]["min"] <= loop["measure"]["max"] <= 10.2
    assert line(loop).endswith("every 97.0 s on average (a reconnect loop)")
    assert line(loop) in verdict.build(fleet).headline


def test_the_fleets_proxied_pairs_count_once(fleet: Any) -> None:
    """Two legs of one connection are one connection in an incident: the fleet's 24 copies
    of nginx-read-timeout share their nginx (make_fleet keeps servers and proxies), so its
    60 s proxy_read_timeout is one incident of 24 connections, each with both legs."""
    nginx = [
        i
        for i in fleet.incidents
        if i["rule"] == "proxy-idle-teardown" and 59 < i["measure"]["median"] < 61
    ]
    assert [(i["connections"], len(i["sessions"])) for i in nginx] == [(24, 48)]


def one(session: str, severity: str = "high") -> SessionVerdict:
    finding = {"rule": "r", "title": "The thing broke", "category": "server-error"}
    return SessionVerdict(session, "a → b", "text.", severity, finding)


def incident(cause: str, *sessions: str) -> dict[str, Any]:
    return {
        "cause": cause,
        "sessions": list(sessions),
        "connections": len(sessions),
        "clients": len(sessions),
        "every_s": None,
        "loop": False,
        "first": "2026-12-07T12:00:03.000000Z",
        "last": "2026-12-07T12:09:00.000000Z",
    }


def test_incidents_beyond_five_are_counted_with_their_failed_sessions() -> None:
    sessions = [one(f"s{i}") for i in range(1, 9)] + [one("s9", "low")]
    found = [incident(f"cause {k}", f"s{k}") for k in range(1, 7)]
    found.append(incident("cause 7", "s7", "s8", "s9"))  # s9 did not fail
    head = verdict.headline(sessions, [], found)
    assert head.startswith("8 of 9 sessions failed: cause 1 (s1) — at 12:00:03 UTC; ")
    assert "cause 5 (s5)" in head and "cause 6" not in head
    assert head.endswith("; +2 more incidents (3 sessions).")


def test_an_incident_of_no_failed_session_is_not_named() -> None:
    head = verdict.headline([one("s1"), one("s2", "low")], [], [incident("noted", "s2")])
    assert head == "1 of 2 sessions failed."
