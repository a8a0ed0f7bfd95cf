"""Rules x sessions -> findings: every condition in one vectorised pass, then text.

All `when` trees compile into one `select` over the session table, so the cost of a
pack grows with its size, not with sessions x rules in Python. Templates are rendered
only for the (session, rule) pairs that matched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import polars as pl

from analyzer.rules.condition import AGG_COLUMNS, aggregate_columns, compile_condition
from analyzer.rules.model import Rule
from analyzer.rules.sandbox import RenderError
from analyzer.rules.templates import RENDERER, Renderer, markdown_escape, whose_log


def with_aggregates(
    rules: Iterable[Rule], sessions: pl.DataFrame, tables: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """Join each aggregate leaf's per-session columns; columns a test row set are kept."""
    out = sessions
    for rule in rules:
        for agg in rule.aggregates:
            if all(f"{agg.alias}_{c}" in out.columns for c in AGG_COLUMNS):
                continue  # another rule (or the test row) already provided them
            cols = aggregate_columns(agg, tables[agg.table], rule.params)
            missing = [c for c in cols.columns if c != "session" and c not in out.columns]
            if missing:
                joined = cols.select("session", *missing).rename({"session": "id"})
                out = out.join(joined, on="id", how="left")
    return out


def match(rules: list[Rule], sessions: pl.DataFrame) -> pl.DataFrame:
    """One boolean column per rule id, one row per session (column `id` first)."""
    exprs = [
        (compile_condition(r.when, r.params) & pl.col("source").is_in(r.sources)).alias(r.id)
        for r in rules
    ]
    return sessions.select(pl.col("id"), *exprs)


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
LOG_CITATION = ("log_source", "log_first_time", "log_source_side", "log_source_text")


def _names(rule: Rule, renderer: Renderer) -> set[str]:
    """Every session column the rule's text can read: template names, evidence pointers."""
    texts = [rule.summary, rule.fix, *(e.text for e in rule.evidence)]
    names = {n for t in texts for n in renderer.names(t)}
    return (
        names
        | {p for e in rule.evidence for p in (e.frame, e.time, e.log) if p}
        | set(LOG_CITATION)
    )


def finding(
    rule: Rule, row: dict[str, Any], renderer: Renderer, failed: dict[tuple[str, str], str]
) -> dict[str, Any]:
    values = {**row, **rule.params}
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
        "time": _iso(values.get("log_first_time")),
        "frame": None,
        "text": f"{whose_log(values.get('log_source_side'))}: {markdown_escape(text)}",
        "log": values["log_source"],
    }


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):  # isoformat is several times faster than strftime
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return None
