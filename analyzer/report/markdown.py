"""`--format md`: the report as a ticket comment (GitHub, GitLab, Jira Markdown).

What a reader of a ticket needs: the verdict, every input file, one line per failed
session, then the findings most severe first, each with its evidence rows (time, frame or
log line, text) and its whole fix as the rule rendered it for this session (a rule's fix
template already picks the proxies a measured timer fits: nginx's `proxy_read_timeout` and
an ALB's at 60 s, Envoy's `stream_idle_timeout` at 300 s); when the sessions' Server or
Via headers name a proxy the fix has settings for, the other proxies' settings are left
out and said to be. Then what to attach next time. Sections are `####` headings, so a
section (incidents, say) can slot in between the verdict and the sessions.

Escaping: capture-derived text (close reasons, endpoints) is escaped here so it cannot
inject Markdown or HTML into the tracker; findings' summaries, evidence and fixes are
already Markdown whose capture values the rule templates escaped, so they keep their
markup, and only raw HTML and table pipes outside code are escaped again. Escapes a
tracker does not need are left out: an underscore inside a word (`proxy_read_timeout`)
never starts emphasis, and a file path goes in a code span, where a backslash would show.
"""

from __future__ import annotations

import re
from functools import cmp_to_key
from typing import Any

from analyzer import __version__
from analyzer.pipeline import Analysis
from analyzer.report import markup, verdict
from analyzer.report.json_report import capture_facts
from analyzer.report.markdown_attach import attach
from analyzer.rules.templates import code_span

# A ticket comment, not a report: room for the top findings' evidence and whole fixes.
MAX_LINES = 200
MAX_SESSION_LINES = 8  # failed sessions listed one line each
MAX_TOP_FINDINGS = 5  # distinct rules shown (most severe first) while the budget lasts
MAX_EVIDENCE_SESSIONS = 2  # sessions of one rule whose evidence rows are listed
MAX_PARAGRAPH = 320  # characters of a "why" sentence, or of a fix cut to its first paragraph
MAX_WARNINGS = 3  # capture-quality warnings quoted (each cut to 200 characters)
MAX_TLS_LINES = 3  # server names of TLS connections without keys, one line each
SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
# One optional language word between the fence and the end; no two adjacent `\s*` around
# an optional group, which backtracks quadratically on a long run of spaces.
FENCE = re.compile(r"^\s*(`{3,}|~{3,})(?:[ \t]*([\w+#.-]+))?[ \t]*$")
# A backslash escape (kept as is), or what a tracker would take as raw HTML or a table.
RAW = re.compile(r"(\\.)|([<>|])", re.S)
# An escaped underscore between two word characters: inert in CommonMark/GFM, so the
# backslash is only noise (`proxy\_read\_timeout`, `sample\_captures`).
INTRAWORD = re.compile(r"(?<=[A-Za-z0-9])\\_(?=[A-Za-z0-9])")
# A line of a fix that starts one proxy's settings ("nginx (this leg's ...), per location:",
# "- HAProxy: `timeout tunnel 1h`", "AWS ALB: ..."): the proxy it is for, by its label.
PROXY_ITEM = re.compile(
    r"^(?:- )?(ingress-nginx|nginx|HAProxy|AWS ALB|Classic ELB|CloudFront|Envoy|Squid|"
    r"Cloudflare|Heroku|Google Cloud|Azure)\b[^:(,]{0,40}[:(,]"
)
PROXY_KINDS = {"ingress-nginx": "nginx", "classic elb": "aws alb", "cloudfront": "aws alb"}
# What a Server or Via header says, for the proxies fixes have settings for.
SEEN_AS = {
    "nginx": "nginx",
    "haproxy": "haproxy",
    "envoy": "envoy",
    "squid": "squid",
    "cloudflare": "cloudflare",
    "awselb": "aws alb",
    "heroku": "heroku",
}
# Where a sentence of rule prose ends: after . ! ? and before a capital, a digit or code.
SENTENCE_END = re.compile(r"(?<=[.!?])\s(?=[A-Z0-9`(])")


