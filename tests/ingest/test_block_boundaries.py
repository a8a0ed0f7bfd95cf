"""tshark's output is parsed in blocks while it runs (tshark_run.CHUNK_BYTES); where the
blocks fall must change nothing. Real captures are read with blocks of a few packets each,
(reads of the pipe kept smaller still, so the cut does not hang on how fast tshark
writes), so connections, HTTP exchanges and WebSocket frames straddle them, and the
report must be the one read in a single block."""

from __future__ import annotations

import pytest

from analyzer.ingest import tshark_run
from analyzer.inputs import classify
from analyzer.pipeline import load
from analyzer.report import json_report

from conftest import EXTERNAL, SAMPLES, analysis_of

CAPTURES = [
    SAMPLES / "keepalive-binary" / "capture.pcap",  # small binary frames: the payload pass
    SAMPLES / "envoy-server-reset" / "capture.pcap",  # a proxy's two legs
    EXTERNAL / "pcapplusplus-650HttpResponses.pcap",  # many HTTP exchanges
    EXTERNAL / "ndpi-vmess-websocket.pcapng",
]


def _report(capture, chunk: int, monkeypatch) -> tuple[bytes, int]:
    """The JSON report, and how many blocks were parsed (every tshark pass's)."""
    monkeypatch.setattr(tshark_run, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(tshark_run, "PIPE_BYTES", min(chunk, tshark_run.PIPE_BYTES) // 4)
    blocks = []
    parse = tshark_run._parse_chunk

    def counted(chunk: bytes, names: list[str]):
        blocks.append(len(chunk))
        return parse(chunk, names)

    monkeypatch.setattr(tshark_run, "_parse_chunk", counted)
    return json_report.render(analysis_of(load(classify([capture])))), len(blocks)


@pytest.mark.parametrize(
    "capture", CAPTURES, ids=lambda p: p.name if p.parent == EXTERNAL else p.parent.name
)
def test_block_boundaries_change_nothing(capture, monkeypatch) -> None:
    whole, passes = _report(capture, 1 << 30, monkeypatch)
    cut, blocks = _report(capture, 2000, monkeypatch)
    assert blocks >= passes + 3  # the first pass really came in several blocks
    assert cut == whole
