"""TLS connections that cannot be decrypted are counted apart in the verdict.

Without keys a TLS connection may be wss or anything else on 443: it is never one of the
"N of M sessions" that failed or looked healthy. The headline says how many there were and
which server names they asked for, and a capture with nothing else says so.
"""

from __future__ import annotations

import polars as pl

from analyzer.report import verdict
from analyzer.report.verdict import SessionVerdict

from conftest import EXTERNAL, analysis_of, loaded, sample

NDPI = EXTERNAL / "ndpi-1kxun.pcap"


def test_a_capture_whose_only_session_is_encrypted_says_so() -> None:
    result = analysis_of(sample("wss-keylog", keys=False))
    [sni] = result.data.sessions["sni"].to_list()
    head = verdict.build(result).headline
    assert head.startswith("No WebSocket session can be seen without the TLS keys.")
    assert f"1 TLS connection (possibly wss; SNI {sni}) could not be decrypted" in head
    assert "failed" not in head
    assert "encrypted-without-keys" in {f["rule"] for f in result.findings}  # capture quality


def test_encrypted_connections_are_not_among_the_sessions_counted() -> None:
    result = analysis_of(loaded(NDPI))
    kinds = result.data.sessions["kind"]
    seen, blind = (kinds != "encrypted").sum(), (kinds == "encrypted").sum()
    assert seen and blind
    head = verdict.build(result).headline
    assert f"All {seen} sessions look healthy" in head or f" of {seen} sessions failed" in head
    assert f"{blind} TLS connections (possibly wss; SNI " in head
    names = result.data.sessions.filter(pl.col("kind") == "encrypted")["sni"].drop_nulls()
    assert all(n in head for n in names.unique().to_list()[:3])


def test_a_blind_session_with_a_serious_finding_is_not_a_failure() -> None:
    def one(name: str, blind: bool) -> SessionVerdict:
        finding = {"rule": "r", "title": "The thing broke", "category": "x"}
        return SessionVerdict(name, "a → b", "text.", "high", finding, blind, "h")

    head = verdict.headline([one("s1", True), one("s2", False)], [])
    assert head.startswith("1 of 1 session failed: the thing broke (s2).")
    assert "1 TLS connection (possibly wss; SNI h)" in head
