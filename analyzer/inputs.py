"""Command-line inputs sorted by kind (analyzer/ingest/kinds.py: captures, HAR files, logs).

INPUT arguments are classified by content (`input_kind`), because customers attach
`capture.txt`, `session.json` or `trace.log` whatever the file holds; a kind's option
(`--log`, `--har`) forces it for a file the sniffing would get wrong (a log that happens
to be JSON).

`-` is standard input, spooled to a temporary file (tshark and the sniffing need a file
they can seek) named `<stdin>`; `shown` writes that file's path as `<stdin>` in whatever a
run prints, and `stdin_spool` removes it when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from analyzer.errors import InputError
from analyzer.ingest import kinds, logtime
from analyzer.ingest.kinds import InputKind
from analyzer.ingest.sniff import read_head

Paths = Iterable[str | Path]
STDIN = "<stdin>"
_spools: list[Path] = []  # the temporary folder holding standard input, once it is read


class Inputs:
    """The files of one run by kind name, every kind of the registry in its order, each
    list in command-line order; `log_tz` is the zone of log times written without one;
    `sniffed` the files whose kind was guessed from content rather than said (a reader may
    refuse one that does not hold up: a README is text, not a log)."""

    def __init__(self, files: Mapping[str, Paths] | None = None, log_tz: str = "UTC") -> None:
        given = dict(files or {})
        if unknown := set(given) - set(kinds.names()):
            raise ValueError(f"unknown input kind(s): {', '.join(sorted(unknown))}")
        self.files = {k.name: [Path(p) for p in given.get(k.name, ())] for k in kinds.KINDS}
        self.log_tz = log_tz
        self.sniffed: set[Path] = set()

    def __getitem__(self, kind: str) -> list[Path]:
        return self.files[kind]

    def paths(self) -> list[Path]:
        """Every file, kind by kind."""
        return [p for files in self.files.values() for p in files]

    def __bool__(self) -> bool:
        return any(self.files.values())

    def __repr__(self) -> str:
        return f"Inputs({self.files!r}, log_tz={self.log_tz!r})"


def input_kind(path: Path) -> InputKind:
    """The first kind whose `sniff` takes the file's first bytes (never its extension).

    Unknown binary content is an InputError here: no reader could use it (every text is a
    log, so only binary content is left over).
    """
    head = read_head(path)
    for kind in kinds.KINDS:
        if kind.sniff(head):
            return kind
    raise InputError(
        f"not {kinds.listing()} file: unknown binary format "
        "(expected pcap or pcapng, optionally gzip'd)",
        source=str(path),
    )


def classify(
    paths: Paths, forced: Mapping[str, Paths] | None = None, log_tz: str = "UTC"
) -> Inputs:
    """Sniff each INPUT; `forced` files (kind name -> files, from `--log` / `--har`) are
    taken as said. A bad `--log-tz` is refused even when no log turns out to need it."""
    logtime.require_tz(log_tz)
    out = Inputs({kind: _once(named) for kind, named in (forced or {}).items()}, log_tz)
    taken = {p.resolve() for p in out.paths()}
    for path in _once(paths):
        if path.resolve() in taken:
            continue  # named twice (INPUT and --log/--har): read once, as forced
        out[input_kind(path).name].append(path)
        out.sniffed.add(path)
    if not out:
        raise InputError(f"no input: give {kinds.listing()} file")
    return out


def _once(paths: Paths) -> list[Path]:
    """The paths in order, each file once: the same file twice would double its events."""
    seen: set[Path] = set()
    out = []
    for raw in paths:
        path = _stdin() if str(raw) == "-" else Path(raw)
        if (real := path.resolve()) not in seen:
            seen.add(real)
            out.append(path)
    return out


def _stdin() -> Path:
    """Standard input as a file named `<stdin>` in a folder of its own, read once."""
    if _spools:
        return _spools[0] / STDIN
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("standard input is a terminal: pipe a capture, HAR or log into -", STDIN)
    folder = Path(tempfile.mkdtemp(prefix="wsdoctor-stdin-"))
    _spools.append(folder)
    path = folder / STDIN
    with path.open("wb") as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
    if not path.stat().st_size:
        raise InputError(f"standard input is empty: pipe {kinds.listing()} into -", STDIN)
    return path


def shown(text: str) -> str:
    """What a run prints or writes, with the spooled standard input named `<stdin>`."""
    for folder in _spools:
        text = text.replace(f"{folder}{os.sep}", "")
    return text


@contextlib.contextmanager
def stdin_spool() -> Iterator[None]:
    """A run during which `-` may be read: its temporary file is removed at the end."""
    try:
        yield
    finally:
        for folder in _spools:
            shutil.rmtree(folder, ignore_errors=True)
        _spools.clear()
