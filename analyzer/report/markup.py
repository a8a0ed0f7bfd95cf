"""A tiny, safe Markdown-subset renderer for the rules' `fix` text.

Rule fixes are Markdown written by rule authors, but their templates interpolate
capture-derived values (paths, Server headers, close reasons), so the input is treated as
hostile: every character is HTML-escaped before any markup is added, no raw HTML passes,
and only http(s) links become anchors. The subset is what the built-in rules use: fenced
code blocks (with a language class), inline code, **bold**, *emphasis*, bullet and
numbered lists (with continuation lines, nested lists and fences inside items),
paragraphs, `#` headings (as small headings) and [links](https://...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

FENCE = re.compile(r"^(?P<indent>\s*)(?P<mark>`{3,}|~{3,})\s*(?P<lang>[A-Za-z0-9_+#.-]*)\s*$")
ITEM = re.compile(r"^(?P<indent>\s*)(?P<marker>[-*+]|\d{1,9}[.)])\s+(?P<text>.*)$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"\[([^\[\]\n]+)\]\(\s*([^()\s]+)\s*\)")
SAFE_URL = re.compile(r"^https?://[^\s<>\"'`]+$", re.I)
STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)
EM = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", re.S)
# Placeholders for already-rendered inline pieces; stripped from the input first so the
# input can never forge one.
OPEN, CLOSE = "\ue000", "\ue001"
PLACEHOLDER = re.compile(f"{OPEN}(\\d+){CLOSE}")


def render(text: str | None) -> Markup:
    """Markdown subset -> HTML that is safe to insert into a page as is."""
    if not text:
        return Markup("")
    lines = text.replace("\r\n", "\n").replace("\t", "    ").split("\n")
    return Markup("\n".join(_blocks(lines)))


def inline(text: str | None) -> Markup:
    """One line of rule prose (a summary, an evidence note): code spans and emphasis."""
    return Markup(_inline(" ".join((text or "").split())))


def safe_url(url: str) -> bool:
    """Only absolute http(s) URLs become links: no javascript:, data:, relative paths."""
    return bool(SAFE_URL.match(url.strip()))


# Blocks ------------------------------------------------------------------------------


def _blocks(lines: list[str]) -> list[str]:
    """Render a run of lines: fences, lists, headings and paragraphs, in order."""
    out: list[str] = []
    para: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if FENCE.match(line) or ITEM.match(line) or HEADING.match(line) or not line.strip():
            _flush(para, out)
            if FENCE.match(line):
                i = _fence(lines, i, out)
                continue
            if ITEM.match(line):
                i = _list(lines, i, out)
                continue
            if heading := HEADING.match(line):
                out.append(f'<p class="md-h">{_inline(heading.group(2))}</p>')
            i += 1
            continue
        para.append(line.strip())
        i += 1
    _flush(para, out)
    return out


def _flush(para: list[str], out: list[str]) -> None:
    if para:
        out.append(f"<p>{_inline(' '.join(para))}</p>")
        para.clear()


def _fence(lines: list[str], start: int, out: list[str]) -> int:
    """A fenced code block, dedented by its opening fence's indentation."""
    opening = FENCE.match(lines[start])
    assert opening is not None
    indent, mark = len(opening["indent"]), opening["mark"]
    body: list[str] = []
    i = start + 1
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(mark[0] * len(mark)) and not stripped.strip(mark[0]):
            i += 1
            break
        body.append(_dedent(lines[i], indent))
        i += 1
    lang = opening["lang"].lower()
    cls = f' class="language-{escape(lang, quote=True)}"' if lang else ""
    out.append(f"<pre><code{cls}>{escape(chr(10).join(body), quote=False)}</code></pre>")
    return i


def _dedent(line: str, indent: int) -> str:
    lead = len(line) - len(line.lstrip(" "))
    return line[min(lead, indent) :]


@dataclass
class _Item:
    lines: list[str] = field(default_factory=list)


def _list(lines: list[str], start: int, out: list[str]) -> int:
    """One list (bullet or numbered) of items at the first item's indentation."""
    first = ITEM.match(lines[start])
    assert first is not None
    base = len(first["indent"])
    ordered = first["marker"][0].isdigit()
    items: list[_Item] = []
    i = start
    while i < len(lines):
        m = ITEM.match(lines[i])
        if m and len(m["indent"]) == base and m["marker"][0].isdigit() == ordered:
            items.append(_Item([m["text"]]))
            content = len(lines[i]) - len(m["text"])
            i = _item_body(lines, i + 1, base, content, items[-1])
            continue
        break
    tag = "ol" if ordered else "ul"
    number = int(first["marker"][:-1]) if ordered else 1
    attrs = f' start="{number}"' if ordered and number != 1 else ""
    out.append(f"<{tag}{attrs}>" + "".join(_render_item(it) for it in items) + f"</{tag}>")
    return i


def _item_body(lines: list[str], i: int, base: int, content: int, item: _Item) -> int:
    """Continuation lines of an item: indented deeper than its marker, or lazy text."""
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip():
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if nxt.strip() and len(nxt) - len(nxt.lstrip(" ")) > base:
                item.lines.append("")
                i += 1
                continue
            return i
        if indent > base:
            item.lines.append(_dedent(line, content))
        elif item.lines[-1].strip() and not (ITEM.match(line) or FENCE.match(line)):
            item.lines.append(line.strip())  # lazy continuation of the item's paragraph
        else:
            return i
        i += 1
    return i


def _render_item(item: _Item) -> str:
    inner = _blocks(item.lines)
    if inner and inner[0].startswith("<p>") and "" not in item.lines:
        inner[0] = inner[0][3:-4]  # a tight item: no paragraph around its first text
    return "<li>" + "".join(inner) + "</li>"


# Inline ------------------------------------------------------------------------------


def _inline(text: str) -> str:
    """Code spans and links become placeholders, the rest is escaped, then emphasis."""
    pieces: list[str] = []

    def keep(html: str) -> str:
        pieces.append(html)
        return f"{OPEN}{len(pieces) - 1}{CLOSE}"

    text = text.replace(OPEN, "\ufffd").replace(CLOSE, "\ufffd")
    text = CODE_SPAN.sub(lambda m: keep(f"<code>{escape(m[2].strip(), quote=False)}</code>"), text)
    text = LINK.sub(lambda m: keep(_link_html(m[1], m[2])), text)
    html = escape(text, quote=False)
    html = STRONG.sub(r"<strong>\1</strong>", html)
    html = EM.sub(r"<em>\1</em>", html)
    while PLACEHOLDER.search(html):
        html = PLACEHOLDER.sub(lambda m: pieces[int(m[1])], html)
    return html


def _link_html(label: str, url: str) -> str:
    """A link's label may hold code-span placeholders; an unsafe URL stays literal text."""
    label_html = escape(label, quote=False)
    if not safe_url(url):
        return f"[{label_html}]({escape(url, quote=False)})"
    href = escape(url, quote=True)
    return f'<a href="{href}" rel="noreferrer noopener" target="_blank">{label_html}</a>'
