"""The findings of a ticket comment: one block per cause, most severe first.

Each block is a rule's finding: title, summary, the evidence rows (time, frame or log
line, text) of its first sessions and its whole fix as the rule rendered it (a rule's fix
template already picks the proxies a measured timer fits); a lesser block is cut to its
fix's first paragraph, then to a count, when the ticket's line budget runs short.
"""

from __future__ import annotations

import re
from functools import cmp_to_key
from typing import Any

from analyzer.report import markup, verdict
from analyzer.report.markdown_text import (
    MAX_PARAGRAPH,
    cut_markdown,
    escape,
    escape_outside_code,
    first_paragraph,
    fix_lines,
    for_proxies,
    seen_in,
)
from analyzer.rules.templates import code_span

MAX_TOP_FINDINGS = 5  # distinct rules shown (most severe first) while the budget lasts
MAX_EVIDENCE_SESSIONS = 2  # sessions of one rule whose evidence rows are listed
MAX_IDS = 6  # session ids a block's head names before "+N more" (as an incident's line)
# Where a sentence of rule prose ends: after . ! ? and before a capital, a digit or code.
SENTENCE_END = re.compile(r"(?<=[.!?])\s(?=[A-Z0-9`(])")


def top_findings(
    findings: list[dict[str, Any]], room: int, seen: dict[str, set[str]] | None = None
) -> list[str]:
    """One block per cause (an incident, or a rule for findings in none), most severe
    first. The first block is always whole (its fix is what the ticket is for); later
    ones are whole while the budget lasts, then cut to their fix's first paragraph, then
    left to the "… and N more" line. Symptoms a cause explains are one line of its block.
    `seen`: the proxies each session's Server/Via headers name (session id -> kinds)."""
    if not findings:
        return ["No findings: no rule fired.", ""] if room >= 2 else []
    groups, folded = _by_cause(findings)
    lines = ["#### Findings", ""]
    whys = []  # (index of a block's summary line, why line)
    shown = 0
    for group in groups[:MAX_TOP_FINDINGS]:
        left = room - len(lines) - 2  # keep room for the "… and N more" line
        also = _also_seen(folded.get(_cause(group[0]), []))
        block = _finding(group, True, seen or {}, also)
        if shown and len(block) + 1 > left:
            block = _finding(group, False, seen or {}, also)
        if shown and len(block) + 1 > left:
            break
        whys.append((len(lines) + 2, _why(group[0].get("rationale") or "")))
        lines += [*block, ""]
        shown += 1
    if len(groups) > shown:
        more = sum(len(g) + len(folded.get(_cause(g[0]), [])) for g in groups[shown:])
        lines += [f"… and {more} more finding(s); the HTML report has every fix.", ""]
    # In the lines left over, each block's "why" under its summary, first blocks first.
    spare = max(0, room - len(lines)) // 2
    chosen = [(at, why) for at, why in whys if why][:spare]
    for at, why in reversed(chosen):
        lines[at + 1 : at + 1] = ["", why]
    return lines


