"""What `wsdoctor analyze` prints for the person at the terminal, ruff-style: one line per
finding (severity, where: the session and the frame or log line that proves it, rule,
summary), the incidents they add up to, and one closing count line.

A symptom folded under its root cause (`explained_by`: a proxy's idle teardown explains
the missing close) is left out unless verbose: the report has it, the terminal shows the
cause once. Verbose also prints each summary in full below its row.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from analyzer import incidents
from analyzer.findings import RANK
from analyzer.pipeline import Analysis
from analyzer.report import markup, terminal
from analyzer.report.outputs import visible_line
from analyzer.report.tables import Column, fmt
from analyzer.rules.model import SEVERITIES

FINDING_COLUMNS = (
    Column("SEVERITY"),
    Column("WHERE"),
    Column("RULE", keep=40),
    Column("SUMMARY", keep=50, free=True, least=32, most=None),
)
INDENT = "    "
MAX_INCIDENTS = 5
_GLUE = "\x00"  # holds "3 high" together while the count line is wrapped


@dataclass(frozen=True)
class View:
    """How to print: the terminal's width (None: no limit), colour, verbosity, and the
    least severity of the findings listed (None: all)."""

    width: int | None = None
    colour: bool = False
    verbose: bool = False
    least: str | None = None


def proof(finding: dict[str, Any]) -> str:
    """The first evidence row that points somewhere: a capture frame (`#60`) or a log
    line (`nginx-error.log:7`); "" when every row is a computed fact."""
    for row in finding.get("evidence") or []:
        if row.get("frame") is not None:
            return f"#{row['frame']}"
        if row.get("log"):
            return PurePath(str(row["log"])).name
    return ""


def where(finding: dict[str, Any]) -> str:
    return " ".join(p for p in (finding["session"] or "capture", proof(finding)) if p)


def folded(finding: dict[str, Any]) -> bool:
    return bool(finding.get("explained_by"))


def listed(findings: Sequence[dict[str, Any]], view: View) -> list[dict[str, Any]]:
    """The findings the table shows: symptoms only when verbose, none below `least`."""
    floor = RANK[view.least] if view.least else 0
    return [f for f in findings if RANK[f["severity"]] >= floor and (view.verbose or not folded(f))]


def findings_table(findings: Sequence[dict[str, Any]], view: View) -> str:
    """One row per finding. Verbose rows carry the title (and, for a symptom, its cause)
    with the whole summary wrapped below; otherwise the summary is the row's text."""
    if not findings:
        return ""
    summaries = [_summary(f) for f in findings]
    causes = {f["fingerprint"]: f for f in findings if "fingerprint" in f}
    rows = [
        [f["severity"], where(f), f["rule"], _headline(f, s, causes, view.verbose)]
        for f, s in zip(findings, summaries, strict=True)
    ]
    header, *lines = fmt(FINDING_COLUMNS, rows, view.width).splitlines()
    out = [terminal.style(header, view.colour, "2")]
    for f, line, text in zip(findings, lines, summaries, strict=True):
        sev = f["severity"]
        out.append(terminal.severity(sev, sev, view.colour) + line[len(sev) :])
        if view.verbose:
            out += _wrapped(text, view.width)
    return "\n".join(out) + "\n"


def _headline(
    finding: dict[str, Any], summary: str, causes: dict[str, dict[str, Any]], verbose: bool
) -> str:
    if not verbose:
        return summary
    title = visible_line(markup.plain(finding.get("title") or ""))
    if not folded(finding):
        return title
    cause = causes.get(finding["explained_by"])
    named = f"{cause['rule']} ({cause['session']})" if cause else "its cause"
    return f"↳ symptom of {named}: {title}"


def _summary(finding: dict[str, Any]) -> str:
    """The summary as a reader sees it once its Markdown is rendered (no `\\_`)."""
    return visible_line(markup.plain(finding.get("summary") or finding.get("title") or ""))


def _wrapped(text: str, width: int | None, first: str = INDENT, rest: str = INDENT) -> list[str]:
    """`text` in lines that fit the width (wrapped here, so the terminal never does)."""
    if width is None:
        return [first + text]
    return textwrap.wrap(
        text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def summary(result: Analysis, view: View, files: list[str]) -> str:
    """Everything `analyze` lists: the findings, then the incidents and the count line
    last, so that after a thousand rows the answer is still on screen."""
    shown = listed(result.findings, view)
    return findings_table(shown, view) + incident_lines(result, view) + totals(result, view, files)


def incident_lines(result: Analysis, view: View) -> str:
    """The incidents, most severe and largest first, each wrapped under its id: the first
    MAX_INCIDENTS unless verbose (the verdict names no more either)."""
    every = result.incidents
    chosen = [i for i in every if not view.least or RANK[i["severity"]] >= RANK[view.least]]
    kept = chosen if view.verbose else chosen[:MAX_INCIDENTS]
    if not kept:
        return ""
    out = [terminal.style(f"INCIDENTS ({len(chosen)})", view.colour, "2")]
    for incident in kept:
        sev = incident["severity"]
        head = f"{incident['id']:<4}{sev:<9}"
        text = visible_line(markup.plain(incidents.line(incident)))
        lines = _wrapped(text, view.width, head, " " * len(head))
        out.append(lines[0].replace(sev, terminal.severity(sev, sev, view.colour), 1))
        out += lines[1:]
    if len(kept) < len(chosen):
        out.append(f"+{len(chosen) - len(kept)} more incident(s) (--verbose lists them)")
    return "\n".join(out) + "\n"


def totals(result: Analysis, view: View, files: list[str]) -> str:
    """The closing line: sessions, findings by severity, what was left out, where it went.
    Wrapped before it is coloured (colour codes take no room), each count kept whole."""
    counts = {s: sum(f["severity"] == s for f in result.findings) for s in reversed(SEVERITIES)}
    tokens = {f"{n:,}{_GLUE}{s}": s for s, n in counts.items() if n}
    found = f"{len(result.findings):,} finding(s) ({', '.join(tokens)})"
    left = []
    if symptoms := 0 if view.verbose else sum(folded(f) for f in result.findings):
        left.append(f"{symptoms} folded under their cause (-v lists them)")
    floor = RANK[view.least] if view.least else 0
    if below := sum(RANK[f["severity"]] < floor for f in result.findings):
        left.append(f"{below} below {view.least} not listed")
    where_to = f" -> {', '.join(files)}" if files else ""
    line = f"{result.data.sessions.height:,} session(s), "
    line += (found if result.findings else "no finding") + "".join(f"; {x}" for x in left)
    text = "\n".join(_wrapped(line + where_to, view.width, "", "  ")) + "\n"
    for token, level in tokens.items():
        text = text.replace(token, terminal.severity(token.replace(_GLUE, " "), level, view.colour))
    return text
