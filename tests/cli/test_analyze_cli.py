"""`wsdoctor analyze` and `wsdoctor rules ...` as a user runs them: report shape, exit
codes, configuration precedence and rule-pack validation messages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from analyzer.schema import CATEGORIES

from conftest import REPO, SAMPLES, run_cli

IDLE = SAMPLES / "idle-1011" / "capture.pcap"
CLEAN = SAMPLES / "clean-close" / "capture.pcap"
SEVERITIES = ("info", "low", "medium", "high", "critical")


def analyze(*args: str | Path, cwd: Path = REPO) -> tuple[int, dict, str]:
    proc = run_cli("analyze", *args, "--format", "json", "-o", "-", cwd=cwd)
    report = json.loads(proc.stdout) if proc.returncode != 2 else {}
    return proc.returncode, report, proc.stderr


def test_report_follows_the_contract() -> None:
    code, report, _ = analyze(IDLE)
    assert code == 0
    assert report["schema"] == "wsdoctor.report/1"
    assert report["tool"]["name"] == "wsdoctor"
    [source] = report["inputs"]
    assert source["kind"] == "pcap"
    assert source["sha256"] == hashlib.sha256(IDLE.read_bytes()).hexdigest()
    assert {"packets", "start", "end", "lost_segments", "snaplen", "encrypted_sessions"} <= set(
        report["capture"]
    )
    [session] = report["sessions"]
    assert session["id"] == "s1" and session["source"] == "capture"
    assert session["handshake"]["path"] == "/v1/listen" and session["handshake"]["status"] == 101
    assert session["start"].endswith("Z") and session["close"]["close_server_code"] == 1011
    assert report["findings"], "idle-1011 must yield a finding"
    for finding in report["findings"]:
        assert finding["category"] in CATEGORIES and finding["severity"] in SEVERITIES
        assert finding["session"] == "s1"
        assert finding["summary"] and finding["fix"] and finding["references"]
        for item in finding["evidence"]:
            assert set(item) == {"time", "frame", "text"}


def test_fail_on_sets_the_exit_code() -> None:
    assert analyze(IDLE, "--fail-on", "high")[0] == 1
    assert analyze(IDLE, "--fail-on", "critical")[0] == 0
    assert analyze(CLEAN, "--fail-on", "medium")[0] == 0


def test_a_config_file_in_the_working_directory_is_named_and_applied(tmp_path: Path) -> None:
    """End to end once; the precedence itself is tested in process (test_config.py)."""
    (tmp_path / "wsdoctor.yaml").write_text(
        "rules:\n  severity:\n    idle-before-1011: low\nfail_on: low\n"
    )
    code, report, err = analyze(IDLE, cwd=tmp_path)
    assert code == 1  # fail_on from the file
    assert f"config: {(tmp_path / 'wsdoctor.yaml').resolve()}" in err
    [found] = [f for f in report["findings"] if f["rule"] == "idle-before-1011"]
    assert found["severity"] == "low"
    assert analyze(IDLE, "--fail-on", "never", cwd=tmp_path)[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--select", "no-such-rule"), "unknown rule id or category 'no-such-rule'"),
        (("--log-tz", "Mars/Base"), "unknown time zone 'Mars/Base'"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, _, err = analyze(IDLE, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_config_file_is_one_line_naming_its_line(tmp_path: Path) -> None:
    (tmp_path / "wsdoctor.yaml").write_text("rules:\n  severity:\n    idle-before-1011: loud\n")
    code, _, err = analyze(IDLE, cwd=tmp_path)
    assert code == 2
    assert f"{tmp_path / 'wsdoctor.yaml'}:3: rules.severity.idle-before-1011" in err
    assert len(err.strip().splitlines()) == 1


def test_validate_lists_every_problem_with_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    good = (REPO / "rules" / "idle-timeout" / "idle-before-1011.yaml").read_text()
    bad.write_text(
        good.replace("category: idle-timeout", "category: idleness")
        .replace("feature: close_server_code", "feature: close_code_server", 1)
        .replace("fix: |", "fixes: |")
    )
    proc = run_cli("rules", "validate", bad)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    at = bad.read_text().splitlines().index("category: idleness") + 1
    assert any(f"{bad}:{at}: category: 'idleness' is not one of" in ln for ln in lines)
    assert any(f"{bad}:" in ln and "when.all[0].feature: unknown feature" in ln for ln in lines)
    assert any("fix: missing required field" in ln for ln in lines)
    assert any("fixes: unknown field" in ln for ln in lines)
    assert "Traceback" not in proc.stderr


def test_validate_rejects_duplicate_ids_and_bad_yaml(tmp_path: Path) -> None:
    rule = (REPO / "rules" / "idle-timeout" / "idle-before-1011.yaml").read_text()
    (tmp_path / "a.yaml").write_text(rule)
    (tmp_path / "b.yaml").write_text(rule)
    (tmp_path / "c.yaml").write_text("id: x\ntitle: [unclosed\n")
    proc = run_cli("rules", "validate", tmp_path)
    assert proc.returncode == 2
    assert f"{tmp_path / 'b.yaml'}:1: id: duplicate id 'idle-before-1011'" in proc.stderr
    assert f"{tmp_path / 'c.yaml'}:3: YAML syntax" in proc.stderr


def test_builtin_pack_validates_lists_and_shows() -> None:
    proc = run_cli("rules", "validate", REPO / "rules", check=True)
    assert proc.stdout.startswith("ok: ")
    listing = json.loads(run_cli("rules", "list", "--format", "json", check=True).stdout)
    assert {r["category"] for r in listing} <= set(CATEGORIES)
    shown = run_cli("rules", "show", "idle-before-1011", check=True).stdout
    assert "inactivity_window_s: 10" in shown and "references:" in shown


def test_rules_test_command_runs_cases() -> None:
    proc = run_cli("rules", "test", "idle-before-1011")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cases passed" in proc.stderr


def test_no_redact_keeps_the_token_and_says_so() -> None:
    wss = SAMPLES / "wss-keylog"
    args = (wss / "capture.pcap", "--keylog", wss / "keys.log")
    _, redacted, _ = analyze(*args)
    _, kept, err = analyze(*args, "--no-redact")
    token = "dg_test_0123456789abcdef"
    assert redacted["redacted"] is True and token not in json.dumps(redacted)
    assert kept["redacted"] is False and token in json.dumps(kept)
    assert "--no-redact" in err


@pytest.mark.parametrize(
    ("fmt", "output", "expected"),
    [
        (None, None, [("html", "wsdoctor-report.html")]),
        (None, "-", [("json", "-")]),
        (None, "r.md", [("md", "r.md")]),
        ("json", None, [("json", "-")]),
        ("html,json", "out/r.html", [("html", "out/r.html"), ("json", "out/r.json")]),
    ],
)
def test_output_plan(fmt: str | None, output: str | None, expected: list) -> None:
    from analyzer.report.outputs import plan

    assert plan(fmt, output) == expected


def test_several_formats_need_a_path() -> None:
    proc = run_cli("analyze", IDLE, "--format", "html,md")
    assert proc.returncode == 2 and "several formats need -o PATH" in proc.stderr
