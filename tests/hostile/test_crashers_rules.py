"""Hostile rule packs, config files and templates (issue 11): one line, file:line, exit 2.

The reproducers in ../shared/crashers/ once hung for minutes and took gigabytes (alias
bombs, `'A' * 3000000000`, nested loops) or died with "internal error" (recursive
aliases, `!!python/name`, 5,000-digit integers, sandbox violations at analyze time).
Each runs here under a timeout and an address-space limit, so a regression fails the
test instead of taking the machine down.
"""

from __future__ import annotations

import dataclasses
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer import yamlsource
from analyzer.rule_tests import feature_row
from analyzer.rules import sandbox
from analyzer.rules.engine import evaluate
from analyzer.rules.loader import load_rules
from analyzer.rules.templates import check
from analyzer.schema import ANOMALIES, FRAMES

from conftest import CRASHERS, REPO

SAMPLE = REPO / "sample_captures" / "idle-1011" / "capture.pcap"
BUILTIN = REPO / "rules" / "idle-timeout" / "idle-before-1011.yaml"
LIMIT_BYTES = 3 << 30  # far above a normal run (~100 MB), far below a blow-up
TIMEOUT_S = 90  # a shared, loaded machine: startup alone can take a few seconds

# reproducer folder -> the line its one problem must name
RULE_PACKS = {
    "D-yaml-billion-laughs/r02-billion-laughs": 6,
    "D-yaml-billion-laughs/r02b-laughs-in-when": 33,
    "D-yaml-internal-errors/r03-recursive-alias": 2,
    "D-yaml-internal-errors/r03b-recursive-map": 2,
    "D-yaml-internal-errors/r04c-python-name": 1,
    "D-yaml-internal-errors/r04d-unknown-tag": 4,
    "D-yaml-internal-errors/r07f-bignum-str": 35,
    "D-template-blowups/r08f-strmul": 64,
    "D-template-blowups/r08g-nested-loop": 64,
    "D-validate-accepts-render-failures/r08a-class": 64,
    "D-validate-accepts-render-failures/r08b-include": 64,
    "D-validate-accepts-render-failures/r08d-cycler": 64,
    "D-validate-accepts-render-failures/r08e-range": 64,
    "D-validate-accepts-render-failures/r07d-huge-float": 32,
}


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def bounded_cli(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`python -m analyzer ARGS` under a memory limit and a timeout."""
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=cwd,
        preexec_fn=_limit,
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], file: Path, line: int) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"{file}:{line}: " in lines[0], lines[0]
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def crasher(name: str) -> Path:
    folder = CRASHERS / name
    assert folder.is_dir(), f"no reproducer {folder}; ../shared must sit beside the repo"
    return folder


@pytest.mark.parametrize("name", list(RULE_PACKS))
def test_rules_validate_names_the_line(name: str) -> None:
    folder = crasher(name)
    started = time.monotonic()
    proc = bounded_cli("rules", "validate", folder)
    assert_one_line(proc, folder / "rule.yaml", RULE_PACKS[name])
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("name", list(RULE_PACKS))
def test_analyze_with_the_pack_names_the_line(name: str, tmp_path: Path) -> None:
    folder = crasher(name)
    out = tmp_path / "out.json"
    proc = bounded_cli("analyze", SAMPLE, "--rules", folder, "--select", "fuzz-rule", "-o", out)
    assert_one_line(proc, folder / "rule.yaml", RULE_PACKS[name])
    assert not out.exists()


def test_an_alias_bomb_config_in_the_working_directory(tmp_path: Path) -> None:
    folder = crasher("D-yaml-billion-laughs/cwd-config")
    proc = bounded_cli("analyze", SAMPLE, "--format", "json", "-o", tmp_path / "o.json", cwd=folder)
    assert_one_line(proc, folder.resolve() / "wsdoctor.yaml", 7)  # the run names it resolved


def test_the_run_names_the_config_file_it_used(tmp_path: Path) -> None:
    (tmp_path / "wsdoctor.yaml").write_text("rules:\n  select: [idle-timeout]\n")
    proc = bounded_cli("rules", "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"wsdoctor: config: {(tmp_path / 'wsdoctor.yaml').resolve()}\n" in proc.stderr
    given = bounded_cli("rules", "list", "--config", tmp_path / "wsdoctor.yaml")
    assert f"wsdoctor: config: {(tmp_path / 'wsdoctor.yaml').resolve()}\n" in given.stderr
    assert "config:" not in bounded_cli("rules", "list", cwd=REPO / "rules").stderr


def test_several_problems_keep_their_count_line(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text("id: !custom x\n")
    lines = bounded_cli("rules", "validate", tmp_path).stderr.splitlines()
    assert [line.split(": ", 2)[1] for line in lines[:2]] == [
        f"{tmp_path / 'a.yaml'}:1",
        f"{tmp_path / 'b.yaml'}:1",
    ]
    assert lines[2:] == ["wsdoctor: 2 problem(s) in the rule pack(s)"]


def test_a_template_failing_at_analyze_time_keeps_a_fallback(tmp_path: Path) -> None:
    """Validation cannot foresee every session's values (`[5]` of a short split); the
    finding still comes out, and a warning names the rule's file:line."""
    text = BUILTIN.read_text().replace("id: idle-before-1011", "id: fuzz-fallback")
    text = re.sub(
        r"summary: >-\n(  .*\n)+", "summary: \"{{ close_server_reason.split(':')[5] }}\"\n", text
    )
    (tmp_path / "rule.yaml").write_text(text)
    out = tmp_path / "out.json"
    proc = bounded_cli(
        "analyze", SAMPLE, "--rules", tmp_path, "--select", "fuzz-fallback", "-o", out
    )
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {tmp_path / 'rule.yaml'}:1: rule fuzz-fallback: the summary" in proc.stderr
    assert "could not be written for this session" in out.read_text()


def test_evaluate_reports_a_failing_template_once_per_rule() -> None:
    rule = next(r for r in load_rules([]) if r.id == "idle-before-1011")
    broken = dataclasses.replace(rule, fix="{{ [][3] }}")
    case = next(c for c in rule.tests if c.features and c.hit is True)
    row = feature_row(case.features or {})
    sessions = row.vstack(row.with_columns(id=row["id"] + "b"))
    tables = {"frames": FRAMES.empty(), "anomalies": ANOMALIES.empty()}
    warnings: list[str] = []
    found = evaluate([broken], sessions, tables, warnings)
    assert len(found) == 2 and all("fix text could not be written" in f["fix"] for f in found)
    assert len(warnings) == 1 and "the fix template failed for session t1 " in warnings[0]
    assert warnings[0].startswith(f"{rule.path}:1: rule idle-before-1011:")


HOSTILE_TEMPLATES = {
    "{{ 'A' * 3000000000 }}": "repeating a value",
    "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}": "loop steps",
    "{% for c in 'A' * 99999 %}{% for d in 'A' * 99999 %}{% endfor %}{% endfor %}": "loop steps",
    "{{ range(10**9) | list | length }}": "range()",
    "{{ 2 ** (2 ** 40) }}": "bits",
    "{{ '%9999999999s' % 1 }}": "width",
    "{{ '%9999999999s' | format(1) }}": "width",
    "{{ '{:>9999999999}'.format(1) }}": "width",
    "{{ 'a'.center(10**9) }}": "'center' is not allowed",
    "{{ 'a' | center(10**9) }}": "No filter named 'center'",
    "{{ 'a' | attr('ljust') }}": "unsafe",
    "{% set a = 'AAAAAAAAAA' %}" + "{% set a = a ~ a %}" * 40: "joining text",
    "{% set a = [1] %}" + "{% set a = [a, a] %}" * 60 + "{{ a }}": "a value of more than",
    "{{ ([[1]] * 10000) | sum(start=[]) }}": "sum()",
    "{{ ('A' * 10000) | join('B' * 10000) }}": "joining text",
    "{% for i in range(10000) %}{{ 'A' * 100 }}{% endfor %}": "characters of text",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}": "'__subclasses__' is not allowed",
    "{% include '/etc/passwd' %}": "include",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}": "macro",
    "{% set l = [1] %}{{ l.append(l) }}": "unsafe",
    "{{ namespace(a=1) }}": "unknown name",
    "{{ " + "9" * 5000 + " }}": "template syntax",
}


