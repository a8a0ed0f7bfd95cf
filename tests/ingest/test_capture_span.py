"""A capture's start and end span every packet in it, not only the ones the engine keeps.

The engine's tshark pass keeps packets that matter (a display filter drops pure ACKs, DNS,
ARP...), so a capture that opens with a DNS query or ends with ACKs would otherwise look
shorter than it is. The oracle is tests/independent_ws.py, which reads every record of the
file itself: the earliest and latest record time, floored to the microsecond the report
prints.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import independent_ws as iw
from conftest import EVERY_CAPTURE, capture_id, loaded


def _span(path: Path) -> tuple[datetime, datetime]:
    times = [p.time_ns for p in iw.read_packets(path) if p.time_ns is not None]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first, last = (epoch + timedelta(microseconds=t // 1000) for t in (min(times), max(times)))
    return first, last


@pytest.mark.parametrize("path", EVERY_CAPTURE, ids=capture_id)
def test_capture_start_and_end_span_every_packet(path: Path) -> None:
    [facts] = loaded(path).captures
    assert (facts["start"], facts["end"]) == _span(path)
