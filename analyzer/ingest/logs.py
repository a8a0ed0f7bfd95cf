"""Application and proxy logs -> LOG_EVENTS, vectorised and in bounded memory.

Logs arrive as whatever a customer could copy off a box: multi-GB, mixed encodings, one
giant line, sometimes not text at all. So the file is read in byte chunks split at
newlines (never all of it at once), overlong lines are cut, bad UTF-8 is replaced and
counted, and nothing a log contains raises: problems become warnings. Matching is one
Aho-Corasick pass over all patterns' literals, then each pattern's regex runs only on the
lines holding its literal; the first pattern (in pack order) to match a line wins. Blocks
are matched on WORKERS threads (polars releases the GIL) with a bounded number in flight,
so throughput scales with cores while memory stays a few blocks wide.
"""

from __future__ import annotations

import contextvars
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

from analyzer import redact
from analyzer.errors import InputError
from analyzer.ingest import logtime
from analyzer.ingest.log_jsonl import jsonl_view
from analyzer.ingest.logpacks import LogPack, LogPattern, load_packs
from analyzer.ingest.sniff import markdown_document
from analyzer.schema import LOG_EVENTS, OPCODES

# Blocks small enough that WORKERS of them keep every core busy on a 100 MB file, large
# enough that per-block overhead (one polars call per pattern) stays in the noise.
CHUNK_BYTES = 16 * 1024 * 1024
_FORCE = "give it with --log to read it anyway"
WORKERS = max(1, min(4, os.cpu_count() or 1))
MAX_LINE = 64 * 1024
TEXT_MAX = 500
_FIELDS = {
    "code": "close_code",
    "reason": "close_reason",
    "status": "status",
    "request_id": "request_id",
    "port": "local_port",
    "remote": "remote",
    "local": "local",
    "path": "path",
}


@dataclass
class LogData:
    """The events of one log file plus the counts a report needs to say how much matched."""

    events: pl.DataFrame
    lines_total: int = 0
    lines_matched: int = 0
    pack: str | None = None  # the pack that matched most lines
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Reader:
    """Byte chunks ending at a newline, with lines longer than `max_line` cut."""

    chunk: int = CHUNK_BYTES
    max_line: int = MAX_LINE
    cut: int = 0

    def blocks(self, fh: BinaryIO) -> Iterator[bytes]:
        pending, skipping = b"", False
        while block := fh.read(self.chunk):
            if skipping:  # inside a line already cut: drop bytes up to its newline
                nl = block.find(b"\n")
                if nl < 0:
                    continue
                block, skipping = pending + block[nl:], False
                pending = b""
            last = block.rfind(b"\n")
            if last < 0:
                pending, skipping = self._tail(pending + block)
                continue
            yield pending + block[: last + 1]
            pending, skipping = self._tail(block[last + 1 :])
        if pending:
            yield pending

    def _tail(self, tail: bytes) -> tuple[bytes, bool]:
        if len(tail) <= self.max_line:
            return tail, False
        self.cut += 1
        return tail[: self.max_line], True


def read_log(
    path: Path,
    packs: list[LogPack] | None = None,
    tz: str = "UTC",
    chunk_bytes: int = CHUNK_BYTES,
    sniffed: bool = False,
) -> LogData:
    """Events of one log; InputError for an unreadable file, a bad `tz`, or a `sniffed`
    file (taken as a log because it is text, not because `--log` said so) that does not
    look like a log (`not_a_log`)."""
    logtime.require_tz(tz)
    packs = load_packs() if packs is None else packs
    data = LogData(LOG_EVENTS.empty())
    reader, counts, bad, frames = _Reader(chunk_bytes), Counter[str](), 0, []
    try:
        with path.open("rb") as fh:
            head = fh.read(65536)
            if _binary(head):
                data.warnings.append(
                    f"{path}: does not look like a text log (binary data); skipped"
                )
                return data
            if sniffed and (why := markdown_document(head)):
                raise InputError(f"{why}, not a log; {_FORCE}", source=str(path))
            fh.seek(0)
            for events, n_lines, n_bad in _chunks(reader.blocks(fh), packs, tz):
                bad += n_bad
                data.lines_total += n_lines
                packs_hit = events["pattern"].str.split("/").list.first().value_counts()
                counts.update(dict(packs_hit.iter_rows()))
                frames.append(events)
    except OSError as exc:
        raise InputError(f"cannot read log: {exc.strerror}", source=str(path)) from None
    data = _finish(data, path, frames, counts, bad, reader.cut)
    if sniffed and (why := not_a_log(data)):
        raise InputError(f"{why}; {_FORCE}", source=str(path))
    return data


