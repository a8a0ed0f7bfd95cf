"""Rule precedence as data: `defers_to: [ids]` instead of copied `not:` guards.

A rule that defers to others produces no finding for a session on which any of them
produced one. The rules are evaluated in dependency order, so a rule deferred to has its
own deferrals applied first. Only the rules that run count: a rule left out by the
config (`select`, `exclude`) no longer suppresses anything. Unknown ids and cycles are
errors of the pack, reported by `wsdoctor rules validate` with file:line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import polars as pl

from analyzer.rules.model import Rule


def problems(
    rules: list[Rule], known: Iterable[Rule] = (), unread: Iterable[str] = ()
) -> list[str]:
    """`file:line: defers_to[i]: message` for every id that names no rule of `rules` (or
    of `known`, rules loaded besides them, or `unread`, ids of files that failed their
    own checks) and every cycle."""
    by_id = {r.id: r for r in known} | {r.id: r for r in rules}
    named = set(by_id) | set(unread)
    out = []
    for rule in rules:
        for i, (target, line) in enumerate(zip(rule.defers_to, rule.defers_lines, strict=True)):
            if target not in named:
                close = difflib.get_close_matches(target, sorted(by_id), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                out.append(f"{rule.path}:{line}: defers_to[{i}]: no rule {target!r}{hint}")
    mine = {r.id for r in rules}
    for cycle in _cycles(by_id):
        first = next((by_id[i] for i in cycle if i in mine), None)
        if first is not None:
            i = first.defers_to.index(cycle[cycle.index(first.id) + 1])
            out.append(
                f"{first.path}:{first.defers_lines[i]}: defers_to[{i}]: a cycle "
                f"({' -> '.join(_rotated(cycle, first.id))}): no rule can defer to itself"
            )
    return out


def _cycles(by_id: dict[str, Rule]) -> list[list[str]]:
    """One cycle per group of rules that defer to each other in a circle, each as
    [a, b, ..., a]."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    found: dict[frozenset[str], list[str]] = {}
    for root in sorted(by_id):
        if state.get(root):
            continue
        path, stack = [root], [iter(_targets(by_id[root], by_id))]
        state[root] = 1
        while stack:
            target = next(stack[-1], None)
            if target is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                found.setdefault(frozenset(cycle), cycle)
            elif not state.get(target):
                state[target] = 1
                path.append(target)
                stack.append(iter(_targets(by_id[target], by_id)))
    return list(found.values())


def _rotated(cycle: list[str], start: str) -> list[str]:
    ring = cycle[:-1]
    k = ring.index(start)
    return [*ring[k:], *ring[:k], start]


def _targets(rule: Rule, by_id: dict[str, Rule]) -> list[str]:
    return [t for t in rule.defers_to if t in by_id]


def levels(rules: list[Rule]) -> list[list[Rule]]:
    """The rules in dependency order: each level defers only to rules of earlier levels
    (ids of rules that do not run are ignored). ValueError on a cycle, which a loaded
    pack cannot have."""
    active = {r.id for r in rules}
    placed: set[str] = set()
    left, out = list(rules), []
    while left:
        ready = [r for r in left if all(t in placed for t in r.defers_to if t in active)]
        if not ready:
            raise ValueError(f"rule precedence has a cycle among {sorted(r.id for r in left)}")
        out.append(ready)
        placed |= {r.id for r in ready}
        left = [r for r in left if r.id not in placed]
    return out


def apply(masks: pl.DataFrame, rules: list[Rule]) -> pl.DataFrame:
    """Each rule's column (True: it matched the session) with the sessions removed where
    a rule it defers to is True, level by level."""
    active = {r.id for r in rules}
    for level in levels(rules)[1:]:
        masks = masks.with_columns(
            pl.col(r.id) & ~pl.any_horizontal([pl.col(t) for t in r.defers_to if t in active])
            for r in level
        )
    return masks


def deferred(rule: Rule, pack: Iterable[Rule]) -> list[Rule]:
    """The rules of `pack` whose findings decide whether `rule` fires: those it defers
    to, theirs, and so on (to run a rule's test cases as the pack would)."""
    by_id = {r.id: r for r in pack}
    out: dict[str, Rule] = {}
    todo = list(rule.defers_to)
    while todo:
        target = todo.pop()
        if target in out or target == rule.id or target not in by_id:
            continue
        out[target] = by_id[target]
        todo += by_id[target].defers_to
    return list(out.values())
