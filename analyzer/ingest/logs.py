"""Application and proxy logs -> LOG_EVENTS, vectorised and in bounded memory.

Logs arrive as whatever a customer could copy off a box: multi-GB, mixed encodings, one
giant line, sometimes not text at all. So the file is read in byte chunks split at
newlines (never all of it at once), overlong lines are cut, bad UTF-8 is replaced and
counted, and nothing a log contains raises: problems become warnings. Matching is one
Aho-Corasick pass over all patterns' literals, then each pattern's regex runs only on the
lines holding its literal; the first pattern (in pack order) to match a line wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

from analyzer import redact
from analyzer.errors import InputError
from analyzer.ingest import logtime
from analyzer.ingest.logpacks import LogPack, LogPattern, load_packs
from analyzer.schema import LOG_EVENTS

CHUNK_BYTES = 64 * 1024 * 1024
MAX_LINE = 64 * 1024
TEXT_MAX = 500
_FIELDS = {
    "code": "close_code",
    "reason": "close_reason",
    "status": "status",
    "request_id": "request_id",
    "port": "local_port",
    "remote": "remote",
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
    path: Path, packs: list[LogPack] | None = None, tz: str = "UTC", chunk_bytes: int = CHUNK_BYTES
) -> LogData:
    """Events of one log; InputError only for an unreadable file or a bad `tz`."""
    if (problem := logtime.check_tz(tz)) is not None:
        raise InputError(problem, source="--log-tz", hint="use an IANA name such as Europe/Berlin")
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
            fh.seek(0)
            for block in reader.blocks(fh):
                lines, n_bad = _decode(block, data.lines_total)
                bad += n_bad
                data.lines_total += lines.height
                events = match_lines(lines, packs, tz)
                counts.update(events["pattern"].str.split("/").list.first().to_list())
                frames.append(events)
    except OSError as exc:
        raise InputError(f"cannot read log: {exc.strerror}", source=str(path)) from None
    return _finish(data, path, frames, counts, bad, reader.cut)


def _finish(
    data: LogData, path: Path, frames: list[pl.DataFrame], counts: Counter[str], bad: int, cut: int
) -> LogData:
    if frames:
        data.events = LOG_EVENTS.conform(pl.concat(frames).with_columns(input=pl.lit(str(path))))
    data.lines_matched = data.events.height
    data.pack = counts.most_common(1)[0][0] if counts else None
    if bad:
        data.warnings.append(
            f"{path}: {bad} line(s) are not valid UTF-8 (mixed encodings?); "
            "undecodable bytes replaced with U+FFFD"
        )
    if cut:
        data.warnings.append(f"{path}: {cut} line(s) longer than {MAX_LINE} bytes were cut")
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
        text, bad = block.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = block.decode("utf-8", errors="replace")
        bad = -1
    body = text[:-1] if text.endswith("\n") else text
    raw = pl.Series("raw", [body]).str.split("\n").explode()
    df = pl.DataFrame(raw).with_row_index("line", offset=first_line + 1)
    df = df.with_columns(pl.col("raw").str.strip_chars_end("\r"))
    long = df["raw"].str.len_bytes() > MAX_LINE
    if long.any():
        df = df.with_columns(
            pl.when(long).then(pl.col("raw").str.slice(0, MAX_LINE)).otherwise(pl.col("raw"))
        )
    if bad:
        bad = int(df["raw"].str.contains("\ufffd", literal=True).sum())
    return df.with_columns(pl.col("line").cast(pl.Int64)), bad


def match_lines(lines: pl.DataFrame, packs: list[LogPack], tz: str = "UTC") -> pl.DataFrame:
    """Events (LOG_EVENTS columns but `input`) for `lines` (columns line, raw)."""
    lines = _jsonl_view(lines, packs)
    literals = sorted({p.literal for pack in packs for p in pack.patterns})
    if not literals or lines.is_empty():
        return _empty()
    cands = lines.filter(pl.col("match").str.contains_any(literals))
    if cands.is_empty():
        return _empty()
    cands = cands.with_columns(hits=pl.col("match").str.extract_many(literals, overlapping=True))
    # One pass groups the candidate lines by the literal they contain; each pattern then
    # runs its regex only on its literal's lines. The first pattern (pack order) wins.
    by_literal = cands.explode("hits").partition_by("hits", as_dict=True, include_key=False)
    hits = []
    for order, (pack, pattern) in enumerate((k, p) for k in packs for p in k.patterns):
        sub = by_literal.get((pattern.literal,))
        hit = _apply(sub, pack, pattern) if sub is not None else None
        if hit is not None:
            hits.append(hit.with_columns(order=pl.lit(order), pack_name=pl.lit(pack.name)))
    if not hits:
        return _empty()
    found = pl.concat(hits, how="diagonal_relaxed").sort("line", "order")
    found = found.unique("line", keep="first", maintain_order=True)
    timed = (
        [
            _timed(part, by_name[name], tz)
            for (name,), part in found.partition_by("pack_name", as_dict=True).items()
        ]
        if (by_name := {k.name: k for k in packs})
        else []
    )
    return _conform(pl.concat(timed, how="diagonal_relaxed"))


def _conform(df: pl.DataFrame) -> pl.DataFrame:
    """LOG_EVENTS columns but `input`; a group that captured junk becomes null, not an error."""
    cols = [
        (pl.col(k) if k in df.columns else pl.lit(None)).cast(t, strict=False).alias(k)
        for k, (t, _) in LOG_EVENTS.columns.items()
        if k != "input"
    ]
    return df.select(cols).sort("line")


def _jsonl_view(lines: pl.DataFrame, packs: list[LogPack]) -> pl.DataFrame:
    """Add `match`: the text patterns see. JSON lines become `time level message`."""
    match = pl.col("raw")
    for pack in (p for p in packs if p.is_jsonl):
        p = pack.params
        parts = [
            pl.col("raw").str.json_path_match(f"$.{p[k]}").fill_null("")
            for k in ("time_field", "level_field", "message_field")
            if p.get(k)
        ]
        is_json = pl.col("raw").str.starts_with("{")
        match = pl.when(is_json).then(pl.concat_str(parts, separator=" ")).otherwise(match)
    return lines.with_columns(match=match)


def _apply(cands: pl.DataFrame, pack: LogPack, pattern: LogPattern) -> pl.DataFrame | None:
    sub = cands.filter(pl.col("match").str.contains(pattern.regex))
    if sub.is_empty():
        return None
    cols = [pl.col("line"), pl.col("raw"), pl.col("match")]
    if pattern.groups:
        groups = pl.col("match").str.extract_groups(pattern.regex)
        cols += [groups.struct.field(g).alias(g) for g in pattern.groups]
    return sub.select(cols).with_columns(
        kind=pl.lit(pattern.kind),
        pattern=pl.lit(f"{pack.name}/{pattern.id}"),
        side=_side(pack, pattern),
    )


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


def _timed(hit: pl.DataFrame, pack: LogPack, tz: str) -> pl.DataFrame:
    formats = list(pack.timestamps) + [f for f in ("iso8601", "epoch") if f not in pack.timestamps]
    renames = {g: _FIELDS[g] for g in _FIELDS if g in hit.columns}
    text = redact.text_expr(pl.col("raw")).str.slice(
        0, TEXT_MAX
    )  # redact, then cut: a cut key stays masked
    hit = logtime.parse(hit.rename(renames), "match", formats, tz).with_columns(text=text)
    if "close_reason" in hit.columns:
        hit = hit.with_columns(redact.text_expr(pl.col("close_reason")))
    return hit.drop("raw", "match", "order", "pack_name", strict=False)


def _empty() -> pl.DataFrame:
    return LOG_EVENTS.empty().drop("input")
