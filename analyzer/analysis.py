"""The whole diagnosis: rule packs + inputs -> sessions, findings and their provenance.

Rule packs are loaded and checked before any capture is read, so a typo in a rule costs
a second, not a tshark pass over a large capture.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer import config, findings, pipeline, redact
from analyzer.inputs import Inputs
from analyzer.rules.engine import evaluate
from analyzer.rules.loader import load_rules, log_pack_dirs
from analyzer.rules.model import Rule


@dataclass
class Analysis:
    data: pipeline.Dataset
    rules: list[Rule]
    findings: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    redacted: bool = True  # False when the user asked for --no-redact


def select_rules(settings: config.Settings) -> list[Rule]:
    return config.apply(load_rules(settings.rule_paths), settings)


def run(
    paths: list[Path] | Inputs,
    settings: config.Settings,
    keylog: Path | None = None,
    tshark_path: str | None = None,
    progress: pipeline.Progress | None = None,
) -> Analysis:
    rules = select_rules(settings)
    packs = log_pack_dirs(settings.rule_paths)
    data = pipeline.load(paths, keylog, tshark_path, progress, packs)
    found = diagnose(rules, data)
    return Analysis(data, rules, found, describe_inputs(data), redact.active())


def diagnose(rules: list[Rule], data: pipeline.Dataset) -> list[dict[str, Any]]:
    tables = {"frames": data.frames, "anomalies": data.anomalies}
    found = evaluate(rules, data.sessions, tables, data.warnings)
    rows = {
        r["id"]: r
        for r in data.sessions.select("id", "input", "tcp_stream", "client", "start").to_dicts()
    }
    for f in found:
        f["fingerprint"] = findings.fingerprint(f, rows.get(f["session"]))
    return findings.order(found, {k: v["start"] for k, v in rows.items()})


def describe_inputs(data: pipeline.Dataset) -> list[dict[str, Any]]:
    """Every input file: captures (pcap|pcapng), then HAR files, then logs."""
    files = [(c["path"], c["format"]) for c in data.captures]
    files += [(h["path"], "har") for h in data.hars] + [(g["path"], "log") for g in data.logs]
    return [
        {
            "path": path,
            "kind": kind,
            "sha256": sha256(Path(path)),
            "size_bytes": Path(path).stat().st_size,
        }
        for path, kind in files
    ]


def sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
