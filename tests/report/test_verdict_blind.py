"""TLS connections that cannot be decrypted are counted apart in the verdict.

Without keys a TLS connection may be wss or anything else on 443: it is never one of the
"N of M sessions" that failed or looked healthy. The headline says how many there were and
which server names they asked for, and a capture with nothing else says so.
"""

from __future__ import annotations

import re

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

    incident = {"sessions": ["s2"], "connections": 1, "cause": "the thing broke", "every_s": None}
    incident |= {"first": "2026-12-07T12:00:03.000000Z", "last": "2026-12-07T12:00:09.000000Z"}
    head = verdict.headline([one("s1", True), one("s2", False)], [], [incident])
    assert head.startswith("1 of 1 session failed: the thing broke (s2) — at 12:00:03 UTC.")
    assert "1 TLS connection (possibly wss; SNI h)" in head


def test_the_reports_list_tls_connections_apart_with_their_sni_and_counts() -> None:
    """HTML and Markdown: a section "TLS connections (possibly wss)" with each server name
    and how many connections named it; no such connection among the session lines."""
    from analyzer.report import html, markdown

    result = analysis_of(loaded(NDPI))
    blind = result.data.sessions.filter(pl.col("kind") == "encrypted")
    by_sni = blind.group_by("sni").len()
    page = html.render(result)
    section = page[
        page.index('<section id="tls">') : page.index("</section>", page.index('id="tls"'))
    ]
    assert f'TLS connections (possibly wss) <span class="count">{blind.height}</span>' in section
    for sni, n in by_sni.iter_rows():
        assert (
            f'<td>{sni or "— (none sent or not captured)"}</td><td class="num">{n}</td>' in section
        )
    seen = result.data.sessions.height - blind.height
    assert f"WebSocket sessions</dt><dd>{seen}</dd>" in page  # the capture's facts
    assert f"TLS connections (possibly wss, no keys)</dt><dd>{blind.height}</dd>" in page
    verdict_part = page[: page.index('<section id="tls">')]
    assert not any(re.search(f'href="#(session|row)-{s}"', verdict_part) for s in blind["id"])
    md = markdown.render(result)
    assert f"- **TLS connections (possibly wss)**: {blind.height} not decrypted" in md
    for sni, n in by_sni.iter_rows():
        assert f"{'SNI ' + sni if sni else 'no SNI'}: {n} (" in md
    assert not any(f"- **{s}**" in md for s in blind["id"])


def test_a_blind_session_with_a_serious_finding_is_not_listed_as_failed() -> None:
    finding = {"rule": "r", "title": "The thing broke", "category": "x"}
    blind = SessionVerdict("s1", "a → b:443", "text.", "high", finding, True, "h")
    judged = verdict.Verdict("", [blind], [])
    assert judged.failed == [] and judged.seen == []
    assert judged.tls == [verdict.TlsGroup("h", ["s1"], ["b:443"])]
