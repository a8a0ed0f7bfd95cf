"""tshark discovery stays off pyshark, and what tshark says about itself is cached on disk.

Real tshark throughout: a copy of the installed binary stands in for "a tshark", so its
modification time can change without touching the system's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.ingest import tshark, tshark_ports

from conftest import REPO

SYSTEM_TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(SYSTEM_TSHARK is None, reason="needs tshark on PATH")


@pytest.fixture
def copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the real tshark, with the cache pointed at tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    binary = tmp_path / "bin" / "tshark"
    binary.parent.mkdir()
    shutil.copy2(str(SYSTEM_TSHARK), binary)
    tshark._probe.cache_clear()
    tshark_ports._port_owners.cache_clear()
    yield binary
    tshark._probe.cache_clear()
    tshark_ports._port_owners.cache_clear()


def _cache_file(copied: Path, name: str) -> Path:
    (found,) = (copied.parent.parent / "cache" / "wsdoctor").glob(f"tshark-{name}-*.json")
    return found


def _fresh(binary: Path) -> tshark.Tshark:
    tshark._probe.cache_clear()  # the in-process memo; the disk cache stays
    tshark_ports._port_owners.cache_clear()
    return tshark.find_tshark(str(binary))


def _real_version() -> tuple[int, ...]:
    out = subprocess.run([str(SYSTEM_TSHARK), "-v"], capture_output=True, text=True).stdout
    words = out.split()
    return tuple(int(p) for p in words[words.index("(Wireshark)") + 1].split(".")[:3])


def test_version_is_read_once_then_served_from_the_cache(copied: Path) -> None:
    assert _fresh(copied).version == _real_version()
    cache = _cache_file(copied, "version")
    assert json.loads(cache.read_text()) == list(_real_version())
    # The binary is unchanged, so the answer on disk is believed without running it.
    cache.write_text("[9, 8, 7]")
    assert _fresh(copied).version == (9, 8, 7)
    # A rebuilt binary (new mtime) is asked again.
    stat = copied.stat()
    os.utime(copied, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert _fresh(copied).version == _real_version()


@pytest.mark.parametrize("garbage", [b"\xff\xfe\x00", b"[4, 0", b'{"version": 4}', b"[]"])
def test_a_corrupt_cache_file_counts_as_missing(copied: Path, garbage: bytes) -> None:
    found = _fresh(copied)
    ports = tshark_ports.foreign_ports(found)
    assert ports, "the real tshark gives some TCP ports to other dissectors (pgsql 5432)"
    for name in ("version", "tcp-ports"):
        _cache_file(copied, name).write_bytes(garbage)
    again = _fresh(copied)
    assert again.version == _real_version()
    assert tshark_ports.foreign_ports(again) == ports


def test_an_unwritable_cache_directory_only_costs_the_probe(
    copied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    found = _fresh(copied)
    assert found.version == _real_version()
    assert tshark_ports.foreign_ports(found)


def test_discovery_on_path_does_not_import_pyshark() -> None:
    """Importing pyshark costs 0.2-0.4 s; with tshark on PATH it is never needed."""
    env = {k: v for k, v in os.environ.items() if k != "WSDOCTOR_TSHARK"}
    code = (
        "import sys; from analyzer.ingest.tshark import find_tshark; "
        "print(find_tshark().path, 'pyshark' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.stdout.split() == [SYSTEM_TSHARK, "False"], out.stderr
