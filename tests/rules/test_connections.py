"""One proxied connection, two legs: the `other_leg` column (analyzer/features/legs.py).

Each leg names the other, after the ids are renumbered over several inputs, and a leg is
never paired with a different connection that merely carries the same handshake key (a
replayed recording, as benchmarks/make_fleet.py writes one).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from analyzer.features.legs import _READ, leg_pairs

from conftest import REPO, SAMPLES, loaded_together, sample


def legs_of(sessions: pl.DataFrame) -> list[tuple[str, str, str, str, str]]:
    """(id, hop_leg, other_leg, the other leg's hop_leg, the other leg's other_leg)."""
    other = sessions.select(
        pl.col("id").alias("other_leg"),
        pl.col("hop_leg").alias("o_hop"),
        pl.col("other_leg").alias("o_other"),
    )
    paired = sessions.filter(pl.col("other_leg").is_not_null())
    joined = paired.join(other, on="other_leg", how="left")
    return joined.select("id", "hop_leg", "other_leg", "o_hop", "o_other").rows()


def test_each_leg_names_the_other() -> None:
    sessions = sample("envoy-stream-idle").sessions
    assert sessions.select("id", "hop_leg", "other_leg").rows() == [
        ("s1", "downstream", "s2"),
        ("s2", "upstream", "s1"),
    ]


def test_a_session_without_a_second_leg_has_none() -> None:
    sessions = sample("apache-idle-17s-client-leg").sessions
    assert sessions["other_leg"].to_list() == [None]


def test_other_leg_follows_the_ids_renumbered_over_two_inputs() -> None:
    """A log of a session a minute before the capture: its log-only session takes s1 when
    the run renumbers by start time, and `other_leg` moves with the legs' ids."""
    capture = SAMPLES / "haproxy-tunnel-timeout" / "capture.pcap"
    data = loaded_together(capture, SAMPLES / "nginx-read-timeout" / "client.log")
    assert data.sessions.select("id", "source").rows()[0] == ("s1", "log")
    assert legs_of(data.sessions) == [
        ("s2", "downstream", "s3", "upstream", "s2"),
        ("s3", "upstream", "s2", "downstream", "s3"),
    ]


def test_a_replayed_key_pairs_no_other_connection(tmp_path: Path) -> None:
    """make_fleet's copies k=1, 2 start 150 s apart, move each sample's clients to
    127.k.0.0/16 (a VLAN-tagged sample stays in 127.0.0.0/16), keep its servers and proxies,
    and replay the same Sec-WebSocket-Key and dg-request-id: a pair stays within one copy
    (its legs start within a second of each other), and both legs of every proxied sample
    are paired."""
    out = tmp_path / "fleet.pcap"
    script = REPO / "benchmarks" / "make_fleet.py"
    subprocess.run(
        [sys.executable, script, "--copies", "2", "--loop", "3", "-o", out],
        check=True,
        capture_output=True,
    )
    sessions = loaded_together(out).sessions
    subnet = dict(sessions.select("id", pl.col("client").str.extract(r"^127\.(\d+)\.", 1)).rows())
    start = dict(sessions.select("id", "start").rows())
    rows = legs_of(sessions)
    assert rows and all(
        abs(start[me] - start[other]).total_seconds() < 1 for me, _, other, *_ in rows
    )
    assert all(back == me for me, _, _, _, back in rows)
    downstream = [subnet[me] for me, hop, *_ in rows if hop == "downstream"]
    assert downstream.count("1") == downstream.count("2") >= 10  # every proxied sample


def test_a_key_answered_after_the_clients_leg_pairs_nothing() -> None:
    """The same Sec-WebSocket-Key on a connection opened during this one but answered
    after it: a replay or a reused key, not the proxy's leg (a proxy relays the origin's
    101, so the origin answers first)."""
    t0 = datetime(2026, 12, 7, 5, 34, 9, tzinfo=UTC)

    def row(id_: str, client: str, server: str, start: float, answer: float) -> dict:
        at = {"start": start, "response_time": answer, "end": 19.0}
        times = {k: t0 + timedelta(seconds=v) for k, v in at.items()}
        return (
            dict.fromkeys(_READ)
            | times
            | {"ws_key": "k", "input_index": 0}
            | {
                "id": id_,
                "client": client,
                "server": server,
            }
        )

    def pairs(up_answer: float) -> list[tuple[str, str]]:
        rows = [
            row("s1", "127.0.0.40:1", "127.0.0.41:8080", 0.0, 0.0094),
            row("s2", "127.0.0.1:2", "127.0.0.42:8080", 0.0073, up_answer),
        ]
        table = pl.DataFrame(rows).with_columns(pl.col(pl.Null).cast(pl.String))
        return leg_pairs(table).rows()

    assert pairs(0.0092) == [("s1", "s2")]  # caddy-stop-1001's timing
    assert pairs(0.0500) == []
