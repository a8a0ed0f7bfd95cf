"""Where output goes and in what state: which report files one `analyze` run writes
(formats from --format or the -o suffix), that none of them is an input, that no raw
control character from a capture or log reaches a terminal or a file, and that a file is
replaced whole or not at all.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from analyzer.errors import InputError
from analyzer.report import terminal

if TYPE_CHECKING:
    from analyzer.pipeline import Analysis

FORMATS = ("html", "md", "json")
SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".json": "json"}
DEFAULT_HTML = "wsdoctor-report.html"


def plan(formats: str | None, output: str | None) -> list[tuple[str, str]]:
    """(format, path) pairs; `-` is standard output.

    One format: -o names the file (default: wsdoctor-report.html for HTML, standard
    output for Markdown and JSON, which are read in terminals and pipes). Several
    formats: -o is the common stem and each file gets its own suffix.
    """
    chosen = _formats(formats, output)
    if len(chosen) == 1:
        fmt = chosen[0]
        return [(fmt, output or (DEFAULT_HTML if fmt == "html" else "-"))]
    if output in (None, "-"):
        raise InputError(
            "several formats need -o PATH (each is written to PATH with its suffix)",
            source="--format",
        )
    stem = Path(output)
    stem = stem.with_suffix("") if stem.suffix.lower() in SUFFIXES else stem
    return [(fmt, f"{stem}.{fmt}") for fmt in chosen]


def _formats(formats: str | None, output: str | None) -> list[str]:
    if formats:
        chosen = [f.strip().lower() for f in formats.split(",") if f.strip()]
        unknown = [f for f in chosen if f not in FORMATS]
        if unknown or not chosen:
            raise InputError(
                f"unknown format {', '.join(unknown) or formats!r} (choose from html, md, json)",
                source="--format",
            )
        return list(dict.fromkeys(chosen))
    if output and output != "-":
        suffix = Path(output).suffix.lower()
        if suffix in SUFFIXES:
            return [SUFFIXES[suffix]]
    return ["json"] if output == "-" else ["html"]


def writer(fmt: str) -> Callable[[Analysis], str | bytes]:
    """The render function of a format (imported on demand: each pulls its templates)."""
    if fmt == "json":
        from analyzer.report import json_report

        return json_report.render
    if fmt == "md":
        from analyzer.report import markdown

        return markdown.render
    from analyzer.report import html

    return html.render


# Characters that act on a terminal or reorder what a reader sees: C0 but newline and
# tab, DEL, C1 (U+009B is a one-character CSI), and the bidirectional controls
# ("Trojan Source"). OSC 8 hyperlinks and window titles start with ESC, so they go too.
_BIDI = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_LINE_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
# In JSON they may only sit inside strings, where `\\uXXXX` means the same character.
_JSON_CONTROLS = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """Text with every control character written out (`\\x1b`, `\\u202e`), newlines and
    tabs kept: for terminals, Markdown and HTML. A visible escape rather than U+FFFD
    because it tells the reader what the capture held (an ESC[2J in a request path is
    itself evidence), and it is inert in a terminal, a Markdown renderer and a browser."""
    return _CONTROLS.sub(_escape, text)


def visible_line(text: str) -> str:
    """`visible` for one line or one table cell: newlines and tabs are written out too."""
    return _LINE_CONTROLS.sub(_escape, text)


def say(message: str) -> None:
    """One `wsdoctor: ...` line on stderr; what it quotes from inputs (file names, log
    text, close reasons) cannot act on the terminal. A multi-line message (a YAML error
    with its context) is joined, not escaped, to stay readable."""
    joined = re.sub(r"\n\s*", " ", message.strip())
    sys.stderr.write(f"wsdoctor: {visible_line(joined)}\n")
    sys.stderr.flush()


_MUTED: dict[str, bool] = {"notes": False}


def mute_notes(on: bool) -> None:
    """`--quiet`: from here on `note` prints nothing (errors still go through `say`)."""
    _MUTED["notes"] = on


def note(message: str) -> None:
    """An informational line on stderr (the config used, a warning): `say`, unless the
    user asked for quiet, where only errors and the exit status speak."""
    if _MUTED["notes"]:
        return
    width = terminal.width(sys.stderr) if sys.stderr.isatty() else None
    if width is None:
        say(message)
        return
    lines = textwrap.wrap(visible_line(f"wsdoctor: {message}"), width, subsequent_indent="  ")
    sys.stderr.write("\n".join(lines) + "\n")  # wrapped here: the terminal never splits it
    sys.stderr.flush()


def json_safe(data: bytes) -> bytes:
    """JSON (UTF-8) with control characters as `\\u` escapes: the same document to a
    parser, inert on a terminal (json.dumps and orjson leave C1 and DEL raw)."""
    if not _JSON_CONTROLS.search(_unusual(data)):
        return data
    text = data.decode("utf-8", "surrogatepass")
    escaped = _JSON_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return escaped.encode("utf-8", "surrogatepass")


# The characters below 0x80 that `_JSON_CONTROLS` leaves alone, as bytes.
_ASCII_SAFE = bytes(b for b in range(0x80) if not _JSON_CONTROLS.match(chr(b)))
_SLICE = 8 << 20


def _unusual(data: bytes) -> str:
    """The text's characters but its safe ASCII ones, in order: a few thousand in a
    report, where the regex's scan of the whole text took 0.67 s on 100 MB. Deleting
    ASCII bytes from UTF-8 leaves every other character's sequence whole (a sequence cut
    by a slice's end joins up again); slices keep the copies small."""
    rest = b"".join(
        data[at : at + _SLICE].translate(None, _ASCII_SAFE) for at in range(0, len(data), _SLICE)
    )
    return rest.decode("utf-8", "surrogatepass")


def safe(rendered: str | bytes) -> bytes:
    """A rendered output made safe for its destination, in UTF-8: a JSON render (bytes,
    from json_text) by JSON's escapes, a text render (HTML, Markdown, a table) by
    `visible`."""
    if isinstance(rendered, bytes):
        return json_safe(rendered)
    return visible(rendered).encode()


def refuse_inputs(targets: Iterable[str], files: Iterable[Path], dirs: Iterable[Path]) -> None:
    """Exit 2 before any work when an output would overwrite an input: the same file by
    device and inode (so hard links, symlinks and `./x` vs `x` all count), or an existing
    file inside a rule pack directory."""
    inputs = {ident: path for path in files if (ident := _identity(path))}
    packs = [d.resolve() for d in dirs if d.is_dir()]
    for target in targets:
        if target == "-" or (ident := _identity(Path(target))) is None:
            continue
        if ident in inputs:
            raise InputError(
                f"is the input {inputs[ident]}; refusing to overwrite it (choose another -o)",
                source=target,
            )
        real = Path(target).resolve()
        if any(real.is_relative_to(d) for d in packs):
            raise InputError(
                "is inside a rule pack directory; refusing to overwrite it", source=target
            )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def write(data: bytes, output: str) -> None:
    """Write to standard output (`-`) or replace a file atomically: a temporary file in
    the same directory, then a rename, so a failed run leaves the old file or none, never
    half a report. A symlink is replaced, not written through: its target may be anything.
    Devices and pipes (/dev/stdout, `>(...)`) are written in place."""
    if output == "-":
        sys.stdout.flush()  # what was printed before goes first
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    try:
        if _is_special(target):
            target.write_bytes(data)
        else:
            _replace(target, data)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", source=output) from None


def _is_special(path: Path) -> bool:
    """An existing destination that is not a regular file (a device, a FIFO, a socket)."""
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def _replace(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if target.is_file() and not target.is_symlink():
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
