"""What a person sees in a terminal (issue 14, item 4): tables and the analyze listing fit
80 columns, colour follows --color / NO_COLOR / the terminal, --quiet is silent on
success, symptoms are folded unless --verbose, `sessions --failed` lists the failed
sessions, `rules test -q` only the failures, and the progress line counts every packet.

A terminal is a real pseudo-terminal (`pty`), the CLI a real subprocess on real captures;
what the output must say is taken from the JSON report, never from the listing itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
import unicodedata
from pathlib import Path
from typing import IO

import pytest

from conftest import EXTERNAL, REPO, SAMPLES, run_cli

NGINX = SAMPLES / "nginx-read-timeout"
CLEAN = SAMPLES / "clean-close" / "capture.pcap"
IDLE = SAMPLES / "idle-1011" / "capture.pcap"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LEVELS = ("info", "low", "medium", "high", "critical")
ROW = re.compile(rf"^({'|'.join(LEVELS)}) ")


def cells(line: str) -> int:
    """Terminal columns of a line: wide characters take two, combining marks none."""
    line = ANSI.sub("", line)
    return sum(
        0
        if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf")
        else 2
        if unicodedata.east_asian_width(c) in ("W", "F")
        else 1
        for c in line
    )


def finding_rows(text: str) -> list[str]:
    """The listing's finding rows: those that start with a severity (wrapped text and
    incident lines are indented or start with their id)."""
    return [line for line in ANSI.sub("", text).splitlines() if ROW.match(line)]


def widest(text: str) -> int:
    return max((cells(line) for line in text.splitlines()), default=0)


def env(**changes: str | None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    out.update({k: v for k, v in changes.items() if v is not None})
    return out


def in_terminal(
    *args: str | Path, columns: int = 80, stdout_tty: bool = True, **changes: str | None
) -> tuple[int, str, str]:
    """Run wsdoctor with stderr (and stdout unless told) on a pseudo-terminal `columns`
    wide; returns (exit code, what the terminal showed, stdout when it was a pipe)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave,
        cwd=REPO,
        env=env(**changes),
    )
    os.close(slave)
    piped: list[bytes] = []
    reader = threading.Thread(
        target=lambda: piped.append(proc.stdout.read() if proc.stdout else b"")
    )
    reader.start()
    shown = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    reader.join()
    code = proc.wait(timeout=600)
    text = shown.decode("utf-8", "replace").replace("\r\n", "\n")
    return code, text, b"".join(piped).decode()