def not_a_log(data: LogData) -> str | None:
    """Why a text file is not taken for a log, or None when it is one.

    A log wsdoctor reads has at least one line a log pack matches that carries a
    timestamp: a WebSocket event it can place in time. One is enough because real logs
    are mostly other lines (an SDK's object dumps and stack traces: the JS SDK's log has
    1 timed event in 178 lines), while prose has none: a README or a config file quotes
    a log string without its timestamp, `/etc/hostname` matches nothing. A log whose
    tool prints no time at all (the Python SDK v3's verbose log) is read with `--log`.
    """
    timed = data.events.filter(pl.col("time").is_not_null()).height
    if timed:
        return None
    if not data.lines_matched:
        return (
            f"a text file, but not a log wsdoctor reads: none of its {data.lines_total} "
            "line(s) matched a log pack"
        )
    return (
        f"a text file, but not a log wsdoctor reads: {data.lines_matched} of its "
        f"{data.lines_total} line(s) matched a log pack, none with a timestamp"
    )


def _chunks(
    blocks: Iterator[bytes], packs: list[LogPack], tz: str
) -> Iterator[tuple[pl.DataFrame, int, int]]:
    """(events, lines, bad lines) per block, in file order, matched by WORKERS threads.

    Polars releases the GIL, so blocks are matched concurrently; at most WORKERS + 1
    blocks are in flight, which bounds memory whatever the file size. Each task runs in a
    copy of the caller's context so `redact.disabled()` reaches the worker threads.
    """
    pending: deque[Future[tuple[pl.DataFrame, int, int]]] = deque()
    first = 0
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="read_log") as pool:
        for block in blocks:
            ctx = contextvars.copy_context()
            pending.append(pool.submit(ctx.run, _match_block, block, first, packs, tz))
            first += block.count(b"\n") + (not block.endswith(b"\n"))
            if len(pending) > WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _match_block(
    block: bytes, first_line: int, packs: list[LogPack], tz: str
) -> tuple[pl.DataFrame, int, int]:
    lines, bad = _decode(block, first_line)
    return match_lines(lines, packs, tz), lines.height, bad


def _finish(
    data: LogData, path: Path, frames: list[pl.DataFrame], counts: Counter[str], bad: int, cut: int
) -> LogData:
    if frames:
        # No rechunk: copying every block's events into one buffer doubled peak memory.
        events = pl.concat(frames, rechunk=False).with_columns(input=pl.lit(str(path)))
        data.events = LOG_EVENTS.conform(events)
    data.lines_matched = data.events.height
    data.pack = counts.most_common(1)[0][0] if counts else None
    if bad:
        data.warnings.append(
            f"{path}: {bad} line(s) are not valid UTF-8 (mixed encodings?); "
            "undecodable bytes replaced with U+FFFD"
        )
    if cut:
        data.warnings.append(f"{path}: {cut} line(s) longer than {MAX_LINE} bytes were cut")
    if (refused := logtime.out_of_window(data.events)).height:
        first = refused.row(0, named=True)
        data.warnings.append(
            f"{path}: {refused.height} line(s) have a timestamp not {logtime.WINDOW} "
            f"(first: line {first['line']}, {first['time_local_text'][:40]!r}); "
            "read without a time"
        )
    if data.lines_total and not data.lines_matched:
        data.warnings.append(f"{path}: none of {data.lines_total} line(s) matched a log pack")
    return data


def _binary(head: bytes) -> bool:
    """Mostly NUL/control bytes: a capture or core dump passed where a log was expected."""
    if not head:
        return False
    control = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    return head.count(0) > 0.01 * len(head) or control > 0.1 * len(head)


def _decode(block: bytes, first_line: int) -> tuple[pl.DataFrame, int]:
    """(line numbers + text, count of lines that were not valid UTF-8)."""
    try:
        block.decode("utf-8")  # validation only: ~10x cheaper than splitting in Python
        bad = 0
    except UnicodeDecodeError:
        block = block.decode("utf-8", errors="replace").encode("utf-8")
        bad = -1
    df = _split_lines(block)
    if b"\r" in block:  # read_lines drops one `\r` before `\n`; we drop them all
        df = df.with_columns(pl.col("raw").str.strip_chars_end("\r"))
    long = df["raw"].str.len_bytes() > MAX_LINE
    if long.any():
        df = df.with_columns(
            pl.when(long).then(pl.col("raw").str.slice(0, MAX_LINE)).otherwise(pl.col("raw"))
        )
    if bad:
        bad = int(df["raw"].str.contains("\ufffd", literal=True).sum())
    return df.select((pl.col("line").cast(pl.Int64) + first_line + 1), "raw"), bad


