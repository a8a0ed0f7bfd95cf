"""The input kinds: what each is, how a file is recognised as one, how its files are read.

One row of KINDS per kind; everything that lists the kinds reads them from here: the
sniffing of INPUT arguments (`analyzer.inputs`), the CLI options that force a kind
(`--har FILE`), the `sources:` a rule may name (rules/model.py), the files of each kind a
run reads (`pipeline.load`) and the reports' list of input files (`describe_inputs`).

Row order is the order of everything: sniffing asks the kinds in it (the last, `log`,
takes any text, so a new kind goes before it), and reading, the sessions stage and the
reports take the kinds in it: captures first (the best witness), logs last (attached to
whatever sessions the others made). How a kind's tables become sessions is not declared
here, because the sessions stage sits above ingest: analyzer/sessions/build.py's `JOINS`
has one entry per kind, by name. docs/architecture.md walks through adding a kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.ingest import tshark
from analyzer.ingest.capture import Parallel, load_captures
from analyzer.ingest.har import looks_like_har, read_har
from analyzer.ingest.logpacks import load_packs
from analyzer.ingest.logs import read_log
from analyzer.ingest.sniff import looks_like_capture, looks_like_text

Progress = Callable[[Path, int, int], None]  # (capture, packets read, byte offset)


@dataclass(frozen=True)
class Reading:
    """One run's options a reader may need besides its files."""

    keylog: Path | None = None
    tshark: str | None = None  # the tshark binary asked for (--tshark)
    progress: Progress | None = None
    log_packs: list[Path] | None = None  # log packs besides the built-in ones (--rules)
    log_tz: str = "UTC"  # zone of log times written without one (--log-tz)
    sniffed: frozenset[Path] = frozenset()  # files whose kind was guessed, not forced
    parallel: Parallel = field(default_factory=Parallel)  # --jobs, --scheduler, --work-dir


# (files of the kind, in command-line order; the run's options; the input index of the
# first, i.e. how many files of earlier kinds) -> one table per file, in the same order.
Reader = Callable[[list[Path], Reading, int], list[Any]]


@dataclass(frozen=True)
class InputKind:
    name: str  # sessions' `source`, a rule's `sources:` word, the key of Inputs and Dataset.files
    noun: str  # "a HAR": in the help and in the messages that list the kinds
    sniff: Callable[[bytes], bool]  # a file's first bytes (sniff.read_head) are of this kind
    read: Reader  # only called when the run has files of this kind
    wire: bool  # its sessions carry frames: `frames` lists them, rules read them
    option: str | None = None  # CLI option naming a file of this kind whatever it looks like
    help: str = ""  # that option's help


def _captures(paths: list[Path], how: Reading, first: int) -> list[Any]:
    binary = tshark.find_tshark(how.tshark)  # only here: a HAR or a log needs no tshark
    return load_captures(paths, first, how.keylog, binary, how.parallel, how.progress)


def _hars(paths: list[Path], how: Reading, first: int) -> list[Any]:
    return [read_har(p, first + i) for i, p in enumerate(paths)]


def _logs(paths: list[Path], how: Reading, first: int) -> list[Any]:
    packs = load_packs(how.log_packs)  # once, for every log
    return [(p, read_log(p, packs, tz=how.log_tz, sniffed=p in how.sniffed)) for p in paths]


KINDS: tuple[InputKind, ...] = (
    InputKind("capture", "a packet capture", looks_like_capture, _captures, wire=True),
    InputKind("har", "a HAR", looks_like_har, _hars, wire=True, option="har", help="a HAR file"),
    InputKind("log", "a log", looks_like_text, _logs, wire=False, option="log", help="a log file"),
)


def names() -> tuple[str, ...]:
    return tuple(k.name for k in KINDS)


def wire_names() -> tuple[str, ...]:
    """What a rule reads unless its `sources:` says: the kinds that saw the wire's frames."""
    return tuple(k.name for k in KINDS if k.wire)


def listing(kinds: Iterable[InputKind] | None = None) -> str:
    """ "a packet capture, a HAR or a log" """
    nouns = [k.noun for k in (KINDS if kinds is None else kinds)]
    return " or ".join([", ".join(nouns[:-1]), nouns[-1]] if len(nouns) > 1 else nouns)
