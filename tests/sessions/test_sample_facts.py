"""Every recorded sample reproduces the facts its expected.yaml states.

The facts are computed from plain tshark queries by sample_captures/recorder/expected.py
when the sample is recorded, independently of the engine. Each session entry is
`{facts: {column: value}, findings: {category: severity}}`; the facts are compared with the
engine's session row here, the findings with the rule pack in test_sample_findings.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from analyzer.pipeline import load
from analyzer.rules.model import SEVERITIES
from analyzer.schema import CATEGORIES

from conftest import SAMPLES, loaded

EXPECTED = sorted(SAMPLES.glob("*/expected.yaml"))


def _cases() -> list[tuple[str, Path, Path | None, list[dict[str, Any]]]]:
    cases = []
    for spec_path in EXPECTED:
        spec = yaml.safe_load(spec_path.read_text())
        folder = spec_path.parent
        for cap in spec["captures"]:
            keylog = folder / cap["keylog"] if "keylog" in cap else None
            cases.append(
                (f"{folder.name}/{cap['path']}", folder / cap["path"], keylog, _facts(spec))
            )
        if "without_keys" in spec:
            plain = spec["without_keys"]
            cases.append(
                (
                    f"{folder.name}/{plain['path']} (no keys)",
                    folder / plain["path"],
                    None,
                    _facts(plain),
                )
            )
    return cases


def _facts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The facts dict of each session (findings are not engine columns)."""
    return [session["facts"] for session in spec["sessions"]]


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, list) and len(expected) == 2 and actual is not None:
        return expected[0] <= actual <= expected[1]
    return actual == expected


@pytest.mark.parametrize(
    ("name", "path", "keylog", "sessions"), _cases(), ids=[c[0] for c in _cases()]
)
def test_sample_facts(
    name: str, path: Path, keylog: Path | None, sessions: list[dict[str, Any]]
) -> None:
    data = loaded(path, keylog)
    assert data.sessions.height == len(sessions), name
    rows = data.sessions.sort("start").to_dicts()
    mismatches = {
        (i, key): (row[key], want)
        for i, (row, spec) in enumerate(zip(rows, sessions, strict=True))
        for key, want in spec.items()
        if not _matches(row[key], want)
    }
    assert not mismatches, f"{name}: (session, column): (engine, expected) {mismatches}"


def test_every_scenario_folder_states_its_facts() -> None:
    folders = {p.parent for p in SAMPLES.glob("*/capture.pcap*")}
    assert folders, "no sample captures"
    assert folders <= {p.parent for p in EXPECTED}, "a sample folder has no expected.yaml"


@pytest.mark.parametrize("spec_path", EXPECTED, ids=[p.parent.name for p in EXPECTED])
def test_every_session_declares_its_findings(spec_path: Path) -> None:
    """`findings` is a category -> severity mapping in the contract's vocabulary."""
    spec = yaml.safe_load(spec_path.read_text())
    sessions = spec["sessions"] + spec.get("without_keys", {}).get("sessions", [])
    for i, session in enumerate(sessions, 1):
        where = f"{spec_path.parent.name} session entry {i}"
        assert set(session) == {"facts", "findings"}, where
        findings = session["findings"]
        assert isinstance(findings, dict), f"{where}: findings must be a mapping: {findings!r}"
        unknown = set(findings) - set(CATEGORIES)
        assert not unknown, f"{where}: unknown categories {sorted(unknown)}"
        bad = {c: s for c, s in findings.items() if s not in SEVERITIES}
        assert not bad, f"{where}: invalid severities {bad} (valid: {', '.join(SEVERITIES)})"


def test_frames_table_has_one_row_per_frame_of_each_session() -> None:
    """Cross-check: per-session frame counts agree with the frames table itself."""
    data = load([SAMPLES / "clean-close" / "capture.pcap"])
    per_session = data.frames.group_by("session", "from_client").len()
    client = per_session.filter(pl.col("from_client"))["len"].item()
    assert client == data.sessions["frames_client"].item()
