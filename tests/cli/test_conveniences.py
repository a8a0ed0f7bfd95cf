"""CLI conveniences users expect of a command-line tool (issue 14, item 6): `-o` into a
folder that does not exist yet, `--version` naming tshark, `-` for standard input, a
folder as INPUT, a config file found above the working directory."""

from __future__ import annotations

import json
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
