"""What a run says on the terminal while and after it works: the progress line while a
capture is read, the readers' warnings, then the findings (terminal_findings.py).

The progress line is for a person: on stderr, only when stderr is a terminal, cut to its
width (a wrapped line cannot be overwritten in place), gone once the reading is over.
The findings go to standard output unless a report is written there (`-o -`), so that a
report piped to a file or a parser is never mixed with them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from analyzer import findings
from analyzer.ingest import kinds
from analyzer.inputs import shown
from analyzer.pipeline import Analysis
from analyzer.report import outputs, terminal, terminal_findings
from analyzer.report.outputs import visible_line
from analyzer.report.tables import cut

MAX_WARNINGS = 5  # printed by analyze unless --verbose


def progress(quiet: bool = False) -> kinds.Progress | None:
    """A single self-overwriting status line, only when a person is watching stderr."""
    if quiet or not sys.stderr.isatty():
        return None
    last = [0.0]
    room = (terminal.width(sys.stderr) or 80) - 1  # the last column would wrap on some

    def show(path: Path, packets: int, offset: int) -> None:
        now = time.monotonic()
        size = path.stat().st_size
        if now - last[0] < 0.2 and offset != size:  # the file's final count always shows
            return
        last[0] = now
        pct = f" {100 * offset / size:4.1f}%" if 0 < offset <= size else ""
        line = f"wsdoctor: reading {visible_line(path.name)}:{pct} {packets:,} packets"
        sys.stderr.write(f"\r{cut(line, room)}\033[K")
        sys.stderr.flush()

    return show


def done(progress: kinds.Progress | None, warnings: list[str], every: bool = True) -> None:
    """The reading is over: the progress line goes, the readers' warnings are said (the
    first MAX_WARNINGS of them unless `every`: a folder of damaged files would otherwise
    bury the findings)."""
    if progress:
        sys.stderr.write("\r\033[K")
    said = warnings if every else warnings[:MAX_WARNINGS]
    for warning in said:
        outputs.note(shown(f"warning: {warning}"))
    if len(said) < len(warnings):
        outputs.note(f"+{len(warnings) - len(said)} more warning(s) (--verbose shows them)")


def _stream(paths: list[str]) -> TextIO | None:
    """Where the findings are listed: standard output when no report is written there,
    else standard error, and then only if a person watches it (a script reading the
    report from stdout keeps a clean stderr)."""
    if "-" not in paths:
        return sys.stdout
    return sys.stderr if sys.stderr.isatty() else None


def tell(result: Analysis, paths: list[str], color: str, verbose: bool, least: str | None) -> None:
    """The findings, the incidents and a count line, for the person at the terminal."""
    stream = _stream(paths)
    if stream is None:
        return
    view = terminal_findings.View(
        terminal.width(stream), terminal.wants_colour(stream, color), verbose, least
    )
    files = [visible_line(p) for p in paths if p != "-"]
    stream.write(terminal_findings.summary(result, view, files))
    stream.flush()


def tell_failures(result: Analysis, threshold: str | None, paths: list[str], color: str) -> None:
    """--quiet: nothing on success; on exit 1 the findings that caused it, nothing else."""
    failing = findings.at_or_above(result.findings, threshold)
    stream = sys.stderr if "-" in paths else sys.stdout
    if failing:
        view = terminal_findings.View(terminal.width(stream), terminal.wants_colour(stream, color))
        stream.write(terminal_findings.findings_table(failing, view))
        stream.flush()
