"""Log timestamps as polars expressions: a handful of named formats, parsed vectorised.

Every tool writes time its own way (nginx `2026/11/21 21:47:38`, access logs
`[21/Nov/2026:21:46:33 +0000]`, HAProxy `[21/Nov/2026:21:47:45.687]`, squid epoch
seconds, ISO 8601 from Python/Node/ALB/Envoy). A pack names the formats it uses, in order
of preference; the first that matches a line wins. Each format is one regex with named
groups, so one parser turns any of them into UTC nanoseconds. A time written without a
zone is read in the caller's `tz` (a future `--log-tz`) and flagged as assumed, because a
wrong guess shifts every log event against the capture.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from analyzer.errors import InputError

# The years a log line or a HAR time may carry. A clock never set (1970), a corrupt year
# (0001, 9999) or a wrong unit would make sessions decades long, and beyond 1677..2262
# polars' nanosecond clock wraps silently (year 9999 read as 1816). Such times are dropped
# with a warning, never read.
FIRST_YEAR, END_YEAR = 2000, 2100
EARLIEST = dt.datetime(FIRST_YEAR, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(END_YEAR, 1, 1, tzinfo=dt.UTC)
WINDOW = f"between {FIRST_YEAR} and {END_YEAR - 1}"
_FIRST_S, _END_S = int(EARLIEST.timestamp()), int(LATEST.timestamp())

_HMS = r"(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
_ISO_ZONE = r"(?P<z>Z|[+-]\d{2}:?\d{2})?"
_ISO = (
    rf"(?P<Y>\d{{4}})-(?P<m>\d{{2}})-(?P<d>\d{{2}})[T ]{_HMS}(?:[.,](?P<f>\d{{1,9}}))?{_ISO_ZONE}"
)


@dataclass(frozen=True)
class FastShape:
    """The one exact spelling of a format most lines use, parsed by strptime alone.

    `regex` (anchored at the line start) guarantees that the format's own regex would
    match the same `width` characters there with a UTC zone, so the result is identical;
    lines of any other spelling fall through to the regex. Half the cost per line.
    """

    regex: str
    strptime: str
    width: int


@dataclass(frozen=True)
class TimeFormat:
    """One timestamp shape: a regex with named groups Y m|b d H M S and optional f z,
    or e (epoch seconds) and f, or es and ms (epoch milliseconds)."""

    name: str
    regex: str
    example: str
    fast: FastShape | None = None


# JavaScript's Date.toISOString() and most JSON loggers: `2026-11-21T20:25:49.603Z`.
_ISO_MS_Z = FastShape(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", "%Y-%m-%dT%H:%M:%S%.3fZ", 24)


FORMATS: dict[str, TimeFormat] = {
    f.name: f
    for f in (
        # ISO 8601 with optional fraction (`.` or Python logging's `,`) and zone; ALB µs.
        TimeFormat("iso8601", _ISO, "2026-11-21T20:25:49.603Z", _ISO_MS_Z),
        TimeFormat("python-logging", _ISO, "2026-11-21 20:25:51,504", _ISO_MS_Z),
        # nginx error.log and squid cache.log; never carries a zone.
        TimeFormat(
            "nginx",
            rf"(?P<Y>\d{{4}})/(?P<m>\d{{2}})/(?P<d>\d{{2}})[ T]{_HMS}",
            "2026/11/21 21:47:38",
        ),
        # Common/combined log format and HAProxy's accept date (ms, no zone).
        TimeFormat(
            "clf",
            rf"\[(?P<d>\d{{2}})/(?P<b>[A-Z][a-z]{{2}})/(?P<Y>\d{{4}}):{_HMS}"
            r"(?:\.(?P<f>\d{1,9}))?(?: (?P<z>[+-]\d{4}))?\]",
            "[21/Nov/2026:21:46:33 +0000]",
        ),
        # Apache httpd's error log: `[Mon Dec 07 05:25:39.819755 2026]`, local time, no zone.
        TimeFormat(
            "apache-error",
            rf"\[[A-Z][a-z]{{2}} (?P<b>[A-Z][a-z]{{2}}) (?P<d>\d{{2}}) {_HMS}"
            r"(?:\.(?P<f>\d{1,9}))? (?P<Y>\d{4})\]",
            "[Mon Dec 07 05:25:39.819755 2026]",
        ),
        # squid native access.log: `<epoch>.<ms>` first on the line; pino and other JSON
        # loggers: epoch milliseconds (13 digits), the last three digits read as `ms`.
        TimeFormat(
            "epoch",
            r"^(?:(?P<e>\d{9,10})(?:\.(?P<f>\d{1,9}))?|(?P<es>\d{10})(?P<ms>\d{3}))\b",
            "1795297766.573",
        ),
    )
}
_MONTHS = {
    m: f"{i:02d}"
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
TS = pl.Datetime("ns", "UTC")
# Timestamps lead their lines (after at most a host, pid or client address prefix), so
# only the head of each line is searched: regex cost stops growing with line length.
HEAD_CHARS = 120


def _frac_ns(digits: pl.Expr) -> pl.Expr:
    """A fraction's digits (`573`, `000123`) as nanoseconds; 0 when there are none."""
    return digits.str.pad_end(9, "0").cast(pl.Int64).fill_null(0)