@pytest.mark.parametrize("template", list(HOSTILE_TEMPLATES))
def test_hostile_templates_are_validation_errors(template: str) -> None:
    started = time.monotonic()
    problem = check(template, {"x"}, {"x": 1.5})
    assert problem is not None and HOSTILE_TEMPLATES[template] in problem
    assert time.monotonic() - started < 2 * sandbox.MAX_SECONDS + 1


def test_ordinary_templates_still_render() -> None:
    text = (
        "{{ x | secs }}{% if x %} yes{% endif %} {{ '%.1f' | format(x) }} {{ [1, 2] | join(', ') }}"
    )
    text += "{% for i in range(3) %}{{ i ~ '.' }}{% endfor %}{% set y = x * 2 %} {{ y }}"
    assert check(text, {"x"}, {"x": 1.5}) is None
    assert sandbox.render(lambda: iter(["ab", "c"])) == "abc"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "[" * 200 + "]" * 200, "nested more than"),
        ("a: !!set {x}", "unsupported tag '!!set'"),
        ("a: !!binary aGVsbG8=", "unsupported tag '!!binary'"),
        ("a: !!python/tuple [1]", "unsupported tag '!!python/tuple'"),
        ("<<: {a: 1}", "merge keys"),
        ("a: 2024-13-45", "month must be in 1..12"),
        ("a: 0x" + "f" * 30, "out of"),
        ("a: 99999999999999999999", "out of the 64-bit range"),
        ("a: &a [1, *a]", "contains it"),
    ],
)
def test_yaml_that_never_becomes_a_value(text: str, message: str) -> None:
    with pytest.raises(yamlsource.YamlProblem, match=re.escape(message)):
        yamlsource.value(text)


def test_a_param_flag_goes_through_the_same_reader(tmp_path: Path) -> None:
    bomb = "&a [*a]"  # no comma: --param splits on commas
    proc = bounded_cli(
        "analyze",
        SAMPLE,
        "--param",
        f"idle-before-1011.inactivity_window_s={bomb}",
        "-o",
        tmp_path / "o.json",
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--param idle-before-1011.inactivity_window_s: an alias refers" in proc.stderr
    inf = bounded_cli(
        "analyze",
        SAMPLE,
        "--param",
        "idle-before-1011.inactivity_window_s=.inf",
        "-o",
        tmp_path / "o.json",
    )
    assert inf.returncode == 2 and "must be like its default" in inf.stderr, inf.stderr


def test_non_finite_param_defaults_are_pack_errors(tmp_path: Path) -> None:
    text = BUILTIN.read_text().replace("inactivity_window_s: 10", "inactivity_window_s: .inf")
    (tmp_path / "rule.yaml").write_text(text.replace("id: idle-before-1011", "id: fuzz-inf"))
    proc = bounded_cli("rules", "validate", tmp_path)
    assert proc.returncode == 2 and "params.inactivity_window_s: inf is not a finite" in proc.stderr
