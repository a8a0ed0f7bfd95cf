"""Tables of every input -> one Dataset of sessions: the order in which sources join.

The kinds and their order are analyzer/ingest/kinds.py's; how each kind's tables join
the run's sessions is `JOINS`, one entry per kind by name (the ingest registry cannot
name sessions code: the sessions stage sits above it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer.ingest import kinds
from analyzer.sessions.capture import capture_sessions
from analyzer.sessions.dataset import Dataset, empty_dataset
from analyzer.sessions.har import add_hars
from analyzer.sessions.har_fold import fold_hars
from analyzer.sessions.logs import add_logs, with_log_columns
from analyzer.sessions.renumber import renumber

BASE = "capture"  # the kind the others join and fold into


@dataclass(frozen=True)
class Join:
    """How one kind's tables (one per file) join the sessions of the kinds before it."""

    # (dataset so far, tables, input index of the kind's first file, key log) -> dataset
    add: Callable[[Dataset, list[Any], int, Path | None], Dataset]
    # sessions of this kind that are also in a capture -> folded into the capture's
    # session (one session per connection); run only when the run has captures
    fold: Callable[[Dataset], None] | None = None


def _captures(data: Dataset, captures: list[Any], first: int, keylog: Path | None) -> Dataset:
    return capture_sessions(captures, keylog)  # the first kind: the run's dataset starts here


def _hars(data: Dataset, hars: list[Any], first: int, keylog: Path | None) -> Dataset:
    add_hars(data, hars, first)
    return data


def _logs(data: Dataset, logs: list[Any], first: int, keylog: Path | None) -> Dataset:
    add_logs(data, logs)  # attached to whatever sessions exist; the rest are log-only
    return data


JOINS: dict[str, Join] = {
    "capture": Join(_captures),
    "har": Join(_hars, fold=fold_hars),
    "log": Join(_logs),
}


def build(tables: dict[str, list[Any]], keylog: Path | None = None) -> Dataset:
    """Kind by kind in the registry's order (captures first, the best witness; HARs folded
    into them; logs attached to whatever sessions exist); ids renumbered by start time
    once every source is in, when any kind but the captures is there."""
    data, first = empty_dataset(), 0
    for kind in kinds.KINDS:
        mine = tables.get(kind.name) or []
        if mine:
            join = JOINS[kind.name]
            data = join.add(data, mine, first, keylog)
            if join.fold is not None and tables.get(BASE):
                join.fold(data)
        first += len(mine)
    if any(tables.get(name) for name in kinds.names() if name != BASE):
        renumber(data)
    data.sessions = with_log_columns(data.sessions, None)
    return data


def _check_joins() -> None:
    """Every registered kind has a join: checked on import, so a kind added to the
    registry without one fails at once rather than on the first run that reads one."""
    if missing := [name for name in kinds.names() if name not in JOINS]:
        raise RuntimeError(f"input kind(s) without a sessions join: {', '.join(missing)}")


_check_joins()
