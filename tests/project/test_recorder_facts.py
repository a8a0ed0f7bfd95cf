"""Re-deriving each sample's expected.yaml from its committed capture gives the committed file.

The recorder (tools/recorder) writes a scenario folder's expected.yaml from plain tshark
queries (expected.py, session_facts.py, tshark_rows.py), never from the wsdoctor engine, and
`python -m tools.recorder facts` rewrites it from the capture already in the folder. Here the
same tshark-only path runs in memory for every folder that has an expected.yaml (no recording,
no network, nothing written) and must give the committed file back: the parsed document
(captures, sessions with their facts and findings, without_keys) and the text itself. A
difference means the committed facts are stale or the recorder's derivation changed; then
regenerate and review the diff (`git diff sample_captures`), do not edit the file by hand.

tshark's version is part of the header comment: under another tshark the header's options
block is left out of the text comparison (the document must still be equal).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
import yaml

from tools.recorder import expected
from tools.recorder.registry import SCENARIOS

from conftest import SAMPLES

FOLDERS = sorted(p.parent for p in SAMPLES.glob("*/expected.yaml"))
# The header's "# tshark X.Y.Z options: ..." block, up to the next header paragraph.
OPTIONS_BLOCK = re.compile(r"^# tshark \S+ options:.*?(?=^# captures:)", re.MULTILINE | re.DOTALL)


def _tshark_of(text: str) -> str | None:
    found = re.search(r"^# (tshark \S+) options:", text, re.MULTILINE)
    return found[1] if found else None


def test_every_expected_yaml_belongs_to_a_scenario() -> None:
    assert FOLDERS, f"no expected.yaml under {SAMPLES}"
    orphans = [f.name for f in FOLDERS if f.name not in SCENARIOS]
    assert not orphans, f"expected.yaml without a recorder scenario: {orphans}"
    present = [name for name in SCENARIOS if (SAMPLES / name).is_dir()]
    unstated = [name for name in present if not (SAMPLES / name / "expected.yaml").exists()]
    assert not unstated, f"scenario folders without expected.yaml: {unstated}"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_facts_rederive_to_the_committed_expected_yaml(folder: Path) -> None:
    scenario = SCENARIOS[folder.name]
    committed = (folder / "expected.yaml").read_text()
    try:
        derived = expected.render(scenario, expected.document(scenario, folder))
    except SystemExit as exc:  # the recorder's own refusal (session count, TLS disagreement)
        pytest.fail(f"{folder.name}: {exc}")
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            derived.splitlines(keepends=True),
            f"{folder.name}/expected.yaml (committed)",
            "re-derived from the capture",
        )
    )
    assert yaml.safe_load(derived) == yaml.safe_load(committed), diff
    if _tshark_of(derived) != _tshark_of(committed):
        committed, derived = OPTIONS_BLOCK.sub("", committed), OPTIONS_BLOCK.sub("", derived)
    assert derived == committed, diff
