"""How values read in the HTML report: cut to a length, UTC wall-clock times, seconds and
counted nouns. The template's filters, and what the report's sections format with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup

MAX_VALUE = 300  # characters of one header value, reason or body preview
ISO_SHORT = "%Y-%m-%d %H:%M:%S.%f"


def cut(text: Any, limit: int = MAX_VALUE) -> str:
    if isinstance(text, Markup):  # already-escaped output of a macro: cutting it could
        return text  # split an entity, and str() would make autoescape escape it twice
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clock(value: Any) -> str:
    """UTC wall-clock time to the millisecond: what people line up with their logs."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return ""
    return value.strftime(ISO_SHORT)[:-3] + " UTC"


def secs(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f} s"


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def span(first: Any, last: Any) -> str:
    """`2026-11-21 12:00:03 – 12:59:51 UTC`: the day once when both ends share it."""
    a, b = clock(first)[:19], clock(last)[:19]
    if not a or not b:
        return a or b
    if a[:10] == b[:10]:
        b = b[11:]
    return f"{a} UTC" if a == b else f"{a} – {b} UTC"
