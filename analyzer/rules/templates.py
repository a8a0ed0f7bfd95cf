"""Summary, evidence and fix text: Jinja templates rendered in a sandbox.

Templates are data written by rule authors, so they run in Jinja's sandbox with a
closed set of variables (the session's features, the rule's params, aggregate aliases)
checked when the pack is validated. Values are inserted as text; escaping for HTML or
Markdown is the report writer's job, since only it knows the output format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment


def _secs(value: Any, digits: int = 1) -> str:
    """Seconds as people read them in a ticket: `10.0 s`, `250 ms`."""
    if value is None:
        return "n/a"
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.{digits}f} s"


def _frame(value: Any) -> str:
    return "n/a" if value is None else f"#{value}"


def _clock(value: Any) -> str:
    """UTC wall-clock time to the millisecond, the form the frame tables use."""
    if not isinstance(value, datetime):
        return "n/a"
    return value.strftime("%H:%M:%S.%f")[:-3] + " UTC"


def whose_log(side: Any) -> str:
    """`The client's log` for a log line's side; `The log` when the pack cannot tell."""
    return f"The {side}'s log" if side in ("client", "server", "proxy") else "The log"


def _nearest(value: Any, choices: Any) -> Any:
    """The listed value (or map key) closest to `value`: which known default matched."""
    keys = list(choices)
    if value is None or not keys:
        return None
    return min(keys, key=lambda k: abs(float(k) - float(value)))


def _finalize(value: Any) -> Any:
    return "n/a" if value is None else value


ENV = SandboxedEnvironment(
    undefined=StrictUndefined,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    autoescape=False,
)
ENV.filters.update(secs=_secs, frame=_frame, clock=_clock, whose_log=whose_log)
ENV.globals.update(nearest=_nearest)


def check(text: Any, known: set[str]) -> str | None:
    """None when `text` is a template using only `known` names, else the problem."""
    if not isinstance(text, str):
        return "must be text"
    try:
        parsed = ENV.parse(text)
    except TemplateSyntaxError as exc:
        return f"template syntax (template line {exc.lineno}): {exc.message}"
    unknown = sorted(meta.find_undeclared_variables(parsed) - known - set(ENV.globals))
    if unknown:
        return f"unknown name(s) in template: {', '.join(unknown)}"
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
            names = frozenset(meta.find_undeclared_variables(ENV.parse(text)))
            entry = self._cache[text] = (ENV.from_string(text), names - set(ENV.globals))
        return entry

    def names(self, text: str) -> frozenset[str]:
        return self._get(text)[1]

    def render(self, text: str, values: dict[str, Any]) -> str:
        template, names = self._get(text)
        used = {k: values[k] for k in names}
        # shared=True skips Jinja's per-render merge of the globals into a new context;
        # the same globals are passed in directly, so validation and rendering agree.
        context = template.new_context({**ENV.globals, **used}, shared=True)
        return ENV.concat(template.root_render_func(context)).strip()


RENDERER = Renderer()  # templates are keyed by their text, so one cache serves every run