def _split_lines(block: bytes) -> pl.DataFrame:
    """Columns line (0-based) and raw. Polars' own line reader is 3x faster than
    `str.split` + `explode`, which remains the fallback for polars without it."""
    if hasattr(pl, "read_lines") and block:
        # One chunk: list and partition kernels over read_lines' many chunks cost 2x.
        return pl.read_lines(block, name="raw", row_index_name="line").rechunk()
    body = block.decode("utf-8").removesuffix("\n")
    raw = pl.Series("raw", [body]).str.split("\n").explode()
    return pl.DataFrame(raw).with_row_index("line")


def match_lines(lines: pl.DataFrame, packs: list[LogPack], tz: str = "UTC") -> pl.DataFrame:
    """Events (LOG_EVENTS columns but `input`) for `lines` (columns line, raw)."""
    lines, has_json = jsonl_view(lines, packs)
    if not has_json:  # a field-mapping pack's own patterns read only JSON lines
        packs = [p for p in packs if not p.is_jsonl]
    literals = sorted({lit for pack in packs for p in pack.patterns for lit in p.literals})
    if not literals or lines.is_empty():
        return _empty()
    by_literal = _by_literal(lines, literals)
    formats = list(dict.fromkeys(_formats(pack) for pack in packs))
    hits = []
    for order, (pack, pattern) in enumerate((k, p) for k in packs for p in k.patterns):
        subs = [by_literal[lit] for lit in pattern.literals if lit in by_literal]
        hit = _apply(_union(subs), pack, pattern) if subs else None
        if hit is not None:
            fmt = formats.index(_formats(pack))
            hits.append(hit.with_columns(order=pl.lit(order, pl.Int32), _fmt=pl.lit(fmt)))
    if not hits:
        return _empty()
    return _conform(_timed(_first_wins(hits), formats, tz))


def _by_literal(lines: pl.DataFrame, literals: list[str]) -> dict[str, pl.DataFrame]:
    """Lines grouped by each literal they contain, from one Aho-Corasick pass.

    A line holding several literals lands in several groups; holding one literal twice,
    in its group once (`list.unique`), so no regex runs twice on the same line. Lines
    with no literal explode to a null key, which is dropped: a separate `contains_any`
    prefilter would only scan the lines a second time.
    """
    hits = pl.col("match").str.extract_many(literals, overlapping=True).list.unique()
    exploded = lines.with_columns(hits=hits).explode("hits")
    parts = exploded.partition_by("hits", as_dict=True, include_key=False)
    return {key: part for (key,), part in parts.items() if key is not None}


def _union(subs: list[pl.DataFrame]) -> pl.DataFrame:
    """A pattern's candidates over all its literals, each line once."""
    if len(subs) == 1:
        return subs[0]
    return pl.concat(subs).unique("line", keep="first")


