"""Both legs of a proxied connection: what the hop did on the other leg.

A capture taken on a proxy host (or on a bridge both legs cross) holds two TCP connections
per WebSocket: the client's to the hop (the *downstream* leg, its server is the hop) and the
hop's own to the origin (the *upstream* leg, its client is the hop). Alone, each leg can
only say which of its two ends closed. Together they prove who acted: when the hop ends
both legs within moments of each other, after the same silence, neither endpoint decided
it (proxy-interference.md §3.2, "FIN from P toward C and toward S"); when the hop sends a
close frame to the client and, at the same instant, one of its own to the origin, the
origin did not close the session (Caddy's 1001 on reload or stop, §2).

Legs are paired within one input: the upstream leg starts at the host the downstream
leg's server is while that leg waits for its handshake answer (a proxy dials on before it
answers), or, at any time during the downstream leg, carries the same
``Sec-WebSocket-Key`` or ``dg-request-id`` (a proxy whose upstream connection leaves from
another address of the same host forwards both) or goes to the downstream leg's CONNECT
target (an explicit proxy, TLS without keys included). Each leg gets the other leg's id
(``other_leg``: the reports show the two as one connection) and facts as ``other_leg_*``
columns.
"""

from __future__ import annotations

import polars as pl

from analyzer.features.common import seconds

# The session columns the pairing reads (all set by the capture features before it).
_READ = [
    "id", "input_index", "client", "server", "start", "end", "response_time", "ws_key",
    "dg_request_id", "method", "path", "tcp_end", "tcp_ended_by", "tcp_end_time", "tcp_end_frame",
    "last_payload_time", "close_first_by", "close_client_code", "close_client_frame",
    "close_client_time", "close_server_code", "close_server_frame", "close_server_time",
]  # fmt: skip
LEG_COLUMNS = [
    "hop_leg", "other_leg", "other_leg_peer", "other_leg_tcp_end", "other_leg_end_time",
    "other_leg_end_frame", "other_leg_ended_by_hop", "hop_end_spread_s",
    "other_leg_last_payload_time", "other_leg_hop_close_code", "other_leg_hop_close_frame",
    "other_leg_hop_close_time", "other_leg_peer_closed_first",
]  # fmt: skip


def _host(column: str) -> pl.Expr:
    """``ip:port`` / ``[v6]:port`` -> the address part."""
    return pl.col(column).str.replace(r":\d+$", "")


def _role(
    legs: pl.DataFrame, role: str, host: pl.Expr, target: pl.Expr, extra: list[pl.Expr]
) -> pl.DataFrame:
    """Each session as a candidate ``down``/``up`` leg: its id, server and start under the
    role's names, and the keys it pairs by (the hop's host, key, request id, target)."""
    return legs.select(
        "input_index",
        pl.col("id").alias(role),
        pl.col("server").alias(f"{role}_server"),
        pl.col("start").alias(f"{role}_start"),
        host.alias("host"),
        "ws_key",
        "dg_request_id",
        target.alias("target"),
        *extra,
    )


