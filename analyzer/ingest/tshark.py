"""Finding tshark and checking its version.

The ingest/tshark*.py modules are the only places that start tshark: this one runs
`tshark -v`, tshark_ports.py `tshark -G decodes`, and tshark_run.py the dissection whose
argv tshark_argv.py builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from analyzer.errors import InputError

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
    """Locate tshark (flag > WSDOCTOR_TSHARK > pyshark's search) and check its version."""
    return _probe(explicit or os.environ.get("WSDOCTOR_TSHARK") or _pyshark_search())


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
    version = _version_of(resolved)
    if version < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        have = ".".join(map(str, version))
        raise InputError(
            f"tshark {have} is too old (need >= {wanted})", source=path, hint=INSTALL_HINT
        )
    return Tshark(resolved, version)


def _version_of(path: str) -> tuple[int, int, int]:
    # pyshark's get_tshark_version(p) runs `dirname(p)/tshark -v`: exact only for a binary
    # named tshark. A renamed build (tshark-4.2) is asked directly, the same way.
    from pyshark.tshark.tshark import TSharkVersionException, get_tshark_version

    try:
        if os.path.basename(path) in ("tshark", "tshark.exe"):
            parsed = get_tshark_version(path)
            return (parsed.major, parsed.minor, parsed.micro)
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=30).stdout
        first = out.splitlines()[0] if out else ""
        numbers = next(w for w in first.split() if w[:1].isdigit())
        major, minor, micro = (int(p) for p in numbers.split(".")[:3])
        return (major, minor, micro)
    except (
        OSError,
        subprocess.SubprocessError,
        TSharkVersionException,
        StopIteration,
        ValueError,
    ) as exc:
        raise InputError(
            f"cannot run `{path} -v`: {exc}", source="tshark", hint=INSTALL_HINT
        ) from None
