"""Rule files already checked in full, remembered on disk by their text.

Checking a rule file in full compiles and test-renders each of its templates and
type-checks its condition with polars: most of the ~0.7 s the built-in pack took to load,
paid again by every `analyze` before any input is read. Whether a file passes depends
only on its text and on the code that checks it (this package and the versions of
polars, Jinja and PyYAML), so a file that passed once passes again while both are the
same. Its digest is remembered in the user's cache folder under a fingerprint of that
code, and the next load skips those two checks (its templates then compile on first use,
for the rules that fire). Every other check, and every check of a file not remembered,
still runs; a cache that cannot be read or written only costs the full check.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import jinja2
import polars
import yaml

import analyzer
from analyzer.resources import cache_dir

MAX_REMEMBERED = 4096  # digests kept (the newest): every pack a user ever loaded, bounded


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def remembered() -> set[str]:
    """Digests of the rule files that passed every check under this code."""
    path = _cache_file()
    try:
        return set(path.read_text(encoding="ascii").split()) if path else set()
    except (OSError, UnicodeDecodeError):
        return set()


def remember(known: set[str], passed: Iterable[str]) -> None:
    """Add the digests of files that just passed every check (atomically: a concurrent
    run reads the old list or the new one, never half of one)."""
    fresh = [d for d in dict.fromkeys(passed) if d not in known]
    path = _cache_file()
    if not fresh or path is None:
        return
    try:
        kept = path.read_text(encoding="ascii").split() if path.exists() else []
        lines = list(dict.fromkeys([*kept, *fresh]))[-MAX_REMEMBERED:]
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text("".join(f"{d}\n" for d in lines), encoding="ascii")
        partial.replace(path)
    except (OSError, UnicodeDecodeError):
        pass  # an unwritable cache only costs the next run the full check


def _cache_file() -> Path | None:
    folder = cache_dir()
    return folder / f"rules-checked-{_code_fingerprint()}" if folder else None


@cache
def _code_fingerprint() -> str:
    """The checking code as it is installed: every module of the package (name, size,
    modification time) and the libraries whose behaviour the checks rely on."""
    root = Path(analyzer.__file__).parent
    parts = [analyzer.__version__, polars.__version__, jinja2.__version__, yaml.__version__]
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        parts.append(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
