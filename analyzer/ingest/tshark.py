"""Finding tshark and checking its version.

The ingest/tshark*.py modules are the only places that start tshark: this one runs
`tshark -v`, tshark_ports.py `tshark -G decodes`, and tshark_run.py the dissection whose
argv tshark_argv.py builds. Both answers about the binary itself are kept on disk
between runs (tshark_cache.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from analyzer.errors import InputError
from analyzer.ingest.tshark_cache import cached

MIN_VERSION = (3, 6, 0)
INSTALL_HINT = (
    "install it: Debian/Ubuntu `sudo apt-get install tshark`, "
    "macOS `brew install wireshark`, Windows: the Wireshark installer, then add its "
    "folder to PATH; or point --tshark / WSDOCTOR_TSHARK at the binary"
)


@dataclass(frozen=True)
class Tshark:
    path: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def find_tshark(explicit: str | None = None) -> Tshark:
    """Locate tshark and check its version.

    Order: the flag, WSDOCTOR_TSHARK, `tshark` on PATH, and only when none of those
    names a binary, pyshark's search (its config file and the Windows and macOS install
    folders), whose import alone costs 0.2-0.4 s.
    """
    named = explicit or os.environ.get("WSDOCTOR_TSHARK") or shutil.which("tshark")
    return _probe(named or _pyshark_search())


def _pyshark_search() -> str:
    from pyshark.tshark.tshark import TSharkNotFoundException, get_process_path

    try:
        return get_process_path()
    except TSharkNotFoundException:
        raise InputError("tshark was not found", source="tshark", hint=INSTALL_HINT) from None


@lru_cache(maxsize=4)
def _probe(path: str) -> Tshark:
    resolved = shutil.which(path) or path
    if not (os.path.isfile(resolved) and os.access(resolved, os.X_OK)):
        raise InputError("not an executable tshark", source=path, hint=INSTALL_HINT)
    version = cached(resolved, "version", lambda: _version_of(resolved), _version_tuple)
    if version < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        have = ".".join(map(str, version))
        raise InputError(
            f"tshark {have} is too old (need >= {wanted})", source=path, hint=INSTALL_HINT
        )
    return Tshark(resolved, version)


def _version_of(path: str) -> tuple[int, int, int]:
    """The version `path -v` prints first ("TShark (Wireshark) 4.0.17 (...)")."""
    try:
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=30).stdout
        first = out.splitlines()[0] if out else ""
        found = re.search(r"(\d+)\.(\d+)\.(\d+)", first)
        if found is None:
            raise ValueError(f"no version in {first!r}")
        return _version_tuple(found.groups())
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise InputError(
            f"cannot run `{path} -v`: {exc}", source="tshark", hint=INSTALL_HINT
        ) from None


def _version_tuple(parts: Any) -> tuple[int, int, int]:
    """(major, minor, micro) from three numbers (a cached JSON list, say); raises
    ValueError or TypeError on anything else."""
    major, minor, micro = (int(part) for part in parts)
    return (major, minor, micro)
