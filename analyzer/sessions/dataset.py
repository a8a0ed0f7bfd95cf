"""What the sessions stage hands to the rules and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analyzer.schema import ANOMALIES, FRAMES, SESSION_LOG_EVENTS, TCP_EVENTS
from analyzer.session_schema import SESSIONS


@dataclass
class Dataset:
    """Every session of a run and the event tables rules and reports cite, keyed by
    `session` (the session's `id`); `files` holds per-file facts by input kind name (the
    order of each list is the command line's), which `captures`, `hars` and `logs` name."""

    sessions: pl.DataFrame
    frames: pl.DataFrame
    tcp_events: pl.DataFrame
    anomalies: pl.DataFrame
    warnings: list[str] = field(default_factory=list)
    log_events: pl.DataFrame = field(default_factory=SESSION_LOG_EVENTS.empty)
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def captures(self) -> list[dict[str, Any]]:
        return self.files.get("capture", [])

    @property
    def hars(self) -> list[dict[str, Any]]:
        return self.files.get("har", [])  # per HAR file, see har.py

    @property
    def logs(self) -> list[dict[str, Any]]:
        return self.files.get("log", [])  # per log file, see logs.py


def empty_dataset() -> Dataset:
    return Dataset(SESSIONS.empty(), FRAMES.empty(), TCP_EVENTS.empty(), ANOMALIES.empty())