def escape(text: Any) -> str:
    """Markdown-significant characters backslash-escaped (but an underscore inside a word,
    which starts nothing); newlines folded."""
    flat = " ".join(str(text or "").split())
    return INTRAWORD.sub("_", SPECIAL.sub(r"\\\1", flat))


def render(result: Analysis) -> str:
    judged = verdict.build(result)
    head = _header(result, judged)
    attached = attach(result)
    sessions = _sessions(judged)
    room = MAX_LINES - len(head) - len(sessions) - len(attached)
    found = _top_findings(result.findings, room, _proxies_seen(result))
    lines = head + sessions + found + attached
    return "\n".join(lines).rstrip() + "\n"


def _volume(result: Analysis, facts: dict) -> str:
    """Packets when there is a capture; else how many sessions the logs and HARs gave."""
    if result.data.captures:
        return f"{facts['packets']:,} packets"
    return f"no capture, {result.data.sessions.height} session(s) from logs/HAR files"


def _header(result: Analysis, judged: verdict.Verdict) -> list[str]:
    facts = capture_facts(result.data.captures)
    when = ""
    if facts["start"] and facts["end"]:
        when = f" · {facts['start'][:19].replace('T', ' ')} → {facts['end'][11:19]} UTC"
    lines = [
        f"### wsdoctor: {escape(judged.headline)}",
        "",
        f"{_volume(result, facts)}{when} · wsdoctor {__version__} · inputs:",
        "",
        *(f"- {code_span(i['path'])} ({escape(i['kind'])})" for i in result.inputs),
        "",
    ]
    warnings = result.data.warnings
    for w in warnings[:MAX_WARNINGS]:
        lines.append(f"> ⚠ {escape(w if len(w) <= 200 else w[:199] + '…')}")
    if len(warnings) > MAX_WARNINGS:
        lines.append(f"> … and {len(warnings) - MAX_WARNINGS} more warnings")
    return [*lines, ""] if warnings else lines


def _sessions(judged: verdict.Verdict) -> list[str]:
    failed = judged.failed
    lines = [
        f"- **{escape(s.session)}** {escape(s.sentence[len(s.session) + 1 :])}" for s in failed
    ]
    if len(lines) > MAX_SESSION_LINES:
        rest = len(lines) - MAX_SESSION_LINES + 1
        lines = [*lines[: MAX_SESSION_LINES - 1], f"- … and {rest} more failed sessions"]
    healthy = [s.session for s in judged.seen if not s.failed]
    if not failed and len(healthy) <= 3:  # nothing failed: say how each one ended
        lines = [
            f"- **{escape(s.session)}** {escape(s.sentence[len(s.session) + 1 :])}"
            for s in judged.seen
        ]
    elif healthy:
        named = ", ".join(healthy[:8]) + (f" +{len(healthy) - 8} more" if len(healthy) > 8 else "")
        lines.append(f"- healthy: {escape(named)}")
    lines += _tls(judged)
    return ["#### Sessions", "", *lines, ""] if lines else []


def _tls(judged: verdict.Verdict) -> list[str]:
    """TLS connections without keys, apart from the sessions: one line per server name."""
    groups = judged.tls
    if not groups:
        return []
    k = sum(len(g.sessions) for g in groups)
    lines = [f"- **TLS connections (possibly wss)**: {k} not decrypted (pass `--keylog`)"]
    for g in groups[:MAX_TLS_LINES]:
        ids = ", ".join(g.sessions[:6]) + (
            f" +{len(g.sessions) - 6} more" if len(g.sessions) > 6 else ""
        )
        name = f"SNI {g.sni}" if g.sni else "no SNI"
        lines.append(f"  - {escape(name)}: {len(g.sessions)} ({escape(ids)})")
    if len(groups) > MAX_TLS_LINES:
        lines.append(f"  - … and {len(groups) - MAX_TLS_LINES} more server names")
    return lines


