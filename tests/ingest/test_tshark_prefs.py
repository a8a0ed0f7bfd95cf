"""The tshark preferences the engine turns off (tshark_argv.UNREAD_WORK_OFF) change nothing
it reads: every pass's output is byte-identical with and without them.

Real tshark on every capture the suite holds (each sample's captures with the sample's key
log, the Zeek traces, the external captures), through the engine's own argv: the first pass,
and where it gives them a reason the payload pass and the recovery pass (ports decoded as
WebSocket). Each argv runs twice, as built and with those `-o` pairs removed; the pairs run
concurrently so the module stays within a minute on two cores. The 241 MB benchmark capture
was checked the same way once (numbers beside UNREAD_WORK_OFF); it is too slow for a test.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from analyzer.ingest.tshark import find_tshark
from analyzer.ingest.tshark_argv import (
    FIELDS,
    UNREAD_WORK_OFF,
    fields_command,
    payload_command,
)
from benchmarks.bench_tshark_prefs import with_only

from conftest import EXTERNAL, SAMPLES, ZEEK, capture_id

SUFFIXES = {".pcap", ".pcapng", ".gz"}
CAPTURES = sorted(
    path
    for folder in (SAMPLES, ZEEK, EXTERNAL)
    for path in folder.rglob("*")
    if path.suffix in SUFFIXES and path.is_file()
)


def _keylog(capture: Path) -> Path | None:
    """A sample's key log sits beside its captures (keys.log, or NAME.keys)."""
    found = sorted([*capture.parent.glob("keys.log"), *capture.parent.glob("*.keys")])
    return found[0] if found else None


def _differs(argv: list[str]) -> tuple[bool, bytes]:
    """Whether the output changes without the preferences, and the output as built."""
    plain_argv = with_only(argv, [])  # the same argv minus UNREAD_WORK_OFF's `-o` pairs
    assert plain_argv != argv, "the engine's argv no longer sets UNREAD_WORK_OFF"
    built, plain = (
        subprocess.run(a, capture_output=True, timeout=300).stdout for a in (argv, plain_argv)
    )
    return built != plain, built


def _later_passes(capture: Path, first: bytes) -> dict[str, list[str]]:
    """The passes the engine adds when the first finds a reason, over the same candidates:
    the payloads of packets carrying a binary frame, and the recovery (ports decoded as
    WebSocket) of the streams whose data no HTTP, TLS or WebSocket field claimed."""
    rows = [dict(zip(FIELDS, line.split(b"\t"), strict=True)) for line in first.split(b"\n")[:-1]]
    binary = [int(r["frame_no"]) for r in rows if b"2" in r["ws_opcode"].split(b"\x1f")]
    claimed = {r["stream"] for r in rows if r["http_method"] or r["http_status"] or r["tls_seen"]
               or r["ws_opcode"]}  # fmt: skip
    unclaimed = {
        int(r["stream"]): sorted({int(r["sport"]), int(r["dport"])})
        for r in rows
        if r["stream"] and r["stream"] not in claimed and r["tcp_len"] not in (b"", b"0")
    }
    keylog, tshark = _keylog(capture), find_tshark()
    passes = {}
    if binary:
        passes["payload"] = payload_command(capture, binary, keylog, tshark)
    if unclaimed:
        passes["recover"] = fields_command(capture, keylog, tshark, recover=unclaimed)
    return passes


@pytest.fixture(scope="module")
def changed() -> dict[Path, list[str]]:
    """capture -> the passes whose output the preferences changed."""
    tshark = find_tshark()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        firsts = list(pool.map(_differs, [fields_command(c, _keylog(c), tshark) for c in CAPTURES]))
        later = [(c, name, argv) for c, (_, out) in zip(CAPTURES, firsts, strict=True)
                 for name, argv in _later_passes(c, out).items()]  # fmt: skip
        results = list(pool.map(_differs, [argv for _, _, argv in later]))
    changed = {c: ["fields"] if d else [] for c, (d, _) in zip(CAPTURES, firsts, strict=True)}
    for (capture, name, _), (differs, _) in zip(later, results, strict=True):
        if differs:
            changed[capture].append(name)
    return changed


def test_every_capture_is_checked() -> None:
    assert len(CAPTURES) > 70 and any(_keylog(c) for c in CAPTURES)


@pytest.mark.parametrize("capture", CAPTURES, ids=capture_id)
def test_output_is_byte_identical_without_the_preferences(
    capture: Path, changed: dict[Path, list[str]]
) -> None:
    assert changed[capture] == [], f"{sorted(UNREAD_WORK_OFF)} change {changed[capture]}"
