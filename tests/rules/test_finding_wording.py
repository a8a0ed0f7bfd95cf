"""No placeholder leaks into what a finding says: a missing value is worded, never printed.

A template that prints a null as `n/a`, `None` or `NONE` ("OPEN from the n/a side", "after
its last data frame n/a") reads as a bug to the person holding the report. Every finding
of every sample, Zeek and external capture is checked; text inside code spans (a fix's
`ping_interval=None`) is code, not wording.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import EVERY_CAPTURE, analysis_of, capture_id, loaded

PLACEHOLDER = re.compile(r"\bn/a\b|\bNone\b|\bNONE\b|\bnull\b")
CODE = re.compile(r"`[^`]*`")


def _wording(finding: dict) -> list[str]:
    texts = [finding["summary"], *(e["text"] for e in finding["evidence"])]
    return [CODE.sub("", t) for t in texts]


@pytest.mark.parametrize("path", EVERY_CAPTURE, ids=capture_id)
def test_no_placeholder_in_what_a_finding_says(path: Path) -> None:
    for finding in analysis_of(loaded(path)).findings:
        for text in _wording(finding):
            assert not PLACEHOLDER.search(text), (finding["rule"], text)


def test_the_check_sees_a_placeholder() -> None:
    finding = {"summary": "OPEN from the n/a side", "evidence": [{"text": "ok `None`"}]}
    assert [bool(PLACEHOLDER.search(t)) for t in _wording(finding)] == [True, False]


# A log, a log line, logged: wording that only a run with a log file may use.
LOG = re.compile(r"\blogs?\b|\blogged\b", re.IGNORECASE)


@pytest.mark.parametrize("path", EVERY_CAPTURE, ids=capture_id)
def test_nothing_speaks_of_a_log_when_there_is_none(path: Path) -> None:
    """A capture read alone: no finding's title, summary or evidence, and no verdict
    sentence, mentions a log (a fix may still advise reading one)."""
    from analyzer.report import verdict

    result = analysis_of(loaded(path))
    texts = [t for f in result.findings for t in (f["title"], *_wording(f))]
    judged = verdict.build(result)
    texts += [judged.headline, *(s.sentence for s in judged.sessions)]
    assert not [t for t in texts if LOG.search(CODE.sub("", t))]


def test_the_check_sees_a_log() -> None:
    said = ["the client log shows close 1006", "logged at 10:00", "a catalogue", "`log_x`"]
    assert [bool(LOG.search(CODE.sub("", t))) for t in said] == [True, True, False, False]