def leg_pairs(table: pl.DataFrame) -> pl.DataFrame:
    """(downstream id, upstream id) for every pair of legs, one upstream per downstream."""
    legs = table.select(_READ)
    down = _role(
        legs,
        "down",
        host=_host("server"),
        target=pl.when(pl.col("method") == "CONNECT").then(pl.col("path")),
        extra=[
            pl.col("end").alias("down_end"),
            pl.coalesce("response_time", "end").alias("down_answered"),
            pl.col("response_time").alias("down_response"),
        ],
    )
    up = _role(
        legs,
        "up",
        host=_host("client"),
        target=pl.col("server"),
        extra=[pl.col("response_time").alias("up_response")],
    )
    # A shared host only pairs a leg opened before the hop answered (a proxy dials on
    # first); a shared key, request id or CONNECT target names the connection itself, so
    # the upstream leg may open any time during the downstream one (mitmproxy dials lazily,
    # after its 200 to the CONNECT).
    keys = {
        "host": "down_answered",
        "ws_key": "down_end",
        "dg_request_id": "down_end",
        "target": "down_end",
    }
    pairs = pl.concat(
        down.drop_nulls(key)
        .join(up.drop_nulls(key).drop(k for k in keys if k != key), on=["input_index", key])
        .select(
            "down",
            "up",
            "down_start",
            "up_start",
            pl.col(until).alias("until"),
            "down_server",
            "up_server",
            # A key a handshake carries pairs a leg whose 101 came before the client's:
            # a proxy relays the origin's answer. Another connection that merely carries
            # the same key (a replayed recording, a client reusing its request id) was
            # answered later.
            (
                (pl.col("up_response") <= pl.col("down_response")).fill_null(True)
                | pl.lit(key in ("host", "target"))
            ).alias("relayed"),
        )
        for key, until in keys.items()
    )
    return (
        pairs.filter(
            (pl.col("down") != pl.col("up"))
            & (pl.col("down_server") != pl.col("up_server"))
            & (pl.col("up_start") >= pl.col("down_start"))
            & (pl.col("up_start") <= pl.col("until"))
            & pl.col("relayed")
        )
        .sort("down", "up_start")
        .unique("down", keep="first", maintain_order=True)
        .sort("up", "down_start", descending=[False, True])
        .unique("up", keep="first", maintain_order=True)
        .select("down", "up")
    )


def _on_hop_side(what: str) -> pl.Expr:
    """Column ``o_close_{side}_{what}`` of the other leg, for the side the hop is there: its
    client when the other leg is upstream (this one downstream), else its server."""
    down = pl.col("hop_leg") == "downstream"
    return (
        pl.when(down)
        .then(pl.col(f"o_close_client_{what}"))
        .otherwise(pl.col(f"o_close_server_{what}"))
    )


def leg_features(table: pl.DataFrame) -> pl.DataFrame:
    """One row per session that has a paired leg: ``id`` + LEG_COLUMNS."""
    pairs = leg_pairs(table)
    legs = table.select(_READ)
    other = legs.rename({c: f"o_{c}" for c in legs.columns})
    roles = pl.concat(
        [
            pairs.select(
                pl.col("down").alias("id"),
                pl.col("up").alias("o_id"),
                pl.lit("downstream").alias("hop_leg"),
            ),
            pairs.select(
                pl.col("up").alias("id"),
                pl.col("down").alias("o_id"),
                pl.lit("upstream").alias("hop_leg"),
            ),
        ]
    ).unique("id", keep="first", maintain_order=True)  # a middle leg of two hops: downstream
    down = pl.col("hop_leg") == "downstream"
    hop_side = pl.when(down).then(pl.lit("client")).otherwise(pl.lit("server"))
    hop_closed_first = pl.col("o_close_first_by") == hop_side
    peer_closed_first = pl.col("o_close_first_by").is_not_null() & ~hop_closed_first
    return (
        roles.join(legs.select("id", "tcp_end_time"), on="id")
        .join(other, on="o_id")
        .select(
            "id",
            "hop_leg",
            pl.col("o_id").alias("other_leg"),
            pl.when(down)
            .then(pl.col("o_server"))
            .otherwise(pl.col("o_client"))
            .alias("other_leg_peer"),
            pl.col("o_tcp_end").alias("other_leg_tcp_end"),
            pl.col("o_tcp_end_time").alias("other_leg_end_time"),
            pl.col("o_tcp_end_frame").alias("other_leg_end_frame"),
            (pl.col("o_tcp_ended_by") == hop_side).alias("other_leg_ended_by_hop"),
            seconds(pl.col("tcp_end_time") - pl.col("o_tcp_end_time"))
            .abs()
            .alias("hop_end_spread_s"),
            pl.col("o_last_payload_time").alias("other_leg_last_payload_time"),
            *[
                pl.when(hop_closed_first)
                .then(_on_hop_side(what))
                .alias(f"other_leg_hop_close_{what}")
                for what in ("code", "frame", "time")
            ],
            peer_closed_first.alias("other_leg_peer_closed_first"),
        )
    )
