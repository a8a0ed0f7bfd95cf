"""Shared test fixtures: real tshark, real captures, the real CLI in a subprocess."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.pipeline import load
from analyzer.sessions.dataset import Dataset

REPO = Path(__file__).resolve().parents[1]
# WSDOCTOR_SAMPLES points the suite at a re-recorded corpus (record.py --out DIR), so
# test_sample_facts.py can prove a regeneration still matches its expected.yaml files.
SAMPLES = Path(os.environ.get("WSDOCTOR_SAMPLES") or REPO / "sample_captures")
ZEEK = REPO.parent / "shared" / "zeek-traces"
# Public WebSocket captures from other projects' test suites (sources in its README).
EXTERNAL = REPO.parent / "shared" / "external-captures"
# Every capture the suite holds to a property: the samples' first captures, the Zeek
# traces and the external captures.
EVERY_CAPTURE = sorted(
    [*SAMPLES.glob("*/capture.pcap*"), *ZEEK.glob("*.pcap*"), *EXTERNAL.glob("*.pcap*")]
)


def capture_id(path: Path) -> str:
    """A parametrized capture's test id: its folder and name (`idle-1011/capture.pcap`)."""
    return f"{path.parent.name}/{path.name}"


# Reproducers of defects found with hostile input; regression tests read them in place.
CRASHERS = REPO.parent / "shared" / "crashers"


def run_cli(
    *args: str | Path, check: bool = False, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run `python -m analyzer ARGS` exactly as a user would, capturing both streams."""
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"wsdoctor {args} exited {proc.returncode}: {proc.stderr}")
    return proc


def cli_json(*args: str | Path) -> object:
    return json.loads(run_cli(*args, "--format", "json", "-o", "-", check=True).stdout)


@pytest.fixture(scope="session")
def zeek_traces() -> list[Path]:
    traces = sorted(p for p in ZEEK.glob("*.pcap*"))
    assert traces, f"no Zeek traces under {ZEEK}; ../shared must sit beside the repo"
    return traces


@functools.cache
def loaded_together(*paths: Path, keylog: Path | None = None) -> Dataset:
    """One engine pass per set of inputs read together (a capture with its logs and HAR
    files, say) for the whole test run, shared by modules; each input's kind (capture, log,
    HAR) is sniffed as `analyze` does. Callers only read the Dataset."""
    from analyzer.inputs import classify

    return load(classify(list(paths)), keylog)


def loaded(path: Path, keylog: Path | None = None) -> Dataset:
    """One input (with its key log): `loaded_together` of one path."""
    return loaded_together(path, keylog=keylog)


@functools.cache
def builtin_rules() -> list:
    from analyzer.config import Settings
    from analyzer.pipeline import select_rules

    return select_rules(Settings())


def sample(name: str, keys: bool = True) -> Dataset:
    """A sample folder's first capture, read with its key log when it has one."""
    folder = SAMPLES / name
    keylog = folder / "keys.log"
    path = next(iter(sorted(folder.glob("capture.pcap*"))))
    return loaded(path, keylog if keys and keylog.exists() else None)


def analysis_of(data: Dataset):
    """The diagnosis of a dataset with the built-in pack, as `analyze` builds it."""
    from analyzer.pipeline import Analysis, describe_inputs, diagnose

    rules = builtin_rules()
    return Analysis(data, rules, diagnose(rules, data), describe_inputs(data))


def diagnosis(findings: list[dict], session: str) -> dict[str, str]:
    """A session's findings as category -> highest severity: the shape the diagnoses of
    the Zeek and external captures are written down in."""
    from analyzer.rules.model import SEVERITIES

    out: dict[str, str] = {}
    for f in findings:
        if f["session"] == session:
            best = out.get(f["category"], "info")
            out[f["category"]] = max(best, f["severity"], key=SEVERITIES.index)
    return out
