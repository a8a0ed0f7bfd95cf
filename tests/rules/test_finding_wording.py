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
