"""The rules' Markdown (summary, evidence, fix) as HTML safe to insert into the report.

Rendered by markdown-it-py's CommonMark parser rather than hand-written regexes: its
inline scanning is linear, where a regex code-span matcher went cubic on a Server header
of 20,000 backticks. Rule text interpolates capture-derived values, which the rule
templates Markdown-escape (analyzer/rules/templates.py); this module is the second line
of defence, so whatever the Markdown says the HTML stays inert: raw HTML is off (it shows
as text), only absolute http(s) URLs become links, and an image is shown as its source
text, never fetched. The output keeps what the report's CSS expects: fenced code with a
`language-*` class, headings as small `md-h` paragraphs, links opening a new tab.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markupsafe import Markup

SAFE_URL = re.compile(r"^https?://[^\s<>\"'`]+$", re.I)
TICKS = re.compile(r"`+")


def render(text: str | None) -> Markup:
    """Markdown -> HTML that is safe to insert into a page as is."""
    return Markup(MD.render(text).rstrip("\n")) if text else Markup("")


def inline(text: str | None) -> Markup:
    """One line of rule prose (a summary, an evidence note): inline Markdown only."""
    return Markup(MD.renderInline(" ".join((text or "").split())))


def plain(text: str | None) -> str:
    """The text a reader sees once the Markdown is rendered, for places that show no
    markup (a one-line list, a tooltip): escapes resolved, no backslashes left."""
    tokens = MD.parseInline(" ".join((text or "").split()))
    return "".join(_plain(t) for t in tokens[0].children or []) if tokens else ""


def safe_url(url: str) -> bool:
    """Only absolute http(s) URLs become links: no javascript:, data:, relative paths."""
    return bool(SAFE_URL.match(url.strip()))


def code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each inline code span, found as CommonMark finds them: an unescaped
    backtick run opens a span that the next run of the same length closes.

    For writers that must treat code and prose differently. Runs are indexed by length
    and each closer found by bisection, so a text of any number of backticks costs
    O(n log n), never the cubic backtracking of a `(`+)(.+?)\\1` regex."""
    runs = [(m.start(), m.end()) for m in TICKS.finditer(text)]
    starts: dict[int, list[int]] = {}
    for a, z in runs:
        starts.setdefault(z - a, []).append(a)
    spans: list[tuple[int, int]] = []
    done = 0
    for a, z in runs:
        if a < done:
            continue  # inside the span just found
        a += _backslashes_before(text, a) % 2  # an escaped first backtick is text
        closers = starts.get(z - a, [])
        k = bisect_left(closers, z)
        if a < z and k < len(closers):
            done = closers[k] + (z - a)
            spans.append((a, done))
    return spans


def _backslashes_before(text: str, i: int) -> int:
    n = 0
    while i - n > 0 and text[i - n - 1] == "\\":
        n += 1
    return n


# The renderer ------------------------------------------------------------------------


def _valid_link(url: str) -> bool:
    """markdown-it hands over the percent-encoded URL: judge what it decodes to, so a
    quote or a space hidden as %22 or %20 does not pass as a plain http(s) URL."""
    return safe_url(unquote(url))


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "noreferrer noopener")
    tokens[idx].attrSet("target", "_blank")
    return str(self.renderToken(tokens, idx, options, env))


def _image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """An image is shown as the Markdown that asked for it: a report fetches nothing."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return escapeHtml(f"![{alt}]({token.attrGet('src') or ''})")


def _fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    lang = token.info.split(maxsplit=1)[0].lower() if token.info.strip() else ""
    cls = f' class="language-{escapeHtml(lang)}"' if lang else ""
    return f"<pre><code{cls}>{escapeHtml(token.content.rstrip(chr(10)))}</code></pre>"


def _heading_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return '<p class="md-h">'


def _heading_close(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return "</p>\n"


def _plain(token: Token) -> str:
    if token.type in ("text", "code_inline"):
        return token.content
    if token.type in ("softbreak", "hardbreak"):
        return " "
    if token.type == "image":
        return "".join(_plain(t) for t in token.children or [])
    return ""


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.validateLink = _valid_link  # type: ignore[method-assign]
    for name, rule in (
        ("link_open", _link_open),
        ("image", _image),
        ("fence", _fence),
        ("heading_open", _heading_open),
        ("heading_close", _heading_close),
    ):
        md.add_render_rule(name, rule)
    return md


MD = _markdown()