def _offset_minutes(zone: pl.Expr) -> pl.Expr:
    """`Z`, `+0100`, `-05:30` as minutes east of UTC (null when no zone was written)."""
    digits = zone.str.replace(":", "", literal=True)
    # strict=False: `Z` slices to "" and polars evaluates both branches of the `when`
    hours = digits.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = hours * 60 + digits.str.slice(3, 2).cast(pl.Int64, strict=False)
    signed = pl.when(digits.str.starts_with("-")).then(-minutes).otherwise(minutes)
    return pl.when(zone == "Z").then(0).otherwise(signed)


def _calendar(df: pl.DataFrame, fmt: TimeFormat, tz: str) -> pl.DataFrame:
    """`df` plus `time` (UTC) and `_assumed` (no zone written) from the groups in `_ts`.

    Built in steps, each reading the previous step's column: as one expression the
    naive time was re-parsed for every use of it.
    """
    g = pl.col("_ts")
    month = (
        g.struct.field("b").replace_strict(_MONTHS, default=None)
        if "(?P<b>" in fmt.regex
        else g.struct.field("m")
    )
    fields = [g.struct.field("Y"), month, g.struct.field("d")]
    fields += [g.struct.field("H"), g.struct.field("M"), g.struct.field("S")]
    year = g.struct.field("Y").cast(pl.Int32, strict=False)
    df = df.with_columns(_rejected=~year.is_between(FIRST_YEAR, END_YEAR - 1))
    stamp = pl.when(~pl.col("_rejected")).then(pl.concat_str(fields, separator=" "))
    naive = stamp.str.to_datetime("%Y %m %d %H %M %S", time_unit="ns", strict=False)
    if "(?P<f>" in fmt.regex:
        naive = naive + pl.duration(nanoseconds=_frac_ns(g.struct.field("f")))
    df = df.with_columns(_naive=naive)
    naive = pl.col("_naive")
    if "(?P<z>" not in fmt.regex:
        return df.with_columns(time=_local(naive, tz), _assumed=naive.is_not_null())
    zone = g.struct.field("z")
    zoned = (naive - pl.duration(minutes=_offset_minutes(zone))).dt.replace_time_zone("UTC")
    return df.with_columns(
        time=pl.when(zone.is_not_null()).then(zoned).otherwise(_local(naive, tz)),
        _assumed=naive.is_not_null() & zone.is_null(),
    )


def _local(naive: pl.Expr, tz: str) -> pl.Expr:
    local = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _epoch(df: pl.DataFrame) -> pl.DataFrame:
    """`df` plus `time` and `_assumed` (epoch seconds are UTC by definition).

    Epoch milliseconds (13 digits, `1795311667476`) match as ten digits of seconds `es`
    plus three of `ms`, read like the fraction of `1795311667.476`."""
    g = pl.col("_ts")
    seconds = pl.coalesce(g.struct.field("e"), g.struct.field("es")).cast(pl.Int64)
    df = df.with_columns(_rejected=~seconds.is_between(_FIRST_S, _END_S, closed="left"))
    frac = pl.coalesce(g.struct.field("f"), g.struct.field("ms"))
    ns = pl.when(~pl.col("_rejected")).then(seconds * 1_000_000_000 + _frac_ns(frac))
    time = pl.from_epoch(ns, time_unit="ns").dt.replace_time_zone("UTC")
    return df.with_columns(time=time, _assumed=pl.lit(False))