def _by_cause(
    findings: list[dict[str, Any]],
) -> tuple[list[list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """(the blocks: findings grouped by cause, in the incidents' order, then the verdict's
    (most severe, most confident, causes before symptoms), so a budget drops the least
    severe first; per
    cause, the symptoms folded under it). A finding folded under one of the same rule
    (the other leg of a proxied connection) is the same cause: it joins the block."""
    by_print = {f.get("fingerprint"): f for f in findings}
    groups: dict[str, list[dict[str, Any]]] = {}
    folded: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        root = by_print.get(f.get("explained_by"))
        into = groups if root is None or root["rule"] == f["rule"] else folded
        into.setdefault(_cause(f), []).append(f)
    ranked = sorted(groups.values(), key=cmp_to_key(_before))
    return sorted(ranked, key=lambda g: _incident_rank(g[0])), folded


def _incident_rank(finding: dict[str, Any]) -> float:
    """Blocks follow the incidents' order (i1 first), then findings in no incident."""
    incident = finding.get("incident")
    return int(incident[1:]) if incident else float("inf")


def _cause(finding: dict[str, Any]) -> str:
    return finding.get("incident") or f"rule {finding['rule']}"


def _also_seen(symptoms: list[dict[str, Any]]) -> str:
    """The symptoms a block's cause explains, one rule each: title, id, sessions."""
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in symptoms:
        by_rule.setdefault(f["rule"], []).append(f)
    parts = [
        f"{escape(g[0]['title'])} (`{rule}`; {escape(_ids([str(f['session']) for f in g]))})"
        for rule, g in by_rule.items()
    ]
    return f"_Also seen, explained by this cause:_ {'; '.join(parts)}" if parts else ""


def _before(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    """-1 when group `a`'s worst finding outranks `b`'s as `verdict.worst` ranks, 0 on a tie."""
    first, second = verdict.worst([*a, *b]), verdict.worst([*b, *a])
    if first is second:
        return -1 if first in a else 1
    return 0


def _why(rationale: str) -> str:
    """The first sentence of the rule's rationale (its first paragraph, cut), as one line:
    why the evidence means what the title says."""
    para = " ".join(rationale.strip().split("\n\n", 1)[0].split())
    spans = markup.code_spans(para)
    ends = (m.start() for m in SENTENCE_END.finditer(para))
    end = next((e for e in ends if not any(a < e < z for a, z in spans)), len(para))
    sentence = cut_markdown(para[:end], MAX_PARAGRAPH)
    return f"_Why we think so:_ {escape_outside_code(sentence)}" if sentence else ""


def _finding(
    group: list[dict[str, Any]], whole: bool, seen: dict[str, set[str]], also: str = ""
) -> list[str]:
    """Title, summary, evidence rows, fix: the whole fix (for the proxies `seen` in its
    sessions' headers when it has settings for them), or (`whole` False, when the budget
    is short) its first paragraph."""
    f = group[0]
    sessions = _ids([str(g["session"] or "capture") for g in group])
    head = f"**{f['severity'].upper()}** {escape(f['title'])} (`{f['rule']}`; {escape(sessions)})"
    block = [head, "", escape_outside_code(" ".join(f["summary"].split()))]
    block += ["", also] if also else []
    block += _evidence(group)
    fix = f.get("fix") or ""
    if whole and fix.strip():
        return [*block, "", "Fix:", "", *for_proxies(fix_lines(fix), seen_in(group, seen))]
    if whole:
        return block
    para = first_paragraph(fix)
    return [*block, "", f"Fix (first part; the HTML report has it whole): {para}"]


def _evidence(group: list[dict[str, Any]]) -> list[str]:
    """Each finding's evidence rows, for the first few sessions of the group."""
    lines = []
    for f in group[:MAX_EVIDENCE_SESSIONS]:
        rows = [_evidence_row(e) for e in f.get("evidence") or []]
        if rows:
            lines += ["", f"Evidence ({escape(f['session'] or 'capture')}):", "", *rows]
    if len(group) > MAX_EVIDENCE_SESSIONS:
        lines += ["", f"(evidence of {len(group) - MAX_EVIDENCE_SESSIONS} more sessions: JSON)"]
    return lines


def _evidence_row(e: dict[str, Any]) -> str:
    """`time` · frame #N or the log's file:line · the rule's text."""
    time = code_span(e["time"][11:23]) if e.get("time") else "—"
    if e.get("frame") is not None:
        where = f"frame #{e['frame']}"
    elif e.get("log"):
        where = code_span(str(e["log"]).rsplit("/", 1)[-1])
    else:
        where = "—"
    return f"- {time} · {where} · {escape_outside_code(' '.join(str(e['text']).split()))}"


def _ids(sessions: list[str]) -> str:
    """The first MAX_IDS distinct session ids, then how many more."""
    ids = list(dict.fromkeys(sessions))
    more = f" +{len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else ""
    return ", ".join(ids[:MAX_IDS]) + more
