"""The whole run, stage by stage: inputs -> tables -> sessions -> features -> rules -> findings.

tshark starts first: the inputs are read on a side thread while this one loads and checks
the rule packs, and the inputs' digests are taken beside both, so none of that work adds
to the dissection's time. A typo in a rule still ends the run at once: the dissection is
stopped (`tshark_run.stopped`) and the rule's error is the one reported. Each stage
lives in its own package: `ingest` (files -> tables), `sessions` (tables -> sessions,
with `features`), `rules` (sessions -> findings); the reports read the `Analysis` this
returns.
"""

from __future__ import annotations

import contextvars
import hashlib
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer import config, findings, incidents, redact
from analyzer.ingest import kinds, tshark_run
from analyzer.ingest.capture import Parallel
from analyzer.inputs import Inputs
from analyzer.rules.engine import evaluate
from analyzer.rules.loader import load_rules, log_pack_dirs
from analyzer.rules.model import Rule
from analyzer.sessions.build import build
from analyzer.sessions.dataset import Dataset


@dataclass
class Analysis:
    data: Dataset
    rules: list[Rule]
    findings: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    redacted: bool = True  # False when the user asked for --no-redact
    # The findings' root causes grouped over sessions and files (analyzer/incidents.py).
    # Derived whenever an Analysis is made, so every maker (run, a test) has them; this
    # also sets each finding's `incident`.
    incidents: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.incidents = incidents.build(self.findings, self.data.sessions)


def run(
    paths: list[Path] | Inputs,
    settings: config.Settings,
    keylog: Path | None = None,
    tshark_path: str | None = None,
    progress: kinds.Progress | None = None,
    parallel: Parallel | None = None,
) -> Analysis:
    inputs = paths if isinstance(paths, Inputs) else Inputs({"capture": paths})
    packs = log_pack_dirs(settings.rule_paths)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="wsdoctor-side") as side:
        # The side thread runs in this thread's context: --no-redact is a context variable.
        here = contextvars.copy_context()
        loading = side.submit(
            here.run, load, inputs, keylog, tshark_path, progress, packs, parallel
        )
        digests = {p: side.submit(sha256, p) for p in inputs.paths()}
        try:
            rules = select_rules(settings)
        except BaseException:
            with tshark_run.stopped():
                wait([loading])
            raise
        data = loading.result()
    found = diagnose(rules, data)
    return Analysis(data, rules, found, describe_inputs(data, digests), redact.active())


def select_rules(settings: config.Settings) -> list[Rule]:
    return config.apply(load_rules(settings.rule_paths), settings)


def load(
    paths: list[Path] | Inputs,
    keylog: Path | None = None,
    tshark_path: str | None = None,
    progress: kinds.Progress | None = None,
    log_packs: list[Path] | None = None,
    parallel: Parallel | None = None,
) -> Dataset:
    """Read every input into tables, kind by kind (analyzer/ingest/kinds.py), then build
    the sessions. A plain list is captures only (the pre-HAR/log callers).

    `log_packs`: folders or files of log pattern packs read besides the built-in ones."""
    inputs = paths if isinstance(paths, Inputs) else Inputs({"capture": paths})
    how = kinds.Reading(
        keylog,
        tshark_path,
        progress,
        log_packs,
        inputs.log_tz,
        frozenset(inputs.sniffed),
        parallel or Parallel(),
    )
    tables: dict[str, list[Any]] = {}
    first = 0  # a file's input index: its position over every kind
    for kind in kinds.KINDS:
        files = inputs[kind.name]
        tables[kind.name] = kind.read(files, how, first) if files else []
        first += len(files)
    return build(tables, keylog)


def diagnose(rules: list[Rule], data: Dataset) -> list[dict[str, Any]]:
    tables = {"frames": data.frames, "anomalies": data.anomalies}
    found = evaluate(rules, data.sessions, tables, data.warnings)
    rows = {
        r["id"]: r
        for r in data.sessions.select("id", "input", "tcp_stream", "client", "start").to_dicts()
    }
    for f in found:
        f["fingerprint"] = findings.fingerprint(f, rows.get(f["session"]))
    legs = {r["id"]: r for r in data.sessions.select("id", "other_leg", "hop_leg").to_dicts()}
    findings.link(found, legs)
    return findings.order(found, {k: v["start"] for k, v in rows.items()})


def describe_inputs(
    data: Dataset, digests: dict[Path, Future[str]] | None = None
) -> list[dict[str, Any]]:
    """Every input file, kind by kind (captures, HAR files, logs), each as its kind's facts
    name it: `kind` is the file's `format` where it has one (pcap|pcapng), else the kind.
    `digests`: SHA-256s already being taken, by path."""
    known = {str(p): d for p, d in (digests or {}).items()}
    files = [
        (facts["path"], facts.get("format") or kind.name)
        for kind in kinds.KINDS
        for facts in data.files.get(kind.name, [])
    ]
    return [
        {
            "path": path,
            "kind": kind,
            "sha256": known[path].result() if path in known else sha256(Path(path)),
            "size_bytes": Path(path).stat().st_size,
        }
        for path, kind in files
    ]


def sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
