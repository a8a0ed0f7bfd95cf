"""Every rule's own test cases (rules/**/*.yaml `tests:`), one pytest case each.

Sample cases run the real engine on the real recordings in sample_captures/; feature
cases evaluate the hand-written session row the rule author wrote down.
"""

from __future__ import annotations

import pytest

from analyzer.rule_tests import run_case
from analyzer.rules.loader import load_rules

from conftest import SAMPLES, loaded

RULES = load_rules([])
CASES = [(rule, case) for rule in RULES for case in rule.tests]


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.id}:{c.line}" for r, c in CASES])
def test_rule_case(rule, case) -> None:
    outcome = run_case(rule, case, SAMPLES, loaded, RULES)
    assert outcome.passed, f"{outcome.where}: {outcome.detail}"


def test_pack_covers_every_category() -> None:
    from analyzer.schema import CATEGORIES

    assert {r.category for r in RULES} == set(CATEGORIES)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_a_cited_log_line_carries_its_own_time(rule) -> None:
    # An evidence row without a time sorts after every timed row and reads as timeless;
    # log_source_time is the cited line's own time on the capture clock.
    for item in rule.evidence:
        if item.log:
            assert item.time == f"{item.log}_time", f"{rule.id}: evidence log {item.log}"
