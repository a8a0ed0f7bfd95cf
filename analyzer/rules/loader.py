"""Rule packs from disk: every *.yaml under each directory, checked as one set.

The built-in pack is the repository's `rules/` (package data once installed); `--rules DIR`
(or a config file) adds more. Problems from all files are gathered before failing, so an
author fixes a pack in one round instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from analyzer import resources
from analyzer.errors import InputError, PackError
from analyzer.rules import checked, precedence
from analyzer.rules.condition import Problem
from analyzer.rules.model import Rule
from analyzer.rules.parse import parse_rule
from analyzer.yamlsource import read_or_problems

# Log pattern packs live beside the rules, in a pack's `logs/` folder, but are not rules.
LOGS = "logs"


def rule_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError("no such rule file or directory", source=str(path))
    found = (p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return sorted(p for p in found if (path / LOGS) not in p.parents)


def log_pack_dirs(paths: list[Path]) -> list[Path]:
    """The `logs/` folders of the given rule packs: their log pattern packs."""
    return [p / LOGS for p in paths if (p / LOGS).is_dir()]


def load_rules(paths: list[Path], builtin: bool = True, known: Iterable[Rule] = ()) -> list[Rule]:
    """All rules of the packs, or PackError listing every problem found. `known`: rules
    loaded besides these that their `defers_to` may name (the built-in pack, when
    `rules validate` checks another pack alone)."""
    packs = [resources.rules_dir()] if builtin else []
    files = [f for p in packs + paths for f in rule_files(p)]
    rules, problems, unread, passed = [], [], set(), []
    before = checked.remembered()
    for file in files:
        rule, found, rule_id, text = _load_one(file, before)
        problems += found
        if rule is not None:
            rules.append(rule)
            passed.append(text)
        elif isinstance(rule_id, str):
            unread.add(rule_id)  # its own problems are listed; naming it is not one more
    problems += _duplicate_ids(rules) + precedence.problems(rules, known, unread)
    if problems:
        raise PackError(f"{len(problems)} problem(s) in the rule pack(s)", problems=tuple(problems))
    checked.remember(before, passed)
    return rules


def _load_one(file: Path, before: set[str]) -> tuple[Rule | None, list[str], object, str]:
    """The rule, or its problems and the `id` its file gives (if any); the digest of its
    text. `before`: the digests of texts that passed every check (analyzer/rules/checked.py)."""
    source, unreadable = read_or_problems(file)
    if source is None:
        return None, unreadable, None, ""
    text = checked.digest(source.text)
    rule, problems = parse_rule(source, checked=text in before)
    rule_id = source.data.get("id") if isinstance(source.data, dict) else None
    return rule, [_format(file, source.line(p.where), p) for p in problems], rule_id, text


def _format(file: Path, line: int, problem: Problem) -> str:
    field = ".".join(str(w) if isinstance(w, str) else f"[{w}]" for w in problem.where)
    field = field.replace(".[", "[")
    return f"{file}:{line}: {field or '(file)'}: {problem.message}"


def _duplicate_ids(rules: list[Rule]) -> list[str]:
    seen: dict[str, Rule] = {}
    out = []
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            out.append(
                f"{rule.path}:{rule.line}: id: duplicate id {rule.id!r} "
                f"(first defined in {first.path}:{first.line})"
            )
        seen.setdefault(rule.id, rule)
    return out
