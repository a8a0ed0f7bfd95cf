"""Run the must-hit / must-not-hit cases written in each rule (semgrep's ruleid/ok idea).

Sample cases run the whole engine on a real capture from sample_captures/; feature cases
evaluate a hand-written session row, for situations no sample shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from analyzer import pipeline
from analyzer.errors import InputError
from analyzer.inputs import classify
from analyzer.rules.condition import AGG_COLUMNS
from analyzer.rules.engine import evaluate
from analyzer.rules.model import Case, Rule
from analyzer.rules.precedence import deferred
from analyzer.schema import ANOMALIES, FRAMES
from analyzer.session_schema import COUNT_COLUMNS, SESSIONS
from analyzer.sessions.dataset import Dataset
from analyzer.yamlsource import YamlProblem, read

Loader = Callable[[Path, Path | None], Dataset]


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    case: Case
    passed: bool
    detail: str

    @property
    def where(self) -> str:
        return f"{self.rule.path}:{self.case.line}"


@lru_cache(maxsize=64)
def _cached_load(path: Path, keylog: Path | None) -> Dataset:
    return pipeline.load(classify([path]), keylog)  # a capture, a log or a HAR


def sample_inputs(samples: Path, case: Case) -> tuple[Path, Path | None]:
    """The input (and key log) a sample case names: by default the first capture its
    expected.yaml lists; `input:` picks another file of the folder (a log, a HAR), also
    in a folder of real logs without a capture (sample_captures/real-logs/<tool>)."""
    folder = samples / case.sample
    spec_path = folder / "expected.yaml"
    if not spec_path.is_file():
        if case.input is not None and (folder / case.input).is_file():
            return folder / case.input, None
        raise InputError(f"no sample {case.sample!r}", source=str(folder))
    captures = _captures(spec_path)
    chosen = next((c for c in captures if c["path"] == case.input), None)
    if chosen is None and case.input is not None:
        if not (folder / case.input).is_file():
            raise InputError(f"sample {case.sample!r} has no file {case.input!r}")
        return folder / case.input, None
    chosen = chosen or captures[0]
    keylog = folder / chosen["keylog"] if "keylog" in chosen and case.keys else None
    return folder / chosen["path"], keylog


def _captures(spec_path: Path) -> list[dict[str, Any]]:
    """The `captures:` list of an expected.yaml, read like every other YAML file (a
    --samples folder is anyone's): bounded, and a problem is file:line."""
    try:
        spec = read(spec_path).data
    except YamlProblem as exc:
        raise InputError(exc.message, source=f"{spec_path}:{exc.line}") from None
    captures = spec.get("captures") if isinstance(spec, dict) else None
    if not (
        isinstance(captures, list)
        and captures
        and all(isinstance(c, dict) and isinstance(c.get("path"), str) for c in captures)
    ):
        raise InputError("expected `captures:`, a list of {path: FILE}", source=str(spec_path))
    return captures


def feature_row(features: dict[str, Any]) -> pl.DataFrame:
    """A one-session table: the given features, counts 0, everything else null."""
    base = {c: None for c in SESSIONS.columns} | {c: 0 for c in COUNT_COLUMNS}
    base |= {"id": "t1", "source": "capture"} | features  # a wire session unless it says
    schema = SESSIONS.polars
    extra = {k: AGG_COLUMNS[_suffix(k)] for k in features if k not in schema}  # aggregates
    return pl.DataFrame([base], schema={**schema, **extra}, strict=False)


def _suffix(name: str) -> str:
    return next(s for s in AGG_COLUMNS if name.endswith(f"_{s}"))


def run_case(
    rule: Rule,
    case: Case,
    samples: Path,
    loader: Loader = _cached_load,
    pack: Iterable[Rule] = (),
) -> Outcome:
    """One case, with the case's params over the rule's. The rules of `pack` the rule
    defers to (and those they defer to) run beside it, as in an analysis: the rule must
    hit (or not) where the whole pack would let it."""
    if case.params:
        rule = dataclasses.replace(rule, params={**rule.params, **case.params})
    if case.sample is not None:
        data = loader(*sample_inputs(samples, case))
        sessions, tables = data.sessions, {"frames": data.frames, "anomalies": data.anomalies}
        want = set(case.hit)
    else:
        sessions = feature_row(case.features or {})
        tables = {"frames": FRAMES.empty(), "anomalies": ANOMALIES.empty()}
        want = {"t1"} if case.hit else set()
    found = evaluate([rule, *deferred(rule, pack)], sessions, tables)
    got = {f["session"] for f in found if f["rule"] == rule.id}
    label = f"sample {case.sample}" if case.sample else "feature row"
    if got == want:
        return Outcome(rule, case, True, f"{label}: ok")
    return Outcome(rule, case, False, f"{label}: expected hits {sorted(want)}, got {sorted(got)}")


def run_all(rules: list[Rule], samples: Path, pack: Iterable[Rule] | None = None) -> list[Outcome]:
    """Every case of `rules`; `pack`: the rules they may defer to (default: `rules`)."""
    every = list(rules if pack is None else pack)
    return [run_case(rule, case, samples, pack=every) for rule in rules for case in rule.tests]