def parse(df: pl.DataFrame, column: str, names: list[str], tz: str = "UTC") -> pl.DataFrame:
    """`df` plus time (UTC ns), time_local_text and tz_assumed, from the first format of
    `names` that parses `column`.

    Formats are tried in turn, each only on the rows no earlier format parsed, and a
    format whose regex repeats an earlier one's (python-logging is ISO 8601) is skipped:
    a log usually has one timestamp shape, so this is one regex pass, not one per format.
    A timestamp outside FIRST_YEAR..END_YEAR keeps its time_local_text with a null time
    (see `out_of_window`): found, and refused rather than wrapped.
    """
    names = [n for i, n in enumerate(names) if FORMATS[n].regex not in _regexes(names[:i])]
    if not names:
        return df.with_columns(
            time=pl.lit(None, TS),
            time_local_text=pl.lit(None, pl.String),
            tz_assumed=pl.lit(None, pl.Boolean),
        )
    steps = _steps(names)
    rest, done = df.with_row_index("_ts_row"), []
    for i, (name, fast) in enumerate(steps):
        parsed = _parse_fast(rest, column, name) if fast else _parse_one(rest, column, name, tz)
        ok = parsed["time_local_text"].is_not_null()
        if i == len(steps) - 1 or ok.all():
            done.append(parsed)
            break
        done.append(parsed.filter(ok))
        rest = rest.filter(~ok)
    if len(done) == 1:
        return done[0].drop("_ts_row")
    return pl.concat(done, how="vertical_relaxed").sort("_ts_row").drop("_ts_row")


def out_of_window(df: pl.DataFrame) -> pl.DataFrame:
    """The rows of a `parse` result whose timestamp was found but refused."""
    return df.filter(pl.col("time").is_null() & pl.col("time_local_text").is_not_null())


def _steps(names: list[str]) -> list[tuple[str, bool]]:
    """(format, fast?) in order: a format's FastShape pass, then its regex on the rest."""
    out = []
    for name in names:
        if FORMATS[name].fast is not None:
            out.append((name, True))
        out.append((name, False))
    return out


def _regexes(names: list[str]) -> set[str]:
    return {FORMATS[n].regex for n in names}


def _parse_fast(df: pl.DataFrame, column: str, name: str) -> pl.DataFrame:
    """`df` plus the time columns for lines in the format's FastShape (others null)."""
    shape = FORMATS[name].fast
    assert shape is not None
    head = pl.col(column).str.slice(0, shape.width)
    naive = head.str.to_datetime(shape.strptime, time_unit="ns", strict=False)
    year = head.str.slice(0, 4).cast(pl.Int32, strict=False)
    fits = pl.col(column).str.contains(shape.regex) & year.is_between(FIRST_YEAR, END_YEAR - 1)
    time = pl.when(fits).then(naive)
    df = df.with_columns(time=time.dt.replace_time_zone("UTC").cast(TS))
    ok = pl.col("time").is_not_null()
    return df.with_columns(
        time_local_text=pl.when(ok).then(head), tz_assumed=pl.when(ok).then(pl.lit(False))
    )


def _parse_one(df: pl.DataFrame, column: str, name: str, tz: str) -> pl.DataFrame:
    """`df` plus the three time columns as format `name` reads them (null: no match).

    The regex runs once, into a struct column, before any field is read: expressions
    that each re-ran the regex cost five times more. Only the head of `column` is
    searched (HEAD_CHARS).
    """
    head = pl.col(column).str.slice(0, HEAD_CHARS)
    df = df.with_columns(head.str.extract_groups(f"(?P<all>{FORMATS[name].regex})").alias("_ts"))
    df = _epoch(df) if name == "epoch" else _calendar(df, FORMATS[name], tz)
    ok = pl.col("time").is_not_null()
    return df.with_columns(
        time=pl.col("time").cast(TS),
        time_local_text=pl.when(ok | pl.col("_rejected")).then(pl.col("_ts").struct.field("all")),
        tz_assumed=pl.when(ok).then(pl.col("_assumed")),
    ).drop("_ts", "_naive", "_assumed", "_rejected", strict=False)


def check_tz(tz: str) -> str | None:
    """A message when `tz` is not an IANA zone polars knows, else None."""
    try:
        pl.select(pl.lit(0).cast(pl.Datetime("ns")).dt.replace_time_zone(tz))
    except Exception as exc:
        return f"unknown time zone {tz!r} ({type(exc).__name__})"
    return None


def require_tz(tz: str) -> None:
    """InputError (one line, exit 2) for a `--log-tz` polars does not know."""
    if (problem := check_tz(tz)) is not None:
        raise InputError(problem, source="--log-tz", hint="use an IANA name such as Europe/Berlin")
