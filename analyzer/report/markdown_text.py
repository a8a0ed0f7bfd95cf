"""Markdown text for ticket trackers: escaping, cutting, and a rule's fix as lines.

Capture-derived text (close reasons, endpoints) is escaped so it cannot inject Markdown or
HTML into the tracker; findings' summaries, evidence and fixes are already Markdown whose
capture values the rule templates escaped, so they keep their markup, and only raw HTML
and table pipes outside code are escaped again. Escapes a tracker does not need are left
out: an underscore inside a word (`proxy_read_timeout`) never starts emphasis, and a file
path goes in a code span, where a backslash would show.

A fix keeps the settings of the proxies the sessions' Server or Via headers name, when it
has settings for one of them, and says which others it left out.
"""

from __future__ import annotations

import re
from typing import Any

from analyzer.pipeline import Analysis
from analyzer.report import markup

MAX_PARAGRAPH = 320  # characters of a "why" sentence, or of a fix cut to its first paragraph
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


def escape(text: Any) -> str:
    """Markdown-significant characters backslash-escaped (but an underscore inside a word,
    which starts nothing); newlines folded."""
    flat = " ".join(str(text or "").split())
    return INTRAWORD.sub("_", SPECIAL.sub(r"\\\1", flat))


def escape_outside_code(text: str) -> str:
    """Rule Markdown keeps its code spans, escapes and emphasis; raw HTML and table pipes
    do not. Backslash escapes are kept whole, so `\\<` is never turned into `\\\\<`; an
    escaped underscore inside a word loses its needless backslash."""
    out, last = [], 0
    for a, z in [*markup.code_spans(text), (len(text), len(text))]:
        out.append(INTRAWORD.sub("_", RAW.sub(lambda m: m[1] or "\\" + m[2], text[last:a])))
        out.append(text[a:z])
        last = z
    return "".join(out)


def cut_markdown(text: str, limit: int) -> str:
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


def first_paragraph(fix: str) -> str:
    para = " ".join(fix.strip().split("\n\n", 1)[0].split())
    return escape_outside_code(cut_markdown(para, MAX_PARAGRAPH))


def fix_lines(fix: str) -> list[str]:
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
        out += escape_outside_code("\n".join(prose)).splitlines() if prose else []
        prose = []
        body, i = _fence_body(lines, i, m[1])
        out += _fenced(m[2] or "", body)
    out += escape_outside_code("\n".join(prose)).splitlines() if prose else []
    return out


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


def proxies_seen(result: Analysis) -> dict[str, set[str]]:
    """Each session's proxies, as its Server and Via headers name them."""
    rows = result.data.sessions.select("id", "server_software", "via").iter_rows()
    return {
        sid: {kind for word, kind in SEEN_AS.items() if word in f"{sw} {via}".lower()}
        for sid, sw, via in rows
    }


def seen_in(group: list[dict[str, Any]], seen: dict[str, set[str]]) -> set[str]:
    return set().union(*(seen.get(f["session"], set()) for f in group))


def for_proxies(lines: list[str], seen: set[str]) -> list[str]:
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
