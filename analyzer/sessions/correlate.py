"""Log events -> the sessions they describe, on the capture's clock.

Most log lines name no connection ("> CLOSE 1011 ..."): only a few carry a request id, a
local port or a peer address. So each file's events are first cut into *segments*, one per
connection the log describes (a new one at each open/request-id line that follows other
events; for a proxy, at each line naming a peer or request id), and the identifiers any
line of a segment names are shared by the whole segment. A segment is then matched to one
session, strongest evidence first:

0. request id and local port both match,
1. local port == the client port of the session (a client, or a proxy's upstream leg)
   with the segment's time inside the session's span +- TOLERANCE_S,
2. request id == the session's dg-request-id (shared by every proxy leg: a client-side
   log takes the first leg, a server-side log the last one),
3. peer address == the session's client or server host, within the span,
4. request path == the session's path, within the span (proxy access logs name the URL;
   the nearest session start wins),
5. a refusal's HTTP status (a failed upgrade, or a proxy's 4xx/5xx error line) == the
   status of a rejected session, within the span (a client log of a refusal names no port,
   a proxy's own refusal carries no request id); the earliest leg wins, as for a request id.

Clocks differ (another machine, a log written in local time read as UTC), so matching runs
twice: an id-only pass (tiers 0 and 2, port without the time test) pairs anchor events with
the capture (close received <-> the peer's close frame, close sent <-> one's own, connection
open <-> the 101, proxy timeout <-> the TCP teardown; a line stamped with its request's
start, as Envoy's, <-> the upgrade request); the median of `log time - capture
time` per file is the file's offset, applied before the timed pass, and restated from that
pass's anchors. Concurrent connections interleaved in one log without ids on each line are
not separated (a known limitation).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analyzer.features.common import seconds
from analyzer.vocab import OPENERS, REFUSALS, anchored

TOLERANCE_S = 2.0
_NS = 1_000_000_000
# A line that reports a refused request with its status: a failed upgrade, or an error the
# proxy answered with 4xx/5xx (Envoy's DPE 400 names nothing else).
_REFUSAL = pl.col("kind").is_in(REFUSALS) | (
    (pl.col("kind") == "error") & (pl.col("status") >= 400)
)


@dataclass
class Correlation:
    """Events with `segment`, `session`, `match` and `aligned_time`; offsets by file."""

    events: pl.DataFrame
    offsets: dict[str, float | None]


def host(addr: pl.Expr) -> pl.Expr:
    """`ip:port`, `[v6]:port`, `host` -> the host part, for address comparisons."""
    return (
        pl.when(addr.str.starts_with("["))
        .then(addr.str.extract(r"^\[([^\]]+)\]", 1))
        .when(addr.str.count_matches(":") == 1)
        .then(addr.str.split(":").list.first())
        .otherwise(addr)
    )


def segment(events: pl.DataFrame) -> pl.DataFrame:
    """Add `segment` (unique over all files): the connection each event belongs to."""
    ev = events.sort("input", "line")
    prev_open = pl.col("kind").shift(1).over("input").is_in(OPENERS).fill_null(False)
    opens = (pl.col("kind").is_in(OPENERS) & ~prev_open) | _after_an_attempt()
    named = pl.col("remote").is_not_null() | pl.col("request_id").is_not_null()
    proxy = pl.col("side") == "proxy"
    first = pl.int_range(pl.len()).over("input") == 0
    start = first | pl.when(proxy).then(named).otherwise(opens)
    return ev.with_columns(segment=start.cast(pl.Int64).cum_sum())


# A close frame someone sent or received: the upgrade had succeeded (1005, 1006 and 1015
# are never on the wire: a library's report that there was no close frame).
_WIRE_CLOSE = pl.col("kind").is_in(["close_received", "close_sent"]) & ~pl.col("close_code").is_in(
    [1005, 1006, 1015]
).fill_null(False)


def _after_an_attempt() -> pl.Expr:
    """Events that begin a new connection although no line opened one.

    A refused upgrade ends the attempt its request lines began (websockets logs the
    response, closes, then raises), so what follows it without an opener in between is
    another connection when it cannot be part of a refused one: a close frame (an upgrade
    that succeeded: Go's clients log no open line), or another refusal. A refusal after a
    close frame is likewise a new attempt. Only refusals with a time of their own count:
    an untimed one is the head of the stack trace printed under the app's line about the
    same failure (OkHttp, Node, .NET).
    """
    refusal = pl.col("kind").is_in(REFUSALS)
    marker = (
        pl.when(refusal)
        .then(pl.lit("refused"))
        .when(_WIRE_CLOSE)
        .then(pl.lit("closed"))
        .when(pl.col("kind").is_in(OPENERS))
        .then(pl.lit("opened"))
    )
    last = marker.shift(1).forward_fill().over("input")  # the attempt's state so far
    after_refusal = (last == "refused").fill_null(False)
    ended = last.is_in(["refused", "closed"]).fill_null(False)
    return (_WIRE_CLOSE & after_refusal) | (refusal & pl.col("time").is_not_null() & ended)


def segments(events: pl.DataFrame, offsets: dict[str, float | None]) -> pl.DataFrame:
    """One row per segment: its identifiers and its time span after the file's offset."""
    shift = pl.col("input").replace_strict(
        {k: v or 0.0 for k, v in offsets.items()}, default=0.0, return_dtype=pl.Float64
    )
    aligned = pl.col("time") - pl.duration(nanoseconds=(shift * _NS).cast(pl.Int64))
    return events.group_by("segment").agg(
        pl.col("input").first(),
        pl.col("request_id").drop_nulls().first(),
        pl.col("local_port").drop_nulls().first(),
        host(pl.col("remote")).drop_nulls().first().alias("remote_host"),
        pl.col("path").drop_nulls().first(),
        pl.col("status").filter(_REFUSAL).drop_nulls().first(),
        pl.col("side").filter(pl.col("side") != "unknown").first().fill_null("unknown"),
        aligned.min().alias("t0"),
        aligned.max().alias("t1"),
    )


def session_keys(sessions: pl.DataFrame) -> pl.DataFrame:
    """What a log can name about a session: request id, client port, the two hosts."""
    return sessions.select(
        "id",
        "start",
        "end",
        "dg_request_id",
        pl.col("client").str.extract(r":(\d+)$", 1).cast(pl.Int32, strict=False).alias("port"),
        host(pl.col("client")).alias("client_host"),
        host(pl.col("server")).alias("server_host"),
        pl.col("path").alias("session_path"),
        pl.when(pl.col("kind") == "rejected").then(pl.col("status")).alias("refused_status"),
    )


def match(segs: pl.DataFrame, keys: pl.DataFrame, timed: bool) -> pl.DataFrame:
    """(segment, id, match) for the best session of each segment that has one."""
    if segs.is_empty() or keys.is_empty():
        return pl.DataFrame(schema={"segment": pl.Int64, "id": pl.String, "match": pl.String})
    tol = pl.duration(milliseconds=int(TOLERANCE_S * 1000))
    inside = (pl.col("t0") <= pl.col("end") + tol) & (pl.col("t1") >= pl.col("start") - tol)
    by_rid = segs.join(keys, left_on="request_id", right_on="dg_request_id", how="inner")
    by_port = segs.join(keys, left_on="local_port", right_on="port", how="inner")
    cands = [
        by_rid.with_columns(
            tier=pl.when(pl.col("local_port") == pl.col("port")).then(0).otherwise(2)
        ),
        by_port.with_columns(tier=pl.lit(1)).filter(inside if timed else pl.lit(True)),
    ]
    if timed:
        for side_host in ("client_host", "server_host"):
            by_host = segs.join(keys, left_on="remote_host", right_on=side_host, how="inner")
            cands.append(by_host.filter(inside).with_columns(tier=pl.lit(3)))
        by_path = segs.join(keys, left_on="path", right_on="session_path", how="inner")
        cands.append(by_path.filter(inside).with_columns(tier=pl.lit(4)))
        by_status = segs.join(keys, left_on="status", right_on="refused_status", how="inner")
        cands.append(by_status.filter(inside).with_columns(tier=pl.lit(5)))
    cols = ["segment", "id", "tier", "start", "t0", "side"]
    both = pl.concat([c.select(cols) for c in cands], how="vertical_relaxed")
    start_ns = pl.col("start").dt.epoch("ns")
    near = (pl.col("t0").dt.epoch("ns") - start_ns).abs()
    # A request id is shared by every proxy leg: the client saw the first, the server the last.
    leg = pl.when(pl.col("side") == "server").then(-start_ns).otherwise(start_ns)
    by_leg = pl.col("tier").is_in([2, 5])
    both = both.with_columns(rank=pl.when(by_leg).then(leg).otherwise(near))
    names = {0: "request_id+port", 1: "port", 2: "request_id", 3: "remote", 4: "path", 5: "status"}
    return (
        both.sort("segment", "tier", "rank", nulls_last=True)
        .unique("segment", keep="first")
        .select(
            "segment",
            "id",
            pl.col("tier").replace_strict(names, return_dtype=pl.String).alias("match"),
        )
    )


def anchor_offsets(events: pl.DataFrame, sessions: pl.DataFrame) -> dict[str, float | None]:
    """Per file: median of (log time - capture time) over events with a capture twin."""
    times = sessions.select(
        pl.col("id").alias("session"),
        "request_time",
        "close_client_time",
        "close_server_time",
        "response_time",
        "tcp_end_time",
    )
    own, peer = ("close_client_time", "close_server_time")
    server = pl.col("side") == "server"
    twin = (
        pl.when(pl.col("stamped_at") == "request_start")
        .then(pl.col("request_time"))
        .when(pl.col("kind").is_in(anchored("peer_close")))
        .then(pl.when(server).then(pl.col(own)).otherwise(pl.col(peer)))
        .when(pl.col("kind").is_in(anchored("own_close")))
        .then(pl.when(server).then(pl.col(peer)).otherwise(pl.col(own)))
        .when(pl.col("kind").is_in(anchored("response")))
        .then(pl.col("response_time"))
        .when(pl.col("kind").is_in(anchored("tcp_end")))
        .then(pl.col("tcp_end_time"))
    )
    diffs = (
        events.filter(pl.col("session").is_not_null() & pl.col("time").is_not_null())
        .join(times, on="session", how="inner")
        .select("input", seconds(pl.col("time") - twin).alias("d"))
        .drop_nulls()
        .group_by("input")
        .agg(pl.col("d").median())
    )
    found = dict(zip(diffs["input"].to_list(), diffs["d"].to_list(), strict=True))
    return {f: found.get(f) for f in events["input"].unique().to_list()}


def correlate(events: pl.DataFrame, sessions: pl.DataFrame) -> Correlation:
    """Attach events to sessions (see the module doc); unattached events keep session null."""
    events = segment(events)
    keys = session_keys(sessions)
    zero: dict[str, float | None] = {}
    first = _attach(events, match(segments(events, zero), keys, timed=False))
    guessed = anchor_offsets(first, sessions)
    final = _attach(events, match(segments(events, guessed), keys, timed=True))
    stated = anchor_offsets(final, sessions)
    offsets = {f: stated.get(f) if stated.get(f) is not None else guessed.get(f) for f in stated}
    shift = pl.col("input").replace_strict(
        {k: v or 0.0 for k, v in offsets.items()}, default=0.0, return_dtype=pl.Float64
    )
    aligned = pl.col("time") - pl.duration(nanoseconds=(shift * _NS).cast(pl.Int64))
    return Correlation(final.with_columns(aligned.alias("aligned_time")), offsets)


def _attach(events: pl.DataFrame, matched: pl.DataFrame) -> pl.DataFrame:
    return events.drop("session", "match", strict=False).join(
        matched.rename({"id": "session"}), on="segment", how="left"
    )