# Findings ------------------------------------------------------------------------------


def _top_findings(
    findings: list[dict[str, Any]], room: int, seen: dict[str, set[str]] | None = None
) -> list[str]:
    """One block per distinct rule, most severe first. The first block is always whole
    (its fix is what the ticket is for); later ones are whole while the budget lasts,
    then cut to their fix's first paragraph, then left to the "… and N more" line.
    `seen`: the proxies each session's Server/Via headers name (session id -> kinds)."""
    if not findings:
        return ["No findings: no rule fired.", ""] if room >= 2 else []
    groups = _by_rule(findings)
    lines = ["#### Findings", ""]
    whys = []  # (index of a block's summary line, why line)
    shown = 0
    for group in groups[:MAX_TOP_FINDINGS]:
        left = room - len(lines) - 2  # keep room for the "… and N more" line
        block = _finding(group, True, seen or {})
        if shown and len(block) + 1 > left:
            block = _finding(group, False, seen or {})
        if shown and len(block) + 1 > left:
            break
        whys.append((len(lines) + 2, _why(group[0].get("rationale") or "")))
        lines += [*block, ""]
        shown += 1
    if len(groups) > shown:
        more = sum(len(g) for g in groups[shown:])
        lines += [f"… and {more} more finding(s); the HTML report has every fix.", ""]
    # In the lines left over, each block's "why" under its summary, first blocks first.
    spare = max(0, room - len(lines)) // 2
    chosen = [(at, why) for at, why in whys if why][:spare]
    for at, why in reversed(chosen):
        lines[at + 1 : at + 1] = ["", why]
    return lines


def _by_rule(findings: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Findings grouped by rule, the groups in the verdict's order (most severe, most
    confident, causes before symptoms), so a budget drops the least severe first."""
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_rule.setdefault(f["rule"], []).append(f)
    return sorted(by_rule.values(), key=cmp_to_key(_before))


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
    sentence = _cut_markdown(para[:end], MAX_PARAGRAPH)
    return f"_Why we think so:_ {_escape_outside_code(sentence)}" if sentence else ""


def _finding(group: list[dict[str, Any]], whole: bool, seen: dict[str, set[str]]) -> list[str]:
    """Title, summary, evidence rows, fix: the whole fix (for the proxies `seen` in its
    sessions' headers when it has settings for them), or (`whole` False, when the budget
    is short) its first paragraph."""
    f = group[0]
    sessions = ", ".join(dict.fromkeys(str(g["session"] or "capture") for g in group))
    head = f"**{f['severity'].upper()}** {escape(f['title'])} (`{f['rule']}`; {escape(sessions)})"
    block = [head, "", _escape_outside_code(" ".join(f["summary"].split()))]
    block += _evidence(group)
    fix = f.get("fix") or ""
    if whole and fix.strip():
        return [*block, "", "Fix:", "", *_for_proxies(_fix_lines(fix), _seen(group, seen))]
    if whole:
        return block
    para = _first_paragraph(fix)
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
    return f"- {time} · {where} · {_escape_outside_code(' '.join(str(e['text']).split()))}"


def _fix_lines(fix: str) -> list[str]:
    """The whole fix, its prose escaped outside code, each fenced block re-fenced with a
    run longer than any backtick run inside it (so a value cannot close it early)."""
    out: list[str] = []
    prose: list[str] = []
    lines = fix.strip("\n").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        out += _escape_outside_code("\n".join(prose)).splitlines() if prose else []
        prose = []
        body, i = _fence_body(lines, i, m[1])
        out += _fenced(m[2] or "", body)
    out += _escape_outside_code("\n".join(prose)).splitlines() if prose else []
    return out


def _proxies_seen(result: Analysis) -> dict[str, set[str]]:
    """Each session's proxies, as its Server and Via headers name them."""
    rows = result.data.sessions.select("id", "server_software", "via").iter_rows()
    return {
        sid: {kind for word, kind in SEEN_AS.items() if word in f"{sw} {via}".lower()}
        for sid, sw, via in rows
    }


