"""Tables of every input -> one Dataset of sessions: the order in which sources join."""

from __future__ import annotations

from pathlib import Path

from analyzer.ingest.capture import CaptureData
from analyzer.ingest.har import HarData
from analyzer.ingest.logs import LogData
from analyzer.sessions.capture import capture_sessions
from analyzer.sessions.dataset import Dataset, empty_dataset
from analyzer.sessions.har import add_hars
from analyzer.sessions.har_fold import fold_hars
from analyzer.sessions.logs import add_logs, with_log_columns
from analyzer.sessions.renumber import renumber


def build(
    captures: list[CaptureData],
    keylog: Path | None = None,
    hars: list[HarData] | None = None,
    logs: list[tuple[Path, LogData]] | None = None,
) -> Dataset:
    """Captures first (the best witness), HARs folded into them, then logs attached to
    whatever sessions exist; ids renumbered by start time once every source is in."""
    data = capture_sessions(captures, keylog) if captures else empty_dataset()
    if hars:
        add_hars(data, hars, len(captures))
        if captures:
            fold_hars(data)
    if logs:
        add_logs(data, logs)
    if hars or logs:
        renumber(data)
    data.sessions = with_log_columns(data.sessions, None)
    return data
