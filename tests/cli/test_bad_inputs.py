"""Bad input never crashes: one line naming the file and the problem, exit 2.

Damaged captures are made from real ones the way they get damaged in the field: cut off
mid-packet (a full disk, an interrupted copy) or a gzip cut short.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ZEEK, run_cli

REAL = ZEEK / "broker-websocket.pcap"


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], name: str, words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert name in lines[0] and words in lines[0], lines[0]
    assert proc.stdout == ""


def _random(path: Path) -> Path:
    path.write_bytes(os.urandom(4096))
    return path


def _broken_gzip(path: Path) -> Path:
    data = bytearray(gzip.compress(REAL.read_bytes()))
    data[10:40] = b"\xff" * 30  # corrupt the deflate stream right after the gzip header
    path.write_bytes(bytes(data))
    return path


CASES = {
    "missing": (lambda d: d / "nope.pcap", "no such file"),
    "empty": (lambda d: (d / "empty.pcap").touch() or d / "empty.pcap", "empty file"),
    "random": (lambda d: _random(d / "random.bin"), "not a packet capture"),
    "text": (lambda d: (d / "notes.txt").write_text("hello\n") and d / "notes.txt", "text file"),
    "directory": (
        lambda d: (d / "adir").mkdir() or d / "adir",
        "no capture, HAR or log in this folder",
    ),
    "broken-gzip": (lambda d: _broken_gzip(d / "broken.pcap.gz"), "gzip stream is corrupt"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["sessions", "frames"])
def test_unusable_input_is_one_line_and_exit_2(tmp_path: Path, case: str, command: str) -> None:
    make, words = CASES[case]
    path = make(tmp_path)
    _assert_one_line_error(run_cli(command, path), path.name, words)


def test_truncated_capture_keeps_what_was_read(tmp_path: Path) -> None:
    whole = REAL.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 40])  # the last packet loses its tail
    proc = run_cli("sessions", cut, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "truncated" in proc.stderr and "cut.pcap" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert '"id": "s1"' in proc.stdout


def test_cut_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    packed = gzip.compress(REAL.read_bytes())
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    proc = run_cli("sessions", cut)
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and "cut.pcap.gz" in proc.stderr
    assert "s1" in proc.stdout


def test_capture_without_websocket_warns(tmp_path: Path) -> None:
    """The first three packets of a real capture: a TCP handshake and nothing else."""
    only_syn = tmp_path / "syn-only.pcap"
    subprocess.run(["editcap", "-r", str(REAL), str(only_syn), "1-3"], check=True)
    proc = run_cli("sessions", only_syn, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "no WebSocket traffic found" in proc.stderr and "syn-only.pcap" in proc.stderr
    assert proc.stdout.strip() == "[]"


def test_keylog_that_is_not_a_keylog(tmp_path: Path) -> None:
    bogus = tmp_path / "keys.txt"
    bogus.write_text("not keys\n")
    _assert_one_line_error(
        run_cli("sessions", REAL, "--keylog", bogus), "keys.txt", "not an NSS key log"
    )


def test_missing_tshark_names_the_fix(tmp_path: Path) -> None:
    proc = run_cli("sessions", REAL, "--tshark", tmp_path / "no-tshark")
    _assert_one_line_error(proc, "no-tshark", "not an executable tshark")
    assert "apt-get install tshark" in proc.stderr and "brew install wireshark" in proc.stderr


def test_too_old_tshark_is_refused(tmp_path: Path) -> None:
    """A wrapper that claims to be tshark 2.6 must be rejected before it is run on data."""
    fake = tmp_path / "tshark"
    fake.write_text("#!/bin/sh\necho 'TShark (Wireshark) 2.6.10 (Git v2.6.10)'\n")
    fake.chmod(0o755)
    _assert_one_line_error(run_cli("sessions", REAL, "--tshark", fake), "tshark", "too old")


def test_unknown_session_id() -> None:
    proc = run_cli("frames", REAL, "--session", "s99")
    _assert_one_line_error(proc, "--session", "no session 's99'")


def test_unwritable_output(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    target = tmp_path / "a-file" / "out.json"
    _assert_one_line_error(run_cli("sessions", REAL, "-o", target), "out.json", "cannot")


def test_usage_error_is_one_line() -> None:
    proc = run_cli("sessions", REAL, "--format", "xml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_snaplen_cut_capture_warns_that_absence_proves_nothing(tmp_path: Path) -> None:
    """`tcpdump -s 100` keeps headers and drops the frames: a classic useless capture."""
    source = Path(__file__).resolve().parents[2] / "sample_captures" / "idle-1011" / "capture.pcap"
    cut = tmp_path / "snap100.pcap"
    subprocess.run(["editcap", "-s", "100", str(source), str(cut)], check=True)
    proc = run_cli("sessions", cut, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "cut short by the capture's snapshot length (at most 100 bytes kept)" in proc.stderr
    # 26 = the packets longer than 100 bytes (`tshark -Y "frame.len > 100"` on the original).
    assert '"truncated_packets": 26' in proc.stdout


def test_wsdoctor_tshark_variable_is_honoured(tmp_path: Path) -> None:
    env = {**os.environ, "WSDOCTOR_TSHARK": str(tmp_path / "elsewhere" / "tshark")}
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", "sessions", str(REAL)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    _assert_one_line_error(proc, "elsewhere/tshark", "not an executable tshark")
