"""What the sessions stage hands to the rules and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analyzer.schema import ANOMALIES, FRAMES, SESSION_LOG_EVENTS, SESSIONS, TCP_EVENTS


@dataclass
class Dataset:
    """Every session of a run and the event tables rules and reports cite, keyed by
    `session` (the session's `id`); `captures`, `hars` and `logs` are per-file facts."""

    sessions: pl.DataFrame
    frames: pl.DataFrame
    tcp_events: pl.DataFrame
    anomalies: pl.DataFrame
    captures: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    log_events: pl.DataFrame = field(default_factory=SESSION_LOG_EVENTS.empty)
    logs: list[dict[str, Any]] = field(default_factory=list)  # per log file, see logs.py
    hars: list[dict[str, Any]] = field(default_factory=list)  # per HAR file


def empty_dataset() -> Dataset:
    return Dataset(SESSIONS.empty(), FRAMES.empty(), TCP_EVENTS.empty(), ANOMALIES.empty(), [], [])
