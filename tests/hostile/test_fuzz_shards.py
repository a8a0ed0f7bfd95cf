"""The shard reader (analyzer/ingest/shards.py) on mutants of real captures.

It reads raw record headers and packet bytes before tshark sees anything, so every
damaged, truncated or odd capture reaches it first when a capture is cut (`--jobs 2`).
It must either cut the file, keeping every packet exactly once and in order, or refuse
with `Unshardable` (then one tshark reads the file whole, as before); nothing else. The
mutants are the CLI campaign's (tests/fuzz/captures.py): packet, header, block and
container damage of every seed capture, as pcap and as pcapng. In-process and without
tshark, so it runs many more examples than the CLI campaign: WSDOCTOR_SHARD_EXAMPLES
(default 150 per format; `scripts/fuzz.sh`-style longer runs just raise it).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from analyzer.ingest import shards

from fuzz import captures

EXAMPLES = int(os.environ.get("WSDOCTOR_SHARD_EXAMPLES", "150"))


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_the_shard_reader_cuts_or_refuses(fmt, tmp_path_factory) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=captures.capture_cases(fmt))
    def cut_or_refuse(case) -> None:
        folder = tmp_path_factory.mktemp("shards")
        source = folder / case.target
        source.write_bytes(case.files[case.target])
        try:
            cut = shards.cut(source, [folder / f"{i}.pcap" for i in range(3)])
        except shards.Unshardable:
            return
        numbers = [n for frames in cut.frames for n in frames]
        assert sorted(numbers) == list(range(1, cut.packets + 1)), case.ops
        assert all(list(f) == sorted(f) for f in cut.frames), case.ops

    cut_or_refuse()