def _seen(group: list[dict[str, Any]], seen: dict[str, set[str]]) -> set[str]:
    return set().union(*(seen.get(f["session"], set()) for f in group))


def _for_proxies(lines: list[str], seen: set[str]) -> list[str]:
    """The fix without the settings of proxies other than those seen, when it has
    settings for one that was seen: a line naming a proxy ("HAProxy: ...") starts its
    item, which runs (fenced blocks included) to a blank line, a bold line or the next
    item. A fix with nothing for the proxies seen is kept whole."""
    kinds = _item_kinds(lines)
    if not seen & {k for k in kinds if k}:
        return lines
    kept, dropped, current = [], [], None
    for line, kind in zip(lines, kinds, strict=True):
        if kind != "" and (kind or not line.strip() or line.startswith(("**", "- "))):
            current = kind
        if current is None or current in seen:
            kept.append(line)
        elif kind:
            dropped.append(line.removeprefix("- ").split(":", 1)[0].split(" (", 1)[0])
    if dropped:
        names = ", ".join(dropped)
        kept += ["", f"(Settings for {names}, which this capture does not show: HTML report.)"]
    return kept


def _item_kinds(lines: list[str]) -> list[str | None]:
    """Per line, the proxy whose item it starts ("nginx", "haproxy", ...), None for other
    prose, "" for a fenced block's lines (a block belongs to the item before it)."""
    kinds: list[str | None] = []
    fence = ""
    for line in lines:
        m = PROXY_ITEM.match(line)
        kind = PROXY_KINDS.get(m[1].lower(), m[1].lower()) if m else None
        kinds.append("" if fence or FENCE.match(line) else kind)
        if fence:
            fence = "" if line.strip() == fence else fence
        elif opened := FENCE.match(line):
            fence = opened[1]
    return kinds


def _fence_body(lines: list[str], start: int, fence: str) -> tuple[list[str], int]:
    """The lines of the block opened at `start` (dedented), and the index after it."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for j in range(start + 1, len(lines)):
        inner = lines[j]
        if inner.strip().startswith(fence):
            return body, j + 1
        body.append(inner[indent:] if not inner[:indent].strip() else inner.lstrip())
    return body, len(lines)


def _fenced(lang: str, body: list[str]) -> list[str]:
    longest = max((len(r) for r in re.findall(r"`+", "\n".join(body))), default=0)
    ticks = "`" * max(3, longest + 1)
    return [f"{ticks}{lang}", *body, ticks]


def _first_paragraph(fix: str) -> str:
    para = " ".join(fix.strip().split("\n\n", 1)[0].split())
    return _escape_outside_code(_cut_markdown(para, MAX_PARAGRAPH))


def _cut_markdown(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters at a space, never inside a code span: an
    unclosed span would turn the quoted capture text in it back into live Markdown."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    cut = limit - 1 if cut <= 0 else cut
    for a, z in markup.code_spans(text):
        if a < cut < z:
            cut = a
            break
    # A trailing backslash would escape the space before the ellipsis and show itself.
    return text[:cut].rstrip().rstrip("\\") + " …"


def _escape_outside_code(text: str) -> str:
    """Rule Markdown keeps its code spans, escapes and emphasis; raw HTML and table pipes
    do not. Backslash escapes are kept whole, so `\\<` is never turned into `\\\\<`; an
    escaped underscore inside a word loses its needless backslash."""
    out, last = [], 0
    for a, z in [*markup.code_spans(text), (len(text), len(text))]:
        out.append(INTRAWORD.sub("_", RAW.sub(lambda m: m[1] or "\\" + m[2], text[last:a])))
        out.append(text[a:z])
        last = z
    return "".join(out)
