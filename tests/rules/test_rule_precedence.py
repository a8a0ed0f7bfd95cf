"""Rule precedence as data (`defers_to`), aliases that belong to their rule, test cases
with params, and the rule's rationale / false positives / tags on its findings.

Small packs are written to tmp_path and evaluated on hand-written session rows, so each
semantic is checked alone; the built-in pack's behaviour on the samples is pinned by
tests/rules/test_sample_findings.py and the rules' own test cases.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from analyzer import config
from analyzer.errors import PackError
from analyzer.report import html_findings, html_incidents, markdown_findings
from analyzer.rule_tests import feature_row, run_case
from analyzer.rules import precedence
from analyzer.rules.engine import evaluate
from analyzer.rules.loader import load_rules
from analyzer.schema import ANOMALIES, FRAMES

from conftest import SAMPLES, run_cli

EMPTY = {"frames": FRAMES.empty(), "anomalies": ANOMALIES.empty()}
# A server 1011: matched by the general rule; the specific one also needs the reason.
BOTH = {"close_server_code": 1011, "close_server_reason": "keepalive ping timeout"}
GENERAL_ONLY = {"close_server_code": 1011, "close_server_reason": "other"}


def rule_yaml(rule_id: str, when: str, extra: str = "", tests: str = "") -> str:
    """A complete rule file; `when` and `extra` (more top-level keys) as YAML text."""
    tests = tests or (
        "  - features: {close_server_code: 1011, close_server_reason: keepalive ping timeout}\n"
        "    hit: true\n"
        "  - features: {close_server_code: 1000}\n"
        "    hit: false\n"
    )
    return (
        f"id: {rule_id}\n"
        f"title: {rule_id} happened\n"
        "category: server-error\n"
        "severity: medium\n"
        "confidence: low\n"
        "tags: [test, precedence]\n"
        "rationale: |\n"
        "  The reason says so. A *second* sentence <b>with markup</b> and `code`.\n"
        "false_positives:\n"
        "  - A relay that rewrites reasons <i>in transit</i>.\n"
        f"{extra}"
        "when:\n"
        f"{textwrap.indent(when, '  ')}"
        "summary: The server closed with {{ close_server_code }}.\n"
        "fix: Do something.\n"
        "references: [https://example.com/doc]\n"
        "tests:\n"
        f"{tests}"
    )


GENERAL = "feature: close_server_code\neq: 1011\n"
SPECIFIC = (
    "all:\n"
    "  - {feature: close_server_code, eq: 1011}\n"
    "  - {feature: close_server_reason, matches: ping}\n"
)


def write_pack(folder: Path, rules: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in rules.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def pair_pack(tmp_path: Path) -> Path:
    general = rule_yaml(
        "general-1011",
        GENERAL,
        "defers_to: [specific-ping]\n",
        tests="  - features: {close_server_code: 1011}\n    hit: true\n"
        "  - features: {close_server_code: 1011, close_server_reason: ping timeout}\n"
        "    hit: false\n",
    )
    return write_pack(
        tmp_path / "pack",
        {"general": general, "specific": rule_yaml("specific-ping", SPECIFIC)},
    )


def sessions(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.concat(
        [feature_row(r).with_columns(pl.lit(f"s{i + 1}").alias("id")) for i, r in enumerate(rows)],
        how="diagonal_relaxed",
    )


def fired(rules: list, table: pl.DataFrame) -> set[tuple[str, str]]:
    return {(f["session"], f["rule"]) for f in evaluate(rules, table, EMPTY)}


# -- semantics --------------------------------------------------------------------------------


def test_only_the_specific_rule_fires_where_both_match(tmp_path: Path) -> None:
    rules = load_rules([pair_pack(tmp_path)], builtin=False)
    got = fired(rules, sessions(BOTH, GENERAL_ONLY))
    assert got == {("s1", "specific-ping"), ("s2", "general-1011")}


def test_a_disabled_specific_rule_no_longer_suppresses(tmp_path: Path) -> None:
    rules = load_rules([pair_pack(tmp_path)], builtin=False)
    chosen = config.apply(rules, config.Settings(exclude=["specific-ping"]))
    assert fired(chosen, sessions(BOTH, GENERAL_ONLY)) == {
        ("s1", "general-1011"),
        ("s2", "general-1011"),
    }


def test_precedence_follows_the_chain_in_dependency_order(tmp_path: Path) -> None:
    """top defers to middle, middle to bottom: where bottom fires, middle does not, so
    top is not suppressed by middle (only by a finding middle produced)."""
    bottom = rule_yaml("bottom", SPECIFIC)
    middle = rule_yaml("middle", GENERAL, "defers_to: [bottom]\n")
    top = rule_yaml("top", GENERAL, "defers_to: [middle]\n")
    # files in an order that is not the dependency order
    pack = write_pack(tmp_path / "chain", {"a": top, "b": middle, "c": bottom})
    rules = load_rules([pack], builtin=False)
    assert [r.id for level in precedence.levels(rules) for r in level] == [
        "bottom",
        "middle",
        "top",
    ]
    assert fired(rules, sessions(BOTH, GENERAL_ONLY)) == {
        ("s1", "bottom"),
        ("s1", "top"),
        ("s2", "middle"),
    }


def test_a_rule_deferred_to_that_reads_other_sources_suppresses_nothing_there(
    tmp_path: Path,
) -> None:
    log_only = rule_yaml("specific-ping", SPECIFIC, "sources: [log]\n")
    general = rule_yaml("general-1011", GENERAL, "defers_to: [specific-ping]\n")
    pack = write_pack(tmp_path / "src", {"g": general, "s": log_only})
    rules = load_rules([pack], builtin=False)
    assert fired(rules, sessions(BOTH)) == {("s1", "general-1011")}  # a capture session


def test_rule_cases_run_with_the_rules_they_defer_to(tmp_path: Path) -> None:
    rules = load_rules([pair_pack(tmp_path)], builtin=False)
    general = next(r for r in rules if r.id == "general-1011")
    must_not = general.tests[1]
    assert run_case(general, must_not, SAMPLES, pack=rules).passed
    alone = run_case(general, must_not, SAMPLES)  # without the pack nothing suppresses it
    assert not alone.passed and "got ['t1']" in alone.detail


# -- validation -------------------------------------------------------------------------------


def problems_of(pack: Path) -> list[str]:
    with pytest.raises(PackError) as info:
        load_rules([pack], builtin=False)
    return list(info.value.problems)


def test_an_unknown_id_is_reported_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    general = rule_yaml("general-1011", GENERAL, "defers_to:\n  - bottom\n  - specific-pign\n")
    pack = write_pack(
        tmp_path / "typo",
        {
            "g": general,
            "s": rule_yaml("specific-ping", SPECIFIC),
            "b": rule_yaml("bottom", SPECIFIC),
        },
    )
    (found,) = problems_of(pack)
    line = general.splitlines().index("  - specific-pign") + 1
    assert found == (
        f"{pack / 'g.yaml'}:{line}: defers_to[1]: no rule 'specific-pign' "
        "(did you mean specific-ping?)"
    )


def test_a_cycle_is_reported_once_with_its_path(tmp_path: Path) -> None:
    a = rule_yaml("rule-a", GENERAL, "defers_to: [rule-b]\n")
    b = rule_yaml("rule-b", GENERAL, "defers_to: [rule-c]\n")
    c = rule_yaml("rule-c", GENERAL, "defers_to: [rule-a]\n")
    pack = write_pack(tmp_path / "cycle", {"a": a, "b": b, "c": c})
    (found,) = problems_of(pack)
    line = a.splitlines().index("defers_to: [rule-b]") + 1
    assert found == (
        f"{pack / 'a.yaml'}:{line}: defers_to[0]: a cycle (rule-a -> rule-b -> rule-c -> "
        "rule-a): no rule can defer to itself"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[general-1011]", "defers_to[0]: a rule cannot defer to itself"),
        ("[specific-ping, specific-ping]", "defers_to[1]: 'specific-ping' is listed twice"),
        ("[Not An Id]", "defers_to[0]: a rule id (lower-case words joined by '-')"),
        ("[]", "defers_to: defers_to must be a non-empty list of rule ids"),
        ("specific-ping", "defers_to: defers_to must be a non-empty list of rule ids"),
    ],
)
def test_the_shape_of_defers_to_is_checked(tmp_path: Path, value: str, message: str) -> None:
    general = rule_yaml("general-1011", GENERAL, f"defers_to: {value}\n")
    pack = write_pack(tmp_path / "shape", {"g": general, "s": rule_yaml("specific-ping", SPECIFIC)})
    assert [p.split(": ", 1)[1] for p in problems_of(pack)] == [message]


def test_a_broken_rule_deferred_to_is_not_also_unknown(tmp_path: Path) -> None:
    general = rule_yaml("general-1011", GENERAL, "defers_to: [specific-ping]\n")
    broken = rule_yaml("specific-ping", SPECIFIC).replace("severity: medium", "severity: huge")
    pack = write_pack(tmp_path / "broken", {"g": general, "s": broken})
    (found,) = problems_of(pack)
    assert "severity: 'huge' is not one of" in found


def test_validate_names_the_problem_and_accepts_deferring_to_a_builtin_rule(
    tmp_path: Path,
) -> None:
    typo = rule_yaml("my-idle", GENERAL, "defers_to: [idle-befor-1011]\n")
    bad = run_cli("rules", "validate", write_pack(tmp_path / "bad", {"r": typo}))
    assert bad.returncode == 2
    assert "defers_to[0]: no rule 'idle-befor-1011' (did you mean idle-before-1011?)" in (
        bad.stderr
    )
    good = rule_yaml("my-idle", GENERAL, "defers_to: [idle-before-1011]\n")
    done = run_cli("rules", "validate", write_pack(tmp_path / "good", {"r": good}))
    assert done.returncode == 0, done.stderr
    assert "ok: 1 rule(s)" in done.stdout


# -- aggregate aliases belong to their rule ----------------------------------------------------


def alias_rule(rule_id: str, opcode: str) -> str:
    when = f"frames:\n  where: {{field: opcode, eq: {opcode}}}\n  count: {{ge: 2}}\n  as: picked\n"
    tests = (
        "  - features: {picked_count: 2}\n    hit: true\n"
        "  - features: {picked_count: 1}\n    hit: false\n"
    )
    return rule_yaml(rule_id, when, tests=tests).replace(
        "summary: The server closed with {{ close_server_code }}.",
        "summary: '{{ picked_count }} frames from {{ picked_first_frame | frame }}.'",
    )


def test_two_rules_may_use_one_alias_for_different_selections(tmp_path: Path) -> None:
    pack = write_pack(
        tmp_path / "alias",
        {"t": alias_rule("two-texts", "text"), "b": alias_rule("two-bins", "binary")},
    )
    rules = load_rules([pack], builtin=False)
    frames = pl.DataFrame(
        {
            "session": ["s1"] * 3,
            "opcode": ["text", "text", "binary"],
            "frame": [4, 6, 9],
            "time": pl.Series([1, 2, 3]).cast(pl.Datetime("ns", "UTC")),
        }
    )
    frames = pl.concat([FRAMES.empty(), frames], how="diagonal_relaxed")
    tables = {"frames": frames, "anomalies": ANOMALIES.empty()}
    found = evaluate(rules, sessions({}), tables)
    assert [(f["rule"], f["summary"]) for f in found] == [("two-texts", "2 frames from #4.")]


def test_a_case_may_name_only_its_own_aliases(tmp_path: Path) -> None:
    other = alias_rule("two-texts", "text").replace("picked_count: 1}", "elsewhere_count: 1}")
    found = problems_of(write_pack(tmp_path / "own", {"t": other}))
    assert [p.split(": ", 2)[1:] for p in found] == [
        ["tests[1].features.elsewhere_count", "unknown feature"]
    ]


# -- test cases with params -------------------------------------------------------------------


WINDOW = "feature: client_quiet_before_server_close_s\nge: {param: window_s}\n"


def window_rule(tests: str) -> str:
    return rule_yaml("quiet-window", WINDOW, "params:\n  window_s: 10\n", tests=tests)


def test_a_case_sets_params_for_itself(tmp_path: Path) -> None:
    tests = (
        "  - features: {client_quiet_before_server_close_s: 11.0}\n    hit: true\n"
        "  - features: {client_quiet_before_server_close_s: 11.0}\n"
        "    params: {window_s: 12}\n    hit: false\n"
    )
    (rule,) = load_rules([write_pack(tmp_path / "p", {"w": window_rule(tests)})], builtin=False)
    assert rule.tests[1].params == {"window_s": 12}
    assert [run_case(rule, case, SAMPLES).passed for case in rule.tests] == [True, True]
    assert rule.params == {"window_s": 10}  # the case's params are its own


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{window: 12}", "tests[1].params.window: unknown param (the rule has: window_s)"),
        ("{window_s: twelve}", "tests[1].params.window_s: must be like its default 10"),
        ("{window_s: .inf}", "tests[1].params.window_s: inf is not a finite number"),
        ("[12]", "tests[1].params: params must map some of the rule's params to values"),
    ],
)
def test_case_params_are_checked_against_the_rule(
    tmp_path: Path, params: str, message: str
) -> None:
    tests = (
        "  - features: {client_quiet_before_server_close_s: 11.0}\n    hit: true\n"
        f"  - features: {{client_quiet_before_server_close_s: 1.0}}\n    params: {params}\n"
        "    hit: false\n"
    )
    found = problems_of(write_pack(tmp_path / "bad", {"w": window_rule(tests)}))
    assert [p.split(": ", 1)[1] for p in found] == [message]


# -- rationale, false positives and tags on findings -------------------------------------------


def test_findings_carry_the_rules_rationale_false_positives_and_tags(tmp_path: Path) -> None:
    rules = load_rules([pair_pack(tmp_path)], builtin=False)
    (found,) = evaluate(rules, sessions(GENERAL_ONLY), EMPTY)
    assert found["rationale"].startswith("The reason says so. A *second* sentence")
    assert not found["rationale"].endswith("\n")
    assert found["false_positives"] == ["A relay that rewrites reasons <i>in transit</i>."]
    assert found["tags"] == ["test", "precedence"]


def test_html_incident_shows_the_rationale_once_per_rule_and_inert(tmp_path: Path) -> None:
    """Two incidents of one rule (two timers, say): the first writes out the rule's
    reasoning, with the rule's markup rendered and raw HTML inert; the second links to it."""
    rules = load_rules([pair_pack(tmp_path)], builtin=False)
    found = evaluate(rules, sessions(GENERAL_ONLY, GENERAL_ONLY), EMPTY)
    incidents = []
    for n, f in enumerate(found, 1):
        f.update(fingerprint=f"p{n}", explained_by=None, incident=f"i{n}")
        incidents.append(
            {
                **{k: f[k] for k in ("rule", "category", "severity", "confidence", "fix")},
                "id": f"i{n}",
                "cause": "the server closed with 1011",
                "sessions": [f["session"]],
                "connections": 1,
                "first": None,
                "last": None,
                "measure": None,
                "every_s": None,
                "findings": [f"p{n}"],
            }
        )
    first, second = html_incidents.incident_views(incidents, html_findings.Cards(found, {}, {}))
    assert "<b>" not in first["why"] and "&lt;b&gt;with markup&lt;/b&gt;" in first["why"]
    assert "<em>second</em>" in first["why"] and "<code>code</code>" in first["why"]
    assert "&lt;i&gt;in transit&lt;/i&gt;" in first["false_positives"][0]
    assert (first["same_why_as"], second["same_why_as"], second["why"]) == ("i1", "i1", "")


def test_markdown_says_why_in_one_line(tmp_path: Path) -> None:
    rules = load_rules([pair_pack(tmp_path)], builtin=False)
    found = evaluate(rules, sessions(GENERAL_ONLY), EMPTY)
    lines = markdown_findings.top_findings(found, 40)
    assert lines[4:7] == [
        "The server closed with 1011.",
        "",
        "_Why we think so:_ The reason says so.",
    ]
    # only in lines the comment has left over: with 9, all go to the title, summary and fix
    assert markdown_findings.top_findings(found, 9) == [*lines[:5], *lines[7:]]
    assert markdown_findings._why("Uses `a. B` inside code. Then more.") == (
        "_Why we think so:_ Uses `a. B` inside code."
    )
    assert markdown_findings._why("Raw <b>html</b> | pipes. Next.") == (
        "_Why we think so:_ Raw \\<b\\>html\\</b\\> \\| pipes."
    )
