"""How the TCP connection under each session began and ended, and how healthy it was.

A reset is compared with the TTL and IP ID of the packets its claimed sender really sent:
a middlebox forging a RST usually sits at a different hop count and has its own IP ID
counter (see ../shared/reference/proxy-interference.md, "Injected RST").
"""

from __future__ import annotations

import polars as pl

from analyzer.features.common import SIDES, seconds, side
from analyzer.features.dead_path import dead_path_features
from analyzer.schema import TCP_ANALYSIS


def _side_events(name: str, is_client: bool) -> list[pl.Expr]:
    s = side(is_client)
    fin, rst = s & (pl.col("kind") == "fin"), s & (pl.col("kind") == "rst")
    return [
        pl.col("time").filter(fin).first().alias(f"fin_{name}_time"),
        pl.col("frame").filter(fin).first().alias(f"fin_{name}_frame"),
        pl.col("time").filter(rst).first().alias(f"rst_{name}_time"),
        pl.col("frame").filter(rst).first().alias(f"rst_{name}_frame"),
        pl.col("ttl").filter(rst).first().alias(f"rst_{name}_ttl"),
        pl.col("ip_id").filter(rst).first().alias(f"rst_{name}_ip_id"),
        rst.sum().alias(f"rst_{name}_count"),
    ]


def tcp_event_features(events: pl.DataFrame) -> pl.DataFrame:
    ended = pl.col("kind").is_in(["fin", "rst"])
    return (
        events.sort("session", "time", "frame")
        .group_by("session")
        .agg(
            (pl.col("kind") == "syn").any().alias("syn_seen"),
            *[e for name, c in SIDES for e in _side_events(name, c)],
            *[(pl.col("kind") == k).sum().alias(f"{k}_count") for k in TCP_ANALYSIS],
            pl.col("time").filter(ended).first().alias("tcp_end_time"),
            pl.col("frame").filter(ended).first().alias("tcp_end_frame"),
            pl.col("kind").filter(ended).first().alias("tcp_end"),
            pl.when(pl.col("from_client").filter(ended).first())
            .then(pl.lit("client"))
            .otherwise(pl.lit("server"))
            .alias("tcp_ended_by"),
        )
        .with_columns(
            pl.when(pl.col("tcp_end").is_null())
            .then(None)
            .otherwise("tcp_ended_by")
            .alias("tcp_ended_by"),
            pl.col("tcp_end").fill_null("open"),
        )
    )


def baseline_features(packets: pl.DataFrame) -> pl.DataFrame:
    """Each side's usual TTL and the IP ID of its last packet before its first RST."""
    normal = packets.filter(~pl.col("rst"))
    out = (
        normal.group_by("session")
        .agg(
            *[pl.col("ttl").filter(side(c)).mode().first().alias(f"ttl_{n}") for n, c in SIDES],
        )
        .join(
            packets.group_by("session").agg(
                (pl.col("cap_len") < pl.col("frame_len")).sum().alias("truncated_packets"),
                # What tcpdump -s / dumpcap -s kept of each cut packet: the snapshot length.
                pl.col("cap_len")
                .filter(pl.col("cap_len") < pl.col("frame_len"))
                .max()
                .alias("truncated_to_bytes"),
            ),
            on="session",
            how="left",
        )
    )
    out = out.join(_ip_id_before_rst(packets), on="session", how="left")
    out = out.join(_payload_after_rst(packets), on="session", how="left")
    out = out.join(dead_path_features(packets), on="session", how="left")
    for name, is_client in SIDES:
        out = out.join(_payload_gaps(packets, name, is_client), on="session", how="left")
    return out


def _payload_gaps(packets: pl.DataFrame, name: str, is_client: bool) -> pl.DataFrame:
    """Silence measured on TCP payload: the only clock an undecrypted TLS session has."""
    sent = packets.filter(
        side(is_client) & (pl.col("tcp_len") > 0) & ~pl.col("retransmission")
    ).sort("session", "ts")
    gap = seconds(pl.col("ts").diff())
    return sent.group_by("session").agg(
        gap.max().alias(f"max_payload_gap_{name}_s"),
        pl.col("ts").get(gap.arg_max()).alias(f"max_payload_gap_{name}_end"),
        pl.col("ts").max().alias(f"last_payload_time_{name}"),
    )


def _ip_id_before_rst(packets: pl.DataFrame) -> pl.DataFrame:
    """Per session with an RST, the IP ID each side sent before its first RST (the others
    have none: only their packets are sorted and windowed)."""
    reset = packets.filter(pl.col("rst")).select("session").unique()
    packets = packets.join(reset, on="session", how="semi")
    ordered = packets.sort("session", "frame_no").with_columns(
        pl.col("ip_id").shift(1).over("session", "from_client").alias("prev_ip_id")
    )
    return ordered.group_by("session").agg(
        pl.col("prev_ip_id").filter(side(c) & pl.col("rst")).first().alias(f"ip_id_before_rst_{n}")
        for n, c in SIDES
    )


def _payload_after_rst(packets: pl.DataFrame) -> pl.DataFrame:
    """Payload a side sent after its own first RST: a reset it did not send (WSP09 race).

    A host that reset the connection sends nothing more on it; the genuine endpoint behind
    a forged RST keeps talking until it learns otherwise. Pure ACKs are not read (the
    first pass drops them), so only segments with payload count.
    """
    aggs = []
    for name, is_client in SIDES:
        first_rst = pl.col("frame_no").filter(side(is_client) & pl.col("rst")).min()
        after = side(is_client) & (pl.col("tcp_len") > 0) & ~pl.col("rst")
        aggs.append(
            (after & (pl.col("frame_no") > first_rst)).sum().alias(f"payload_after_rst_{name}")
        )
    return packets.group_by("session").agg(aggs)


def _id_gap(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    """later - earlier as a signed 16-bit step: +1 is a host's own next IP ID, even across
    the wrap from 65535 to 0."""
    return ((later - earlier + 32768) % 65536) - 32768


def session_tcp_features(sessions: pl.DataFrame) -> pl.DataFrame:
    """Evidence that needs both the events and the baseline: forged RSTs, the two-way idle.

    Proxies time a tunnel out on traffic in either direction, so the quiet that matters
    before a teardown is the last payload of *either* side.
    """
    last_payload = pl.max_horizontal("last_payload_time_client", "last_payload_time_server")
    opened = pl.when(pl.col("status") == 101).then(pl.col("response_time"))
    return sessions.select(
        "id",
        *[
            (pl.col(f"rst_{n}_ttl") - pl.col(f"ttl_{n}")).alias(f"rst_{n}_ttl_delta")
            for n, _ in SIDES
        ],
        *[
            _id_gap(pl.col(f"rst_{n}_ip_id"), pl.col(f"ip_id_before_rst_{n}")).alias(
                f"ip_id_gap_rst_{n}"
            )
            for n, _ in SIDES
        ],
        last_payload.alias("last_payload_time"),
        # Payload after the first FIN/RST (the peer of a half-close still sending) means no
        # quiet before the teardown at all: 0, never a negative silence.
        seconds(pl.col("tcp_end_time") - last_payload).clip(0).alias("idle_before_end_s"),
        seconds(pl.coalesce("tcp_end_time", "end") - pl.coalesce(opened, "start")).alias(
            "session_age_s"
        ),
    )
