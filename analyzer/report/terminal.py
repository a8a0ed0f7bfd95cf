"""What the terminal a text goes to can show: how wide it is and whether it takes colour.

Tables are cut to the width so that nothing wraps (a wrapped row reads as two sessions);
colour follows the conventions people already configure once for every tool: `--color
auto|always|never`, then `NO_COLOR` (no-color.org: any non-empty value), then whether the
stream is a terminal. A pipe or a file gets no width limit, and colour only when asked
(`--color always`), so `wsdoctor sessions x.pcap > list.txt` keeps every cell.
"""

from __future__ import annotations

import os
from typing import TextIO

COLOR_CHOICES = ("auto", "always", "never")

# SGR codes per severity, as ruff and semgrep shade them: red for what breaks things,
# yellow for what may, blue and dim for notes.
_SEVERITY_SGR = {
    "critical": "1;31",
    "high": "31",
    "medium": "33",
    "low": "34",
    "info": "2",
}
_RESET = "\033[0m"


def width(stream: TextIO) -> int | None:
    """Columns available on a terminal: `COLUMNS` when set to a number, else the
    terminal's own width. None when the stream is not a terminal: a pipe or a file gets
    whole lines, since a parent that loaded readline exports COLUMNS=80 to every child
    (pytest, a Python shell) and `wsdoctor sessions x | grep` must still see every cell."""
    if not _isatty(stream):
        return None
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError):
        return None


def wants_colour(stream: TextIO, choice: str = "auto") -> bool:
    """`always` and `never` win; `auto` is colour on a terminal unless NO_COLOR is set."""
    if choice != "auto":
        return choice == "always"
    return not os.environ.get("NO_COLOR") and _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def severity(text: str, level: str | None, colour: bool) -> str:
    """`text` shaded for a severity level (the text is already safe to print)."""
    if not colour or level not in _SEVERITY_SGR:
        return text
    return f"\033[{_SEVERITY_SGR[level]}m{text}{_RESET}"


def style(text: str, colour: bool, sgr: str = "1") -> str:
    """Bold (or another SGR) when colour is on: headings and counts."""
    return f"\033[{sgr}m{text}{_RESET}" if colour else text
