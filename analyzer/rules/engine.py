"""Rules x sessions -> findings: every condition in one vectorised pass, then text.

All `when` trees compile into one `select` over the session table, so the cost of a
pack grows with its size, not with sessions x rules in Python; then each rule's
`defers_to` removes the sessions a rule it defers to fired on (precedence.py). Templates
are rendered only for the (session, rule) pairs that fired.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import polars as pl

from analyzer.rules import precedence
from analyzer.rules.compiler import aggregate_exprs, compile_condition, params_used
from analyzer.rules.condition import AGG_COLUMNS, Aggregate
from analyzer.rules.model import Rule
from analyzer.rules.sandbox import RenderError
from analyzer.rules.templates import RENDERER, Renderer, markdown_escape, whose_log


def own_columns(rule: Rule) -> dict[str, str]:
    """The columns of a rule's aggregate aliases (`keepalive_count`, ...) -> where the
    session table holds them for this rule: an alias belongs to its rule, so two rules
    may use one name for different selections, or the same selection with other params."""
    return {
        f"{agg.alias}_{c}": f"{rule.id}/{agg.alias}_{c}"
        for agg in rule.aggregates
        for c in AGG_COLUMNS
    }


def with_aggregates(
    rules: Iterable[Rule], sessions: pl.DataFrame, tables: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """Every rule's aggregate columns joined under the rule's id (`own_columns`): one
    `group_by` per table for all the selections on it. A selection several rules make
    alike is computed once. A column the session table already has under the plain name
    (a test's hand-written row) is taken as given."""
    # what a selection is (table, where, the params it reads) -> (it, its params, columns)
    wanted: dict[str, tuple[Aggregate, dict[str, Any], list[tuple[str, str]]]] = {}
    given = []
    for rule in rules:
        for agg in rule.aggregates:
            used = {p: rule.params[p] for p in sorted(params_used(agg.where))}
            key = repr((agg.table, agg.where, used))
            for c in AGG_COLUMNS:
                plain, own = f"{agg.alias}_{c}", f"{rule.id}/{agg.alias}_{c}"
                if plain in sessions.columns:
                    given.append(pl.col(plain).alias(own))
                else:
                    wanted.setdefault(key, (agg, rule.params, []))[2].append((c, own))
    out = sessions.with_columns(given) if given else sessions
    by_table: dict[str, list[pl.Expr]] = {}
    copies = []  # the same selection made by another rule: the first rule's column
    for agg, params, names in wanted.values():
        first: dict[str, str] = {}
        for c, own in names:
            if c in first:
                copies.append(pl.col(first[c]).alias(own))
            else:
                first[c] = own
        by_table.setdefault(agg.table, []).extend(aggregate_exprs(agg, params, first))
    for table, exprs in by_table.items():
        cols = tables[table].group_by("session").agg(exprs).rename({"session": "id"})
        out = out.join(cols, on="id", how="left", maintain_order="left")
    return out.with_columns(copies) if copies else out


def match(rules: list[Rule], sessions: pl.DataFrame) -> pl.DataFrame:
    """One boolean column per rule id, one row per session (column `id` first): whether
    the rule fires there, its `defers_to` applied (analyzer/rules/precedence.py)."""
    exprs = [
        (
            compile_condition(r.when, r.params, own_columns(r)) & pl.col("source").is_in(r.sources)
        ).alias(r.id)
        for r in rules
    ]
    return precedence.apply(sessions.select(pl.col("id"), *exprs), rules)


def evaluate(
    rules: list[Rule],
    sessions: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    warnings: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Findings (contract shape, in rule order per session) for every matched pair; a
    template that fails is reported in `warnings`, once per rule and field."""
    if not rules or sessions.height == 0:
        return []
    enriched = with_aggregates(rules, sessions, tables)
    masks = match(rules, enriched)
    hit = pl.any_horizontal([pl.col(r.id) for r in rules])
    pairs = masks.filter(hit).unpivot(index="id", variable_name="rule").filter(pl.col("value"))
    by_id = {r.id: r for r in rules}
    renderer = RENDERER
    fired = [by_id[r] for r in pairs["rule"].unique()]
    needed = {"id"} | {n for r in fired for n in _names(r, renderer) if n in enriched.columns}
    chosen = enriched.select(sorted(needed)).filter(masks.select(hit).to_series())
    rows = {r["id"]: r for r in chosen.to_dicts()}
    failed: dict[tuple[str, str], str] = {}
    found = [
        finding(by_id[rule_id], rows[session], renderer, failed)
        for session, rule_id in pairs.select("id", "rule").iter_rows()
    ]
    if warnings is not None:
        warnings += failed.values()
    return found


# The session's most telling log line, cited by every finding whose rule cites none itself:
# a finding about a connection a log also describes always points at that line.
LOG_CITATION = ("log_source", "log_source_time", "log_source_side", "log_source_text")


def _names(rule: Rule, renderer: Renderer) -> set[str]:
    """Every session column the rule's text can read: template names, evidence pointers
    (its aggregate aliases under the names the table holds them by)."""
    texts = [rule.summary, rule.fix, *(e.text for e in rule.evidence)]
    names = {n for t in texts for n in renderer.names(t)}
    names |= {p for e in rule.evidence for p in (e.frame, e.time, e.log) if p}
    own = own_columns(rule)
    return {own.get(n, n) for n in names} | set(LOG_CITATION)


def finding(
    rule: Rule, row: dict[str, Any], renderer: Renderer, failed: dict[tuple[str, str], str]
) -> dict[str, Any]:
    own = {plain: row[name] for plain, name in own_columns(rule).items() if name in row}
    values = {**row, **own, **rule.params}
    text = functools.partial(_render, rule, values, renderer, failed)
    return {
        "rule": rule.id,
        "category": rule.category,
        "severity": rule.severity,
        "confidence": rule.confidence,
        "session": row["id"],
        "title": rule.title,
        "summary": " ".join(text("summary", rule.summary).split()),
        "evidence": _evidence(rule, values, text),
        "fix": text("fix", rule.fix),
        "references": list(rule.references),
        "rationale": rule.rationale.strip(),
        "false_positives": list(rule.false_positives),
        "tags": list(rule.tags),
    }


# What a finding says instead of a template that failed for its session.
FALLBACK = {
    "summary": "{title} (the rule's summary could not be written for this session)",
    "fix": "The rule's fix text could not be written for this session; see the run's warnings.",
    "evidence": "(this evidence text could not be written for this session)",
}


def _render(
    rule: Rule,
    values: dict[str, Any],
    renderer: Renderer,
    failed: dict[tuple[str, str], str],
    field: str,
    template: str,
) -> str:
    """The template's text, or FALLBACK and a warning naming the rule's file:line: one
    rule's template failing on one session's values must not end the whole run."""
    try:
        return renderer.render(template, values)
    except RenderError as exc:
        failed.setdefault(
            (rule.id, field),
            f"{rule.path}:{rule.line}: rule {rule.id}: the {field} template failed for "
            f"session {values.get('id')} ({exc}); the finding shows a fallback text",
        )
        return FALLBACK[field].format(title=rule.title)


def _evidence(
    rule: Rule, values: dict[str, Any], text: Callable[[str, str], str]
) -> list[dict[str, Any]]:
    out = []
    for item in rule.evidence:
        frame = values.get(item.frame) if item.frame else None
        time = values.get(item.time) if item.time else None
        log = values.get(item.log) if item.log else None
        if (item.frame or item.time or item.log) and frame is None and time is None and not log:
            continue  # it points at something this session does not have
        entry = {
            "time": _iso(time),
            "frame": frame,
            "text": " ".join(text("evidence", item.text).split()),
        }
        if log:
            entry["log"] = log  # "file:line" of the log line this rests on
        out.append(entry)
    if values.get("log_source") and not any("log" in e for e in out):
        out.append(_log_citation(values))
    return sorted(out, key=lambda e: (e["time"] is None, e["time"] or "", e["frame"] or 0))


def _log_citation(values: dict[str, Any]) -> dict[str, Any]:
    text = " ".join(str(values.get("log_source_text") or "").split())
    text = text if len(text) <= 200 else text[:199] + "…"
    return {
        "time": _iso(values.get("log_source_time")),
        "frame": None,
        "text": f"{whose_log(values.get('log_source_side'))}: {markdown_escape(text)}",
        "log": values["log_source"],
    }


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):  # isoformat is several times faster than strftime
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return None
