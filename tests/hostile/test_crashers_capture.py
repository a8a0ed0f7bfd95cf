"""Capture-ingestion reproducers from ../shared/crashers, read in place with real tshark.

Each test names the defect folder it guards: quadratic memory on packed frames, Int64
payload sums wrapping, upgrades missed on ports another dissector owns, damaged gzip
captures, gzip bombs, and `None` leaking into warnings.
"""

from __future__ import annotations

import gzip
import json
import re
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.ingest.sniff import GUNZIP_FLOOR, GUNZIP_RATIO

from conftest import CRASHERS, REPO, cli_json, loaded, run_cli

MEM = CRASHERS / "D-mem-text-frames"
PORTS = CRASHERS / "D-ports-not-found"
GZIPS = CRASHERS / "D-gzip-damage"
# The fuzzer's misses among 2000 ports (pgsql, cops, llrp, x11, bittorrent, tibia, ajns, pcp).
MISSED_PORTS = (2126, 5084, 5432, 6012, 6041, 6882, 7172, 9956, 44321)


def _analyze_json(path: Path) -> dict:
    result = cli_json("analyze", path)
    assert isinstance(result, dict)
    return result


def _limit_address_space(gib: int) -> None:
    limit = gib << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_packed_text_frames_fit_in_a_bounded_address_space(tmp_path: Path) -> None:
    """D-mem-text-frames: 300,000 one-byte text frames (~466 per segment) took 2.4 GB.

    Each process of the run (wsdoctor, its tshark children) inherits a 3 GiB address-space
    limit: polars and tshark reserve far more virtual memory than they touch, so this bound
    is generous, yet the old per-row split of each packet's joined text overran it.
    """
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", MEM / "c02c-300k-frames-packed.pcap",
         "--format", "json", "-o", out],
        capture_output=True, text=True, timeout=600, cwd=REPO,
        preexec_fn=lambda: _limit_address_space(3),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (session,) = json.loads(out.read_text())["sessions"]
    traffic = session["traffic"]
    assert traffic["text_frames_client"] + traffic["text_frames_server"] == 300_000


def test_packed_frames_keep_their_own_text() -> None:
    """The join by rank still gives each of a packet's frames its own one-byte text."""
    frames = cli_json("frames", MEM / "c02a-100k-frames-packed.pcap")
    assert isinstance(frames, list)
    texts = [f["text_preview"] for f in frames if f["opcode"] == "text"]
    assert len(texts) == 100_000
    assert all(t is not None and len(t) == 1 for t in texts)
    binary = cli_json("frames", MEM / "c02f-100k-binary-packed.pcap")
    assert isinstance(binary, list)
    assert sum(f["opcode"] == "binary" for f in binary) == 100_000


def test_huge_frame_length_saturates_instead_of_wrapping() -> None:
    """D-payload-overflow: a 2^63-1 claim plus a 65-byte frame summed to a negative count."""
    data = _analyze_json(CRASHERS / "D-payload-overflow" / "c01-len-2p63m1.pcap")
    traffic = data["sessions"][0]["traffic"]
    assert traffic["payload_bytes_client"] == (1 << 63) - 1
    assert traffic["payload_bytes_server"] >= 0
    [finding] = [f for f in data["findings"] if f["rule"] == "frame-length-implausible"]
    assert finding["evidence"][0]["frame"] == 6 and finding["category"] == "protocol-error"


def test_huge_frame_length_is_an_anomaly() -> None:
    data = loaded(CRASHERS / "D-payload-overflow" / "c01-len-2p63m1.pcap")
    odd = data.anomalies.filter(data.anomalies["kind"] == "ws_frame_length_implausible")
    assert odd.height == 1
    assert "9223372036854775807 bytes" in odd["detail"][0]


@pytest.mark.parametrize("port", [80, 2126, 5432])
def test_upgrade_found_on_a_port_another_dissector_owns(port: int) -> None:
    """D-ports-not-found: pgsql (5432) and cops (2126) swallowed the identical upgrade."""
    sessions = cli_json("sessions", PORTS / f"c09-port-{port}.pcap")
    assert isinstance(sessions, list)
    assert [s["server"] for s in sessions] == [f"10.0.0.2:{port}"]
    assert sessions[0]["kind"] == "websocket"


def _with_server_port(data: bytes, old: int, new: int) -> bytes:
    """Rewrite a classic Ethernet/IPv4/TCP pcap's port `old` to `new` in every TCP header.

    The TCP checksum is zeroed rather than recomputed: tshark does not check it.
    """
    out, offset = bytearray(data), 24
    while offset + 16 <= len(out):
        (caplen,) = struct.unpack_from("<I", out, offset + 8)
        tcp = offset + 16 + 14 + (out[offset + 16 + 14] & 0x0F) * 4
        for field in (tcp, tcp + 2):
            if struct.unpack_from("!H", out, field)[0] == old:
                struct.pack_into("!H", out, field, new)
        struct.pack_into("!H", out, tcp + 16, 0)
        offset += 16 + caplen
    return bytes(out)


