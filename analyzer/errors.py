"""The one error type the CLI turns into a one-line message and exit code 2.

Everything a user can cause (a missing file, a corrupt capture, a bad flag value)
raises `InputError`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InputError(Exception):
    """Unusable input or usage: reported as `wsdoctor: <source>: <message> (<hint>)`."""

    message: str
    source: str | None = None
    hint: str | None = None
    exit_code: int = 2

    def __str__(self) -> str:
        text = f"{self.source}: {self.message}" if self.source else self.message
        return f"{text} ({self.hint})" if self.hint else text


@dataclass
class PackError(InputError):
    """Every problem in a set of rule or log packs, one `file:line: field: message` line each:
    an author fixes a pack in one round instead of one error per run."""

    problems: tuple[str, ...] = ()
