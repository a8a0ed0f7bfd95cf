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


def _frac_ns(groups: pl.Expr) -> pl.Expr:
    return groups.struct.field("f").str.pad_end(9, "0").cast(pl.Int64).fill_null(0)


def _offset_minutes(zone: pl.Expr) -> pl.Expr:
    """`Z`, `+0100`, `-05:30` as minutes east of UTC (null when no zone was written)."""
    digits = zone.str.replace(":", "", literal=True)
    minutes = digits.str.slice(1, 2).cast(pl.Int64) * 60 + digits.str.slice(3, 2).cast(pl.Int64)
    signed = pl.when(digits.str.starts_with("-")).then(-minutes).otherwise(minutes)
    return pl.when(zone == "Z").then(0).otherwise(signed)


def _calendar(fmt: TimeFormat, text: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr]:
    """(UTC time, zone-was-assumed) for a calendar format."""
    g = text.str.extract_groups(fmt.regex)
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
    if "(?P<z>" not in fmt.regex:
        return _local(naive, tz), naive.is_not_null()
    zone = g.struct.field("z")
    zoned = (naive - pl.duration(minutes=_offset_minutes(zone))).dt.replace_time_zone("UTC")
    time = pl.when(zone.is_not_null()).then(zoned).otherwise(_local(naive, tz))
    return time, naive.is_not_null() & zone.is_null()


def _local(naive: pl.Expr, tz: str) -> pl.Expr:
    local = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _epoch(fmt: TimeFormat, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    g = text.str.extract_groups(fmt.regex)
    ns = g.struct.field("e").cast(pl.Int64) * 1_000_000_000 + _frac_ns(g)
    return pl.from_epoch(ns, time_unit="ns").dt.replace_time_zone("UTC"), pl.lit(False)


def parse(text: pl.Expr, names: list[str], tz: str = "UTC") -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(time UTC ns, raw timestamp text, zone assumed) from the first format that parses."""
    times, raws, assumed = [], [], []
    for name in names:
        fmt = FORMATS[name]
        time, zone_assumed = _epoch(fmt, text) if name == "epoch" else _calendar(fmt, text, tz)
        times.append(time.cast(TS))
        raws.append(pl.when(time.is_not_null()).then(text.str.extract(fmt.regex, 0)))
        assumed.append(pl.when(time.is_not_null()).then(zone_assumed))
    if not names:
        return pl.lit(None, TS), pl.lit(None, pl.String), pl.lit(None, pl.Boolean)
    return pl.coalesce(times), pl.coalesce(raws), pl.coalesce(assumed)


def check_tz(tz: str) -> str | None:
    """A message when `tz` is not an IANA zone polars knows, else None."""
    try:
        pl.select(pl.lit(0).cast(pl.Datetime("ns")).dt.replace_time_zone(tz))
    except Exception as exc:
        return f"unknown time zone {tz!r} ({type(exc).__name__})"
    return None
