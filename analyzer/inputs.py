"""Command-line inputs sorted by kind (analyzer/ingest/kinds.py: captures, HAR files, logs).

INPUT arguments are classified by content (`input_kind`), because customers attach
`capture.txt`, `session.json` or `trace.log` whatever the file holds; a kind's option
(`--log`, `--har`) forces it for a file the sniffing would get wrong (a log that happens
to be JSON).

A folder stands for the inputs in it (`_folder`). `-` is standard input, spooled to a
temporary file (tshark and the sniffing need a file they can seek) named `<stdin>`;
`shown` writes that file's path as `<stdin>` in whatever a run prints, and `stdin_spool`
removes it when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import AnyStr

from analyzer.errors import InputError
from analyzer.ingest import kinds, logtime
from analyzer.ingest.kinds import InputKind
from analyzer.ingest.logpacks import LogPack, load_packs
from analyzer.ingest.logs import not_a_log, read_log
from analyzer.ingest.sniff import markdown_document, read_head

Paths = Iterable[str | Path]
STDIN = "<stdin>"
KEYLOG_LABELS = (  # the first word of an NSS key log's lines (SSLKEYLOGFILE)
    b"CLIENT_RANDOM ",
    b"CLIENT_HANDSHAKE_TRAFFIC_SECRET ",
    b"CLIENT_TRAFFIC_SECRET_0 ",
    b"RSA ",
)
_spools: list[Path] = []  # the temporary folder holding standard input, once it is read


class Inputs:
    """The files of one run by kind name, every kind of the registry in its order, each
    list in command-line order; `log_tz` is the zone of log times written without one;
    `sniffed` the files whose kind was guessed from content rather than said (a reader may
    refuse one that does not hold up: a README is text, not a log); `keylogs` the NSS key
    logs found in folders given as INPUT, and `warnings` what the folders' expansion
    skipped."""

    def __init__(self, files: Mapping[str, Paths] | None = None, log_tz: str = "UTC") -> None:
        given = dict(files or {})
        if unknown := set(given) - set(kinds.names()):
            raise ValueError(f"unknown input kind(s): {', '.join(sorted(unknown))}")
        self.files = {k.name: [Path(p) for p in given.get(k.name, ())] for k in kinds.KINDS}
        self.log_tz = log_tz
        self.sniffed: set[Path] = set()
        self.keylogs: list[Path] = []
        self.warnings: list[str] = []

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
    paths: Paths,
    forced: Mapping[str, Paths] | None = None,
    log_tz: str = "UTC",
    log_packs: list[Path] | None = None,
) -> Inputs:
    """Sniff each INPUT; `forced` files (kind name -> files, from `--log` / `--har`) are
    taken as said; a folder is the inputs in it, told from its other files with the log
    packs (`log_packs`: besides the built-in ones). A bad `--log-tz` is refused even when
    no log turns out to need it."""
    logtime.require_tz(log_tz)
    out = Inputs({kind: _once(named) for kind, named in (forced or {}).items()}, log_tz)
    taken = {p.resolve() for p in out.paths()}
    packs: list[LogPack] = []  # read for the first folder only
    files = []
    for raw in paths:
        if str(raw) != "-" and Path(raw).is_dir():
            packs = packs or load_packs(log_packs)
            files += _folder(Path(raw), packs, out)
        else:
            files.append(raw)
    for path in _once(files):
        if path.resolve() in taken:
            continue  # named twice (INPUT and --log/--har): read once, as forced
        out[input_kind(path).name].append(path)
        out.sniffed.add(path)
    if not out:
        raise InputError(f"no input: give {kinds.listing()} file")
    return out


def _folder(folder: Path, packs: list[LogPack], out: Inputs) -> list[Path]:
    """The captures, HAR files and logs directly in `folder`, by name; its NSS key logs go
    to `out.keylogs`, and one warning names the files skipped and why.

    Not recursive: a folder of scenario folders (sample_captures/) holds unrelated
    incidents that one report should not merge. What is skipped is told by content, as
    INPUT is: a README, a config file, a recorder's own notes are text without a timed
    line a log pack knows; `--log FILE` still reads such a file."""
    found, skipped = [], dict[str, list[str]]()
    for path in sorted(folder.iterdir()):
        why = _not_an_input(path, packs, out.log_tz)
        if why == "key log":
            out.keylogs.append(path)
        elif why:
            skipped.setdefault(why, []).append(path.name)
        else:
            found.append(path)
    count = sum(map(len, skipped.values()))
    reasons = "; ".join(f"{_names(names)} ({why})" for why, names in skipped.items())
    said = f"skipped {count} file(s), not inputs: {reasons}" if skipped else "empty"
    if not found:
        raise InputError(f"no capture, HAR or log in this folder ({said})", str(folder))
    if skipped:
        out.warnings.append(f"{folder}: {said}")
    return found


def _not_an_input(path: Path, packs: list[LogPack], log_tz: str) -> str | None:
    """Why a file found in a folder is not read (None: it is an input), in a few words."""
    if path.name.startswith("."):
        return "hidden"
    if path.is_dir():
        return "a folder: not read recursively"
    try:
        kind = input_kind(path)
        head = read_head(path)
        if kind.name != "log":
            return None  # a pcapng may carry its key log: still a capture
        if _keylog_lines(head):
            return "key log"
        if markdown_document(head):
            return "a Markdown document"
        return "text without a timed log line" if not_a_log(read_log(path, packs, log_tz)) else None
    except InputError as exc:
        return exc.message


def _names(names: list[str], most: int = 5) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


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


def shown(text: AnyStr) -> AnyStr:
    """What a run prints or writes (a warning, a report's UTF-8), with the spooled standard
    input named `<stdin>`."""
    for folder in _spools:
        spool = f"{folder}{os.sep}"
        if isinstance(text, bytes):
            text = text.replace(spool.encode(), b"")
        else:
            text = text.replace(spool, "")
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


def check_keylog(path: Path) -> None:
    """An NSS key log is text lines like `CLIENT_RANDOM <hex> <hex>`; say so if it is not."""
    if not path.is_file():
        raise InputError("no such key log file", source=str(path))
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if not _keylog_lines(head):
        raise InputError(
            "not an NSS key log (no CLIENT_RANDOM / *_TRAFFIC_SECRET lines)",
            source=str(path),
            hint="write one with SSLKEYLOGFILE=path",
        )


def _keylog_lines(head: bytes) -> bool:
    return any(line.startswith(KEYLOG_LABELS) for line in head.splitlines())