def test_every_missed_port_now_finds_the_session(tmp_path: Path) -> None:
    """The reproducer's port-80 capture moved to each port the fuzzer saw missed."""
    original = (PORTS / "c09-port-80.pcap").read_bytes()
    reproducer = (PORTS / "c09-port-5432.pcap").read_bytes()
    assert _with_server_port(original, 80, 5432) == _with_server_port(reproducer, 0, 0)
    for port in MISSED_PORTS:
        moved = tmp_path / f"port-{port}.pcap"
        moved.write_bytes(_with_server_port(original, 80, port))
        sessions = cli_json("sessions", moved)
        assert isinstance(sessions, list)
        assert [s["server"] for s in sessions] == [f"10.0.0.2:{port}"], port


@pytest.mark.parametrize(
    ("name", "packets"),
    [("badcrc", 13), ("mid", 8), ("big-ws-badcrc", 132), ("big-ws-mid", 132)],
)
def test_damaged_gzip_keeps_what_was_read_and_says_so(name: str, packets: int) -> None:
    """D-gzip-damage: a small gzip with a bad CRC exited 2; a big one said nothing at all.

    The packet counts are capinfos' own ("An error occurred after reading N packets").
    """
    path = GZIPS / f"{name}.pcap.gz"
    proc = run_cli("analyze", path, "--format", "json", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["capture"]["packets"] == packets
    assert data["capture"]["damaged"] is True
    (warning,) = [w for w in data["warnings"] if "gzip" in w]
    assert f"{path}: the gzip stream is damaged (bad CRC)" in warning
    assert f"kept the {packets} packets" in warning
    assert "warning: " in proc.stderr and str(path) in proc.stderr


def _write_bomb(path: Path, zeros_mib: int) -> None:
    """D-gzip-bomb-time in small: a pcap header, then zeros, gzip -1, written streamed."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    block = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(header)
        for _ in range(zeros_mib):
            fh.write(block)


def test_gzip_bomb_is_refused_fast_with_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pcap.gz"
    _write_bomb(bomb, 320)
    assert GUNZIP_RATIO * bomb.stat().st_size < 320 << 20
    assert GUNZIP_FLOOR < 320 << 20
    began = time.monotonic()
    proc = run_cli("analyze", bomb, "--format", "json", "-o", tmp_path / "out.json")
    assert time.monotonic() - began < 60
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"wsdoctor: {bomb}: gzip expands more than 100x")
    assert "decompression bomb" in proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_highly_compressible_capture_under_the_floor_is_read(tmp_path: Path) -> None:
    """The same zeros below the floor are a (pointless) capture, not an error: 1 MiB of
    zero records is 65,536 empty packets."""
    small = tmp_path / "zeros.pcap.gz"
    _write_bomb(small, 1)
    proc = run_cli("analyze", small, "--format", "json", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["capture"]["packets"] == 65_536


def test_damaged_capture_never_says_none_packets() -> None:
    """fuzz/m70-none-packets: a record claiming 8 MB made capinfos give up and the
    warning read '(1 TCP connections, None packets)'."""
    proc = run_cli(
        "analyze", CRASHERS / "fuzz" / "m70-none-packets" / "input.pcap", "--format", "json",
        "-o", "-",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["capture"]["packets"] == 3
    assert data["capture"]["damaged"] is True
    assert not [w for w in data["warnings"] if re.search(r"\bNone\b|n/a", w)]
    assert any("(1 TCP connections, 3 packets)" in w for w in data["warnings"])


def _restamp_pcapng(source: Path, target: Path, seconds: int) -> int:
    """Copy a little-endian, ns-resolution pcapng, restamping every packet at `seconds`
    past 1970 (+1 µs each): a mutation of a real capture's timestamps."""
    data = bytearray(source.read_bytes())
    offset = stamped = 0
    while offset < len(data):
        kind, length = struct.unpack_from("<II", data, offset)
        if kind == 6:  # Enhanced Packet Block: timestamp high, low at +12
            ts = seconds * 1_000_000_000 + stamped * 1000
            struct.pack_into("<II", data, offset + 12, ts >> 32, ts & 0xFFFFFFFF)
            stamped += 1
        offset += length
    target.write_bytes(data)
    return stamped


def test_packet_times_past_2262_are_dropped_not_wrapped(tmp_path: Path) -> None:
    """A pcapng stamped in 2500 wrapped Int64 nanoseconds into 1915 with no warning (the
    capture sibling of D-log-timestamp-wrap)."""
    source = REPO / "sample_captures" / "ipv6-cooked" / "capture.pcapng"
    assert _restamp_pcapng(source, tmp_path / "y2500.pcapng", 16_725_225_600) > 0
    report = _analyze_json(tmp_path / "y2500.pcapng")
    assert report["capture"]["start"] is None or report["capture"]["start"] >= "2262"
    assert not any(s["start"] and s["start"] < "2262" for s in report["sessions"])
    assert any("1677-2262" in w for w in report["warnings"])
    # The same capture stamped in 2200 is still representable and keeps its sessions.
    _restamp_pcapng(source, tmp_path / "y2200.pcapng", 7_258_118_400)
    kept = _analyze_json(tmp_path / "y2200.pcapng")
    assert kept["sessions"] and kept["sessions"][0]["start"].startswith("2200-")
