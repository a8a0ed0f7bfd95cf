"""Every sample capture produces EXACTLY the findings its expected.yaml declares.

Each session entry of `sample_captures/*/expected.yaml` carries `findings: {category:
severity}`, declared by the scenario (sample_captures/recorder/scenarios_*.py): the contract
categories its findings must fall in, each with the highest severity among that session's
findings in it; a category not listed must not fire at all, and `{}` means no finding
whatsoever. Here the full built-in rule pack runs on every capture the file lists (with its
key log) and on its `without_keys` variant; sessions are matched by start order (s1, s2, …).

Each capture is loaded (one tshark pass) and evaluated once for the whole module.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from analyzer.errors import PackError
from analyzer.rules.engine import evaluate
from analyzer.rules.loader import load_rules
from analyzer.rules.model import SEVERITIES, Rule

from conftest import SAMPLES, loaded

EXPECTED = sorted(SAMPLES.glob("*/expected.yaml"))
RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}  # info < … < critical
MEDIUM = RANK["medium"]

Case = tuple[str, Path, Path | None, tuple[dict[str, str], ...]]


def _cases() -> list[Case]:
    """(id, capture, key log, declared findings per session) for every reading of a sample."""
    cases: list[Case] = []
    for spec_path in EXPECTED:
        spec = yaml.safe_load(spec_path.read_text())
        folder = spec_path.parent
        declared = tuple(session["findings"] for session in spec["sessions"])
        for cap in spec["captures"]:
            keylog = folder / cap["keylog"] if "keylog" in cap else None
            cases.append((f"{folder.name}/{cap['path']}", folder / cap["path"], keylog, declared))
        if "without_keys" in spec:
            plain = spec["without_keys"]
            declared = tuple(session["findings"] for session in plain["sessions"])
            name = f"{folder.name}/{plain['path']} (no keys)"
            cases.append((name, folder / plain["path"], None, declared))
    return cases


CASES = _cases()
HEALTHY_CASES = [case for case in CASES if any(not findings for findings in case[3])]


@lru_cache(maxsize=1)
def _rules() -> list[Rule]:
    try:
        return load_rules([])
    except PackError as exc:
        pytest.fail(
            "the built-in rule pack does not load:\n  " + "\n  ".join(exc.problems),
            pytrace=False,
        )


@lru_cache(maxsize=64)  # one entry per (capture, key log): ~30 readings in the corpus
def _run(path: Path, keylog: Path | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(sessions in start order, every finding of the built-in pack) for one reading."""
    data = loaded(path, keylog)
    sessions = data.sessions.sort("start").select("id", "kind", "client", "server").to_dicts()
    tables = {"frames": data.frames, "anomalies": data.anomalies}
    return sessions, evaluate(_rules(), data.sessions, tables)


def _max_by_category(findings: list[dict[str, Any]]) -> dict[str, str]:
    """Category -> the highest severity among ``findings``."""
    out: dict[str, str] = {}
    for finding in findings:
        category, severity = finding["category"], finding["severity"]
        if category not in out or RANK[severity] > RANK[out[category]]:
            out[category] = severity
    return out


def _flow(mapping: dict[str, str]) -> str:
    """A mapping as expected.yaml writes it: ``{idle-timeout: high}``."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def _session_report(
    session: dict[str, Any],
    expected: dict[str, str],
    actual: dict[str, str],
    fired: list[dict[str, Any]],
) -> str:
    missing = {c: s for c, s in expected.items() if c not in actual}
    unexpected = {c: s for c, s in actual.items() if c not in expected}
    wrong = {c: f"{expected[c]} expected, {actual[c]} actual" for c in expected.keys() & actual}
    wrong = {c: text for c, text in wrong.items() if expected[c] != actual[c]}
    lines = [
        f"  {session['id']} ({session['kind']}, {session['client']} -> {session['server']})",
        f"    expected: {_flow(expected)}",
        f"    actual:   {_flow(actual)}",
    ]
    lines += [f"    missing:  {_flow(missing)}"] if missing else []
    lines += [f"    unwanted: {_flow(unexpected)}"] if unexpected else []
    lines += [f"    severity: {_flow(wrong)}"] if wrong else []
    lines.append("    fired:" if fired else "    fired:    (no rule)")
    lines += [
        f"      - {f['rule']} [{f['category']}/{f['severity']}]: {f['summary']}" for f in fired
    ]
    return "\n".join(lines)


def _sessions_or_fail(
    name: str, path: Path, keylog: Path | None, declared: tuple[dict[str, str], ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sessions, findings = _run(path, keylog)
    if len(sessions) != len(declared):
        pytest.fail(
            f"{name}: the engine finds {len(sessions)} session(s), expected.yaml declares "
            f"findings for {len(declared)} (see test_sample_facts.py for the session facts)",
            pytrace=False,
        )
    return sessions, findings


@pytest.mark.parametrize(("name", "path", "keylog", "declared"), CASES, ids=[c[0] for c in CASES])
def test_sample_produces_exactly_its_declared_findings(
    name: str, path: Path, keylog: Path | None, declared: tuple[dict[str, str], ...]
) -> None:
    sessions, findings = _sessions_or_fail(name, path, keylog, declared)
    reports = []
    for session, expected in zip(sessions, declared, strict=True):
        fired = [f for f in findings if f["session"] == session["id"]]
        actual = _max_by_category(fired)
        if actual != expected:
            reports.append(_session_report(session, expected, actual, fired))
    if reports:
        pytest.fail(
            f"{name}: {len(reports)} of {len(sessions)} session(s) differ from the "
            "`findings` in expected.yaml (category: highest severity)\n" + "\n".join(reports),
            pytrace=False,
        )


@pytest.mark.parametrize(
    ("name", "path", "keylog", "declared"), HEALTHY_CASES, ids=[c[0] for c in HEALTHY_CASES]
)
def test_healthy_sessions_have_no_finding_at_medium_or_above(
    name: str, path: Path, keylog: Path | None, declared: tuple[dict[str, str], ...]
) -> None:
    """Redundant with exactness, but names the false alarms a user would actually see."""
    sessions, findings = _sessions_or_fail(name, path, keylog, declared)
    alarms = []
    for session, expected in zip(sessions, declared, strict=True):
        if expected:
            continue
        loud = [
            f for f in findings if f["session"] == session["id"] and RANK[f["severity"]] >= MEDIUM
        ]
        alarms += [
            f"  {session['id']}: {f['rule']} [{f['category']}/{f['severity']}]: {f['summary']}"
            for f in loud
        ]
    if alarms:
        pytest.fail(
            f"{name}: healthy session(s) (`findings: {{}}`) raise {len(alarms)} finding(s) at "
            "medium or above:\n" + "\n".join(alarms),
            pytrace=False,
        )
