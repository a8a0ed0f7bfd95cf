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

from dataclasses import dataclass

import polars as pl

_HMS = r"(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
_ISO_ZONE = r"(?P<z>Z|[+-]\d{2}:?\d{2})?"
_ISO = (
    rf"(?P<Y>\d{{4}})-(?P<m>\d{{2}})-(?P<d>\d{{2}})[T ]{_HMS}(?:[.,](?P<f>\d{{1,9}}))?{_ISO_ZONE}"
)


@dataclass(frozen=True)
class TimeFormat:
    """One timestamp shape: a regex with named groups Y m|b d H M S and optional f z,
    or e (epoch seconds) and f."""

    name: str
    regex: str
    example: str


FORMATS: dict[str, TimeFormat] = {
    f.name: f
    for f in (
        # ISO 8601 with optional fraction (`.` or Python logging's `,`) and zone; ALB µs.
        TimeFormat("iso8601", _ISO, "2026-11-21T20:25:49.603Z"),
        TimeFormat("python-logging", _ISO, "2026-11-21 20:25:51,504"),
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
        # squid native access.log: `<epoch>.<ms>` first on the line.
        TimeFormat("epoch", r"^(?P<e>\d{9,11})(?:\.(?P<f>\d{1,9}))?\b", "1795297766.573"),
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


def _frac_ns(groups: pl.Expr) -> pl.Expr:
    return groups.struct.field("f").str.pad_end(9, "0").cast(pl.Int64).fill_null(0)


def _offset_minutes(zone: pl.Expr) -> pl.Expr:
    """`Z`, `+0100`, `-05:30` as minutes east of UTC (null when no zone was written)."""
    digits = zone.str.replace(":", "", literal=True)
    # strict=False: `Z` slices to "" and polars evaluates both branches of the `when`
    hours = digits.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = hours * 60 + digits.str.slice(3, 2).cast(pl.Int64, strict=False)
    signed = pl.when(digits.str.starts_with("-")).then(-minutes).otherwise(minutes)
    return pl.when(zone == "Z").then(0).otherwise(signed)


def _calendar(fmt: TimeFormat, g: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(UTC time, zone-was-assumed, matched text) from a format's extracted groups `g`."""
    month = (
        g.struct.field("b").replace_strict(_MONTHS, default=None)
        if "(?P<b>" in fmt.regex
        else g.struct.field("m")
    )
    stamp = pl.concat_str(
        [
            g.struct.field("Y"),
            pl.lit("-"),
            month,
            pl.lit("-"),
            g.struct.field("d"),
            pl.lit(" "),
            g.struct.field("H"),
            pl.lit(":"),
            g.struct.field("M"),
            pl.lit(":"),
            g.struct.field("S"),
        ]
    )
    naive = stamp.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ns", strict=False)
    naive = naive + pl.duration(nanoseconds=_frac_ns(g) if "(?P<f>" in fmt.regex else pl.lit(0))
    raw = g.struct.field("all")
    if "(?P<z>" not in fmt.regex:
        return _local(naive, tz), naive.is_not_null(), raw
    zone = g.struct.field("z")
    zoned = (naive - pl.duration(minutes=_offset_minutes(zone))).dt.replace_time_zone("UTC")
    time = pl.when(zone.is_not_null()).then(zoned).otherwise(_local(naive, tz))
    return time, naive.is_not_null() & zone.is_null(), raw


def _local(naive: pl.Expr, tz: str) -> pl.Expr:
    local = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _epoch(g: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    ns = g.struct.field("e").cast(pl.Int64) * 1_000_000_000 + _frac_ns(g)
    time = pl.from_epoch(ns, time_unit="ns").dt.replace_time_zone("UTC")
    return time, pl.lit(False), g.struct.field("all")


def parse(df: pl.DataFrame, column: str, names: list[str], tz: str = "UTC") -> pl.DataFrame:
    """`df` plus time (UTC ns), time_local_text and tz_assumed, from the first format of
    `names` that parses `column`.

    Each format's regex runs once, into a struct column, before any field is read:
    expressions that each re-ran the regex cost five times more.
    """
    if not names:
        return df.with_columns(
            time=pl.lit(None, TS),
            time_local_text=pl.lit(None, pl.String),
            tz_assumed=pl.lit(None, pl.Boolean),
        )
    head = pl.col(column).str.slice(0, HEAD_CHARS)
    structs = [f"_ts{i}" for i in range(len(names))]
    df = df.with_columns(
        head.str.extract_groups(f"(?P<all>{FORMATS[n].regex})").alias(s)
        for n, s in zip(names, structs, strict=True)
    )
    times, raws, assumed = [], [], []
    for name, struct in zip(names, structs, strict=True):
        g = pl.col(struct)
        time, zone_assumed, raw = _epoch(g) if name == "epoch" else _calendar(FORMATS[name], g, tz)
        times.append(time.cast(TS))
        raws.append(pl.when(time.is_not_null()).then(raw))
        assumed.append(pl.when(time.is_not_null()).then(zone_assumed))
    return df.with_columns(
        time=pl.coalesce(times),
        time_local_text=pl.coalesce(raws),
        tz_assumed=pl.coalesce(assumed),
    ).drop(structs)


def check_tz(tz: str) -> str | None:
    """A message when `tz` is not an IANA zone polars knows, else None."""
    try:
        pl.select(pl.lit(0).cast(pl.Datetime("ns")).dt.replace_time_zone(tz))
    except Exception as exc:
        return f"unknown time zone {tz!r} ({type(exc).__name__})"
    return None
