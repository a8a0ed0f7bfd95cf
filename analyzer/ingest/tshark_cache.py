"""Facts about one tshark binary, kept on disk between runs.

Asking tshark about itself costs a process start each time (`tshark -v` 0.15-0.4 s,
`tshark -G decodes` 0.2-0.7 s) and the answer only changes when the binary does, so it
is stored under $XDG_CACHE_HOME/wsdoctor (~/.cache/wsdoctor) keyed by the binary's path,
size and modification time. The cache is an optimisation only: a directory that cannot be
written, or a file that cannot be read or parsed, means asking tshark again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from analyzer.resources import cache_dir

T = TypeVar("T")


def cached(binary: str, name: str, ask: Callable[[], T], check: Callable[[object], T]) -> T:
    """`ask()` once per version of `binary`; later calls read the answer back.

    `check` rebuilds the value from its JSON form and raises (ValueError, TypeError,
    KeyError) on anything else, so a corrupt or foreign file counts as missing.
    """
    path = _cache_file(binary, name)
    if path is not None:
        try:
            return check(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            pass
    value = ask()
    if path is not None:
        _store(path, value)
    return value


def _cache_file(binary: str, name: str) -> Path | None:
    folder = cache_dir()
    try:
        stat = os.stat(binary)
    except OSError:
        return None
    if folder is None:
        return None
    key = f"{os.path.realpath(binary)}|{stat.st_size}|{stat.st_mtime_ns}"
    return folder / f"tshark-{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _store(path: Path, value: object) -> None:
    """Write atomically (a concurrent run reads either nothing or the whole file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(value), encoding="utf-8")
        partial.replace(path)
    except OSError:
        pass  # unwritable: the next run asks tshark again
