"""Packet captures -> sessions: TCP streams, their frames, handshakes and features."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.features import anomalies
from analyzer.features.closing import closing_features
from analyzer.features.endpoint import certificate_features
from analyzer.features.framing import framing_features
from analyzer.features.legs import leg_features
from analyzer.features.liveness import liveness_features
from analyzer.features.tcp import baseline_features, tcp_event_features
from analyzer.ingest.capture import CaptureData
from analyzer.ingest.handshakes import handshake_rows
from analyzer.ingest.packets import FRAME_FIELDS
from analyzer.ingest.tcp_events import tcp_events
from analyzer.schema import FRAMES
from analyzer.session_schema import COUNT_COLUMNS, SESSIONS
from analyzer.sessions import streams
from analyzer.sessions.dataset import Dataset
from analyzer.sessions.finish import finish_sessions


def capture_sessions(captures: list[CaptureData], keylog: Path | None) -> Dataset:
    packets = pl.concat([c.packets.drop(FRAME_FIELDS) for c in captures])
    raw_frames = pl.concat([c.frames for c in captures])
    misaligned = pl.concat([c.misaligned for c in captures])
    handshakes = handshake_rows(packets)
    base = streams.session_streams(packets, raw_frames, handshakes).join(
        streams.stream_roles(packets, raw_frames, handshakes), on=streams.KEY, how="left"
    )
    numbered = streams.number_sessions(base, pl.concat([c.spans for c in captures]))
    frames = _frames(streams.tag(raw_frames, numbered))
    tagged_packets = streams.tag(packets, numbered)
    events = tcp_events(tagged_packets)
    names = {i: str(c.file.path) for i, c in enumerate(captures)}
    table = _session_table(numbered, handshakes, frames, events, tagged_packets, names)
    found = anomalies.collect(
        anomalies.frame_anomalies(frames) + anomalies.handshake_anomalies(table)
    )
    warnings = [w for c in captures for w in c.warnings]
    warnings += _coverage_warnings(captures, table, keylog, misaligned.height)
    facts = [c.facts | _session_facts(table, i) for i, c in enumerate(captures)]
    frames = frames.with_columns(pl.col("input").replace_strict(names, return_dtype=pl.String))
    return Dataset(table, FRAMES.conform(frames), events, found, warnings, files={"capture": facts})


def _frames(tagged: pl.DataFrame) -> pl.DataFrame:
    """Add per-message context: the opcode a continuation frame belongs to."""
    data_op = pl.when(pl.col("opcode").is_in(["text", "binary"])).then(pl.col("opcode"))
    # Stable sort: frames that share a packet keep tshark's (wire) order.
    return tagged.sort("session", "ts", "frame_no", maintain_order=True).with_columns(
        pl.when(pl.col("opcode") == "continuation")
        .then(data_op.forward_fill().over("session", "from_client"))
        .otherwise(pl.col("opcode"))
        .alias("message_opcode"),
        pl.col("frame_no").alias("frame"),
        pl.col("ts").alias("time"),
        pl.col("stream").alias("tcp_stream"),
    )


def _session_table(
    numbered: pl.DataFrame,
    handshakes: pl.DataFrame,
    frames: pl.DataFrame,
    events: pl.DataFrame,
    packets: pl.DataFrame,
    names: dict[int, str],
) -> pl.DataFrame:
    # Independent of each other, and polars lets go of the GIL: two at a time, the
    # longest (over every packet) first.
    with ThreadPoolExecutor(max_workers=2) as pool:
        baseline = pool.submit(baseline_features, packets)
        by_id = [
            pool.submit(framing_features, frames),
            pool.submit(liveness_features, frames),
            pool.submit(closing_features, frames),
            pool.submit(tcp_event_features, events),
            baseline,
            pool.submit(certificate_features, packets),
        ]
    table = numbered.join(handshakes.drop("client", "server"), on=streams.KEY, how="left")
    for part in by_id:
        table = table.join(part.result().rename({"session": "id"}), on="id", how="left")
    table = table.with_columns(
        pl.col("input").alias("input_index"),
        pl.col("input").replace_strict(names, return_dtype=pl.String),
        pl.col("stream").alias("tcp_stream"),
        pl.lit("capture").alias("source"),
        # No TCP event at all (a mid-stream capture without FIN/RST, or a lone request and
        # 101 of a trimmed flow): no SYN was captured, and it was still open at the end.
        pl.col("tcp_end").fill_null("open"),
        pl.col("syn_seen").fill_null(False),
    )
    return with_legs(finish_sessions(table, counts=COUNT_COLUMNS))


def with_legs(table: pl.DataFrame) -> pl.DataFrame:
    """The other leg's facts on both legs of a proxied connection (features/legs.py)."""
    legs = leg_features(table)
    return SESSIONS.conform(table.drop(legs.columns[1:]).join(legs, on="id", how="left"))


def _session_facts(table: pl.DataFrame, index: int) -> dict[str, Any]:
    mine = table.filter(pl.col("input_index") == index)
    return {
        "sessions": mine.height,
        "encrypted_sessions": mine.filter(pl.col("kind") == "encrypted").height,
        "recovered_sessions": mine.filter(pl.col("kind") == "recovered").height,
    }


def _coverage_warnings(
    captures: list[CaptureData], table: pl.DataFrame, keylog: Path | None, misaligned: int
) -> list[str]:
    out = []
    for i, c in enumerate(captures):
        mine = table.filter(pl.col("input_index") == i)
        if mine.height == 0:
            out.append(
                f"{c.file.path}: no WebSocket traffic found "
                f"({c.facts['tcp_connections']} TCP connections, "
                f"{c.facts['packets']} packets)"
            )
        encrypted = mine.filter(pl.col("kind") == "encrypted").height
        if encrypted and keylog is None:
            out.append(
                f"{c.file.path}: {encrypted} TLS connection(s) could not be decrypted; "
                "pass --keylog FILE (an SSLKEYLOGFILE) to see their WebSocket frames"
            )
        elif encrypted:
            out.append(
                f"{c.file.path}: {encrypted} TLS connection(s) stayed encrypted: "
                f"{keylog} has no keys for them"
            )
    if misaligned:
        out.append(
            f"{misaligned} packet(s) had WebSocket header fields tshark did not "
            "report once per frame; their frames were skipped"
        )
    return out