def _first_wins(hits: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per line: the hit of the pattern that comes first in pack order.

    Sorting by (line, order) and keeping rows whose line differs from the previous row's
    is a sort plus a shift; `unique(maintain_order=True)` hashes every row on top of that.
    """
    found = pl.concat(hits, how="diagonal_relaxed").sort("line", "order")
    return found.filter(pl.col("line").ne_missing(pl.col("line").shift(1)))


def _conform(df: pl.DataFrame) -> pl.DataFrame:
    """LOG_EVENTS columns but `input`; a group that captured junk becomes null, not an error."""
    cols = [
        (pl.col(k) if k in df.columns else pl.lit(None)).cast(t, strict=False).alias(k)
        for k, (t, _) in LOG_EVENTS.columns.items()
        if k != "input"
    ]
    return _own_strings(df.select(cols).sort("line"), ("text", "time_local_text"))


def _own_strings(df: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """`columns` copied out of the block's line buffer.

    Slices of a line (the cut `text`, a timestamp read by FastShape) are views into the
    whole block's buffer, so keeping a block's events kept the block: memory grew with
    the file, not with the events. `concat_str` writes new strings.
    """
    return df.with_columns(pl.concat_str([pl.col(c), pl.lit("")]).alias(c) for c in columns)


def _apply(cands: pl.DataFrame, pack: LogPack, pattern: LogPattern) -> pl.DataFrame | None:
    """The candidate lines `pattern` matches, with its groups as columns.

    A pattern with groups runs its regex once, capturing into a struct whose `_all` group
    tells matched rows apart: filtering first and capturing after scanned matched lines
    twice, and eager `select` re-ran the capture for every field read from it.
    """
    if pack.is_jsonl:  # its own patterns read only the lines its field mapping rewrote
        cands = cands.filter(pl.col("match") != pl.col("raw"))
    if not pattern.groups:
        sub = cands.filter(pl.col("match").str.contains(pattern.regex))
    else:
        captured = pl.col("match").str.extract_groups(f"(?P<_all>{pattern.regex})")
        sub = cands.with_columns(_g=captured).filter(
            pl.col("_g").struct.field("_all").is_not_null()
        )
    if sub.is_empty():
        return None
    fields = [_group(g, pattern) for g in pattern.groups]
    return sub.select(pl.col("line"), pl.col("raw"), pl.col("match"), *fields).with_columns(
        kind=pl.lit(pattern.kind),
        pattern=pl.lit(f"{pack.name}/{pattern.id}"),
        side=_side(pack, pattern),
        stamped_at=pl.lit(pack.stamped_at),
    )


def _group(name: str, pattern: LogPattern) -> pl.Expr:
    """One captured group; a close code printed as a name becomes its number, an opcode
    its contract name (TEXT -> text, CONT -> continuation; one not known -> null)."""
    value = pl.col("_g").struct.field(name)
    if name == "code" and pattern.code_names:
        value = value.replace({k: str(v) for k, v in pattern.code_names.items()})
    if name == "opcode":
        value = value.str.to_lowercase().replace_strict(_OPCODES, default=None)
    return value.alias(name)


# Opcode names as tools print them (lower-cased) -> the contract's.
_OPCODES = {**{o: o for o in OPCODES}, "cont": "continuation"}


def _side(pack: LogPack, pattern: LogPattern) -> pl.Expr:
    """A fixed side, the regex's `side` group, or the first pack side hint in the line."""
    if pattern.side != "auto":
        fallback: pl.Expr = pl.lit(pattern.side)
    else:
        fallback = pl.lit("unknown")
        for literal, side in reversed(pack.side_hints):
            fallback = (
                pl.when(pl.col("match").str.contains(literal, literal=True))
                .then(pl.lit(side))
                .otherwise(fallback)
            )
    if "side" in pattern.groups:
        return pl.col("side").replace({"c": "client", "s": "server"}).fill_null(fallback)
    return fallback


def _timed(found: pl.DataFrame, formats: list[tuple[str, ...]], tz: str) -> pl.DataFrame:
    """Times, then redacted text, for hits from all packs (`_fmt` indexes `formats`).

    Timestamps are parsed once per distinct format list rather than once per pack, and
    `text` is redacted in one pass over all rows: redact, then cut, so a cut key stays
    masked.
    """
    found = found.rename({g: _FIELDS[g] for g in _FIELDS if g in found.columns})
    if "opcode" in found.columns:  # a frame is final unless its line says `continued`
        more = pl.col("continued").is_not_null() if "continued" in found.columns else pl.lit(False)
        found = found.with_columns(fin=pl.when(pl.col("opcode").is_not_null()).then(~more))
    found = found.with_columns(
        address(pl.col(c)) for c in ("remote", "local") if c in found.columns
    )
    parts = found.partition_by("_fmt", as_dict=True, include_key=False)
    timed = [logtime.parse(part, "match", list(formats[i]), tz) for (i,), part in parts.items()]
    hit = pl.concat(timed, how="diagonal_relaxed") if len(timed) > 1 else timed[0]
    return redact.log_hits(hit).with_columns(pl.col("text").str.slice(0, TEXT_MAX))


_URL = r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]+\]|[^:/?#]+)(?::(\d+))?"
_TUPLE = r"^\('([^']+)', (\d+)\)$"
_DEFAULT_PORTS = {"ws": "80", "http": "80", "wss": "443", "https": "443"}


def address(col: pl.Expr) -> pl.Expr:
    """An address as a line writes it, as `host:port` (`[v6]:port`) or `host`.

    Tools name a peer by URL (Chromium's `WebSocket connection to 'ws://h:p/path'`) or by
    a Python address tuple (`('127.0.0.21', 8080)`); sessions name it `host:port`, so the
    two are compared and shown alike. A URL without a port gets its scheme's default.
    """
    scheme = col.str.extract(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", 1).str.to_lowercase()
    url_host, url_port = col.str.extract(_URL, 1), col.str.extract(_URL, 2)
    port = pl.coalesce(url_port, scheme.replace_strict(_DEFAULT_PORTS, default=None))
    from_url = pl.when(port.is_not_null()).then(pl.format("{}:{}", url_host, port))
    tup_host, tup_port = col.str.extract(_TUPLE, 1), col.str.extract(_TUPLE, 2)
    bracketed = pl.when(tup_host.str.contains(":")).then(pl.format("[{}]", tup_host))
    from_tuple = pl.format("{}:{}", bracketed.otherwise(tup_host), tup_port)
    return (
        pl.when(url_host.is_not_null())
        .then(from_url.otherwise(url_host))
        .when(tup_host.is_not_null())
        .then(from_tuple)
        .otherwise(col)
    )


def _formats(pack: LogPack) -> tuple[str, ...]:
    """The pack's timestamp formats, then ISO 8601 and epoch as fallbacks."""
    fallback = [f for f in ("iso8601", "epoch") if f not in pack.timestamps]
    return (*pack.timestamps, *fallback)


def _empty() -> pl.DataFrame:
    return LOG_EVENTS.empty().drop("input")
