"""Sessions only a log tells of: the connections no capture or HAR session explains.

Log events left unattached by `correlate` are still cut into segments (one per connection
the log describes). Segments of different log files that tell of one connection (the
client's, the server's, a proxy's) are merged first, then each segment with a connection
event becomes one partial SESSIONS row, `source: log`.
"""

from __future__ import annotations

import polars as pl

from analyzer.features.closing import close_summary
from analyzer.vocab import CONNECTION_KINDS, REFUSALS


def log_only_sessions(events: pl.DataFrame) -> pl.DataFrame:
    """One SESSIONS-shaped row (partial) per unmatched segment that describes a connection.

    The log's own side decides whose close is whose: a client's "close sent" is the
    client's close, a server's is the server's.
    """
    free = _connection_segments(events.filter(pl.col("session").is_null()))
    if free.is_empty():
        return pl.DataFrame()
    mine, theirs = _own_and_peer_close()
    rows = (
        free.sort("segment", "line")
        .group_by("segment", maintain_order=True)
        .agg(
            pl.col("input").first(),
            pl.col("time").min().alias("start"),
            pl.col("time").max().alias("end"),
            pl.col("request_id").drop_nulls().first().alias("dg_request_id"),
            pl.col("path").drop_nulls().first(),
            _endpoint("client"),
            _endpoint("server"),
            pl.col("status").filter(pl.col("kind").is_in(REFUSALS)).drop_nulls().first(),
            pl.col("kind").is_in(REFUSALS).any().alias("failed"),
            *_close("client", mine),
            *_close("server", theirs),
        )
    )
    return _as_sessions(rows)


def _as_sessions(rows: pl.DataFrame) -> pl.DataFrame:
    """The segments' facts as SESSIONS columns: id, source, kind, client and the close."""
    return rows.with_columns(
        pl.format("l{}", pl.col("segment")).alias("id"),
        pl.lit("log").alias("source"),
        pl.when(pl.col("failed"))
        .then(pl.lit("rejected"))
        .otherwise(pl.lit("websocket"))
        .alias("kind"),
        *close_summary(pl.col("_client_line"), pl.col("_server_line")),
    ).drop("failed", "_client_line", "_server_line")


def _endpoint(role: str) -> pl.Expr:
    """The segment's client or server address, `host:port` (`[v6]:port`), from what its
    lines say about their writer's own end (`local`, the client port) and its peer
    (`remote`). A server's or proxy's line names its client as the peer; a client's line
    (or one of a library whose side is not known: client libraries are the usual writers)
    names its server as the peer and itself as the local end. A host alone when no line
    names the port; null when no line names the host (a bare port says nothing useful)."""
    port = pl.col("local_port").cast(pl.String)
    own = _with_port(pl.col("local"), port)
    peer_side = pl.col("side").is_in(["server", "proxy"])
    if role == "client":
        value = pl.when(peer_side).then(_with_port(pl.col("remote"), port)).otherwise(own)
    else:
        value = pl.when(peer_side).then(pl.col("local")).otherwise(pl.col("remote"))
    return value.drop_nulls().first().alias(role)


def _with_port(addr: pl.Expr, port: pl.Expr) -> pl.Expr:
    """`addr` with `port` when it names none yet (`[v6]` bracketed), else `addr`."""
    has_port = addr.str.contains(r"^\[.*\]:\d+$|^[^:]*:\d+$")
    bare = pl.when(addr.str.contains(":")).then(pl.format("[{}]", addr)).otherwise(addr)
    joined = pl.when(port.is_not_null()).then(pl.format("{}:{}", bare, port)).otherwise(addr)
    return pl.when(has_port).then(addr).otherwise(joined)


def merge_across_logs(events: pl.DataFrame, slack_s: float = 2.0) -> pl.DataFrame:
    """One connection told by several logs (the client's, the server's, the proxy's) is one
    session: unmatched segments of different files that name the same request id (any
    time: the logs may come from machines with different clocks), or the same client port
    with overlapping spans (± slack), take the lowest segment id among them."""
    free = events.filter(pl.col("session").is_null())
    spans = free.group_by("segment").agg(
        pl.col("input").first(),
        pl.col("local_port").drop_nulls().first().alias("port"),
        pl.col("request_id").drop_nulls().first().alias("rid"),
        pl.col("time").min().alias("t0"),
        pl.col("time").max().alias("t1"),
    )
    slack = pl.duration(milliseconds=int(slack_s * 1000))
    overlap = (pl.col("t0") <= pl.col("t1_o") + slack) & (pl.col("t0_o") <= pl.col("t1") + slack)
    by_port = spans.drop_nulls("port").join(spans.drop_nulls("port"), on="port", suffix="_o")
    by_rid = spans.drop_nulls("rid").join(spans.drop_nulls("rid"), on="rid", suffix="_o")
    pairs = (
        pl.concat([by_port.filter(overlap).select(_PAIR), by_rid.select(_PAIR)])
        .filter(pl.col("input") != pl.col("input_o"))
        .group_by("segment")
        .agg(pl.min_horizontal(pl.col("segment_o").min(), pl.col("segment").first()).alias("to"))
    )
    if pairs.is_empty():
        return events
    joined = events.join(pairs, on="segment", how="left")
    return joined.with_columns(pl.coalesce("to", "segment").alias("segment")).drop("to")


_PAIR = ["segment", "input", "segment_o", "input_o"]


def _connection_segments(free: pl.DataFrame) -> pl.DataFrame:
    """Segments with at least one connection event: a lone proxy restart is not a session."""
    useful = free.group_by("segment").agg(pl.col("kind").is_in(CONNECTION_KINDS).any().alias("u"))
    return free.join(useful.filter("u").select("segment"), on="segment", how="semi")


def _own_and_peer_close() -> tuple[pl.Expr, pl.Expr]:
    """(the client's close, the server's close) as the log's side wrote them."""
    server = pl.col("side") == "server"
    sent, received = pl.col("kind") == "close_sent", pl.col("kind") == "close_received"
    return (sent & ~server) | (received & server), (received & ~server) | (sent & server)


def _close(name: str, cond: pl.Expr) -> list[pl.Expr]:
    return [
        pl.col("close_code").filter(cond).first().alias(f"close_{name}_code"),
        # The longest wording: SDK debug lines abbreviate reasons ("did not receive a...").
        pl.col("close_reason")
        .filter(cond)
        .sort_by(pl.col("close_reason").str.len_chars().filter(cond), descending=True)
        .first()
        .alias(f"close_{name}_reason"),
        pl.col("time").filter(cond).first().alias(f"close_{name}_time"),
        pl.col("line").filter(cond).first().alias(f"_{name}_line"),
    ]
