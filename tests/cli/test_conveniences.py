"""CLI conveniences users expect of a command-line tool (issue 14, item 6): `-o` into a
folder that does not exist yet, `--version` naming tshark, `-` for standard input, a
folder as INPUT, a config file found above the working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from conftest import SAMPLES, run_cli

IDLE = SAMPLES / "idle-1011" / "capture.pcap"


@pytest.mark.parametrize("command", ["analyze", "sessions", "frames"])
def test_output_makes_missing_parent_folders(tmp_path: Path, command: str) -> None:
    target = tmp_path / "reports" / "today" / "out.json"
    proc = run_cli(command, IDLE, "--format", "json", "-o", target, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text())


def test_version_names_wsdoctor_and_the_tshark_it_uses() -> None:
    first = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    tshark_version = first.split()[2]  # "TShark (Wireshark) 4.0.17 (Git ...)"
    proc = run_cli("--version", check=True)
    assert proc.stdout.splitlines() == [
        f"wsdoctor {metadata.version('wsdoctor')}",
        f"tshark {tshark_version} ({shutil.which('tshark')})",
    ]


def test_version_says_when_there_is_no_tshark(tmp_path: Path) -> None:
    env = {**os.environ, "WSDOCTOR_TSHARK": str(tmp_path / "no-tshark")}
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", "--version"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    wsdoctor, tshark = proc.stdout.splitlines()
    assert wsdoctor.startswith("wsdoctor ")
    assert tshark.startswith("tshark: none usable: ") and "no-tshark" in tshark
