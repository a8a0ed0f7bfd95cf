"""One proxied connection, two legs: the `other_leg` column (analyzer/features/legs.py).

Each leg names the other, after the ids are renumbered over several inputs, and a leg is
never paired with a different connection that merely carries the same handshake key (a
replayed recording, as benchmarks/make_fleet.py writes one).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

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
    """make_fleet's copies k=1, 2 move each sample to 127.k.0.0/16 (a VLAN-tagged sample
    stays in 127.0.0.0/16) and replay the same Sec-WebSocket-Key and dg-request-id: a pair
    stays within one copy, and both legs of every proxied sample are paired."""
    out = tmp_path / "fleet.pcap"
    script = REPO / "benchmarks" / "make_fleet.py"
    subprocess.run(
        [sys.executable, script, "--copies", "2", "--loop", "3", "-o", out],
        check=True,
        capture_output=True,
    )
    sessions = loaded_together(out).sessions
    subnet = dict(sessions.select("id", pl.col("client").str.extract(r"^127\.(\d+)\.", 1)).rows())
    rows = legs_of(sessions)
    assert rows and all(subnet[me] == subnet[other] for me, _, other, _, _ in rows)
    assert all(back == me for me, _, _, _, back in rows)
    downstream = [subnet[me] for me, hop, *_ in rows if hop == "downstream"]
    assert downstream.count("1") == downstream.count("2") >= 10  # every proxied sample