def _drain(stream: IO[bytes] | None, sink: list[bytes]) -> None:
    sink.append(stream.read() if stream else b"")


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every sample capture in one file (mergecap): dozens of real sessions of every kind."""
    out = tmp_path_factory.mktemp("merged") / "samples.pcapng"
    captures = sorted(SAMPLES.glob("*/capture.pcap*"))
    subprocess.run(["mergecap", "-w", out, *captures], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def merged_report(merged: Path) -> dict:
    return json.loads(run_cli("analyze", merged, "--format", "json", "-o", "-").stdout)


def at_least(report: dict, level: str) -> set[str]:
    floor = LEVELS.index(level)
    return {
        f["session"]
        for f in report["findings"]
        if f["session"] and LEVELS.index(f["severity"]) >= floor
    }


# Width --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sessions", "frames"])
def test_tables_fit_80_columns(command: str, merged: Path) -> None:
    code, shown, _ = in_terminal(command, merged, COLUMNS="80")
    assert code == 0, shown
    rows = [line for line in shown.splitlines() if re.match(r"s\d+ ", line)]
    assert len(rows) > 50 and widest("\n".join(rows)) <= 80, shown[:2000]


def test_a_table_in_a_pipe_or_a_file_keeps_every_column(tmp_path: Path) -> None:
    """COLUMNS is the terminal's (a parent that loaded readline exports it to every child):
    a table piped or written with -o is whole whatever it says."""
    out = tmp_path / "sessions.txt"
    args = [sys.executable, "-m", "analyzer", "sessions", NGINX / "capture.pcap"]
    piped = subprocess.run(args, cwd=REPO, env=env(COLUMNS="80"), capture_output=True, text=True)
    subprocess.run([*args, "-o", out], check=True, cwd=REPO, env=env(COLUMNS="80"))
    for text in (piped.stdout, out.read_text()):
        assert {"KIND", "HTTP", "PATH", "NOTES"} <= set(text.splitlines()[0].split())


@pytest.mark.parametrize("source", ["nginx", "merged"])
def test_analyze_listing_fits_80_columns_and_names_each_finding(
    source: str, merged: Path, tmp_path: Path
) -> None:
    target = NGINX if source == "nginx" else merged
    report_path = tmp_path / "r.json"
    code, shown, _ = in_terminal("analyze", target, "-o", report_path, COLUMNS="80")
    assert code == 0, shown
    assert widest(shown) <= 80, shown
    report = json.loads(report_path.read_text())
    roots = [f for f in report["findings"] if not f["explained_by"]]
    rows = finding_rows(shown)
    assert len(rows) == len(roots), shown
    for row, finding in zip(rows, roots, strict=True):
        assert row.split()[:2] == [finding["severity"], finding["session"]]


def test_the_real_terminal_width_is_used_without_columns(tmp_path: Path) -> None:
    _, shown, _ = in_terminal("sessions", NGINX / "capture.pcap", columns=60)
    assert 0 < widest(shown) <= 60, shown


# Folding and verbosity ---------------------------------------------------------------


def test_symptoms_are_listed_only_with_verbose(tmp_path: Path) -> None:
    report = json.loads(run_cli("analyze", NGINX, "--format", "json", "-o", "-").stdout)
    symptoms = [f for f in report["findings"] if f["explained_by"]]
    assert symptoms, "nginx-read-timeout has missing-close symptoms under the proxy teardown"
    out = tmp_path / "r.html"
    plain = run_cli("analyze", NGINX, "-o", out, "--color", "never").stdout
    verbose = run_cli("analyze", NGINX, "-o", out, "--color", "never", "-v").stdout

    assert len(finding_rows(plain)) == len(report["findings"]) - len(symptoms)
    assert len(finding_rows(verbose)) == len(report["findings"])
    whole = re.sub(r"\\(.)", r"\1", symptoms[0]["summary"])  # Markdown escapes, rendered
    assert " ".join(whole.split()) in " ".join(verbose.split())


def test_min_severity_lists_only_findings_at_or_above(merged: Path, merged_report: dict) -> None:
    shown = run_cli("analyze", merged, "-o", os.devnull, "--min-severity", "medium", "-v").stdout
    levels = {row.split()[0] for row in finding_rows(shown)}
    assert levels and levels <= {"medium", "high", "critical"}
    assert any(f["severity"] == "low" for f in merged_report["findings"])


# Where the listing goes ------------------------------------------------------------


def test_a_report_on_stdout_is_never_mixed_with_the_listing() -> None:
    code, shown, stdout = in_terminal(
        "analyze", NGINX, "--format", "json", "-o", "-", stdout_tty=False, COLUMNS="80"
    )
    assert code == 0
    report = json.loads(stdout)  # the whole of stdout is the report
    assert f"{len(report['findings'])} finding(s)" in shown  # the listing went to the terminal


def test_quiet_prints_nothing_on_success(tmp_path: Path) -> None:
    code, shown, _ = in_terminal("analyze", NGINX, "-o", tmp_path / "r.html", "-q")
    assert code == 0 and shown == "", shown
    proc = run_cli("analyze", NGINX, "-o", tmp_path / "r.html", "--quiet")
    assert (proc.stdout, proc.stderr) == ("", "")


def test_quiet_prints_the_failing_findings_on_exit_1(tmp_path: Path) -> None:
    proc = run_cli("analyze", IDLE, "-o", tmp_path / "r.json", "-q", "--fail-on", "high")
    assert proc.returncode == 1 and proc.stderr == ""
    report = json.loads((tmp_path / "r.json").read_text())
    failing = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    rows = finding_rows(proc.stdout)
    assert [r.split()[:2] for r in rows] == [[f["severity"], f["session"]] for f in failing]


# Colour ------------------------------------------------------------------------------


def test_colour_on_a_terminal_unless_no_color_or_never(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert ANSI.search(in_terminal("analyze", NGINX, "-o", out)[1])
    assert not ANSI.search(in_terminal("analyze", NGINX, "-o", out, NO_COLOR="1")[1])
    assert not ANSI.search(in_terminal("analyze", NGINX, "-o", out, "--color", "never")[1])


def test_colour_always_even_in_a_pipe(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert ANSI.search(run_cli("analyze", NGINX, "-o", out, "--color", "always").stdout)
    assert not ANSI.search(run_cli("analyze", NGINX, "-o", out).stdout)


# sessions --failed -------------------------------------------------------------------


def test_sessions_failed_lists_exactly_the_failed_sessions(
    merged: Path, merged_report: dict
) -> None:
    failed = at_least(merged_report, "medium")
    assert 0 < len(failed) < len(merged_report["sessions"])
    listed = json.loads(run_cli("sessions", merged, "--failed", "--format", "json").stdout)
    assert {s["id"] for s in listed} == failed
    table = run_cli("sessions", merged, "--min-severity", "high").stdout
    assert {line.split()[0] for line in table.splitlines()[1:]} == at_least(merged_report, "high")


# rules test -q -----------------------------------------------------------------------


def test_rules_test_quiet_prints_only_failures_and_the_total(tmp_path: Path) -> None:
    rule = (REPO / "rules" / "idle-timeout" / "idle-before-1011.yaml").read_text()
    broken = rule.replace("id: idle-before-1011", "id: idle-copy-for-quiet", 1).replace(
        "  - sample: idle-1011\n    hit: [s1]", "  - sample: idle-1011\n    hit: []", 1
    )
    (tmp_path / "copy.yaml").write_text(broken)
    loud = run_cli("rules", "test", "idle-copy-for-quiet", "--rules", tmp_path)
    quiet = run_cli("rules", "test", "idle-copy-for-quiet", "--rules", tmp_path, "-q")
    assert loud.returncode == quiet.returncode == 1
    cases = len(loud.stdout.splitlines())
    [line] = quiet.stdout.splitlines()
    assert line.startswith("FAIL") and "idle-1011" in line
    assert quiet.stderr.strip() == f"{cases - 1}/{cases} cases passed in 1 rule(s)"
    passing = run_cli("rules", "test", "idle-before-1011", "-q")
    assert passing.returncode == 0 and passing.stdout == ""


# The progress line -------------------------------------------------------------------


def test_progress_counts_every_packet_and_vanishes() -> None:
    """arkime-synthetic holds UDP and other non-TCP packets that tshark's display filter
    leaves unprinted: the count is capinfos' count all the same."""
    capture = EXTERNAL / "arkime-synthetic.pcap"
    census = subprocess.run(
        [shutil.which("capinfos") or "capinfos", "-M", "-c", capture],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = int(re.search(r"Number of packets:\s+(\d+)", census).group(1))
    code, shown, stdout = in_terminal("sessions", capture, "--format", "json", stdout_tty=False)
    assert code == 0 and json.loads(stdout)
    counts = [
        int(n.replace(",", "")) for n in re.findall(r"reading [^\r]*?([\d,]+) packets", shown)
    ]
    assert counts and counts[-1] == total, shown
    assert "\r\x1b[K" in shown.split("packets")[-1]  # the line is erased once read


def test_no_progress_when_stderr_is_not_a_terminal() -> None:
    proc = run_cli("sessions", EXTERNAL / "arkime-synthetic.pcap")
    assert "reading" not in proc.stderr and "\r" not in proc.stderr


def test_rules_list_fits_80_columns_with_every_id_whole() -> None:
    ids = {r["id"] for r in json.loads(run_cli("rules", "list", "--format", "json").stdout)}
    code, shown, _ = in_terminal("rules", "list", COLUMNS="80")
    rows = [line.split()[0] for line in shown.splitlines()[1:] if line.split()[:1] != ["wsdoctor:"]]
    assert code == 0 and widest(shown) <= 80, shown
    assert set(rows) == ids
