"""A path that died silently: one side retransmits at the end and nothing answers it.

While a peer's host is up, its kernel acknowledges every segment that arrives, even when
the application above it is stuck (a stalled server still ACKs a close it never answers).
So a sender whose last segments are all retransmissions, after the other side's last packet
in the capture, was not heard by anyone: the path (a NAT or firewall that lost the flow, a
dead link) or the peer host itself is gone. TCP then backs its retransmission timer off
exponentially (RFC 6298 §5.5) and sends nothing new (RFC 5681: the window collapses to one
segment), which is the pattern read here. A live but lossy path looks different: between
its retransmissions new data goes out as soon as the peer's ACKs arrive.

The capture keeps no pure ACK (ingest drops them), so "the other side's last packet" is its
last segment with payload, SYN, FIN or RST: a peer that only ACKs could make an alive path
look dead, which is why new data after the first retransmission rules the pattern out.
"""

from __future__ import annotations

import polars as pl

from analyzer.features.common import SIDES, seconds, side

COLUMNS = (
    "dead_path_side",
    "dead_path_retransmissions",
    "dead_path_first_unacked_frame",
    "dead_path_first_unacked_time",
    "dead_path_first_retrans_frame",
    "dead_path_last_retrans_frame",
    "dead_path_last_retrans_time",
    "dead_path_peer_last_frame",
    "dead_path_peer_last_time",
    "dead_path_unanswered_s",
)


def _one_side(packets: pl.DataFrame, name: str, is_client: bool) -> pl.DataFrame:
    """The side's payload after the other side's last packet: only retransmissions from
    the first one on, or nothing (null) for this side."""
    peer = (
        packets.filter(side(not is_client))
        .group_by("session")
        .agg(
            pl.col("frame_no").max().alias("peer_frame"),
            pl.col("ts").sort_by("frame_no").last().alias("peer_time"),
        )
    )
    sent = packets.filter(side(is_client) & (pl.col("tcp_len") > 0)).join(peer, on="session")
    late = sent.filter(pl.col("frame_no") > pl.col("peer_frame")).sort("session", "frame_no")
    retx = pl.col("retransmission")
    first_retx = pl.col("frame_no").filter(retx).min()
    tail = late.group_by("session").agg(
        pl.lit(name).alias("dead_path_side"),
        retx.sum().alias("dead_path_retransmissions"),
        (~retx & (pl.col("frame_no") > first_retx)).sum().alias("new_after"),
        pl.col("frame_no").first().alias("dead_path_first_unacked_frame"),
        pl.col("ts").first().alias("dead_path_first_unacked_time"),
        first_retx.alias("dead_path_first_retrans_frame"),
        pl.col("frame_no").filter(retx).max().alias("dead_path_last_retrans_frame"),
        pl.col("ts").filter(retx).max().alias("dead_path_last_retrans_time"),
        pl.col("peer_frame").first().alias("dead_path_peer_last_frame"),
        pl.col("peer_time").first().alias("dead_path_peer_last_time"),
    )
    return tail.filter((pl.col("dead_path_retransmissions") > 0) & (pl.col("new_after") == 0)).drop(
        "new_after"
    )


def dead_path_features(packets: pl.DataFrame) -> pl.DataFrame:
    """Per session, the side left retransmitting unanswered at the end (the one with more
    retransmissions if both were), with the frames and the time nobody answered it."""
    both = pl.concat([_one_side(packets, name, c) for name, c in SIDES])
    picked = both.sort("session", "dead_path_retransmissions", descending=[False, True]).unique(
        "session", keep="first", maintain_order=True
    )
    return picked.with_columns(
        seconds(pl.col("dead_path_last_retrans_time") - pl.col("dead_path_peer_last_time")).alias(
            "dead_path_unanswered_s"
        )
    ).select("session", *COLUMNS)
