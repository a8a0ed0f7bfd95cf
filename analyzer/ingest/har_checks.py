"""How a HAR entry's fields are judged, and what a problem with one says.

Only the fields wsdoctor reads are checked, and only on WebSocket entries. A required one
that is unusable rejects the file with one line naming the entry and field (`Check.fail`);
an optional one is ignored with a warning (`Check.warn`). A value is shown in a message
by kind or cut short (`show`), never echoed whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NoReturn

from analyzer.errors import InputError
from analyzer.ingest import har_json, logtime


@dataclass
class Check:
    """Where an entry's problems are reported: `fail` for a required field (the entry
    cannot be read), `warn` for an optional one (the entry is read without it). Fields
    wsdoctor does not read are never checked."""

    source: str
    where: str
    warnings: list[str]

    def fail(self, name: str, problem: str) -> NoReturn:
        raise InputError(f"{self.where} {name} {problem}", source=self.source)

    def warn(self, name: str, problem: str) -> None:
        self.warnings.append(f"{self.source}: {self.where} {name} {problem}; ignored")


def show(value: Any) -> str:
    """A field's value for a message: containers by kind, long text cut (never nested
    repr, which recursion would break on)."""
    if isinstance(value, dict):
        return "(an object)"
    if isinstance(value, list | har_json.Nested):
        return "(a list)" if isinstance(value, list) else "(a nested value)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_number(value: Any) -> bool:
    """A JSON number (true/false are ints to Python, not numbers to a HAR)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def duration_ms(value: Any, started: dt.datetime, name: str, check: Check) -> float:
    """A HAR duration in ms, optional: 0 when absent, -1 (HAR: not applicable) or
    unusable (warned about), so no time can run past the plausible window."""
    if value is None or (is_number(value) and value <= 0):
        return 0.0
    if not is_number(value):
        check.warn(name, f"{show(value)} is not a number of ms")
        return 0.0
    if value >= (logtime.LATEST - started).total_seconds() * 1000:
        check.warn(name, f"{show(value)} ms ends past {logtime.END_YEAR - 1}")
        return 0.0
    return float(value)
