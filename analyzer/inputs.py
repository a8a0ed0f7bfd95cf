"""Command-line inputs sorted into captures, HAR files and logs.

INPUT arguments are classified by content (`sniff.input_kind`), because customers attach
`capture.txt`, `session.json` or `trace.log` whatever the file holds; `--log` / `--har`
force the kind for a file the sniffing would get wrong (a log that happens to be JSON).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.errors import InputError
from analyzer.ingest import logtime
from analyzer.ingest.sniff import input_kind

_LISTS = {"capture": "captures", "har": "hars", "log": "logs"}


@dataclass
class Inputs:
    """The files of one run by kind, each list in command-line order."""

    captures: list[Path] = field(default_factory=list)
    hars: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    log_tz: str = "UTC"

    def __bool__(self) -> bool:
        return bool(self.captures or self.hars or self.logs)


def classify(
    paths: Iterable[str | Path],
    logs: Iterable[str | Path] = (),
    hars: Iterable[str | Path] = (),
    log_tz: str = "UTC",
) -> Inputs:
    """Sniff each INPUT; forced `--log` / `--har` files are taken as said. A bad
    `--log-tz` is refused even when no log turns out to need it."""
    logtime.require_tz(log_tz)
    out = Inputs(hars=_once(hars), logs=_once(logs), log_tz=log_tz)
    forced = {p.resolve() for p in [*out.hars, *out.logs]}
    for path in _once(paths):
        if path.resolve() in forced:
            continue  # named twice (INPUT and --log/--har): read once, as forced
        getattr(
            out, {"capture": "captures", "har": "hars", "log": "logs"}[input_kind(path)]
        ).append(path)
    if not out:
        raise InputError("no input: give a capture, a HAR or a log file")
    return out


def _once(paths: Iterable[str | Path]) -> list[Path]:
    """The paths in order, each file once: the same file twice would double its events."""
    seen: set[Path] = set()
    out = []
    for raw in paths:
        path = Path(raw)
        if (real := path.resolve()) not in seen:
            seen.add(real)
            out.append(path)
    return out


def captures_only(inputs: Inputs) -> Inputs:
    """For commands that list packet-level sessions: a log there is a mistake, say so."""
    if inputs.logs:
        raise InputError(
            "this is a text file, not a packet capture (expected pcap, pcapng or HAR; "
            "`wsdoctor analyze` reads logs)",
            source=str(inputs.logs[0]),
        )
    return inputs
