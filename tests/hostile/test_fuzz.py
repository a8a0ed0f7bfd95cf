"""The fuzz campaign's properties: every mutant of a real capture, log, HAR or rule pack
gets exit 0/1 with valid reports or exit 2 with one line naming the file, in bounded time
and memory, with no planted secret in any output and nothing executable in the HTML.

In CI (the default `ci` profile) each kind runs a small, fixed, derandomized set of mutants
(about 2-4 minutes for the file on 2 cores). `scripts/fuzz.sh --minutes N` runs the same
properties as a time-boxed random campaign and saves every failure as a reproducer under
fuzz-findings/. The mutators and the oracle: tests/fuzz/.
"""

from __future__ import annotations

import pytest

from fuzz import campaign, captures, oracle, texts

STRATEGIES = {
    "pcap": lambda: captures.capture_cases("pcap"),
    "pcapng": lambda: captures.capture_cases("pcapng"),
    "log": texts.log_cases,
    "har": texts.har_cases,
    "rules": texts.rule_cases,
}


@pytest.mark.parametrize("kind", list(STRATEGIES))
def test_fuzz(kind: str) -> None:
    if campaign.PROFILE == "campaign":
        stats = campaign.run_campaign(kind, STRATEGIES[kind]())
        assert not stats["failures"], "\n".join(
            f"{sig} -> {folder}" for sig, folder in stats["failures"].items()
        )
    else:
        campaign.run_ci(kind, STRATEGIES[kind]())


def test_oracle_catches_broken_promises(tmp_path) -> None:
    """The oracle itself can fail: script, handler, foreign link, missing CSP, leaks."""
    allowed = oracle.ALLOWED_URLS
    bad = (
        "<html><head></head><body><script>x</script><img src=x onerror=alert(1)>"
        "<a href='https://evil.example/'>x</a></body></html>"
    )
    problems = oracle.html_problems(bad, allowed)
    assert any("<script>" in p for p in problems)
    assert any("onerror" in p for p in problems)
    assert any("evil.example" in p for p in problems)
    assert any("Content-Security-Policy" in p for p in problems)
    assert oracle.markdown_problems("[x](https://evil.example/a)", allowed)
    assert not oracle.markdown_problems("[#](#finding-1) `<script>`", allowed)
