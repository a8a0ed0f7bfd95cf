"""Summary, evidence and fix text: Jinja templates rendered in a sandbox.

Templates are data written by rule authors, so they run in Jinja's sandbox with a
closed set of variables (the session's features, the rule's params, aggregate aliases)
checked when the pack is validated. The output is Markdown (the reports render it), and
values from a capture or a log are hostile, so every interpolated value is Markdown-escaped
by default (`_finalize`): a Server header cannot open a link or an image. The `code`
filter quotes a value as an inline code span nothing inside can close, `in_fence` passes
one into a fenced code block (where escapes would show), and the wsdoctor filters that
produce their own text (secs, frame, clock, whose_log, close_name, close_meaning) mark it
as already safe.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta

from analyzer.protocol import close_code_name
from analyzer.rules import sandbox


class MarkdownText(str):
    """Text already in Markdown form (a code span, a filter's own words): not escaped again."""


# Markdown that works anywhere in a line, and what opens a block at a line's start.
MD_INLINE = re.compile(r"[\\`*_\[\]<>&|~]")
MD_LEAD = re.compile(r"^(\s*|\s*\d+(?=[.)](?:\s|$)))([#>+=.)-])")


def markdown_escape(value: Any) -> str:
    """A value as Markdown text that renders as itself: CommonMark punctuation that could
    start markup backslash-escaped, line breaks folded so it cannot start a block."""
    text = " ".join(str(value).splitlines())
    text = MD_INLINE.sub(lambda m: "\\" + m[0], text)
    return MD_LEAD.sub(r"\1\\\2", text, count=1)


def code_span(value: Any) -> MarkdownText:
    """`value` as an inline code span: the fence is one backtick longer than the longest
    run inside (CommonMark), padded with a space when the value starts or ends with a
    backtick, whitespace folded to single spaces so it stays one line."""
    text = " ".join(_text(value).split()) or " "
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return MarkdownText(f"{fence}{pad}{text}{pad}{fence}")


def _in_fence(value: Any) -> MarkdownText:
    """A value inside a fenced code block, where backslash escapes would show literally:
    folded to one line, so it cannot end the block early from mid-line."""
    return MarkdownText(" ".join(_text(value).splitlines()))


def _text(value: Any) -> str:
    return "n/a" if value is None else str(value)


def _secs(value: Any, digits: int = 1) -> str:
    """Seconds as people read them in a ticket: `10.0 s`, `250 ms`."""
    if value is None:
        return MarkdownText("n/a")
    if abs(value) < 1:
        return MarkdownText(f"{value * 1000:.0f} ms")
    return MarkdownText(f"{value:.{digits}f} s")


def _frame(value: Any) -> str:
    """`#48`: a frame number; anything else is escaped like any value."""
    if isinstance(value, int):
        return MarkdownText(f"#{value}")
    return "n/a" if value is None else f"#{value}"


def _clock(value: Any) -> str:
    """UTC wall-clock time to the millisecond, the form the frame tables use."""
    if not isinstance(value, datetime):
        return MarkdownText("n/a")
    return MarkdownText(value.strftime("%H:%M:%S.%f")[:-3] + " UTC")


def whose_log(side: Any) -> str:
    """`The client's log` for a log line's side; `The log` when the pack cannot tell."""
    return MarkdownText(f"The {side}'s log" if side in ("client", "server", "proxy") else "The log")


def _close_code(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def close_name(value: Any) -> Any:
    """`1011 (internal error)`: a close code with what it means (the one close-code table,
    analyzer/protocol.py); anything but a code is left as it is."""
    code = _close_code(value)
    return value if code is None else MarkdownText(f"{code} ({close_code_name(code)})")


def close_meaning(value: Any) -> Any:
    """`internal error`: only what a close code means (the code is already in the text)."""
    code = _close_code(value)
    return value if code is None else MarkdownText(close_code_name(code))


def _nearest(value: Any, choices: Any) -> Any:
    """The listed value (or map key) closest to `value`: which known default matched."""
    keys = list(choices)
    if value is None or not keys:
        return None
    return min(keys, key=lambda k: abs(float(k) - float(value)))


def _finalize(value: Any) -> Any:
    """Every `{{ }}` output: Markdown-escaped unless it is a number or already Markdown."""
    if value is None:
        return "n/a"
    if isinstance(value, MarkdownText | int | float):
        return value
    return markdown_escape(value)


ENV = sandbox.BoundedSandbox(
    undefined=StrictUndefined,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    autoescape=False,
)
ENV.filters.update(secs=_secs, frame=_frame, clock=_clock, whose_log=whose_log)
ENV.filters.update(code=code_span, in_fence=_in_fence)
ENV.filters.update(close_name=close_name, close_meaning=close_meaning)
ENV.globals.update(nearest=_nearest)


def check(text: Any, known: set[str], row: dict[str, Any] | None = None) -> str | None:
    """None when `text` is a template using only `known` names, within the sandbox's
    language, that renders `row` (a representative session) within its budget; else the
    problem. Rendering here is what turns an analyze-time failure into a pack error."""
    if not isinstance(text, str):
        return "must be text"
    try:
        names = RENDERER.names(text)  # parsed, held to the sandbox's language, compiled
    except TemplateSyntaxError as exc:  # also an unknown filter
        return f"template syntax (template line {exc.lineno}): {exc.message}"
    except sandbox.NotAllowed as exc:
        return str(exc)
    except (ValueError, RecursionError) as exc:  # the lexer's int() of a 5,000-digit literal
        return f"template syntax: {type(exc).__name__}: {exc}"
    unknown = sorted(names - known)
    if unknown:
        return f"unknown name(s) in template: {', '.join(unknown)}"
    try:
        if row is not None:
            RENDERER.render(text, row)
    except sandbox.RenderError as exc:
        # An element the made-up row lacks (`parts[1]`, `|first` of an empty list) says
        # nothing about real sessions; analyze falls back to a plain text if it happens.
        return None if exc.data_dependent else f"template fails for a typical session: {exc}"
    return None


class Renderer:
    """Compiled templates and the names each one reads, cached by source text.

    Rendering passes a template only the values it names: Jinja copies its context on
    every render, and a session row has hundreds of columns.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Any, frozenset[str]]] = {}

    def _get(self, text: str) -> tuple[Any, frozenset[str]]:
        entry = self._cache.get(text)
        if entry is None:
            parsed = ENV.parse(text)
            names = frozenset(meta.find_undeclared_variables(parsed)) - set(ENV.globals)
            entry = self._cache[text] = (ENV.from_string(sandbox.guarded(parsed, ENV)), names)
        return entry

    def names(self, text: str) -> frozenset[str]:
        return self._get(text)[1]

    def render(self, text: str, values: dict[str, Any]) -> str:
        """The text, or sandbox.RenderError (any failure, or over the size/time budget)."""
        template, names = self._get(text)
        used = {k: values[k] for k in names}
        # shared=True skips Jinja's per-render merge of the globals into a new context;
        # the same globals are passed in directly, so validation and rendering agree.
        context = template.new_context({**ENV.globals, **used}, shared=True)
        return sandbox.render(lambda: template.root_render_func(context)).strip()


RENDERER = Renderer()  # templates are keyed by their text, so one cache serves every run
