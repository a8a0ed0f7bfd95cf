"""features/dead_path.py on small packet tables: what counts as an unanswered tail.

The sample silent-path-death shows the real pattern end to end (tests/rules/
test_new_situations.py); these cases pin the two ways a live path differs from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from analyzer.features.dead_path import dead_path_features

T0 = datetime(2026, 12, 7, 5, 23, 27, tzinfo=UTC)


def _packets(rows: list[tuple[int, float, bool, int, bool]]) -> pl.DataFrame:
    """(frame, seconds, from_client, tcp_len, retransmission) rows of session 0."""
    return pl.DataFrame(
        {
            "session": [0] * len(rows),
            "frame_no": [r[0] for r in rows],
            "ts": [T0 + timedelta(seconds=r[1]) for r in rows],
            "from_client": [r[2] for r in rows],
            "tcp_len": [r[3] for r in rows],
            "retransmission": [r[4] for r in rows],
        }
    )


SILENT = [(1, 0.0, True, 3200, False), (2, 1.0, False, 6, False)]
RETRIES = [(3 + i, 1.2 * 2**i, False, 6, True) for i in range(4)]


def test_a_tail_of_retransmissions_after_the_peers_last_packet() -> None:
    row = dead_path_features(_packets(SILENT + RETRIES)).to_dicts()[0]
    assert row["dead_path_side"] == "server"
    assert row["dead_path_retransmissions"] == 4
    assert (row["dead_path_first_unacked_frame"], row["dead_path_peer_last_frame"]) == (2, 1)
    assert (row["dead_path_first_retrans_frame"], row["dead_path_last_retrans_frame"]) == (3, 6)
    assert row["dead_path_unanswered_s"] == 9.6


def test_new_data_between_retransmissions_is_a_live_path() -> None:
    """ACKs the engine does not keep let new data out: the peer was hearing it."""
    rows = [*SILENT, *RETRIES[:2], (5, 3.0, False, 1448, False), *RETRIES[2:]]
    rows = [(i + 1, t, c, n, r) for i, (_, t, c, n, r) in enumerate(rows)]
    assert dead_path_features(_packets(rows)).is_empty()


def test_the_peer_speaking_after_the_retransmissions_is_a_live_path() -> None:
    rows = [*SILENT, *RETRIES, (7, 20.0, True, 3200, False)]
    assert dead_path_features(_packets(rows)).is_empty()
