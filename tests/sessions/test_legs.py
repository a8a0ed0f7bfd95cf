"""features/legs.py: which sessions are the two legs of one proxied connection.

Pure-function tests on hand-made session rows (the corpus samples apache-idle-17s,
caddy-stop-1001 and mitmproxy-intercept-stop check the same on real captures through
their declared findings).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from analyzer.features.legs import _READ, leg_features, leg_pairs

T0 = datetime(2026, 12, 7, 5, 25, 40)


def _row(id_: str, client: str, server: str, start: float, **extra: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(_READ)
    row |= {"id": id_, "input_index": 0, "client": client, "server": server}
    row |= {"start": T0 + timedelta(seconds=start), "end": T0 + timedelta(seconds=19)}
    row |= {"response_time": T0 + timedelta(seconds=start + 0.005)}
    row |= extra
    return row


def _table(*rows: dict[str, object]) -> pl.DataFrame:
    times = ("start", "end", "response_time", "tcp_end_time", "last_payload_time",
             "close_client_time", "close_server_time")  # fmt: skip
    schema = {c: pl.Datetime("us") if c in times else None for c in _READ}
    ints = ("input_index", "tcp_end_frame", "close_client_code", "close_client_frame",
            "close_server_code", "close_server_frame")  # fmt: skip
    schema |= dict.fromkeys(ints, pl.Int64)
    strs = [c for c, t in schema.items() if t is None]
    schema |= dict.fromkeys(strs, pl.String)
    return pl.DataFrame(list(rows), schema=schema)


def _end(seconds: float, by: str, frame: int) -> dict[str, object]:
    return {"tcp_end": "fin", "tcp_ended_by": by, "tcp_end_frame": frame,
            "tcp_end_time": T0 + timedelta(seconds=seconds)}  # fmt: skip


def test_the_hop_dialling_on_during_the_handshake_is_the_upstream_leg() -> None:
    table = _table(
        _row("s1", "127.0.0.40:48067", "127.0.0.41:8080", 0.0, **_end(18.9160, "server", 106)),
        _row("s2", "127.0.0.41:49119", "127.0.0.42:8080", 0.0016, **_end(18.9147, "client", 103)),
    )
    assert leg_pairs(table).rows() == [("s1", "s2")]
    legs = {r["id"]: r for r in leg_features(table).to_dicts()}
    assert legs["s1"]["hop_leg"] == "downstream"
    assert legs["s1"]["other_leg_peer"] == "127.0.0.42:8080"
    assert legs["s1"]["other_leg_ended_by_hop"] is True
    assert legs["s1"]["other_leg_end_frame"] == 103
    assert legs["s2"]["hop_leg"] == "upstream"
    assert legs["s2"]["other_leg_peer"] == "127.0.0.40:48067"
    assert legs["s2"]["other_leg_ended_by_hop"] is True
    assert abs(legs["s2"]["hop_end_spread_s"] - 0.0013) < 1e-6


def test_a_connection_from_the_same_host_after_the_answer_is_not_a_leg() -> None:
    """The hop's address opening a connection once it has answered, with nothing else in
    common, is some other connection of that host."""
    table = _table(
        _row("s1", "127.0.0.40:48067", "127.0.0.41:8080", 0.0),
        _row("s2", "127.0.0.41:49119", "127.0.0.42:8080", 2.0),
    )
    assert leg_pairs(table).height == 0
    assert leg_features(table).height == 0


def test_legs_from_another_address_pair_by_the_forwarded_key() -> None:
    """Caddy 2.6 and mitmproxy dial on from 127.0.0.1: the forwarded Sec-WebSocket-Key (or
    the dg-request-id, or a CONNECT target) pairs the legs, even after the answer."""
    key = {"ws_key": "Ejw+WJUiaxToteywDzpsVg=="}
    answered = {"response_time": T0 + timedelta(seconds=0.0094)}  # after the origin's 101
    table = _table(
        _row("s1", "127.0.0.40:32995", "127.0.0.41:8080", 0.0, close_first_by="server",
             close_server_code=1001, close_server_frame=149, **key, **answered),
        _row("s2", "127.0.0.1:41338", "127.0.0.42:8080", 0.0035, close_first_by="client",
             close_client_code=1001, close_client_frame=152, **key),
        _row("s3", "127.0.0.1:41339", "127.0.0.43:8080", 0.0036, ws_key="other"),
    )  # fmt: skip
    assert leg_pairs(table).rows() == [("s1", "s2")]
    legs = {r["id"]: r for r in leg_features(table).to_dicts()}
    assert legs["s1"]["other_leg_hop_close_code"] == 1001
    assert legs["s1"]["other_leg_hop_close_frame"] == 152
    assert legs["s1"]["other_leg_peer_closed_first"] is False
    assert legs["s2"]["other_leg_hop_close_code"] == 1001


def test_a_relayed_close_is_the_peers_not_the_hops() -> None:
    """nginx relaying the origin's 1011: on the upstream leg the origin closed first."""
    table = _table(
        _row("s1", "127.0.0.11:1000", "127.0.0.31:8080", 0.0, close_first_by="server",
             close_server_code=1011),
        _row("s2", "127.0.0.31:2000", "127.0.0.21:8080", 0.001, close_first_by="server",
             close_server_code=1011),
    )  # fmt: skip
    legs = {r["id"]: r for r in leg_features(table).to_dicts()}
    assert legs["s1"]["other_leg_peer_closed_first"] is True
    assert legs["s1"]["other_leg_hop_close_code"] is None
    assert legs["s2"]["other_leg_peer_closed_first"] is False  # the client never closed
