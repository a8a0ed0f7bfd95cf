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


@pytest.fixture(autouse=True)
def _repository(tmp_path: Path) -> None:
    """Each test's folder is a repository root: no config file above it is found."""
    (tmp_path / ".git").mkdir()


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


def _piped(data: bytes, *args: str | Path, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    """The CLI with `data` on standard input and its own TMPDIR, to see what it leaves."""
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *map(str, args)],
        input=data,
        capture_output=True,
        env={**os.environ, "TMPDIR": str(tmp)},
        cwd=tmp,
        timeout=600,
    )


def test_dash_reads_a_capture_from_stdin_and_names_it_stdin(tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    proc = _piped(IDLE.read_bytes(), "analyze", "-", "--format", "json", "-o", "-", tmp=spool)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    [source] = report["inputs"]
    assert (source["path"], source["kind"], source["size_bytes"]) == (
        "<stdin>",
        "pcap",
        IDLE.stat().st_size,
    )
    assert [s["close"] for s in report["sessions"]] == [
        s["close"] for s in json.loads(run_cli("sessions", IDLE, "--format", "json").stdout)
    ]
    assert list(spool.iterdir()) == []  # the spooled copy is gone


def test_dash_reads_a_log_from_stdin(tmp_path: Path) -> None:
    log = (SAMPLES / "idle-1011" / "client.log").read_bytes()
    proc = _piped(log, "sessions", "-", "--format", "json", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [s["source"] for s in json.loads(proc.stdout)] == ["log"]


def test_empty_stdin_is_one_line_and_exit_2(tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    proc = _piped(b"", "analyze", "-", tmp=spool)
    assert proc.returncode == 2
    [line] = proc.stderr.decode().splitlines()
    assert line.startswith("wsdoctor: <stdin>: standard input is empty")
    assert list(spool.iterdir()) == []


def test_a_sample_folder_is_its_capture_and_logs_and_skips_the_rest(tmp_path: Path) -> None:
    folder = SAMPLES / "idle-1011"
    proc = run_cli("analyze", folder, "--format", "json", "-o", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(Path(i["path"]).name, i["kind"]) for i in report["inputs"]] == [
        ("capture.pcap", "pcap"),
        ("client.log", "log"),
        ("server.log", "log"),
    ]
    [warning] = [line for line in proc.stderr.splitlines() if "skipped" in line]
    assert "skipped 4 file(s)" in warning
    assert all(name in warning for name in ("README.md", "expected.yaml", "record.log"))
    named = [folder / n for n in ("capture.pcap", "client.log", "server.log")]
    by_name = run_cli("analyze", *named, "--format", "json", "-o", "-", cwd=tmp_path)
    assert report["findings"] == json.loads(by_name.stdout)["findings"]


def test_a_key_log_in_the_folder_decrypts_its_captures(tmp_path: Path) -> None:
    folder = SAMPLES / "wss-keylog"
    proc = run_cli("sessions", folder, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"wsdoctor: key log: {folder / 'keys.log'}" in proc.stderr
    inputs = [folder / n for n in ("capture-with-secrets.pcapng", "capture.pcap", "client.log")]
    given = run_cli(
        "sessions",
        *inputs,
        folder / "server.log",
        "--keylog",
        folder / "keys.log",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert json.loads(proc.stdout) == json.loads(given.stdout)
    assert "encrypted" not in {s["kind"] for s in json.loads(proc.stdout)}


def test_a_folder_without_inputs_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = run_cli("sessions", SAMPLES, cwd=tmp_path)  # scenario folders: not recursive
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "no capture, HAR or log in this folder" in line and "not read recursively" in line


def test_a_config_above_the_working_directory_is_used_and_named(tmp_path: Path) -> None:
    (tmp_path / "wsdoctor.yaml").write_text("rules:\n  severity:\n    idle-before-1011: low\n")
    below = tmp_path / "tickets" / "4711"
    below.mkdir(parents=True)
    proc = run_cli("analyze", IDLE, "--format", "json", "-o", "-", cwd=below)
    assert proc.returncode == 0, proc.stderr
    assert f"wsdoctor: config: {tmp_path / 'wsdoctor.yaml'}" in proc.stderr.splitlines()
    [finding] = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "idle-before-1011"]
    assert finding["severity"] == "low"


def test_the_bash_completion_the_readme_documents_completes(tmp_path: Path) -> None:
    """README: `eval "$(_WSDOCTOR_COMPLETE=bash_source wsdoctor)"` in ~/.bashrc."""
    script = """
        eval "$(_WSDOCTOR_COMPLETE=bash_source wsdoctor)"
        COMP_WORDS=(wsdoctor an); COMP_CWORD=1; _wsdoctor_completion wsdoctor
        echo "${COMPREPLY[@]}"; COMPREPLY=()
        COMP_WORDS=(wsdoctor analyze --fail); COMP_CWORD=2; _wsdoctor_completion wsdoctor
        echo "${COMPREPLY[@]}"
    """
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.stdout.splitlines() == ["analyze", "--fail-on"], proc.stderr


@pytest.mark.parametrize("command", ["analyze", "sessions", "frames"])
def test_output_may_not_overwrite_a_capture_found_in_a_folder(tmp_path: Path, command: str) -> None:
    folder = tmp_path / "ticket"
    folder.mkdir()
    shutil.copy(IDLE, folder / "capture.pcap")
    proc = run_cli(command, folder, "--format", "json", "-o", folder / "capture.pcap", cwd=tmp_path)
    assert proc.returncode == 2
    assert "refusing to overwrite" in proc.stderr
    assert (folder / "capture.pcap").read_bytes() == IDLE.read_bytes()
