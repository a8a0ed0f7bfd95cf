"""A capture cut by TCP connection and dissected in shards reports exactly what one tshark
over the whole file reports (issue 15, item 2).

Every sample capture (with its key log), every shared Zeek trace and external capture is
read twice through the real engine: whole (the cached dataset the other tests use), and
cut into three shards dissected by two concurrent tsharks (`--jobs 2` forces the cut even
on a small file; the shard size is lowered to a third of the file), so two shards are
pipes read while the cut goes on and the third a file read after it, as on a big
capture. The JSON reports must be equal, byte for byte. Each capture must also
really be cut: a capture the reader refuses would pass by reading itself whole twice.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analyzer.ingest import shard_plan, shards
from analyzer.ingest.capture import Parallel
from analyzer.inputs import classify
from analyzer.pipeline import load
from analyzer.report import json_report

from conftest import EXTERNAL, SAMPLES, ZEEK, analysis_of, loaded


def _captures() -> list[tuple[Path, Path | None]]:
    found = []
    for folder in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        keys = folder / "keys.log"
        for capture in sorted(folder.glob("capture.pcap*")):
            found.append((capture, keys if keys.exists() else None))
    shared = sorted([*ZEEK.glob("*.pcap*"), *EXTERNAL.glob("*.pcap*")])
    return found + [(p, None) for p in shared]


CAPTURES = _captures()


def _name(case: tuple[Path, Path | None]) -> str:
    return f"{case[0].parent.name}/{case[0].name}"


@pytest.mark.parametrize("case", CAPTURES, ids=map(_name, CAPTURES))
def test_shards_report_what_the_whole_file_reports(case, tmp_path, monkeypatch) -> None:
    capture, keylog = case
    monkeypatch.setattr(shard_plan, "SHARD_BYTES", capture.stat().st_size // 3 + 1)
    assert shards.cut(capture, [tmp_path / f"{i}.pcap" for i in range(3)]).packets  # cuttable
    whole = json_report.render(analysis_of(loaded(capture, keylog)))
    cut = load(classify([capture]), keylog, parallel=Parallel(jobs=2, work_dir=tmp_path))
    assert json_report.render(analysis_of(cut)) == whole
    assert list(tmp_path.glob("wsdoctor-shards-*")) == []  # the shards are cleaned up


@pytest.mark.parametrize("name", ["lossy-stream", "ipv6-cooked"])
def test_a_gzipped_capture_is_cut_alike(name, tmp_path, monkeypatch) -> None:
    """No sample is stored gzipped, so two are gzipped here: the reader cuts the
    decompressed stream."""
    plain = next(iter(sorted((SAMPLES / name).glob("capture.pcap*"))))
    packed = tmp_path / f"{plain.name}.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert shards.cut(packed, [tmp_path / f"{i}.pcap" for i in range(2)]).packets  # cuttable
    monkeypatch.setattr(shard_plan, "SHARD_BYTES", packed.stat().st_size // 3 + 1)
    whole = json_report.render(analysis_of(load(classify([packed]), None)))
    cut = load(classify([packed]), None, parallel=Parallel(jobs=2, work_dir=tmp_path))
    assert json_report.render(analysis_of(cut)) == whole
    assert b'"gzip": true' in whole


def test_every_kind_of_capture_is_covered() -> None:
    """The cases span the formats and links item 2 names: pcap and pcapng, IPv6, VLAN,
    Linux cooked, out-of-order and lost segments (by the samples named for them); gzip
    above."""
    names = {_name(c) for c in CAPTURES}
    suffixes = {c[0].suffix for c in CAPTURES}
    assert {".pcap", ".pcapng"} <= suffixes
    for sample in ("ipv6-cooked", "vlan-tagged", "lossy-stream", "mid-session"):
        assert any(n.startswith(f"{sample}/") for n in names), sample
